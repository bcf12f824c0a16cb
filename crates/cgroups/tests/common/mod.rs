//! Helpers for the root integration tests: unique cgroup names, a cleanup guard, gated children.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_cgroups::CgroupManager;

static N: AtomicUsize = AtomicUsize::new(0);

/// Fail (never skip) when a prerequisite is missing.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests need root (run cargo test as root)"
    );
}

pub fn require_file(path: &str, what: &str) {
    assert!(Path::new(path).exists(), "{path} is missing: {what}");
}

/// `/berth-test-<pid>-<n>/<leaf>`: the top level holds "berth" so leakcheck finds leftovers.
pub fn unique_path(leaf: &str) -> PathBuf {
    let n = N.fetch_add(1, Ordering::SeqCst);
    PathBuf::from(format!("/berth-test-{}-{n}/{leaf}", std::process::id()))
}

/// Kills the cgroup's processes and removes it on drop, even when the test panics.
pub struct Guard {
    pub cg: Box<dyn CgroupManager>,
    pub children: Vec<Child>,
}

impl Guard {
    pub fn new(cg: Box<dyn CgroupManager>) -> Guard {
        Guard {
            cg,
            children: Vec::new(),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
        }
        let _ = self.cg.kill_all(libc::SIGKILL);
        for c in &mut self.children {
            let _ = c.wait();
        }
        if let Err(e) = self.cg.remove() {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Start `sh -c 'read _; <script>'`: it blocks until `release` so it can be moved into the
/// cgroup before it does anything.
pub fn gated(script: &str) -> Child {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("read _; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn /bin/sh (install dash)")
}

pub fn release(c: &mut Child) {
    c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
}

/// Wait for the child with a timeout.
pub fn wait_timeout(c: &mut Child, t: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return Some(s);
        }
        if start.elapsed() > t {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The directory of this cgroup in the v1 hierarchy mounted at /sys/fs/cgroup/<h>.
pub fn dir_in(cg: &dyn CgroupManager, h: &str) -> PathBuf {
    let prefix = PathBuf::from(format!("/sys/fs/cgroup/{h}"));
    cg.paths()
        .into_iter()
        .find(|p| p.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {h} path in {:?}", cg.paths()))
}
