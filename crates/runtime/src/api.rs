//! The interface every runtime backend implements, modelled on the OCI runtime's operations.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// Lifecycle status as the OCI runtime spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// The OCI state of a container (what `runc state` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    /// Host PID of the container's init; absent once it is stopped (runc reports 0 then).
    #[serde(default)]
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// How `create` wires the new container to its caller.
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// The container's stdin/stdout/stderr when it has no terminal; `None` inherits the caller's.
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// With `process.terminal`, the pty master is sent over this unix socket (SCM_RIGHTS), as runc does.
    pub console_socket: Option<PathBuf>,
    /// Where to write the init's host PID, if anywhere.
    pub pid_file: Option<PathBuf>,
}

/// create → start → (kill) → delete, plus state, pause and resume.
///
/// `create` leaves the init process set up and waiting just before it execs the user's program;
/// `start` lets it go. The caller reaps the init: a backend whose init is not our child (an
/// external runtime) needs the caller to be a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`).
pub trait OciRuntime {
    /// Creates container `id` from `bundle`; returns the init's host PID.
    fn create(&self, id: &str, bundle: &Path, opts: CreateOptions) -> Result<i32, RuntimeError>;
    fn start(&self, id: &str) -> Result<(), RuntimeError>;
    fn state(&self, id: &str) -> Result<State, RuntimeError>;
    /// Sends `signal` to the init, or with `all` to every process in the container's cgroup.
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError>;
    fn pause(&self, id: &str) -> Result<(), RuntimeError>;
    fn resume(&self, id: &str) -> Result<(), RuntimeError>;
    /// Removes every trace of a stopped container; `force` kills a running one first.
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
}
