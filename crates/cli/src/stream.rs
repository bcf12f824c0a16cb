//! Docker's multiplexed stream format, used for non-tty logs and attach: each frame is an 8-byte
//! header `[stream, 0, 0, 0, len (big-endian u32)]` then `len` bytes. Stream 0 (stdin echo) and 1
//! go to stdout, 2 to stderr, 3 carries a daemon-side error. A tty container's stream is raw
//! bytes instead, told apart by the response's content type.

use std::io::{self, Read, Write};

pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// Copies frames to `out`/`err` until EOF, flushing after each so interactive output shows up
/// at once.
pub fn demux(mut r: impl Read, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if !read_full_or_eof(&mut r, &mut header)? {
            return Ok(());
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut left = len;
        let mut system_error = Vec::new();
        while left > 0 {
            let want = left.min(buf.len());
            let n = r.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream frame cut short",
                ));
            }
            match header[0] {
                0 | 1 => out.write_all(&buf[..n])?,
                2 => err.write_all(&buf[..n])?,
                3 => system_error.extend_from_slice(&buf[..n]),
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unrecognized stream type {other} in multiplexed output"),
                    ))
                }
            }
            left -= n;
        }
        if header[0] == 3 {
            return Err(io::Error::other(
                String::from_utf8_lossy(&system_error).into_owned(),
            ));
        }
        if header[0] == 2 {
            err.flush()?;
        } else {
            out.flush()?;
        }
    }
}

/// Copies raw (tty) output, flushing after every read.
pub fn copy_raw(mut r: impl Read, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
}

/// Fills `buf`; false on a clean EOF before the first byte.
fn read_full_or_eof(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream header cut short",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Builds one frame (tests and the fake daemon use it).
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read, to split headers and payloads.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn frames_go_to_their_streams() {
        let mut input = frame(1, b"out1\n");
        input.extend(frame(2, b"err1\n"));
        input.extend(frame(1, b""));
        input.extend(frame(0, b"echo\n"));
        input.extend(frame(2, &[b'x'; 70_000]));
        for step in [1, 3, 8, 1 << 20] {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            demux(Trickle(&input, step), &mut out, &mut err).unwrap();
            assert_eq!(out, b"out1\necho\n");
            assert_eq!(err.len(), 5 + 70_000);
            assert!(err.starts_with(b"err1\nxxx"));
        }
    }

    #[test]
    fn truncated_and_error_frames_fail() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut cut = frame(1, b"hello");
        cut.truncate(10);
        assert!(demux(&cut[..], &mut out, &mut err).is_err());
        assert!(demux(&[1u8, 0, 0][..], &mut out, &mut err).is_err());
        let e = demux(&frame(3, b"boom")[..], &mut out, &mut err).unwrap_err();
        assert_eq!(e.to_string(), "boom");
        assert!(demux(&frame(7, b"?")[..], &mut out, &mut err).is_err());
    }

    #[test]
    fn raw_streams_copy_through() {
        let mut out = Vec::new();
        copy_raw(Trickle(b"\x01\x00raw tty bytes", 2), &mut out).unwrap();
        assert_eq!(out, b"\x01\x00raw tty bytes");
    }
}
