//! Unit tests of the v2 manager on a fake unified tree.

use std::path::Path;

use crate::fake::{v2_host, Fake};
use crate::{open_with, CgroupManager, CgroupVersion, FreezerState, LinuxResources};

const ALL: &str = "cpuset cpu io memory hugetlb pids rdma misc\n";
const L: &str = "/sys/fs/cgroup/berth/abc";

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn mgr(f: &Fake) -> Box<dyn CgroupManager> {
    open_with(&f.opts, Path::new("/berth/abc")).unwrap()
}

fn w(file: &str, v: &str) -> (String, String) {
    (format!("{L}/{file}"), v.to_string())
}

fn leaf(extra: &[(&str, &str)]) -> Fake {
    v2_host(ALL, Some("/berth/abc"), extra)
}

#[test]
fn create_enables_controllers_in_ancestors() {
    let f = v2_host(ALL, None, &[]);
    let m = mgr(&f);
    assert_eq!(m.version(), CgroupVersion::V2);
    m.create().unwrap();
    assert!(f.p(L).is_dir());
    // Only the root has cgroup.controllers in the fake; /berth does not (a real kernel would).
    assert_eq!(
        f.writes(),
        [(
            "/sys/fs/cgroup/cgroup.subtree_control".to_string(),
            "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc".to_string()
        )]
    );
    assert_eq!(m.paths(), [f.p(L)]);
    assert!(m.clone_into_fd().unwrap().is_some());
    // Already enabled: no write.
    f.files(
        "/sys/fs/cgroup",
        &[(
            "cgroup.subtree_control",
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        )],
    );
    f.clear_writes();
    mgr(&f).create().unwrap();
    assert!(f.writes().is_empty());
}

#[test]
fn memory_limits() {
    let f = leaf(&[
        ("memory.max", "max"),
        ("memory.swap.max", "max"),
        ("memory.low", "0"),
        ("memory.current", "100"),
    ]);
    mgr(&f)
        .apply(&res(
            r#"{"memory":{"limit":104857600,"swap":209715200,"reservation":1048576}}"#,
        ))
        .unwrap();
    assert_eq!(
        f.writes(),
        [
            w("memory.max", "104857600"),
            w("memory.swap.max", "104857600"),
            w("memory.low", "1048576")
        ]
    );
    f.clear_writes();
    mgr(&f)
        .apply(&res(
            r#"{"memory":{"limit":-1,"swap":-1,"disableOOMKiller":false}}"#,
        ))
        .unwrap();
    assert_eq!(
        f.writes(),
        [w("memory.max", "max"), w("memory.swap.max", "max")]
    );
    assert_eq!(f.read(&format!("{L}/memory.swap.max")), "max");
    for (json, msg) in [
        (r#"{"memory":{"swappiness":10}}"#, "linux.resources.memory.swappiness is not supported: cgroup v2 has no per-cgroup swappiness"),
        (r#"{"memory":{"disableOOMKiller":true}}"#, "linux.resources.memory.disableOOMKiller is not supported: cgroup v2 cannot disable the oom killer"),
        (r#"{"memory":{"swap":1000}}"#, "invalid linux.resources.memory.swap: a swap limit needs linux.resources.memory.limit on cgroup v2"),
        (r#"{"memory":{"limit":-5}}"#, "invalid linux.resources.memory.limit: -5 is negative (use -1 for unlimited)"),
    ] {
        assert_eq!(mgr(&f).apply(&res(json)).unwrap_err().to_string(), msg);
    }
}

#[test]
fn missing_controller_names_field_and_root() {
    let f = v2_host("hugetlb\n", Some("/berth/abc"), &[]);
    let e = mgr(&f)
        .apply(&res(r#"{"memory":{"limit":1000}}"#))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot apply linux.resources.memory: the memory controller is not available under {}",
            f.p("/sys/fs/cgroup").display()
        )
    );
    let e = mgr(&f).apply(&res(r#"{"cpu":{"cpus":"0"}}"#)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot apply linux.resources.cpu.cpus: the cpuset controller"),
        "{e}"
    );
    let e = mgr(&f).oom_kill_count().unwrap_err();
    assert!(
        e.to_string()
            .contains("the memory controller is not available"),
        "{e}"
    );
    // Nothing set: no controller needed, no error.
    mgr(&f)
        .apply(&res(r#"{"memory":{},"cpu":{},"blockIO":{}}"#))
        .unwrap();
    assert!(f.writes().is_empty());
}

#[test]
fn cpu_weight_max_and_cpuset() {
    let f = leaf(&[
        ("cpu.weight", "100"),
        ("cpu.max", "max 100000\n"),
        ("cpu.idle", "0"),
        ("cpuset.cpus", ""),
        ("cpuset.mems", ""),
    ]);
    mgr(&f)
        .apply(&res(
            r#"{"cpu":{"shares":1024,"quota":50000,"period":200000,"cpus":"1","mems":"0"}}"#,
        ))
        .unwrap();
    assert_eq!(
        f.writes(),
        [
            w("cpu.weight", "39"),
            w("cpu.max", "50000 200000"),
            w("cpuset.cpus", "1"),
            w("cpuset.mems", "0")
        ]
    );
    // Only the period: keep the current quota.
    f.files(L, &[("cpu.max", "30000 100000\n")]);
    f.clear_writes();
    mgr(&f).apply(&res(r#"{"cpu":{"period":50000}}"#)).unwrap();
    assert_eq!(f.writes(), [w("cpu.max", "30000 50000")]);
    f.clear_writes();
    mgr(&f)
        .apply(&res(r#"{"cpu":{"quota":-1,"idle":1}}"#))
        .unwrap();
    assert_eq!(f.writes(), [w("cpu.max", "max 50000"), w("cpu.idle", "1")]);
    let e = mgr(&f)
        .apply(&res(r#"{"cpu":{"realtimePeriod":1000}}"#))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("is not supported: cgroup v2 has no realtime cpu controller"),
        "{e}"
    );
}

#[test]
fn pids_io_and_unified() {
    let f = leaf(&[
        ("pids.max", "max"),
        ("io.weight", "default 100\n"),
        ("io.max", ""),
        ("memory.high", "max"),
    ]);
    let r = res(
        r#"{"pids":{"limit":-1},"blockIO":{"weight":1000,"weightDevice":[{"major":8,"minor":0,"weight":10}],
        "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}],"throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":0}]},
        "unified":{"memory.high":"5000"}}"#,
    );
    mgr(&f).apply(&r).unwrap();
    assert_eq!(
        f.writes(),
        [
            w("pids.max", "max"),
            w("io.weight", "default 10000"),
            w("io.weight", "8:0 1"),
            w("io.max", "8:0 rbps=1000"),
            w("io.max", "8:0 wiops=max"),
            w("memory.high", "5000"),
        ]
    );
    // bfq present: raw 10..1000 weight into io.bfq.weight.
    f.files(L, &[("io.bfq.weight", "default 100\n")]);
    f.clear_writes();
    mgr(&f)
        .apply(&res(r#"{"blockIO":{"weight":500},"pids":{"limit":7}}"#))
        .unwrap();
    assert_eq!(
        f.writes(),
        [w("pids.max", "7"), w("io.bfq.weight", "default 500")]
    );
    let e = mgr(&f)
        .apply(&res(r#"{"unified":{"../x":"1"}}"#))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid linux.resources.unified[\"../x\"]: not a cgroup file name"
    );
    let e = mgr(&f)
        .apply(&res(r#"{"unified":{"memory.nope":"1"}}"#))
        .unwrap_err();
    assert!(e.to_string().contains("memory.nope does not exist"), "{e}");
}

#[test]
fn devices_need_ebpf_unless_allow_all() {
    let f = leaf(&[]);
    mgr(&f)
        .apply(&res(
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"access":"rwm"}]}"#,
        ))
        .unwrap();
    let e = mgr(&f).apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#)).unwrap_err();
    assert!(e.to_string().starts_with("linux.resources.devices is not supported: device rules on cgroup v2 need an eBPF device program"), "{e}");
    assert!(f.writes().is_empty());
}

#[test]
fn freeze_thaw_stats_oom_pids_kill() {
    let f = leaf(&[
        ("memory.current", "4096\n"),
        ("memory.peak", "8192\n"),
        ("memory.max", "max\n"),
        ("memory.stat", "anon 100\nfile 200\n"),
        ("memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n"),
        ("pids.current", "3\n"),
        ("pids.max", "10\n"),
    ]);
    let m = mgr(&f);
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    // The fake kernel "freezes" as soon as asked.
    f.files(L, &[("cgroup.events", "populated 1\nfrozen 1\n")]);
    m.freeze().unwrap();
    assert_eq!(f.read(&format!("{L}/cgroup.freeze")), "1");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    f.files(L, &[("cgroup.events", "populated 1\nfrozen 0\n")]);
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Freezing);
    m.thaw().unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    assert_eq!(m.oom_kill_count().unwrap(), 2);
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
        (4096, Some(8192), None, 200, None)
    );
    let cpu = st.cpu.unwrap();
    assert_eq!(
        (cpu.usage_total_ns, cpu.usage_user_ns, cpu.usage_system_ns),
        (7000, 4000, 3000)
    );
    assert_eq!(
        (cpu.nr_periods, cpu.nr_throttled, cpu.throttled_time_ns),
        (9, 1, 2000)
    );
    let pids = st.pids.unwrap();
    assert_eq!((pids.current, pids.limit), (3, Some(10)));
    f.files(L, &[("cgroup.procs", "7\n")]);
    f.files(&format!("{L}/inner"), &[("cgroup.procs", "8\n9\n")]);
    let mut p = m.pids().unwrap();
    p.sort();
    assert_eq!(p, [7, 8, 9]);
    f.clear_writes();
    m.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(f.writes(), [w("cgroup.kill", "1")]);
    f.clear_writes();
    m.add_process(55).unwrap();
    assert_eq!(f.writes(), [w("cgroup.procs", "55")]);
}

#[test]
fn remove_created_levels() {
    let f = v2_host(ALL, None, &[]);
    let m = mgr(&f);
    m.create().unwrap();
    m.remove().unwrap();
    assert!(!f.p("/sys/fs/cgroup/berth").exists());
    // Someone else's sibling keeps the shared parent.
    f.files("/sys/fs/cgroup/berth/other", &[]);
    let m = mgr(&f);
    m.create().unwrap();
    m.remove().unwrap();
    assert!(!f.p(L).exists());
    assert!(f.p("/sys/fs/cgroup/berth/other").exists());
}

#[test]
fn a_fresh_manager_removes_empty_berth_parents_but_not_foreign_ones() {
    let f = v2_host(ALL, None, &[]);
    mgr(&f).create().unwrap();
    mgr(&f).remove().unwrap(); // another instance, as after a daemon restart
    assert!(!f.p("/sys/fs/cgroup/berth").exists());
    let p = Path::new("/mylimits/abc");
    open_with(&f.opts, p).unwrap().create().unwrap();
    open_with(&f.opts, p).unwrap().remove().unwrap();
    assert!(!f.p("/sys/fs/cgroup/mylimits/abc").exists());
    assert!(
        f.p("/sys/fs/cgroup/mylimits").exists(),
        "a parent berth did not create and does not own stays"
    );
}
