//! `docker events` and `berth events` against berthd: lifecycle events in order, exit codes,
//! filters, and a follower that receives events as they happen.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

/// Now as the API's `secs.nanos` timestamp.
fn now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// The events between `since` and `until` that pass `filters`, as JSON, through the docker CLI.
fn docker_events(d: &TestDaemon, since: &str, until: &str, filters: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "events",
        "--since",
        since,
        "--until",
        until,
        "--format",
        "{{json .}}",
    ];
    for f in filters {
        args.extend(["--filter", f]);
    }
    let out = d.docker(&args);
    assert_ok(&out, "docker events");
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["Action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn run_rm_reports_create_attach_start_die_destroy_in_order() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let since = now();
    let out = d.docker(&[
        "run", "--rm", "--name", "ev-rm", IMAGE, "sh", "-c", "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = d.berth(&["run", "--rm", "--name", "berth-rm", IMAGE, "true"]);
    assert_ok(&out, "berth run --rm");
    let until = now();

    let evs = docker_events(&d, &since, &until, &["container=ev-rm"]);
    assert_eq!(
        actions(&evs),
        ["create", "attach", "start", "die", "destroy"],
        "{evs:#?}"
    );
    let id = evs[0]["Actor"]["ID"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    for e in &evs {
        assert_eq!(e["Type"], "container");
        assert_eq!(e["Actor"]["ID"], id.as_str());
        assert_eq!(e["Actor"]["Attributes"]["name"], "ev-rm");
        assert_eq!(e["Actor"]["Attributes"]["image"], IMAGE);
        assert_eq!(e["from"], IMAGE);
        assert_eq!(e["status"], e["Action"]);
        assert_eq!(e["scope"], "local");
    }
    assert_eq!(evs[3]["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(evs[3]["Actor"]["Attributes"]["execDuration"], "0");
    let times: Vec<i64> = evs
        .iter()
        .map(|e| e["timeNano"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // berth's default line: time, type, action, full ID, sorted attributes.
    let out = d.berth(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "-f",
        "container=ev-rm",
    ]);
    assert_ok(&out, "berth events");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    let die =
        format!(" container die {id} (execDuration=0, exitCode=3, image={IMAGE}, name=ev-rm)");
    assert!(lines[3].ends_with(&die), "{} vs {die}", lines[3]);
    // `2026-11-28T09:00:00.123456789Z` or with a numeric zone.
    let stamp = lines[3].split(' ').next().unwrap();
    assert_eq!(&stamp[4..5], "-");
    assert_eq!(&stamp[10..11], "T");
    assert_eq!(&stamp[19..20], ".");
    assert!(stamp[20..29].bytes().all(|b| b.is_ascii_digit()), "{stamp}");

    // The container's network: connected at start, disconnected at its exit.
    let evs = docker_events(&d, &since, &until, &["type=network"]);
    let on_bridge: Vec<String> = evs
        .iter()
        .filter(|e| e["Actor"]["Attributes"]["container"] == id.as_str())
        .map(|e| {
            format!(
                "{} {}",
                e["Action"].as_str().unwrap(),
                e["Actor"]["Attributes"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        on_bridge,
        ["connect bridge", "disconnect bridge"],
        "{evs:#?}"
    );

    // berth's own run --rm, seen by both clients the same way.
    let evs = docker_events(&d, &since, &until, &["container=berth-rm"]);
    assert_eq!(
        actions(&evs),
        ["create", "attach", "start", "die", "destroy"]
    );
    assert_eq!(evs[3]["Actor"]["Attributes"]["exitCode"], "0");
    let out = d.berth(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "-f",
        "container=berth-rm",
        "--format",
        "{{.Status}} {{.Actor.Attributes.name}}",
    ]);
    assert_ok(&out, "berth events --format");
    assert_eq!(
        stdout(&out),
        "create berth-rm\nattach berth-rm\nstart berth-rm\ndie berth-rm\ndestroy berth-rm\n"
    );
}

#[test]
fn filters_by_name_event_label_and_type() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let since = now();
    assert_ok(
        &d.docker(&["run", "--name", "ev-a", IMAGE, "true"]),
        "run a",
    );
    let out = d.docker(&[
        "run", "--name", "ev-b", "--label", "tier=web", IMAGE, "sh", "-c", "exit 2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_ok(
        &d.docker(&["run", "-d", "--name", "ev-k", IMAGE, "sleep", "100"]),
        "run -d",
    );
    assert_ok(&d.docker(&["kill", "ev-k"]), "kill");
    assert_ok(&d.docker(&["wait", "ev-k"]), "wait");
    assert_ok(&d.docker(&["rename", "ev-a", "ev-a2"]), "rename");
    assert_ok(&d.docker(&["tag", IMAGE, "ev-tag:1"]), "tag");
    assert_ok(&d.docker(&["rmi", "ev-tag:1"]), "rmi");
    let until = now();

    let dies = docker_events(&d, &since, &until, &["event=die"]);
    let names: Vec<&str> = dies
        .iter()
        .map(|e| e["Actor"]["Attributes"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ev-a", "ev-b", "ev-k"], "{dies:#?}");
    let codes: Vec<&str> = dies
        .iter()
        .map(|e| e["Actor"]["Attributes"]["exitCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["0", "2", "137"]);

    // Several values of one key are alternatives; keys combine.
    let starts = docker_events(
        &d,
        &since,
        &until,
        &["event=start", "container=ev-b", "container=ev-k"],
    );
    assert_eq!(starts.len(), 2, "{starts:#?}");
    let kills = docker_events(&d, &since, &until, &["event=kill"]);
    assert_eq!(kills.len(), 1);
    assert_eq!(kills[0]["Actor"]["Attributes"]["signal"], "9");

    // A renamed container is found by its new name; the rename carries the old one.
    let renamed = docker_events(&d, &since, &until, &["container=ev-a2"]);
    assert_eq!(actions(&renamed), ["rename"], "{renamed:#?}");
    assert_eq!(renamed[0]["Actor"]["Attributes"]["oldName"], "/ev-a");

    let labelled = docker_events(&d, &since, &until, &["label=tier=web"]);
    assert_eq!(actions(&labelled), ["create", "attach", "start", "die"]);
    assert!(labelled
        .iter()
        .all(|e| e["Actor"]["Attributes"]["name"] == "ev-b"
            && e["Actor"]["Attributes"]["tier"] == "web"));

    let images = docker_events(&d, &since, &until, &["type=image"]);
    assert_eq!(actions(&images), ["tag", "untag"], "{images:#?}");
    assert_eq!(images[0]["Actor"]["Attributes"]["name"], "ev-tag:1");
    assert!(images[0]["Actor"]["ID"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(images[0].get("from").is_none());
    let out = d.berth(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "{{.Action}}",
    ]);
    assert_ok(&out, "berth events type=image");
    assert_eq!(stdout(&out), "tag\nuntag\n");

    // An until in the future streams until then, and the command returns.
    let started = std::time::Instant::now();
    let out = d.docker(&[
        "events",
        "--since",
        &until,
        "--until",
        "2s",
        "--filter",
        "container=ev-b",
    ]);
    assert!(!out.status.success(), "until before since must fail");
    assert!(
        stderr(&out).contains("cannot be after `until` time"),
        "{}",
        stderr(&out)
    );
    let soon = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    let out = d.docker(&[
        "events",
        "--until",
        &soon.to_string(),
        "--filter",
        "event=nothing",
    ]);
    assert_ok(&out, "events --until soon");
    assert_eq!(stdout(&out), "");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Unknown keys are refused, as Docker does.
    let out = d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "colour=red",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid filter 'colour'"),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "colour=red",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("invalid filter 'colour'"),
        "{}",
        stderr(&out)
    );
}

/// Reads a follower's output lines on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Collects lines until one equals `last`, or fails after a timeout.
fn until_line(rx: &mpsc::Receiver<String>, last: &str) -> Vec<String> {
    let mut got = Vec::new();
    while !got.iter().any(|l| l == last) {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => got.push(l),
            Err(e) => panic!("no {last:?} event ({e}); got {got:?}"),
        }
    }
    got
}

#[test]
fn followers_receive_events_live() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let format = "{{.Action}}";
    let mut docker = d
        .docker_cmd(&[
            "events",
            "--filter",
            "container=ev-live",
            "--format",
            format,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut berth = d
        .berth_cmd(&[
            "events",
            "--filter",
            "container=ev-live",
            "--format",
            format,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (docker_rx, berth_rx) = (lines_of(&mut docker), lines_of(&mut berth));
    // Without --since the followers only see what happens after they subscribed: give them
    // time to connect.
    std::thread::sleep(Duration::from_millis(1500));
    assert_ok(
        &d.docker(&["run", "--name", "ev-live", IMAGE, "true"]),
        "run",
    );
    let want = ["create", "attach", "start", "die"];
    for (who, rx) in [("docker", &docker_rx), ("berth", &berth_rx)] {
        assert_eq!(until_line(rx, "die"), want, "{who} events");
    }
    assert_ok(&d.docker(&["rm", "ev-live"]), "rm");
    for (who, rx) in [("docker", &docker_rx), ("berth", &berth_rx)] {
        assert_eq!(until_line(rx, "destroy"), ["destroy"], "{who} events");
    }
    for child in [&mut docker, &mut berth] {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the follower stopped on its own"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn stop_restart_policy_and_restore_report_every_die() {
    let mut d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let since = now();
    // PID 1 ignores SIGTERM without a handler: stop sends TERM, then KILL after a second.
    assert_ok(
        &d.docker(&["run", "-d", "--name", "ev-s", IMAGE, "sleep", "100"]),
        "run -d",
    );
    assert_ok(&d.docker(&["stop", "-t", "1", "ev-s"]), "stop");
    assert_ok(&d.docker(&["restart", "-t", "0", "ev-s"]), "restart");
    assert_ok(
        &d.docker(&["restart", "-t", "0", "ev-s"]),
        "restart running",
    );
    assert_ok(&d.docker(&["rm", "-f", "ev-s"]), "rm -f");
    let evs = docker_events(&d, &since, &now(), &["container=ev-s"]);
    assert_eq!(
        actions(&evs),
        [
            "create", "start", "kill", "kill", "die", "stop",
            // Restarting a stopped container only starts it.
            "start", "restart", "kill", "kill", "die", "stop", "start", "restart", "kill", "die",
            "destroy"
        ],
        "{evs:#?}"
    );
    let signals: Vec<&str> = evs
        .iter()
        .filter(|e| e["Action"] == "kill")
        .map(|e| e["Actor"]["Attributes"]["signal"].as_str().unwrap())
        .collect();
    assert_eq!(signals, ["15", "9", "15", "9", "9"]);

    // Each restart under the policy is a die and a start.
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "ev-p",
            "--restart",
            "on-failure:2",
            IMAGE,
            "sh",
            "-c",
            "exit 5",
        ]),
        "run on-failure",
    );
    let policy = eventually(Duration::from_secs(20), || {
        let evs = docker_events(&d, &since, &now(), &["container=ev-p"]);
        (actions(&evs).iter().filter(|a| *a == "die").count() == 3).then_some(evs)
    })
    .expect("three dies under on-failure:2");
    assert_eq!(
        actions(&policy),
        ["create", "start", "die", "start", "die", "start", "die"]
    );
    assert!(policy
        .iter()
        .filter(|e| e["Action"] == "die")
        .all(|e| e["Actor"]["Attributes"]["exitCode"] == "5"));

    // A container that exits while berthd is down gets its die at the next start.
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "ev-q",
            IMAGE,
            "sh",
            "-c",
            "sleep 0.5; exit 4",
        ]),
        "run -d",
    );
    d.kill9_and_restart_after(Duration::from_millis(1500));
    // The restarted berthd notices the exit while it re-adopts its containers.
    let evs = eventually(Duration::from_secs(10), || {
        let evs = docker_events(&d, &since, &now(), &["container=ev-q"]);
        (!evs.is_empty()).then_some(evs)
    })
    .expect("no die for the container that exited while berthd was down");
    assert_eq!(actions(&evs), ["die"], "{evs:#?}");
    assert_eq!(evs[0]["Actor"]["Attributes"]["exitCode"], "4");
}

#[test]
fn image_moves_and_commits_are_reported() {
    let d = TestDaemon::start();
    let since = now();
    d.import_busybox(IMAGE);
    assert_ok(&d.docker(&["run", "--name", "ev-c", IMAGE, "true"]), "run");
    assert_ok(
        &d.docker(&["commit", "-m", "snap", "ev-c", "ev-snap:1"]),
        "commit",
    );
    let tar = d.dir.path().join("snap.tar");
    assert_ok(
        &d.docker(&["save", "-o", tar.to_str().unwrap(), "ev-snap:1"]),
        "save",
    );
    assert_ok(&d.docker(&["rmi", "ev-snap:1"]), "rmi");
    assert_ok(&d.docker(&["load", "-i", tar.to_str().unwrap()]), "load");
    let until = now();

    let images = docker_events(&d, &since, &until, &["type=image"]);
    assert_eq!(
        actions(&images),
        ["tag", "import", "tag", "save", "untag", "delete", "load"],
        "{images:#?}"
    );
    assert_eq!(images[0]["Actor"]["Attributes"]["name"], IMAGE);
    let snap = images[2]["Actor"]["ID"].as_str().unwrap();
    assert_eq!(images[2]["Actor"]["Attributes"]["name"], "ev-snap:1");
    assert!(images[3..].iter().all(|e| e["Actor"]["ID"] == snap));
    let commit = docker_events(&d, &since, &until, &["event=commit"]);
    assert_eq!(commit.len(), 1, "{commit:#?}");
    let attrs = &commit[0]["Actor"]["Attributes"];
    assert_eq!(attrs["name"], "ev-c");
    assert_eq!(attrs["comment"], "snap");
    assert_eq!(attrs["imageID"], snap);
    assert_eq!(attrs["imageRef"], "ev-snap:1");
    // By image: the image's own events and the events of containers made from it.
    let by_image = docker_events(&d, &since, &until, &["image=ev-snap"]);
    assert_eq!(actions(&by_image), ["tag"], "{by_image:#?}");
}

#[test]
fn pause_unpause_update_and_exec_are_reported() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let since = now();
    assert_ok(
        &d.docker(&["run", "-d", "--name", "ev-ops", IMAGE, "sleep", "1000"]),
        "run -d",
    );
    assert_ok(&d.docker(&["pause", "ev-ops"]), "pause");
    assert_ok(&d.berth(&["unpause", "ev-ops"]), "unpause");
    assert_ok(
        &d.docker(&["update", "--pids-limit", "50", "ev-ops"]),
        "update",
    );
    let exec = d.docker(&["exec", "ev-ops", "sh", "-c", "exit 4"]);
    assert_eq!(exec.status.code(), Some(4), "{}", stderr(&exec));
    let until = now();
    let events = docker_events(
        &d,
        &since,
        &until,
        &[
            "container=ev-ops",
            "event=pause",
            "event=unpause",
            "event=update",
            "event=exec_create",
            "event=exec_start",
            "event=exec_die",
        ],
    );
    assert_eq!(
        actions(&events),
        [
            "pause",
            "unpause",
            "update",
            "exec_create: sh -c exit 4",
            "exec_start: sh -c exit 4",
            "exec_die"
        ]
    );
    let die = &events[5]["Actor"]["Attributes"];
    assert_eq!(die["exitCode"], "4");
    assert_eq!(die["execID"], events[3]["Actor"]["Attributes"]["execID"]);
    for e in &events {
        assert_eq!(e["Actor"]["Attributes"]["name"], "ev-ops");
    }
    assert_ok(&d.docker(&["rm", "-f", "ev-ops"]), "rm -f");
}

#[test]
fn prune_reports_the_space_it_reclaimed() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let since = now();
    assert_ok(
        &d.docker(&[
            "run",
            "--name",
            "ev-prune",
            IMAGE,
            "sh",
            "-c",
            "head -c 1048576 /dev/zero > /blob",
        ]),
        "run",
    );
    let out = d.docker(&["container", "prune", "-f"]);
    assert_ok(&out, "container prune");
    assert!(
        stdout(&out).contains("Total reclaimed space: 1.049MB"),
        "{}",
        stdout(&out)
    );
    let evs = docker_events(&d, &since, &now(), &["event=prune"]);
    assert_eq!(actions(&evs), ["prune"], "{evs:#?}");
    assert_eq!(evs[0]["Type"], "container");
    let reclaimed: u64 = evs[0]["Actor"]["Attributes"]["reclaimed"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1_048_576..1_200_000).contains(&reclaimed), "{reclaimed}");
}

#[test]
fn copies_and_exports_are_reported() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(
        &d.docker(&["run", "-d", "--name", "ev-cp", IMAGE, "sleep", "1000"]),
        "run -d",
    );
    let since = now();
    let file = d.dir.path().join("note.txt");
    std::fs::write(&file, "note\n").unwrap();
    assert_ok(
        &d.docker(&["cp", file.to_str().unwrap(), "ev-cp:/tmp/"]),
        "cp in",
    );
    let back = d.dir.path().join("back.txt");
    assert_ok(
        &d.docker(&["cp", "ev-cp:/tmp/note.txt", back.to_str().unwrap()]),
        "cp out",
    );
    let tar = d.dir.path().join("fs.tar");
    assert_ok(
        &d.docker(&["export", "-o", tar.to_str().unwrap(), "ev-cp"]),
        "export",
    );
    let events = docker_events(
        &d,
        &since,
        &now(),
        &[
            "container=ev-cp",
            "event=extract-to-dir",
            "event=archive-path",
            "event=export",
        ],
    );
    let acts = actions(&events);
    assert_eq!(
        acts.first().map(String::as_str),
        Some("extract-to-dir"),
        "{acts:?}"
    );
    assert!(acts.contains(&"archive-path".to_string()), "{acts:?}");
    assert_eq!(acts.last().map(String::as_str), Some("export"), "{acts:?}");
    assert_ok(&d.docker(&["rm", "-f", "ev-cp"]), "rm -f");
}
