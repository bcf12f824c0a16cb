//! berth's own CLI against berthd: the same lifecycle a Docker user drives with `docker`.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

fn import(d: &TestDaemon) {
    let tar = d.dir.path().join("bb.tar");
    let st = std::process::Command::new(repo_root().join("scripts/busybox-rootfs.sh"))
        .arg(&tar)
        .status()
        .unwrap();
    assert!(st.success());
    let out = d.berth(&["import", tar.to_str().unwrap(), IMAGE]);
    assert_ok(&out, "berth import");
    assert!(stdout(&out).starts_with("sha256:"), "{}", stdout(&out));
}

#[test]
fn berth_runs_lists_logs_and_removes() {
    let d = TestDaemon::start();
    import(&d);
    let out = d.berth(&["run", "--rm", IMAGE, "echo", "hello"]);
    assert_ok(&out, "berth run --rm");
    assert_eq!(stdout(&out), "hello\n");
    assert_eq!(
        d.berth(&["run", "--rm", IMAGE, "sh", "-c", "exit 4"])
            .status
            .code(),
        Some(4)
    );
    assert_eq!(
        d.berth(&["run", "--rm", IMAGE, "nosuchcmd"]).status.code(),
        Some(127)
    );
    let unknown = d.berth(&["run", "--rm", "berth-no-such-image"]);
    assert_eq!(unknown.status.code(), Some(125));
    assert!(
        stderr(&unknown).contains("Unable to find image"),
        "{}",
        stderr(&unknown)
    );

    let mut child = d
        .berth_cmd(&["run", "-i", "--rm", IMAGE, "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped in\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "piped in\n");

    let out = d.berth(&[
        "run",
        "-d",
        "--name",
        "bweb",
        "-l",
        "k=v",
        IMAGE,
        "sh",
        "-c",
        "echo up; sleep 1000",
    ]);
    assert_ok(&out, "berth run -d");
    let ps = d.berth(&[
        "ps",
        "--filter",
        "label=k=v",
        "--format",
        "{{.Names}}|{{.Image}}",
    ]);
    assert_eq!(stdout(&ps).trim(), format!("bweb|{IMAGE}"));
    let dup = d.berth(&["create", "--name", "bweb", IMAGE, "true"]);
    assert_eq!(dup.status.code(), Some(125));
    assert!(stderr(&dup).contains("is already in use by container"));
    let logs = eventually(Duration::from_secs(5), || {
        let l = stdout(&d.berth(&["logs", "bweb"]));
        (l == "up\n").then_some(l)
    });
    assert!(logs.is_some());
    let f = stdout(&d.berth(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.Config.Labels.k}}",
        "bweb",
    ]));
    assert_eq!(f.trim(), "running v");
    let rm = d.berth(&["rm", "bweb"]);
    assert!(!rm.status.success());
    assert!(stderr(&rm).contains("force remove"), "{}", stderr(&rm));
    assert_ok(&d.berth(&["rm", "-f", "bweb"]), "berth rm -f");
    assert_eq!(stdout(&d.berth(&["ps", "-aq"])), "");
    let images = stdout(&d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(images.trim(), IMAGE);
}

#[test]
fn diff_and_rename_match_docker() {
    let d = TestDaemon::start();
    import(&d);
    let out = d.berth(&[
        "run",
        "--name",
        "changer",
        IMAGE,
        "sh",
        "-c",
        "echo new > /added; echo more >> /etc/group; rm /bin/ls",
    ]);
    assert_ok(&out, "run the changing container");
    let lines = |out: &std::process::Output| {
        let mut l: Vec<String> = stdout(out).lines().map(str::to_string).collect();
        l.sort();
        l
    };
    let berth = lines(&d.berth(&["diff", "changer"]));
    for want in ["A /added", "C /etc/group", "D /bin/ls", "C /etc", "C /bin"] {
        assert!(berth.iter().any(|l| l == want), "{want} missing: {berth:?}");
    }
    assert_eq!(berth, lines(&d.docker(&["diff", "changer"])));

    assert_ok(&d.berth(&["rename", "changer", "changed"]), "berth rename");
    let names = d.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(stdout(&names).trim(), "changed");
    let taken = d.berth(&["run", "--name", "other", IMAGE, "true"]);
    assert_ok(&taken, "run other");
    let clash = d.berth(&["rename", "changed", "other"]);
    assert_eq!(clash.status.code(), Some(125));
    assert!(
        stderr(&clash).contains("is already in use by container"),
        "{}",
        stderr(&clash)
    );
}
