//! Maps method and path to a handler, checks the API version, and adds the headers every
//! Docker API response carries.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};

use super::body::{self, Response};
use super::request::{parse_version, split_version, Request};
use super::{API_VERSION, MIN_API_VERSION};
use crate::api::{
    archive, containers, exec, images, networks, ops, stats, streams, system, top, volumes,
};
use crate::engine::Daemon;
use crate::error::{ApiError, ApiResult};

pub async fn handle(daemon: Arc<Daemon>, req: hyper::Request<Incoming>) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let raw_path = req.uri().path().to_string();
    let (version, path) = split_version(&raw_path);
    let path = path.to_string();
    let result = match check_version(version) {
        Ok(()) => route(daemon, Request::new(req, path, version)).await,
        Err(e) => Err(e),
    };
    let mut resp = result.unwrap_or_else(|e| {
        if let ApiError::Internal(msg) = &e {
            tracing::error!("{method} {raw_path}: {msg}");
        }
        body::error(&e)
    });
    tracing::debug!(
        "{method} {raw_path} -> {} in {:?}",
        resp.status().as_u16(),
        started.elapsed()
    );
    let headers = resp.headers_mut();
    headers.insert("api-version", HeaderValue::from_static(API_VERSION));
    headers.insert("docker-experimental", HeaderValue::from_static("false"));
    headers.insert("ostype", HeaderValue::from_static("linux"));
    headers.insert(
        "server",
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

fn check_version(version: Option<(u32, u32)>) -> ApiResult<()> {
    let Some(v) = version else { return Ok(()) };
    let (max, min) = (parse_version(API_VERSION), parse_version(MIN_API_VERSION));
    let shown = format!("{}.{}", v.0, v.1);
    if v > max {
        return Err(ApiError::BadRequest(format!(
            "client version {shown} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if v < min {
        return Err(ApiError::BadRequest(format!(
            "client version {shown} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok(())
}

async fn route(daemon: Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let path = req.path.clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let m = &req.method;
    match (m, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::ping(m == Method::HEAD)),
        (&Method::GET, ["version"]) => system::version(&daemon),
        (&Method::GET, ["info"]) => system::info(&daemon).await,
        (&Method::GET, ["system", "df"]) => system::df(&daemon, req).await,
        (&Method::GET, ["events"]) => crate::api::events::get(&daemon, req).await,

        (&Method::POST, ["containers", "create"]) => containers::create(&daemon, req).await,
        (&Method::GET, ["containers", "json"]) => containers::list(&daemon, req),
        (&Method::POST, ["containers", "prune"]) => containers::prune(&daemon, req).await,
        (&Method::GET, ["containers", id, "json"]) => containers::inspect(&daemon, id, req),
        (&Method::POST, ["containers", id, "start"]) => containers::start(&daemon, id, req).await,
        (&Method::POST, ["containers", id, "stop"]) => containers::stop(&daemon, id, req).await,
        (&Method::POST, ["containers", id, "restart"]) => {
            containers::restart(&daemon, id, req).await
        }
        (&Method::POST, ["containers", id, "kill"]) => containers::kill(&daemon, id, req).await,
        (&Method::POST, ["containers", id, "wait"]) => containers::wait(&daemon, id, req).await,
        (&Method::POST, ["containers", id, "attach"]) => containers::attach(&daemon, id, req).await,
        (&Method::GET, ["containers", id, "logs"]) => containers::logs(&daemon, id, req).await,
        (&Method::POST, ["containers", id, "resize"]) => streams::resize(&daemon, id, req).await,
        (&Method::GET, ["containers", id, "changes"]) => containers::changes(&daemon, id).await,
        (&Method::POST, ["containers", id, "rename"]) => containers::rename(&daemon, id, req),
        (&Method::HEAD, ["containers", id, "archive"]) => archive::stat(&daemon, id, req).await,
        (&Method::GET, ["containers", id, "archive"]) => archive::get(&daemon, id, req).await,
        (&Method::PUT, ["containers", id, "archive"]) => archive::put(&daemon, id, req).await,
        (&Method::GET, ["containers", id, "export"]) => archive::export(&daemon, id).await,
        (&Method::DELETE, ["containers", id]) => containers::remove(&daemon, id, req).await,
        (&Method::POST, ["containers", id, "pause"]) => ops::pause(&daemon, id).await,
        (&Method::POST, ["containers", id, "unpause"]) => ops::unpause(&daemon, id).await,
        (&Method::POST, ["containers", id, "update"]) => ops::update(&daemon, id, req).await,
        (&Method::GET, ["containers", id, "stats"]) => stats::stats(&daemon, id, req).await,
        (&Method::GET, ["containers", id, "top"]) => top::top(&daemon, id, req).await,
        (&Method::POST, ["containers", id, "exec"]) => exec::create(&daemon, id, req).await,
        (&Method::POST, ["exec", id, "start"]) => exec::start(&daemon, id, req).await,
        (&Method::POST, ["exec", id, "resize"]) => exec::resize(&daemon, id, &req),
        (&Method::GET, ["exec", id, "json"]) => exec::inspect(&daemon, id),

        (&Method::GET, ["volumes"]) => volumes::list(&daemon, req).await,
        (&Method::POST, ["volumes", "create"]) => volumes::create(&daemon, req).await,
        (&Method::POST, ["volumes", "prune"]) => volumes::prune(&daemon, req).await,
        (&Method::GET, ["volumes", name]) => volumes::inspect(&daemon, name).await,
        (&Method::DELETE, ["volumes", name]) => volumes::remove(&daemon, name, req).await,

        (&Method::GET, ["networks"]) => networks::list(&daemon, req),
        (&Method::POST, ["networks", "create"]) => networks::create(&daemon, req).await,
        (&Method::POST, ["networks", "prune"]) => networks::prune(&daemon, req).await,
        (&Method::GET, ["networks", id]) => networks::inspect(&daemon, id, req),
        (&Method::DELETE, ["networks", id]) => networks::remove(&daemon, id).await,
        (&Method::POST, ["networks", id, "connect"]) => networks::connect(&daemon, id, req).await,
        (&Method::POST, ["networks", id, "disconnect"]) => {
            networks::disconnect(&daemon, id, req).await
        }

        (&Method::GET, ["images", "json"]) => images::list(&daemon, req),
        (&Method::POST, ["images", "load"]) => images::load(&daemon, req).await,
        (&Method::POST, ["images", "create"]) => images::create(&daemon, req).await,
        (&Method::POST, ["images", "prune"]) => images::prune(&daemon, req).await,
        (&Method::GET, ["images", "get"]) => images::save(&daemon, req).await,
        (&Method::POST, ["commit"]) => images::commit(&daemon, req).await,
        (_, ["images", rest @ ..]) if !rest.is_empty() => {
            // Image names contain slashes: the action is the last segment, or none for DELETE.
            let name_and_action = rest.join("/");
            match (m, name_and_action.rsplit_once('/')) {
                (&Method::GET, Some((name, "json"))) => images::inspect(&daemon, name),
                (&Method::GET, Some((name, "history"))) => images::history(&daemon, name),
                (&Method::GET, Some((name, "get"))) => images::save_one(&daemon, name, req).await,
                (&Method::POST, Some((name, "tag"))) => images::tag(&daemon, name, req),
                (&Method::DELETE, _) => images::remove(&daemon, &name_and_action, req).await,
                _ => Err(not_found(m, &path)),
            }
        }
        _ => Err(not_found(m, &path)),
    }
}

fn not_found(method: &Method, path: &str) -> ApiError {
    let _ = StatusCode::NOT_FOUND;
    ApiError::NotFound(format!("page not found: {method} {path}"))
}
