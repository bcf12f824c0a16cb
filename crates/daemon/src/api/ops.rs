//! Operations on a running container's cgroup: pause, unpause and update.

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::json;

use super::find;
use crate::engine::update::UpdateRequest;
use crate::engine::Daemon;
use crate::error::ApiResult;
use crate::server::body::{self, Response};
use crate::server::Request;

pub async fn pause(daemon: &Arc<Daemon>, id: &str) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    daemon.pause(&h).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn unpause(daemon: &Arc<Daemon>, id: &str) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    daemon.unpause(&h).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn update(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let update = UpdateRequest::parse(req.json().await?)?;
    let warnings = daemon.update_container(&h, update).await?;
    Ok(body::ok_json(&json!({ "Warnings": warnings })))
}
