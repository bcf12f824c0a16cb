//! `/volumes`: list, create, inspect, remove and prune, as the Engine API shapes them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use berth_volume::{Volume, ANONYMOUS_LABEL};
use hyper::StatusCode;
use serde_json::{json, Value};

use super::blocking;
use crate::engine::mounts::volumes_in_use;
use crate::engine::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::events::Event;
use crate::filters::Filters;
use crate::server::body::{self, Response};
use crate::server::Request;

fn event(action: &str, name: &str) -> Event {
    crate::engine::mounts::volume_event(action, name, None)
}

fn labels_of(v: &Volume) -> HashMap<String, String> {
    v.labels.clone().into_iter().collect()
}

pub async fn list(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let filters = Filters::parse(req.query("filters"))?;
    filters.validate(&["dangling", "driver", "label", "label!", "name"])?;
    let dangling = filters.is_true("dangling")?;
    let list = blocking(daemon, move |d| {
        let used = volumes_in_use(d);
        Ok(d.volumes
            .list()?
            .into_iter()
            .filter(|v| {
                let name_ok = filters.get("name").is_empty()
                    || filters
                        .get("name")
                        .iter()
                        .any(|n| v.name.contains(n.as_str()));
                name_ok
                    && filters.matches_any("driver", "local")
                    && filters.labels_match(Some(&labels_of(v)))
                    && dangling.is_none_or(|want| want != used.contains_key(&v.name))
            })
            .map(|v| v.api_json(None))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(body::ok_json(&json!({"Volumes": list, "Warnings": []})))
}

/// Every volume with its size and number of users, for `system df`.
pub fn with_usage(d: &Daemon) -> ApiResult<Vec<Value>> {
    let used = volumes_in_use(d);
    Ok(d.volumes
        .list()?
        .into_iter()
        .map(|v| {
            let size = d.volumes.usage_size(&v.name).map_or(-1, |s| s as i64);
            let refs = used.get(&v.name).copied().unwrap_or(0) as i64;
            v.api_json(Some((size, refs)))
        })
        .collect())
}

pub async fn create(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let body: Value = req.json().await?;
    let driver = body.get("Driver").and_then(Value::as_str).unwrap_or("");
    if !matches!(driver, "" | "local") {
        return Err(ApiError::NotFound(format!(
            "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
        )));
    }
    if body.get("ClusterVolumeSpec").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::BadRequest(
            "cluster volumes are not supported by berth".into(),
        ));
    }
    let map = |key: &str| -> ApiResult<BTreeMap<String, String>> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| ApiError::BadRequest(format!("invalid {key}: {e}"))),
        }
    };
    let (opts, labels) = (map("DriverOpts")?, map("Labels")?);
    let name = body
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let volume = blocking(daemon, move |d| {
        let name = (!name.is_empty()).then_some(name.as_str());
        Ok(d.volumes.create(name, &opts, &labels)?)
    })
    .await?;
    daemon.events.publish(event("create", &volume.name));
    Ok(body::json(StatusCode::CREATED, &volume.api_json(None)))
}

pub async fn inspect(daemon: &Arc<Daemon>, name: &str) -> ApiResult<Response> {
    let name = name.to_string();
    let v = blocking(daemon, move |d| Ok(d.volumes.get(&name)?)).await?;
    Ok(body::ok_json(&v.api_json(None)))
}

pub async fn remove(daemon: &Arc<Daemon>, name: &str, req: Request) -> ApiResult<Response> {
    let force = req.flag("force");
    let name = name.to_string();
    let removed = blocking(daemon, move |d| remove_volume(d, &name, force)).await?;
    if let Some(name) = removed {
        daemon.events.publish(event("destroy", &name));
    }
    Ok(body::empty(StatusCode::NO_CONTENT))
}

/// Removes a volume no container uses. `force` only makes a missing volume not an error (as
/// in Docker, it never removes one in use). Returns the name removed.
fn remove_volume(d: &Daemon, name: &str, force: bool) -> ApiResult<Option<String>> {
    if let Err(e) = d.volumes.get(name) {
        return match e.kind() {
            berth_volume::ErrorKind::NotFound if force => Ok(None),
            _ => Err(e.into()),
        };
    }
    let users: Vec<String> = d.volume_users(name).iter().map(|h| h.id.clone()).collect();
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        )));
    }
    d.volumes.remove(name)?;
    Ok(Some(name.to_string()))
}

pub async fn prune(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let filters = Filters::parse(req.query("filters"))?;
    filters.validate(&["label", "label!", "all"])?;
    let all = filters.bool_or("all", false)?;
    let (deleted, reclaimed) = blocking(daemon, move |d| {
        let used = volumes_in_use(d);
        let mut deleted = Vec::new();
        let mut reclaimed: u64 = 0;
        for v in d.volumes.list()? {
            if used.contains_key(&v.name)
                || (!all && !v.labels.contains_key(ANONYMOUS_LABEL))
                || !filters.labels_match(Some(&labels_of(&v)))
            {
                continue;
            }
            let size = d.volumes.usage_size(&v.name).unwrap_or(0);
            match remove_volume(d, &v.name, false) {
                Ok(_) => {
                    reclaimed += size;
                    deleted.push(v.name);
                }
                Err(e) => tracing::warn!("volume prune: {e}"),
            }
        }
        Ok((deleted, reclaimed))
    })
    .await?;
    for name in &deleted {
        daemon.events.publish(event("destroy", name));
    }
    let attributes = BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]);
    daemon
        .events
        .publish(Event::new("volume", "prune", "", attributes));
    Ok(body::ok_json(
        &json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}
