//! The volume crate's error, worded as Docker words the same failures.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A volume name outside `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
    #[error("{0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    InvalidName(String),
    #[error("volume name is too short, names should be at least two alphanumeric characters")]
    NameTooShort,
    /// A local driver option key the driver doesn't know.
    #[error("invalid option key: {0:?}")]
    InvalidOption(String),
    /// `type` without `device` and the like.
    #[error("missing required option: {0:?}")]
    MissingOption(&'static str),
    /// A value of a local driver option berth can't honour (an `o=` flag, a size).
    #[error("invalid volume option {key}={value:?}: {reason}")]
    InvalidOptionValue {
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// Removal while the store itself still holds the volume mounted for a user.
    #[error("remove {0}: volume is in use")]
    InUse(String),
    /// `create` of an existing name with other driver options or labels: Docker would quietly
    /// keep the old ones, berth says so instead.
    #[error("volume {name} already exists with different {what}")]
    Conflict { name: String, what: &'static str },
    /// Anything a container's mount request gets wrong (Docker's own wording, 400).
    #[error("{0}")]
    InvalidSpec(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("volume {name}: metadata {path}: {reason}")]
    Metadata {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error("mount volume {name} at {path}: {source}")]
    Mount {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unmount volume {name} at {path}: {source}")]
    Unmount {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// copy-up found something it will not copy or a target that is not empty.
    #[error("copy-up {path}: {reason}")]
    CopyUp { path: PathBuf, reason: String },
}

/// How the API should answer an error: Docker's status code classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400
    InvalidParameter,
    /// 404
    NotFound,
    /// 409
    Conflict,
    /// 500
    System,
}

impl VolumeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            VolumeError::InvalidName(_)
            | VolumeError::NameTooShort
            | VolumeError::InvalidOption(_)
            | VolumeError::MissingOption(_)
            | VolumeError::InvalidOptionValue { .. }
            | VolumeError::InvalidSpec(_) => ErrorKind::InvalidParameter,
            VolumeError::NotFound(_) => ErrorKind::NotFound,
            VolumeError::InUse(_) | VolumeError::Conflict { .. } => ErrorKind::Conflict,
            VolumeError::Io { .. }
            | VolumeError::Metadata { .. }
            | VolumeError::Mount { .. }
            | VolumeError::Unmount { .. }
            | VolumeError::CopyUp { .. } => ErrorKind::System,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VolumeError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
