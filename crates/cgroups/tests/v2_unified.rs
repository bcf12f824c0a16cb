//! Root integration tests on the cgroup2 hierarchy of this host. On a hybrid host that is
//! /sys/fs/cgroup/unified (a fresh cgroup2 mount elsewhere would be the same hierarchy).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::Duration;

use berth_cgroups::{parse_cgroups_path, FreezerState, LinuxResources, V2Manager};
use common::*;

fn unified_mount() -> PathBuf {
    require_root();
    match berth_cgroups::host_layout().unwrap() {
        berth_cgroups::HostLayout::Unified { mount_point } => mount_point,
        berth_cgroups::HostLayout::V1 {
            unified: Some(u), ..
        } => u,
        berth_cgroups::HostLayout::V1 { unified: None, .. } => {
            panic!("no cgroup2 mount: mount -t cgroup2 none /sys/fs/cgroup/unified")
        }
    }
}

fn setup(leaf: &str) -> (Guard, PathBuf) {
    let mount = unified_mount();
    let levels = parse_cgroups_path(&unique_path(leaf)).unwrap();
    let m = V2Manager::new(mount.clone(), &levels);
    let g = Guard::new(Box::new(m));
    g.cg.create().unwrap();
    (g, mount)
}

#[test]
fn create_add_freeze_kill_remove() {
    let (mut g, _) = setup("v2");
    assert!(g.cg.clone_into_fd().unwrap().is_some());
    let mut c = gated("while :; do :; done");
    let pid = c.id() as i32;
    g.cg.add_process(pid).unwrap();
    release(&mut c);
    g.children.push(c);
    assert_eq!(g.cg.pids().unwrap(), [pid]);
    let dir = g.cg.paths()[0].clone();
    assert!(read(&dir.join("cgroup.events")).contains("populated 1"));

    g.cg.freeze().unwrap();
    assert_eq!(g.cg.freezer_state().unwrap(), FreezerState::Frozen);
    let cpu = |g: &Guard| g.cg.stats().unwrap().cpu.unwrap().usage_total_ns;
    let a = cpu(&g);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu(&g), a, "cpu time advanced while frozen");
    g.cg.thaw().unwrap();
    assert_eq!(g.cg.freezer_state().unwrap(), FreezerState::Thawed);
    std::thread::sleep(Duration::from_millis(300));
    assert!(cpu(&g) > a, "no progress after thaw");

    g.cg.kill_all(libc::SIGKILL).unwrap(); // cgroup.kill
    let st = wait_timeout(&mut g.children[0], Duration::from_secs(5)).expect("not killed");
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    g.cg.remove().unwrap();
    assert!(!dir.exists());
    assert!(!dir.parent().unwrap().exists());
}

#[test]
fn kill_all_sigterm_freezes_and_signals() {
    let (mut g, _) = setup("v2term");
    let mut c = gated("/bin/sleep 60 & wait");
    g.cg.add_process(c.id() as i32).unwrap();
    release(&mut c);
    std::thread::sleep(Duration::from_millis(100));
    g.cg.kill_all(libc::SIGTERM).unwrap();
    let st = wait_timeout(&mut c, Duration::from_secs(5)).expect("sh survived SIGTERM");
    assert_eq!(st.signal(), Some(libc::SIGTERM));
    g.children.push(c);
    assert_eq!(g.cg.freezer_state().unwrap(), FreezerState::Thawed);
}

#[test]
fn missing_controllers_are_clear_errors() {
    let (g, mount) = setup("v2mem");
    let controllers = read(&mount.join("cgroup.controllers"));
    if controllers.split_whitespace().any(|c| c == "memory") {
        // A pure v2 host: the limit must really land in memory.max.
        let r: LinuxResources = serde_json::from_str(r#"{"memory":{"limit":67108864}}"#).unwrap();
        g.cg.apply(&r).unwrap();
        assert_eq!(read(&g.cg.paths()[0].join("memory.max")).trim(), "67108864");
        return;
    }
    let r: LinuxResources = serde_json::from_str(r#"{"memory":{"limit":67108864}}"#).unwrap();
    let e = g.cg.apply(&r).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot apply linux.resources.memory: the memory controller is not available under {}",
            mount.display()
        )
    );
    let r: LinuxResources = serde_json::from_str(r#"{"pids":{"limit":10}}"#).unwrap();
    assert!(g
        .cg
        .apply(&r)
        .unwrap_err()
        .to_string()
        .contains("the pids controller is not available"));
    let st = g.cg.stats().unwrap();
    assert!(
        st.memory.is_none() && st.pids.is_none() && st.cpu.is_some(),
        "{st:?}"
    );
}
