//! Spawning berth-shim (berthd never forks itself) and watching shims through pidfds, which
//! work for the shims of an earlier berthd as well as for our own children.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

fn wait_running(args: &ShimArgs, mut cmd: Command) -> Result<Spawned, ShimError> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ShimError::Spawn {
            binary: args.binary.to_path_buf(),
            source,
        })?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    let _ = BufReader::new(stdout).read_line(&mut line);
    if let Ok(pid) = line.trim().parse::<i32>() {
        drop(child.stderr.take());
        return Ok(Spawned {
            child,
            init_pid: pid,
        });
    }
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    let status = child.wait();
    let err = err.trim().trim_start_matches("berth-shim: ").to_string();
    Err(ShimError::Start(if err.is_empty() {
        format!("berth-shim ended without starting the container ({status:?})")
    } else {
        err
    }))
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
