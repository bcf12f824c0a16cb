//! `GET /containers/{id}/stats`: the container's cgroup usage in Docker's StatsJSON shape, once
//! or every second. CPU percentages are computed by clients from `cpu_stats` against
//! `precpu_stats` (the previous sample) and the host's `system_cpu_usage` (/proc/stat).

use std::sync::Arc;
use std::time::Duration;

use berth_cgroups::Stats;
use serde_json::{json, Value};

use super::find;
use crate::engine::{Daemon, Handle};
use crate::error::{ApiError, ApiResult};
use crate::server::body::{self, Response};
use crate::server::Request;

/// How often a stream samples, as Docker's collector.
const INTERVAL: Duration = Duration::from_secs(1);
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("reading {path}: {source}")]
    Proc {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}: {what}")]
    Parse { path: &'static str, what: String },
    #[error("reading the cgroup of container {id}: {source}")]
    Cgroup {
        id: String,
        #[source]
        source: berth_cgroups::CgroupError,
    },
}

impl From<StatsError> for ApiError {
    fn from(e: StatsError) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

/// One reading of a running container.
#[derive(Debug, Clone)]
pub struct Sample {
    read: String,
    cgroup: Stats,
    /// Host CPU time in nanoseconds (/proc/stat), Docker's system_cpu_usage.
    system_ns: u64,
    online_cpus: u64,
    host_memory: u64,
}

/// Host CPU time: the first seven fields of /proc/stat's "cpu" line (user … softirq), in
/// clock ticks, as nanoseconds.
pub fn parse_proc_stat(text: &str) -> Result<u64, StatsError> {
    let bad = |what: &str| StatsError::Parse {
        path: "/proc/stat",
        what: what.to_string(),
    };
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))
        .ok_or_else(|| bad("no \"cpu\" line"))?;
    let fields: Vec<&str> = line.split_whitespace().skip(1).take(7).collect();
    if fields.len() < 7 {
        return Err(bad("the \"cpu\" line has fewer than 7 fields"));
    }
    let mut ticks = 0u64;
    for f in fields {
        ticks += f
            .parse::<u64>()
            .map_err(|_| bad(&format!("{f:?} is not a number")))?;
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(ticks * 1_000_000_000 / hz)
}

/// MemTotal from /proc/meminfo, in bytes.
pub fn parse_meminfo(text: &str) -> Result<u64, StatsError> {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| StatsError::Parse {
            path: "/proc/meminfo",
            what: "no MemTotal".into(),
        })
}

fn read_proc(path: &'static str) -> Result<String, StatsError> {
    std::fs::read_to_string(path).map_err(|source| StatsError::Proc { path, source })
}

impl Sample {
    /// Reads the container's cgroup and the host's CPU time (blocking: file reads).
    pub fn take(daemon: &Daemon, id: &str) -> Result<Sample, StatsError> {
        let cgroup = daemon
            .cgroup(id)
            .and_then(|cg| cg.stats())
            .map_err(|source| StatsError::Cgroup {
                id: id.to_string(),
                source,
            })?;
        let system_ns = parse_proc_stat(&read_proc("/proc/stat")?)?;
        let host_memory = parse_meminfo(&read_proc("/proc/meminfo")?)?;
        // SAFETY: sysconf has no preconditions.
        let online_cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u64;
        Ok(Sample {
            read: berth_runtime::shim::time::now(),
            cgroup,
            system_ns,
            online_cpus,
            host_memory,
        })
    }
}

fn cpu_json(s: Option<&Sample>) -> Value {
    let Some(s) = s else {
        return json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        });
    };
    let cpu = s.cgroup.cpu.clone().unwrap_or_default();
    let mut usage = json!({
        "total_usage": cpu.usage_total_ns,
        "usage_in_kernelmode": cpu.usage_system_ns,
        "usage_in_usermode": cpu.usage_user_ns,
    });
    if !cpu.per_cpu_ns.is_empty() {
        usage["percpu_usage"] = json!(cpu.per_cpu_ns);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system_ns,
        "online_cpus": s.online_cpus,
        "throttling_data": {
            "periods": cpu.nr_periods,
            "throttled_periods": cpu.nr_throttled,
            "throttled_time": cpu.throttled_time_ns,
        },
    })
}

fn memory_json(s: &Sample) -> Value {
    let Some(m) = &s.cgroup.memory else {
        return json!({});
    };
    // Unlimited (or above the host's memory): the host's memory, as Docker reports.
    let limit = m
        .limit
        .filter(|l| *l < s.host_memory)
        .unwrap_or(s.host_memory);
    let mut v = json!({ "usage": m.usage, "stats": m.stat, "limit": limit });
    if let Some(max) = m.max_usage {
        v["max_usage"] = json!(max);
    }
    v
}

fn blkio_json(s: Option<&Sample>) -> Value {
    let entries = s.and_then(|s| s.cgroup.blkio.as_ref()).map(|b| {
        b.io_service_bytes
            .iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
            .collect::<Vec<_>>()
    });
    // Only the byte counters are read; Docker too leaves the others null on cgroup v2.
    json!({
        "io_service_bytes_recursive": entries.filter(|e| !e.is_empty()),
        "io_serviced_recursive": null,
        "io_queue_recursive": null, "io_service_time_recursive": null,
        "io_wait_time_recursive": null, "io_merged_recursive": null,
        "io_time_recursive": null, "sectors_recursive": null,
    })
}

/// Docker's StatsJSON for `sample` (zeros when the container is not running) with `pre` as
/// precpu.
pub fn stats_json(name: &str, id: &str, sample: Option<&Sample>, pre: Option<&Sample>) -> Value {
    let pids = match sample.and_then(|s| s.cgroup.pids.as_ref()) {
        Some(p) => {
            let mut v = json!({ "current": p.current });
            if let Some(l) = p.limit {
                v["limit"] = json!(l);
            }
            v
        }
        None => json!({}),
    };
    json!({
        "read": sample.map_or(ZERO_TIME, |s| s.read.as_str()),
        "preread": pre.map_or(ZERO_TIME, |s| s.read.as_str()),
        "pids_stats": pids,
        "blkio_stats": blkio_json(sample),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(sample),
        "precpu_stats": cpu_json(pre),
        "memory_stats": sample.map_or(json!({}), memory_json),
        "name": format!("/{name}"),
        "id": id,
    })
}

/// A sample of a live container, or `None` when it is not running.
async fn sample_of(daemon: &Arc<Daemon>, h: &Arc<Handle>) -> ApiResult<Option<Sample>> {
    if !h.lock().state.status.is_alive() {
        return Ok(None);
    }
    let d = daemon.clone();
    let id = h.id.clone();
    let taken = tokio::task::spawn_blocking(move || Sample::take(&d, &id))
        .await
        .map_err(ApiError::internal)?;
    match taken {
        Ok(s) => Ok(Some(s)),
        // It stopped between the check and the read: zeros, as for a stopped container.
        Err(_) if !h.lock().state.status.is_alive() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn stats(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let stream = req.query("stream").is_none() || req.flag("stream");
    let one_shot = req.flag("one-shot");
    if one_shot && stream {
        return Err(ApiError::BadRequest(
            "cannot have stream=true and one-shot=true".into(),
        ));
    }
    if !stream {
        let mut sample = sample_of(daemon, &h).await?;
        let mut pre = None;
        if sample.is_some() && !one_shot {
            // As Docker: a first reading primes precpu, so the answer has CPU deltas.
            tokio::time::sleep(INTERVAL).await;
            pre = sample;
            sample = sample_of(daemon, &h).await?;
            if sample.is_none() {
                pre = None;
            }
        }
        let name = h.lock().name.clone();
        return Ok(body::ok_json(&stats_json(
            &name,
            &h.id,
            sample.as_ref(),
            pre.as_ref(),
        )));
    }
    // The first reading happens before the headers, so a broken cgroup is an error status.
    let first = sample_of(daemon, &h).await?;
    let (resp, tx) = body::stream("application/json");
    let daemon = daemon.clone();
    tokio::spawn(async move {
        let mut pre: Option<Sample> = None;
        let mut sample = first;
        loop {
            let name = h.lock().name.clone();
            let line = stats_json(&name, &h.id, sample.as_ref(), pre.as_ref());
            if tx.send(body::json_line(&line)).await.is_err() {
                return;
            }
            tokio::time::sleep(INTERVAL).await;
            if h.progress().removed {
                return;
            }
            pre = sample;
            sample = match sample_of(&daemon, &h).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("stats of container {}: {e}", h.id);
                    return;
                }
            };
            if sample.is_none() {
                pre = None;
            }
        }
    });
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_cgroups::{BlkioEntry, BlkioStats, CpuStats, MemoryStats, PidsStats};

    fn sample(total: u64, system: u64, limit: Option<u64>) -> Sample {
        Sample {
            read: "2024-01-01T00:00:01.000000000Z".into(),
            cgroup: Stats {
                memory: Some(MemoryStats {
                    usage: 100,
                    max_usage: Some(200),
                    limit,
                    stat: [("total_inactive_file".to_string(), 10)].into(),
                    ..Default::default()
                }),
                cpu: Some(CpuStats {
                    usage_total_ns: total,
                    per_cpu_ns: vec![total / 2, total / 2],
                    ..Default::default()
                }),
                pids: Some(PidsStats {
                    current: 3,
                    limit: None,
                }),
                blkio: Some(BlkioStats {
                    io_service_bytes: vec![BlkioEntry {
                        major: 8,
                        minor: 0,
                        op: "Read".into(),
                        value: 4096,
                    }],
                }),
            },
            system_ns: system,
            online_cpus: 2,
            host_memory: 1000,
        }
    }

    #[test]
    fn proc_files() {
        let stat = "cpu  10 0 5 100 0 0 0 7 0 0\ncpu0 5 0 2 50 0 0 0 0 0 0\n";
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        assert_eq!(parse_proc_stat(stat).unwrap(), 115 * 1_000_000_000 / hz);
        assert!(parse_proc_stat("cpu 1 2\n").is_err());
        assert!(parse_proc_stat("intr 5\n").is_err());
        assert_eq!(
            parse_meminfo("MemTotal:        2048 kB\nMemFree: 1 kB\n").unwrap(),
            2048 * 1024
        );
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
    }

    #[test]
    fn docker_shape_with_precpu_and_host_memory_as_unlimited() {
        let (a, b) = (sample(1000, 10_000, None), sample(3000, 20_000, Some(500)));
        let v = stats_json("web", "abc", Some(&b), Some(&a));
        assert_eq!(v["name"], "/web");
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 3000);
        assert_eq!(
            v["cpu_stats"]["cpu_usage"]["percpu_usage"],
            json!([1500, 1500])
        );
        assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 1000);
        assert_eq!(v["precpu_stats"]["system_cpu_usage"], 10_000);
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert_eq!(v["memory_stats"]["limit"], 500);
        assert_eq!(v["memory_stats"]["stats"]["total_inactive_file"], 10);
        assert_eq!(v["pids_stats"], json!({"current": 3}));
        assert_eq!(
            v["blkio_stats"]["io_service_bytes_recursive"],
            json!([{"major": 8, "minor": 0, "op": "Read", "value": 4096}])
        );
        assert_eq!(v["preread"], "2024-01-01T00:00:01.000000000Z");
        let v = stats_json("web", "abc", Some(&a), None);
        assert_eq!(v["memory_stats"]["limit"], 1000);
        assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert_eq!(v["preread"], ZERO_TIME);
    }

    #[test]
    fn a_stopped_container_is_all_zeros() {
        let v = stats_json("web", "abc", None, None);
        assert_eq!(v["read"], ZERO_TIME);
        assert_eq!(v["memory_stats"], json!({}));
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert_eq!(v["blkio_stats"]["io_service_bytes_recursive"], Value::Null);
    }
}
