//! Container endpoints without streams: create, start, stop, restart, kill, wait, rm, rename,
//! prune, list and inspect.

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::json;

use super::{find, views};
use crate::engine::lifecycle::{wait_for, WaitCondition};
use crate::engine::{Daemon, Status};
use crate::error::{ApiError, ApiResult};
use crate::server::body::{self, Response};
use crate::server::Request;

pub use super::streams::{attach, logs};

pub async fn create(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    crate::engine::prestart::prime_cgroup_moves();
    let name = req.query("name").map(str::to_string);
    let body: serde_json::Value = req.json().await?;
    let d = daemon.clone();
    let created = tokio::task::spawn_blocking(move || d.create_container(name.as_deref(), body))
        .await
        .map_err(ApiError::internal)??;
    daemon.prepare_soon(&created.id);
    Ok(body::json(
        StatusCode::CREATED,
        &json!({ "Id": created.id, "Warnings": created.warnings }),
    ))
}

pub async fn start(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    if req.query("checkpoint").is_some_and(|c| !c.is_empty()) {
        return Err(ApiError::BadRequest(
            "checkpoints are not supported by berth".into(),
        ));
    }
    let h = find(daemon, id)?;
    daemon.start(&h).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

fn stop_args(req: &Request) -> ApiResult<(Option<String>, Option<i64>)> {
    let signal = req.query("signal").map(str::to_string);
    let timeout = req.query_int("t")?.or(req.query_int("timeout")?);
    Ok((signal, timeout))
}

pub async fn stop(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let (signal, timeout) = stop_args(&req)?;
    daemon.stop(&h, signal.as_deref(), timeout).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn restart(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let (signal, timeout) = stop_args(&req)?;
    daemon.restart(&h, signal.as_deref(), timeout).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn kill(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    daemon.kill(&h, req.query("signal")).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// Answers at once with the headers and sends the body when the condition holds, as Docker
/// does, so a client can wait before it starts the container.
pub async fn wait(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let condition = WaitCondition::parse(req.query("condition"))?;
    let h = find(daemon, id)?;
    let (rx, start) = daemon.wait_start(&h);
    let (resp, tx) = body::stream("application/json");
    tokio::spawn(async move {
        let code = wait_for(rx, start, condition).await;
        let _ = tx
            .send(body::json_line(
                &json!({ "StatusCode": code, "Error": null }),
            ))
            .await;
    });
    Ok(resp)
}

pub async fn remove(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    if req.flag("link") {
        return Err(ApiError::BadRequest(
            "legacy links are not supported by berth".into(),
        ));
    }
    let h = find(daemon, id)?;
    daemon.remove(&h, req.flag("force")).await?;
    if req.flag("v") {
        let c = h.snapshot();
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || d.remove_anonymous_volumes(&c))
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub fn rename(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let new = req
        .query("name")
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    if !crate::names::valid_name(&new) {
        return Err(ApiError::BadRequest(format!(
            "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    let old = h.lock().name.clone();
    if old == new {
        return Err(ApiError::BadRequest(
            "Renaming a container with the same name as its current name".into(),
        ));
    }
    daemon.reserve_name(&new, &h.id)?;
    h.update(|c| c.name = new.clone());
    daemon.release_name(&old, &h.id);
    daemon
        .events
        .container(&h.lock(), "rename", &[("oldName", &format!("/{old}"))]);
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn prune(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let filters = crate::filters::Filters::parse(req.query("filters"))?;
    filters.validate(&["until", "label", "label!"])?;
    let mut deleted = Vec::new();
    let mut reclaimed: u64 = 0;
    for h in daemon.all() {
        let c = h.snapshot();
        if !matches!(
            c.state.status,
            Status::Created | Status::Exited | Status::Dead
        ) {
            continue;
        }
        if !views::prune_filter_matches(&filters, &c)? {
            continue;
        }
        // Measured before the removal: what the container's read-write layer held.
        let size = {
            let (d, id) = (daemon.clone(), c.id.clone());
            tokio::task::spawn_blocking(move || d.container_size(&id))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0)
        };
        match daemon.remove(&h, false).await {
            Ok(()) => {
                deleted.push(c.id);
                reclaimed += size;
            }
            Err(e) => tracing::warn!("prune: removing {}: {e}", c.id),
        }
    }
    let attributes = [("reclaimed".to_string(), reclaimed.to_string())].into();
    daemon.events.publish(crate::events::Event::new(
        "container",
        "prune",
        "",
        attributes,
    ));
    Ok(body::ok_json(&json!({
        "ContainersDeleted": if deleted.is_empty() { serde_json::Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    })))
}

pub fn list(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let list = views::list(daemon, &req)?;
    Ok(body::bytes("application/json", list))
}

pub fn inspect(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let c = h.snapshot();
    Ok(body::ok_json(&views::inspect(
        daemon,
        &h,
        &c,
        req.flag("size"),
    )))
}

/// `docker diff`: the read-write layer against the init layer, sorted by path.
pub async fn changes(daemon: &Arc<Daemon>, id: &str) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let d = daemon.clone();
    let mut changes = tokio::task::spawn_blocking(move || d.layers.container_changes(&h.id))
        .await
        .map_err(ApiError::internal)??;
    changes.sort();
    let out: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| {
            let kind = match c.kind {
                berth_storage::ChangeKind::Modified => 0,
                berth_storage::ChangeKind::Added => 1,
                berth_storage::ChangeKind::Deleted => 2,
            };
            json!({ "Path": c.path, "Kind": kind })
        })
        .collect();
    Ok(body::ok_json(&out))
}
