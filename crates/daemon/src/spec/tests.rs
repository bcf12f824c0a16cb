//! `build` from hand-made configs, checked field by field against what Docker produces.

use super::*;
use bollard_stubs::models::{DeviceMapping, HostConfigCgroupnsModeEnum, ResourcesUlimits};
use serde_json::json;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc/group"),
        "root:x:0:\nwheel:x:10:root\napp:x:1000:\n",
    )
    .unwrap();
    dir
}

fn bounding() -> Vec<String> {
    (0..=40)
        .filter_map(berth_runtime::caps::name)
        .filter(|c| *c != "CAP_SYS_RESOURCE")
        .map(str::to_string)
        .collect()
}

fn build_in(
    root: &Path,
    config: &ContainerCreateBody,
    host: &HostConfig,
    network: NetworkSetup,
) -> Result<Value, SpecError> {
    let caps = bounding();
    let ctx = SpecContext {
        container_id: ID,
        rootfs: root,
        bounding_caps: &caps,
        cgroups_path: "/berth/x",
        init_binary: Some(Path::new("/usr/bin/tini-static")),
        network,
        netns: None,
        etc_mounts: &[],
        user_mounts: &[],
    };
    build(config, host, &ctx).map(|s| serde_json::to_value(s).unwrap())
}

fn spec(config: ContainerCreateBody, host: HostConfig) -> Result<Value, SpecError> {
    let root = rootfs();
    build_in(root.path(), &config, &host, NetworkSetup::Private)
}

fn cmd(args: &[&str]) -> ContainerCreateBody {
    ContainerCreateBody {
        cmd: Some(args.iter().map(|s| s.to_string()).collect()),
        env: Some(vec![DEFAULT_PATH.into()]),
        ..Default::default()
    }
}

fn cap_set(v: &Value) -> std::collections::BTreeSet<String> {
    serde_json::from_value(v.clone()).unwrap()
}

fn find_mount<'a>(v: &'a Value, dest: &str) -> Option<&'a Value> {
    v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == dest)
}

fn options(v: &Value, dest: &str) -> Vec<String> {
    serde_json::from_value(find_mount(v, dest).unwrap()["options"].clone()).unwrap()
}

#[test]
fn defaults_are_dockers() {
    let v = spec(cmd(&["true"]), HostConfig::default()).unwrap();
    let p = &v["process"];
    assert_eq!(p["args"], json!(["true"]));
    assert_eq!(
        p["env"],
        json!([DEFAULT_PATH, "HOSTNAME=0123456789ab", "HOME=/root"])
    );
    assert_eq!(p["cwd"], "/");
    assert_eq!(p["terminal"], false);
    assert_eq!(
        p["user"],
        json!({"uid": 0, "gid": 0, "additionalGids": [0, 10]})
    );
    for set in ["bounding", "effective", "permitted"] {
        assert_eq!(
            cap_set(&p["capabilities"][set]),
            cap_set(&json!(DEFAULT_CAPS)),
            "{set}"
        );
    }
    assert!(
        p["capabilities"].get("inheritable").is_none()
            && p["capabilities"].get("ambient").is_none()
    );
    assert!(
        p.get("rlimits")
            .is_none_or(|r| r.as_array().is_none_or(|a| a.is_empty())),
        "{p}"
    );
    assert!(p.get("oomScoreAdj").is_none());
    assert_eq!(p["noNewPrivileges"], false);
    assert_eq!(v["hostname"], "0123456789ab");
    assert!(v.get("domainname").is_none());
    assert_eq!(v["root"]["readonly"], false);

    let linux = &v["linux"];
    assert_eq!(linux["cgroupsPath"], "/berth/x");
    let ns: Vec<&str> = linux["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for t in ["pid", "ipc", "uts", "mount", "network"] {
        assert!(ns.contains(&t), "{ns:?}");
    }
    assert_eq!(
        ns.contains(&"cgroup"),
        cgroup_v2_host(),
        "private cgroupns on v2 hosts only"
    );
    assert!(!ns.contains(&"user") && !ns.contains(&"time"));
    for m in MASKED_PATHS {
        assert!(
            linux["maskedPaths"].as_array().unwrap().contains(&json!(m)),
            "{m}"
        );
    }
    assert_eq!(linux["readonlyPaths"], json!(READONLY_PATHS));
    assert_eq!(linux["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert!(linux.get("devices").is_none());
    assert_eq!(
        linux["resources"]["devices"][0],
        json!({"allow": false, "type": "a", "access": "rwm"})
    );

    assert_eq!(options(&v, "/proc"), ["nosuid", "noexec", "nodev"]);
    assert_eq!(
        options(&v, "/dev"),
        ["nosuid", "strictatime", "mode=755", "size=65536k"]
    );
    assert_eq!(
        options(&v, "/dev/pts"),
        [
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ]
    );
    assert_eq!(options(&v, "/sys"), ["nosuid", "noexec", "nodev", "ro"]);
    assert_eq!(find_mount(&v, "/sys/fs/cgroup").unwrap()["type"], "cgroup");
    assert!(options(&v, "/sys/fs/cgroup").contains(&"ro".to_string()));
    assert_eq!(options(&v, "/dev/mqueue"), ["nosuid", "noexec", "nodev"]);
    assert_eq!(
        options(&v, "/dev/shm"),
        ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
    );
    assert!(find_mount(&v, "/sbin/docker-init").is_none());
    assert!(
        find_mount(&v, "/etc/hosts").is_none(),
        "the init layer has /etc/hosts"
    );
}

#[test]
fn the_spec_passes_the_runtimes_checks() {
    let root = tempfile::tempdir().unwrap();
    let bundle = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let config = ContainerCreateBody {
        tty: Some(true),
        working_dir: Some("/srv/app".into()),
        domainname: Some("lan".into()),
        ..cmd(&["sh"])
    };
    let host = HostConfig {
        init: Some(true),
        memory: Some(64 << 20),
        tmpfs: Some([("/run".to_string(), String::new())].into()),
        ..Default::default()
    };
    let v = build_in(root.path(), &config, &host, NetworkSetup::Private).unwrap();
    std::fs::write(bundle.path().join("config.json"), v.to_string()).unwrap();
    berth_runtime::spec::load(bundle.path()).unwrap();
    // The working directory was made, inside the rootfs.
    assert!(root.path().join("srv/app").is_dir());
}

#[test]
fn env_user_cwd_and_tty() {
    let config = ContainerCreateBody {
        user: Some("app".into()),
        working_dir: Some("/tmp".into()),
        hostname: Some("h1".into()),
        domainname: Some("example.org".into()),
        tty: Some(true),
        env: Some(vec![
            DEFAULT_PATH.into(),
            "A=1".into(),
            "HOSTNAME=mine".into(),
            "TERM".into(),
            "B".into(),
        ]),
        ..cmd(&["sh"])
    };
    let v = spec(
        config,
        HostConfig {
            group_add: Some(vec!["wheel".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    let p = &v["process"];
    // The request's HOSTNAME wins; a name without "=" unsets (TERM) or is dropped (B).
    assert_eq!(
        p["env"],
        json!([DEFAULT_PATH, "HOSTNAME=mine", "A=1", "HOME=/home/app"])
    );
    assert_eq!(
        p["user"],
        json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 10]})
    );
    assert_eq!(p["cwd"], "/tmp");
    assert_eq!(p["terminal"], true);
    assert_eq!(v["hostname"], "h1");
    assert_eq!(v["domainname"], "example.org");

    let v = spec(
        ContainerCreateBody {
            tty: Some(true),
            ..cmd(&["sh"])
        },
        HostConfig::default(),
    )
    .unwrap();
    assert_eq!(
        v["process"]["env"],
        json!([
            DEFAULT_PATH,
            "HOSTNAME=0123456789ab",
            "TERM=xterm",
            "HOME=/root"
        ])
    );
    let e = spec(
        ContainerCreateBody {
            user: Some("ghost".into()),
            ..cmd(&["sh"])
        },
        HostConfig::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
    let e = spec(
        ContainerCreateBody {
            hostname: Some("h".repeat(65)),
            ..cmd(&["sh"])
        },
        HostConfig::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("is too long (maximum 64 bytes)"));
    let e = spec(
        ContainerCreateBody {
            cmd: None,
            ..cmd(&[])
        },
        HostConfig::default(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "no command specified");
}

#[test]
fn a_hostile_rootfs_is_not_read_outside() {
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        host_dir.path().join("passwd"),
        "evil:x:0:0::/evil:/bin/sh\n",
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(host_dir.path(), root.path().join("etc")).unwrap();
    let config = ContainerCreateBody {
        user: Some("evil".into()),
        ..cmd(&["sh"])
    };
    assert!(build_in(
        root.path(),
        &config,
        &HostConfig::default(),
        NetworkSetup::Private
    )
    .is_err());
    // Root needs no passwd file: HOME falls back to "/".
    let v = build_in(
        root.path(),
        &cmd(&["sh"]),
        &HostConfig::default(),
        NetworkSetup::Private,
    )
    .unwrap();
    assert!(v["process"]["env"]
        .as_array()
        .unwrap()
        .contains(&json!("HOME=/")));
    // A working directory through an escaping symlink is made inside the root.
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(host_dir.path(), root.path().join("work")).unwrap();
    let config = ContainerCreateBody {
        working_dir: Some("/work/sub".into()),
        ..cmd(&["sh"])
    };
    let _ = build_in(
        root.path(),
        &config,
        &HostConfig::default(),
        NetworkSetup::Private,
    );
    assert!(!host_dir.path().join("sub").exists());
}

#[test]
fn privileged_gets_the_bounding_set_and_no_confinement() {
    let host = HostConfig {
        privileged: Some(true),
        security_opt: Some(vec!["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}".into()]),
        ..Default::default()
    };
    let v = spec(cmd(&["true"]), host).unwrap();
    assert_eq!(
        cap_set(&v["process"]["capabilities"]["bounding"]),
        cap_set(&json!(bounding()))
    );
    let linux = &v["linux"];
    assert!(
        linux.get("seccomp").is_none()
            && linux.get("maskedPaths").is_none()
            && linux.get("readonlyPaths").is_none()
    );
    assert_eq!(
        linux["resources"]["devices"],
        json!([{"allow": true, "type": "a", "access": "rwm"}])
    );
    assert!(!options(&v, "/sys").contains(&"ro".to_string()));
    assert!(!options(&v, "/sys/fs/cgroup").contains(&"ro".to_string()));
}

#[test]
fn capabilities_and_seccomp_follow_each_other() {
    let host = HostConfig {
        cap_add: Some(vec!["sys_admin".into()]),
        cap_drop: Some(vec!["NET_RAW".into()]),
        ..Default::default()
    };
    let v = spec(cmd(&["true"]), host).unwrap();
    let caps = v["process"]["capabilities"]["bounding"].as_array().unwrap();
    assert!(caps.contains(&json!("CAP_SYS_ADMIN")) && !caps.contains(&json!("CAP_NET_RAW")));
    let rules = v["linux"]["seccomp"]["syscalls"].to_string();
    assert!(rules.contains("\"mount\"") && rules.contains("\"unshare\""));
    let e = spec(
        cmd(&["true"]),
        HostConfig {
            cap_add: Some(vec!["CAP_FOO".into()]),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "unknown capability: \"CAP_FOO\"");
}

#[test]
fn security_options() {
    let sec = |opts: &[&str]| {
        spec(
            cmd(&["true"]),
            HostConfig {
                security_opt: Some(opts.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
        )
    };
    let v = sec(&["no-new-privileges"]).unwrap();
    assert_eq!(v["process"]["noNewPrivileges"], true);
    assert_eq!(
        sec(&["no-new-privileges:true"]).unwrap()["process"]["noNewPrivileges"],
        true
    );
    assert_eq!(
        sec(&["no-new-privileges=false"]).unwrap()["process"]["noNewPrivileges"],
        false
    );
    assert!(sec(&["seccomp=unconfined"]).unwrap()["linux"]
        .get("seccomp")
        .is_none());
    assert_eq!(
        sec(&["seccomp=builtin"]).unwrap()["linux"]["seccomp"]["defaultAction"],
        "SCMP_ACT_ERRNO"
    );
    let v = sec(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#]).unwrap();
    assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
    let v = sec(&[
        "systempaths=unconfined",
        "apparmor=unconfined",
        "label=disable",
    ])
    .unwrap();
    assert!(v["linux"].get("maskedPaths").is_none() && v["linux"].get("readonlyPaths").is_none());
    assert!(
        !options(&sec(&["writable-cgroups=true"]).unwrap(), "/sys/fs/cgroup")
            .contains(&"ro".to_string())
    );
    for (opt, msg) in [
        ("apparmor=docker-default", "unsupported container option HostConfig.SecurityOpt \"apparmor=docker-default\": berth does not implement it yet"),
        ("label=type:svirt_t", "unsupported container option HostConfig.SecurityOpt \"label=type:svirt_t\""),
        ("seccomp=/etc/profile.json", "invalid seccomp profile"),
        ("seccomp={\"defaultAction\":\"SCMP_ACT_BOGUS\"}", "invalid seccomp profile"),
        ("no-new-privileges=maybe", "invalid --security-opt 2"),
        ("bogus", "invalid --security-opt 1"),
    ] {
        let e = sec(&[opt]).unwrap_err().to_string();
        assert!(e.starts_with(msg), "{opt}: {e}");
    }
    // HostConfig.MaskedPaths/ReadonlyPaths replace the defaults (an empty list: none).
    let v = spec(
        cmd(&["true"]),
        HostConfig {
            masked_paths: Some(vec!["/proc/x".into()]),
            readonly_paths: Some(vec![]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(v["linux"]["maskedPaths"], json!(["/proc/x"]));
    assert!(v["linux"].get("readonlyPaths").is_none());
}

#[test]
fn init_tmpfs_shm_and_readonly() {
    let host = HostConfig {
        init: Some(true),
        tmpfs: Some(
            [
                ("/run".to_string(), "size=1m,exec".to_string()),
                ("/tmp".to_string(), String::new()),
            ]
            .into(),
        ),
        shm_size: Some(128 << 20),
        readonly_rootfs: Some(true),
        ..Default::default()
    };
    let v = spec(cmd(&["sleep", "1"]), host).unwrap();
    assert_eq!(
        v["process"]["args"],
        json!(["/sbin/docker-init", "--", "sleep", "1"])
    );
    let init = find_mount(&v, "/sbin/docker-init").unwrap();
    assert_eq!(init["source"], "/usr/bin/tini-static");
    assert_eq!(init["options"], json!(["bind", "ro"]));
    assert_eq!(
        options(&v, "/run"),
        ["nosuid", "nodev", "rprivate", "size=1m", "exec"]
    );
    assert_eq!(
        options(&v, "/tmp"),
        ["noexec", "nosuid", "nodev", "rprivate"]
    );
    assert!(options(&v, "/dev/shm").contains(&format!("size={}", 128 << 20)));
    assert_eq!(v["root"]["readonly"], true);
    // Read-only rootfs: /sys and the cgroups ro, /proc, /dev… and tmpfs untouched.
    assert!(options(&v, "/sys/fs/cgroup").contains(&"ro".to_string()));
    assert!(!options(&v, "/dev/mqueue").contains(&"ro".to_string()));
    assert!(!options(&v, "/run").contains(&"ro".to_string()));

    // A tmpfs at /dev/shm replaces the standard one; IpcMode none drops it.
    let v = spec(
        cmd(&["true"]),
        HostConfig {
            tmpfs: Some([("/dev/shm".to_string(), "size=1m".to_string())].into()),
            ..Default::default()
        },
    )
    .unwrap();
    let shm: Vec<_> = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] == "/dev/shm")
        .collect();
    assert_eq!(shm.len(), 1);
    assert_eq!(shm[0]["source"], "tmpfs");
    let v = spec(
        cmd(&["true"]),
        HostConfig {
            ipc_mode: Some("none".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(find_mount(&v, "/dev/shm").is_none());

    for (host, msg) in [
        (
            HostConfig {
                tmpfs: Some([("run".to_string(), String::new())].into()),
                ..Default::default()
            },
            "mount path must be absolute",
        ),
        (
            HostConfig {
                tmpfs: Some([("/run".to_string(), "bogus".to_string())].into()),
                ..Default::default()
            },
            "invalid tmpfs option \"bogus\"",
        ),
        (
            HostConfig {
                shm_size: Some(-1),
                ..Default::default()
            },
            "SHM size can not be less than 0",
        ),
    ] {
        let e = spec(cmd(&["true"]), host).unwrap_err().to_string();
        assert!(e.contains(msg), "{e}");
    }
    // --init without a static init on the host.
    let root = rootfs();
    let caps = bounding();
    let ctx = SpecContext {
        container_id: ID,
        rootfs: root.path(),
        bounding_caps: &caps,
        cgroups_path: "/b",
        init_binary: None,
        network: NetworkSetup::Private,
        netns: None,
        etc_mounts: &[],
        user_mounts: &[],
    };
    let e = build(
        &cmd(&["true"]),
        &HostConfig {
            init: Some(true),
            ..Default::default()
        },
        &ctx,
    )
    .unwrap_err();
    assert!(e.to_string().contains("tini"), "{e}");
}

#[test]
fn resources_rlimits_and_sysctls() {
    let host = HostConfig {
        memory: Some(64 << 20),
        memory_swap: Some(-1),
        nano_cpus: Some(1_000_000_000),
        cpu_shares: Some(512),
        pids_limit: Some(10),
        cpuset_cpus: Some("0".into()),
        ulimits: Some(vec![ResourcesUlimits {
            name: Some("nofile".into()),
            soft: Some(100),
            hard: Some(200),
        }]),
        sysctls: Some([("net.core.somaxconn".to_string(), "1024".to_string())].into()),
        oom_score_adj: Some(100),
        ..Default::default()
    };
    let v = spec(cmd(&["true"]), host).unwrap();
    let r = &v["linux"]["resources"];
    assert_eq!(r["memory"], json!({"limit": 64 << 20, "swap": -1}));
    assert_eq!(
        r["cpu"],
        json!({"shares": 512, "quota": 100000, "period": 100000, "cpus": "0"})
    );
    assert_eq!(r["pids"]["limit"], 10);
    assert_eq!(
        v["process"]["rlimits"],
        json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}])
    );
    assert_eq!(v["process"]["oomScoreAdj"], 100);
    assert_eq!(v["linux"]["sysctl"]["net.core.somaxconn"], "1024");

    let root = rootfs();
    let v = build_in(
        root.path(),
        &cmd(&["true"]),
        &HostConfig::default(),
        NetworkSetup::Host,
    )
    .unwrap();
    let ns = v["linux"]["namespaces"].to_string();
    assert!(!ns.contains("network"), "{ns}");
    assert!(v["linux"]["sysctl"]
        .as_object()
        .is_none_or(|m| m.is_empty()));
    let host = HostConfig {
        sysctls: Some([("net.core.somaxconn".to_string(), "1".to_string())].into()),
        ..Default::default()
    };
    let e = build_in(root.path(), &cmd(&["true"]), &host, NetworkSetup::Host)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not allowed in host network namespace"), "{e}");

    for (host, msg) in [
        (
            HostConfig {
                memory: Some(1 << 20),
                ..Default::default()
            },
            "Minimum memory limit allowed is 6MB",
        ),
        (
            HostConfig {
                nano_cpus: Some(1),
                cpu_period: Some(100000),
                ..Default::default()
            },
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
        (
            HostConfig {
                ulimits: Some(vec![ResourcesUlimits {
                    name: Some("bogus".into()),
                    soft: Some(1),
                    hard: Some(1),
                }]),
                ..Default::default()
            },
            "invalid ulimit type: bogus",
        ),
        (
            HostConfig {
                oom_score_adj: Some(1001),
                ..Default::default()
            },
            "Invalid value 1001, range for oom score adj is [-1000, 1000]",
        ),
        (
            HostConfig {
                pid_mode: Some("host".into()),
                ..Default::default()
            },
            "HostConfig.PidMode=host",
        ),
    ] {
        let e = spec(cmd(&["true"]), host).unwrap_err().to_string();
        assert!(e.contains(msg), "{e}");
    }
}

#[test]
fn devices_and_cgroupns() {
    let host = HostConfig {
        devices: Some(vec![DeviceMapping {
            path_on_host: Some("/dev/null".into()),
            path_in_container: Some("/dev/mynull".into()),
            cgroup_permissions: Some("rw".into()),
        }]),
        cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
        ..Default::default()
    };
    let v = spec(cmd(&["true"]), host).unwrap();
    assert_eq!(v["linux"]["devices"][0]["path"], "/dev/mynull");
    assert_eq!(v["linux"]["devices"][0]["major"], 1);
    assert!(v["linux"]["resources"]["devices"]
        .as_array()
        .unwrap()
        .contains(&json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"})));
    assert!(v["linux"]["namespaces"].to_string().contains("cgroup"));
    let v = spec(
        cmd(&["true"]),
        HostConfig {
            cgroupns_mode: Some(HostConfigCgroupnsModeEnum::HOST),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!v["linux"]["namespaces"].to_string().contains("cgroup"));
}

#[test]
fn hostname_choice() {
    let host_net = HostConfig {
        network_mode: Some("host".into()),
        ..Default::default()
    };
    let mine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        container_hostname(&ContainerCreateBody::default(), &host_net, ID),
        mine.trim()
    );
    assert_eq!(
        container_hostname(&ContainerCreateBody::default(), &HostConfig::default(), ID),
        "0123456789ab"
    );
    let named = ContainerCreateBody {
        hostname: Some("web".into()),
        ..Default::default()
    };
    assert_eq!(container_hostname(&named, &host_net, ID), "web");
}

#[test]
fn create_time_validation() {
    let ok = HostConfig {
        memory: Some(64 << 20),
        tmpfs: Some([("/run".to_string(), "size=1m".to_string())].into()),
        ..Default::default()
    };
    validate_create(&cmd(&["true"]), &ok, &bounding()).unwrap();
    for (host, msg) in [
        (
            HostConfig {
                memory: Some(1 << 20),
                ..Default::default()
            },
            "Minimum memory limit allowed is 6MB",
        ),
        (
            HostConfig {
                cap_add: Some(vec!["foo".into()]),
                ..Default::default()
            },
            "unknown capability: \"CAP_FOO\"",
        ),
        (
            HostConfig {
                security_opt: Some(vec!["apparmor=x".into()]),
                ..Default::default()
            },
            "SecurityOpt",
        ),
        (
            HostConfig {
                sysctls: Some([("vm.swappiness".to_string(), "1".to_string())].into()),
                ..Default::default()
            },
            "vm.swappiness",
        ),
        (
            HostConfig {
                network_mode: Some("container:".into()),
                ..Default::default()
            },
            "a container name or id is needed",
        ),
        (
            HostConfig {
                tmpfs: Some([("x".to_string(), String::new())].into()),
                ..Default::default()
            },
            "must be absolute",
        ),
    ] {
        let e = validate_create(&cmd(&["true"]), &host, &bounding())
            .unwrap_err()
            .to_string();
        assert!(e.contains(msg), "{e}");
    }
}
