//! `/_ping`, `/version`, `/info` and `/system/df`.

use std::sync::Arc;

use hyper::header::{HeaderValue, CACHE_CONTROL, PRAGMA};
use hyper::StatusCode;
use serde_json::json;

use crate::engine::{Daemon, Status};
use crate::error::{ApiError, ApiResult};
use crate::server::body::{self, Response};
use crate::server::{Request, API_VERSION, MIN_API_VERSION};

pub fn ping(head: bool) -> Response {
    let mut resp = if head {
        body::empty(StatusCode::OK)
    } else {
        body::text(StatusCode::OK, "OK")
    };
    let h = resp.headers_mut();
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("builder-version", HeaderValue::from_static("1"));
    resp
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn version(_daemon: &Arc<Daemon>) -> ApiResult<Response> {
    let version = env!("CARGO_PKG_VERSION");
    let arch = berth_image::ops::host_architecture();
    Ok(body::ok_json(&json!({
        "Platform": { "Name": "berth" },
        "Components": [{
            "Name": "Engine",
            "Version": version,
            "Details": {
                "ApiVersion": API_VERSION,
                "MinAPIVersion": MIN_API_VERSION,
                "Os": "linux",
                "Arch": arch,
                "KernelVersion": kernel_version(),
            }
        }],
        "Version": version,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": kernel_version(),
        "BuildTime": "",
    })))
}

fn cgroup_version() -> &'static str {
    if matches!(
        berth_cgroups::host_layout(),
        Ok(berth_cgroups::HostLayout::Unified { .. })
    ) {
        "2"
    } else {
        "1"
    }
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub async fn info(daemon: &Arc<Daemon>) -> ApiResult<Response> {
    let containers: Vec<Status> = daemon.all().iter().map(|h| h.lock().state.status).collect();
    let count = |f: fn(&Status) -> bool| containers.iter().filter(|s| f(s)).count();
    let driver = daemon.layers.driver();
    let mut runtimes = serde_json::Map::new();
    runtimes.insert(
        crate::config::BUILTIN_RUNTIME.into(),
        json!({ "path": daemon.shim_binary }),
    );
    for (name, path) in &daemon.config.runtimes {
        runtimes.insert(name.clone(), json!({ "path": path }));
    }
    let images = daemon.images.list().len();
    let driver_status: Vec<[String; 2]> =
        driver.status().into_iter().map(|(k, v)| [k, v]).collect();
    Ok(body::ok_json(&json!({
        "ID": "",
        "Containers": containers.len(),
        "ContainersRunning": count(|s| *s == Status::Running),
        "ContainersPaused": count(|s| *s == Status::Paused),
        "ContainersStopped": count(|s| !s.is_alive()),
        "Images": images,
        "Driver": driver.name(),
        "DriverStatus": driver_status,
        "Plugins": { "Volume": [], "Network": ["none", "host"], "Authorization": null, "Log": ["json-file"] },
        "MemoryLimit": true,
        "SwapLimit": true,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": false,
        "Debug": daemon.config.log_level == "debug",
        "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
        "NGoroutines": 0,
        "SystemTime": berth_runtime::shim::time::now(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": "berth",
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "",
        "RegistryConfig": null,
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total(),
        "DockerRootDir": daemon.config.data_root,
        "Name": hostname(),
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": runtimes,
        "DefaultRuntime": daemon.config.default_runtime,
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": daemon.init_binary.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
        "Warnings": [],
    })))
}

/// `GET /system/df`: images with their sizes, containers with their read-write layer sizes.
pub async fn df(daemon: &Arc<Daemon>, _req: Request) -> ApiResult<Response> {
    let d = daemon.clone();
    let value = tokio::task::spawn_blocking(move || -> ApiResult<serde_json::Value> {
        let images = super::images::summaries(&d, &Default::default())?;
        let layers_size: u64 = d.layers.list().iter().map(|l| l.size).sum();
        let mut containers = Vec::new();
        for h in d.all() {
            let c = h.snapshot();
            let size = d.container_size(&c.id).unwrap_or(0);
            let mut s = super::views::summary(&d, &c);
            s["SizeRw"] = json!(size);
            s["SizeRootFs"] = json!(0);
            containers.push(s);
        }
        Ok(json!({
            "LayersSize": layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": super::volumes::with_usage(&d)?,
            "BuildCache": [],
        }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(body::ok_json(&value))
}
