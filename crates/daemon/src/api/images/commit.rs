//! `docker commit`'s runtime config: the container's config in the image config's shape, the
//! optional config of the request body, the `--change` instructions, and Docker's merge of them
//! (moby's `daemon/commit.go`: changes apply to the body's config, or to the container's when
//! there is none, and what the result leaves empty comes from the container's).

use std::collections::BTreeMap;

use berth_image::ContainerConfig;
use bollard_stubs::models::ContainerCreateBody;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};

/// The container's (merged) config as an image's runtime config.
pub fn from_container(c: &ContainerCreateBody) -> ContainerConfig {
    let set = |keys: &Option<Vec<String>>| -> Option<BTreeMap<String, Value>> {
        keys.as_ref()
            .filter(|k| !k.is_empty())
            .map(|k| k.iter().map(|k| (k.clone(), json!({}))).collect())
    };
    let mut extra = BTreeMap::new();
    if let Some(h) = &c.healthcheck {
        if let Ok(v) = serde_json::to_value(h) {
            extra.insert("Healthcheck".to_string(), v);
        }
    }
    for (key, list) in [("OnBuild", &c.on_build), ("Shell", &c.shell)] {
        if let Some(l) = list.as_ref().filter(|l| !l.is_empty()) {
            extra.insert(key.to_string(), json!(l));
        }
    }
    ContainerConfig {
        user: c.user.clone().unwrap_or_default(),
        exposed_ports: set(&c.exposed_ports),
        env: c.env.clone(),
        entrypoint: c.entrypoint.clone(),
        cmd: c.cmd.clone(),
        volumes: set(&c.volumes),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        labels: c
            .labels
            .as_ref()
            .filter(|l| !l.is_empty())
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        stop_signal: c.stop_signal.clone().filter(|s| !s.is_empty()),
        extra,
    }
}

/// The history line Docker records for a commit: the container's Cmd, joined by spaces.
pub fn created_by(c: &ContainerCreateBody) -> String {
    c.cmd.as_deref().unwrap_or_default().join(" ")
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// The request body's config (a Docker `container.Config`). Cmd, Entrypoint and Shell may be a
/// string, as Docker's StrSlice allows. Zero values of fields berth doesn't model (Hostname "",
/// AttachStdin false, … as Go clients send them) are dropped, not written into the image.
pub fn from_body(body: Value) -> ApiResult<ContainerConfig> {
    let mut o = match body {
        Value::Null => return Ok(ContainerConfig::default()),
        Value::Object(o) => o,
        other => {
            return Err(ApiError::BadRequest(format!(
                "invalid commit config: expected a JSON object, got {other}"
            )))
        }
    };
    for key in ["Cmd", "Entrypoint", "Shell"] {
        if let Some(Value::String(s)) = o.get(key) {
            let list = json!([s]);
            o.insert(key.to_string(), list);
        }
    }
    o.retain(|_, v| !v.is_null());
    let mut config: ContainerConfig = serde_json::from_value(Value::Object(o))
        .map_err(|e| ApiError::BadRequest(format!("invalid commit config: {e}")))?;
    config.extra.retain(|_, v| !is_zero(v));
    Ok(config)
}

fn empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// Docker's `merge`: fills what `user` leaves empty from `container`.
pub fn merge(user: &mut ContainerConfig, container: &ContainerConfig) {
    if user.user.is_empty() {
        user.user = container.user.clone();
    }
    for (mine, theirs) in [
        (&mut user.exposed_ports, &container.exposed_ports),
        (&mut user.volumes, &container.volumes),
    ] {
        match (mine.as_mut().filter(|m| !m.is_empty()), theirs) {
            (None, _) => *mine = theirs.clone(),
            (Some(m), Some(t)) => {
                for (k, v) in t {
                    m.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            (Some(_), None) => {}
        }
    }
    if empty(&user.env) {
        user.env = container.env.clone();
    } else if let (Some(mine), Some(theirs)) = (user.env.as_mut(), &container.env) {
        for e in theirs {
            if !mine.iter().any(|m| env_key(m) == env_key(e)) {
                mine.push(e.clone());
            }
        }
    }
    let mut labels = user.labels.take().unwrap_or_default();
    for (k, v) in container.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    user.labels = (!labels.is_empty()).then_some(labels);
    if empty(&user.entrypoint) {
        if empty(&user.cmd) {
            user.cmd = container.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = container.entrypoint.clone();
        }
    }
    if let Some(theirs) = container
        .extra
        .get("Healthcheck")
        .and_then(Value::as_object)
    {
        match user
            .extra
            .get_mut("Healthcheck")
            .and_then(Value::as_object_mut)
        {
            None => {
                user.extra
                    .insert("Healthcheck".into(), Value::Object(theirs.clone()));
            }
            Some(mine) => {
                for key in [
                    "Test",
                    "Interval",
                    "Timeout",
                    "StartPeriod",
                    "StartInterval",
                    "Retries",
                ] {
                    if mine.get(key).is_none_or(is_zero) {
                        if let Some(v) = theirs.get(key) {
                            mine.insert(key.to_string(), v.clone());
                        }
                    }
                }
            }
        }
    }
    if user.working_dir.is_empty() {
        user.working_dir = container.working_dir.clone();
    }
    if user.stop_signal.as_deref().is_none_or(str::is_empty) {
        user.stop_signal = container.stop_signal.clone();
    }
}

/// The new image's runtime config: `changes` applied to the body's config (or the container's
/// without one), then merged with the container's.
pub fn image_config(
    container: &ContainerConfig,
    body: Option<Value>,
    changes: &[String],
) -> ApiResult<ContainerConfig> {
    let mut config = match body {
        None | Some(Value::Null) => container.clone(),
        Some(v) => from_body(v)?,
    };
    berth_image::changes::apply_changes(&mut config, changes)?;
    merge(&mut config, container);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> ContainerConfig {
        let body: ContainerCreateBody = serde_json::from_value(json!({
            "User": "app",
            "Env": ["PATH=/bin", "A=1"],
            "Cmd": ["sh", "-c", "echo hi > /f"],
            "Entrypoint": null,
            "ExposedPorts": {"80/tcp": {}},
            "WorkingDir": "/srv",
            "Labels": {"l": "c"},
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5000000000i64},
            "Hostname": "abc",
        }))
        .unwrap();
        assert_eq!(created_by(&body), "sh -c echo hi > /f");
        from_container(&body)
    }

    #[test]
    fn the_container_config_becomes_the_image_config() {
        let c = container();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["User"], "app");
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(v["Healthcheck"]["Test"], json!(["CMD", "true"]));
        assert!(v.get("Hostname").is_none(), "{v}");
        assert!(v.get("Entrypoint").is_none(), "{v}");
    }

    #[test]
    fn no_body_applies_changes_to_the_container_config() {
        let c = container();
        let changes = vec!["ENV B=2".to_string(), "CMD [\"run\"]".to_string()];
        let out = image_config(&c, None, &changes).unwrap();
        assert_eq!(out.env.as_deref().unwrap(), ["PATH=/bin", "A=1", "B=2"]);
        assert_eq!(out.cmd.as_deref().unwrap(), ["run"]);
        assert_eq!(out.user, "app");
        assert!(image_config(&c, None, &["BOGUS x".to_string()]).is_err());
    }

    #[test]
    fn a_body_is_completed_from_the_container_config() {
        let c = container();
        let body = json!({
            "Hostname": "", "AttachStdin": false, "User": "", "Cmd": "top",
            "Env": ["A=2"], "ExposedPorts": {"443/tcp": {}}, "Labels": {"l": "u"},
            "Healthcheck": {"Test": ["CMD", "false"]}, "Volumes": null, "Image": "",
        });
        let out = image_config(&c, Some(body), &[]).unwrap();
        assert_eq!(out.user, "app");
        assert_eq!(out.cmd.as_deref().unwrap(), ["top"]);
        assert_eq!(out.env.as_deref().unwrap(), ["A=2", "PATH=/bin"]);
        let ports: Vec<&String> = out.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(ports, ["443/tcp", "80/tcp"]);
        assert_eq!(out.labels.as_ref().unwrap()["l"], "u");
        assert_eq!(out.working_dir, "/srv");
        assert_eq!(out.extra["Healthcheck"]["Test"], json!(["CMD", "false"]));
        assert_eq!(out.extra["Healthcheck"]["Interval"], 5000000000i64);
        assert!(!out.extra.contains_key("Hostname") && !out.extra.contains_key("AttachStdin"));
    }

    #[test]
    fn an_explicit_empty_entrypoint_stays_empty() {
        let mut c = container();
        c.entrypoint = Some(vec!["/init".into()]);
        let out = image_config(&c, Some(json!({"Entrypoint": []})), &[]).unwrap();
        assert_eq!(out.entrypoint, Some(vec![]));
        assert_eq!(out.cmd.as_deref().unwrap(), ["sh", "-c", "echo hi > /f"]);
        let out = image_config(&c, Some(json!({})), &[]).unwrap();
        assert_eq!(out.entrypoint.as_deref().unwrap(), ["/init"]);
        assert!(from_body(json!([1])).is_err());
        assert!(from_body(json!({"Env": "A=1"})).is_err());
    }
}
