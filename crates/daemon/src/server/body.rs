//! Response bodies: whole (JSON, text) or streamed from a channel (logs, events, pulls).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::StatusCode;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::ApiError;

pub type Response = hyper::Response<Body>;

/// A response body: whole bytes or a stream of chunks sent through a channel. The stream ends
/// when every sender is dropped.
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Body::Full(Some(b)) => http_body::SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => http_body::SizeHint::with_exact(0),
            Body::Stream(_) => http_body::SizeHint::default(),
        }
    }
}

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    let mut bytes = serde_json::to_vec(value).expect("API values serialise");
    bytes.push(b'\n');
    with_type(status, "application/json", Body::Full(Some(bytes.into())))
}

pub fn ok_json<T: Serialize + ?Sized>(value: &T) -> Response {
    json(StatusCode::OK, value)
}

pub fn empty(status: StatusCode) -> Response {
    let mut resp = hyper::Response::new(Body::Full(None));
    *resp.status_mut() = status;
    resp
}

pub fn text(status: StatusCode, text: &'static str) -> Response {
    with_type(
        status,
        "text/plain; charset=utf-8",
        Body::Full(Some(Bytes::from_static(text.as_bytes()))),
    )
}

pub fn bytes(content_type: &'static str, bytes: Vec<u8>) -> Response {
    with_type(StatusCode::OK, content_type, Body::Full(Some(bytes.into())))
}

/// A streamed response and the sender that feeds it.
pub fn stream(content_type: &'static str) -> (Response, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(64);
    (
        with_type(StatusCode::OK, content_type, Body::Stream(rx)),
        tx,
    )
}

/// A streamed response fed by `rx`.
pub fn from_channel(content_type: &'static str, rx: mpsc::Receiver<Bytes>) -> Response {
    with_type(StatusCode::OK, content_type, Body::Stream(rx))
}

/// The `101 Switching Protocols` answer to a hijacking request (attach, exec start): after it
/// the connection carries the raw or multiplexed stream both ways.
pub fn upgraded(content_type: &'static str) -> Response {
    let mut resp = with_type(
        StatusCode::SWITCHING_PROTOCOLS,
        content_type,
        Body::Full(None),
    );
    let headers = resp.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
    resp
}

pub fn error(e: &ApiError) -> Response {
    if matches!(e, ApiError::NotModified) {
        return empty(StatusCode::NOT_MODIFIED);
    }
    json(e.status(), &serde_json::json!({ "message": e.to_string() }))
}

/// One line of a JSON message stream (load, import, pull progress).
pub fn json_line(value: &serde_json::Value) -> Bytes {
    let mut v = serde_json::to_vec(value).expect("json");
    v.push(b'\n');
    v.into()
}
