//! Drives `berth-runtime` as a user would, with a temp state root and a cleanup guard.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub use berth_testutil::{require_root, unique_name, Bundle};

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

/// A state root of its own; on drop, force-deletes the containers it made and removes the root.
pub struct Runtime {
    pub root: tempfile::TempDir,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Runtime {
    pub fn new() -> Runtime {
        require_root();
        Runtime {
            root: tempfile::Builder::new()
                .prefix("berth-rt-")
                .tempdir()
                .unwrap(),
            ids: Default::default(),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root.path()).args(args);
        c
    }

    /// A fresh id this runtime will clean up.
    pub fn id(&self, prefix: &str) -> String {
        let id = unique_name(prefix);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    pub fn run(&self, bundle: &Bundle, id: &str) -> Output {
        capture(self.cmd(&["run", "--bundle", bundle.path().to_str().unwrap(), id]))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = capture(self.cmd(args));
        assert!(
            out.status.success(),
            "berth-runtime {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn status(&self, id: &str) -> String {
        let state: serde_json::Value = serde_json::from_str(&self.ok(&["state", id])).unwrap();
        state["status"].as_str().unwrap().to_string()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self
                .cmd(&["delete", "--force", id])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `cmd` with stdout and stderr going to files, not pipes: a created container inherits
/// them (as with runc), so a pipe would stay open as long as the container lives.
pub fn capture(mut cmd: Command) -> Output {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .status()
        .unwrap();
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut buf = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut buf).unwrap();
        buf
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `sh -c script` in a default busybox bundle edited by `edit`; returns the output.
pub fn sh(rt: &Runtime, script: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Output {
    let mut bundle = Bundle::busybox(&["sh", "-c", script]);
    bundle.edit_json(edit);
    rt.run(&bundle, &rt.id("t"))
}

/// The container's cgroup directory in one v1 hierarchy, for checks from the host.
pub fn v1_cgroup_dir(controller: &str, cgroups_path: &str) -> std::path::PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(cgroups_path.trim_start_matches('/'))
}
