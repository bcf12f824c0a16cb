//! The crate's top-level error: each module has its own enum, wrapped here.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    #[error(
        "invalid container id {0:?}: use letters, digits, '_', '-' and '.', not starting with '.'"
    )]
    InvalidId(String),
    #[error("container {id:?} is {status}, {wanted}")]
    WrongStatus {
        id: String,
        status: crate::Status,
        wanted: &'static str,
    },
    #[error(transparent)]
    External(#[from] crate::external::ExternalError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("state file {path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Init(#[from] crate::init::InitError),
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::CgroupError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
