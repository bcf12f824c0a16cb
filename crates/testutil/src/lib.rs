//! Helpers for berth's integration tests.
//!
//! Tests run as root on a busybox-static rootfs. A missing tool is a failure that names the Debian
//! package to install, never a silent skip.

pub mod loopfs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use oci_spec::runtime::Spec;

/// Panics with an install hint unless `tool` is on PATH.
pub fn require_tool(tool: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{tool}` is required by this test: apt-get install {debian_package}");
}

/// Panics unless the test runs as root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test needs root (namespaces, mounts, cgroups): run the suite as root");
    }
}

/// A name unique to this process and call, carrying "berth" so leakcheck finds leftovers.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "berth-{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Fills `rootfs` with busybox-static: /bin/busybox, a symlink per applet, and the usual
/// top-level directories and /etc files.
pub fn populate_busybox_rootfs(rootfs: &Path) {
    let busybox = require_tool("busybox", "busybox-static");
    for dir in [
        "bin", "dev", "etc", "proc", "sys", "tmp", "root", "home", "var", "run",
    ] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::copy(&busybox, rootfs.join("bin/busybox")).unwrap();
    let out = Command::new(&busybox).arg("--list").output().unwrap();
    assert!(out.status.success(), "busybox --list failed");
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet == "busybox" {
            continue;
        }
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nextra:x:2000:\n",
    )
    .unwrap();
}

/// A bundle directory (config.json + busybox rootfs) in its own temp dir, removed on drop.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub spec: Spec,
}

impl Bundle {
    /// A bundle whose spec is the OCI default (what `runc spec` makes: new pid, net, ipc, uts and
    /// mount namespaces, the standard mounts, masked and read-only paths) running `args`.
    pub fn busybox(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-bundle-")
            .tempdir()
            .unwrap();
        populate_busybox_rootfs(&dir.path().join("rootfs"));
        let mut spec = Spec::default();
        let mut process = spec.process().clone().unwrap();
        process.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
        process.set_terminal(Some(false));
        spec.set_process(Some(process));
        spec.set_hostname(Some("berth-box".into()));
        let bundle = Bundle { dir, spec };
        bundle.save();
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Edits the spec and writes config.json again.
    pub fn edit(&mut self, f: impl FnOnce(&mut Spec)) {
        f(&mut self.spec);
        self.save();
    }

    /// Edits the spec as JSON (terser than oci-spec's builders) and writes config.json again.
    pub fn edit_json(&mut self, f: impl FnOnce(&mut serde_json::Value)) {
        let mut value = serde_json::to_value(&self.spec).unwrap();
        f(&mut value);
        self.spec = serde_json::from_value(value).expect("the edited spec must stay valid");
        self.save();
    }

    pub fn save(&self) {
        let json = serde_json::to_string_pretty(&self.spec).unwrap();
        std::fs::write(self.dir.path().join("config.json"), json).unwrap();
    }
}
