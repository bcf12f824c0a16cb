//! A request as handlers see it: the path without its `/v1.NN` prefix, the query, and the body
//! as JSON, bytes or a blocking reader.

use std::collections::HashMap;
use std::io::Read;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, UPGRADE};
use hyper::Method;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};

pub struct Request {
    pub method: Method,
    /// The path without the version prefix, e.g. `/containers/create`.
    pub path: String,
    /// The API version the client asked for (the prefix), if any.
    pub version: Option<(u32, u32)>,
    query: HashMap<String, Vec<String>>,
    inner: hyper::Request<Incoming>,
}

impl Request {
    pub fn new(
        inner: hyper::Request<Incoming>,
        path: String,
        version: Option<(u32, u32)>,
    ) -> Request {
        let mut query: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(q) = inner.uri().query() {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                query
                    .entry(k.into_owned())
                    .or_default()
                    .push(v.into_owned());
            }
        }
        Request {
            method: inner.method().clone(),
            path,
            version,
            query,
            inner,
        }
    }

    /// The last value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    pub fn query_all(&self, name: &str) -> &[String] {
        self.query.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// A boolean parameter as Docker reads them: absent, "", "0", "false" and "no" are false.
    pub fn flag(&self, name: &str) -> bool {
        match self.query(name) {
            None => false,
            Some(v) => !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"),
        }
    }

    pub fn query_int(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.query(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::BadRequest(format!("invalid value for {name}: {v:?} is not an integer"))
            }),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The client asked to take over the connection (`Connection: Upgrade`, `Upgrade: tcp`).
    pub fn wants_upgrade(&self) -> bool {
        let connection = self.header(CONNECTION.as_str()).unwrap_or("");
        connection.to_ascii_lowercase().contains("upgrade")
            && self.inner.headers().contains_key(UPGRADE)
    }

    /// The future that yields the hijacked connection once the 101 response is sent.
    pub fn on_upgrade(&mut self) -> hyper::upgrade::OnUpgrade {
        hyper::upgrade::on(&mut self.inner)
    }

    pub async fn bytes(self) -> ApiResult<Bytes> {
        self.inner
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| ApiError::BadRequest(format!("reading request body: {e}")))
    }

    /// The body as JSON; an empty body reads as `null`, so `Option<T>` accepts it.
    pub async fn json<T: DeserializeOwned>(self) -> ApiResult<T> {
        let bytes = self.bytes().await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON in request body: {e}")))
    }

    /// The body as a blocking reader for work done on a blocking thread (load, import). Data is
    /// pulled from the connection by a task as the reader consumes it.
    pub fn into_reader(self) -> BodyReader {
        let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(16);
        let mut body = self.inner.into_body();
        tokio::spawn(async move {
            while let Some(frame) = body.frame().await {
                let item = match frame {
                    Ok(f) => match f.into_data() {
                        Ok(data) => Ok(data),
                        Err(_) => continue, // trailers
                    },
                    Err(e) => Err(e.to_string()),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        BodyReader {
            rx,
            current: Bytes::new(),
        }
    }
}

/// `std::io::Read` over a request body (see [`Request::into_reader`]). Use only off the async
/// runtime's worker threads (`spawn_blocking`).
pub struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("request body: {e}"),
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Splits `/v1.43/containers/json` into the version and the rest.
pub fn split_version(path: &str) -> (Option<(u32, u32)>, &str) {
    let Some(rest) = path.strip_prefix("/v") else {
        return (None, path);
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    match ver
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
    {
        Some(v) => (Some(v), tail),
        None => (None, path),
    }
}

pub fn parse_version(v: &str) -> (u32, u32) {
    let (a, b) = v.split_once('.').unwrap_or((v, "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes() {
        assert_eq!(
            split_version("/v1.43/containers/json"),
            (Some((1, 43)), "/containers/json")
        );
        assert_eq!(
            split_version("/containers/json"),
            (None, "/containers/json")
        );
        assert_eq!(split_version("/v1.24/_ping"), (Some((1, 24)), "/_ping"));
        assert_eq!(split_version("/volumes"), (None, "/volumes"));
        assert_eq!(split_version("/vx.y/a"), (None, "/vx.y/a"));
    }
}
