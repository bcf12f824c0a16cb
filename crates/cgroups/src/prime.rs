//! Priming the kernel's cgroup migration lock before a container start.
//!
//! Every move of a task between cgroups (a write to `cgroup.procs`, v1 or v2) takes the global
//! `cgroup_threadgroup_rwsem` for writing. While no writer has come by for a while that lock is
//! in its reader-fast mode, and the first writer waits out an RCU grace period to leave it:
//! 6–14 ms on the development machine, the largest single cost of a container start. Writers
//! arriving within that period or soon after pass at once. So berthd, when a start begins,
//! moves itself into the cgroup it is already in (changing nothing) on a spare thread; by the
//! time the runtime moves the container's init, the grace period has mostly passed.

use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::mountinfo::{parse_layout, HostLayout};
use crate::Result;

/// Moves this process into its own cgroup, which changes nothing but the lock's mode. Blocks
/// for up to a grace period: call it off the latency-critical path.
pub fn prime_attach() -> Result<()> {
    let mountinfo = fsutil::read(Path::new("/proc/self/mountinfo"))?;
    let own = fsutil::read(Path::new("/proc/self/cgroup"))?;
    let layout = parse_layout(&mountinfo, Path::new("/proc/self/mountinfo"))?;
    let Some(procs) = own_procs_file(&layout, &own) else {
        return Ok(());
    };
    fsutil::write(&procs, &std::process::id().to_string())
}

/// The `cgroup.procs` of this process's own cgroup in one hierarchy, from the host layout and
/// the text of /proc/self/cgroup.
fn own_procs_file(layout: &HostLayout, proc_cgroup: &str) -> Option<PathBuf> {
    let entries: Vec<(&str, &str)> = proc_cgroup
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((controllers, path))
        })
        .collect();
    let (mount_point, root, path) = match layout {
        HostLayout::Unified { mount_point } => {
            let (_, path) = entries.iter().find(|(c, _)| c.is_empty())?;
            (mount_point.clone(), "/", *path)
        }
        HostLayout::V1 { hierarchies, .. } => hierarchies.iter().find_map(|h| {
            let (_, path) = entries.iter().find(|(c, _)| {
                let mut listed: Vec<&str> = c.split(',').collect();
                let mut mounted: Vec<&str> = h.subsystems.iter().map(String::as_str).collect();
                listed.sort_unstable();
                mounted.sort_unstable();
                listed == mounted
            })?;
            Some((h.mount_point.clone(), h.root.as_str(), *path))
        })?,
    };
    let relative = path
        .strip_prefix(root)
        .unwrap_or(path)
        .trim_start_matches('/');
    Some(mount_point.join(relative).join("cgroup.procs"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::V1Hierarchy;

    #[test]
    fn the_own_cgroup_is_found_in_v1_and_v2() {
        let v1 = HostLayout::V1 {
            hierarchies: vec![V1Hierarchy {
                mount_point: "/sys/fs/cgroup/cpu,cpuacct".into(),
                dir_name: "cpu,cpuacct".into(),
                subsystems: vec!["cpu".into(), "cpuacct".into()],
                root: "/".into(),
            }],
            unified: None,
        };
        let own = "5:cpuacct,cpu:/system.slice/berthd.service\n0::/system.slice/berthd.service\n";
        assert_eq!(
            own_procs_file(&v1, own),
            Some(PathBuf::from(
                "/sys/fs/cgroup/cpu,cpuacct/system.slice/berthd.service/cgroup.procs"
            ))
        );
        let v2 = HostLayout::Unified {
            mount_point: "/sys/fs/cgroup".into(),
        };
        assert_eq!(
            own_procs_file(&v2, "0::/\n"),
            Some(PathBuf::from("/sys/fs/cgroup/cgroup.procs"))
        );
        assert_eq!(own_procs_file(&v2, "3:pids:/x\n"), None);
    }
}
