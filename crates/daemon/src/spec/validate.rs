//! What berth implements of a create request. Everything else that is set (not zero, false,
//! empty or null — the docker CLI sends many zero-valued fields) is refused by name, never
//! ignored.

use bollard_stubs::models::HostConfig;
use serde_json::Value;

use super::{NetworkSetup, SpecError};

/// Config fields berth honours (or that are only carried, as Docker carries them).
const CONFIG_SUPPORTED: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Image",
    "WorkingDir",
    "Entrypoint",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "HostConfig",
    "NetworkingConfig",
    "ExposedPorts",
    "ArgsEscaped",
    "NetworkDisabled",
    "OnBuild",
    "Shell",
    "Volumes",
];

/// HostConfig fields berth honours. Some have values checked below.
const HOST_SUPPORTED: &[&str] = &[
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "MemorySwappiness",
    "NanoCpus",
    "CpuShares",
    "CpuQuota",
    "CpuPeriod",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "ReadonlyRootfs",
    "CapAdd",
    "CapDrop",
    "Privileged",
    "RestartPolicy",
    "AutoRemove",
    "Tmpfs",
    "Ulimits",
    "SecurityOpt",
    "ShmSize",
    "Sysctls",
    "Devices",
    "DeviceCgroupRules",
    "Init",
    "Runtime",
    "NetworkMode",
    "OomScoreAdj",
    "LogConfig",
    "ConsoleSize",
    "Isolation",
    "CgroupnsMode",
    "IpcMode",
    "PidMode",
    "UTSMode",
    "UsernsMode",
    "GroupAdd",
    "MaskedPaths",
    "ReadonlyPaths",
    "ContainerIDFile",
    "PortBindings",
    "PublishAllPorts",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "ExtraHosts",
    "Binds",
    "Mounts",
    "VolumesFrom",
];

/// Endpoint settings berth honours (`--ip`, `--network-alias`); the rest are refused.
const ENDPOINT_SUPPORTED: &[&str] = &["Aliases", "IPAMConfig", "NetworkID"];

/// Zero, false, "", [], {} and null all mean "not set", and so does a struct (capitalised
/// keys, e.g. `{"Name": "", "Count": 0}`) of such values. A map's keys are values themselves:
/// `{"/data": {}}` is set.
fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => {
            o.keys()
                .all(|k| k.starts_with(|c: char| c.is_ascii_uppercase()))
                && o.values().all(is_unset)
        }
    }
}

fn refuse(field: impl Into<String>) -> SpecError {
    SpecError::Unsupported(field.into())
}

/// Refuses, by field name, everything set in a POST /containers/create body that berth does not
/// implement.
pub fn check_supported(body: &Value) -> Result<(), SpecError> {
    let Value::Object(config) = body else {
        return Err(SpecError::Invalid(
            "the container config must be a JSON object".into(),
        ));
    };
    for (k, v) in config {
        if !CONFIG_SUPPORTED.contains(&k.as_str()) && !is_unset(v) {
            return Err(refuse(k.clone()));
        }
    }
    match config.get("HostConfig") {
        None | Some(Value::Null) => {}
        Some(Value::Object(host)) => check_host(host)?,
        Some(_) => {
            return Err(SpecError::Invalid(
                "HostConfig must be a JSON object".into(),
            ))
        }
    }
    if let Some(Value::Object(net)) = config.get("NetworkingConfig") {
        for (k, v) in net {
            if k != "EndpointsConfig" && !is_unset(v) {
                return Err(refuse(format!("NetworkingConfig.{k}")));
            }
        }
        if let Some(Value::Object(endpoints)) = net.get("EndpointsConfig") {
            for (name, ep) in endpoints {
                check_endpoint(&format!("NetworkingConfig.EndpointsConfig.{name}"), ep)?;
            }
        }
    }
    Ok(())
}

/// Refuses, by field name, endpoint settings berth does not implement (also for
/// `POST /networks/{id}/connect`).
pub fn check_endpoint(prefix: &str, ep: &Value) -> Result<(), SpecError> {
    let Value::Object(ep) = ep else {
        return Ok(());
    };
    for (k, v) in ep {
        if !ENDPOINT_SUPPORTED.contains(&k.as_str()) && !is_unset(v) {
            return Err(refuse(format!("{prefix}.{k}")));
        }
    }
    if let Some(Value::Object(ipam)) = ep.get("IPAMConfig") {
        for (k, v) in ipam {
            if k != "IPv4Address" && !is_unset(v) {
                return Err(refuse(format!("{prefix}.IPAMConfig.{k}")));
            }
        }
    }
    Ok(())
}

fn check_host(host: &serde_json::Map<String, Value>) -> Result<(), SpecError> {
    for (k, v) in host {
        // The docker CLI sends -1 for "the kernel's default swappiness".
        let default_swappiness = k == "MemorySwappiness" && v.as_i64() == Some(-1);
        if !HOST_SUPPORTED.contains(&k.as_str()) && !is_unset(v) && !default_swappiness {
            return Err(refuse(format!("HostConfig.{k}")));
        }
    }
    if let Some(s) = host
        .get("MemorySwappiness")
        .and_then(Value::as_i64)
        .filter(|s| *s != -1)
    {
        return Err(refuse(format!("HostConfig.MemorySwappiness={s}")));
    }
    if let Some(log) = host.get("LogConfig").filter(|l| !l.is_null()) {
        let typ = log.get("Type").and_then(Value::as_str).unwrap_or("");
        if !matches!(typ, "" | "json-file") {
            return Err(refuse(format!("HostConfig.LogConfig.Type={typ}")));
        }
        if let Some(Value::Object(opts)) = log.get("Config") {
            if let Some(k) = opts.keys().next() {
                return Err(refuse(format!("HostConfig.LogConfig.Config.{k}")));
            }
        }
    }
    for (field, allowed) in [
        ("CgroupnsMode", &["", "private", "host"][..]),
        ("IpcMode", &["", "private", "shareable", "none"]),
        ("PidMode", &["", "private"]),
        ("UTSMode", &[""]),
        ("UsernsMode", &["", "host"]),
        ("Isolation", &["", "default"]),
    ] {
        if let Some(v) = host.get(field).and_then(Value::as_str) {
            if !allowed.contains(&v) {
                return Err(refuse(format!("HostConfig.{field}={v}")));
            }
        }
    }
    if let Some(Value::String(mode)) = host.get("NetworkMode") {
        check_network_mode(mode)?;
    }
    Ok(())
}

fn check_network_mode(mode: &str) -> Result<NetworkSetup, SpecError> {
    match mode {
        "host" => Ok(NetworkSetup::Host),
        "container:" => Err(SpecError::Invalid(
            "invalid network mode container: a container name or id is needed".into(),
        )),
        // A named network must exist; the daemon checks that against its networks.
        _ => Ok(NetworkSetup::Private),
    }
}

/// Whether the container has the host's network namespace or one of its own (new, or shared
/// with another container).
pub fn network_setup(host: &HostConfig) -> Result<NetworkSetup, SpecError> {
    check_network_mode(host.network_mode.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A create body the docker CLI 28.2 sent (captured on a unix socket), by fixture name.
    fn fixture(name: &str) -> Value {
        macro_rules! fixtures {
            ($($n:literal),*) => {
                match name {
                    $($n => include_str!(concat!("testdata/", $n, ".json")),)*
                    other => panic!("no fixture {other}"),
                }
            };
        }
        let text = fixtures!(
            "run_plain",
            "run_it",
            "create_plain",
            "run_flags",
            "run_privileged",
            "run_restart",
            "run_seccompfile",
            "run_cidfile",
            "run_cgroupns_ipc",
            "run_blkio",
            "run_oomkill",
            "run_volume",
            "run_anonvol",
            "run_mount",
            "run_publish",
            "run_addhost",
            "run_dns",
            "run_logopt",
            "run_health"
        );
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn real_cli_bodies_berth_implements_pass() {
        for name in [
            "run_plain",
            "run_it",
            "create_plain",
            "run_flags",
            "run_privileged",
            "run_restart",
            "run_seccompfile",
            "run_cidfile",
            "run_cgroupns_ipc",
            "run_publish",
            "run_addhost",
            "run_dns",
            "run_volume",
            "run_anonvol",
            "run_mount",
        ] {
            check_supported(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn real_cli_bodies_berth_lacks_are_refused_by_name() {
        for (name, field) in [
            ("run_blkio", "HostConfig.BlkioWeight"),
            ("run_oomkill", "HostConfig.OomKillDisable"),
            ("run_logopt", "HostConfig.LogConfig.Config.max-size"),
            ("run_health", "Healthcheck"),
        ] {
            let e = check_supported(&fixture(name)).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("unsupported container option {field}: berth does not implement it yet"),
                "{name}"
            );
        }
    }

    #[test]
    fn values_and_networks() {
        let with = |path: &str, value: Value| {
            let mut body = fixture("run_plain");
            body["HostConfig"][path] = value;
            check_supported(&body).map_err(|e| e.to_string())
        };
        assert!(with("PidMode", "host".into())
            .unwrap_err()
            .contains("HostConfig.PidMode=host"));
        with("NetworkMode", "container:abc".into()).unwrap();
        with("NetworkMode", "mynet".into()).unwrap();
        assert!(with("LogConfig", serde_json::json!({"Type": "syslog"}))
            .unwrap_err()
            .contains("LogConfig.Type=syslog"));
        assert!(with("MemorySwappiness", 10.into())
            .unwrap_err()
            .contains("MemorySwappiness=10"));
        assert!(with("CpuRealtimeRuntime", 10.into())
            .unwrap_err()
            .contains("CpuRealtimeRuntime"));
        with("NetworkMode", "host".into()).unwrap();
        with("MaskedPaths", serde_json::json!([])).unwrap();
        with("IpcMode", "none".into()).unwrap();
        let mut body = fixture("run_plain");
        body["NetworkingConfig"] = serde_json::json!({"EndpointsConfig": {"mynet": {
            "Aliases": ["a"], "IPAMConfig": {"IPv4Address": "10.1.0.9"}}}});
        check_supported(&body).unwrap();
        body["NetworkingConfig"]["EndpointsConfig"]["mynet"]["MacAddress"] =
            "02:42:00:00:00:01".into();
        assert!(check_supported(&body)
            .unwrap_err()
            .to_string()
            .contains("mynet.MacAddress"));
        let mut body = fixture("run_plain");
        body["NetworkingConfig"] = serde_json::json!({"EndpointsConfig": {"mynet": {
            "IPAMConfig": {"IPv6Address": "fd00::9"}}}});
        assert!(check_supported(&body)
            .unwrap_err()
            .to_string()
            .contains("mynet.IPAMConfig.IPv6Address"));
        let mut body = fixture("run_plain");
        body["Bogus"] = 1.into();
        assert!(check_supported(&body)
            .unwrap_err()
            .to_string()
            .contains("option Bogus"));
        assert!(check_supported(&serde_json::json!([])).is_err());
    }

    #[test]
    fn network_modes() {
        let mode = |m: &str| {
            network_setup(&HostConfig {
                network_mode: Some(m.into()),
                ..Default::default()
            })
        };
        assert_eq!(mode("host").unwrap(), NetworkSetup::Host);
        for m in ["none", "default", "bridge", "", "mynet", "container:x"] {
            assert_eq!(mode(m).unwrap(), NetworkSetup::Private);
        }
        assert!(mode("container:").is_err());
    }
}
