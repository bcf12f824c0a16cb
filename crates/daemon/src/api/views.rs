//! The shapes Docker gives containers: the full `inspect` document and the `ps` summary, with
//! every field present (templates like `{{.HostConfig.Memory}}` expect zero values, not gaps).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::engine::{Container, Daemon, Handle, Status};
use crate::error::ApiResult;
use crate::filters::Filters;
use crate::server::Request;

/// Docker's HostConfig with every field at its zero value; set fields overlay it.
fn host_config_defaults() -> Value {
    json!({
        "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0],
        "CapAdd": null, "CapDrop": null, "CgroupnsMode": "host", "Dns": [], "DnsOptions": [],
        "DnsSearch": [], "ExtraHosts": null, "GroupAdd": null, "IpcMode": "private", "Cgroup": "",
        "Links": null, "OomScoreAdj": 0, "PidMode": "", "Privileged": false, "PublishAllPorts": false,
        "ReadonlyRootfs": false, "SecurityOpt": null, "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864,
        "Runtime": "berth", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
        "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": null,
        "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": null,
        "OomKillDisable": null, "PidsLimit": null, "Ulimits": [], "CpuCount": 0, "CpuPercent": 0,
        "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": null, "ReadonlyPaths": null,
        "Init": null, "Tmpfs": null, "Sysctls": null
    })
}

fn overlay(base: &mut Value, set: Value) {
    if let (Some(base), Value::Object(set)) = (base.as_object_mut(), set) {
        for (k, v) in set {
            if !v.is_null() {
                base.insert(k, v);
            }
        }
    }
}

fn config_view(c: &Container) -> Value {
    let cfg = &c.config;
    let mut v = json!({
        "Hostname": cfg.hostname.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| c.id[..12].to_string()),
        "Domainname": cfg.domainname.clone().unwrap_or_default(),
        "User": cfg.user.clone().unwrap_or_default(),
        "AttachStdin": cfg.attach_stdin.unwrap_or(false),
        "AttachStdout": cfg.attach_stdout.unwrap_or(false),
        "AttachStderr": cfg.attach_stderr.unwrap_or(false),
        "Tty": cfg.tty.unwrap_or(false),
        "OpenStdin": cfg.open_stdin.unwrap_or(false),
        "StdinOnce": cfg.stdin_once.unwrap_or(false),
        "Env": cfg.env.clone().unwrap_or_default(),
        "Cmd": cfg.cmd,
        "Image": c.image,
        "Volumes": null,
        "WorkingDir": cfg.working_dir.clone().unwrap_or_default(),
        "Entrypoint": cfg.entrypoint,
        "OnBuild": null,
        "Labels": cfg.labels.clone().unwrap_or_default(),
    });
    let obj = v.as_object_mut().expect("object");
    if let Some(ports) = &cfg.exposed_ports {
        let map: Map<String, Value> = ports.iter().map(|p| (p.clone(), json!({}))).collect();
        obj.insert("ExposedPorts".into(), Value::Object(map));
    }
    if let Some(vols) = &cfg.volumes {
        let map: Map<String, Value> = vols.iter().map(|p| (p.clone(), json!({}))).collect();
        obj.insert("Volumes".into(), Value::Object(map));
    }
    if let Some(s) = &cfg.stop_signal {
        obj.insert("StopSignal".into(), json!(s));
    }
    if let Some(t) = cfg.stop_timeout {
        obj.insert("StopTimeout".into(), json!(t));
    }
    v
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn state_view(c: &Container) -> Value {
    let s = &c.state;
    json!({
        "Status": s.status.as_str(),
        "Running": s.status.is_alive(),
        "Paused": s.status == Status::Paused,
        "Restarting": s.status == Status::Restarting,
        "OOMKilled": s.oom_killed,
        "Dead": s.status == Status::Dead,
        "Pid": if s.status.is_alive() { s.pid } else { 0 },
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": s.started_at.as_deref().unwrap_or(ZERO_TIME),
        "FinishedAt": s.finished_at.as_deref().unwrap_or(ZERO_TIME),
    })
}

pub fn inspect(daemon: &Arc<Daemon>, h: &Handle, c: &Container, _size: bool) -> Value {
    let mut host = host_config_defaults();
    overlay(
        &mut host,
        serde_json::to_value(&c.host_config).unwrap_or(Value::Null),
    );
    host["Runtime"] = json!(c.runtime);
    let layers = daemon.layers.container(&c.id).ok();
    let driver_root = daemon.config.data_root.join("storage");
    let graph = layers.map(|l| {
        json!({
            "Name": c.driver,
            "Data": {
                "ID": l.rw_id,
                "InitLayer": l.init_id,
                "Root": driver_root.display().to_string(),
            }
        })
    });
    json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": state_view(c),
        "Image": c.image_id,
        "ResolvConfPath": etc_path(h, "resolv.conf"),
        "HostnamePath": "",
        "HostsPath": etc_path(h, "hosts"),
        "LogPath": h.log_path().display().to_string(),
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": c.driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": daemon.execs.ids_json(&c.id),
        "HostConfig": host,
        "GraphDriver": graph.unwrap_or(json!({"Name": c.driver, "Data": null})),
        "Mounts": crate::engine::mounts::mounts_view(daemon, c),
        "Config": config_view(c),
        "NetworkSettings": super::netviews::network_settings(daemon, c),
    })
}

/// A file of the container's directory bind-mounted into it, once it exists.
fn etc_path(h: &Handle, file: &str) -> String {
    let path = h.dir.join(file);
    if path.exists() {
        path.display().to_string()
    } else {
        String::new()
    }
}

pub(super) fn created_unix(c: &Container) -> i64 {
    berth_runtime::shim::time::parse(&c.created)
        .map(|t| t.0)
        .unwrap_or(0)
}

/// The list's entry for `c` (`system df` adds its sizes to it).
pub fn summary(daemon: &Daemon, c: &Container) -> Value {
    let value = serde_json::to_value(summary_of(daemon, c, std::time::SystemTime::now()));
    value.expect("a container summary serialises")
}

fn summary_of<'a>(
    daemon: &Daemon,
    c: &'a Container,
    now: std::time::SystemTime,
) -> super::summary::ContainerSummary<'a> {
    super::summary::ContainerSummary::new(
        c,
        super::netviews::networks(daemon, c),
        crate::engine::mounts::mounts_view(daemon, c),
        now,
    )
}

const LIST_FILTERS: &[&str] = &[
    "id", "name", "label", "label!", "status", "exited", "ancestor", "before", "since",
];

/// `GET /containers/json`: newest first, with Docker's filters, `all`, `limit`. Returns the
/// response body, each entry serialised while its record is locked (no copies of records).
pub fn list(daemon: &Arc<Daemon>, req: &Request) -> ApiResult<Vec<u8>> {
    let filters = Filters::parse(req.query("filters"))?;
    filters.validate(LIST_FILTERS)?;
    let all = req.flag("all");
    let limit = req.query_int("limit")?.filter(|l| *l > 0);
    // Sorted by handle, each record read under its own lock: no copies of whole records.
    let mut containers = daemon.all();
    let key = |h: &crate::engine::Handle| {
        let c = h.lock();
        (c.created.clone(), c.id.clone())
    };
    let mut keyed: Vec<_> = containers.drain(..).map(|h| (key(&h), h)).collect();
    keyed.sort_by(|a, b| b.0.cmp(&a.0));

    let boundary = |key: &str| -> ApiResult<Option<String>> {
        match filters.get(key).first() {
            None => Ok(None),
            Some(v) => Ok(Some(daemon.find(v)?.lock().created.clone())),
        }
    };
    let before = boundary("before")?;
    let since = boundary("since")?;
    let images: Vec<String> = filters
        .get("ancestor")
        .iter()
        .filter_map(|a| daemon.images.resolve(a).ok().map(|d| d.to_string()))
        .collect();
    for status in filters.get("status") {
        if !matches!(
            status.as_str(),
            "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
        ) {
            return Err(crate::error::ApiError::BadRequest(format!(
                "invalid filter 'status={status}'"
            )));
        }
    }
    let mut exited = Vec::new();
    for e in filters.get("exited") {
        exited.push(e.parse::<i32>().map_err(|_| {
            crate::error::ApiError::BadRequest(format!("invalid filter 'exited={e}'"))
        })?);
    }
    // Filters that name states imply --all, as in Docker.
    let all = all || !filters.get("status").is_empty() || !exited.is_empty();

    let now = std::time::SystemTime::now();
    // About 700 bytes per container without mounts or ports.
    let mut body = Vec::with_capacity(64 + keyed.len() * 768);
    body.push(b'[');
    let mut count = 0i64;
    for (_, h) in keyed {
        let c = h.lock();
        if !all && !c.state.status.is_alive() && c.state.status != Status::Restarting {
            continue;
        }
        if let Some(b) = &before {
            if c.created >= *b {
                continue;
            }
        }
        if let Some(s) = &since {
            if c.created <= *s {
                continue;
            }
        }
        let ids = filters.get("id");
        if !ids.is_empty() && !ids.iter().any(|p| c.id.starts_with(p.as_str())) {
            continue;
        }
        let names = filters.get("name");
        if !names.is_empty() && !names.iter().any(|n| name_matches(n, &c.name)) {
            continue;
        }
        let statuses = filters.get("status");
        if !statuses.is_empty() && !statuses.iter().any(|s| s == c.state.status.as_str()) {
            continue;
        }
        let exit_matches = c.state.status == Status::Exited && exited.contains(&c.state.exit_code);
        if !exited.is_empty() && !exit_matches {
            continue;
        }
        if !filters.get("ancestor").is_empty() && !images.contains(&c.image_id) {
            continue;
        }
        if !filters.labels_match(c.config.labels.as_ref()) {
            continue;
        }
        if count > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &summary_of(daemon, &c, now))
            .map_err(crate::error::ApiError::internal)?;
        count += 1;
        if limit.is_some_and(|l| count >= l) {
            break;
        }
    }
    body.extend_from_slice(b"]\n");
    Ok(body)
}

/// Docker matches `name=` as a regular expression on "/name"; berth takes the common forms:
/// a substring, `^prefix`, `suffix$`, `^exact$`.
fn name_matches(pattern: &str, name: &str) -> bool {
    let full = format!("/{name}");
    let (anchored_start, rest) = match pattern.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, pattern),
    };
    let (anchored_end, core) = match rest.strip_suffix('$') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let core_slash = core.strip_prefix('/').unwrap_or(core);
    match (anchored_start, anchored_end) {
        (true, true) => full == core || name == core_slash,
        (true, false) => full.starts_with(core) || name.starts_with(core_slash),
        (false, true) => full.ends_with(core),
        (false, false) => full.contains(core),
    }
}

pub fn prune_filter_matches(filters: &Filters, c: &Container) -> ApiResult<bool> {
    if let Some(until) = filters.get("until").first() {
        let limit = crate::timefmt::parse_time(until, std::time::SystemTime::now())
            .map_err(|e| crate::error::ApiError::BadRequest(e.to_string()))?;
        if created_unix(c) >= limit.0 {
            return Ok(false);
        }
    }
    Ok(filters.labels_match(c.config.labels.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn name_filter_forms() {
        assert!(name_matches("web", "myweb1"));
        assert!(name_matches("^web", "web1"));
        assert!(!name_matches("^web", "myweb"));
        assert!(name_matches("^/web$", "web"));
        assert!(name_matches("^web$", "web"));
        assert!(!name_matches("^web$", "web2"));
        assert!(name_matches("1$", "web1"));
    }
}
