//! cgroup limits as a container experiences them: memory and OOM, pids, cpu quota and cpuset,
//! rlimits.

mod common;

use std::os::fd::OwnedFd;

use berth_runtime::builtin::Builtin;
use berth_runtime::{CreateOptions, OciRuntime};
use common::*;
use serde_json::json;

const MIB: i64 = 1024 * 1024;

#[test]
fn a_memory_limit_leads_to_an_oom_kill_that_is_recorded() {
    require_root();
    let root = tempfile::Builder::new()
        .prefix("berth-rt-")
        .tempdir()
        .unwrap();
    let rt = Builtin::new(root.path());
    // tail buffers its never-ending line, so its memory grows until the limit.
    let mut bundle = Bundle::busybox(&["tail", "/dev/zero"]);
    bundle.edit_json(|s| {
        s["linux"]["resources"]["memory"] = json!({"limit": 32 * MIB, "swap": 32 * MIB});
    });
    let id = unique_name("oom");
    struct Cleanup<'a>(&'a Builtin, &'a str);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.0.delete(self.1, true);
        }
    }
    let devnull = || Some(OwnedFd::from(std::fs::File::open("/dev/null").unwrap()));
    let opts = CreateOptions {
        stdin: devnull(),
        stdout: devnull(),
        stderr: devnull(),
        ..Default::default()
    };
    let pid = rt.create(&id, bundle.path(), opts).unwrap();
    let _cleanup = Cleanup(&rt, &id);
    rt.start(&id).unwrap();
    let mut status = 0;
    // SAFETY: the init is our child: the builtin runtime cloned it from this process.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
        "status {status:#x}"
    );
    let cgroup = rt.cgroup(&id).unwrap();
    assert!(
        cgroup.oom_kill_count().unwrap() >= 1,
        "the OOM kill was not recorded"
    );
}

#[test]
fn the_memory_limit_is_what_the_container_sees() {
    let rt = Runtime::new();
    let out = sh(
        &rt,
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
        |s| {
            s["linux"]["resources"]["memory"] = json!({"limit": 64 * MIB});
        },
    );
    assert_eq!(
        stdout(&out).trim(),
        (64 * MIB).to_string(),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_pids_limit_makes_fork_fail() {
    let rt = Runtime::new();
    let out = sh(
        &rt,
        "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait",
        |s| {
            s["linux"]["resources"]["pids"] = json!({"limit": 4});
        },
    );
    assert!(
        stderr(&out).contains("can't fork"),
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn the_cpu_quota_and_cpuset_are_applied() {
    let rt = Runtime::new();
    let out = sh(&rt, "cd /sys/fs/cgroup; cat cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares cpuset/cpuset.cpus", |s| {
        s["linux"]["resources"]["cpu"] = json!({"quota": 20000, "period": 100000, "shares": 512, "cpus": "0"});
    });
    assert_eq!(stdout(&out), "20000\n100000\n512\n0\n", "{}", stderr(&out));
}

#[test]
fn rlimits_are_set() {
    let rt = Runtime::new();
    let out = sh(&rt, "ulimit -n; ulimit -Hn", |s| {
        s["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]);
    });
    assert_eq!(stdout(&out), "100\n200\n", "{}", stderr(&out));
}

#[test]
fn an_rlimit_above_the_hard_limit_fails_naming_the_limit() {
    let rt = Runtime::new();
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: writes into our struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) };
    let too_high = hard.rlim_max.saturating_add(1);
    let out = sh(&rt, "true", |s| {
        s["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": too_high}]);
    });
    // This machine lacks CAP_SYS_RESOURCE, so the hard limit can't be raised.
    assert!(
        !out.status.success(),
        "raising RLIMIT_NOFILE past {} succeeded",
        hard.rlim_max
    );
    assert!(stderr(&out).contains("RLIMIT_NOFILE"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(rt.root.path()).unwrap().count(),
        0,
        "state left behind"
    );
}
