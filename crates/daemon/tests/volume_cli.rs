//! `berth volume …` against berthd: create with labels and driver options, list with filters,
//! inspect with templates, removal refused while a container uses the volume, `rm -f`, prune
//! (prompt, anonymous only, `-a`), `system df`/`system prune --volumes`, and data that outlives
//! the containers which wrote it (`run -v`, `--mount`). The docker CLI checks both clients agree.

mod common;

use berth_testutil::unique_name;
use common::*;

const IMAGE: &str = "berth-volcli-busybox";

/// `berth volume ls -q` with these extra arguments, as sorted names.
fn names(d: &TestDaemon, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    args.extend_from_slice(extra);
    let out = d.berth(&args);
    assert_ok(&out, "berth volume ls -q");
    let mut v: Vec<String> = stdout(&out).lines().map(String::from).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn berth_volume_create_list_inspect_and_remove() {
    let d = TestDaemon::start();
    let name = unique_name("vol");
    let out = d.berth(&[
        "volume",
        "create",
        "--label",
        "purpose=e2e",
        "--label",
        "bare",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=16m",
        &name,
    ]);
    assert_ok(&out, "berth volume create");
    assert_eq!(stdout(&out), format!("{name}\n"));
    // Creating an existing name again is not an error and names the same volume.
    let again = d.berth(&["volume", "create", &name]);
    assert_ok(&again, "berth volume create (again)");
    assert_eq!(stdout(&again), format!("{name}\n"));

    let anon = d.berth(&["volume", "create"]);
    assert_ok(&anon, "berth volume create (no name)");
    let anon = stdout(&anon).trim().to_string();
    assert_eq!(anon.len(), 64, "{anon}");
    assert!(anon.chars().all(|c| c.is_ascii_hexdigit()), "{anon}");

    let ls = d.berth(&["volume", "ls"]);
    assert_ok(&ls, "berth volume ls");
    let text = stdout(&ls);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("DRIVER    VOLUME NAME"), "{text}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.contains(&vec!["local", name.as_str()]), "{text}");
    assert!(rows.contains(&vec!["local", anon.as_str()]), "{text}");

    assert_eq!(names(&d, &[]), sorted(vec![name.clone(), anon.clone()]));
    assert_eq!(names(&d, &["-f", "label=purpose=e2e"]), [name.as_str()]);
    assert_eq!(names(&d, &["-f", "label=bare"]), [name.as_str()]);
    assert_eq!(
        names(&d, &["--filter", &format!("name={name}")]),
        [name.as_str()]
    );
    assert_eq!(names(&d, &["-f", "driver=local"]).len(), 2);
    assert_eq!(names(&d, &["-f", "dangling=true"]).len(), 2);
    assert!(names(&d, &["-f", "dangling=false"]).is_empty());
    assert_fails_with(&d.berth(&["volume", "ls", "-f", "bogus=1"]), 1, "bogus");

    let fmt = d.berth(&[
        "volume",
        "ls",
        "-f",
        "label=purpose",
        "--format",
        "{{.Name}}|{{.Driver}}|{{.Label \"purpose\"}}|{{.Labels}}|{{.Scope}}",
    ]);
    assert_ok(&fmt, "berth volume ls --format");
    assert_eq!(
        stdout(&fmt),
        format!("{name}|local|e2e|bare=,purpose=e2e|local\n")
    );

    let inspect = d.berth(&[
        "volume",
        "inspect",
        "-f",
        "{{.Name}} {{.Driver}} {{.Labels.purpose}} {{.Options.type}} {{.Options.o}} {{.Scope}}",
        &name,
    ]);
    assert_ok(&inspect, "berth volume inspect -f");
    assert_eq!(
        stdout(&inspect),
        format!("{name} local e2e tmpfs size=16m local\n")
    );
    let json = d.berth(&["volume", "inspect", &name]);
    assert_ok(&json, "berth volume inspect");
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let mountpoint = v[0]["Mountpoint"].as_str().unwrap_or_default().to_string();
    assert!(
        mountpoint.ends_with(&format!("/volumes/{name}/_data")),
        "{mountpoint}"
    );
    // The docker CLI sees the same volume.
    let docker = d.docker(&["volume", "inspect", "-f", "{{.Mountpoint}}", &name]);
    assert_ok(&docker, "docker volume inspect");
    assert_eq!(stdout(&docker).trim(), mountpoint);

    let missing = unique_name("nosuchvol");
    let partial = d.berth(&["volume", "inspect", "-f", "{{.Name}}", &name, &missing]);
    assert_fails_with(&partial, 1, "no such volume");
    assert_eq!(stdout(&partial), format!("{name}\n"));
    assert_fails_with(&d.berth(&["volume", "rm", &missing]), 1, "no such volume");
    let forced = d.berth(&["volume", "rm", "-f", &missing]);
    assert_ok(&forced, "berth volume rm -f of a missing volume");
    assert_eq!(stdout(&forced), format!("{missing}\n"));

    let rm = d.berth(&["volume", "rm", &name, &anon]);
    assert_ok(&rm, "berth volume rm");
    assert_eq!(stdout(&rm), format!("{name}\n{anon}\n"));
    assert!(names(&d, &[]).is_empty());
}

#[test]
fn berth_volume_rm_is_refused_while_a_container_uses_it() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let name = unique_name("vol");
    assert_ok(&d.berth(&["volume", "create", &name]), "volume create");
    let user = unique_name("user");
    let out = d.berth(&[
        "create",
        "--name",
        &user,
        "-v",
        &format!("{name}:/data"),
        IMAGE,
        "true",
    ]);
    assert_ok(&out, "berth create -v");

    assert_fails_with(&d.berth(&["volume", "rm", &name]), 1, "in use");
    // -f does not override "in use", as with docker.
    assert_fails_with(&d.berth(&["volume", "rm", "-f", &name]), 1, "in use");
    assert!(names(&d, &["-f", "dangling=true"]).is_empty());
    assert_eq!(names(&d, &["-f", "dangling=false"]), [name.as_str()]);

    assert_ok(&d.berth(&["rm", &user]), "berth rm");
    let rm = d.berth(&["volume", "rm", &name]);
    assert_ok(&rm, "berth volume rm after the container went");
    assert_eq!(stdout(&rm), format!("{name}\n"));

    // `rm -v` takes the container's anonymous volumes with it.
    let anon_user = unique_name("anon");
    assert_ok(
        &d.berth(&[
            "create", "--name", &anon_user, "-v", "/scratch", IMAGE, "true",
        ]),
        "berth create -v /scratch",
    );
    assert_eq!(names(&d, &[]).len(), 1);
    assert_ok(&d.berth(&["rm", "-v", &anon_user]), "berth rm -v");
    assert!(names(&d, &[]).is_empty());
}

#[test]
fn berth_volume_prune_asks_then_removes_unused_anonymous_volumes() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let named = unique_name("keep");
    assert_ok(&d.berth(&["volume", "create", &named]), "volume create");
    // An anonymous volume left behind by a container removed without -v.
    let c = unique_name("anon");
    assert_ok(
        &d.berth(&["create", "--name", &c, "-v", "/scratch", IMAGE, "true"]),
        "berth create -v /scratch",
    );
    assert_ok(&d.berth(&["rm", &c]), "berth rm");
    let all = names(&d, &[]);
    assert_eq!(all.len(), 2, "{all:?}");
    let anon = all.iter().find(|n| **n != named).unwrap().clone();

    let declined = d.berth_with_stdin(&["volume", "prune"], "n\n");
    assert_ok(&declined, "berth volume prune (declined)");
    assert_eq!(
        stdout(&declined),
        "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(names(&d, &[]).len(), 2);

    let pruned = d.berth_with_stdin(&["volume", "prune"], "y\n");
    assert_ok(&pruned, "berth volume prune");
    let text = stdout(&pruned);
    assert!(
        text.contains(&format!(
            "Deleted Volumes:\n{anon}\n\nTotal reclaimed space: "
        )),
        "{text}"
    );
    assert_eq!(names(&d, &[]), [named.as_str()]);

    let none = d.berth(&["volume", "prune", "-f"]);
    assert_ok(&none, "berth volume prune -f (nothing to do)");
    assert_eq!(stdout(&none), "Total reclaimed space: 0B\n");

    let declined = d.berth_with_stdin(&["volume", "prune", "-a"], "n\n");
    assert!(
        stdout(&declined).starts_with(
            "WARNING! This will remove all local volumes not used by at least one container.\n"
        ),
        "{}",
        stdout(&declined)
    );
    let filtered = d.berth(&["volume", "prune", "-a", "-f", "--filter", "label=nope"]);
    assert_ok(&filtered, "berth volume prune -a --filter");
    assert_eq!(names(&d, &[]), [named.as_str()]);
    let all = d.berth(&["volume", "prune", "-a", "-f"]);
    assert_ok(&all, "berth volume prune -a -f");
    assert!(
        stdout(&all).starts_with(&format!("Deleted Volumes:\n{named}\n\n")),
        "{}",
        stdout(&all)
    );
    assert!(names(&d, &[]).is_empty());
}

#[test]
fn berth_system_df_and_prune_cover_volumes() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let name = unique_name("vol");
    assert_ok(
        &d.berth(&[
            "run",
            "--rm",
            "-v",
            &format!("{name}:/data"),
            IMAGE,
            "sh",
            "-c",
            "head -c 4096 /dev/zero > /data/f",
        ]),
        "berth run -v writing 4 KiB",
    );
    let df = d.berth(&["system", "df"]);
    assert_ok(&df, "berth system df");
    let df_text = stdout(&df);
    let row = df_text
        .lines()
        .find(|l| l.starts_with("Local Volumes"))
        .map(|l| l.split_whitespace().skip(2).take(2).collect::<Vec<_>>())
        .unwrap_or_default();
    assert_eq!(row, ["1", "0"], "TOTAL, ACTIVE:\n{df_text}");
    let verbose = d.berth(&["system", "df", "-v"]);
    assert_ok(&verbose, "berth system df -v");
    let text = stdout(&verbose);
    let line = text
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("no row for {name}:\n{text}"));
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "LINKS: {line}");

    // A named volume survives `system prune --volumes` (anonymous ones only, as docker).
    let c = unique_name("anon");
    assert_ok(
        &d.berth(&["create", "--name", &c, "-v", "/scratch", IMAGE, "true"]),
        "berth create -v /scratch",
    );
    assert_ok(&d.berth(&["rm", &c]), "berth rm");
    assert_eq!(names(&d, &[]).len(), 2);
    let prune = d.berth(&["system", "prune", "-f", "--volumes"]);
    assert_ok(&prune, "berth system prune --volumes");
    assert!(
        stdout(&prune).contains("Deleted Volumes:\n"),
        "{}",
        stdout(&prune)
    );
    assert_eq!(names(&d, &[]), [name.as_str()]);
    assert_ok(&d.berth(&["volume", "rm", &name]), "volume rm");
}

#[test]
fn berth_run_volumes_and_mounts_keep_and_guard_data() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let name = unique_name("data");
    let vol = format!("{name}:/data");
    assert_ok(
        &d.berth(&[
            "run",
            "--rm",
            "-v",
            &vol,
            IMAGE,
            "sh",
            "-c",
            "echo kept > /data/f",
        ]),
        "berth run -v writing",
    );
    // The volume was created on first use and outlives the --rm container.
    assert_eq!(names(&d, &[]), [name.as_str()]);
    let read = d.berth(&["run", "--rm", "-v", &vol, IMAGE, "cat", "/data/f"]);
    assert_ok(&read, "berth run -v reading");
    assert_eq!(stdout(&read), "kept\n");

    let mount = format!("type=volume,src={name},dst=/m,readonly");
    let ro = d.berth(&[
        "run",
        "--rm",
        "--mount",
        &mount,
        IMAGE,
        "sh",
        "-c",
        "cat /m/f; touch /m/g",
    ]);
    assert_eq!(ro.status.code(), Some(1), "stderr: {}", stderr(&ro));
    assert_eq!(stdout(&ro), "kept\n");
    assert!(
        stderr(&ro).contains("Read-only file system"),
        "{}",
        stderr(&ro)
    );

    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("h"), "from host\n").unwrap();
    let bind = format!("{}:/h:ro", host.path().display());
    let out = d.berth(&["run", "--rm", "-v", &bind, IMAGE, "cat", "/h/h"]);
    assert_ok(&out, "berth run -v host:ctr:ro");
    assert_eq!(stdout(&out), "from host\n");
    let bind = format!("type=bind,src={},dst=/h", host.path().display());
    let out = d.berth(&[
        "run",
        "--rm",
        "--mount",
        &bind,
        IMAGE,
        "sh",
        "-c",
        "echo back > /h/c",
    ]);
    assert_ok(&out, "berth run --mount type=bind");
    assert_eq!(
        std::fs::read_to_string(host.path().join("c")).unwrap(),
        "back\n"
    );

    let out = d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1m",
        IMAGE,
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts",
    ]);
    assert_ok(&out, "berth run --mount type=tmpfs");
    assert!(
        stdout(&out).starts_with("tmpfs /t tmpfs "),
        "{}",
        stdout(&out)
    );

    // A bad --mount never reaches berthd.
    let bad = d.berth(&["run", "--rm", "--mount", "type=bind,src=/x", IMAGE, "true"]);
    assert_fails_with(
        &bad,
        125,
        "invalid argument \"type=bind,src=/x\" for \"--mount\" flag: target is required",
    );
    assert_ok(&d.berth(&["volume", "rm", &name]), "volume rm");
}
