//! Errors as the API reports them: Docker's status codes and `{"message": …}` bodies.

use berth_image::ImageError;
use berth_storage::StorageError;
use hyper::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: no such container, image or endpoint.
    #[error("{0}")]
    NotFound(String),
    /// 409: a name in use, a running container, an image in use.
    #[error("{0}")]
    Conflict(String),
    /// 400: a malformed or unsupported request.
    #[error("{0}")]
    BadRequest(String),
    /// 403: an operation refused on principle (removing a predefined network or one in use).
    #[error("{0}")]
    Forbidden(String),
    /// 304: the container already is in the asked state (start, stop).
    #[error("")]
    NotModified,
    /// 500: everything else.
    #[error("{0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotModified => StatusCode::NOT_MODIFIED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn no_such_container(name: &str) -> ApiError {
        ApiError::NotFound(format!("No such container: {name}"))
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> ApiError {
        match e {
            ImageError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ImageError::Conflict(_) => ApiError::Conflict(e.to_string()),
            ImageError::InvalidReference(_)
            | ImageError::InvalidChange { .. }
            | ImageError::Archive(_)
            | ImageError::InvalidConfig(_)
            | ImageError::DigestMismatch { .. } => ApiError::BadRequest(e.to_string()),
            ImageError::Storage(s) => s.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        match e {
            StorageError::Archive(_) | StorageError::UnsafeEntry { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::spec::SpecError> for ApiError {
    fn from(e: crate::spec::SpecError) -> ApiError {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<crate::filters::FilterError> for ApiError {
    fn from(e: crate::filters::FilterError) -> ApiError {
        ApiError::BadRequest(e.to_string())
    }
}
