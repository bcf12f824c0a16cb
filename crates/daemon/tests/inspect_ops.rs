//! Looking into and adjusting running containers, through the real docker CLI and berth:
//! pause/unpause, stats, top, update and port.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;

/// A control file of the container's cgroup (v1: under the controller's hierarchy).
fn cgroup_file(d: &TestDaemon, controller: &str, id: &str, file: &str) -> PathBuf {
    let parent = d.cgroup_parent.trim_start_matches('/');
    let v1 = PathBuf::from(format!("/sys/fs/cgroup/{controller}/{parent}/{id}/{file}"));
    if v1.exists() {
        return v1;
    }
    let v2 = PathBuf::from(format!("/sys/fs/cgroup/{parent}/{id}/{file}"));
    assert!(
        v2.exists(),
        "neither {} nor {} exists",
        v1.display(),
        v2.display()
    );
    v2
}

fn read_trim(p: &PathBuf) -> String {
    std::fs::read_to_string(p).unwrap().trim().to_string()
}

fn log_lines(d: &TestDaemon, c: &str) -> usize {
    let out = d.docker(&["logs", c]);
    assert_ok(&out, "docker logs");
    stdout(&out).lines().count()
}

fn inspect(d: &TestDaemon, c: &str, format: &str) -> String {
    let out = d.docker(&["inspect", "-f", format, c]);
    assert_ok(&out, "docker inspect");
    stdout(&out).trim().to_string()
}

const TICKER: &str = "while true; do echo tick; sleep 0.1; done";

#[test]
fn pause_stops_progress_until_unpause_and_survives_a_daemon_restart() {
    let mut d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&["run", "-d", "--name", "ticker", IMAGE, "sh", "-c", TICKER]),
        "run",
    );
    let id = inspect(&d, "ticker", "{{.Id}}");
    assert!(
        eventually(Duration::from_secs(5), || (log_lines(&d, "ticker") > 2)
            .then_some(()))
        .is_some()
    );

    assert_ok(&d.docker(&["pause", "ticker"]), "docker pause");
    assert_eq!(
        inspect(
            &d,
            "ticker",
            "{{.State.Status}} {{.State.Running}} {{.State.Paused}}"
        ),
        "paused true true"
    );
    let ps = d.docker(&[
        "ps",
        "--filter",
        "status=paused",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    let ps = stdout(&ps);
    assert!(
        ps.starts_with("ticker Up ") && ps.trim().ends_with("(Paused)"),
        "{ps}"
    );
    assert_eq!(
        read_trim(&cgroup_file(&d, "freezer", &id, "freezer.state")),
        "FROZEN"
    );
    let frozen_at = log_lines(&d, "ticker");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        log_lines(&d, "ticker"),
        frozen_at,
        "the log grew while paused"
    );

    for exec in [
        d.docker(&["exec", "ticker", "true"]),
        d.berth(&["exec", "ticker", "true"]),
    ] {
        assert_ne!(exec.status.code(), Some(0));
        assert!(
            stderr(&exec).contains(&format!(
                "Container {id} is paused, unpause the container before exec"
            )),
            "{}",
            stderr(&exec)
        );
    }

    let again = d.docker(&["pause", "ticker"]);
    assert!(
        stderr(&again).contains(&format!("Container {id} is already paused")),
        "{}",
        stderr(&again)
    );

    // berthd restarts: the container is still paused, and still frozen.
    d.kill9_and_restart();
    assert_eq!(inspect(&d, "ticker", "{{.State.Status}}"), "paused");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(log_lines(&d, "ticker"), frozen_at);

    assert_ok(&d.berth(&["unpause", "ticker"]), "berth unpause");
    assert_eq!(
        inspect(&d, "ticker", "{{.State.Status}} {{.State.Paused}}"),
        "running false"
    );
    assert!(
        eventually(Duration::from_secs(5), || (log_lines(&d, "ticker")
            > frozen_at + 2)
            .then_some(()))
        .is_some(),
        "the log did not grow after unpause"
    );
    let not_paused = d.berth(&["unpause", "ticker"]);
    assert_eq!(not_paused.status.code(), Some(1));
    assert!(
        stderr(&not_paused).contains(&format!("Container {id} is not paused")),
        "{}",
        stderr(&not_paused)
    );

    // A paused container stops: the signal is delivered once it is thawed.
    assert_ok(&d.berth(&["pause", "ticker"]), "berth pause");
    let stop = d.docker(&["stop", "-t", "5", "ticker"]);
    assert_ok(&stop, "docker stop of a paused container");
    assert_eq!(
        inspect(&d, "ticker", "{{.State.Status}} {{.State.Paused}}"),
        "exited false"
    );
    let stopped = d.docker(&["pause", "ticker"]);
    assert!(
        stderr(&stopped).contains(&format!("Container {id} is not running")),
        "{}",
        stderr(&stopped)
    );

    // rm -f of a paused container.
    assert_ok(
        &d.docker(&["run", "-d", "--name", "sleeper", IMAGE, "sleep", "1000"]),
        "run q",
    );
    assert_ok(&d.docker(&["pause", "sleeper"]), "pause q");
    assert_ok(
        &d.docker(&["rm", "-f", "sleeper"]),
        "rm -f of a paused container",
    );
}

/// "48.1MiB / 128MiB" → (48.1, "128MiB").
fn mem_usage(text: &str) -> (f64, String) {
    let (usage, limit) = text
        .trim()
        .split_once(" / ")
        .unwrap_or_else(|| panic!("{text:?}"));
    let mib = if let Some(v) = usage.strip_suffix("MiB") {
        v.parse::<f64>().unwrap()
    } else if let Some(v) = usage.strip_suffix("KiB") {
        v.parse::<f64>().unwrap() / 1024.0
    } else {
        panic!("usage not in MiB/KiB: {text:?}")
    };
    (mib, limit.to_string())
}

#[test]
fn stats_show_memory_held_and_the_limit() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    // 48 MiB in /dev/shm: tmpfs pages are charged to the container's memory cgroup.
    let fill =
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=48 && echo filled && sleep 1000; echo done";
    assert_ok(
        &d.docker(&[
            "run", "-d", "--name", "filler", "-m", "128m", IMAGE, "sh", "-c", fill,
        ]),
        "run",
    );
    assert!(
        eventually(Duration::from_secs(10), || d
            .docker(&["logs", "filler"])
            .stdout
            .starts_with(b"filled")
            .then_some(()))
        .is_some(),
        "dd did not finish"
    );
    let format = "{{.Name}}|{{.MemUsage}}|{{.MemPerc}}|{{.CPUPerc}}|{{.PIDs}}";
    for out in [
        d.docker(&["stats", "--no-stream", "--format", format, "filler"]),
        d.berth(&["stats", "--no-stream", "--format", format, "filler"]),
    ] {
        assert_ok(&out, "stats --no-stream");
        let text = stdout(&out);
        let fields: Vec<&str> = text.trim().split('|').collect();
        assert_eq!(fields.len(), 5, "{text}");
        assert_eq!(fields[0], "filler");
        let (mib, limit) = mem_usage(fields[1]);
        assert!((46.0..80.0).contains(&mib), "{text}");
        assert_eq!(limit, "128MiB", "{text}");
        let perc: f64 = fields[2].trim_end_matches('%').parse().unwrap();
        assert!((35.0..63.0).contains(&perc), "{text}");
        assert!(fields[3].ends_with('%'), "{text}");
        assert_eq!(fields[4], "2", "sh and sleep: {text}");
    }
    // Streaming: a frame about every second, until interrupted.
    for mut cmd in [
        d.docker_cmd(&["stats", "--format", "{{.Name}} {{.MemUsage}}", "filler"]),
        d.berth_cmd(&["stats", "--format", "{{.Name}} {{.MemUsage}}", "filler"]),
    ] {
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(3500));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        let frames = stdout(&out).matches("filler ").count();
        assert!(frames >= 2, "{frames} frames: {}", stdout(&out));
        assert!(stdout(&out).contains("/ 128MiB"), "{}", stdout(&out));
    }

    // The berth table has docker's columns.
    let table = stdout(&d.berth(&["stats", "--no-stream", "filler"]));
    let header = table.lines().next().unwrap();
    for col in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(header.contains(col), "{table}");
    }

    // Without a limit, the host's memory is the limit; a stopped container shows zeros.
    assert_ok(
        &d.docker(&["run", "-d", "--name", "unlim", IMAGE, "sleep", "1000"]),
        "run u",
    );
    let out = d.docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "unlim"]);
    let (_, limit) = mem_usage(&stdout(&out));
    assert!(limit.ends_with("GiB") || limit.ends_with("MiB"), "{limit}");
    assert_ne!(limit, "0B");
    assert_ok(&d.docker(&["stop", "-t", "0", "unlim"]), "stop u");
    for out in [
        d.docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.MemUsage}} {{.PIDs}}",
            "unlim",
        ]),
        d.berth(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.MemUsage}} {{.PIDs}}",
            "unlim",
        ]),
    ] {
        assert_ok(&out, "stats of a stopped container");
        assert_eq!(stdout(&out).trim(), "0B / 0B 0");
    }
}

#[test]
fn top_lists_the_containers_processes_only() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&["run", "-d", "--name", "top-a", IMAGE, "sleep", "1001"]),
        "run a",
    );
    assert_ok(
        &d.docker(&["run", "-d", "--name", "top-b", IMAGE, "sleep", "1002"]),
        "run b",
    );
    for out in [d.docker(&["top", "top-a"]), d.berth(&["top", "top-a"])] {
        assert_ok(&out, "top");
        let text = stdout(&out);
        assert!(text.lines().next().unwrap().contains("PID"), "{text}");
        assert!(text.contains("sleep 1001"), "{text}");
        assert!(!text.contains("sleep 1002"), "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
    }
    let out = d.berth(&["top", "top-a", "-o", "pid,comm"]);
    assert_ok(&out, "top with ps options");
    let text = stdout(&out);
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["PID", "COMMAND"], "{text}");
    assert!(
        text.lines().nth(1).unwrap().trim_end().ends_with("sleep"),
        "{text}"
    );

    let bad = d.docker(&["top", "top-a", "--no-such-ps-option"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("ps: "), "{}", stderr(&bad));
    assert_ok(&d.docker(&["stop", "-t", "0", "top-b"]), "stop b");
    let stopped = d.berth(&["top", "top-b"]);
    assert!(
        stderr(&stopped).contains("is not running"),
        "{}",
        stderr(&stopped)
    );
}

#[test]
fn update_changes_limits_live_and_in_inspect() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&[
            "run", "-d", "--name", "upd", "-m", "64m", IMAGE, "sleep", "1000",
        ]),
        "run",
    );
    let id = inspect(&d, "upd", "{{.Id}}");
    let limit = cgroup_file(&d, "memory", &id, "memory.limit_in_bytes");
    assert_eq!(read_trim(&limit), (64u64 << 20).to_string());

    let out = d.docker(&["update", "-m", "96m", "upd"]);
    assert_ok(&out, "docker update -m");
    assert_eq!(stdout(&out).trim(), "upd");
    assert_eq!(read_trim(&limit), (96u64 << 20).to_string());
    assert_eq!(
        inspect(&d, "upd", "{{.HostConfig.Memory}}"),
        (96u64 << 20).to_string()
    );

    assert_ok(
        &d.berth(&[
            "update",
            "--cpus",
            "0.5",
            "--pids-limit",
            "20",
            "--restart",
            "on-failure:3",
            "upd",
        ]),
        "berth update",
    );
    assert_eq!(
        read_trim(&cgroup_file(&d, "cpu", &id, "cpu.cfs_quota_us")),
        "50000"
    );
    assert_eq!(read_trim(&cgroup_file(&d, "pids", &id, "pids.max")), "20");
    assert_eq!(
        inspect(&d, "upd", "{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"),
        "500000000 20 on-failure:3"
    );

    // Docker's refusals: a memory limit above the swap limit, a field berth lacks.
    let above = d.docker(&["update", "-m", "512m", "upd"]);
    assert!(
        stderr(&above).contains("Memory limit should be smaller than already set memoryswap limit"),
        "{}",
        stderr(&above)
    );
    let blkio = d.docker(&["update", "--blkio-weight", "300", "upd"]);
    assert!(!blkio.status.success());
    assert!(stderr(&blkio).contains("BlkioWeight"), "{}", stderr(&blkio));
    let small = d.berth(&["update", "-m", "1m", "upd"]);
    assert!(
        stderr(&small).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&small)
    );
    assert_eq!(read_trim(&limit), (96u64 << 20).to_string());

    // A later start uses the new values.
    assert_ok(&d.docker(&["restart", "-t", "0", "upd"]), "restart");
    assert_eq!(
        read_trim(&cgroup_file(&d, "memory", &id, "memory.limit_in_bytes")),
        (96u64 << 20).to_string()
    );
    assert_eq!(read_trim(&cgroup_file(&d, "pids", &id, "pids.max")), "20");
}

#[test]
fn port_reports_no_published_ports() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&["run", "-d", "--name", "portc", IMAGE, "sleep", "1000"]),
        "run",
    );
    for out in [d.docker(&["port", "portc"]), d.berth(&["port", "portc"])] {
        assert_ok(&out, "port");
        assert_eq!(stdout(&out), "");
    }
    for out in [
        d.docker(&["port", "portc", "80"]),
        d.berth(&["port", "portc", "80"]),
    ] {
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            stderr(&out).trim(),
            "Error: No public port '80' published for portc"
        );
    }
    let out = d.berth(&["port", "portc", "53/udp"]);
    assert_eq!(
        stderr(&out).trim(),
        "Error: No public port '53/udp' published for portc"
    );
    let missing = d.berth(&["port", "nope"]);
    assert!(
        stderr(&missing).contains("No such container: nope"),
        "{}",
        stderr(&missing)
    );
}
