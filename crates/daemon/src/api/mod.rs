//! Docker Engine API handlers: parse the request, call the engine, shape Docker's response.

pub mod archive;
pub mod containers;
pub mod events;
pub mod exec;
pub mod images;
pub mod netviews;
pub mod networks;
pub mod ops;
pub mod stats;
pub mod streams;
pub mod summary;
pub mod system;
pub mod top;
pub mod views;
pub mod volumes;

use std::sync::Arc;

use crate::engine::{Daemon, Handle};
use crate::error::{ApiError, ApiResult};

pub(crate) fn find(daemon: &Arc<Daemon>, id: &str) -> ApiResult<Arc<Handle>> {
    daemon.find(&percent_decode(id))
}

/// Path segments arrive percent-encoded (image names with ':' or '@', for instance).
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Runs blocking daemon work (netlink, nft, fsync'd files) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    daemon: &Arc<Daemon>,
    f: impl FnOnce(&Daemon) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || f(&d))
        .await
        .map_err(ApiError::internal)?
}
