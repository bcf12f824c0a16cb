//! An OCI runtime binary (runc, crun) driven through its command line.
//!
//! [`External`] runs `<binary> --root <state_root> --log <file> --log-format json <op> …` for every
//! operation of [`OciRuntime`]. The log goes to a private temp file so that a failure carries the
//! runtime's own message even when its stderr was handed to the container.
//!
//! Reaping: `<binary> create` forks the container's init and exits, so the init is re-parented to
//! the nearest child subreaper, or to the host's pid 1. A caller that wants the init's exit status
//! (the shim) must set `prctl(PR_SET_CHILD_SUBREAPER, 1)` before `create` and reap the pid that
//! `create` returns.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crate::api::{CreateOptions, OciRuntime, State};
use crate::error::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("external runtime {0} not found")]
    BinaryNotFound(PathBuf),
    #[error("running external runtime {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The runtime exited unsuccessfully; `message` is what it logged.
    #[error("{runtime} {op} {id}: {message}")]
    Failed {
        runtime: String,
        op: &'static str,
        id: String,
        message: String,
    },
    #[error("{runtime} state {id}: unreadable output: {source}")]
    BadState {
        runtime: String,
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{runtime} create {id}: pid file {path}: {reason}")]
    BadPidFile {
        runtime: String,
        id: String,
        path: PathBuf,
        reason: String,
    },
    #[error("creating a temporary directory for external runtime logs: {0}")]
    TempDir(#[source] io::Error),
}

/// The [`OciRuntime`] backend that drives an OCI runtime binary such as runc.
#[derive(Debug, Clone)]
pub struct External {
    binary: PathBuf,
    state_root: PathBuf,
}

/// What one invocation of the binary left behind.
struct Outcome {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    log: String,
}

impl External {
    /// `binary` is the runtime's path (e.g. `/usr/sbin/runc`); `state_root` is passed as its
    /// `--root`, where it keeps the state of the containers it created.
    pub fn new(binary: impl Into<PathBuf>, state_root: impl Into<PathBuf>) -> Self {
        External {
            binary: binary.into(),
            state_root: state_root.into(),
        }
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    /// The runtime's short name for messages: `runc` for `/usr/sbin/runc`.
    fn runtime_name(&self) -> String {
        self.binary
            .file_name()
            .unwrap_or(self.binary.as_os_str())
            .to_string_lossy()
            .into_owned()
    }

    /// Runs `<binary> --root … --log … <op> <args>` in `scratch` and collects what it said.
    /// `stdio` replaces stdin/stdout/stderr; without it stdin is null and the output is captured.
    fn run(
        &self,
        scratch: &Path,
        op: &'static str,
        args: &[&std::ffi::OsStr],
        stdio: Option<[Stdio; 3]>,
    ) -> Result<Outcome, ExternalError> {
        let log_path = scratch.join(format!("{op}.log"));
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.state_root)
            .arg("--log")
            .arg(&log_path)
            .args(["--log-format", "json", op])
            .args(args);
        let (status, stdout, stderr) = match stdio {
            Some([stdin, stdout, stderr]) => {
                cmd.stdin(stdin).stdout(stdout).stderr(stderr);
                let status = cmd.status().map_err(|e| self.spawn_error(e))?;
                (status, Vec::new(), Vec::new())
            }
            None => {
                cmd.stdin(Stdio::null());
                let out = cmd.output().map_err(|e| self.spawn_error(e))?;
                (out.status, out.stdout, out.stderr)
            }
        };
        // A runtime that died before logging leaves no file: that is not an error of its own.
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        Ok(Outcome {
            status,
            stdout,
            stderr,
            log,
        })
    }

    fn spawn_error(&self, source: io::Error) -> ExternalError {
        if source.kind() == io::ErrorKind::NotFound {
            ExternalError::BinaryNotFound(self.binary.clone())
        } else {
            ExternalError::Spawn {
                binary: self.binary.clone(),
                source,
            }
        }
    }

    /// Turns a failed invocation into an error carrying the runtime's own message.
    fn failure(&self, op: &'static str, id: &str, outcome: &Outcome) -> RuntimeError {
        let runtime = self.runtime_name();
        let message = failure_message(&runtime, op, outcome);
        if is_not_found(&message) {
            return RuntimeError::NotFound(id.to_string());
        }
        ExternalError::Failed {
            runtime,
            op,
            id: id.to_string(),
            message,
        }
        .into()
    }

    /// Runs a simple operation (everything but `create`) and checks its exit status.
    fn simple(&self, op: &'static str, id: &str, flags: &[&str]) -> Result<Outcome, RuntimeError> {
        self.simple_with(op, id, flags, &[])
    }

    fn simple_with(
        &self,
        op: &'static str,
        id: &str,
        flags: &[&str],
        trailing: &[&str],
    ) -> Result<Outcome, RuntimeError> {
        check_id(id)?;
        let scratch = scratch_dir()?;
        let mut args: Vec<&std::ffi::OsStr> = flags.iter().map(|f| f.as_ref()).collect();
        args.push("--".as_ref());
        args.push(id.as_ref());
        args.extend(trailing.iter().map(std::ffi::OsStr::new));
        let outcome = self.run(scratch.path(), op, &args, None)?;
        if !outcome.status.success() {
            return Err(self.failure(op, id, &outcome));
        }
        Ok(outcome)
    }
}

impl OciRuntime for External {
    /// Runs `<binary> create`. The container's stdio are `opts`' fds, or this process's own when
    /// `None`. The returned init is not our child: see the module docs about reaping it.
    fn create(&self, id: &str, bundle: &Path, opts: CreateOptions) -> Result<i32, RuntimeError> {
        check_id(id)?;
        let scratch = scratch_dir()?;
        let pid_file = opts
            .pid_file
            .clone()
            .unwrap_or_else(|| scratch.path().join("init.pid"));
        let mut args: Vec<&std::ffi::OsStr> = vec!["--bundle".as_ref(), bundle.as_os_str()];
        if let Some(socket) = &opts.console_socket {
            args.push("--console-socket".as_ref());
            args.push(socket.as_os_str());
        }
        args.push("--pid-file".as_ref());
        args.push(pid_file.as_os_str());
        args.push("--".as_ref());
        args.push(id.as_ref());
        let stdio = |fd: Option<OwnedFd>| fd.map_or_else(Stdio::inherit, Stdio::from);
        let CreateOptions {
            stdin,
            stdout,
            stderr,
            ..
        } = opts;
        let outcome = self.run(
            scratch.path(),
            "create",
            &args,
            Some([stdio(stdin), stdio(stdout), stdio(stderr)]),
        )?;
        if !outcome.status.success() {
            return Err(self.failure("create", id, &outcome));
        }
        let bad_pid = |reason: String| ExternalError::BadPidFile {
            runtime: self.runtime_name(),
            id: id.to_string(),
            path: pid_file.clone(),
            reason,
        };
        let text = fs::read_to_string(&pid_file).map_err(|e| bad_pid(e.to_string()))?;
        match text.trim().parse::<i32>() {
            Ok(pid) if pid > 0 => Ok(pid),
            _ => Err(bad_pid(format!("{:?} is not a pid", text.trim())).into()),
        }
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple("start", id, &[]).map(drop)
    }

    fn state(&self, id: &str) -> Result<State, RuntimeError> {
        let outcome = self.simple("state", id, &[])?;
        serde_json::from_slice(&outcome.stdout).map_err(|source| {
            ExternalError::BadState {
                runtime: self.runtime_name(),
                id: id.to_string(),
                source,
            }
            .into()
        })
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let flags: &[&str] = if all { &["--all"] } else { &[] };
        self.simple_with("kill", id, flags, &[&signal.to_string()])
            .map(drop)
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple("pause", id, &[]).map(drop)
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple("resume", id, &[]).map(drop)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let flags: &[&str] = if force { &["--force"] } else { &[] };
        self.simple("delete", id, flags).map(drop)
    }
}

/// A private directory for one invocation's log (and pid file), removed on drop.
fn scratch_dir() -> Result<tempfile::TempDir, ExternalError> {
    tempfile::Builder::new()
        .prefix("berth-ext-")
        .tempdir()
        .map_err(ExternalError::TempDir)
}

/// The id rule of [`RuntimeError::InvalidId`]; it also keeps ids from reading as flags or paths.
fn check_id(id: &str) -> Result<(), RuntimeError> {
    let valid = !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.to_string()))
    }
}

/// The runtime's own explanation of a failure: the last error it logged (json log lines, then
/// logfmt `msg="…"` lines or plain text on stderr), without a redundant "<runtime> <op> failed: "
/// prefix. Falls back to the exit status.
fn failure_message(runtime: &str, op: &str, outcome: &Outcome) -> String {
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    let message = last_json_error(&outcome.log)
        .or_else(|| last_logfmt_error(&stderr))
        .or_else(|| {
            stderr
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("exited with {}", outcome.status));
    let prefix = format!("{runtime} {op} failed: ");
    match message.strip_prefix(&prefix) {
        Some(rest) => rest.to_string(),
        None => message,
    }
}

fn last_json_error(log: &str) -> Option<String> {
    log.lines().rev().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let level = value.get("level")?.as_str()?;
        if !matches!(level, "error" | "fatal" | "panic") {
            return None;
        }
        Some(value.get("msg")?.as_str()?.to_string())
    })
}

/// Extracts `msg` from logfmt lines such as `time="…" level=error msg="container not running"`.
fn last_logfmt_error(text: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        if !(line.contains("level=error") || line.contains("level=fatal")) {
            return None;
        }
        let rest = &line[line.find("msg=")? + 4..];
        let Some(quoted) = rest.strip_prefix('"') else {
            return Some(rest.split_whitespace().next().unwrap_or("").to_string());
        };
        let mut msg = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(msg),
                '\\' => match chars.next() {
                    Some('n') => msg.push('\n'),
                    Some('t') => msg.push('\t'),
                    Some(other) => msg.push(other),
                    None => break,
                },
                c => msg.push(c),
            }
        }
        Some(msg)
    })
}

/// runc says "container does not exist", crun "container `x` does not exist".
fn is_not_found(message: &str) -> bool {
    let m = message.trim();
    m.starts_with("container") && m.ends_with("does not exist")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn outcome(log: &str, stderr: &str, code: i32) -> Outcome {
        Outcome {
            status: ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
            log: log.to_string(),
        }
    }

    #[test]
    fn the_last_json_error_wins_and_loses_its_prefix() {
        let log = concat!(
            r#"{"level":"warning","msg":"ignored","time":"t"}"#,
            "\n",
            r#"{"level":"error","msg":"runc create failed: container with given ID already exists","time":"t"}"#,
            "\n"
        );
        let msg = failure_message("runc", "create", &outcome(log, "noise\n", 1));
        assert_eq!(msg, "container with given ID already exists");
    }

    #[test]
    fn logfmt_stderr_is_used_without_a_json_log() {
        let stderr = "time=\"2024\" level=error msg=\"container \\\"x\\\" not running\"\n";
        let msg = failure_message("runc", "pause", &outcome("", stderr, 1));
        assert_eq!(msg, r#"container "x" not running"#);
        let msg = failure_message(
            "crun",
            "start",
            &outcome("", "level=error msg=bare word\n", 1),
        );
        assert_eq!(msg, "bare");
    }

    #[test]
    fn plain_stderr_then_the_exit_status_are_fallbacks() {
        let msg = failure_message("crun", "kill", &outcome("", "crun: bad signal\n\n", 1));
        assert_eq!(msg, "crun: bad signal");
        let msg = failure_message("runc", "kill", &outcome("", "", 3));
        assert_eq!(msg, "exited with exit status: 3");
    }

    #[test]
    fn not_found_messages_are_recognized() {
        assert!(is_not_found("container does not exist"));
        assert!(is_not_found("container `abc` does not exist"));
        assert!(!is_not_found("container not running"));
        assert!(!is_not_found(
            "container init: executable file not found in $PATH"
        ));
    }

    #[test]
    fn ids_that_could_read_as_paths_are_refused() {
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "x\n"] {
            assert!(
                matches!(check_id(bad), Err(RuntimeError::InvalidId(_))),
                "{bad:?}"
            );
        }
        for good in ["abc", "berth-x-1.2_3", "-dash"] {
            check_id(good).unwrap();
        }
    }

    #[test]
    fn a_missing_binary_is_named() {
        let rt = External::new("/nonexistent/berth-runtime", "/tmp");
        let err = rt.state("abc").unwrap_err().to_string();
        assert_eq!(err, "external runtime /nonexistent/berth-runtime not found");
    }
}
