//! Images through berthd with the real docker CLI: import, load (an archive Docker made),
//! save, commit, history, rmi refusing an image in use, and a berth-saved archive loading into
//! a real dockerd.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const FIXTURE_ID: &str = "sha256:762bfdf310f91da543f06133615ea20fb16e1e122326ca88b6ce7f32d97fd4cb";

fn fixture(name: &str) -> PathBuf {
    let p = repo_root().join("../shared/fixtures").join(name);
    assert!(
        p.is_file(),
        "{} is missing (the shared fixtures sit beside the repository)",
        p.display()
    );
    p
}

#[test]
fn load_save_commit_history_and_rmi_conflicts() {
    let d = TestDaemon::start();
    let load = d.docker(&[
        "load",
        "-i",
        fixture("docker-save-2layer.tar").to_str().unwrap(),
    ]);
    assert_ok(&load, "docker load of Docker's archive");
    assert!(
        stdout(&load).contains("Loaded image: fixture/busybox:2layer"),
        "{}",
        stdout(&load)
    );
    let id = stdout(&d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        "fixture/busybox:2layer",
    ]));
    assert_eq!(id.trim(), FIXTURE_ID);
    let run = d.docker(&["run", "--rm", "fixture/busybox:2layer"]);
    assert_eq!(stdout(&run), "loaded from a docker archive\n");

    // A broken archive is refused with a clear error and changes nothing.
    let before = stdout(&d.docker(&["images", "-q", "--no-trunc"]));
    let junk = d.dir.path().join("junk.tar");
    std::fs::write(&junk, b"this is not a tar archive at all").unwrap();
    let bad = d.docker(&["load", "-i", junk.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("archive"), "{}", stderr(&bad));
    let truncated = d.dir.path().join("truncated.tar");
    let full = std::fs::read(fixture("docker-save-2layer.tar")).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let bad = d.docker(&["load", "-i", truncated.to_str().unwrap()]);
    assert!(!bad.status.success(), "a truncated archive loaded");
    assert_eq!(stdout(&d.docker(&["images", "-q", "--no-trunc"])), before);
    let bad = d.docker(&["run", "--rm", "-m", "1k", "fixture/busybox:2layer", "true"]);
    assert!(
        stderr(&bad).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&bad)
    );

    // save, remove, load back: the same image.
    let saved = d.dir.path().join("saved.tar");
    assert_ok(
        &d.docker(&[
            "save",
            "-o",
            saved.to_str().unwrap(),
            "fixture/busybox:2layer",
        ]),
        "save",
    );
    assert_ok(&d.docker(&["rmi", "fixture/busybox:2layer"]), "rmi");
    assert_ok(
        &d.docker(&["load", "-i", saved.to_str().unwrap()]),
        "load saved",
    );
    let id = stdout(&d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        "fixture/busybox:2layer",
    ]));
    assert_eq!(id.trim(), FIXTURE_ID);

    // An image in use can't go.
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "user",
            "fixture/busybox:2layer",
            "sleep",
            "1000",
        ]),
        "run",
    );
    let rmi = d.docker(&["rmi", "fixture/busybox:2layer"]);
    assert!(!rmi.status.success());
    assert!(
        stderr(&rmi).contains("conflict: unable to"),
        "{}",
        stderr(&rmi)
    );
    let rmi = d.docker(&["rmi", "-f", FIXTURE_ID]);
    assert!(
        !rmi.status.success(),
        "a running container's image was force-removed"
    );
    assert!(
        stderr(&rmi).contains("running container"),
        "{}",
        stderr(&rmi)
    );

    // commit and history.
    assert_ok(
        &d.docker(&[
            "run",
            "--name",
            "writer",
            "fixture/busybox:2layer",
            "sh",
            "-c",
            "echo made > /made",
        ]),
        "run writer",
    );
    let commit = d.docker(&[
        "commit",
        "-m",
        "berth commit",
        "-c",
        "ENV COMMITTED=yes",
        "writer",
        "berth-committed:1",
    ]);
    assert_ok(&commit, "commit");
    assert!(stdout(&commit).starts_with("sha256:"));
    let check = d.docker(&[
        "run",
        "--rm",
        "berth-committed:1",
        "sh",
        "-c",
        "cat /made; echo $COMMITTED $FIXTURE",
    ]);
    assert_eq!(stdout(&check), "made\nyes yes\n");
    let history = stdout(&d.docker(&[
        "history",
        "--format",
        "{{.Comment}}|{{.CreatedBy}}",
        "berth-committed:1",
    ]));
    let first = history.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("berth commit|sh -c echo made > /made"),
        "{history}"
    );
    assert_eq!(history.lines().count(), 6, "{history}");
}

#[test]
fn commit_pauses_a_running_container_and_resumes_it() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "live",
        IMAGE,
        "sh",
        "-c",
        "echo live > /live; sleep 1000",
    ]);
    assert_ok(&out, "run -d");
    let id = stdout(&out).trim().to_string();
    let written = eventually(Duration::from_secs(5), || {
        stdout(&d.docker(&["diff", "live"]))
            .contains("A /live")
            .then_some(())
    });
    assert!(written.is_some());
    assert_ok(
        &d.docker(&["commit", "live", "berth-live:1"]),
        "commit of a running container",
    );
    let state = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/freezer/{}/{id}/freezer.state",
        d.cgroup_parent
    ))
    .unwrap_or_else(|_| "THAWED".into());
    assert_eq!(
        state.trim(),
        "THAWED",
        "the container stayed frozen after the commit"
    );
    let status = stdout(&d.docker(&["inspect", "-f", "{{.State.Status}}", "live"]));
    assert_eq!(status.trim(), "running");
    let check = d.docker(&["run", "--rm", "berth-live:1", "cat", "/live"]);
    assert_eq!(stdout(&check), "live\n");
}

struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dockerd = berth_testutil::require_tool("dockerd", "docker.io");
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir()
            .unwrap();
        let p = |n: &str| dir.path().join(n);
        let ns = berth_testutil::unique_name("ctrd");
        let child = Command::new(dockerd)
            .args([
                "--data-root",
                p("data").to_str().unwrap(),
                "--exec-root",
                p("exec").to_str().unwrap(),
            ])
            .args([
                "-H",
                &format!("unix://{}", p("d.sock").display()),
                "--pidfile",
                p("d.pid").to_str().unwrap(),
            ])
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .args([
                "--containerd-namespace",
                &ns,
                "--containerd-plugins-namespace",
                &format!("{ns}-p"),
            ])
            .stdout(std::fs::File::create(p("log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let log = p("log");
        let d = Dockerd { dir, child };
        let up = eventually(Duration::from_secs(30), || {
            d.docker(&["version"]).status.success().then_some(())
        });
        assert!(
            up.is_some(),
            "dockerd did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        d
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(DOCKER)
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.path().join("cfg"))
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let root = self.dir.path().to_string_lossy().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut targets: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for t in targets {
            let c = std::ffi::CString::new(t).unwrap();
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

#[test]
fn an_archive_berth_saves_loads_into_docker() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&[
            "run",
            "--name",
            "w2",
            IMAGE,
            "sh",
            "-c",
            "echo from berth > /msg",
        ]),
        "run",
    );
    assert_ok(
        &d.docker(&[
            "commit",
            "-c",
            "CMD [\"cat\", \"/msg\"]",
            "w2",
            "berth-export:1",
        ]),
        "commit",
    );
    let tar = d.dir.path().join("export.tar");
    assert_ok(
        &d.docker(&["save", "-o", tar.to_str().unwrap(), "berth-export:1"]),
        "save",
    );
    let id = stdout(&d.docker(&["image", "inspect", "-f", "{{.Id}}", "berth-export:1"]));

    let real = Dockerd::start();
    let load = real.docker(&["load", "-i", tar.to_str().unwrap()]);
    assert_ok(&load, "load into dockerd");
    let real_id = stdout(&real.docker(&["image", "inspect", "-f", "{{.Id}}", "berth-export:1"]));
    assert_eq!(real_id, id, "Docker computed another image ID");
    let run = real.docker(&["run", "--rm", "--network", "none", "berth-export:1"]);
    assert_ok(&run, "docker run of berth's image");
    assert_eq!(stdout(&run), "from berth\n");
}
