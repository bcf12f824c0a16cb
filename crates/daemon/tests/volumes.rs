//! Volumes end to end through the real docker CLI: named volumes persisting and shared, binds
//! read-write and read-only, copy-up with ownership, anonymous volumes and `rm -v`/`--rm`,
//! tmpfs size and mode, `--volumes-from`, and mount destinations that stay inside the rootfs.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::*;

fn out_of(d: &TestDaemon, args: &[&str]) -> String {
    let out = d.docker(args);
    assert_ok(&out, &args.join(" "));
    stdout(&out).trim().to_string()
}

fn volume_names(d: &TestDaemon) -> Vec<String> {
    out_of(d, &["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn named_volumes_persist_and_are_shared_and_binds_honour_ro() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    out_of(&d, &["volume", "create", "keep"]);
    out_of(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "keep:/data",
            IMAGE,
            "sh",
            "-c",
            "echo first > /data/f",
        ],
    );
    assert_eq!(
        out_of(
            &d,
            &["run", "--rm", "-v", "keep:/data", IMAGE, "cat", "/data/f"]
        ),
        "first"
    );
    // Two containers at once: what one writes, the other reads.
    out_of(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "reader",
            "-v",
            "keep:/shared",
            IMAGE,
            "sleep",
            "100",
        ],
    );
    out_of(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "writer",
            "-v",
            "keep:/shared",
            IMAGE,
            "sh",
            "-c",
            "echo live > /shared/g; sleep 100",
        ],
    );
    let seen = eventually(Duration::from_secs(5), || {
        let out = d.docker(&["exec", "reader", "cat", "/shared/g"]);
        (stdout(&out).trim() == "live").then_some(())
    });
    assert!(seen.is_some());
    // :ro is enforced, for volumes and binds.
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        "keep:/data:ro",
        IMAGE,
        "sh",
        "-c",
        "echo x > /data/h",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    let host = d.dir.path().join("bind-src");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("from-host"), "h\n").unwrap();
    let h = host.to_str().unwrap();
    let got = out_of(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{h}:/h"),
            IMAGE,
            "sh",
            "-c",
            "cat /h/from-host; echo c > /h/from-ctr",
        ],
    );
    assert_eq!(got, "h");
    assert_eq!(
        std::fs::read_to_string(host.join("from-ctr")).unwrap(),
        "c\n"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/h:ro"),
        IMAGE,
        "sh",
        "-c",
        "echo x > /h/no",
    ]);
    assert!(!out.status.success());
    assert!(!host.join("no").exists());
    // -v creates a missing host directory; --mount refuses one, as Docker does.
    let missing = d.dir.path().join("made-by-v");
    let m = missing.to_str().unwrap();
    out_of(
        &d,
        &["run", "--rm", "-v", &format!("{m}:/m"), IMAGE, "true"],
    );
    assert!(missing.is_dir());
    let gone = d.dir.path().join("not-there");
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={},dst=/m", gone.display()),
        IMAGE,
        "true",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bind source path does not exist"),
        "{}",
        stderr(&out)
    );
    // Inspect shows the mounts as Docker does.
    let mounts = out_of(
        &d,
        &[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}};{{end}}",
            "reader",
        ],
    );
    assert_eq!(mounts, "volume keep /shared true;");
    let users = d.docker(&["volume", "rm", "keep"]);
    assert!(
        stderr(&users).contains("volume is in use"),
        "{}",
        stderr(&users)
    );
    // Volume events as dockerd sends them: create, then a mount and an unmount per run.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let events = out_of(
        &d,
        &[
            "events",
            "--since",
            "0",
            "--until",
            &until.to_string(),
            "--filter",
            "type=volume",
            "--filter",
            "volume=keep",
            "--format",
            "{{.Action}}",
        ],
    );
    let actions: Vec<&str> = events.lines().collect();
    assert_eq!(&actions[..3], ["create", "mount", "unmount"], "{events}");
}

#[test]
fn copy_up_keeps_ownership_and_never_overwrites() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    out_of(&d, &["run", "--name", "seeder", IMAGE, "sh", "-c",
        "mkdir -p /seed/sub && echo s > /seed/f && ln -s f /seed/link && chown -R 1234:2345 /seed && chmod 0750 /seed && chmod 0640 /seed/f"]);
    out_of(&d, &["commit", "seeder", "berth-seeded:test"]);
    let stat = out_of(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "fresh:/seed",
            "berth-seeded:test",
            "stat",
            "-c",
            "%u:%g %a %N",
            "/seed",
            "/seed/f",
            "/seed/link",
        ],
    );
    let lines: Vec<&str> = stat.lines().collect();
    assert_eq!(lines[0], "1234:2345 750 /seed");
    assert_eq!(lines[1], "1234:2345 640 /seed/f");
    assert!(lines[2].ends_with("'/seed/link' -> 'f'"), "{stat}");
    // On the host: the volume's directory took the owner and mode too.
    let mountpoint = out_of(&d, &["volume", "inspect", "-f", "{{.Mountpoint}}", "fresh"]);
    let meta = std::fs::metadata(&mountpoint).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (1234, 2345, 0o750)
    );
    // A volume with content of its own is left as it is.
    out_of(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "mine:/x",
            IMAGE,
            "sh",
            "-c",
            "echo mine > /x/own",
        ],
    );
    let listing = out_of(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "mine:/seed",
            "berth-seeded:test",
            "ls",
            "/seed",
        ],
    );
    assert_eq!(listing, "own");
    // nocopy: an empty volume stays empty.
    let listing = out_of(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "bare:/seed:nocopy",
            "berth-seeded:test",
            "ls",
            "-A",
            "/seed",
        ],
    );
    assert_eq!(listing, "");
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_rm_but_named_ones_stay() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    out_of(
        &d,
        &[
            "run", "--name", "both", "-v", "stays:/n", "-v", "/anon", IMAGE, "true",
        ],
    );
    let anon = out_of(
        &d,
        &[
            "inspect",
            "-f",
            "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}",
            "both",
        ],
    );
    assert_eq!(anon.len(), 64, "{anon}");
    let labels = out_of(&d, &["volume", "inspect", "-f", "{{json .Labels}}", &anon]);
    assert!(labels.contains("com.docker.volume.anonymous"), "{labels}");
    out_of(&d, &["rm", "-v", "both"]);
    let names = volume_names(&d);
    assert!(
        names.contains(&"stays".to_string()) && !names.contains(&anon),
        "{names:?}"
    );
    // --rm removes the anonymous volume it made.
    out_of(&d, &["run", "--rm", "-v", "/gone", IMAGE, "true"]);
    let removed = eventually(Duration::from_secs(5), || {
        (volume_names(&d) == ["stays"]).then_some(())
    });
    assert!(removed.is_some(), "{:?}", volume_names(&d));
    // --volumes-from shares the other container's volumes.
    out_of(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "owner",
            "-v",
            "stays:/data",
            IMAGE,
            "sh",
            "-c",
            "echo shared > /data/s; sleep 100",
        ],
    );
    let got = eventually(Duration::from_secs(5), || {
        let out = d.docker(&[
            "run",
            "--rm",
            "--volumes-from",
            "owner:ro",
            IMAGE,
            "cat",
            "/data/s",
        ]);
        (stdout(&out).trim() == "shared").then_some(())
    });
    assert!(got.is_some());
    let out = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "owner:ro",
        IMAGE,
        "touch",
        "/data/x",
    ]);
    assert!(!out.status.success());
}

#[test]
fn tmpfs_mounts_have_their_size_and_mode() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let got = out_of(
        &d,
        &[
            "run",
            "--rm",
            "--tmpfs",
            "/t:size=1m,mode=0700",
            IMAGE,
            "sh",
            "-c",
            "stat -c %a /t; df -k /t | tail -n1",
        ],
    );
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], "700");
    assert_eq!(lines[1].split_whitespace().nth(1), Some("1024"), "{got}");
    let got = out_of(
        &d,
        &[
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,dst=/m,tmpfs-size=2097152,tmpfs-mode=0750",
            IMAGE,
            "sh",
            "-c",
            "stat -c %a /m; df -k /m | tail -n1",
        ],
    );
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], "750");
    assert_eq!(lines[1].split_whitespace().nth(1), Some("2048"), "{got}");
}

#[test]
fn a_symlink_in_the_image_cannot_move_a_mount_onto_the_host() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    // A host directory the image's symlinks point at (absolute and relative).
    let target = d.dir.path().join("host-target");
    std::fs::create_dir(&target).unwrap();
    let t = target.to_str().unwrap();
    out_of(
        &d,
        &[
            "run",
            "--name",
            "trap",
            IMAGE,
            "sh",
            "-c",
            &format!("ln -s {t} /escape && ln -s ../../../../../../..{t} /rel"),
        ],
    );
    out_of(&d, &["commit", "trap", "berth-trap:test"]);
    for dest in ["/escape/inner", "/rel/inner"] {
        let got = out_of(
            &d,
            &[
                "run",
                "--rm",
                "-v",
                &format!("trapvol:{dest}"),
                "berth-trap:test",
                "sh",
                "-c",
                &format!("echo in > {dest}/f; cat {dest}/f"),
            ],
        );
        assert_eq!(got, "in");
        assert_eq!(
            std::fs::read_dir(&target).unwrap().count(),
            0,
            "a mount for {dest} reached the host"
        );
    }
    let mountpoint = out_of(
        &d,
        &["volume", "inspect", "-f", "{{.Mountpoint}}", "trapvol"],
    );
    assert_eq!(
        std::fs::read_to_string(format!("{mountpoint}/f")).unwrap(),
        "in\n"
    );
}

#[test]
fn a_driver_option_volume_is_mounted_while_used_also_across_a_daemon_restart() {
    let mut d = TestDaemon::start();
    d.import_busybox(IMAGE);
    out_of(
        &d,
        &[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=4m,mode=0711",
            "scratch",
        ],
    );
    let mountpoint = out_of(
        &d,
        &["volume", "inspect", "-f", "{{.Mountpoint}}", "scratch"],
    );
    let mounted = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(mountpoint.as_str()))
    };
    out_of(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "user1",
            "-v",
            "scratch:/s",
            IMAGE,
            "sh",
            "-c",
            "echo kept > /s/f; sleep 100",
        ],
    );
    let got = out_of(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "scratch:/s",
            IMAGE,
            "sh",
            "-c",
            "sleep 0.3; cat /s/f; stat -c %a /s; df -k /s | tail -n1",
        ],
    );
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], "kept");
    assert_eq!(lines[1], "711");
    assert_eq!(lines[2].split_whitespace().nth(1), Some("4096"), "{got}");
    assert!(mounted());
    d.kill9_and_restart();
    // Still in use by user1: still mounted, with its content.
    assert!(mounted());
    assert_eq!(out_of(&d, &["exec", "user1", "cat", "/s/f"]), "kept");
    out_of(&d, &["rm", "-f", "user1"]);
    let unmounted = eventually(Duration::from_secs(5), || (!mounted()).then_some(()));
    assert!(
        unmounted.is_some(),
        "the last user's exit must unmount {mountpoint}"
    );
    out_of(&d, &["volume", "rm", "scratch"]);
}
