//! Bad bundles and commands get a clear error and leave nothing behind.

mod common;

use common::*;
use serde_json::json;

/// Nothing of container `id` remains: no state, no cgroup.
fn assert_nothing_left(rt: &Runtime, id: &str) {
    assert!(
        !rt.root.path().join(id).exists(),
        "state directory left for {id}"
    );
    for controller in ["memory", "pids", "cpu", "freezer"] {
        let dir = v1_cgroup_dir(controller, &format!("/berth/{id}"));
        assert!(!dir.exists(), "cgroup {} left behind", dir.display());
    }
}

#[test]
fn a_missing_command_exits_127() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["no-such-command"]);
    let id = rt.id("nf");
    let out = rt.run(&bundle, &id);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
    assert_nothing_left(&rt, &id);
}

#[test]
fn a_command_that_is_not_executable_exits_126() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["/etc/passwd"]);
    let id = rt.id("nx");
    let out = rt.run(&bundle, &id);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
    assert_nothing_left(&rt, &id);
}

#[test]
fn a_missing_config_names_the_file() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["true"]);
    std::fs::remove_file(bundle.path().join("config.json")).unwrap();
    let id = rt.id("nocfg");
    let out = rt.run(&bundle, &id);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("config.json") && stderr(&out).contains("No such file"),
        "{}",
        stderr(&out)
    );
    assert_nothing_left(&rt, &id);
}

#[test]
fn an_invalid_field_is_named() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["true"]);
    let mut raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.path().join("config.json")).unwrap()).unwrap();
    raw["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]);
    std::fs::write(bundle.path().join("config.json"), raw.to_string()).unwrap();
    let id = rt.id("badfield");
    let out = rt.run(&bundle, &id);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("process.rlimits[0]"),
        "{}",
        stderr(&out)
    );
    assert_nothing_left(&rt, &id);
}

#[test]
fn an_unsupported_field_is_refused() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.edit_json(|s| s["hooks"] = json!({"prestart": [{"path": "/bin/true"}]}));
    let id = rt.id("hooks");
    let out = rt.run(&bundle, &id);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("field hooks is not supported"),
        "{}",
        stderr(&out)
    );
    assert_nothing_left(&rt, &id);
}

#[test]
fn a_failing_mount_is_named_and_undone() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.edit_json(|s| {
        s["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "bind", "source": "/nonexistent-berth-source", "options": ["rbind"]}))
    });
    let id = rt.id("badmount");
    let out = rt.run(&bundle, &id);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("mounts[7] (/data)"),
        "{}",
        stderr(&out)
    );
    assert_nothing_left(&rt, &id);
}

#[test]
fn bad_container_ids_are_refused() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["true"]);
    for id in ["../escape", ".hidden", "a/b"] {
        let out = rt.run(&bundle, id);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("invalid container id"),
            "{id}: {}",
            stderr(&out)
        );
    }
}
