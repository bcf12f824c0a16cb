//! Live output of a container for attached clients, read from its shim (see
//! `berth_runtime::shim::attach`): frames with Docker's stream header, handed to every
//! subscriber's channel until the shim closes the connection.
//!
//! A client that attaches before the start (`docker run`) waits in the handle's pending list;
//! the start gives the shim one end of a socket pair as its stdin, so that client gets output
//! from the first byte on. A client attaching to a running container connects to the shim's
//! `attach.sock` and gets output from then on, as with Docker.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::Handle;
use crate::stream::{Decoder, Frame};

/// An attached client's channel for output frames.
pub type Subscriber = mpsc::Sender<Frame>;

/// For a start: one end of a socket pair for the shim's stdin, the other already pumping into
/// the clients that attached before it. None when nobody waits.
pub fn take_pending(h: &Handle) -> Option<OwnedFd> {
    let subscribers = h.take_pending_attach();
    if subscribers.is_empty() {
        return None;
    }
    let (ours, shims) = match StdUnixStream::pair() {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!("container {}: socket pair for attach: {e}", h.id);
            return None;
        }
    };
    if let Err(e) = pump_std(ours, subscribers) {
        tracing::warn!("container {}: attach stream: {e}", h.id);
        return None;
    }
    Some(shims.into())
}

fn pump_std(conn: StdUnixStream, subscribers: Vec<Subscriber>) -> std::io::Result<()> {
    conn.set_nonblocking(true)?;
    let conn = UnixStream::from_std(conn)?;
    tokio::spawn(pump(conn, subscribers));
    Ok(())
}

/// Subscribes to a running container's live output through its shim's attach socket.
pub async fn subscribe_running(h: &Arc<Handle>, subscriber: Subscriber) -> std::io::Result<()> {
    let path = h.dir.join(berth_runtime::shim::attach::ATTACH_SOCKET);
    let (_dir, short) = berth_runtime::os::short_socket_path(&path)?;
    let conn = UnixStream::connect(&short).await?;
    tokio::spawn(pump(conn, vec![subscriber]));
    Ok(())
}

/// Hands the shim's frames to the subscribers until the shim closes the connection or every
/// subscriber has gone.
async fn pump(mut conn: UnixStream, mut subscribers: Vec<Subscriber>) {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = tokio::select! {
            read = conn.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            // A client that left must not keep the shim's connection (and this task) alive.
            () = all_closed(&subscribers) => return,
        };
        decoder.push(&buf[..n]);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("attach stream from a shim: {e}");
                    return;
                }
            };
            let mut kept = Vec::with_capacity(subscribers.len());
            for s in subscribers.drain(..) {
                if s.send(frame.clone()).await.is_ok() {
                    kept.push(s);
                }
            }
            subscribers = kept;
            if subscribers.is_empty() {
                return;
            }
        }
    }
}

async fn all_closed(subscribers: &[Subscriber]) {
    for s in subscribers {
        s.closed().await;
    }
}
