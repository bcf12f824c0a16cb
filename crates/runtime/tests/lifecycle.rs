//! create → start → state → pause/resume → kill → delete across separate `berth-runtime`
//! invocations, and the exit statuses `run` passes on.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn wait_for_status(rt: &Runtime, id: &str, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = |id: &str| {
        let out = capture(rt.cmd(&["state", id]));
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        state["status"].as_str().unwrap_or("absent").to_string()
    };
    while status(id) != wanted {
        assert!(Instant::now() < deadline, "{id} never became {wanted}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The highest value the container's counter file shows over `window` (the shell truncates it
/// before each write, so a single read may find it empty).
fn read_counter(path: &std::path::Path, window: Duration) -> u64 {
    let end = Instant::now() + window;
    let mut max = 0;
    loop {
        let v = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        max = max.max(v);
        if Instant::now() >= end {
            return max;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_whole_lifecycle_across_processes() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; done",
    ]);
    bundle.edit_json(|s| s["root"]["readonly"] = json!(false));
    let id = rt.id("life");
    let bundle_arg = bundle.path().to_str().unwrap().to_string();
    let pid_file = rt.root.path().join("init.pid");
    rt.ok(&[
        "create",
        "--bundle",
        &bundle_arg,
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);

    let state: serde_json::Value = serde_json::from_str(&rt.ok(&["state", &id])).unwrap();
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], id.as_str());
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert_eq!(
        std::path::Path::new(state["bundle"].as_str().unwrap()),
        bundle.path()
    );
    let counter = bundle.rootfs().join("tmp/count");
    assert!(!counter.exists(), "the program ran before start");

    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while read_counter(&counter, Duration::ZERO) == 0 {
        assert!(Instant::now() < deadline, "the program never ran");
        std::thread::sleep(Duration::from_millis(10));
    }

    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    let frozen = read_counter(&counter, Duration::from_millis(50));
    assert_eq!(
        read_counter(&counter, Duration::from_millis(300)),
        frozen,
        "a paused container made progress"
    );

    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");
    assert!(
        read_counter(&counter, Duration::from_millis(300)) > frozen,
        "a resumed container made no progress"
    );

    let refused = capture(rt.cmd(&["delete", &id]));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("still running"),
        "{}",
        stderr(&refused)
    );

    rt.ok(&["kill", &id, "KILL"]);
    wait_for_status(&rt, &id, "stopped");
    rt.ok(&["delete", &id]);
    let gone = capture(rt.cmd(&["state", &id]));
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("does not exist"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn creating_the_same_id_twice_is_refused() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["true"]);
    let id = rt.id("dup");
    let b = bundle.path().to_str().unwrap();
    rt.ok(&["create", "--bundle", b, &id]);
    let again = capture(rt.cmd(&["create", "--bundle", b, &id]));
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        rt.status(&id),
        "created",
        "the failed create touched the first container"
    );
}

#[test]
fn exit_codes_come_through() {
    let rt = Runtime::new();
    for code in [0, 7] {
        let out = sh(&rt, &format!("exit {code}"), |_| {});
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    }
}

#[test]
fn a_container_killed_by_a_signal_exits_128_plus_the_signal() {
    let rt = Runtime::new();
    for (signal, code) in [("KILL", 137), ("TERM", 143)] {
        let mut bundle = Bundle::busybox(&["sleep", "100"]);
        // As PID 1 of its own namespace, sleep would ignore SIGTERM: share the host's.
        bundle.edit_json(|s| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "pid");
        });
        let id = rt.id("sig");
        let mut child = rt
            .cmd(&["run", "--bundle", bundle.path().to_str().unwrap(), &id])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_status(&rt, &id, "running");
        rt.ok(&["kill", &id, signal]);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "after SIG{signal}");
    }
}

#[test]
fn run_forwards_signals_to_the_container() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    bundle.edit_json(|_| {});
    let id = rt.id("fwd");
    let mut child = rt
        .cmd(&["run", "--bundle", bundle.path().to_str().unwrap(), &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut line = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut line).unwrap();
    assert_eq!(&line, b"ready\n");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "got TERM\n");
    assert_eq!(status.code(), Some(3));
}

#[test]
fn run_with_a_terminal_proxies_the_containers_pty() {
    let rt = Runtime::new();
    let script = berth_testutil::require_tool("script", "bsdutils");
    let mut bundle = Bundle::busybox(&["sh", "-c", "tty; stty size; exit 5"]);
    bundle.edit_json(|s| s["process"]["terminal"] = json!(true));
    let id = rt.id("tty");
    let command = format!(
        "stty rows 30 cols 100; {BIN} --root {} run --bundle {} {id}",
        rt.root.path().display(),
        bundle.path().display()
    );
    // script(1) gives `run` a terminal of its own, as a user's shell would.
    let mut cmd = std::process::Command::new(script);
    cmd.args(["-qec", &command, "/dev/null"]);
    let out = capture(cmd);
    let text = stdout(&out);
    assert!(
        text.contains("/dev/pts/0"),
        "the container has no pty of its own: {text:?}"
    );
    assert!(
        text.contains("30 100"),
        "the window size did not reach the pty: {text:?}"
    );
    assert_eq!(out.status.code(), Some(5), "{text:?} {}", stderr(&out));
}
