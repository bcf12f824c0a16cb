//! Fake cgroup trees in temp dirs for unit tests.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::fsutil::WRITES;
use crate::Options;

pub(crate) const V1_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

pub(crate) const V1_COMBINED_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
";

pub(crate) const V2_MOUNTINFO: &str =
    "28 22 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

pub(crate) struct Fake {
    pub tmp: TempDir,
    pub opts: Options,
}

impl Fake {
    pub fn new(mountinfo: &str) -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let opts = Options {
            mountinfo: mountinfo.to_string(),
            root: tmp.path().to_path_buf(),
        };
        WRITES.with(|w| w.borrow_mut().clear());
        Fake { tmp, opts }
    }

    /// Host path → path in the fake tree.
    pub fn p(&self, host: &str) -> PathBuf {
        self.tmp.path().join(host.trim_start_matches('/'))
    }

    /// Create `dir` (a host path) with these files.
    pub fn files(&self, dir: &str, files: &[(&str, &str)]) {
        let d = self.p(dir);
        fs::create_dir_all(&d).unwrap();
        for (name, content) in files {
            fs::write(d.join(name), content).unwrap();
        }
    }

    pub fn read(&self, host: &str) -> String {
        fs::read_to_string(self.p(host)).unwrap_or_else(|e| panic!("read {host}: {e}"))
    }

    /// Writes so far, as (host path, value).
    pub fn writes(&self) -> Vec<(String, String)> {
        WRITES.with(|w| {
            w.borrow()
                .iter()
                .map(|(p, v)| (host_of(self.tmp.path(), p), v.clone()))
                .collect()
        })
    }

    pub fn clear_writes(&self) {
        WRITES.with(|w| w.borrow_mut().clear());
    }

    /// What a kernel does on rmdir of a cgroup: its control files vanish with it. Delete the
    /// regular files below `dir` so that rmdir works on the fake tree.
    pub fn drop_control_files(&self, dir: &str) {
        fn walk(d: &Path) {
            for e in fs::read_dir(d).into_iter().flatten().flatten() {
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path());
                } else {
                    fs::remove_file(e.path()).unwrap();
                }
            }
        }
        walk(&self.p(dir));
    }
}

fn host_of(root: &Path, p: &Path) -> String {
    format!("/{}", p.strip_prefix(root).unwrap_or(p).display())
}

/// The control files of a fresh v1 cgroup, per hierarchy directory name.
pub(crate) fn v1_leaf_files(hier: &str) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("cgroup.procs", "")];
    v.extend_from_slice(match hier {
        "cpu" => &[
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.cfs_burst_us", "0"),
            ("cpu.idle", "0"),
            (
                "cpu.stat",
                "nr_periods 5\nnr_throttled 2\nthrottled_time 3000\nnr_bursts 0\nburst_time 0\n",
            ),
        ][..],
        "cpuacct" => &[
            ("cpuacct.usage", "5000"),
            ("cpuacct.usage_user", "3000"),
            ("cpuacct.usage_sys", "2000"),
            ("cpuacct.usage_percpu", "2500 2500 \n"),
        ],
        "cpuset" => &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")],
        "memory" => &[
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
            ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
            ("memory.swappiness", "60"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
            ),
            ("memory.usage_in_bytes", "1048576\n"),
            ("memory.max_usage_in_bytes", "2097152\n"),
            ("memory.memsw.usage_in_bytes", "1052672\n"),
            (
                "memory.stat",
                "cache 4096\nrss 8192\ntotal_cache 12288\ntotal_rss 8192\n",
            ),
        ],
        "devices" => &[
            ("devices.allow", ""),
            ("devices.deny", ""),
            ("devices.list", "a *:* rwm\n"),
        ],
        "freezer" => &[("freezer.state", "THAWED\n")],
        "blkio" => &[
            ("blkio.bfq.weight", "100"),
            ("blkio.bfq.weight_device", ""),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", ""),
        ],
        "pids" => &[("pids.max", "max\n"), ("pids.current", "1\n")],
        "unified" => &[
            ("cgroup.kill", ""),
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 1\nfrozen 0\n"),
            ("cgroup.controllers", "hugetlb\n"),
        ],
        _ => &[],
    });
    v
}

pub(crate) const V1_HIERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
    "unified",
];

/// A fake hybrid host: v1 hierarchy roots, plus the leaf `levels` pre-populated with control files
/// as the kernel would on mkdir (directories that exist already count as not created by berth).
pub(crate) fn v1_host(leaf: Option<&str>) -> Fake {
    let f = Fake::new(V1_MOUNTINFO);
    for h in V1_HIERS {
        let root = format!("/sys/fs/cgroup/{h}");
        f.files(&root, &[("cgroup.procs", "1\n")]);
        if *h == "cpuset" {
            f.files(&root, &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")]);
        }
        if *h == "unified" {
            f.files(
                &root,
                &[
                    ("cgroup.controllers", "hugetlb\n"),
                    ("cgroup.subtree_control", ""),
                ],
            );
        }
        if let Some(l) = leaf {
            f.files(&format!("{root}{l}"), &v1_leaf_files(h));
        }
    }
    f
}

/// A fake pure-v2 host with `controllers` at the root and a populated leaf.
pub(crate) fn v2_host(controllers: &str, leaf: Option<&str>, extra: &[(&str, &str)]) -> Fake {
    let f = Fake::new(V2_MOUNTINFO);
    f.files(
        "/sys/fs/cgroup",
        &[
            ("cgroup.controllers", controllers),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", "1\n"),
        ],
    );
    if let Some(l) = leaf {
        let dir = format!("/sys/fs/cgroup{l}");
        let mut files: Vec<(&str, &str)> = vec![
            ("cgroup.controllers", controllers),
            ("cgroup.procs", ""),
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 1\nfrozen 0\n"),
            ("cgroup.kill", ""),
            ("cpu.stat", "usage_usec 7\nuser_usec 4\nsystem_usec 3\nnr_periods 9\nnr_throttled 1\nthrottled_usec 2\n"),
        ];
        files.extend_from_slice(extra);
        f.files(&dir, &files);
    }
    f
}
