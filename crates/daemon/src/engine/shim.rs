//! Spawning berth-shim (berthd never forks itself) and watching shims through pidfds, which
//! work for the shims of an earlier berthd as well as for our own children.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

/// berth-shim next to the berthd binary, else in PATH.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        let candidate = dir.join("berth-shim");
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("berth-shim"))
            .find(|p| p.is_file())
    })
}

pub struct ShimArgs<'a> {
    pub binary: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub state_dir: &'a Path,
    pub log_path: &'a Path,
    /// None: the builtin runtime.
    pub runtime: Option<&'a Path>,
    pub runtime_root: &'a Path,
    pub terminal: bool,
    /// Keep a stdin pipe fed through `<state-dir>/stdin.sock` (OpenStdin).
    pub stdin: bool,
    /// Close it when the first client is done (StdinOnce).
    pub stdin_once: bool,
}

/// Spawns the shim and waits until it reports the container running (its first stdout line is
/// the init's PID) or failed (stderr, exit status). `attach`, if given, becomes the shim's stdin:
/// a socket that receives the container's live output from the first byte on.
pub fn spawn(args: &ShimArgs, attach: Option<OwnedFd>) -> Result<Spawned, ShimError> {
    let mut cmd = command(args);
    match attach {
        Some(fd) => cmd.arg("--attach-stdin").stdin(Stdio::from(fd)),
        None => cmd.stdin(Stdio::null()),
    };
    wait_running(args, cmd)
}

/// A shim whose container runs.
pub struct Spawned {
    pub child: Child,
    /// The container init's host PID, as the shim printed it.
    pub init_pid: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("spawning {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The shim could not start the container; its own words.
    #[error("{0}")]
    Start(String),
}

fn command(args: &ShimArgs) -> Command {
    let mut cmd = Command::new(args.binary);
    cmd.arg("--id")
        .arg(args.id)
        .arg("--bundle")
        .arg(args.bundle)
        .arg("--state-dir")
        .arg(args.state_dir)
        .arg("--log-path")
        .arg(args.log_path)
        .arg("--runtime-root")
        .arg(args.runtime_root)
        .arg("--runtime")
        .arg(
            args.runtime
                .map(Path::as_os_str)
                .unwrap_or("builtin".as_ref()),
        );
    if args.terminal {
        cmd.arg("--terminal");
    }
    if !args.stdin {
        cmd.arg("--no-stdin");
    } else if args.stdin_once {
        cmd.arg("--stdin-once");
    }
    cmd
}

fn wait_running(args: &ShimArgs, cmd: Command) -> Result<Spawned, ShimError> {
    let mut started = launch(args, cmd)?;
    let init_pid = started.next_pid()?;
    Ok(started.into_spawned(init_pid))
}

/// A shim as it reports on its stdout: one line with the init's PID per step.
struct Reporting {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

fn launch(args: &ShimArgs, mut cmd: Command) -> Result<Reporting, ShimError> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ShimError::Spawn {
            binary: args.binary.to_path_buf(),
            source,
        })?;
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    Ok(Reporting { child, stdout })
}

impl Reporting {
    /// The next PID line, or the shim's own words on why there is none.
    fn next_pid(&mut self) -> Result<i32, ShimError> {
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        if let Ok(pid) = line.trim().parse::<i32>() {
            return Ok(pid);
        }
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        let status = self.child.wait();
        let err = err.trim().trim_start_matches("berth-shim: ").to_string();
        Err(ShimError::Start(if err.is_empty() {
            format!("berth-shim ended without starting the container ({status:?})")
        } else {
            err
        }))
    }

    fn into_spawned(mut self, init_pid: i32) -> Spawned {
        drop(self.child.stderr.take());
        Spawned {
            child: self.child,
            init_pid,
        }
    }
}

/// Spawns the shim with a start gate: it returns once the container is created, its init
/// waiting in its namespaces for [`Gated::open`].
pub fn spawn_gated(args: &ShimArgs) -> Result<Gated, ShimError> {
    let (ours, shims) = StdUnixStream::pair().map_err(|source| ShimError::Spawn {
        binary: args.binary.to_path_buf(),
        source,
    })?;
    let mut cmd = command(args);
    cmd.arg("--start-gate")
        .stdin(Stdio::from(OwnedFd::from(shims)));
    let mut reporting = launch(args, cmd)?;
    reporting.next_pid()?;
    Ok(Gated {
        reporting,
        gate: ours,
    })
}

/// A shim whose container is created and waits at the start gate.
pub struct Gated {
    reporting: Reporting,
    gate: StdUnixStream,
}

/// Why a gated start did not run.
pub enum GateError {
    /// The gate could not be reached: the shim is gone. Nothing was started.
    Closed(std::io::Error),
    /// The shim tried, and the container failed to start (recorded in its shim.json).
    Start(ShimError),
}

impl Gated {
    /// Whether the shim still waits at the gate.
    pub fn waiting(&mut self) -> bool {
        matches!(self.reporting.child.try_wait(), Ok(None))
    }

    /// Starts the container, with `attach` (see [`spawn`]) as its first client.
    pub fn open(mut self, attach: Option<OwnedFd>) -> Result<Spawned, GateError> {
        use std::os::fd::AsFd;
        berth_runtime::shim::gate::open(&mut self.gate, attach.as_ref().map(|fd| fd.as_fd()))
            .map_err(GateError::Closed)?;
        drop(attach);
        let init_pid = self.reporting.next_pid().map_err(GateError::Start)?;
        Ok(self.reporting.into_spawned(init_pid))
    }

    /// Closes the gate: the shim deletes the created container and exits. Blocking.
    pub fn abort(self) {
        let Gated {
            mut reporting,
            gate,
        } = self;
        drop(gate);
        let _ = reporting.child.wait();
    }
}

pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

pub fn pidfd_signal(fd: &OwnedFd, signal: i32) -> std::io::Result<()> {
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `pid` is the shim of container `id` (and not a process that reused the PID).
pub fn is_shim_of(pid: i32, id: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut args = cmdline.split(|b| *b == 0);
    let is_shim = args
        .next()
        .map(|a| a.ends_with(b"berth-shim"))
        .unwrap_or(false);
    is_shim && args.any(|a| a == id.as_bytes())
}
