//! `docker cp` and `docker export`: `HEAD`/`GET`/`PUT /containers/{id}/archive` and
//! `GET /containers/{id}/export`. The work is in `engine::archive`; this shapes Docker's
//! requests and answers (the base64 JSON stat header, tar bodies streamed as they are written).

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use tokio::sync::mpsc;

use super::{find, percent_decode};
use crate::engine::archive::{ExtractOptions, PathStat};
use crate::engine::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::server::body::{self, Response};
use crate::server::Request;

const STAT_HEADER: &str = "x-docker-container-path-stat";

fn path_param(req: &Request) -> ApiResult<String> {
    match req.query("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::BadRequest(
            "bad parameter: path cannot be empty".into(),
        )),
    }
}

fn stat_header(stat: &PathStat) -> ApiResult<HeaderValue> {
    let json = serde_json::to_vec(stat).map_err(ApiError::internal)?;
    HeaderValue::from_str(&base64(&json)).map_err(ApiError::internal)
}

/// `HEAD /containers/{id}/archive?path=`: the stat header alone.
pub async fn stat(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let path = path_param(&req)?;
    let h = find(daemon, id)?;
    let (d, name) = (daemon.clone(), percent_decode(id));
    let stat = tokio::task::spawn_blocking(move || -> ApiResult<PathStat> {
        let root = d.container_root(&h, &name)?;
        Ok(root.locate(&path)?.stat)
    })
    .await
    .map_err(ApiError::internal)??;
    let mut resp = body::empty(StatusCode::OK);
    resp.headers_mut().insert(STAT_HEADER, stat_header(&stat)?);
    Ok(resp)
}

/// `GET /containers/{id}/archive?path=`: the stat header and a tar of the path.
pub async fn get(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let path = path_param(&req)?;
    let h = find(daemon, id)?;
    let (d, name) = (daemon.clone(), percent_decode(id));
    let handle = h.clone();
    let (root, located) = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let root = d.container_root(&h, &name)?;
        let located = root.locate(&path)?;
        Ok((root, located))
    })
    .await
    .map_err(ApiError::internal)??;
    let header = stat_header(&located.stat)?;
    daemon.events.container(&handle.lock(), "archive-path", &[]);
    let (mut resp, tx) = body::stream("application/x-tar");
    resp.headers_mut().insert(STAT_HEADER, header);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter::new(tx);
        if let Err(e) = root
            .write_tar(&located, &mut out)
            .and_then(|()| out.flush())
        {
            // The status is sent; all that is left is to cut the stream short.
            tracing::warn!(
                "archive of {} in {}: {e}",
                located.stat.name,
                root.container
            );
        }
    });
    Ok(resp)
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`: extracts the tar
/// body into the directory `path`.
pub async fn put(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let path = path_param(&req)?;
    let h = find(daemon, id)?;
    let no_overwrite = req.flag("noOverwriteDirNonDir");
    let copy_uid_gid = req.flag("copyUIDGID");
    let (user, readonly) = {
        let c = h.lock();
        (
            c.config.user.clone().unwrap_or_default(),
            c.host_config.readonly_rootfs.unwrap_or(false),
        )
    };
    let mut input = req.into_reader();
    let (d, name) = (daemon.clone(), percent_decode(id));
    let handle = h.clone();
    tokio::task::spawn_blocking(move || -> ApiResult<()> {
        let root = d.container_root(&h, &name)?;
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: no_overwrite,
            copy_uid_gid_user: copy_uid_gid.then_some(user.as_str()),
            readonly_rootfs: readonly,
        };
        root.extract(&path, &mut input, opts, &d.config.data_root)?;
        Ok(())
    })
    .await
    .map_err(ApiError::internal)??;
    daemon
        .events
        .container(&handle.lock(), "extract-to-dir", &[]);
    Ok(body::empty(StatusCode::OK))
}

/// `GET /containers/{id}/export`: the container's whole filesystem as a tar.
pub async fn export(daemon: &Arc<Daemon>, id: &str) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    // Checked before the answer starts, so a container without layers gets a clear error.
    daemon.layers.container(&h.id)?;
    daemon.events.container(&h.lock(), "export", &[]);
    let (resp, tx) = body::stream("application/x-tar");
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter::new(tx);
        let written = d
            .layers
            .export_container(&h.id, &mut out)
            .map_err(|e| e.to_string())
            .and_then(|()| out.flush().map_err(|e| e.to_string()));
        if let Err(e) = written {
            tracing::warn!("export of container {}: {e}", h.id);
        }
    });
    Ok(resp)
}

/// A blocking writer that sends what it is given to a streamed response in 64 KiB chunks.
/// Use only on a blocking thread.
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    fn new(tx: mpsc::Sender<Bytes>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Standard base64 with padding (RFC 4648), as Go's `base64.StdEncoding`.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
