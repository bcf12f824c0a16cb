//! Prestart: a container whose network needs nothing on the host (`--network none`) has its
//! start prepared right after create, up to a shim waiting at its gate. These tests check that
//! the prepared start behaves as a plain one, and that everything that undoes it leaves
//! nothing behind.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// PIDs of the shims of container `id` (and of a builtin runtime's init that has not exec'd
/// yet: it is a clone of the shim).
fn shims_of(id: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let mut args = cmdline.split(|b| *b == 0);
        let is_shim = args.next().is_some_and(|a| a.ends_with(b"berth-shim"));
        if is_shim && args.any(|a| a == id.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// Mount points under the daemon's data root.
fn mounts_under(d: &TestDaemon) -> Vec<String> {
    let root = d.dir.path().to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|m| m.starts_with(&root))
        .map(str::to_string)
        .collect()
}

fn memory_cgroup(d: &TestDaemon, id: &str) -> std::path::PathBuf {
    std::path::Path::new("/sys/fs/cgroup/memory")
        .join(&d.cgroup_parent)
        .join(id)
}

fn create_prepared(d: &TestDaemon, args: &[&str]) -> String {
    let mut all = vec!["create", "--network", "none"];
    all.extend_from_slice(args);
    let out = d.docker(&all);
    assert_ok(&out, "docker create --network none");
    let id = stdout(&out).trim().to_string();
    // Prepared: a shim runs, and the container's init waits in its cgroup.
    let prepared = eventually(Duration::from_secs(10), || {
        let procs =
            std::fs::read_to_string(memory_cgroup(d, &id).join("cgroup.procs")).unwrap_or_default();
        (!shims_of(&id).is_empty() && !procs.trim().is_empty()).then_some(())
    });
    assert!(prepared.is_some(), "no shim waits for the start of {id}");
    id
}

fn assert_undone(d: &TestDaemon, id: &str) {
    let gone = eventually(Duration::from_secs(10), || {
        (shims_of(id).is_empty() && !memory_cgroup(d, id).exists()).then_some(())
    });
    assert!(gone.is_some(), "the prepared start of {id} was not undone");
    assert_eq!(mounts_under(d), Vec::<String>::new(), "mounts left behind");
}

#[test]
fn a_prepared_run_behaves_as_a_plain_one() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert!(stderr(&out).contains("err\n"), "{}", stderr(&out));

    let missing = d.docker(&["run", "--rm", "--network", "none", IMAGE, "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));

    let mut child = d
        .docker_cmd(&["run", "-i", "--rm", "--network", "none", IMAGE, "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"typed\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "typed\n");

    // A started container's hostname and log are those of any start.
    let id = create_prepared(&d, &["--hostname", "prep", IMAGE, "hostname"]);
    let out = d.docker(&["start", "-a", &id]);
    assert_eq!(stdout(&out), "prep\n", "{}", stderr(&out));
    assert_eq!(stdout(&d.docker(&["logs", &id])), "prep\n");
    assert_ok(&d.docker(&["rm", &id]), "docker rm");
    assert_eq!(stdout(&d.docker(&["ps", "-aq"])), "");
    assert_undone(&d, &id);
}

#[test]
fn removing_a_created_container_undoes_its_prepared_start() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let id = create_prepared(&d, &[IMAGE, "true"]);
    assert!(
        memory_cgroup(&d, &id).exists(),
        "the prepared start made no cgroup"
    );
    let inspect = d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", &id]);
    assert_eq!(stdout(&inspect), "created 0\n");
    assert_ok(&d.docker(&["rm", &id]), "docker rm");
    assert_undone(&d, &id);
}

#[test]
fn an_update_before_the_start_is_applied() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let id = create_prepared(
        &d,
        &[
            "-m",
            "32m",
            IMAGE,
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ],
    );
    let out = d.docker(&["update", "-m", "64m", "--memory-swap", "128m", &id]);
    assert_ok(&out, "docker update");
    let out = d.docker(&["start", "-a", &id]);
    assert_eq!(stdout(&out), format!("{}\n", 64 << 20), "{}", stderr(&out));
    assert_ok(&d.docker(&["rm", &id]), "docker rm");
    assert_undone(&d, &id);
}

#[test]
fn stopping_berthd_undoes_prepared_starts() {
    let mut d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let id = create_prepared(&d, &[IMAGE, "echo", "after restart"]);
    d.stop_gracefully();
    assert_undone(&d, &id);
    d.respawn();
    let out = d.docker(&["start", "-a", &id]);
    assert_eq!(stdout(&out), "after restart\n", "{}", stderr(&out));
    assert_ok(&d.docker(&["rm", &id]), "docker rm");
    assert_undone(&d, &id);
}
