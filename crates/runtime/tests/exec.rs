//! `berth-runtime exec` against a running busybox container: the process shares the init's
//! namespaces and cgroup, takes the process file's user, cwd and env, and its exit status is
//! ours.

mod common;

use std::process::Stdio;
use std::time::Duration;

use berth_runtime::console::ConsoleSocket;
use common::{capture, stderr, stdout, Bundle, Runtime};
use serde_json::json;

/// A started `sleep` container; the bundle must outlive it.
fn running(rt: &Runtime) -> (Bundle, String) {
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = rt.id("exec");
    rt.ok(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    rt.ok(&["start", &id]);
    (bundle, id)
}

fn process_file(rt: &Runtime, name: &str, process: serde_json::Value) -> String {
    let path = rt.root.path().join(name);
    std::fs::write(&path, process.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

fn process(args: &[&str]) -> serde_json::Value {
    json!({
        "args": args,
        "env": ["PATH=/bin:/usr/bin", "FOO=bar"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
    })
}

#[test]
fn exec_joins_the_containers_namespaces_and_cgroup() {
    let rt = Runtime::new();
    let (_bundle, id) = running(&rt);
    let script = "echo pid=$$; tr '\\0' ' ' </proc/1/cmdline; echo; echo foo=$FOO; \
                  [ \"$(cat /proc/self/cgroup)\" = \"$(cat /proc/1/cgroup)\" ] && echo same-cgroup; \
                  exit 7";
    let file = process_file(&rt, "p.json", process(&["sh", "-c", script]));
    let out = capture(rt.cmd(&["exec", "--process", &file, &id]));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(7), "{text} {}", stderr(&out));
    assert!(text.contains("sleep 1000"), "PID 1 is not the init: {text}");
    assert!(text.contains("foo=bar"), "{text}");
    assert!(
        text.contains("same-cgroup"),
        "not in the init's cgroup: {text}"
    );
    let pid: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(pid < 100, "not in the container's pid namespace: pid {pid}");
}

#[test]
fn exec_takes_user_and_cwd_from_the_process() {
    let rt = Runtime::new();
    let (_bundle, id) = running(&rt);
    let mut p = process(&["sh", "-c", "id -u; id -g; id -G; pwd"]);
    p["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [1002]});
    p["cwd"] = json!("/etc");
    let file = process_file(&rt, "p.json", p);
    let pid_file = rt.root.path().join("exec.pid");
    let out = capture(rt.cmd(&[
        "exec",
        "--process",
        &file,
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines, ["1000", "1001", "1001 1002", "/etc"]);
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(pid > 1, "the pid file holds a host pid");
}

#[test]
fn a_missing_command_exits_127_and_says_so() {
    let rt = Runtime::new();
    let (_bundle, id) = running(&rt);
    let file = process_file(&rt, "p.json", process(&["no-such-command"]));
    let out = capture(rt.cmd(&["exec", "--process", &file, &id]));
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("\"no-such-command\": executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exec_into_a_stopped_container_is_refused() {
    let rt = Runtime::new();
    let (_bundle, id) = running(&rt);
    rt.ok(&["kill", &id, "KILL"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while rt.status(&id) != "stopped" {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let file = process_file(&rt, "p.json", process(&["true"]));
    let out = capture(rt.cmd(&["exec", "--process", &file, &id]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
}

#[test]
fn exec_with_a_terminal_sends_the_pty_master() {
    let rt = Runtime::new();
    let (_bundle, id) = running(&rt);
    let mut p = process(&["sh", "-c", "tty; stty size; exit 3"]);
    p["terminal"] = json!(true);
    p["consoleSize"] = json!({"height": 40, "width": 120});
    let file = process_file(&rt, "p.json", p);
    let sock_path = rt.root.path().join("console.sock");
    let sock = ConsoleSocket::bind(&sock_path).unwrap();
    let mut child = rt
        .cmd(&[
            "exec",
            "--process",
            &file,
            "--console-socket",
            sock_path.to_str().unwrap(),
            &id,
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let master = sock.receive_pty(Duration::from_secs(10)).unwrap();
    let mut text = Vec::new();
    let mut file = std::fs::File::from(master);
    // EIO once the slave side is closed ends the read.
    let _ = std::io::Read::read_to_end(&mut file, &mut text);
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("/dev/pts/"), "no pty: {text:?}");
    assert!(
        text.contains("40 120"),
        "the console size was not set: {text:?}"
    );
    assert_eq!(status.code(), Some(3));
}
