//! Unit tests of the v1 manager on a fake hybrid tree.

use std::path::Path;

use crate::fake::{self, v1_host, Fake};
use crate::{open_with, CgroupManager, CgroupVersion, FreezerState, LinuxResources};

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn mgr(f: &Fake) -> Box<dyn CgroupManager> {
    open_with(&f.opts, Path::new("/berth/abc")).unwrap()
}

fn w(path: &str, v: &str) -> (String, String) {
    (path.to_string(), v.to_string())
}

const M: &str = "/sys/fs/cgroup/memory/berth/abc";

#[test]
fn create_makes_every_level_in_every_hierarchy() {
    let f = v1_host(None);
    let m = mgr(&f);
    assert_eq!(m.version(), CgroupVersion::V1);
    m.create().unwrap();
    for h in fake::V1_HIERS {
        assert!(
            f.p(&format!("/sys/fs/cgroup/{h}/berth/abc")).is_dir(),
            "{h}"
        );
    }
    assert_eq!(m.paths().len(), 10);
    assert!(m.clone_into_fd().unwrap().is_none());
}

#[test]
fn create_copies_cpuset_from_the_parent_into_empty_levels() {
    let f = v1_host(Some("/berth/abc"));
    f.files(
        "/sys/fs/cgroup/cpuset/berth",
        &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")],
    );
    mgr(&f).create().unwrap();
    assert_eq!(
        f.writes(),
        [
            w("/sys/fs/cgroup/cpuset/berth/cpuset.cpus", "0-3"),
            w("/sys/fs/cgroup/cpuset/berth/cpuset.mems", "0"),
            w("/sys/fs/cgroup/cpuset/berth/abc/cpuset.cpus", "0-3"),
            w("/sys/fs/cgroup/cpuset/berth/abc/cpuset.mems", "0"),
        ]
    );
    // Already set: left alone.
    f.clear_writes();
    mgr(&f).create().unwrap();
    assert!(f.writes().is_empty());
}

#[test]
fn memory_growing_writes_memsw_before_limit() {
    let f = v1_host(Some("/berth/abc"));
    f.files(
        M,
        &[
            ("memory.memsw.limit_in_bytes", "104857600\n"),
            ("memory.limit_in_bytes", "52428800\n"),
        ],
    );
    mgr(&f).apply(&res(r#"{"memory":{"limit":209715200,"swap":419430400,"reservation":1000,"swappiness":10,"disableOOMKiller":true}}"#)).unwrap();
    assert_eq!(
        f.writes(),
        [
            w(&format!("{M}/memory.memsw.limit_in_bytes"), "419430400"),
            w(&format!("{M}/memory.limit_in_bytes"), "209715200"),
            w(&format!("{M}/memory.soft_limit_in_bytes"), "1000"),
            w(&format!("{M}/memory.swappiness"), "10"),
            w(&format!("{M}/memory.oom_control"), "1"),
        ]
    );
}

#[test]
fn memory_shrinking_writes_limit_before_memsw() {
    let f = v1_host(Some("/berth/abc"));
    f.files(M, &[("memory.memsw.limit_in_bytes", "419430400\n")]);
    mgr(&f)
        .apply(&res(r#"{"memory":{"limit":50000000,"swap":60000000}}"#))
        .unwrap();
    assert_eq!(
        f.writes(),
        [
            w(&format!("{M}/memory.limit_in_bytes"), "50000000"),
            w(&format!("{M}/memory.memsw.limit_in_bytes"), "60000000")
        ]
    );
    // From unlimited to unlimited (-1): memsw first.
    f.clear_writes();
    f.files(
        M,
        &[("memory.memsw.limit_in_bytes", "9223372036854771712\n")],
    );
    mgr(&f)
        .apply(&res(r#"{"memory":{"limit":-1,"swap":-1}}"#))
        .unwrap();
    assert_eq!(
        f.writes(),
        [
            w(&format!("{M}/memory.memsw.limit_in_bytes"), "-1"),
            w(&format!("{M}/memory.limit_in_bytes"), "-1")
        ]
    );
}

#[test]
fn memory_errors_name_the_field() {
    let f = v1_host(Some("/berth/abc"));
    let m = mgr(&f);
    let e = m
        .apply(&res(r#"{"memory":{"limit":200,"swap":100}}"#))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid linux.resources.memory.swap: memory+swap 100 is less than the memory limit 200"
    );
    f.files(M, &[("memory.memsw.limit_in_bytes", "1000\n")]);
    let e = m.apply(&res(r#"{"memory":{"limit":2000}}"#)).unwrap_err();
    assert!(
        e.to_string()
            .contains("2000 is above the current memory+swap limit 1000"),
        "{e}"
    );
    let e = m.apply(&res(r#"{"memory":{"kernel":1000}}"#)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.memory.kernel is not supported"),
        "{e}"
    );
    let e = m
        .apply(&res(
            r#"{"memory":{"limit":1000,"checkBeforeUpdate":true}}"#,
        ))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid linux.resources.memory.limit: 1000 is below the current usage 1048576"
    );
    std::fs::remove_file(f.p(&format!("{M}/memory.memsw.limit_in_bytes"))).unwrap();
    let e = m.apply(&res(r#"{"memory":{"swap":1000}}"#)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.memory.swap is not supported: swap accounting is off"),
        "{e}"
    );
    assert!(f.writes().is_empty(), "{:?}", f.writes());
}

#[test]
fn none_fields_touch_nothing() {
    let f = v1_host(Some("/berth/abc"));
    mgr(&f)
        .apply(&res(r#"{"memory":{},"cpu":{},"blockIO":{},"devices":[]}"#))
        .unwrap();
    mgr(&f).apply(&LinuxResources::default()).unwrap();
    assert!(f.writes().is_empty(), "{:?}", f.writes());
}

#[test]
fn cpu_cpuset_and_pids() {
    let f = v1_host(Some("/berth/abc"));
    let c = "/sys/fs/cgroup/cpu/berth/abc";
    mgr(&f)
        .apply(&res(r#"{"cpu":{"shares":512,"quota":50000,"period":100000,"idle":1,"cpus":"0-1","mems":"0"},"pids":{"limit":0}}"#))
        .unwrap();
    assert_eq!(
        f.writes(),
        [
            w(&format!("{c}/cpu.shares"), "512"),
            w(&format!("{c}/cpu.cfs_period_us"), "100000"),
            w(&format!("{c}/cpu.cfs_quota_us"), "50000"),
            w(&format!("{c}/cpu.idle"), "1"),
            w("/sys/fs/cgroup/cpuset/berth/abc/cpuset.cpus", "0-1"),
            w("/sys/fs/cgroup/cpuset/berth/abc/cpuset.mems", "0"),
            w("/sys/fs/cgroup/pids/berth/abc/pids.max", "max"),
        ]
    );
    f.clear_writes();
    mgr(&f)
        .apply(&res(r#"{"cpu":{"quota":-1},"pids":{"limit":42}}"#))
        .unwrap();
    assert_eq!(
        f.writes(),
        [
            w(&format!("{c}/cpu.cfs_quota_us"), "-1"),
            w("/sys/fs/cgroup/pids/berth/abc/pids.max", "42")
        ]
    );
    assert_eq!(f.read(&format!("{c}/cpu.cfs_quota_us")), "-1");
    let e = mgr(&f)
        .apply(&res(r#"{"cpu":{"realtimeRuntime":1000}}"#))
        .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "linux.resources.cpu.realtimeRuntime is not supported: this kernel has no"
        ),
        "{e}"
    );
}

#[test]
fn combined_cpu_cpuacct_hierarchy() {
    let f = Fake::new(fake::V1_COMBINED_MOUNTINFO);
    f.files(
        "/sys/fs/cgroup/cpu,cpuacct/berth/abc",
        &[
            ("cpu.shares", "1024"),
            ("cpuacct.usage", "10"),
            ("cpu.stat", "nr_periods 1\n"),
            ("cpuacct.stat", "user 2\nsystem 3\n"),
        ],
    );
    f.files(
        "/sys/fs/cgroup/memory/berth/abc",
        &fake::v1_leaf_files("memory"),
    );
    let m = mgr(&f);
    m.apply(&res(r#"{"cpu":{"shares":2048}}"#)).unwrap();
    assert_eq!(
        f.writes(),
        [w("/sys/fs/cgroup/cpu,cpuacct/berth/abc/cpu.shares", "2048")]
    );
    let st = m.stats().unwrap().cpu.unwrap();
    assert_eq!(st.usage_total_ns, 10);
    assert_eq!(st.nr_periods, 1);
    assert!(st.usage_user_ns > 0 && st.usage_system_ns > st.usage_user_ns);
    let e = m.apply(&res(r#"{"pids":{"limit":5}}"#)).unwrap_err();
    let base = f.p("/sys/fs/cgroup");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot apply linux.resources.pids: the pids controller is not available under {}",
            base.display()
        )
    );
}

#[test]
fn blkio_uses_bfq_files_when_blkio_weight_is_absent() {
    let f = v1_host(Some("/berth/abc"));
    let b = "/sys/fs/cgroup/blkio/berth/abc";
    let r = res(
        r#"{"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":300}],
        "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],"throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":100}]}}"#,
    );
    mgr(&f).apply(&r).unwrap();
    assert_eq!(
        f.writes(),
        [
            w(&format!("{b}/blkio.bfq.weight"), "500"),
            w(&format!("{b}/blkio.bfq.weight_device"), "8:0 300"),
            w(
                &format!("{b}/blkio.throttle.read_bps_device"),
                "8:0 1048576"
            ),
            w(&format!("{b}/blkio.throttle.write_iops_device"), "8:16 100"),
        ]
    );
    f.clear_writes();
    f.files(b, &[("blkio.weight", "500"), ("blkio.weight_device", "")]);
    mgr(&f).apply(&res(r#"{"blockIO":{"weight":20}}"#)).unwrap();
    assert_eq!(f.writes(), [w(&format!("{b}/blkio.weight"), "20")]);
    let e = mgr(&f)
        .apply(&res(r#"{"blockIO":{"leafWeight":20}}"#))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.blockIO.leafWeight is not supported"
    );
}

#[test]
fn devices_rules_in_order() {
    let f = v1_host(Some("/berth/abc"));
    let d = "/sys/fs/cgroup/devices/berth/abc";
    let r = res(
        r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
        {"allow":true,"type":"c","major":136,"access":"rwm"},{"allow":false,"type":"b","major":8,"minor":0,"access":"w"}]}"#,
    );
    mgr(&f).apply(&r).unwrap();
    assert_eq!(
        f.writes(),
        [
            w(&format!("{d}/devices.deny"), "a *:* rwm"),
            w(&format!("{d}/devices.allow"), "c 1:3 rwm"),
            w(&format!("{d}/devices.allow"), "c 136:* rwm"),
            w(&format!("{d}/devices.deny"), "b 8:0 w"),
        ]
    );
}

#[test]
fn unsupported_fields_are_refused() {
    let f = v1_host(Some("/berth/abc"));
    let m = mgr(&f);
    for (json, msg) in [
        (
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1}]}"#,
            "linux.resources.hugepageLimits is not supported",
        ),
        (
            r#"{"network":{"classID":1}}"#,
            "linux.resources.network is not supported",
        ),
        (
            r#"{"rdma":{"mlx":{"hcaHandles":1}}}"#,
            "linux.resources.rdma is not supported",
        ),
        (
            r#"{"unified":{"memory.high":"1"}}"#,
            "linux.resources.unified is not supported: the host uses cgroup v1",
        ),
    ] {
        assert_eq!(m.apply(&res(json)).unwrap_err().to_string(), msg);
    }
    assert!(f.writes().is_empty());
}

#[test]
fn add_process_writes_each_cgroup_procs_once() {
    let f = v1_host(Some("/berth/abc"));
    mgr(&f).add_process(4242).unwrap();
    let writes = f.writes();
    assert_eq!(writes.len(), fake::V1_HIERS.len());
    for h in fake::V1_HIERS {
        assert!(
            writes.contains(&w(
                &format!("/sys/fs/cgroup/{h}/berth/abc/cgroup.procs"),
                "4242"
            )),
            "{h}"
        );
    }
}

#[test]
fn freezer_oom_stats_pids() {
    let f = v1_host(Some("/berth/abc"));
    let m = mgr(&f);
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    m.freeze().unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    m.thaw().unwrap();
    assert_eq!(
        f.read("/sys/fs/cgroup/freezer/berth/abc/freezer.state"),
        "THAWED"
    );
    assert_eq!(m.oom_kill_count().unwrap(), 3);
    let st = m.stats().unwrap();
    let mem = st.memory.unwrap();
    assert_eq!(
        (
            mem.usage,
            mem.max_usage,
            mem.limit,
            mem.cache,
            mem.swap_usage
        ),
        (1048576, Some(2097152), None, 12288, Some(4096))
    );
    let cpu = st.cpu.unwrap();
    assert_eq!(
        (cpu.usage_total_ns, cpu.usage_user_ns, cpu.usage_system_ns),
        (5000, 3000, 2000)
    );
    assert_eq!(
        (
            cpu.nr_periods,
            cpu.nr_throttled,
            cpu.throttled_time_ns,
            cpu.per_cpu_ns
        ),
        (5, 2, 3000, vec![2500, 2500])
    );
    let pids = st.pids.unwrap();
    assert_eq!((pids.current, pids.limit), (1, None));
    f.files(
        "/sys/fs/cgroup/pids/berth/abc",
        &[("cgroup.procs", "12\n13\n")],
    );
    f.files(
        "/sys/fs/cgroup/pids/berth/abc/sub",
        &[("cgroup.procs", "14\n")],
    );
    let mut p = m.pids().unwrap();
    p.sort();
    assert_eq!(p, [12, 13, 14]);
}

#[test]
fn kill_all_sigkill_uses_the_unified_cgroup_kill() {
    let f = v1_host(Some("/berth/abc"));
    mgr(&f).kill_all(libc::SIGKILL).unwrap();
    assert_eq!(
        f.writes(),
        [w("/sys/fs/cgroup/unified/berth/abc/cgroup.kill", "1")]
    );
}

#[test]
fn remove_takes_created_levels_and_keeps_a_shared_parent() {
    let f = v1_host(None);
    let m = mgr(&f);
    m.create().unwrap();
    f.drop_control_files("/sys/fs/cgroup/memory/berth");
    m.remove().unwrap();
    for h in fake::V1_HIERS {
        assert!(!f.p(&format!("/sys/fs/cgroup/{h}/berth")).exists(), "{h}");
    }
    // A parent holding another container stays; this manager did not create it anyway.
    let f = v1_host(Some("/berth/other"));
    let m = mgr(&f);
    m.create().unwrap();
    m.remove().unwrap();
    for h in fake::V1_HIERS {
        assert!(
            !f.p(&format!("/sys/fs/cgroup/{h}/berth/abc")).exists(),
            "{h}"
        );
        assert!(
            f.p(&format!("/sys/fs/cgroup/{h}/berth/other")).exists(),
            "{h}"
        );
    }
}
