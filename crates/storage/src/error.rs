//! The storage crate's error.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("layer {0:?} does not exist")]
    NotFound(String),
    #[error("layer {0:?} already exists")]
    AlreadyExists(String),
    #[error("invalid layer id {0:?}")]
    InvalidId(String),
    #[error("layer {id:?} is still mounted ({count} references)")]
    Busy { id: String, count: usize },
    #[error("storage driver {driver} can't work here: {reason}")]
    Unsupported {
        driver: &'static str,
        reason: String,
    },
    #[error("unknown storage driver {0:?}: choose overlay, btrfs or vfs")]
    UnknownDriver(String),
    #[error("layer archive: {0}")]
    Archive(String),
    #[error("layer archive entry {path:?}: {reason}")]
    UnsafeEntry { path: String, reason: String },
    /// Extraction would replace a directory with a non-directory or the reverse, and the caller
    /// asked not to.
    #[error("{0}")]
    Overwrite(String),
    #[error("mount overlay at {path}: {reason}")]
    Mount { path: PathBuf, reason: String },
    #[error("layer {id:?} would have {depth} layers below it; overlay allows at most {max}")]
    TooDeep {
        id: String,
        depth: usize,
        max: usize,
    },
}

impl StorageError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
