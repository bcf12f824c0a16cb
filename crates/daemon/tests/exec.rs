//! `docker exec` and `berth exec` against berthd: exit codes, user, env, working directory,
//! the container's PID namespace, stdin, tty, detached execs, stopped containers and runc (with
//! and without a terminal).

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

fn running(d: &TestDaemon, extra: &[&str]) -> String {
    workspace_bin("berth-runtime");
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sleep", "1000"]);
    let out = d.docker(&args);
    assert_ok(&out, "run -d");
    stdout(&out).trim().to_string()
}

#[test]
fn docker_exec_runs_in_the_container() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let id = running(&d, &["-e", "KEEP=1", "-e", "FOO=old"]);

    let out = d.docker(&["exec", &id, "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n");

    let out = d.docker(&[
        "exec",
        "-u",
        "1000:1001",
        "-w",
        "/etc",
        &id,
        "sh",
        "-c",
        "id -u; id -g; pwd",
    ]);
    assert_ok(&out, "exec -u -w");
    assert_eq!(stdout(&out), "1000\n1001\n/etc\n");

    let out = d.docker(&["exec", "-e", "FOO=new", &id, "sh", "-c", "echo $KEEP $FOO"]);
    assert_eq!(stdout(&out), "1 new\n");

    // HOME follows the exec's user (nobody's is /nonexistent), unless it is set.
    let home = |args: &[&str]| {
        let mut all = vec!["exec"];
        all.extend(args);
        all.extend([id.as_str(), "sh", "-c", "echo $HOME"]);
        stdout(&d.docker(&all))
    };
    assert_eq!(home(&[]), "/root\n");
    assert_eq!(home(&["-u", "nobody"]), "/nonexistent\n");
    assert_eq!(home(&["-u", "nobody", "-e", "HOME=/tmp"]), "/tmp\n");

    // The container's init is PID 1 of the exec's PID namespace.
    let out = d.docker(&["exec", &id, "ps", "-o", "pid,args"]);
    assert_ok(&out, "exec ps");
    assert!(
        stdout(&out).lines().any(|l| l.trim() == "1 sleep 1000"),
        "{}",
        stdout(&out)
    );

    let out = d.docker(&["exec", &id, "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let out = d.docker(&["exec", &id, "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));

    let out = d.docker(&["exec", "-u", "nobody-here", &id, "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unable to find user nobody-here"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn docker_exec_with_stdin_tty_and_detach() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let id = running(&d, &[]);

    let mut child = d
        .docker_cmd(&["exec", "-i", &id, "sh", "-c", "tr a-z A-Z; echo done >&2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello exec\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ok(&out, "exec -i");
    assert_eq!(stdout(&out), "HELLO EXEC\n");
    assert_eq!(stderr(&out), "done\n");

    // -t without a terminal on our side: the output comes through the container's pty.
    let out = d.docker(&["exec", "-t", &id, "sh", "-c", "tty; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("/dev/pts/"), "{:?}", stdout(&out));
    assert!(
        stdout(&out).ends_with("\r\n"),
        "no tty line ending: {:?}",
        stdout(&out)
    );

    let out = d.docker(&[
        "exec",
        "-d",
        &id,
        "sh",
        "-c",
        "sleep 0.3; touch /tmp/detached",
    ]);
    assert_ok(&out, "exec -d");
    assert_eq!(stdout(&out), "");
    let seen = eventually(Duration::from_secs(10), || {
        d.docker(&["exec", &id, "test", "-e", "/tmp/detached"])
            .status
            .success()
            .then_some(())
    });
    assert!(seen.is_some(), "the detached exec never ran");

    // A running exec shows in the container's ExecIDs; when done it leaves.
    let out = d.docker(&["exec", "-d", &id, "sleep", "2"]);
    assert_ok(&out, "exec -d sleep");
    let ids = stdout(&d.docker(&["inspect", "-f", "{{len .ExecIDs}}", &id]));
    assert_eq!(ids.trim(), "1");
    let gone = eventually(Duration::from_secs(10), || {
        let ids = stdout(&d.docker(&["inspect", "-f", "{{.ExecIDs}}", &id]));
        (ids.trim() == "[]").then_some(())
    });
    assert!(gone.is_some(), "a finished exec is still listed");
}

#[test]
fn exec_into_stopped_or_paused_containers_is_refused() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let id = running(&d, &[]);
    assert_ok(&d.docker(&["stop", "-t", "0", &id]), "stop");
    let out = d.docker(&["exec", &id, "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("Container {id} is not running")),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&["exec", &id, "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("Container {id} is not running")),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["exec", "no-such-container", "true"]);
    assert!(
        stderr(&out).contains("No such container: no-such-container"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn berth_exec_matches_docker() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let id = running(&d, &["-e", "FOO=old"]);

    let out = d.berth(&["exec", &id, "sh", "-c", "echo hi; echo err >&2; exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n");
    assert_eq!(stderr(&out), "err\n");

    let env_file = d.dir.path().join("env");
    std::fs::write(&env_file, "FROMFILE=yes\n# comment\n").unwrap();
    let out = d.berth(&[
        "exec",
        "-u",
        "1000",
        "-w",
        "/tmp",
        "-e",
        "FOO=new",
        "--env-file",
        env_file.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "id -u; pwd; echo $FOO $FROMFILE",
    ]);
    assert_ok(&out, "berth exec -u -w -e");
    assert_eq!(stdout(&out), "1000\n/tmp\nnew yes\n");

    let out = d.berth(&["exec", &id, "ps", "-o", "pid,args"]);
    assert!(
        stdout(&out).lines().any(|l| l.trim() == "1 sleep 1000"),
        "{}",
        stdout(&out)
    );

    let mut child = d
        .berth_cmd(&["exec", "-i", &id, "wc", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"12345").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out).trim(), "5");

    let out = d.berth(&["exec", "-t", &id, "sh", "-c", "tty"]);
    assert_ok(&out, "berth exec -t");
    assert!(stdout(&out).starts_with("/dev/pts/"), "{:?}", stdout(&out));

    assert_eq!(
        d.berth(&["exec", &id, "no-such-command"]).status.code(),
        Some(127)
    );
    let out = d.berth(&["exec", "-d", &id, "touch", "/tmp/berth-detached"]);
    assert_ok(&out, "berth exec -d");
    let seen = eventually(Duration::from_secs(10), || {
        d.berth(&["exec", &id, "test", "-e", "/tmp/berth-detached"])
            .status
            .success()
            .then_some(())
    });
    assert!(seen.is_some());
}

#[test]
fn exec_under_runc() {
    let runc = berth_testutil::require_tool("runc", "runc");
    let d = TestDaemon::start_with_args(&["--add-runtime", &format!("runc={}", runc.display())]);
    d.import_busybox(IMAGE);
    let id = running(&d, &["--runtime", "runc"]);
    let out = d.docker(&[
        "exec",
        "-e",
        "X=1",
        &id,
        "sh",
        "-c",
        "echo $X; ps -o pid,args; exit 6",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("1\n"), "{}", stdout(&out));
    assert!(
        stdout(&out).lines().any(|l| l.trim() == "1 sleep 1000"),
        "{}",
        stdout(&out)
    );
    // With a terminal: runc gets one from berthd and gives the process its own pty.
    let out = d.docker(&["exec", "-t", &id, "sh", "-c", "tty; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("/dev/pts/"), "{:?}", stdout(&out));
}
