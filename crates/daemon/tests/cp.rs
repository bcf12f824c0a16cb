//! `cp` and `export` through the real docker CLI and through berth: files and directories in and
//! out of running and stopped containers, modes and owners kept, symlinks in the container that
//! point at `/etc` or `/` staying inside it, Docker's errors, and export → import.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

#[derive(Clone, Copy, Debug)]
enum Cli {
    Docker,
    Berth,
}

const CLIS: [Cli; 2] = [Cli::Docker, Cli::Berth];

fn run(d: &TestDaemon, cli: Cli, args: &[&str]) -> Output {
    match cli {
        Cli::Docker => d.docker(args),
        Cli::Berth => d.berth(args),
    }
}

fn cmd(d: &TestDaemon, cli: Cli, args: &[&str]) -> Command {
    match cli {
        Cli::Docker => d.docker_cmd(args),
        Cli::Berth => d.berth_cmd(args),
    }
}

#[track_caller]
fn ok(d: &TestDaemon, cli: Cli, args: &[&str]) -> String {
    let out = run(d, cli, args);
    assert_ok(&out, &format!("{cli:?} {}", args.join(" ")));
    stdout(&out)
}

/// `tar -tv --numeric-owner` of a tar on stdout: "mode uid/gid … name" lines.
fn tar_listing(tar: &[u8]) -> String {
    let mut child = Command::new("tar")
        .args(["-tv", "--numeric-owner", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tar (GNU tar) is needed to read archives");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(tar).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ok(&out, "tar -tv");
    stdout(&out)
}

/// A file and a directory on the host to copy in: f.txt (1234:5678, 0640), tree/sub/x, and a
/// symlink and a hardlink inside the tree.
fn host_fixture(root: &Path) {
    std::fs::create_dir_all(root.join("tree/sub")).unwrap();
    std::fs::write(root.join("f.txt"), "file content\n").unwrap();
    std::os::unix::fs::chown(root.join("f.txt"), Some(1234), Some(5678)).unwrap();
    std::fs::set_permissions(root.join("f.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(root.join("tree/sub/x"), "x in tree\n").unwrap();
    std::fs::set_permissions(
        root.join("tree/sub/x"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    std::os::unix::fs::symlink("sub/x", root.join("tree/link")).unwrap();
    std::fs::hard_link(root.join("tree/sub/x"), root.join("tree/hard")).unwrap();
}

fn wait_for_file(d: &TestDaemon, cli: Cli, c: &str, path: &str) {
    let found = eventually(Duration::from_secs(10), || {
        let out = run(d, cli, &["cp", &format!("{c}:{path}"), "-"]);
        out.status.success().then_some(())
    });
    assert!(found.is_some(), "{path} never appeared in {c}");
}

#[test]
fn cp_in_and_out_of_running_and_stopped_containers() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let host = d.dir.path().join("host");
    host_fixture(&host);
    let h = |p: &str| host.join(p).to_str().unwrap().to_string();
    for cli in CLIS {
        for running in [true, false] {
            let name = format!("c-{cli:?}-{running}").to_lowercase();
            // The container itself reports what it sees once /tmp/go exists.
            let script = "while [ ! -e /tmp/go ]; do sleep 0.1; done; \
                stat -c '%u:%g %a' /tmp/f.txt; cat /tmp/f.txt /tmp/tree2/sub/x /tmp/tree2/link; \
                stat -c '%h' /tmp/tree2/hard; cat /tmp/into/tree/sub/x";
            if running {
                ok(
                    &d,
                    cli,
                    &["run", "-d", "--name", &name, IMAGE, "sh", "-c", script],
                );
            } else {
                ok(
                    &d,
                    cli,
                    &["create", "--name", &name, IMAGE, "sh", "-c", script],
                );
            }
            let c = |p: &str| format!("{name}:{p}");
            ok(&d, cli, &["cp", &h("f.txt"), &c("/tmp/")]);
            // A missing destination is created with the source's contents (docker cp's rule).
            ok(&d, cli, &["cp", &h("tree"), &c("/tmp/tree2")]);
            // An existing directory receives the source directory itself.
            let mk = d.dir.path().join(format!("empty-{name}"));
            std::fs::create_dir(&mk).unwrap();
            ok(&d, cli, &["cp", mk.to_str().unwrap(), &c("/tmp/into")]);
            ok(&d, cli, &["cp", &h("tree"), &c("/tmp/into")]);

            // Out again: a file, a directory, and a directory's contents.
            let out = d.dir.path().join(format!("out-{name}"));
            std::fs::create_dir(&out).unwrap();
            let o = |p: &str| out.join(p).to_str().unwrap().to_string();
            ok(&d, cli, &["cp", &c("/tmp/f.txt"), &o("f.txt")]);
            assert_eq!(
                std::fs::read_to_string(o("f.txt")).unwrap(),
                "file content\n"
            );
            assert_eq!(
                std::fs::metadata(o("f.txt")).unwrap().permissions().mode() & 0o7777,
                0o640
            );
            ok(&d, cli, &["cp", &c("/tmp/tree2"), &o("t")]);
            assert_eq!(
                std::fs::read_to_string(o("t/sub/x")).unwrap(),
                "x in tree\n"
            );
            assert_eq!(std::fs::read_link(o("t/link")).unwrap(), Path::new("sub/x"));
            let (a, b) = (
                std::fs::metadata(o("t/hard")).unwrap(),
                std::fs::metadata(o("t/sub/x")).unwrap(),
            );
            assert_eq!(a.ino(), b.ino(), "the hardlink came out as a copy");
            assert_eq!(b.permissions().mode() & 0o7777, 0o751);
            std::fs::create_dir(o("contents")).unwrap();
            ok(&d, cli, &["cp", &c("/tmp/tree2/."), &o("contents")]);
            assert!(Path::new(&o("contents/sub/x")).is_file());

            // As a tar on stdout: owners and modes as they are in the container.
            let tar = run(&d, cli, &["cp", &c("/tmp/f.txt"), "-"]);
            assert_ok(&tar, "cp to stdout");
            let listing = tar_listing(&tar.stdout);
            assert!(
                listing.starts_with("-rw-r----- 1234/5678") && listing.contains(" f.txt"),
                "{cli:?}: {listing}"
            );
            // And the container sees all of it as it was copied.
            ok(&d, cli, &["cp", &h("f.txt"), &c("/tmp/go")]);
            if !running {
                ok(&d, cli, &["start", &name]);
            }
            let code = ok(&d, cli, &["wait", &name]);
            assert_eq!(code.trim(), "0");
            let logs = ok(&d, cli, &["logs", &name]);
            assert_eq!(
                logs, "1234:5678 640\nfile content\nx in tree\nx in tree\n2\nx in tree\n",
                "{cli:?} running={running}"
            );
            // The exited container still answers.
            let out2 = run(&d, cli, &["cp", &c("/tmp/tree2/sub/x"), "-"]);
            assert_ok(&out2, "cp out of an exited container");
            assert!(tar_listing(&out2.stdout).contains(" x"));
        }
    }
}

#[test]
fn running_container_copies_see_its_mounts() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    for cli in CLIS {
        let name = format!("m-{cli:?}").to_lowercase();
        ok(
            &d,
            cli,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--tmpfs",
                "/scratch",
                IMAGE,
                "sh",
                "-c",
                "echo in-tmpfs > /scratch/f; sleep 1000",
            ],
        );
        wait_for_file(&d, cli, &name, "/scratch/f");
        let out = d.dir.path().join(format!("scratch-{cli:?}"));
        ok(
            &d,
            cli,
            &["cp", &format!("{name}:/scratch/f"), out.to_str().unwrap()],
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "in-tmpfs\n");
        // And a copy into the tmpfs lands there, not in the layer underneath.
        ok(
            &d,
            cli,
            &[
                "cp",
                out.to_str().unwrap(),
                &format!("{name}:/scratch/back"),
            ],
        );
        let back = run(&d, cli, &["cp", &format!("{name}:/scratch/back"), "-"]);
        assert_ok(&back, "cp out of the tmpfs");
        ok(&d, cli, &["stop", "-t", "0", &name]);
        // Stopped, the tmpfs is gone, and so is what was copied into it.
        let gone = run(&d, cli, &["cp", &format!("{name}:/scratch/back"), "-"]);
        assert!(
            !gone.status.success(),
            "{cli:?}: the copy went to the layer, not the tmpfs"
        );
        assert!(
            stderr(&gone).contains("Could not find the file /scratch/back"),
            "{}",
            stderr(&gone)
        );
        ok(&d, cli, &["rm", "-f", &name]);
    }
}

#[test]
fn symlinks_in_the_container_never_lead_to_the_host() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let unique = format!("berth-cp-escape-{}", std::process::id());
    let src = d.dir.path().join(&unique);
    std::fs::write(&src, "must stay in the container\n").unwrap();
    let host_etc = Path::new("/etc").join(&unique);
    let host_root = Path::new("/").join(&unique);
    for cli in CLIS {
        for running in [true, false] {
            let name = format!("s-{cli:?}-{running}").to_lowercase();
            let setup = "mkdir /c && ln -s /etc /c/evil && ln -s / /c/root && \
                echo container-hostname > /etc/hostname.c && touch /c/ready && sleep 1000";
            ok(
                &d,
                cli,
                &["run", "-d", "--name", &name, IMAGE, "sh", "-c", setup],
            );
            wait_for_file(&d, cli, &name, "/c/ready");
            if !running {
                ok(&d, cli, &["stop", "-t", "0", &name]);
            }
            let c = |p: &str| format!("{name}:{p}");
            ok(&d, cli, &["cp", src.to_str().unwrap(), &c("/c/evil/")]);
            ok(&d, cli, &["cp", src.to_str().unwrap(), &c("/c/root/")]);
            ok(&d, cli, &["cp", src.to_str().unwrap(), &c("/c/root/etc/")]);
            assert!(
                !host_etc.exists(),
                "{cli:?} wrote {} on the host",
                host_etc.display()
            );
            assert!(
                !host_root.exists(),
                "{cli:?} wrote {} on the host",
                host_root.display()
            );
            // The files are in the container's /etc and /.
            for p in [format!("/etc/{unique}"), format!("/{unique}")] {
                let out = run(&d, cli, &["cp", &c(&p), "-"]);
                assert_ok(&out, &format!("{p} in the container"));
                assert!(tar_listing(&out.stdout).contains(&unique));
            }
            // Out through the symlink: the container's file, not the host's.
            let got = d.dir.path().join(format!("hostname-{name}"));
            ok(
                &d,
                cli,
                &["cp", &c("/c/evil/hostname.c"), got.to_str().unwrap()],
            );
            assert_eq!(
                std::fs::read_to_string(&got).unwrap(),
                "container-hostname\n"
            );
            let passwd = d.dir.path().join(format!("passwd-{name}"));
            ok(
                &d,
                cli,
                &["cp", &c("/c/root/etc/passwd"), passwd.to_str().unwrap()],
            );
            let theirs = std::fs::read_to_string(&passwd).unwrap();
            // -L follows the link itself; without it the link is copied as a link.
            let linked = d.dir.path().join(format!("evil-{name}"));
            ok(&d, cli, &["cp", &c("/c/evil"), linked.to_str().unwrap()]);
            assert_eq!(std::fs::read_link(&linked).unwrap(), Path::new("/etc"));
            let followed = d.dir.path().join(format!("followed-{name}"));
            ok(
                &d,
                cli,
                &["cp", "-L", &c("/c/evil"), followed.to_str().unwrap()],
            );
            assert_eq!(
                std::fs::read_to_string(followed.join("hostname.c")).unwrap(),
                "container-hostname\n"
            );
            assert_eq!(
                std::fs::read_to_string(followed.join("passwd")).unwrap(),
                theirs
            );
            ok(&d, cli, &["rm", "-f", &name]);
        }
    }
    assert!(!host_etc.exists() && !host_root.exists());
}

#[test]
fn missing_paths_and_bad_archives_get_dockers_errors() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    ok(
        &d,
        Cli::Docker,
        &["create", "--name", "errs", IMAGE, "true"],
    );
    let src = d.dir.path().join("f");
    std::fs::write(&src, "x").unwrap();
    let docker = d.docker(&["cp", "errs:/nope", d.dir.path().to_str().unwrap()]);
    let code = docker.status.code();
    assert_ne!(code, Some(0));
    assert!(
        stderr(&docker).contains("Could not find the file /nope in container errs"),
        "{}",
        stderr(&docker)
    );
    let berth = d.berth(&["cp", "errs:/nope", d.dir.path().to_str().unwrap()]);
    assert_eq!(berth.status.code(), code, "{}", stderr(&berth));
    assert!(
        stderr(&berth).contains("Could not find the file /nope in container errs"),
        "{}",
        stderr(&berth)
    );
    for cli in CLIS {
        // Into a directory that is not there.
        let out = run(
            &d,
            cli,
            &["cp", src.to_str().unwrap(), "errs:/no/such/dir/f"],
        );
        assert_eq!(out.status.code(), code, "{cli:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("Could not find the file /no/such/dir"),
            "{cli:?}: {}",
            stderr(&out)
        );
        // A tar on stdin that is not one: refused, and nothing is written.
        let mut tar = tar_of(&[("ok-before-garbage", b"data".as_slice())]);
        tar.truncate(512 + 2);
        let out = cp_stdin(&d, cli, "errs:/tmp", &tar);
        assert!(
            !out.status.success(),
            "{cli:?}: a truncated tar was accepted"
        );
        assert!(
            stderr(&out).contains("truncated"),
            "{cli:?}: {}",
            stderr(&out)
        );
        let left = run(&d, cli, &["cp", "errs:/tmp/ok-before-garbage", "-"]);
        assert!(
            !left.status.success(),
            "{cli:?}: a refused tar left a file behind"
        );
    }
}

/// A tar with the given regular files (mode 0644, root-owned).
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<(&str, u8, &str, &[u8])> =
        files.iter().map(|(n, d)| (*n, b'0', "", *d)).collect();
    tar_entries(&entries)
}

/// A tar of (name, type flag, link target, content) entries, written by hand so that it can
/// hold what no well-behaved tool writes (`..`, links out).
fn tar_entries(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |v: u64, w: usize| format!("{v:0w$o}\0", w = w - 1).into_bytes();
        h[100..108].copy_from_slice(&octal(0o644, 8));
        h[108..116].copy_from_slice(&octal(0, 8));
        h[116..124].copy_from_slice(&octal(0, 8));
        h[124..136].copy_from_slice(&octal(data.len() as u64, 12));
        h[136..148].copy_from_slice(&octal(0, 12));
        h[148..156].copy_from_slice(b"        ");
        h[156] = *kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(&octal(u64::from(sum), 8));
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn cp_stdin(d: &TestDaemon, cli: Cli, dst: &str, tar: &[u8]) -> Output {
    let mut child = cmd(d, cli, &["cp", "-", dst])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(tar).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn hostile_archives_stay_in_the_destination() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    ok(
        &d,
        Cli::Docker,
        &[
            "run",
            "-d",
            "--name",
            "hostile",
            IMAGE,
            "sh",
            "-c",
            "mkdir -p /dst /c && ln -s / /c/root && touch /c/ready && sleep 1000",
        ],
    );
    wait_for_file(&d, Cli::Docker, "hostile", "/c/ready");
    let unique = format!("berth-cp-hostile-{}", std::process::id());
    for cli in CLIS {
        // `..` climbing out: refused as a whole, nothing written.
        let climb = format!("../../{unique}");
        let tar = tar_entries(&[
            ("first", b'0', "", b"1".as_slice()),
            (&climb, b'0', "", b"x".as_slice()),
        ]);
        let out = cp_stdin(&d, cli, "hostile:/dst", &tar);
        assert!(!out.status.success(), "{cli:?}: '..' accepted");
        assert!(
            stderr(&out).contains("climbs out"),
            "{cli:?}: {}",
            stderr(&out)
        );
        assert!(!run(&d, cli, &["cp", "hostile:/dst/first", "-"])
            .status
            .success());
        // A symlink to / in the tar, then a file through it: it lands under the destination.
        let through = format!("up/{unique}");
        let tar = tar_entries(&[
            ("up", b'2', "/", b"".as_slice()),
            (&through, b'0', "", b"contained".as_slice()),
        ]);
        let out = cp_stdin(&d, cli, "hostile:/c/root/dst", &tar);
        assert_ok(&out, "a tar with a symlink to /");
        assert!(
            !Path::new("/").join(&unique).exists(),
            "{cli:?}: wrote on the host's /"
        );
        let inside = run(&d, cli, &["cp", &format!("hostile:/dst/{unique}"), "-"]);
        assert_ok(&inside, "the file written through the tar's symlink");
        assert!(!run(&d, cli, &["cp", &format!("hostile:/{unique}"), "-"])
            .status
            .success());
    }
}

#[test]
fn export_gives_the_whole_filesystem_and_imports() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    for cli in CLIS {
        let name = format!("x-{cli:?}").to_lowercase();
        ok(
            &d,
            cli,
            &[
                "run",
                "--name",
                &name,
                IMAGE,
                "sh",
                "-c",
                "mkdir -p /data && echo exported > /data/marker",
            ],
        );
        let file = d.dir.path().join(format!("{name}.tar"));
        ok(&d, cli, &["export", "-o", file.to_str().unwrap(), &name]);
        let listing = tar_listing(&std::fs::read(&file).unwrap());
        for want in ["data/marker", "bin/busybox", "etc/passwd"] {
            assert!(
                listing.contains(want),
                "{cli:?}: {want} missing from export:\n{listing}"
            );
        }
        // To stdout as well.
        let out = run(&d, cli, &["export", &name]);
        assert_ok(&out, "export to stdout");
        assert!(tar_listing(&out.stdout).contains("data/marker"));
        let tag = format!("berth-exported-{cli:?}:1").to_lowercase();
        ok(&d, Cli::Docker, &["import", file.to_str().unwrap(), &tag]);
        let out = ok(&d, cli, &["run", "--rm", &tag, "cat", "/data/marker"]);
        assert_eq!(out, "exported\n");
    }
}
