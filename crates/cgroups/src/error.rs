//! The crate's error type: one enum, lower-case messages naming the file or OCI field.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Shorthand for results in this crate.
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// An `io::Error` shown without the trailing "(os error N)", e.g. "Device or resource busy".
#[derive(Debug)]
pub struct OsError(pub io::Error);

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.to_string();
        match s.find(" (os error ") {
            Some(i) => f.write_str(&s[..i]),
            None => f.write_str(&s),
        }
    }
}

impl From<io::Error> for OsError {
    fn from(e: io::Error) -> Self {
        OsError(e)
    }
}

/// Everything that can go wrong while managing a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Reading a control file (or mountinfo) failed.
    #[error("read {}: {err}", path.display())]
    Read { path: PathBuf, err: OsError },
    /// Writing a control file failed; `value` is what was written.
    #[error("write {}: {err}", path.display())]
    Write {
        path: PathBuf,
        value: String,
        err: OsError,
    },
    /// Creating a cgroup directory failed.
    #[error("mkdir {}: {err}", path.display())]
    Mkdir { path: PathBuf, err: OsError },
    /// Removing a cgroup directory failed.
    #[error("rmdir {}: {err}", path.display())]
    Rmdir { path: PathBuf, err: OsError },
    /// Opening a cgroup directory (for CLONE_INTO_CGROUP) failed.
    #[error("open {}: {err}", path.display())]
    Open { path: PathBuf, err: OsError },
    /// A control file held something we could not parse.
    #[error("parse {}: unexpected content {content:?}", path.display())]
    Parse { path: PathBuf, content: String },
    /// /proc/self/mountinfo could not be understood.
    #[error("parse mountinfo line {line:?}: {reason}")]
    Mountinfo { line: String, reason: String },
    /// No cgroup filesystem at all.
    #[error("no cgroup filesystem is mounted (nothing of type cgroup or cgroup2 in {})", path.display())]
    NoCgroupFs { path: PathBuf },
    /// The OCI cgroupsPath is unusable.
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    /// A systemd-style `slice:prefix:name` path was given.
    #[error("cgroupsPath {path:?} is a systemd slice:prefix:name path; the systemd cgroup driver is not supported yet, use a path like /berth/<id>")]
    SystemdPath { path: String },
    /// A resource field berth does not implement (on this cgroup version).
    #[error("{field} is not supported{reason}")]
    Unsupported { field: String, reason: String },
    /// The controller a resource needs is missing on the host.
    #[error("cannot apply {field}: the {controller} controller is not available under {}", root.display())]
    ControllerUnavailable {
        field: String,
        controller: String,
        root: PathBuf,
    },
    /// A resource value is out of range or inconsistent.
    #[error("invalid {field}: {reason}")]
    InvalidValue { field: String, reason: String },
    /// Waiting for the kernel (freezer, rmdir) took too long.
    #[error("timed out after {ms} ms waiting for {what} ({})", path.display())]
    Timeout {
        what: String,
        path: PathBuf,
        ms: u64,
    },
    /// Sending a signal to a process failed.
    #[error("kill pid {pid} with signal {signal}: {err}")]
    Signal { pid: i32, signal: i32, err: OsError },
}

impl CgroupError {
    /// The OS error behind this error, if there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            CgroupError::Read { err, .. }
            | CgroupError::Write { err, .. }
            | CgroupError::Mkdir { err, .. }
            | CgroupError::Rmdir { err, .. }
            | CgroupError::Open { err, .. }
            | CgroupError::Signal { err, .. } => Some(&err.0),
            _ => None,
        }
    }

    pub(crate) fn unsupported(field: &str) -> Self {
        CgroupError::Unsupported {
            field: field.to_string(),
            reason: String::new(),
        }
    }

    pub(crate) fn unsupported_because(field: &str, reason: &str) -> Self {
        CgroupError::Unsupported {
            field: field.to_string(),
            reason: format!(": {reason}"),
        }
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        CgroupError::InvalidValue {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}
