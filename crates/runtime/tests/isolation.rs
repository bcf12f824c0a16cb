//! What a container sees: its own PID 1, hostname, network, mounts, users and capabilities.
//! Root tests on a busybox-static rootfs, driven through the `berth-runtime` binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::*;
use serde_json::json;

/// Gives the process exactly `caps` in every set.
fn set_caps(spec: &mut serde_json::Value, caps: &[&str]) {
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        spec["process"]["capabilities"][set] = json!(caps);
    }
}

#[test]
fn inconsistent_capability_sets_are_refused_by_name() {
    let rt = Runtime::new();
    let out =
        sh(
            &rt,
            "true",
            |s| {
                s["process"]["capabilities"] =
                    json!({"bounding": ["CAP_KILL"], "inheritable": ["CAP_CHOWN"]})
            },
        );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "process.capabilities.inheritable: CAP_CHOWN not in process.capabilities.bounding"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_process_is_pid_1_with_its_own_hostname() {
    let rt = Runtime::new();
    let out = sh(&rt, "echo $$; hostname", |_| {});
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1\nberth-box\n");
}

#[test]
fn a_new_network_namespace_has_only_lo() {
    let rt = Runtime::new();
    let out = sh(&rt, "ls /sys/class/net", |_| {});
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["lo"],
        "{}",
        stderr(&out)
    );
}

#[test]
fn proc_shows_only_the_containers_processes() {
    let rt = Runtime::new();
    // The glob is expanded by the shell itself, so no second process exists.
    let out = sh(&rt, "echo /proc/[0-9]*", |_| {});
    assert_eq!(stdout(&out), "/proc/1\n", "{}", stderr(&out));
}

#[test]
fn a_mount_made_inside_is_not_visible_on_the_host() {
    let rt = Runtime::new();
    let marker = unique_name("mark");
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        &format!("mount -t tmpfs {marker} /tmp && echo mounted && sleep 30"),
    ]);
    bundle.edit_json(|s| set_caps(s, &["CAP_SYS_ADMIN"]));
    let id = rt.id("mnt");
    let mut child = rt
        .cmd(&["run", "--bundle", bundle.path().to_str().unwrap(), &id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "mounted\n");
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host_mounts.contains(&marker),
        "the container's mount leaked to the host"
    );
    rt.ok(&["kill", &id, "KILL"]);
    child.wait().unwrap();
}

#[test]
fn a_read_only_rootfs_refuses_writes() {
    let rt = Runtime::new();
    let out = sh(&rt, "touch /newfile", |s| {
        s["root"]["readonly"] = json!(true)
    });
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    let out = sh(&rt, "touch /newfile && echo written", |s| {
        s["root"]["readonly"] = json!(false)
    });
    assert_eq!(stdout(&out), "written\n", "{}", stderr(&out));
}

#[test]
fn user_and_groups_switch() {
    let rt = Runtime::new();
    let out = sh(&rt, "id -u; id -g; id -G", |s| {
        s["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]})
    });
    assert_eq!(stdout(&out), "1000\n1000\n1000 2000\n", "{}", stderr(&out));
}

#[test]
fn net_admin_decides_whether_lo_can_get_an_address() {
    let rt = Runtime::new();
    let script = "ip addr add 10.200.0.1/32 dev lo && echo added";
    let without = sh(&rt, script, |_| {});
    assert!(!without.status.success());
    assert!(
        stderr(&without).contains("Operation not permitted"),
        "{}",
        stderr(&without)
    );
    let with = sh(&rt, script, |s| set_caps(s, &["CAP_NET_ADMIN"]));
    assert_eq!(stdout(&with), "added\n", "{}", stderr(&with));
}

#[test]
fn capabilities_outside_the_bounding_set_are_gone() {
    let rt = Runtime::new();
    let out = sh(&rt, "grep -E 'Cap(Bnd|Eff)' /proc/self/status", |s| {
        s["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "inheritable": []
        })
    });
    // CAP_CHOWN = bit 0, CAP_KILL = bit 5; exec gives uid 0 its whole bounding set.
    assert_eq!(
        stdout(&out),
        "CapEff:\t0000000000000021\nCapBnd:\t0000000000000021\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn seccomp_denies_a_listed_syscall() {
    let rt = Runtime::new();
    let out = sh(
        &rt,
        "mkdir /tmp/denied || echo refused; touch /tmp/allowed && echo touched",
        |s| {
            s["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
            });
            s["root"]["readonly"] = json!(false);
        },
    );
    assert_eq!(stdout(&out), "refused\ntouched\n", "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn masked_and_read_only_paths_are_honoured() {
    let rt = Runtime::new();
    let out = sh(
        &rt,
        "wc -c < /proc/keys; ls /proc/acpi | wc -l; echo x > /proc/sys/kernel/hostname || echo ro",
        |_| {},
    );
    assert_eq!(stdout(&out), "0\n0\nro\n", "{}", stderr(&out));
}

#[test]
fn sysctl_oom_score_and_cwd_are_applied() {
    let rt = Runtime::new();
    let out = sh(
        &rt,
        "cat /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj; pwd",
        |s| {
            s["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
            s["process"]["oomScoreAdj"] = json!(500);
            s["process"]["cwd"] = json!("/tmp/work");
            s["root"]["readonly"] = json!(false);
        },
    );
    assert_eq!(stdout(&out), "1\n500\n/tmp/work\n", "{}", stderr(&out));
}

#[test]
fn a_symlinked_mount_destination_stays_inside_the_rootfs() {
    let rt = Runtime::new();
    let host_dir = tempfile::Builder::new()
        .prefix("berth-target-")
        .tempdir()
        .unwrap();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "touch /evil/planted && grep -c ' /tmp/berth-target' /proc/mounts",
    ]);
    // In the image, /evil points at the host directory's path; inside the rootfs that path is
    // the image's own /tmp/berth-target-…, which is where the tmpfs must land.
    let twin = bundle
        .rootfs()
        .join(host_dir.path().strip_prefix("/").unwrap());
    std::fs::create_dir_all(&twin).unwrap();
    std::os::unix::fs::symlink(host_dir.path(), bundle.rootfs().join("evil")).unwrap();
    bundle.edit_json(|s| {
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
        s["root"]["readonly"] = json!(false);
    });
    let out = rt.run(&bundle, &rt.id("sym"));
    assert_eq!(stdout(&out), "1\n", "{}", stderr(&out));
    assert!(
        !host_dir.path().join("planted").exists(),
        "the mount escaped onto the host"
    );
    assert_eq!(std::fs::read_dir(host_dir.path()).unwrap().count(), 0);
}

#[test]
fn a_user_namespace_maps_ids() {
    let rt = Runtime::new();
    let out = sh(&rt, "cat /proc/self/uid_map; id -u", |s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    let text = stdout(&out);
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields, ["0", "200000", "65536", "0"], "{}", stderr(&out));
}

#[test]
fn a_network_namespace_path_is_joined() {
    let rt = Runtime::new();
    berth_testutil::require_tool("ip", "iproute2");
    let ns = unique_name("ns");
    struct NetnsGuard(String);
    impl Drop for NetnsGuard {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    assert!(std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap()
        .success());
    let _guard = NetnsGuard(ns.clone());
    let host_inode = std::fs::metadata(format!("/run/netns/{ns}"))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    let out = sh(&rt, "stat -L -c %i /proc/self/ns/net", |s| {
        for n in s["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = json!(format!("/run/netns/{ns}"));
            }
        }
    });
    assert_eq!(
        stdout(&out).trim(),
        host_inode.to_string(),
        "{}",
        stderr(&out)
    );
}
