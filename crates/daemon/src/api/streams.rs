//! Streams out of a container: `logs` (optionally following) reads the json-file log the shim
//! writes; `attach` (hijacked or a plain streamed response) gets the live output from the shim
//! (engine::attach), feeds stdin to it, and in a terminal session watches for the detach keys.
//! `resize` sets the size of a container's terminal.

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify};

use super::find;
use crate::detach;
use crate::engine::attach;
use crate::engine::lifecycle::{wait_for, WaitCondition};
use crate::engine::{Daemon, Handle, Status};
use crate::error::{ApiError, ApiResult};
use crate::logs::{self, LogOptions};
use crate::server::body::{self, Response};
use crate::server::Request;
use crate::stream::{self, Frame, StreamType, MULTIPLEXED_STREAM, RAW_STREAM};

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
    // A stopped container may be attached to: the stream then waits for its next start, which
    // is how `docker start -a` restarts an exited container with its output.
    if stream && status == Status::Removing {
        return Err(ApiError::Conflict(format!(
            "container {} is marked for removal and cannot be attached",
            h.id
        )));
    }
    let (stdout, stderr) = (req.flag("stdout"), req.flag("stderr"));
    let wanted = stdout || stderr;
    // Live output: from the shim of the running container, or from the next start's first
    // byte for a container that has not started yet (`docker run` attaches first).
    let live = if stream && wanted {
        let (frames_tx, frames_rx) = mpsc::channel::<Frame>(64);
        if status.is_alive() {
            if let Err(e) = attach::subscribe_running(&h, frames_tx).await {
                // It exited in the meantime: the stream is simply over.
                tracing::debug!("attaching to container {}: {e}", h.id);
            }
        } else {
            h.add_pending_attach(frames_tx);
        }
        Some(frames_rx)
    } else {
        None
    };
    // With logs=1, what was written before comes first.
    let past = (req.flag("logs") && wanted).then_some(LogOptions {
        stdout,
        stderr,
        since: None,
        until: None,
        tail: None,
        timestamps: false,
        follow: false,
    });
    let path = h.log_path();
    let stop = run_ended(&h);
    daemon.events.container(&h.lock(), "attach", &[]);
    let content_type = if tty { RAW_STREAM } else { MULTIPLEXED_STREAM };
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        if let Some(opts) = past {
            let read = tokio::task::spawn_blocking(move || logs::read_entries(&path, &opts)).await;
            if let Ok(Ok((entries, _))) = read {
                for e in &entries {
                    if tx.send(logs::encode(e, false, tty)).await.is_err() {
                        return;
                    }
                }
            }
        }
        if let Some(mut frames) = live {
            while let Some(frame) = frames.recv().await {
                let keep = match frame.stream {
                    StreamType::Stdout => stdout,
                    StreamType::Stderr => stderr,
                    _ => false,
                };
                if !keep {
                    continue;
                }
                let bytes = if tty {
                    frame.payload
                } else {
                    stream::frame(frame.stream, &frame.payload)
                };
                if tx.send(bytes).await.is_err() {
                    return;
                }
            }
        }
        if stream {
            // The stream ends once the exit is recorded (the shim closes its side a moment
            // earlier), so a client that then asks sees the container stopped.
            let mut stop = stop;
            let _ = stop.wait_for(|s| *s).await;
        }
    });

    if !req.wants_upgrade() {
        return Ok(body::from_channel(content_type, rx));
    }
    // Only a terminal session watches for the detach keys, as in Docker: piped input may hold
    // any bytes.
    let detach_keys = match req.query("detachKeys").filter(|k| !k.is_empty()) {
        _ if !tty => None,
        Some(spec) => {
            Some(detach::parse_keys(spec).map_err(|e| ApiError::BadRequest(e.to_string()))?)
        }
        None => Some(detach::DEFAULT_KEYS.to_vec()),
    };
    let detached = Arc::new(Notify::new());
    let stdin_feed =
        (req.flag("stdin") && h.lock().config.open_stdin.unwrap_or(false)).then(|| StdinFeed {
            handle: h.clone(),
            detach: detach_keys.map(|keys| (detach::Scanner::new(keys), detached.clone())),
        });
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
        loop {
            let chunk = tokio::select! {
                chunk = rx.recv() => chunk,
                () = detached.notified() => None,
            };
            let Some(chunk) = chunk else { break };
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    Ok(body::upgraded(content_type))
}

/// Copies an attached client's input into the container's stdin: waits until the container
/// runs, connects to its shim's stdin socket, copies, and half-closes at the client's EOF (the
/// shim then closes the container's stdin when StdinOnce is set). In a terminal session the
/// detach keys end the attachment instead of reaching the container.
struct StdinFeed {
    handle: Arc<Handle>,
    detach: Option<(detach::Scanner, Arc<Notify>)>,
}

impl StdinFeed {
    async fn run(mut self, mut client: impl tokio::io::AsyncRead + Unpin) {
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
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (bytes, detach) = match &mut self.detach {
                None => (buf[..n].to_vec(), false),
                Some((scanner, _)) => match scanner.push(&buf[..n]) {
                    detach::Scan::Forward(b) => (b, false),
                    detach::Scan::Detach(b) => (b, true),
                },
            };
            if sock.write_all(&bytes).await.is_err() {
                break;
            }
            if detach {
                if let Some((_, detached)) = &self.detach {
                    detached.notify_one();
                }
                return;
            }
        }
        let _ = sock.shutdown().await;
    }
}

/// `POST /containers/{id}/resize?h=&w=`: the size of the container's terminal.
pub async fn resize(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let dimension = |name: &str| -> ApiResult<u16> {
        let v = req.query(name).unwrap_or("");
        v.parse::<u16>()
            .map_err(|_| ApiError::BadRequest(format!("invalid value for {name}: {v:?}")))
    };
    let (rows, cols) = (dimension("h")?, dimension("w")?);
    let (tty, status, cid) = {
        let c = h.lock();
        (c.tty(), c.state.status, c.id.clone())
    };
    if !status.is_alive() {
        return Err(ApiError::Conflict(format!(
            "Container {cid} is not running"
        )));
    }
    // Without a terminal there is nothing to size; Docker answers OK as well.
    if tty {
        let dir = h.dir.clone();
        tokio::task::spawn_blocking(move || berth_runtime::shim::pty::resize(&dir, rows, cols))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| {
                ApiError::Internal(format!("resizing the terminal of container {cid}: {e}"))
            })?;
    }
    Ok(body::empty(StatusCode::OK))
}
