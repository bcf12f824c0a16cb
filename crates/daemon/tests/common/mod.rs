//! End-to-end harness: a berthd of its own (temp data root, exec root, socket and cgroup
//! parent), the real docker CLI and berth's CLI pointed at it, and a busybox image imported
//! from Debian's busybox-static. Everything is torn down on drop, also after a failure.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DOCKER: &str = "/usr/local/bin/docker";
pub const IMAGE: &str = "berth-busybox:test";

pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub cgroup_parent: String,
    child: Option<Child>,
    log: PathBuf,
    data_root: PathBuf,
    storage_driver: Option<String>,
    /// More berthd flags.
    pub extra_args: Vec<String>,
    pub net: TestNet,
}

/// The host objects a test daemon's default network uses, unique per daemon so that tests
/// run side by side: its bridge (`berth…`, so leakcheck sees it), nft table and subnets.
pub struct TestNet {
    pub bridge: String,
    pub table: String,
    /// The default bridge's gateway/prefix (`--bip`).
    pub bip: String,
    /// The first three octets of `bip`.
    pub prefix24: String,
    /// `--default-address-pool` for user networks.
    pub pool: String,
}

impl TestNet {
    fn unique() -> TestNet {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let bridge = format!("berth{}x{n}", base36(pid));
        let prefix24 = format!("10.{}.{}", 210 + pid % 40, n % 256);
        TestNet {
            table: format!("berth_{bridge}"),
            bip: format!("{prefix24}.1/24"),
            pool: format!("base=10.{}.{}.0/24,size=27", 250 + pid % 5, n % 256),
            prefix24,
            bridge,
        }
    }

    fn args(&self) -> [String; 6] {
        [
            "--bridge".into(),
            self.bridge.clone(),
            "--bip".into(),
            self.bip.clone(),
            "--default-address-pool".into(),
            self.pool.clone(),
        ]
    }
}

pub fn base36(mut n: u32) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(std::char::from_digit(n % 36, 36).unwrap());
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

fn target_dir() -> PathBuf {
    // tests/…/deps/<test binary> → target/<profile>
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// A binary of the workspace, built by `cargo test --workspace` (or `cargo build`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl TestDaemon {
    pub fn start() -> TestDaemon {
        Self::start_with(None, None)
    }

    /// A daemon with the given storage driver and data root (default: one in its temp dir).
    pub fn start_with(storage_driver: Option<&str>, data_root: Option<&Path>) -> TestDaemon {
        berth_testutil::require_root();
        assert!(
            Path::new(DOCKER).is_file(),
            "{DOCKER} (the docker CLI) is required by the end-to-end tests"
        );
        workspace_bin("berth-shim");
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("berth.sock");
        let cgroup_parent = berth_testutil::unique_name("e2e");
        let log = dir.path().join("berthd.log");
        let data_root = data_root.map_or_else(|| dir.path().join("root"), Path::to_path_buf);
        let mut d = TestDaemon {
            dir,
            socket,
            cgroup_parent,
            child: None,
            log,
            data_root,
            storage_driver: storage_driver.map(str::to_string),
            extra_args: Vec::new(),
            net: TestNet::unique(),
        };
        d.spawn();
        d
    }

    /// A daemon started with more flags.
    pub fn start_with_args(args: &[&str]) -> TestDaemon {
        let mut d = Self::start();
        d.extra_args = args.iter().map(|a| a.to_string()).collect();
        d.kill9_and_restart();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berthd"));
        if let Some(driver) = &self.storage_driver {
            cmd.arg("--storage-driver").arg(driver);
        }
        let child = cmd
            .args(self.net.args())
            .args(&self.extra_args)
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(self.dir.path().join("exec"))
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .env("BERTHD_LOG", "berth_daemon=debug,berthd=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("berthd exited ({status}):\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not listen:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// kill -9 berthd, then start a new one on the same roots (live-restore).
    pub fn kill9_and_restart(&mut self) {
        self.kill9_and_restart_after(Duration::ZERO);
    }

    /// kill -9 berthd, wait `down`, start a new one.
    pub fn kill9_and_restart_after(&mut self, down: Duration) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        std::thread::sleep(down);
        self.spawn();
    }

    /// kill -9 berthd (the containers keep running); `respawn` starts the next one.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn respawn(&mut self) {
        self.spawn();
    }

    /// Stops berthd as an init system would (SIGTERM) and waits for it.
    pub fn stop_gracefully(&mut self) {
        let mut child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().unwrap();
    }

    pub fn berthd_pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        cmd
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().expect("run docker")
    }

    pub fn berth_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(workspace_bin("berth"));
        cmd.args(args)
            .env("BERTH_HOST", self.host())
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null());
        cmd
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_cmd(args).output().expect("run berth")
    }

    /// Imports a busybox rootfs as `tag` through the docker CLI.
    pub fn import_busybox(&self, tag: &str) {
        let tar = self.dir.path().join("busybox.tar");
        if !tar.exists() {
            berth_testutil::require_tool("busybox", "busybox-static");
            let st = Command::new(repo_root().join("scripts/busybox-rootfs.sh"))
                .arg(&tar)
                .status()
                .unwrap();
            assert!(st.success(), "scripts/busybox-rootfs.sh failed");
        }
        let out = self.docker(&["import", tar.to_str().unwrap(), tag]);
        assert_ok(&out, "docker import");
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            // Remove every container through the API, so shims, mounts and cgroups go.
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
            let _ = self.docker(&["network", "prune", "-f"]);
            let mut child = self.child.take().unwrap();
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
        // Whatever is still there (a failed test): shims, mounts, cgroups.
        self.cleanup_under(&self.data_root.to_string_lossy());
        self.cleanup_under(&self.dir.path().to_string_lossy());
        remove_cgroups(&self.cgroup_parent);
        self.remove_network_objects();
    }
}

impl TestDaemon {
    /// What a berthd that died mid-test left of its networks: the default bridge, the
    /// bridges of its user networks (from their records), its nft table.
    fn remove_network_objects(&self) {
        let mut bridges = vec![self.net.bridge.clone()];
        let records = self.data_root.join("network/networks");
        for entry in std::fs::read_dir(records).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if let Some(b) = v["bridge"].as_str().filter(|b| b.starts_with("berth")) {
                bridges.push(b.to_string());
            }
        }
        for b in bridges {
            let _ = Command::new("ip")
                .args(["link", "delete", &b])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.net.table])
            .stderr(Stdio::null())
            .status();
    }
}

impl TestDaemon {
    fn cleanup_under(&self, root: &str) {
        let root = root.to_string();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&root) {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut targets: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for t in targets {
            let c = std::ffi::CString::new(t).unwrap();
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Removes `/sys/fs/cgroup/<hierarchy>/<parent>` and its children, deepest first.
fn remove_cgroups(parent: &str) {
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.flatten().map(|e| e.path()));
    }
    for root in roots {
        let dir = root.join(parent);
        if !dir.is_dir() {
            continue;
        }
        let mut dirs = vec![];
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            if let Ok(entries) = std::fs::read_dir(&d) {
                stack.extend(
                    entries
                        .flatten()
                        .filter(|e| e.path().is_dir())
                        .map(|e| e.path()),
                );
            }
            dirs.push(d);
        }
        for d in dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

impl TestDaemon {
    /// Runs `berth ARGS` with `input` on its standard input (answers to prompts).
    pub fn berth_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .berth_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

/// The command failed with exit `code` and `needle` in its stderr.
#[track_caller]
pub fn assert_fails_with(out: &Output, code: i32, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    assert!(stderr(out).contains(needle), "stderr: {}", stderr(out));
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[track_caller]
pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
