//! The same container on each storage driver (overlay, btrfs on a loop image, vfs), through
//! the docker CLI: it runs, and `docker diff` and `docker commit` give the same answers.

mod common;

use berth_testutil::loopfs::LoopFs;
use common::*;

const SCRIPT: &str = "mkdir -p /work/sub && echo data > /work/sub/file && rm /etc/group && echo more >> /etc/passwd && echo ran";

/// What a driver gives: the run's output, the diff, and what the committed image shows.
fn outcome(d: &TestDaemon) -> (String, String, String) {
    d.import_busybox(IMAGE);
    let run = d.docker(&["run", "--name", "cc", IMAGE, "sh", "-c", SCRIPT]);
    assert_ok(&run, "run");
    let diff = d.docker(&["diff", "cc"]);
    assert_ok(&diff, "diff");
    assert_ok(&d.docker(&["commit", "cc", "berth-committed:1"]), "commit");
    let check = d.docker(&[
        "run",
        "--rm",
        "berth-committed:1",
        "sh",
        "-c",
        "cat /work/sub/file; test -e /etc/group || echo no-group; tail -1 /etc/passwd",
    ]);
    assert_ok(&check, "run committed image");
    let history = d.docker(&["history", "--format", "{{.CreatedBy}}", "berth-committed:1"]);
    assert_ok(&history, "history");
    assert!(
        stdout(&history).starts_with("sh -c "),
        "{}",
        stdout(&history)
    );
    (stdout(&run), stdout(&diff), stdout(&check))
}

#[test]
fn overlay_btrfs_and_vfs_agree() {
    let overlay = outcome(&TestDaemon::start_with(Some("overlay"), None));
    assert_eq!(overlay.0, "ran\n");
    let mut lines: Vec<&str> = overlay.1.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "A /work",
            "A /work/sub",
            "A /work/sub/file",
            "C /etc",
            "C /etc/passwd",
            "D /etc/group"
        ]
    );
    assert_eq!(overlay.2, "data\nno-group\nmore\n");

    let vfs = outcome(&TestDaemon::start_with(Some("vfs"), None));
    assert_eq!(vfs, overlay, "vfs differs from overlay");

    let fs = LoopFs::btrfs(512);
    let root = fs.path().join("berth-root");
    let btrfs = {
        let d = TestDaemon::start_with(Some("btrfs"), Some(&root));
        outcome(&d)
    };
    assert_eq!(btrfs, overlay, "btrfs differs from overlay");
}
