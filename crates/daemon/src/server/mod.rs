//! The HTTP side: accepting connections on the unix socket, API version prefixes, routing and
//! Docker's error bodies. Handlers live in `crate::api`.

pub mod body;
pub mod request;
pub mod router;

use std::convert::Infallible;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use crate::engine::Daemon;

pub use body::{Body, Response};
pub use request::Request;

/// The newest API version berthd speaks, and the oldest it accepts.
pub const API_VERSION: &str = "1.43";
pub const MIN_API_VERSION: &str = "1.24";

/// Serves connections until the listener fails.
pub async fn serve(daemon: Arc<Daemon>, listener: UnixListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let daemon = daemon.clone();
                async move { Ok::<_, Infallible>(router::handle(daemon, req).await) }
            });
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!("connection: {e}");
            }
        });
    }
}
