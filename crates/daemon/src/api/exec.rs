//! `docker exec` over the API: create, start (hijacked like attach: raw bytes with a tty,
//! multiplexed frames without), inspect and resize.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::find;
use crate::detach;
use crate::engine::exec::{self, Attach, Exec, ExecConfig, Launched};
use crate::engine::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::server::body::{self, Response};
use crate::server::Request;
use crate::stream::{frame, StreamType, MULTIPLEXED_STREAM, RAW_STREAM};

pub async fn create(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    let config: Option<ExecConfig> = req.json().await?;
    let id = daemon.exec_create(&h, config.unwrap_or_default())?;
    Ok(body::json(StatusCode::CREATED, &json!({ "Id": id })))
}

pub fn inspect(daemon: &Arc<Daemon>, id: &str) -> ApiResult<Response> {
    Ok(body::ok_json(&daemon.execs.get(id)?.inspect()))
}

pub fn resize(daemon: &Arc<Daemon>, id: &str, req: &Request) -> ApiResult<Response> {
    let exec = daemon.execs.get(id)?;
    let dim = |name: &str| -> ApiResult<u16> {
        req.query_int(name)?
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| ApiError::BadRequest(format!("invalid or missing {name}")))
    };
    let (height, width) = (dim("h")?, dim("w")?);
    let Some(master) = exec.console() else {
        return Err(ApiError::Conflict(format!(
            "exec {id} has no running terminal to resize"
        )));
    };
    exec::resize(&master, height, width)
        .map_err(|e| ApiError::internal(format!("resizing the terminal of exec {id}: {e}")))?;
    Ok(body::empty(StatusCode::OK))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct StartConfig {
    #[serde(default)]
    detach: Option<bool>,
    /// Must agree with the instance's Tty; Docker takes the instance's.
    #[serde(default)]
    tty: Option<bool>,
    #[serde(default)]
    console_size: Option<Vec<u16>>,
}

pub async fn start(daemon: &Arc<Daemon>, id: &str, mut req: Request) -> ApiResult<Response> {
    let exec = daemon.execs.get(id)?;
    let upgrade = req.wants_upgrade().then(|| req.on_upgrade());
    let start: Option<StartConfig> = req.json().await?;
    let start = start.unwrap_or_default();
    let size = match start.console_size.as_deref() {
        Some([h, w]) if *h > 0 => Some((*h, *w)),
        Some([_, _]) | None => None,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "ConsoleSize must be [height, width]".into(),
            ))
        }
    };
    let _ = start.tty;
    let detach = start.detach.unwrap_or(false);
    let tty = exec.tty();
    let content_type = if tty { RAW_STREAM } else { MULTIPLEXED_STREAM };
    let Some(on_upgrade) = upgrade.filter(|_| !detach) else {
        let launched = daemon.exec_start(&exec, Attach { detach }, size).await?;
        if detach {
            return Ok(body::empty(StatusCode::OK));
        }
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        relay_output(&exec, launched, tx);
        return Ok(body::from_channel(content_type, rx));
    };
    // As dockerd: the 101 goes out first and the process starts once the client has switched
    // protocols. Output written at once would otherwise reach the client in the same read as
    // the response headers, and clients that then read the raw socket (docker-py) lose it.
    daemon.exec_can_start(&exec)?;
    let daemon = daemon.clone();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("exec upgrade: {e}");
                return;
            }
        };
        let (reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
        let launched = match daemon.exec_start(&exec, Attach { detach }, size).await {
            Ok(l) => l,
            Err(e) => {
                // Docker writes a start error into the hijacked stream.
                let _ = writer.write_all(format!("{e}\r\n").as_bytes()).await;
                let _ = writer.shutdown().await;
                return;
            }
        };
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let input = relay_output(&exec, launched, tx);
        let (detached_tx, detached_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(relay_input(exec.clone(), reader, input, detached_tx));
        write_out(exec, rx, writer, detached_rx).await;
    });
    Ok(body::upgraded(content_type))
}

/// Where the client's input goes.
enum Input {
    None,
    Pipe(std::process::ChildStdin),
    Pty(Arc<OwnedFd>),
}

/// Starts blocking readers of the process's output; they send (framed unless tty) chunks to
/// `tx` and end at EOF. Returns the process's input side.
fn relay_output(exec: &Arc<Exec>, launched: Launched, tx: mpsc::Sender<Bytes>) -> Input {
    let tty = exec.tty();
    let reader = |mut r: Box<dyn Read + Send>, stream: StreamType, tx: mpsc::Sender<Bytes>| {
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match r.read(&mut buf) {
                    Ok(0) | Err(_) => return, // EIO on a pty master: the slave is closed
                    Ok(n) => n,
                };
                let chunk = if tty {
                    Bytes::copy_from_slice(&buf[..n])
                } else {
                    frame(stream, &buf[..n])
                };
                if tx.blocking_send(chunk).is_err() {
                    return;
                }
            }
        });
    };
    if let Some(out) = launched.stdout {
        reader(Box::new(out), StreamType::Stdout, tx.clone());
    }
    if let Some(err) = launched.stderr {
        reader(Box::new(err), StreamType::Stderr, tx.clone());
    }
    match (launched.console, launched.stdin) {
        (Some(master), _) => {
            if let Ok(dup) = master.try_clone() {
                reader(Box::new(std::fs::File::from(dup)), StreamType::Stdout, tx);
            }
            if exec.config.attach_stdin.unwrap_or(false) {
                Input::Pty(master)
            } else {
                Input::None
            }
        }
        (None, Some(stdin)) => Input::Pipe(stdin),
        (None, None) => Input::None,
    }
}

/// Copies the client's bytes to the process. EOF closes a pipe stdin; with a tty the detach
/// keys end the session (the process keeps running).
async fn relay_input(
    exec: Arc<Exec>,
    mut client: impl tokio::io::AsyncRead + Unpin,
    input: Input,
    detached: tokio::sync::oneshot::Sender<()>,
) {
    let mut sink: Box<dyn Write + Send> = match input {
        Input::None => return,
        Input::Pipe(p) => Box::new(p),
        Input::Pty(master) => match master.try_clone() {
            Ok(fd) => Box::new(std::fs::File::from(fd)),
            Err(_) => return,
        },
    };
    let mut scanner = exec
        .tty()
        .then(|| detach::Scanner::new(exec.detach_keys.clone()));
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    let writer = tokio::task::spawn_blocking(move || {
        while let Some(chunk) = rx.blocking_recv() {
            if sink.write_all(&chunk).and_then(|()| sink.flush()).is_err() {
                return;
            }
        }
        // Dropping the pipe's write end is the process's EOF.
    });
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (chunk, detach) = match scanner.as_mut().map(|s| s.push(&buf[..n])) {
            Some(detach::Scan::Forward(b)) => (b, false),
            Some(detach::Scan::Detach(b)) => (b, true),
            None => (buf[..n].to_vec(), false),
        };
        if !chunk.is_empty() && tx.send(chunk).await.is_err() {
            break;
        }
        if detach {
            let _ = detached.send(());
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Writes output to the client until the streams end and the exit is recorded (so the client's
/// inspect afterwards sees the exit code), or the client detaches.
async fn write_out(
    exec: Arc<Exec>,
    mut rx: mpsc::Receiver<Bytes>,
    mut writer: impl tokio::io::AsyncWrite + Unpin,
    mut detached: tokio::sync::oneshot::Receiver<()>,
) {
    // Becomes true when the input side ended without detaching: stop polling it.
    let mut input_over = false;
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(c) => {
                    if writer.write_all(&c).await.is_err() {
                        return;
                    }
                }
                None => break,
            },
            r = &mut detached, if !input_over => {
                if r.is_ok() {
                    let _ = writer.shutdown().await;
                    return;
                }
                input_over = true;
            }
        }
    }
    let mut done = exec.done();
    let _ = done.wait_for(|d| *d).await;
    let _ = writer.shutdown().await;
}
