//! Limits: cgroup resources (memory, CPU, cpuset, pids, devices), rlimits and sysctls, with
//! Docker's checks and messages.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use bollard_stubs::models::HostConfig;
use serde_json::{json, Map, Value};

use super::defaults::DEVICE_RULES;
use super::{NetworkSetup, SpecError};

/// Docker's smallest memory limit.
const MIN_MEMORY: i64 = 6 << 20;
/// The CFS period NanoCpus is expressed in.
const CPU_PERIOD: i64 = 100_000;

fn invalid(msg: impl Into<String>) -> SpecError {
    SpecError::Invalid(msg.into())
}

/// Whether a swap limit can be set: cgroup v1 needs swap accounting (memory.memsw.*).
fn swap_limit_supported() -> bool {
    match berth_cgroups::host_layout() {
        Ok(berth_cgroups::HostLayout::V1 { .. }) => {
            // The memory hierarchy is where Docker looks, at its usual mount point.
            let memory = Path::new("/sys/fs/cgroup/memory");
            !memory.exists() || memory.join("memory.memsw.limit_in_bytes").exists()
        }
        _ => true,
    }
}

/// Checks a cpuset list ("0-3,5") and returns the highest CPU it names.
fn cpuset_max(list: &str) -> Option<u32> {
    let mut max = None;
    for part in list.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?);
        if a > b {
            return None;
        }
        max = max.max(Some(b));
    }
    max
}

/// `linux.resources` without devices, plus Docker's warnings (e.g. swap limit dropped).
pub fn cgroup_resources(
    host: &HostConfig,
    warnings: &mut Vec<String>,
) -> Result<Map<String, Value>, SpecError> {
    let memory = host.memory.unwrap_or(0);
    let mut swap = host.memory_swap.unwrap_or(0);
    let reservation = host.memory_reservation.unwrap_or(0);
    if memory < 0 {
        return Err(invalid("invalid memory limit: it must not be negative"));
    }
    if memory != 0 && memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if memory == 0 && swap > 0 {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if reservation < 0 || (reservation > 0 && reservation < MIN_MEMORY) {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if let Some(s) = host.memory_swappiness.filter(|s| *s != -1) {
        return Err(SpecError::Unsupported(format!(
            "HostConfig.MemorySwappiness={s}"
        )));
    }
    let mut mem = Map::new();
    if memory > 0 {
        mem.insert("limit".into(), json!(memory));
        if swap == 0 {
            // Docker's default: as much swap as memory.
            swap = memory * 2;
        }
        if swap != -1 && !swap_limit_supported() {
            warnings.push(
                "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
                    .into(),
            );
            swap = -1;
        }
        mem.insert("swap".into(), json!(swap));
    }
    if reservation > 0 {
        mem.insert("reservation".into(), json!(reservation));
    }

    let nano = host.nano_cpus.unwrap_or(0);
    let quota = host.cpu_quota.unwrap_or(0);
    let period = host.cpu_period.unwrap_or(0);
    if nano > 0 && period > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    if nano < 0 || nano > ncpu * 1_000_000_000 {
        return Err(invalid(format!(
            "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    let mut cpu = Map::new();
    if let Some(shares) = host.cpu_shares.filter(|s| *s != 0) {
        if shares < 0 {
            return Err(invalid(format!(
                "invalid CPU shares ({shares}): value must be a positive integer"
            )));
        }
        // The kernel's range, which Docker clamps to as well.
        cpu.insert("shares".into(), json!(shares.clamp(2, 262_144)));
    }
    if nano > 0 {
        cpu.insert("quota".into(), json!(nano * CPU_PERIOD / 1_000_000_000));
        cpu.insert("period".into(), json!(CPU_PERIOD));
    }
    if quota != 0 {
        cpu.insert("quota".into(), json!(quota));
    }
    if period != 0 {
        cpu.insert("period".into(), json!(period));
    }
    for (field, key, value) in [
        ("cpus", "cpus", host.cpuset_cpus.as_deref()),
        ("mems", "mems", host.cpuset_mems.as_deref()),
    ] {
        let Some(list) = value.filter(|c| !c.is_empty()) else {
            continue;
        };
        let Some(max) = cpuset_max(list) else {
            return Err(invalid(format!("Invalid value {list} for cpuset {field}")));
        };
        if field == "cpus" && i64::from(max) >= ncpu {
            return Err(invalid(format!(
                "Requested CPUs are not available - requested {list}, available: 0-{}",
                ncpu - 1
            )));
        }
        cpu.insert(key.into(), json!(list));
    }

    let mut res = Map::new();
    if !mem.is_empty() {
        res.insert("memory".into(), Value::Object(mem));
    }
    if !cpu.is_empty() {
        res.insert("cpu".into(), Value::Object(cpu));
    }
    // 0 and -1 both mean unlimited.
    if let Some(pids) = host.pids_limit.filter(|p| *p > 0) {
        res.insert("pids".into(), json!({ "limit": pids }));
    }
    Ok(res)
}

const ULIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn rlimit_resource(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "as" => libc::RLIMIT_AS as libc::c_int,
        "core" => libc::RLIMIT_CORE as libc::c_int,
        "cpu" => libc::RLIMIT_CPU as libc::c_int,
        "data" => libc::RLIMIT_DATA as libc::c_int,
        "fsize" => libc::RLIMIT_FSIZE as libc::c_int,
        "locks" => libc::RLIMIT_LOCKS as libc::c_int,
        "memlock" => libc::RLIMIT_MEMLOCK as libc::c_int,
        "msgqueue" => libc::RLIMIT_MSGQUEUE as libc::c_int,
        "nice" => libc::RLIMIT_NICE as libc::c_int,
        "nofile" => libc::RLIMIT_NOFILE as libc::c_int,
        "nproc" => libc::RLIMIT_NPROC as libc::c_int,
        "rss" => libc::RLIMIT_RSS as libc::c_int,
        "rtprio" => libc::RLIMIT_RTPRIO as libc::c_int,
        "rttime" => libc::RLIMIT_RTTIME as libc::c_int,
        "sigpending" => libc::RLIMIT_SIGPENDING as libc::c_int,
        "stack" => libc::RLIMIT_STACK as libc::c_int,
        _ => return None,
    })
}

/// `process.rlimits` from Ulimits. Without CAP_SYS_RESOURCE (`can_raise` false) a hard limit
/// above berthd's own can't be set, which is refused here with the limit named.
pub fn rlimits(host: &HostConfig, can_raise: bool) -> Result<Vec<Value>, SpecError> {
    let mut out: Vec<Value> = Vec::new();
    for u in host.ulimits.iter().flatten() {
        let name = u.name.clone().unwrap_or_default();
        if !ULIMITS.contains(&name.as_str()) {
            return Err(invalid(format!("invalid ulimit type: {name}")));
        }
        let (soft, hard) = (u.soft.unwrap_or(0), u.hard.unwrap_or(0));
        if soft > hard {
            return Err(invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        // Docker passes -1 (unlimited) through as u64::MAX, which is RLIM_INFINITY.
        let (soft, hard) = (soft as u64, hard as u64);
        if !can_raise {
            let resource = rlimit_resource(&name).expect("listed in ULIMITS");
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the struct we own.
            if unsafe { libc::getrlimit(resource as _, &mut cur) } == 0 && hard > cur.rlim_max {
                return Err(invalid(format!(
                    "ulimit {name}: hard limit {hard} is above berthd's own ({}), which it can't raise without CAP_SYS_RESOURCE",
                    cur.rlim_max
                )));
            }
        }
        let typ = format!("RLIMIT_{}", name.to_ascii_uppercase());
        out.retain(|r| r["type"] != typ.as_str());
        out.push(json!({ "type": typ, "soft": soft, "hard": hard }));
    }
    Ok(out)
}

/// Whether a sysctl exists on this host (runc refuses one that doesn't).
fn sysctl_exists(key: &str) -> bool {
    Path::new("/proc/sys").join(key.replace('.', "/")).exists()
}

/// `linux.sysctl`: Docker's defaults for a private network namespace, then Sysctls, which may
/// only name namespaced sysctls.
pub fn sysctls(host: &HostConfig, network: NetworkSetup) -> Result<Map<String, Value>, SpecError> {
    let mut out = Map::new();
    if network == NetworkSetup::Private {
        // Unprivileged ICMP echo sockets, and binding any port without CAP_NET_BIND_SERVICE.
        if sysctl_exists("net.ipv4.ping_group_range") && !in_user_namespace() {
            out.insert("net.ipv4.ping_group_range".into(), json!("0 2147483647"));
        }
        if sysctl_exists("net.ipv4.ip_unprivileged_port_start") {
            out.insert("net.ipv4.ip_unprivileged_port_start".into(), json!("0"));
        }
    }
    let ipc_host = host.ipc_mode.as_deref() == Some("host");
    let uts_host = host.uts_mode.as_deref() == Some("host");
    let mut keys: Vec<(&String, &String)> = host.sysctls.iter().flatten().collect();
    keys.sort();
    for (k, v) in keys {
        let ipc = matches!(
            k.as_str(),
            "kernel.msgmax"
                | "kernel.msgmnb"
                | "kernel.msgmni"
                | "kernel.sem"
                | "kernel.shmall"
                | "kernel.shmmax"
                | "kernel.shmmni"
                | "kernel.shm_rmid_forced"
        ) || k.starts_with("fs.mqueue.");
        let uts = matches!(k.as_str(), "kernel.domainname" | "kernel.hostname");
        let net = k.starts_with("net.");
        if (ipc && ipc_host) || (uts && uts_host) {
            return Err(invalid(format!(
                "sysctl {k:?} is not allowed in host IPC or UTS namespace"
            )));
        }
        if uts {
            return Err(invalid(format!(
                "sysctl {k:?} is not allowed: set the container's Hostname or Domainname instead"
            )));
        }
        if net && network == NetworkSetup::Host {
            return Err(invalid(format!(
                "sysctl {k:?} is not allowed in host network namespace"
            )));
        }
        if !ipc && !net {
            return Err(invalid(format!(
                "sysctl {k:?} is not allowed: only namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*) can be set"
            )));
        }
        out.insert(k.clone(), json!(v));
    }
    Ok(out)
}

/// Whether berthd runs in a user namespace other than the initial one.
fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| {
            let f: Vec<&str> = m.split_whitespace().collect();
            f != ["0", "0", "4294967295"]
        })
        .unwrap_or(false)
}

fn rule(allow: bool, typ: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> Value {
    let mut r = json!({ "allow": allow, "type": typ, "access": access });
    if let Some(m) = major {
        r["major"] = json!(m);
    }
    if let Some(m) = minor {
        r["minor"] = json!(m);
    }
    r
}

/// A device node's (type, major, minor, permission bits, uid, gid), or None if `path` (not
/// followed if a symlink) is no character or block device.
/// (type, major, minor, permission bits, uid, gid) of a device node.
type DeviceInfo = (&'static str, i64, i64, u32, u32, u32);

fn device_of(path: &Path) -> std::io::Result<Option<DeviceInfo>> {
    let meta = std::fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Ok(None);
    };
    let rdev = meta.rdev();
    Ok(Some((
        typ,
        i64::from(libc::major(rdev)),
        i64::from(libc::minor(rdev)),
        meta.mode() & 0o777,
        meta.uid(),
        meta.gid(),
    )))
}

fn node(path: &str, d: DeviceInfo) -> Value {
    json!({ "path": path, "type": d.0, "major": d.1, "minor": d.2, "fileMode": d.3, "uid": d.4, "gid": d.5 })
}

/// The devices of one Devices entry (a directory gives all the devices below it), as Docker's
/// DevicesFromPath.
fn devices_from_path(
    on_host: &str,
    in_container: &str,
    perms: &str,
) -> Result<(Vec<Value>, Vec<Value>), SpecError> {
    let err = |e: String| {
        invalid(format!(
            "error gathering device information while adding custom device \"{on_host}\": {e}"
        ))
    };
    // A symlink on the host (/dev/disk/by-id/…) names the device it points to.
    let resolved = std::fs::canonicalize(on_host).map_err(|e| err(e.to_string()))?;
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    match device_of(&resolved).map_err(|e| err(e.to_string()))? {
        Some(d) => {
            nodes.push(node(in_container, d));
            rules.push(rule(true, d.0, Some(d.1), Some(d.2), perms));
        }
        None if resolved.is_dir() => {
            let mut stack = vec![resolved.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    let p = e.path();
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(p);
                        continue;
                    }
                    if let Ok(Some(d)) = device_of(&p) {
                        let rel = p.strip_prefix(&resolved).expect("walked below it");
                        let inside = Path::new(in_container).join(rel);
                        nodes.push(node(&inside.to_string_lossy(), d));
                        rules.push(rule(true, d.0, Some(d.1), Some(d.2), perms));
                    }
                }
            }
            if nodes.is_empty() {
                return Err(err("not a device node".into()));
            }
        }
        None => return Err(err("not a device node".into())),
    }
    Ok((nodes, rules))
}

/// Every device node under the host's /dev, as Docker gives a privileged container (the
/// runtime creates null, zero, full, random, urandom and tty itself).
fn host_devices() -> Vec<Value> {
    const SKIP_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
    const RUNTIME_MAKES: &[&str] = &[
        "null", "zero", "full", "random", "urandom", "tty", "console", "ptmx",
    ];
    let mut out = Vec::new();
    let mut stack = vec![Path::new("/dev").to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let top = dir == Path::new("/dev");
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if !(top && SKIP_DIRS.contains(&name.as_str())) {
                    stack.push(p);
                }
                continue;
            }
            if top && RUNTIME_MAKES.contains(&name.as_str()) {
                continue;
            }
            if let Ok(Some(d)) = device_of(&p) {
                out.push(node(&p.to_string_lossy(), d));
            }
        }
    }
    out
}

/// Parses a DeviceCgroupRules entry: "c 1:3 rwm", "b *:* m", "a".
fn parse_cgroup_rule(s: &str) -> Result<Value, SpecError> {
    let bad = || invalid(format!("invalid device cgroup format '{s}'"));
    let f: Vec<&str> = s.split_whitespace().collect();
    let typ = *f.first().ok_or_else(bad)?;
    if !matches!(typ, "a" | "b" | "c") || f.len() > 3 {
        return Err(bad());
    }
    if typ == "a" && f.len() == 1 {
        return Ok(rule(true, "a", None, None, "rwm"));
    }
    let (ma, mi) = f.get(1).and_then(|n| n.split_once(':')).ok_or_else(bad)?;
    let num = |x: &str| -> Result<Option<i64>, SpecError> {
        if x == "*" {
            Ok(None)
        } else {
            x.parse::<i64>().map(Some).map_err(|_| bad())
        }
    };
    let access = f.get(2).copied().unwrap_or("rwm");
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(bad());
    }
    Ok(rule(true, typ, num(ma)?, num(mi)?, access))
}

/// Device nodes to create and the device cgroup rules: Docker's defaults plus Devices and
/// DeviceCgroupRules; with privileged, every host device and no restriction.
pub fn devices(host: &HostConfig, privileged: bool) -> Result<(Vec<Value>, Vec<Value>), SpecError> {
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    if privileged {
        nodes = host_devices();
        rules.push(rule(true, "a", None, None, "rwm"));
    } else {
        for (allow, typ, major, minor, access) in DEVICE_RULES {
            rules.push(rule(*allow, typ, *major, *minor, access));
        }
    }
    for d in host.devices.iter().flatten() {
        let on_host = d.path_on_host.clone().unwrap_or_default();
        if on_host.is_empty() {
            return Err(invalid("invalid device mapping: PathOnHost is empty"));
        }
        let inside = d
            .path_in_container
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| on_host.clone());
        let perms = d
            .cgroup_permissions
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "rwm".into());
        if !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(invalid(format!("invalid device mode: {perms}")));
        }
        if privileged && inside == on_host {
            // Already there with every host device.
            continue;
        }
        let (n, r) = devices_from_path(&on_host, &inside, if privileged { "rwm" } else { &perms })?;
        if !inside.starts_with("/dev/") {
            return Err(invalid(format!(
                "invalid device mapping {on_host}:{inside}: the path in the container must be under /dev"
            )));
        }
        nodes.retain(|x| !n.iter().any(|y| y["path"] == x["path"]));
        nodes.extend(n);
        if !privileged {
            rules.extend(r);
        }
    }
    if !privileged {
        for r in host.device_cgroup_rules.iter().flatten() {
            rules.push(parse_cgroup_rule(r)?);
        }
    }
    Ok((nodes, rules))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{DeviceMapping, ResourcesUlimits};

    fn res(host: HostConfig) -> Result<Value, SpecError> {
        cgroup_resources(&host, &mut Vec::new()).map(Value::Object)
    }

    #[test]
    fn memory() {
        let r = res(HostConfig {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r["memory"]["limit"], 64 << 20);
        if swap_limit_supported() {
            assert_eq!(
                r["memory"]["swap"],
                128 << 20,
                "Docker's default swap is as much again"
            );
        }
        assert_eq!(r["memory"]["reservation"], 32 << 20);
        let r = res(HostConfig {
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r["memory"]["swap"], -1);
        let r = res(HostConfig::default()).unwrap();
        assert!(r.get("memory").is_none() && r.get("cpu").is_none() && r.get("pids").is_none());
        for (host, msg) in [
            (
                HostConfig {
                    memory: Some(1 << 20),
                    ..Default::default()
                },
                "Minimum memory limit allowed is 6MB",
            ),
            (
                HostConfig {
                    memory: Some(64 << 20),
                    memory_swap: Some(32 << 20),
                    ..Default::default()
                },
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ),
            (
                HostConfig {
                    memory_swap: Some(32 << 20),
                    ..Default::default()
                },
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ),
            (
                HostConfig {
                    memory_reservation: Some(1),
                    ..Default::default()
                },
                "Minimum memory reservation allowed is 6MB",
            ),
            (
                HostConfig {
                    memory: Some(8 << 20),
                    memory_reservation: Some(16 << 20),
                    ..Default::default()
                },
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ),
        ] {
            assert_eq!(res(host).unwrap_err().to_string(), msg);
        }
        // -1 is what the CLI sends for "the kernel's default".
        res(HostConfig {
            memory_swappiness: Some(-1),
            ..Default::default()
        })
        .unwrap();
        let e = res(HostConfig {
            memory_swappiness: Some(10),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("HostConfig.MemorySwappiness"), "{e}");
    }

    #[test]
    fn cpu_and_pids() {
        let r = res(HostConfig {
            nano_cpus: Some(500_000_000),
            cpu_shares: Some(512),
            pids_limit: Some(10),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            r["cpu"],
            json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"})
        );
        assert_eq!(r["pids"]["limit"], 10);
        let r = res(HostConfig {
            cpu_quota: Some(20000),
            cpu_period: Some(50000),
            pids_limit: Some(-1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r["cpu"], json!({"quota": 20000, "period": 50000}));
        assert!(r.get("pids").is_none());
        assert!(res(HostConfig {
            pids_limit: Some(0),
            ..Default::default()
        })
        .unwrap()
        .get("pids")
        .is_none());
        for (host, msg) in [
            (
                HostConfig {
                    nano_cpus: Some(1_000_000),
                    cpu_period: Some(100000),
                    ..Default::default()
                },
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ),
            (
                HostConfig {
                    nano_cpus: Some(1_000_000),
                    cpu_quota: Some(100000),
                    ..Default::default()
                },
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
            ),
            (
                HostConfig {
                    nano_cpus: Some(1_000_000_000_000),
                    ..Default::default()
                },
                "range of CPUs is from 0.01 to",
            ),
            (
                HostConfig {
                    cpu_period: Some(10),
                    ..Default::default()
                },
                "CPU cfs period can not be less than 1ms",
            ),
            (
                HostConfig {
                    cpu_quota: Some(10),
                    ..Default::default()
                },
                "CPU cfs quota can not be less than 1ms (i.e. 1000)",
            ),
            (
                HostConfig {
                    cpuset_cpus: Some("1-0".into()),
                    ..Default::default()
                },
                "Invalid value 1-0 for cpuset cpus",
            ),
            (
                HostConfig {
                    cpuset_cpus: Some("100000".into()),
                    ..Default::default()
                },
                "Requested CPUs are not available",
            ),
            (
                HostConfig {
                    cpu_shares: Some(-5),
                    ..Default::default()
                },
                "invalid CPU shares (-5)",
            ),
        ] {
            let e = res(host).unwrap_err().to_string();
            assert!(e.starts_with(msg), "{e}");
        }
    }

    #[test]
    fn ulimits() {
        let ul = |name: &str, soft: i64, hard: i64| HostConfig {
            ulimits: Some(vec![ResourcesUlimits {
                name: Some(name.into()),
                soft: Some(soft),
                hard: Some(hard),
            }]),
            ..Default::default()
        };
        let r = rlimits(&ul("nofile", 100, 200), false).unwrap();
        assert_eq!(
            r,
            [json!({"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200})]
        );
        assert_eq!(
            rlimits(&ul("bogus", 1, 1), true).unwrap_err().to_string(),
            "invalid ulimit type: bogus"
        );
        assert_eq!(
            rlimits(&ul("nofile", 2, 1), true).unwrap_err().to_string(),
            "ulimit soft limit must be less than or equal to hard limit: 2 > 1"
        );
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit into a struct we own.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) };
        if cur.rlim_max != libc::RLIM_INFINITY {
            let above = cur.rlim_max as i64 + 1;
            let e = rlimits(&ul("nofile", 1, above), false)
                .unwrap_err()
                .to_string();
            assert!(e.contains("CAP_SYS_RESOURCE"), "{e}");
            rlimits(&ul("nofile", 1, above), true).unwrap();
        }
    }

    #[test]
    fn sysctl_rules() {
        let with = |k: &str| HostConfig {
            sysctls: Some([(k.to_string(), "1".to_string())].into()),
            ..Default::default()
        };
        let s = sysctls(&with("net.ipv4.ip_forward"), NetworkSetup::Private).unwrap();
        assert_eq!(s["net.ipv4.ip_forward"], "1");
        if sysctl_exists("net.ipv4.ip_unprivileged_port_start") {
            assert_eq!(s["net.ipv4.ip_unprivileged_port_start"], "0");
        }
        sysctls(&with("kernel.shmmax"), NetworkSetup::Host).unwrap();
        sysctls(&with("fs.mqueue.msg_max"), NetworkSetup::Private).unwrap();
        let host = sysctls(&HostConfig::default(), NetworkSetup::Host).unwrap();
        assert!(
            host.is_empty(),
            "no default sysctls in the host's network namespace"
        );
        for (k, net, needle) in [
            (
                "net.ipv4.ip_forward",
                NetworkSetup::Host,
                "not allowed in host network namespace",
            ),
            ("kernel.hostname", NetworkSetup::Private, "kernel.hostname"),
            (
                "vm.swappiness",
                NetworkSetup::Private,
                "only namespaced sysctls",
            ),
            ("kernel.pid_max", NetworkSetup::Private, "kernel.pid_max"),
        ] {
            let e = sysctls(&with(k), net).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn device_rules_and_nodes() {
        let (nodes, rules) = devices(&HostConfig::default(), false).unwrap();
        assert!(nodes.is_empty());
        assert_eq!(
            rules[0],
            json!({"allow": false, "type": "a", "access": "rwm"})
        );
        assert!(rules.contains(&json!({"allow": true, "type": "c", "major": 136, "access": "rwm"})));
        assert!(rules.contains(
            &json!({"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"})
        ));
        // fuse stays out through the leading deny-all (a later deny would make runc fail on
        // cgroup v1: it cannot punch a hole in a wildcard allow).
        assert!(!rules.iter().any(|r| r["minor"] == 229));

        let host = HostConfig {
            devices: Some(vec![DeviceMapping {
                path_on_host: Some("/dev/null".into()),
                path_in_container: Some("/dev/mynull".into()),
                cgroup_permissions: Some("rw".into()),
            }]),
            device_cgroup_rules: Some(vec!["c 42:* rmw".into(), "b 8:0 r".into()]),
            ..Default::default()
        };
        let (nodes, rules) = devices(&host, false).unwrap();
        assert_eq!(
            nodes,
            [
                json!({"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 0, "gid": 0})
            ]
        );
        let tail: Vec<_> = rules.iter().rev().take(3).rev().cloned().collect();
        assert_eq!(
            tail,
            [
                json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}),
                json!({"allow": true, "type": "c", "major": 42, "access": "rmw"}),
                json!({"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}),
            ]
        );
        for (d, needle) in [
            (
                DeviceMapping {
                    path_on_host: Some("/nonexistent".into()),
                    ..Default::default()
                },
                "error gathering device information while adding custom device \"/nonexistent\"",
            ),
            (
                DeviceMapping {
                    path_on_host: Some("/etc/hostname".into()),
                    ..Default::default()
                },
                "not a device node",
            ),
            (
                DeviceMapping {
                    path_on_host: Some("/dev/null".into()),
                    cgroup_permissions: Some("rwx".into()),
                    ..Default::default()
                },
                "invalid device mode: rwx",
            ),
            (
                DeviceMapping {
                    path_on_host: Some("/dev/null".into()),
                    path_in_container: Some("/etc/x".into()),
                    ..Default::default()
                },
                "under /dev",
            ),
        ] {
            let e = devices(
                &HostConfig {
                    devices: Some(vec![d]),
                    ..Default::default()
                },
                false,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(needle), "{e}");
        }
        let e = devices(
            &HostConfig {
                device_cgroup_rules: Some(vec!["x 1:2 r".into()]),
                ..Default::default()
            },
            false,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "invalid device cgroup format 'x 1:2 r'");
    }

    #[test]
    fn privileged_devices() {
        let (nodes, rules) = devices(
            &HostConfig {
                privileged: Some(true),
                ..Default::default()
            },
            true,
        )
        .unwrap();
        assert_eq!(
            rules,
            [json!({"allow": true, "type": "a", "access": "rwm"})]
        );
        assert!(nodes
            .iter()
            .all(|n| n["path"].as_str().unwrap().starts_with("/dev/")));
        assert!(!nodes
            .iter()
            .any(|n| n["path"] == "/dev/null"
                || n["path"].as_str().unwrap().starts_with("/dev/pts/")));
    }
}
