//! Docker's multiplexed stream format, used for non-tty output of `logs`, `attach` and `exec`:
//! each frame is an 8-byte header (stream type, three zero bytes, big-endian u32 payload length)
//! followed by the payload. With a tty the output is sent raw, without frames.
//!
//! [`frame`] builds frames; [`Decoder`] takes them apart again, fed in arbitrary pieces (tests
//! and clients use it).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The content type of a framed (non-tty) stream.
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";
/// The content type of a raw (tty) stream.
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
/// Length of a frame header.
pub const HEADER_LEN: usize = 8;

/// The stream a frame belongs to; the number is the first header byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamType {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// Docker's "systemerr": an error from the daemon itself, sent in the stream it broke.
    Systemerr = 3,
}

impl StreamType {
    /// The stream a header byte names; `None` for anything else.
    pub fn from_byte(b: u8) -> Option<StreamType> {
        match b {
            0 => Some(StreamType::Stdin),
            1 => Some(StreamType::Stdout),
            2 => Some(StreamType::Stderr),
            3 => Some(StreamType::Systemerr),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StreamType::Stdin => "stdin",
            StreamType::Stdout => "stdout",
            StreamType::Stderr => "stderr",
            StreamType::Systemerr => "systemerr",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("unrecognized stream type {0} in frame header")]
    UnknownStream(u8),
    #[error("stream ended inside a frame: {0} bytes of an incomplete frame left over")]
    Truncated(usize),
}

/// The header of a frame of `len` payload bytes.
pub fn header(stream: StreamType, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// `payload` as frames of `stream`. A payload past `u32::MAX` bytes takes several frames; an
/// empty payload gives no bytes at all (a zero-length frame would carry nothing).
pub fn frame(stream: StreamType, payload: &[u8]) -> Bytes {
    frame_max(stream, payload, u32::MAX as usize)
}

fn frame_max(stream: StreamType, payload: &[u8], max: usize) -> Bytes {
    let frames = payload.len().div_ceil(max);
    let mut out = BytesMut::with_capacity(payload.len() + frames * HEADER_LEN);
    for chunk in payload.chunks(max) {
        out.put_slice(&header(stream, chunk.len() as u32));
        out.put_slice(chunk);
    }
    out.freeze()
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub stream: StreamType,
    pub payload: Bytes,
}

/// A streaming decoder: [`push`](Decoder::push) bytes as they arrive, then take the frames
/// that are complete with [`next_frame`](Decoder::next_frame).
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame; `Ok(None)` when more bytes are needed. An unknown stream type
    /// is an error, and stays one: the stream cannot be resynchronised.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let stream =
            StreamType::from_byte(self.buf[0]).ok_or(StreamError::UnknownStream(self.buf[0]))?;
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let payload = self.buf.split_to(len).freeze();
        Ok(Some(Frame { stream, payload }))
    }

    /// Bytes held that do not yet make a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The input ended: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), StreamError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(StreamError::Truncated(n)),
        }
    }
}

/// Splits a whole framed stream into its stdout and stderr bytes (for tests and simple
/// clients; stdin and systemerr frames go with stderr).
pub fn demux(data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), StreamError> {
    let mut d = Decoder::new();
    d.push(data);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(f) = d.next_frame()? {
        match f.stream {
            StreamType::Stdout => out.extend_from_slice(&f.payload),
            _ => err.extend_from_slice(&f.payload),
        }
    }
    d.finish()?;
    Ok((out, err))
}

/// Splits framed bytes back into (stream byte, payload) pairs; a trailing partial frame is left
/// in `buf`. Does not check the stream byte (see [`Decoder`] for that).
pub fn decode(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len() - at >= HEADER_LEN {
        let h = &buf[at..at + HEADER_LEN];
        let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
        if buf.len() - at - HEADER_LEN < len {
            break;
        }
        out.push((
            buf[at],
            buf[at + HEADER_LEN..at + HEADER_LEN + len].to_vec(),
        ));
        at += HEADER_LEN + len;
    }
    buf.drain(..at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        assert_eq!(
            header(StreamType::Stderr, 0x0102_0304),
            [2, 0, 0, 0, 1, 2, 3, 4]
        );
        let f = frame(StreamType::Stdout, b"hello\n");
        assert_eq!(&f[..], b"\x01\0\0\0\0\0\0\x06hello\n");
        assert!(frame(StreamType::Stdout, b"").is_empty());
    }

    #[test]
    fn frames_round_trip() {
        let mut wire = frame(StreamType::Stdout, b"hello\n").to_vec();
        wire.extend_from_slice(&frame(StreamType::Stderr, b"oops"));
        wire.extend_from_slice(&[2, 0, 0]);
        let frames = decode(&mut wire);
        assert_eq!(
            frames,
            vec![(1, b"hello\n".to_vec()), (2, b"oops".to_vec())]
        );
        assert_eq!(wire, vec![2, 0, 0]);
    }

    #[test]
    fn big_payloads_split_into_several_frames() {
        let payload: Vec<u8> = (0..10u8).collect();
        let wire = frame_max(StreamType::Stderr, &payload, 4);
        assert_eq!(wire.len(), 10 + 3 * HEADER_LEN);
        let mut d = Decoder::new();
        d.push(&wire);
        let mut lens = Vec::new();
        let mut joined = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            assert_eq!(f.stream, StreamType::Stderr);
            lens.push(f.payload.len());
            joined.extend_from_slice(&f.payload);
        }
        assert_eq!(lens, [4, 4, 2]);
        assert_eq!(joined, payload);
    }

    #[test]
    fn decoder_takes_input_byte_by_byte() {
        let mut wire = frame(StreamType::Stdout, b"one").to_vec();
        wire.extend_from_slice(&frame(StreamType::Stderr, b"two"));
        wire.extend_from_slice(&frame(StreamType::Stdout, b"three"));
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                got.push((f.stream, f.payload.to_vec()));
            }
        }
        assert_eq!(
            got,
            vec![
                (StreamType::Stdout, b"one".to_vec()),
                (StreamType::Stderr, b"two".to_vec()),
                (StreamType::Stdout, b"three".to_vec()),
            ]
        );
        assert_eq!(d.finish(), Ok(()));
        assert_eq!(
            demux(&wire).unwrap(),
            (b"onethree".to_vec(), b"two".to_vec())
        );
    }

    #[test]
    fn decoder_errors() {
        let mut d = Decoder::new();
        d.push(&[7, 0, 0, 0, 0, 0, 0, 1, b'x']);
        let e = d.next_frame().unwrap_err();
        assert_eq!(e.to_string(), "unrecognized stream type 7 in frame header");
        let mut d = Decoder::new();
        d.push(&frame(StreamType::Stdout, b"abc")[..6]);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.pending(), 6);
        assert_eq!(d.finish(), Err(StreamError::Truncated(6)));
        assert!(demux(&frame(StreamType::Stdout, b"abc")[..9]).is_err());
    }
}
