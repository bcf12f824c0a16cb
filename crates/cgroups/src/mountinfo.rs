//! Finding the cgroup hierarchies from /proc/self/mountinfo.

use std::path::{Path, PathBuf};

use crate::error::{CgroupError, Result};

/// Controllers (and the named-hierarchy prefix) that may appear in a cgroup v1 mount's super options.
const V1_SUBSYSTEMS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// One cgroup v1 hierarchy as mounted on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Where it is mounted on the host, e.g. `/sys/fs/cgroup/cpu,cpuacct`.
    pub mount_point: PathBuf,
    /// The last component of the mount point, e.g. `cpu,cpuacct` or `systemd`.
    pub dir_name: String,
    /// The subsystems, e.g. `["cpu", "cpuacct"]` or `["name=systemd"]`.
    pub subsystems: Vec<String>,
    /// The root of the hierarchy that is visible at the mount point (4th mountinfo field), usually `/`.
    pub root: String,
}

impl V1Hierarchy {
    /// The mount data to mount this hierarchy again, e.g. `cpu,cpuacct` or `name=systemd`.
    pub fn options(&self) -> String {
        self.subsystems.join(",")
    }

    /// Whether this hierarchy carries the given controller (or `name=...`).
    pub fn has(&self, subsystem: &str) -> bool {
        self.subsystems.iter().any(|s| s == subsystem)
    }
}

/// How cgroups are laid out on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostLayout {
    /// Pure cgroup v2: one cgroup2 mount (normally `/sys/fs/cgroup`).
    Unified { mount_point: PathBuf },
    /// cgroup v1 hierarchies, with a cgroup2 mount beside them in hybrid mode
    /// (normally `/sys/fs/cgroup/unified`).
    V1 {
        hierarchies: Vec<V1Hierarchy>,
        unified: Option<PathBuf>,
    },
}

#[derive(Debug)]
struct Entry {
    root: String,
    mount_point: PathBuf,
    fstype: String,
    super_options: String,
}

/// Undo the octal escapes (`\040` for space, ...) the kernel puts in mountinfo paths.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if v <= 255 {
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_line(line: &str) -> Result<Entry> {
    let bad = |reason: &str| CgroupError::Mountinfo {
        line: line.to_string(),
        reason: reason.to_string(),
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or_else(|| bad("no \" - \" separator"))?;
    if sep < 6 || fields.len() < sep + 4 {
        return Err(bad("too few fields"));
    }
    Ok(Entry {
        root: unescape(fields[3]),
        mount_point: PathBuf::from(unescape(fields[4])),
        fstype: fields[sep + 1].to_string(),
        super_options: fields[sep + 3].to_string(),
    })
}

fn subsystems(super_options: &str) -> Vec<String> {
    super_options
        .split(',')
        .filter(|o| V1_SUBSYSTEMS.contains(o) || o.starts_with("name="))
        .map(str::to_string)
        .collect()
}

/// Work out the host's cgroup layout from mountinfo text.
pub fn parse_layout(mountinfo: &str, source: &Path) -> Result<HostLayout> {
    let mut v1: Vec<V1Hierarchy> = Vec::new();
    let mut v2: Vec<PathBuf> = Vec::new();
    for line in mountinfo.lines().filter(|l| !l.trim().is_empty()) {
        let e = parse_line(line)?;
        match e.fstype.as_str() {
            "cgroup" => {
                let subs = subsystems(&e.super_options);
                if subs.is_empty() || v1.iter().any(|h| h.subsystems == subs) {
                    continue; // unknown, or a second mount of a hierarchy we already have
                }
                let dir_name = e
                    .mount_point
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                v1.push(V1Hierarchy {
                    mount_point: e.mount_point,
                    dir_name,
                    subsystems: subs,
                    root: e.root,
                });
            }
            "cgroup2" if !v2.contains(&e.mount_point) => v2.push(e.mount_point),
            _ => {}
        }
    }
    let std_root = Path::new("/sys/fs/cgroup");
    if v2.iter().any(|p| p == std_root) {
        return Ok(HostLayout::Unified {
            mount_point: std_root.to_path_buf(),
        });
    }
    if !v1.is_empty() {
        let unified = v2
            .iter()
            .find(|p| p.as_path() == std_root.join("unified"))
            .or(v2.first())
            .cloned();
        return Ok(HostLayout::V1 {
            hierarchies: v1,
            unified,
        });
    }
    match v2.into_iter().next() {
        Some(mount_point) => Ok(HostLayout::Unified { mount_point }),
        None => Err(CgroupError::NoCgroupFs {
            path: source.to_path_buf(),
        }),
    }
}

/// The host's cgroup layout, from /proc/self/mountinfo. The runtime uses this to mount
/// `/sys/fs/cgroup` inside a container.
pub fn host_layout() -> Result<HostLayout> {
    let p = Path::new("/proc/self/mountinfo");
    let text = crate::fsutil::read(p)?;
    parse_layout(&text, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_SPLIT: &str = "\
22 1 8:1 / / rw,relatime - ext4 /dev/root rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const COMBINED: &str = "\
25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:6 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,net_cls,net_prio
32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
99 25 0:29 / /mnt/again\\040memory rw - cgroup cgroup rw,memory
";

    const PURE_V2: &str = "\
24 1 8:1 / / rw - ext4 /dev/sda1 rw
28 22 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn hybrid_with_separate_cpu_and_cpuacct() {
        let l = parse_layout(HYBRID_SPLIT, Path::new("x")).unwrap();
        let HostLayout::V1 {
            hierarchies,
            unified,
        } = l
        else {
            panic!("not v1")
        };
        assert_eq!(
            unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        let names: Vec<_> = hierarchies.iter().map(|h| h.dir_name.as_str()).collect();
        assert_eq!(names, ["cpu", "cpuacct", "cpuset", "memory", "systemd"]);
        assert_eq!(hierarchies[0].options(), "cpu");
        assert_eq!(hierarchies[4].options(), "name=systemd");
        assert!(hierarchies[1].has("cpuacct") && !hierarchies[1].has("cpu"));
    }

    #[test]
    fn combined_cpu_cpuacct_and_duplicate_mount() {
        let l = parse_layout(COMBINED, Path::new("x")).unwrap();
        let HostLayout::V1 {
            hierarchies,
            unified,
        } = l
        else {
            panic!("not v1")
        };
        assert_eq!(unified, None);
        assert_eq!(hierarchies.len(), 4, "{hierarchies:?}");
        let cpu = hierarchies.iter().find(|h| h.has("cpu")).unwrap();
        assert_eq!(cpu.dir_name, "cpu,cpuacct");
        assert_eq!(cpu.options(), "cpu,cpuacct");
        assert!(cpu.has("cpuacct"));
        assert_eq!(cpu.mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(hierarchies[0].options(), "name=systemd");
    }

    #[test]
    fn pure_v2() {
        let l = parse_layout(PURE_V2, Path::new("x")).unwrap();
        assert_eq!(
            l,
            HostLayout::Unified {
                mount_point: "/sys/fs/cgroup".into()
            }
        );
    }

    #[test]
    fn none_and_garbage() {
        let e = parse_layout(
            "24 1 8:1 / / rw - ext4 /dev/sda1 rw\n",
            Path::new("/proc/self/mountinfo"),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "no cgroup filesystem is mounted (nothing of type cgroup or cgroup2 in /proc/self/mountinfo)");
        let e = parse_layout("garbage line\n", Path::new("x")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("parse mountinfo line \"garbage line\""),
            "{e}"
        );
    }

    #[test]
    fn unescapes_paths() {
        assert_eq!(unescape("/a\\040b\\011c\\134"), "/a b\tc\\");
        assert_eq!(unescape("/plain\\04"), "/plain\\04");
    }
}
