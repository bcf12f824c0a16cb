//! The image crate's error.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    #[error("blob {expected} was written with digest {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("image config {0}")]
    InvalidConfig(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid --change instruction {instruction:?}: {reason}")]
    InvalidChange { instruction: String, reason: String },
    #[error("image archive: {0}")]
    Archive(String),
    #[error(transparent)]
    Storage(#[from] berth_storage::StorageError),
}

impl ImageError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
