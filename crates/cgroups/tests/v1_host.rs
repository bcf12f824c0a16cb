//! Root integration tests against this host's cgroup v1 hierarchies (hybrid layout).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use berth_cgroups::{open, CgroupVersion, FreezerState, HostLayout, LinuxResources};
use common::*;

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn setup(leaf: &str) -> Guard {
    require_root();
    require_file(
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "this test needs the cgroup v1 memory hierarchy mounted",
    );
    let cg = open(&unique_path(leaf)).unwrap();
    assert_eq!(cg.version(), CgroupVersion::V1);
    let g = Guard::new(cg);
    g.cg.create().unwrap();
    g
}

#[test]
fn host_layout_is_hybrid() {
    let HostLayout::V1 {
        hierarchies,
        unified,
    } = berth_cgroups::host_layout().unwrap()
    else {
        panic!("expected cgroup v1 hierarchies on this host")
    };
    assert!(hierarchies
        .iter()
        .any(|h| h.has("memory") && h.dir_name == "memory"));
    assert!(hierarchies.iter().any(|h| h.options() == "name=systemd"));
    assert_eq!(
        unified.as_deref(),
        Some(std::path::Path::new("/sys/fs/cgroup/unified"))
    );
}

#[test]
fn memory_limit_is_written_and_read_back() {
    let g = setup("mem");
    g.cg.apply(&res(
        r#"{"memory":{"limit":67108864,"swap":67108864,"reservation":33554432}}"#,
    ))
    .unwrap();
    let d = dir_in(&*g.cg, "memory");
    assert_eq!(read(&d.join("memory.limit_in_bytes")).trim(), "67108864");
    assert_eq!(
        read(&d.join("memory.memsw.limit_in_bytes")).trim(),
        "67108864"
    );
    assert_eq!(
        read(&d.join("memory.soft_limit_in_bytes")).trim(),
        "33554432"
    );
    // Raise both (memsw must go first), then lower both (limit must go first).
    g.cg.apply(&res(r#"{"memory":{"limit":134217728,"swap":268435456}}"#))
        .unwrap();
    assert_eq!(
        read(&d.join("memory.memsw.limit_in_bytes")).trim(),
        "268435456"
    );
    g.cg.apply(&res(r#"{"memory":{"limit":16777216,"swap":16777216}}"#))
        .unwrap();
    assert_eq!(read(&d.join("memory.limit_in_bytes")).trim(), "16777216");
    assert_eq!(g.cg.stats().unwrap().memory.unwrap().limit, Some(16777216));
}

#[test]
fn allocating_past_the_limit_is_oom_killed() {
    require_file("/usr/bin/tail", "install coreutils");
    let mut g = setup("oom");
    g.cg.apply(&res(r#"{"memory":{"limit":33554432,"swap":33554432}}"#))
        .unwrap();
    assert_eq!(g.cg.oom_kill_count().unwrap(), 0);
    let mut c = gated("exec /usr/bin/tail /dev/zero");
    g.cg.add_process(c.id() as i32).unwrap();
    release(&mut c);
    let st = wait_timeout(&mut c, Duration::from_secs(30))
        .expect("tail /dev/zero was not killed within 30s");
    g.children.push(c);
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st:?}");
    assert!(g.cg.oom_kill_count().unwrap() >= 1);
}

#[test]
fn pids_limit_makes_fork_fail() {
    let mut g = setup("pids");
    g.cg.apply(&res(r#"{"pids":{"limit":4}}"#)).unwrap();
    let d = dir_in(&*g.cg, "pids");
    assert_eq!(read(&d.join("pids.max")).trim(), "4");
    let mut c = gated("for i in 1 2 3 4 5 6 7 8; do /bin/sleep 30 2>/dev/null & done; wait");
    g.cg.add_process(c.id() as i32).unwrap();
    release(&mut c);
    let st = wait_timeout(&mut c, Duration::from_secs(10))
        .expect("the shell should stop when fork fails");
    let mut err = String::new();
    std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err).unwrap();
    g.children.push(c);
    assert!(!st.success(), "fork never failed; stderr: {err}");
    assert!(err.to_lowercase().contains("fork"), "stderr: {err}");
    let events = read(&d.join("pids.events"));
    assert!(!events.contains("max 0"), "pids.events: {events}");
    let p = g.cg.stats().unwrap().pids.unwrap();
    assert!(p.current <= 4 && p.limit == Some(4), "{p:?}");
}

#[test]
fn cpu_quota_shares_and_cpuset() {
    let g = setup("cpu");
    let cs = dir_in(&*g.cg, "cpuset");
    assert_eq!(
        read(&cs.join("cpuset.cpus")),
        read(std::path::Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus")),
        "cpuset copied from the parent"
    );
    g.cg.apply(&res(
        r#"{"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"}}"#,
    ))
    .unwrap();
    let d = dir_in(&*g.cg, "cpu");
    assert_eq!(read(&d.join("cpu.cfs_quota_us")).trim(), "50000");
    assert_eq!(read(&d.join("cpu.cfs_period_us")).trim(), "100000");
    assert_eq!(read(&d.join("cpu.shares")).trim(), "512");
    assert_eq!(read(&cs.join("cpuset.cpus")).trim(), "0");
}

#[test]
fn freeze_stops_a_busy_process_and_thaw_resumes_it() {
    let mut g = setup("freeze");
    let mut c = gated("while :; do :; done");
    g.cg.add_process(c.id() as i32).unwrap();
    release(&mut c);
    g.children.push(c);
    std::thread::sleep(Duration::from_millis(200));
    let usage = |g: &Guard| g.cg.stats().unwrap().cpu.unwrap().usage_total_ns;
    g.cg.freeze().unwrap();
    assert_eq!(g.cg.freezer_state().unwrap(), FreezerState::Frozen);
    let a = usage(&g);
    std::thread::sleep(Duration::from_millis(300));
    let b = usage(&g);
    assert_eq!(a, b, "cpu time advanced while frozen");
    g.cg.thaw().unwrap();
    assert_eq!(g.cg.freezer_state().unwrap(), FreezerState::Thawed);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        usage(&g) > b + 50_000_000,
        "cpu time did not advance after thaw"
    );
}

#[test]
fn stats_are_plausible() {
    let mut g = setup("stats");
    g.cg.apply(&res(
        r#"{"pids":{"limit":50},"cpu":{"quota":100000,"period":100000}}"#,
    ))
    .unwrap();
    // exec after the move: v1 charges new pages only, so the fresh image is what gets counted.
    let mut c = gated("exec /bin/sh -c 'while :; do :; done'");
    g.cg.add_process(c.id() as i32).unwrap();
    release(&mut c);
    g.children.push(c);
    // Wait for the CPU time rather than a fixed while: on a loaded machine the loop may get
    // only a sliver of a CPU.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let st = loop {
        let st = g.cg.stats().unwrap();
        let used = st.cpu.as_ref().map_or(0, |c| c.usage_total_ns);
        if used > 100_000_000 || std::time::Instant::now() > deadline {
            break st;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let cpu = st.cpu.unwrap();
    assert!(cpu.usage_total_ns > 100_000_000, "{cpu:?}");
    assert!(
        cpu.usage_user_ns > 0 && cpu.usage_user_ns <= cpu.usage_total_ns + 10_000_000,
        "{cpu:?}"
    );
    assert_eq!(cpu.per_cpu_ns.len(), 2.max(cpu.per_cpu_ns.len()));
    assert!(cpu.nr_periods > 0, "{cpu:?}");
    let mem = st.memory.unwrap();
    assert!(
        mem.usage > 0 && mem.max_usage.unwrap() >= mem.usage && mem.limit.is_none(),
        "{mem:?}"
    );
    assert_eq!(st.pids.unwrap().current, 1);
    assert_eq!(g.cg.pids().unwrap(), [g.children[0].id() as i32]);
}

#[test]
fn device_rules_are_enforced() {
    let mut g = setup("dev");
    g.cg.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#))
        .unwrap();
    assert_eq!(
        read(&dir_in(&*g.cg, "devices").join("devices.list")).trim(),
        "c 1:3 rwm"
    );
    let mut c = gated("echo ok > /dev/null && head -c1 /dev/zero > /dev/null");
    g.cg.add_process(c.id() as i32).unwrap();
    release(&mut c);
    let st = wait_timeout(&mut c, Duration::from_secs(10)).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err).unwrap();
    g.children.push(c);
    assert!(
        !st.success() && err.contains("Operation not permitted"),
        "{st:?} {err}"
    );
}

#[test]
fn kill_all_and_remove_leave_nothing() {
    let mut g = setup("kill");
    let mut c = gated("/bin/sleep 60 & /bin/sleep 60 & wait");
    g.cg.add_process(c.id() as i32).unwrap();
    release(&mut c);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(g.cg.pids().unwrap().len(), 3);
    g.cg.kill_all(libc::SIGTERM).unwrap();
    let st = wait_timeout(&mut c, Duration::from_secs(5)).expect("sh survived SIGTERM");
    assert_eq!(st.signal(), Some(libc::SIGTERM));
    g.children.push(c);
    // The sleeps got SIGTERM as well.
    let start = std::time::Instant::now();
    while !g.cg.pids().unwrap().is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(g.cg.pids().unwrap().is_empty());
    let paths = g.cg.paths();
    g.cg.remove().unwrap();
    for p in &paths {
        assert!(!p.exists(), "{} left", p.display());
        assert!(
            !p.parent().unwrap().exists(),
            "{} left",
            p.parent().unwrap().display()
        );
    }
}

#[test]
fn sigkill_uses_cgroup_kill_and_remove_waits_for_exit() {
    let mut g = setup("sigkill");
    let mut c = gated("/bin/sleep 60 & /bin/sleep 60 & wait");
    g.cg.add_process(c.id() as i32).unwrap();
    release(&mut c);
    std::thread::sleep(Duration::from_millis(100));
    g.cg.kill_all(libc::SIGKILL).unwrap();
    let st = wait_timeout(&mut c, Duration::from_secs(5)).expect("sh survived SIGKILL");
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    g.children.push(c);
    let paths = g.cg.paths();
    g.cg.remove().unwrap();
    assert!(paths.iter().all(|p| !p.exists()));
}

#[test]
fn unsupported_fields_fail_on_the_real_host() {
    let g = setup("unsupported");
    let e =
        g.cg.apply(&res(
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1048576}]}"#,
        ))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.hugepageLimits is not supported"
    );
    let e = g.cg.apply(&res(r#"{"memory":{"limit":1000000000000000}}"#));
    assert!(e.is_ok(), "a huge limit is fine: {e:?}");
}
