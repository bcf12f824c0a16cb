//! The real docker CLI (28.x) against berthd: the container lifecycle as a Docker user sees it.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn run_prints_output_and_rm_leaves_nothing() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let out = d.docker(&["run", "--rm", IMAGE, "echo", "hello"]);
    assert_ok(&out, "docker run --rm");
    assert_eq!(stdout(&out), "hello\n");
    let out = d.docker(&["run", "--rm", IMAGE, "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(stdout(&out), "out\n");
    assert!(stderr(&out).contains("err\n"), "{}", stderr(&out));
    let all = d.docker(&["ps", "-aq"]);
    assert_eq!(stdout(&all), "", "--rm left containers behind");
    // The container's files go in the background once it is unregistered.
    let emptied = eventually(Duration::from_secs(10), || {
        let left = std::fs::read_dir(d.dir.path().join("root/containers"))
            .unwrap()
            .count();
        (left == 0).then_some(())
    });
    assert!(emptied.is_some(), "--rm left a container directory behind");
}

#[test]
fn exit_codes_follow_docker() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let code = |args: &[&str]| d.docker(args).status.code().unwrap();
    assert_eq!(code(&["run", "--rm", IMAGE, "sh", "-c", "exit 3"]), 3);
    assert_eq!(code(&["run", "--rm", IMAGE, "true"]), 0);
    let missing = d.docker(&["run", "--rm", IMAGE, "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
    let not_exec = d.docker(&["run", "--rm", IMAGE, "/etc/passwd"]);
    assert_eq!(not_exec.status.code(), Some(126), "{}", stderr(&not_exec));
    let unknown = d.docker(&["run", "--rm", "no-such-image-berth"]);
    assert_eq!(unknown.status.code(), Some(125));
    let err = stderr(&unknown);
    assert!(
        err.contains("No such image") || err.contains("pull access denied"),
        "{err}"
    );
    assert_eq!(stdout(&d.docker(&["ps", "-aq"])), "");
}

#[test]
fn names_conflict_and_running_containers_need_force() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let out = d.docker(&["run", "-d", "--name", "web", IMAGE, "sleep", "1000"]);
    assert_ok(&out, "run -d");
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 64);
    let dup = d.docker(&["create", "--name", "web", IMAGE, "true"]);
    assert!(!dup.status.success());
    assert!(
        stderr(&dup).contains("is already in use by container"),
        "{}",
        stderr(&dup)
    );

    let ps = d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(stdout(&ps).starts_with("web Up "), "{}", stdout(&ps));
    let inspect = d.docker(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.State.Pid}} {{.Name}}",
        "web",
    ]);
    let text = stdout(&inspect);
    assert!(
        text.starts_with("true ") && text.trim().ends_with("/web"),
        "{text}"
    );

    let rm = d.docker(&["rm", "web"]);
    assert!(!rm.status.success());
    assert!(
        stderr(&rm).contains("stop the container before removing or force remove"),
        "{}",
        stderr(&rm)
    );
    assert_ok(&d.docker(&["rm", "-f", "web"]), "rm -f");
    let gone = d.docker(&["inspect", "web"]);
    assert!(
        stderr(&gone).contains("No such object: web")
            || stderr(&gone).contains("No such container"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn stop_wait_restart_and_inspect_states() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&["create", "--name", "c1", IMAGE, "sleep", "1000"]),
        "create",
    );
    let status = |name: &str| {
        stdout(&d.docker(&["inspect", "-f", "{{.State.Status}}", name]))
            .trim()
            .to_string()
    };
    assert_eq!(status("c1"), "created");
    assert_ok(&d.docker(&["start", "c1"]), "start");
    assert_eq!(status("c1"), "running");
    // busybox sleep as PID 1 ignores SIGTERM: stop falls back to SIGKILL after -t.
    let stop = d.docker(&["stop", "-t", "1", "c1"]);
    assert_ok(&stop, "stop");
    assert_eq!(status("c1"), "exited");
    let code = stdout(&d.docker(&["inspect", "-f", "{{.State.ExitCode}}", "c1"]));
    assert_eq!(code.trim(), "137");
    assert_ok(&d.docker(&["restart", "-t", "0", "c1"]), "restart");
    assert_eq!(status("c1"), "running");
    assert_ok(&d.docker(&["kill", "c1"]), "kill");
    let wait = d.docker(&["wait", "c1"]);
    assert_eq!(stdout(&wait).trim(), "137");

    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "c2",
            IMAGE,
            "sh",
            "-c",
            "sleep 0.3; exit 5",
        ]),
        "run",
    );
    let wait = d.docker(&["wait", "c2"]);
    assert_eq!(stdout(&wait).trim(), "5");
    let f = stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.State.OOMKilled}} {{.RestartCount}}",
        "c2",
    ]));
    assert_eq!(f.trim(), "5 false 0");
    let ps = stdout(&d.docker(&["ps", "-a", "--filter", "exited=5", "--format", "{{.Names}}"]));
    assert_eq!(ps.trim(), "c2");
    let ps = stdout(&d.docker(&[
        "ps",
        "-a",
        "--filter",
        "status=exited",
        "--format",
        "{{.Names}}",
        "--no-trunc",
    ]));
    let mut names: Vec<&str> = ps.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["c1", "c2"]);
    assert_ok(&d.docker(&["container", "prune", "-f"]), "prune");
    assert_eq!(stdout(&d.docker(&["ps", "-aq"])), "");
}

#[test]
fn logs_follow_a_running_container() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "talker",
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3 4; do echo line $i; sleep 0.2; done; echo bye >&2",
    ]);
    assert_ok(&out, "run -d");
    let follow = d.docker(&["logs", "-f", "talker"]);
    assert_ok(&follow, "logs -f");
    assert_eq!(stdout(&follow), "line 1\nline 2\nline 3\nline 4\n");
    assert_eq!(stderr(&follow), "bye\n");
    let tail = d.docker(&["logs", "--tail", "2", "talker"]);
    assert_eq!(stdout(&tail), "line 4\n");
    assert_eq!(stderr(&tail), "bye\n");
    let ts = stdout(&d.docker(&["logs", "-t", "talker"]));
    assert!(
        ts.lines()
            .all(|l| l.len() > 31 && l.as_bytes()[4] == b'-' && l.contains("Z line")),
        "{ts}"
    );
}

#[test]
fn oom_kill_is_recorded() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    // A shell variable that grows past the memory limit.
    let out = d.docker(&[
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        IMAGE,
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    let f = stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.OOMKilled}} {{.State.ExitCode}}",
        "hog",
    ]));
    assert_eq!(f.trim(), "true 137");
}

#[test]
fn restart_policy_counts_restarts() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "flaky",
            "--restart",
            "on-failure:2",
            IMAGE,
            "sh",
            "-c",
            "exit 1",
        ]),
        "run",
    );
    let done = eventually(Duration::from_secs(20), || {
        let f = stdout(&d.docker(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Status}}",
            "flaky",
        ]));
        (f.trim() == "2 exited").then_some(())
    });
    assert!(
        done.is_some(),
        "{}",
        stdout(&d.docker(&["inspect", "flaky"]))
    );
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "always",
            "--restart",
            "always",
            IMAGE,
            "sh",
            "-c",
            "sleep 0.1",
        ]),
        "run",
    );
    let restarted = eventually(Duration::from_secs(20), || {
        let n: i64 = stdout(&d.docker(&["inspect", "-f", "{{.RestartCount}}", "always"]))
            .trim()
            .parse()
            .ok()?;
        (n >= 2).then_some(())
    });
    assert!(restarted.is_some());
    assert_ok(&d.docker(&["stop", "-t", "0", "always"]), "stop");
    let f = stdout(&d.docker(&["inspect", "-f", "{{.State.Status}}", "always"]));
    assert_eq!(f.trim(), "exited");
}

#[test]
fn live_restore_after_kill_9() {
    let mut d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "survivor",
            IMAGE,
            "sh",
            "-c",
            "echo before; trap 'echo bye; exit 7' TERM; while true; do sleep 0.1; done",
        ]),
        "run",
    );
    let pid = stdout(&d.docker(&["inspect", "-f", "{{.State.Pid}}", "survivor"]))
        .trim()
        .to_string();
    d.kill9_and_restart();
    let f = stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Pid}}",
        "survivor",
    ]));
    assert_eq!(f.trim(), format!("running {pid}"));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let logs = stdout(&d.docker(&["logs", "survivor"]));
    assert_eq!(logs, "before\n");
    let waiter = d
        .docker_cmd(&["wait", "survivor"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert_ok(&d.docker(&["stop", "survivor"]), "stop after restore");
    let waited = waiter.wait_with_output().unwrap();
    assert_eq!(stdout(&waited).trim(), "7");
    assert_eq!(stdout(&d.docker(&["logs", "survivor"])), "before\nbye\n");

    // A container that exits while berthd is down is recorded as exited at the next start.
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "quick",
            IMAGE,
            "sh",
            "-c",
            "sleep 0.5; exit 4",
        ]),
        "run",
    );
    d.kill9_and_restart_after(Duration::from_millis(1500));
    let f = stdout(&d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "quick",
    ]));
    assert_eq!(f.trim(), "exited 4");
}

#[test]
fn twenty_concurrent_runs_succeed() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let children: Vec<_> = (0..20)
        .map(|i| {
            d.docker_cmd(&["run", "--rm", IMAGE, "echo", &format!("n{i}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert_ok(&out, "concurrent run");
        assert_eq!(stdout(&out), format!("n{i}\n"));
    }
    assert_eq!(stdout(&d.docker(&["ps", "-aq"])), "");
}

#[test]
fn runc_as_an_external_runtime() {
    let runc = berth_testutil::require_tool("runc", "runc");
    let d = TestDaemon::start_with_args(&["--add-runtime", &format!("runc={}", runc.display())]);
    d.import_busybox(IMAGE);
    let out = d.docker(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        IMAGE,
        "sh",
        "-c",
        "echo via runc",
    ]);
    assert_ok(&out, "run --runtime runc");
    assert_eq!(stdout(&out), "via runc\n");
    assert_eq!(
        d.docker(&[
            "run",
            "--rm",
            "--runtime",
            "runc",
            IMAGE,
            "sh",
            "-c",
            "exit 6"
        ])
        .status
        .code(),
        Some(6)
    );
    let unknown = d.docker(&["run", "--rm", "--runtime", "nosuch", IMAGE, "true"]);
    assert!(
        stderr(&unknown).contains("unknown or invalid runtime name: nosuch"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn always_containers_come_back_at_daemon_start() {
    let mut d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "keeper",
            "--restart",
            "always",
            IMAGE,
            "sleep",
            "1000",
        ]),
        "run",
    );
    assert_ok(&d.docker(&["stop", "-t", "0", "keeper"]), "stop");
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "lazy",
            "--restart",
            "unless-stopped",
            IMAGE,
            "sleep",
            "1000",
        ]),
        "run",
    );
    assert_ok(&d.docker(&["stop", "-t", "0", "lazy"]), "stop");
    d.kill9_and_restart();
    let status = |n: &str| {
        stdout(&d.docker(&["inspect", "-f", "{{.State.Status}}", n]))
            .trim()
            .to_string()
    };
    let back = eventually(Duration::from_secs(10), || {
        (status("keeper") == "running").then_some(())
    });
    assert!(
        back.is_some(),
        "an always container stayed {}",
        status("keeper")
    );
    assert_eq!(
        status("lazy"),
        "exited",
        "unless-stopped came back after a stop"
    );
}

#[test]
fn start_a_runs_a_container_again_with_its_output() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let out = d.docker(&[
        "create",
        "--name",
        "again",
        IMAGE,
        "sh",
        "-c",
        "echo run; exit 4",
    ]);
    assert_ok(&out, "create");
    for round in 0..2 {
        let out = d.docker(&["start", "-a", "again"]);
        assert_eq!(
            out.status.code(),
            Some(4),
            "round {round}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "run\n", "round {round}");
    }
    let out = d.berth(&["start", "-a", "again"]);
    assert_eq!(out.status.code(), Some(4), "berth: {}", stderr(&out));
    assert_eq!(stdout(&out), "run\n");
}
