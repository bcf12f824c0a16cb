//! berth-shim end to end: a real container under the builtin runtime or runc, its json-file log,
//! its shim.json, reaping, signals, OOM kills, a pty. Needs root.
//!
//! Every test owns a [`Run`] guard: dropping it kills a shim that is still running, force-deletes
//! the container and removes its cgroup (`/<id>`, named "berth-…" so leakcheck sees leftovers),
//! the state directory, the runtime root and the bundle.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_runtime::builtin::Builtin;
use berth_runtime::external::External;
use berth_runtime::shim::{time, ShimState, ShimStatus};
use berth_runtime::OciRuntime;
use berth_testutil::{require_root, unique_name, Bundle};
use serde_json::{json, Value};

const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");
const RUNC: &str = "/usr/sbin/runc";
const TIMEOUT: Duration = Duration::from_secs(30);
const MIB: i64 = 1024 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rt {
    Builtin,
    Runc,
}

/// One container and its shim, cleaned up on drop.
struct Run {
    id: String,
    rt: Rt,
    bundle: Bundle,
    state_dir: tempfile::TempDir,
    runtime_root: tempfile::TempDir,
    /// The shim when it is our child.
    child: Option<Child>,
    /// The shim when it was started through a shell that has exited since.
    orphan: Option<i32>,
}

impl Run {
    fn new(prefix: &str, rt: Rt, args: &[&str]) -> Run {
        require_root();
        if rt == Rt::Runc {
            assert!(
                Path::new(RUNC).is_file(),
                "{RUNC} is required by this test: apt-get install runc"
            );
        }
        let id = unique_name(prefix);
        let mut bundle = Bundle::busybox(args);
        let cgroup = format!("/{id}");
        edit_json(&mut bundle, |s| s["linux"]["cgroupsPath"] = json!(cgroup));
        let tmp = |p: &str| tempfile::Builder::new().prefix(p).tempdir().unwrap();
        Run {
            id,
            rt,
            bundle,
            state_dir: tmp("berth-shim-state-"),
            runtime_root: tmp("berth-shim-rt-"),
            child: None,
            orphan: None,
        }
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--id".into(),
            self.id.clone(),
            "--bundle".into(),
            self.bundle.path().display().to_string(),
            "--state-dir".into(),
            self.state_dir.path().display().to_string(),
            "--runtime-root".into(),
            self.runtime_root.path().display().to_string(),
        ];
        if self.rt == Rt::Runc {
            args.extend(["--runtime".into(), RUNC.into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Spawns the shim as our child and returns the init PID it prints once the container runs.
    fn spawn(&mut self, extra: &[&str]) -> i32 {
        let mut child = Command::new(SHIM)
            .args(self.args(extra))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        // The shim prints the PID, then detaches its stdio: EOF follows.
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.child = Some(child);
        let pid = line.trim().parse().unwrap_or(0);
        if pid == 0 {
            let (code, stderr) = self.wait_child();
            panic!("the shim did not start the container (exit {code}): {stderr}");
        }
        pid
    }

    /// Waits for the shim (our child) to exit: its exit code and stderr.
    fn wait_child(&mut self) -> (i32, String) {
        let child = self.child.as_mut().expect("the shim was spawned");
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the shim did not exit in time");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            e.read_to_string(&mut stderr).unwrap();
        }
        self.child = None;
        (status.code().unwrap_or(-1), stderr)
    }

    /// Runs the shim to its end and returns the final state.
    fn run(&mut self, extra: &[&str]) -> ShimState {
        self.spawn(extra);
        let (code, stderr) = self.wait_child();
        assert_eq!(code, 0, "shim failed: {stderr}");
        let state = self.state().expect("shim.json written");
        assert_eq!(state.status, ShimStatus::Exited);
        assert!(gone(state.shim_pid), "the shim process is still there");
        state
    }

    fn state(&self) -> Option<ShimState> {
        ShimState::load(self.state_dir.path()).ok()
    }

    fn log_path(&self) -> PathBuf {
        self.state_dir.path().join(format!("{}-json.log", self.id))
    }

    /// The log's entries as (log, stream), after checking each line is a complete entry.
    fn log(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines()
            .map(|line| {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("log line {line:?} is not JSON: {e}"));
                let time = v["time"].as_str().expect("time is a string");
                assert!(time.ends_with('Z'), "{time}");
                assert!(time::parse(time).is_some(), "time {time:?} does not parse");
                assert_eq!(v.as_object().unwrap().len(), 3, "{line}");
                (
                    v["log"].as_str().expect("log").to_string(),
                    v["stream"].as_str().expect("stream").to_string(),
                )
            })
            .collect()
    }

    fn runtime(&self) -> Box<dyn OciRuntime> {
        match self.rt {
            Rt::Builtin => Box::new(Builtin::new(self.runtime_root.path())),
            Rt::Runc => Box::new(External::new(RUNC, self.runtime_root.path())),
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.orphan.filter(|&p| is_shim(p)) {
            // SAFETY: plain kill(2) of the shim we started, checked by its command line.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait_until(|| gone(pid));
        }
        if let Some(pid) = self.orphan {
            // SAFETY: reaping the orphaned shim, re-parented to us (a subreaper), if it is ours.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        }
        if let Some(state) = self.state() {
            if state.status == ShimStatus::Running && alive(state.shim_pid) {
                // SAFETY: plain kill(2) of the shim we started.
                unsafe { libc::kill(state.shim_pid, libc::SIGKILL) };
                wait_until(|| gone(state.shim_pid));
            }
        }
        let _ = self.runtime().delete(&self.id, true);
        if let Ok(cg) = berth_cgroups::open(Path::new(&format!("/{}", self.id))) {
            let _ = cg.remove();
        }
    }
}

/// Edits the bundle's spec as JSON.
fn edit_json(bundle: &mut Bundle, f: impl FnOnce(&mut Value)) {
    let mut v = serde_json::to_value(&bundle.spec).unwrap();
    f(&mut v);
    let spec = serde_json::from_value(v).unwrap();
    bundle.edit(|s| *s = spec);
}

/// Drops the pid namespace, so that signals reach the init as any other process.
fn without_pid_namespace(bundle: &mut Bundle) {
    edit_json(bundle, |s| {
        let namespaces = s["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|n| n["type"] != "pid");
    });
}

fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn alive(pid: i32) -> bool {
    pid > 0 && matches!(proc_state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// `pid` is still one of our berth-shim processes (and not a recycled PID).
fn is_shim(pid: i32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    alive(pid) && cmdline.starts_with(SHIM.as_bytes())
}

fn gone(pid: i32) -> bool {
    !alive(pid)
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn strings(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn output_and_exit_code(rt: Rt) {
    let mut run = Run::new(
        "shim-echo",
        rt,
        &["sh", "-c", "echo out; echo err >&2; printf partial; exit 3"],
    );
    let state = run.run(&[]);
    assert_eq!(state.exit_code, Some(3), "{state:?}");
    assert!(!state.oom_killed);
    assert!(state.pid > 0);
    assert_eq!(state.error, "");
    let started = time::parse(state.started_at.as_deref().unwrap()).unwrap();
    let finished = time::parse(state.finished_at.as_deref().unwrap()).unwrap();
    assert!(started <= finished, "{state:?}");
    let mut log = run.log();
    // stdout and stderr are separate pipes: their relative order is not fixed.
    log.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        log,
        strings(&[
            ("err\n", "stderr"),
            ("out\n", "stdout"),
            ("partial", "stdout")
        ])
    );
    // The container is gone from the runtime.
    assert!(run.runtime().state(&run.id).is_err());
}

#[test]
fn output_is_logged_and_the_exit_code_recorded() {
    output_and_exit_code(Rt::Builtin);
}

#[test]
fn runc_output_is_logged_and_the_exit_code_recorded() {
    output_and_exit_code(Rt::Runc);
}

#[test]
fn the_shim_outlives_its_parent() {
    let mut run = Run::new(
        "shim-orphan",
        Rt::Builtin,
        &["sh", "-c", "sleep 1; echo late"],
    );
    // The orphaned shim is re-parented to us rather than to the host's init, so that the test
    // can reap it.
    // SAFETY: prctl with integer arguments.
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
    let quoted: Vec<String> = run.args(&[]).iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "{SHIM} {} >/dev/null 2>&1 & echo $!; exit 0",
        quoted.join(" ")
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success());
    let shim_pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    run.orphan = Some(shim_pid);
    // The parent is gone while the container still sleeps.
    assert!(
        !matches!(run.state(), Some(s) if s.status == ShimStatus::Exited),
        "{:?}",
        run.state()
    );
    assert!(
        wait_until(|| run.state().is_some()),
        "the shim never wrote its state"
    );
    let running = run.state().unwrap();
    // Its parent is gone; a hangup like the one a closing terminal sends must not stop it.
    // SAFETY: plain kill(2).
    unsafe { libc::kill(running.shim_pid, libc::SIGHUP) };
    assert!(
        wait_until(|| run.state().is_some_and(|s| s.status == ShimStatus::Exited)),
        "the shim never recorded the exit: {:?}",
        run.state()
    );
    let state = run.state().unwrap();
    assert_eq!(state.exit_code, Some(0), "{state:?}");
    assert_eq!(state.shim_pid, shim_pid);
    assert!(wait_until(|| gone(state.shim_pid)), "the shim did not exit");
    let mut status = 0;
    // SAFETY: the shim is our child now; status is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(shim_pid, &mut status, 0) }, shim_pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{status:#x}"
    );
    run.orphan = None;
    assert_eq!(run.log(), strings(&[("late\n", "stdout")]));
}

#[test]
fn a_signal_that_kills_the_init_is_recorded_as_128_plus_it() {
    let mut run = Run::new("shim-kill", Rt::Builtin, &["sleep", "100"]);
    without_pid_namespace(&mut run.bundle);
    let pid = run.spawn(&[]);
    assert!(alive(pid));
    // SAFETY: the container's init, found through the shim.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let (code, stderr) = run.wait_child();
    assert_eq!(code, 0, "{stderr}");
    let state = run.state().unwrap();
    assert_eq!(state.exit_code, Some(137), "{state:?}");
    assert_eq!(state.pid, pid);
    assert!(!state.oom_killed);
}

#[test]
fn sigterm_to_the_shim_is_forwarded_to_the_container() {
    let mut run = Run::new("shim-term", Rt::Builtin, &["sleep", "100"]);
    without_pid_namespace(&mut run.bundle);
    run.spawn(&[]);
    let shim_pid = run.child.as_ref().unwrap().id() as i32;
    // SAFETY: plain kill(2) of our child.
    unsafe { libc::kill(shim_pid, libc::SIGTERM) };
    let (code, stderr) = run.wait_child();
    assert_eq!(code, 0, "{stderr}");
    let state = run.state().unwrap();
    assert_eq!(state.status, ShimStatus::Exited);
    assert_eq!(state.exit_code, Some(128 + libc::SIGTERM), "{state:?}");
}

#[test]
fn an_oom_kill_is_recorded() {
    let mut run = Run::new(
        "shim-oom",
        Rt::Builtin,
        &[
            "sh",
            "-c",
            r#"x=$(head -c 100000000 /dev/zero | tr "\\000" a); echo never"#,
        ],
    );
    edit_json(&mut run.bundle, |s| {
        s["linux"]["resources"]["memory"] = json!({"limit": 16 * MIB, "swap": 16 * MIB});
    });
    let state = run.run(&["--no-stdin"]);
    assert_eq!(state.exit_code, Some(137), "{state:?}");
    assert!(state.oom_killed, "{state:?}");
    assert!(!run.log().iter().any(|(l, _)| l.contains("never")));
}

fn missing_command(rt: Rt) {
    let mut run = Run::new("shim-missing", rt, &["berth-no-such-command"]);
    let mut child = Command::new(SHIM)
        .args(run.args(&[]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(stdout, "", "no PID for a container that never ran");
    run.child = Some(child);
    let (code, stderr) = run.wait_child();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("executable file not found"), "{stderr}");
    let state = run.state().expect("shim.json written");
    assert_eq!(state.status, ShimStatus::Exited);
    assert_eq!(state.exit_code, Some(127), "{state:?}");
    assert!(
        state.error.contains("executable file not found"),
        "{state:?}"
    );
    assert!(state.finished_at.is_some());
    assert!(
        run.runtime().state(&run.id).is_err(),
        "the container is left"
    );
}

#[test]
fn a_missing_command_is_recorded_as_127() {
    missing_command(Rt::Builtin);
}

#[test]
fn runc_a_missing_command_is_recorded_as_127() {
    missing_command(Rt::Runc);
}

fn terminal(rt: Rt) {
    let mut run = Run::new("shim-tty", rt, &["sh", "-c", "tty; echo done"]);
    edit_json(&mut run.bundle, |s| s["process"]["terminal"] = json!(true));
    let state = run.run(&["--terminal"]);
    assert_eq!(state.exit_code, Some(0), "{state:?}");
    let log = run.log();
    assert!(log.iter().all(|(_, stream)| stream == "stdout"), "{log:?}");
    let text: String = log.iter().map(|(l, _)| l.as_str()).collect();
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("done"), "{text:?}");
    assert!(!run.state_dir.path().join("console.sock").exists());
}

#[test]
fn a_terminal_container_logs_its_pty() {
    terminal(Rt::Builtin);
}

#[test]
fn runc_a_terminal_container_logs_its_pty() {
    terminal(Rt::Runc);
}

#[test]
fn stdin_is_a_pipe_the_shim_holds_open() {
    // With a pipe the shim keeps open, a read blocks instead of seeing EOF: the container is
    // still there after a while and has to be stopped.
    let mut run = Run::new("shim-stdin", Rt::Builtin, &["sh", "-c", "read x; echo got"]);
    without_pid_namespace(&mut run.bundle);
    let pid = run.spawn(&[]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid), "the container saw EOF on stdin");
    // SAFETY: the container's init.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    run.wait_child();
    assert_eq!(run.state().unwrap().exit_code, Some(137));

    // With --no-stdin the read sees EOF at once.
    let mut run = Run::new(
        "shim-nostdin",
        Rt::Builtin,
        &["sh", "-c", "read x; echo eof $?"],
    );
    run.run(&["--no-stdin"]);
    assert_eq!(run.log(), strings(&[("eof 1\n", "stdout")]));
}

#[test]
fn a_long_line_is_logged_in_16k_pieces() {
    let mut run = Run::new(
        "shim-long",
        Rt::Builtin,
        &["sh", "-c", "head -c 40000 /dev/zero | tr '\\000' x; echo"],
    );
    run.run(&[]);
    let log = run.log();
    let sizes: Vec<usize> = log.iter().map(|(l, _)| l.len()).collect();
    assert_eq!(
        sizes,
        vec![16384, 16384, 40000 - 2 * 16384 + 1],
        "{sizes:?}"
    );
    assert!(log[2].0.ends_with("x\n"));
}

#[test]
fn a_process_holding_the_output_after_the_init_exits_is_killed() {
    // Without a pid namespace the background sleep outlives the init and keeps stdout open.
    let mut run = Run::new(
        "shim-linger",
        Rt::Builtin,
        &["sh", "-c", "sleep 100 & echo bye; exit 5"],
    );
    without_pid_namespace(&mut run.bundle);
    let started = Instant::now();
    let state = run.run(&["--no-stdin"]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(state.exit_code, Some(5), "{state:?}");
    assert_eq!(run.log(), strings(&[("bye\n", "stdout")]));
    let cgroup = berth_cgroups::open(Path::new(&format!("/{}", run.id))).unwrap();
    assert!(cgroup.pids().unwrap_or_default().is_empty());
}
