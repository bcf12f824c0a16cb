//! Streams out of a container: `logs` (optionally following) and `attach` (hijacked or a
//! plain streamed response). Both read the json-file log the shim writes, so every reader sees
//! the same bytes and the shim stays small.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

use super::find;
use crate::engine::lifecycle::{wait_for, WaitCondition};
use crate::engine::{Daemon, Handle, Status};
use crate::error::{ApiError, ApiResult};
use crate::logs::{self, LogOptions};
use crate::server::body::{self, Body, Response};
use crate::server::Request;
use crate::stream::{MULTIPLEXED_STREAM, RAW_STREAM};

/// A flag that turns true once the container's current run has ended (or it was removed).
fn run_ended(h: &Handle) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let progress = h.watch();
    let start = *progress.borrow();
    tokio::spawn(async move {
        wait_for(progress, start, WaitCondition::NextExit).await;
        let _ = tx.send(true);
    });
    rx
}

pub async fn logs(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let (stdout, stderr) = (req.flag("stdout"), req.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::BadRequest(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    let now = std::time::SystemTime::now();
    let time = |name: &str| -> ApiResult<Option<(i64, u32)>> {
        match req.query(name).filter(|v| !v.is_empty() && *v != "0") {
            None => Ok(None),
            Some(v) => crate::timefmt::parse_time(v, now)
                .map(Some)
                .map_err(|e| ApiError::BadRequest(e.to_string())),
        }
    };
    let tail = match req.query("tail").unwrap_or("all") {
        "all" | "" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid value for tail: {n:?}")))?,
        ),
    };
    let opts = LogOptions {
        stdout,
        stderr,
        since: time("since")?,
        until: time("until")?,
        // A negative tail means "all", as in Docker.
        tail: tail.and_then(|n| usize::try_from(n).ok()),
        timestamps: req.flag("timestamps"),
        follow: req.flag("follow"),
    };
    let (tty, status) = {
        let c = h.lock();
        (c.tty(), c.state.status)
    };
    let follow = opts.follow && (status.is_alive() || status == Status::Restarting);
    let stop = run_ended(&h);
    let path = h.log_path();
    let content_type = if tty { RAW_STREAM } else { MULTIPLEXED_STREAM };
    let (resp, tx) = body::stream(content_type);
    tokio::spawn(async move {
        let read = {
            let (path, opts) = (path.clone(), opts.clone());
            tokio::task::spawn_blocking(move || logs::read_entries(&path, &opts)).await
        };
        let (entries, offset) = match read {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!("reading log {}: {e}", path.display());
                return;
            }
            Err(_) => return,
        };
        for entry in &entries {
            if tx
                .send(logs::encode(entry, opts.timestamps, tty))
                .await
                .is_err()
            {
                return;
            }
        }
        if follow {
            pump(&path, offset, &opts, stop, tty, tx).await;
        }
    });
    Ok(resp)
}

/// Forwards entries appended after `offset` until `stop`, then what is left (the log
/// module's follower, woken by inotify).
async fn pump(
    path: &std::path::Path,
    offset: u64,
    opts: &LogOptions,
    stop: watch::Receiver<bool>,
    tty: bool,
    tx: mpsc::Sender<Bytes>,
) {
    let mut opts = opts.clone();
    opts.tail = None;
    if let Err(e) = logs::follow(path, offset, &opts, stop, &tx, tty).await {
        tracing::debug!("following {}: {e}", path.display());
    }
}

pub async fn attach(daemon: &Arc<Daemon>, id: &str, mut req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let (tty, status) = {
        let c = h.lock();
        (c.tty(), c.state.status)
    };
    let stream = req.flag("stream");
    if stream
        && !matches!(
            status,
            Status::Created | Status::Running | Status::Restarting
        )
    {
        return Err(ApiError::Conflict(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    let opts = LogOptions {
        stdout: req.flag("stdout"),
        stderr: req.flag("stderr"),
        since: None,
        until: None,
        tail: None,
        timestamps: false,
        follow: stream,
    };
    let path = h.log_path();
    // Output from now on; with logs=1 what was written before too.
    let offset = if req.flag("logs") {
        0
    } else {
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
    };
    let stop = run_ended(&h);
    daemon.events.container(&h.lock(), "attach", &[]);
    let content_type = if tty { RAW_STREAM } else { MULTIPLEXED_STREAM };
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let wanted = opts.stdout || opts.stderr;
    tokio::spawn(async move {
        if wanted {
            if offset == 0 && !stream {
                if let Ok(Ok((entries, _))) = {
                    let (path, opts) = (path.clone(), opts.clone());
                    tokio::task::spawn_blocking(move || logs::read_entries(&path, &opts)).await
                } {
                    for e in &entries {
                        let _ = tx.send(logs::encode(e, false, tty)).await;
                    }
                }
            } else if stream {
                pump(&path, offset, &opts, stop, tty, tx).await;
            }
        } else if stream {
            let mut stop = stop;
            let _ = stop.wait_for(|s| *s).await;
        }
    });

    if !req.wants_upgrade() {
        let mut resp = hyper::Response::new(Body::Stream(rx));
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        return Ok(resp);
    }
    let stdin_feed = (req.flag("stdin") && h.lock().config.open_stdin.unwrap_or(false))
        .then(|| StdinFeed::new(h.clone()));
    let on_upgrade = req.on_upgrade();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("attach upgrade: {e}");
                return;
            }
        };
        let io = TokioIo::new(upgraded);
        let (reader, mut writer) = tokio::io::split(io);
        if let Some(feed) = stdin_feed {
            tokio::spawn(feed.run(reader));
        }
        while let Some(chunk) = rx.recv().await {
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut resp = body::empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
    Ok(resp)
}

/// Copies an attached client's input into the container's stdin: waits until the container
/// runs, connects to its shim's stdin socket, copies, and half-closes at the client's EOF (the
/// shim then closes the container's stdin when StdinOnce is set).
struct StdinFeed {
    handle: Arc<Handle>,
}

impl StdinFeed {
    fn new(handle: Arc<Handle>) -> StdinFeed {
        StdinFeed { handle }
    }

    async fn run(self, mut client: impl tokio::io::AsyncRead + Unpin) {
        let mut progress = self.handle.watch();
        let running = progress
            .wait_for(|p| p.status.is_alive() || p.removed || p.exits > 0)
            .await
            .map(|p| p.status.is_alive())
            .unwrap_or(false);
        if !running {
            return;
        }
        let path = self
            .handle
            .dir
            .join(berth_runtime::shim::stdin::STDIN_SOCKET);
        let Ok((_dir, short)) = berth_runtime::os::short_socket_path(&path) else {
            return;
        };
        let Ok(mut sock) = tokio::net::UnixStream::connect(&short).await else {
            tracing::debug!("container {}: no stdin socket", self.handle.id);
            return;
        };
        let _ = tokio::io::copy(&mut client, &mut sock).await;
        let _ = sock.shutdown().await;
    }
}
