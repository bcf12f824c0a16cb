//! What Docker gives every container: capabilities, masked and read-only paths, the standard
//! mounts and the device cgroup rules; and the capability arithmetic of CapAdd/CapDrop.

use bollard_stubs::models::HostConfig;

use super::SpecError;

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths hidden from the container (Docker also masks each CPU's thermal_throttle directory).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's masked paths plus the host's /sys/devices/system/cpu/cpuN/thermal_throttle.
pub fn masked_paths() -> Vec<String> {
    let mut out: Vec<String> = MASKED_PATHS.iter().map(|s| s.to_string()).collect();
    let mut cpus: Vec<u32> = std::fs::read_dir("/sys/devices/system/cpu")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("cpu")?.parse().ok())
        .collect();
    cpus.sort_unstable();
    for cpu in cpus {
        let p = format!("/sys/devices/system/cpu/cpu{cpu}/thermal_throttle");
        if std::path::Path::new(&p).exists() {
            out.push(p);
        }
    }
    out
}

/// /dev/shm's size when ShmSize is 0.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// (destination, type, source, options) of Docker's standard mounts, before ShmSize, IpcMode,
/// ReadonlyRootfs and Privileged adjust them.
pub const MOUNTS: &[(&str, &str, &str, &[&str])] = &[
    ("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
    (
        "/dev",
        "tmpfs",
        "tmpfs",
        &["nosuid", "strictatime", "mode=755", "size=65536k"],
    ),
    (
        "/dev/pts",
        "devpts",
        "devpts",
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ],
    ),
    (
        "/sys",
        "sysfs",
        "sysfs",
        &["nosuid", "noexec", "nodev", "ro"],
    ),
    (
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        &["ro", "nosuid", "noexec", "nodev"],
    ),
    (
        "/dev/mqueue",
        "mqueue",
        "mqueue",
        &["nosuid", "noexec", "nodev"],
    ),
    (
        "/dev/shm",
        "tmpfs",
        "shm",
        &["nosuid", "noexec", "nodev", "mode=1777"],
    ),
];

/// (allow, type, major, minor, access); None is the wildcard.
pub type DeviceRule = (bool, &'static str, Option<i64>, Option<i64>, &'static str);

/// Device cgroup rules every unprivileged container gets:
/// Docker's (deny all, which keeps fuse out; null, zero, urandom, random, tty, console) with
/// what runc adds on its own (mknod of anything, full, ptmx, the ptys, tun), so the builtin
/// runtime and runc enforce the same list.
pub const DEVICE_RULES: &[DeviceRule] = &[
    (false, "a", None, None, "rwm"),
    (true, "c", None, None, "m"),
    (true, "b", None, None, "m"),
    (true, "c", Some(1), Some(3), "rwm"),
    (true, "c", Some(1), Some(5), "rwm"),
    (true, "c", Some(1), Some(7), "rwm"),
    (true, "c", Some(1), Some(8), "rwm"),
    (true, "c", Some(1), Some(9), "rwm"),
    (true, "c", Some(5), Some(0), "rwm"),
    (true, "c", Some(5), Some(1), "rwm"),
    (true, "c", Some(5), Some(2), "rwm"),
    (true, "c", Some(136), None, "rwm"),
    (true, "c", Some(10), Some(200), "rwm"),
];

/// "net_admin", "CAP_NET_ADMIN" or "ALL" as the kernel spells them; unknown names are refused
/// the way Docker refuses them.
pub fn cap_name(name: &str) -> Result<String, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if berth_runtime::caps::number(&full).is_none() {
        return Err(SpecError::Invalid(format!(
            "unknown capability: \"{full}\""
        )));
    }
    Ok(full)
}

/// The container's capabilities: Docker's defaults tweaked by CapAdd and CapDrop, or with
/// Privileged every capability berthd holds. `bounding` is berthd's own bounding set: a
/// capability outside it can't be granted, so asking for one is an error.
pub fn capabilities(host: &HostConfig, bounding: &[String]) -> Result<Vec<String>, SpecError> {
    if host.privileged.unwrap_or(false) {
        return Ok(bounding.to_vec());
    }
    let names = |list: &Option<Vec<String>>| -> Result<Vec<String>, SpecError> {
        list.iter().flatten().map(|c| cap_name(c)).collect()
    };
    let adds = names(&host.cap_add)?;
    let drops = names(&host.cap_drop)?;
    let mut caps: Vec<String> = if adds.iter().any(|c| c == "ALL") {
        // Everything but what is dropped.
        bounding
            .iter()
            .filter(|c| !drops.contains(c))
            .cloned()
            .collect()
    } else if drops.iter().any(|c| c == "ALL") {
        // Only what is added.
        adds.clone()
    } else {
        // The defaults minus the drops, plus the adds (an add wins over a drop of the same cap).
        let mut caps: Vec<String> = DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drops.contains(c))
            .collect();
        caps.extend(adds.iter().cloned());
        caps
    };
    let mut seen = Vec::new();
    caps.retain(|c| {
        let new = !seen.contains(c);
        seen.push(c.clone());
        new
    });
    if let Some(missing) = caps.iter().find(|c| !bounding.contains(c)) {
        return Err(SpecError::Invalid(format!(
            "capability {missing} is not in berthd's own bounding set, so no container can have it"
        )));
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounding() -> Vec<String> {
        (0..=40)
            .filter_map(berth_runtime::caps::name)
            .filter(|c| *c != "CAP_SYS_RESOURCE")
            .map(str::to_string)
            .collect()
    }

    fn caps(add: &[&str], drop: &[&str]) -> Result<Vec<String>, SpecError> {
        let list = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect());
        capabilities(
            &HostConfig {
                cap_add: list(add),
                cap_drop: list(drop),
                ..Default::default()
            },
            &bounding(),
        )
    }

    #[test]
    fn defaults_adds_and_drops() {
        assert_eq!(caps(&[], &[]).unwrap(), DEFAULT_CAPS);
        let c = caps(&["net_admin", "Sys_Ptrace"], &["CAP_CHOWN", "kill"]).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".into()) && c.contains(&"CAP_SYS_PTRACE".into()));
        assert!(!c.contains(&"CAP_CHOWN".into()) && !c.contains(&"CAP_KILL".into()));
        // Add wins over drop of the same capability, as Docker.
        assert!(caps(&["chown"], &["chown"])
            .unwrap()
            .contains(&"CAP_CHOWN".into()));
        assert_eq!(caps(&["NET_ADMIN"], &["ALL"]).unwrap(), ["CAP_NET_ADMIN"]);
        assert!(caps(&[], &["all"]).unwrap().is_empty());
        let all = caps(&["ALL"], &["MKNOD"]).unwrap();
        assert_eq!(all.len(), bounding().len() - 1);
        assert!(!all.contains(&"CAP_MKNOD".into()));
    }

    #[test]
    fn unknown_and_unavailable_capabilities() {
        assert_eq!(
            caps(&["CAP_FOO"], &[]).unwrap_err().to_string(),
            "unknown capability: \"CAP_FOO\""
        );
        assert_eq!(
            caps(&[], &["foo"]).unwrap_err().to_string(),
            "unknown capability: \"CAP_FOO\""
        );
        let e = caps(&["SYS_RESOURCE"], &[]).unwrap_err().to_string();
        assert!(
            e.contains("CAP_SYS_RESOURCE") && e.contains("bounding set"),
            "{e}"
        );
    }

    #[test]
    fn privileged_is_the_bounding_set() {
        let host = HostConfig {
            privileged: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            ..Default::default()
        };
        assert_eq!(capabilities(&host, &bounding()).unwrap(), bounding());
    }
}
