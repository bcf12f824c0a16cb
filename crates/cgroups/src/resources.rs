//! Conversions and checks shared by the v1 and v2 managers.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::error::{CgroupError, Result};

/// Fields neither manager implements; refuse them when set.
pub(crate) fn refuse_unimplemented(r: &LinuxResources) -> Result<()> {
    if r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(CgroupError::unsupported("linux.resources.hugepageLimits"));
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(CgroupError::unsupported("linux.resources.network"));
        }
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(CgroupError::unsupported("linux.resources.rdma"));
    }
    if let Some(m) = r.memory() {
        if m.kernel().is_some() {
            return Err(CgroupError::unsupported_because(
                "linux.resources.memory.kernel",
                "kernel memory limits were removed from linux",
            ));
        }
        if m.kernel_tcp().is_some() {
            return Err(CgroupError::unsupported("linux.resources.memory.kernelTCP"));
        }
        if m.use_hierarchy() == Some(false) {
            return Err(CgroupError::unsupported_because(
                "linux.resources.memory.useHierarchy=false",
                "the kernel always uses the hierarchy",
            ));
        }
    }
    if let Some(b) = r.block_io() {
        if b.leaf_weight().is_some() {
            return Err(CgroupError::unsupported(
                "linux.resources.blockIO.leafWeight",
            ));
        }
        if b.weight_device()
            .as_ref()
            .is_some_and(|v| v.iter().any(|d| d.leaf_weight().is_some()))
        {
            return Err(CgroupError::unsupported(
                "linux.resources.blockIO.weightDevice[].leafWeight",
            ));
        }
    }
    Ok(())
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), the OCI/runc convention.
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// blkio.weight (10..1000) to io.weight (1..10000).
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

/// pids.max value: a limit ≤ 0 means unlimited.
pub(crate) fn pids_max(limit: i64) -> String {
    if limit <= 0 {
        "max".to_string()
    } else {
        limit.to_string()
    }
}

/// A memory-style limit: -1 means unlimited ("max" on v2, "-1" on v1).
pub(crate) fn check_limit(field: &str, v: i64) -> Result<()> {
    if v < -1 {
        return Err(CgroupError::invalid(
            field,
            format!("{v} is negative (use -1 for unlimited)"),
        ));
    }
    Ok(())
}

pub(crate) fn v2_limit(v: i64) -> String {
    if v == -1 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// OCI swap is memory+swap; cgroup v2 memory.swap.max is swap alone.
pub(crate) fn v2_swap_max(swap: i64, limit: Option<i64>) -> Result<String> {
    const F: &str = "linux.resources.memory.swap";
    check_limit(F, swap)?;
    if swap == -1 {
        return Ok("max".to_string());
    }
    match limit {
        None | Some(-1) => Err(CgroupError::invalid(
            F,
            "a swap limit needs linux.resources.memory.limit on cgroup v2",
        )),
        Some(l) if swap < l => Err(CgroupError::invalid(
            F,
            format!("memory+swap {swap} is less than the memory limit {l}"),
        )),
        Some(l) => Ok((swap - l).to_string()),
    }
}

/// "c 1:3 rwm" for devices.allow / devices.deny.
pub(crate) fn device_rule(d: &LinuxDeviceCgroup) -> Result<String> {
    let typ = d.typ().unwrap_or(LinuxDeviceType::A);
    let t = match typ {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => {
            return Err(CgroupError::invalid(
                "linux.resources.devices[].type",
                "\"p\" (fifo) has no device cgroup rule",
            ))
        }
    };
    let num = |n: Option<i64>| n.map(|v| v.to_string()).unwrap_or_else(|| "*".to_string());
    let access = d.access().clone().unwrap_or_else(|| "rwm".to_string());
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(CgroupError::invalid(
            "linux.resources.devices[].access",
            format!("{access:?} is not a subset of \"rwm\""),
        ));
    }
    if t == "a" {
        return Ok(format!("a *:* {access}"));
    }
    Ok(format!(
        "{t} {}:{} {access}",
        num(d.major()),
        num(d.minor())
    ))
}

fn is_wildcard_all(d: &LinuxDeviceCgroup) -> bool {
    matches!(d.typ(), None | Some(LinuxDeviceType::A))
        && d.major().is_none_or(|m| m == -1)
        && d.minor().is_none_or(|m| m == -1)
        && d.access()
            .as_deref()
            .is_none_or(|a| a.contains('r') && a.contains('w') && a.contains('m'))
}

/// On cgroup v2 without an eBPF program every device is allowed. Accept a rule list only if its
/// outcome is exactly that: the last rule allows everything.
pub(crate) fn v2_devices_ok(rules: &[LinuxDeviceCgroup]) -> Result<()> {
    match rules.last() {
        None => Ok(()),
        Some(last) if last.allow() && is_wildcard_all(last) => Ok(()),
        Some(_) => Err(CgroupError::unsupported_because(
            "linux.resources.devices",
            "device rules on cgroup v2 need an eBPF device program, which berth does not load yet \
             (only an empty list or a final allow-all rule can be honoured)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_matches_the_convention() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
    }

    #[test]
    fn blkio_weight_conversion() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + (490 * 9999) / 990);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(v2_swap_max(-1, None).unwrap(), "max");
        assert_eq!(v2_swap_max(300, Some(100)).unwrap(), "200");
        assert_eq!(v2_swap_max(100, Some(100)).unwrap(), "0");
        assert!(v2_swap_max(50, Some(100))
            .unwrap_err()
            .to_string()
            .contains("less than the memory limit"));
        assert!(v2_swap_max(50, None)
            .unwrap_err()
            .to_string()
            .contains("needs linux.resources.memory.limit"));
    }

    #[test]
    fn device_rules() {
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}"#)
                .unwrap();
        assert_eq!(device_rule(&r).unwrap(), "c 1:3 rwm");
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap();
        assert_eq!(device_rule(&r).unwrap(), "a *:* rwm");
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":136,"access":"rw"}"#).unwrap();
        assert_eq!(device_rule(&r).unwrap(), "c 136:* rw");
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","access":"rwx"}"#).unwrap();
        assert!(device_rule(&r).is_err());
    }

    #[test]
    fn v2_device_rules() {
        let allow_all: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"access":"rwm"}"#).unwrap();
        let deny_all: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap();
        assert!(v2_devices_ok(&[]).is_ok());
        assert!(v2_devices_ok(&[deny_all.clone(), allow_all.clone()]).is_ok());
        let e = v2_devices_ok(&[allow_all, deny_all]).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "linux.resources.devices is not supported: device rules on cgroup v2 need an eBPF"
            ),
            "{e}"
        );
    }
}
