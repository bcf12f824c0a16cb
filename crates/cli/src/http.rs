//! A small synchronous HTTP/1.1 client: enough of the protocol for the Docker Engine API over a
//! unix socket or TCP. Requests carry either no body, a byte buffer, or a reader sent chunked
//! (for `load`/`import` from stdin, whose length is unknown). Response bodies are read
//! incrementally (`BodyReader`), which is what streaming endpoints (logs -f, wait, save) need.
//! Hijacking (attach) is a request with `Upgrade: tcp`; after `101` the same socket carries
//! raw bytes both ways.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;

/// A connection to the daemon. Cloning gives a second handle on the same socket so one thread
/// can read while another writes (attach with stdin).
pub trait Conn: Read + Write + Send {
    fn try_clone_conn(&self) -> io::Result<Box<dyn Conn>>;
    /// Half-close: tells the daemon stdin reached EOF while output keeps flowing.
    fn shutdown_write(&self) -> io::Result<()>;
}

impl Conn for UnixStream {
    fn try_clone_conn(&self) -> io::Result<Box<dyn Conn>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Conn for TcpStream {
    fn try_clone_conn(&self) -> io::Result<Box<dyn Conn>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A request body.
pub enum Body {
    Empty,
    /// A complete body with its content type.
    Bytes(Vec<u8>, &'static str),
    /// A streamed body: with a known length it goes as Content-Length, else chunked.
    Reader(Box<dyn Read + Send>, &'static str, Option<u64>),
}

impl Body {
    pub fn json(value: &serde_json::Value) -> Body {
        Body::Bytes(value.to_string().into_bytes(), "application/json")
    }
}

/// Writes the request line, headers and body. `upgrade` asks for a hijacked connection.
pub fn write_request(
    w: &mut dyn Write,
    method: &str,
    target: &str,
    host: &str,
    body: Body,
    upgrade: bool,
) -> io::Result<()> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: berth-cli/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if upgrade {
        head.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n");
    }
    match &body {
        Body::Empty => {
            // Docker's daemon wants a length on POSTs even when there is no body.
            if method != "GET" && method != "HEAD" {
                head.push_str("Content-Length: 0\r\n");
            }
        }
        Body::Bytes(bytes, ctype) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
                bytes.len()
            ));
        }
        Body::Reader(_, ctype, Some(len)) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Length: {len}\r\n"
            ));
        }
        Body::Reader(_, ctype, None) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n"
            ));
        }
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    match body {
        Body::Empty => {}
        Body::Bytes(bytes, _) => w.write_all(&bytes)?,
        Body::Reader(mut r, _, Some(_)) => {
            io::copy(&mut r, w)?;
        }
        Body::Reader(mut r, _, None) => write_chunked(&mut r, w)?,
    }
    w.flush()
}

fn write_chunked(r: &mut dyn Read, w: &mut dyn Write) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        write!(w, "{n:x}\r\n")?;
        w.write_all(&buf[..n])?;
        w.write_all(b"\r\n")?;
    }
    w.write_all(b"0\r\n\r\n")
}

/// Status line and headers of a response.
#[derive(Debug, Clone, Default)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// How the body is delimited (RFC 9112 §6.3, for the cases a daemon produces).
    pub fn framing(&self, method: &str) -> Framing {
        if method == "HEAD" || self.status == 204 || self.status == 304 || self.status < 200 {
            return Framing::Length(0);
        }
        if self
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            return Framing::Chunked;
        }
        match self
            .header("content-length")
            .and_then(|v| v.trim().parse().ok())
        {
            Some(n) => Framing::Length(n),
            None => Framing::Eof,
        }
    }
}

/// Reads a status line and headers, skipping `100 Continue`.
pub fn read_head(r: &mut dyn BufRead) -> io::Result<Head> {
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(bad_data(format!("not an HTTP response: {line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_data(format!("bad status line: {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let h = read_line(r)?;
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        if status == 100 {
            continue;
        }
        return Ok(Head { status, headers });
    }
}

/// One CRLF-terminated line without its terminator; EOF before any byte is an error.
fn read_line(r: &mut dyn BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = r.read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the response was complete",
        ));
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| bad_data("response header is not UTF-8".into()))
}

fn bad_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// No length: the body runs to the end of the connection.
    Eof,
}

/// A response body, decoded as it is read.
pub struct BodyReader<R> {
    inner: R,
    framing: Framing,
    /// Bytes left in the current chunk (chunked) or the whole body (length).
    remaining: u64,
    done: bool,
}

impl<R: BufRead> BodyReader<R> {
    pub fn new(inner: R, framing: Framing) -> BodyReader<R> {
        let remaining = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        BodyReader {
            inner,
            framing,
            remaining,
            done: framing == Framing::Length(0),
        }
    }

    /// Reads the next chunk-size line; a zero size ends the body (trailers are skipped).
    fn next_chunk(&mut self) -> io::Result<()> {
        let line = read_line(&mut self.inner)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| bad_data(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            loop {
                if read_line(&mut self.inner)?.is_empty() {
                    break;
                }
            }
            self.done = true;
        }
        self.remaining = size;
        Ok(())
    }
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Eof => self.inner.read(buf),
            Framing::Length(_) => {
                let want = buf.len().min(self.remaining as usize);
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "response body cut short",
                    ));
                }
                self.remaining -= n as u64;
                self.done = self.remaining == 0;
                Ok(n)
            }
            Framing::Chunked => {
                if self.remaining == 0 {
                    self.next_chunk()?;
                    if self.done {
                        return Ok(0);
                    }
                }
                let want = buf.len().min(self.remaining as usize);
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "chunked body cut short",
                    ));
                }
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    // Each chunk's data is followed by CRLF.
                    read_line(&mut self.inner)?;
                }
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn body(raw: &[u8], framing: Framing) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        BodyReader::new(BufReader::with_capacity(3, raw), framing).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn chunked_bodies_decode_across_small_reads() {
        let raw = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\nGARBAGE";
        assert_eq!(body(raw, Framing::Chunked).unwrap(), b"hello, world");
        assert_eq!(body(b"0\r\n\r\n", Framing::Chunked).unwrap(), b"");
        assert_eq!(
            body(b"A\r\n0123456789\r\n0\r\n\r\n", Framing::Chunked).unwrap(),
            b"0123456789"
        );
    }

    #[test]
    fn chunked_errors_are_reported() {
        assert!(body(b"zz\r\nhello\r\n", Framing::Chunked).is_err());
        assert!(body(b"5\r\nhel", Framing::Chunked).is_err());
    }

    #[test]
    fn length_and_eof_framing() {
        assert_eq!(body(b"hello world", Framing::Length(5)).unwrap(), b"hello");
        assert_eq!(body(b"hello world", Framing::Eof).unwrap(), b"hello world");
        assert!(body(b"hi", Framing::Length(5)).is_err());
    }

    #[test]
    fn heads_parse_and_pick_framing() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = read_head(&mut &raw[..]).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.content_type(), "application/json");
        assert_eq!(head.framing("GET"), Framing::Chunked);
        let head = read_head(&mut &b"HTTP/1.1 204 No Content\r\n\r\n"[..]).unwrap();
        assert_eq!(head.framing("POST"), Framing::Length(0));
    }

    #[test]
    fn requests_are_written_with_lengths_or_chunks() {
        let mut out = Vec::new();
        write_request(
            &mut out,
            "POST",
            "/v1.43/x",
            "berth",
            Body::Reader(Box::new(&b"abc"[..]), "application/x-tar", None),
            false,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("POST /v1.43/x HTTP/1.1\r\nHost: berth\r\n"));
        assert!(text.contains("Transfer-Encoding: chunked\r\n"));
        assert!(text.ends_with("\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
        let mut out = Vec::new();
        write_request(&mut out, "POST", "/a", "h", Body::Empty, true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"));
    }
}
