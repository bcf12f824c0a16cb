//! The container's init process: everything it needs is prepared in the parent ([`plan`]), then
//! the child ([`child`]) carries it out with system calls alone between clone and exec.

pub mod child;
mod mounts;
mod paths;
pub mod plan;
pub(crate) mod steps;
pub mod sys;

pub use mounts::CgroupMountSource;
pub use plan::{InitPlan, PlanInputs};

/// What the child reports on its pipe: it reached the start gate, or a step failed.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub kind: u32,
    pub step: u32,
    pub index: u32,
    pub errno: i32,
}

impl Report {
    pub const READY: u32 = 1;
    pub const FAILED: u32 = 2;
    pub const SIZE: usize = std::mem::size_of::<Report>();

    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..4].copy_from_slice(&self.kind.to_ne_bytes());
        out[4..8].copy_from_slice(&self.step.to_ne_bytes());
        out[8..12].copy_from_slice(&self.index.to_ne_bytes());
        out[12..16].copy_from_slice(&self.errno.to_ne_bytes());
        out
    }

    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Report {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Report {
            kind: u32::from_ne_bytes(word(0)),
            step: u32::from_ne_bytes(word(4)),
            index: u32::from_ne_bytes(word(8)),
            errno: i32::from_ne_bytes(word(12)),
        }
    }
}

/// The steps of the child, in order; a failure report names one.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    SetNs = 1,
    WaitParent,
    UnshareCgroupNs,
    Setsid,
    Hostname,
    Domainname,
    RootPropagation,
    RootBind,
    OpenRoot,
    MountTarget,
    Mount,
    MountRemount,
    MountPropagation,
    Device,
    Symlink,
    Console,
    PivotRoot,
    MaskPath,
    ReadonlyPath,
    Sysctl,
    RootReadonly,
    Stdio,
    Rlimit,
    Capabilities,
    Setgroups,
    Setgid,
    Setuid,
    NoNewPrivileges,
    Seccomp,
    Cwd,
    ExecLookup,
    StartGate,
    Exec,
}

impl Step {
    const ALL: [Step; 33] = [
        Step::SetNs,
        Step::WaitParent,
        Step::UnshareCgroupNs,
        Step::Setsid,
        Step::Hostname,
        Step::Domainname,
        Step::RootPropagation,
        Step::RootBind,
        Step::OpenRoot,
        Step::MountTarget,
        Step::Mount,
        Step::MountRemount,
        Step::MountPropagation,
        Step::Device,
        Step::Symlink,
        Step::Console,
        Step::PivotRoot,
        Step::MaskPath,
        Step::ReadonlyPath,
        Step::Sysctl,
        Step::RootReadonly,
        Step::Stdio,
        Step::Rlimit,
        Step::Capabilities,
        Step::Setgroups,
        Step::Setgid,
        Step::Setuid,
        Step::NoNewPrivileges,
        Step::Seccomp,
        Step::Cwd,
        Step::ExecLookup,
        Step::StartGate,
        Step::Exec,
    ];

    pub fn from_u32(n: u32) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u32 == n)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("exec: {command:?}: executable file not found in $PATH")]
    NotFound { command: String },
    #[error("exec: {command:?}: permission denied (not an executable file)")]
    NotExecutable { command: String },
    #[error("rlimit {name}: {message}")]
    Rlimit { name: String, message: String },
    #[error("{origin}: mount option {option:?} is not supported by berth-runtime yet")]
    UnsupportedMountOption { origin: String, option: String },
    #[error("{origin}: {message}")]
    InvalidMount { origin: String, message: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("container init: {what}: {source}")]
    Step {
        what: String,
        source: std::io::Error,
    },
    #[error("container init exited before reporting (status {0})")]
    Vanished(i32),
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
}

impl InitError {
    pub fn sys(op: &'static str) -> InitError {
        InitError::Sys {
            op,
            source: std::io::Error::last_os_error(),
        }
    }

    /// The exit status `docker run` uses for this failure: 127 for a missing command, 126 for one
    /// that can't be executed.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            InitError::NotFound { .. } => Some(127),
            InitError::NotExecutable { .. } => Some(126),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let r = Report {
            kind: Report::FAILED,
            step: Step::Mount as u32,
            index: 3,
            errno: libc::EPERM,
        };
        assert_eq!(Report::from_bytes(&r.to_bytes()), r);
    }

    #[test]
    fn every_step_decodes() {
        for s in Step::ALL {
            assert_eq!(Step::from_u32(s as u32), Some(s));
        }
        assert_eq!(Step::from_u32(0), None);
    }
}
