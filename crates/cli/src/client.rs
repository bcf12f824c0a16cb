//! The API client: where the daemon is (`-H`, `BERTH_HOST`, `DOCKER_HOST`, the default socket),
//! starting berthd when it is not running, and requests against `/v1.43/...` with Docker's
//! error convention (`{"message": …}` on 4xx/5xx) turned into `Error::Daemon`.

use std::io::{self, BufReader, Read};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::http::{self, Body, BodyReader, Conn, Head};
use crate::value::V;

pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// berthd understands 1.24 to 1.43 and later; pinning the version saves a `/_ping` round trip.
pub const API_VERSION: &str = "1.43";
const DEFAULT_LOG: &str = "/var/log/berthd.log";
const START_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    Unix(PathBuf),
    Tcp(String),
}

/// Parses `unix:///path`, `tcp://host:port`, or a bare socket path.
pub fn parse_host(host: &str) -> Result<Addr> {
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(Error::client(format!(
                "invalid host {host:?}: no socket path"
            )));
        }
        Ok(Addr::Unix(PathBuf::from(path)))
    } else if let Some(addr) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        let addr = addr.trim_end_matches('/');
        if addr.contains(':') {
            Ok(Addr::Tcp(addr.to_string()))
        } else {
            Ok(Addr::Tcp(format!("{addr}:2375")))
        }
    } else if host.starts_with('/') {
        Ok(Addr::Unix(PathBuf::from(host)))
    } else {
        Err(Error::client(format!(
            "invalid host {host:?}: use unix:///path or tcp://host:port"
        )))
    }
}

/// URL query parameters, encoded as Go's `url.Values` would.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    pub fn add(&mut self, key: &str, value: impl Into<String>) -> &mut Query {
        self.0.push((key.to_string(), value.into()));
        self
    }

    pub fn flag(&mut self, key: &str, on: bool) -> &mut Query {
        if on {
            self.add(key, "1");
        }
        self
    }

    pub fn encode(&self) -> String {
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect();
        pairs.join("&")
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A response whose body has not been read yet.
pub struct Response {
    pub head: Head,
    pub body: BodyReader<BufReader<Box<dyn Conn>>>,
}

impl Response {
    pub fn bytes(mut self) -> Result<Vec<u8>> {
        // A body of known length goes into one allocation, not a series of doubling copies
        // (`ps` with 1000 containers reads ~700 KB); the cap keeps a bogus length harmless.
        let known = self
            .head
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut buf = Vec::with_capacity(known.min(64 << 20));
        self.body
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("reading the daemon's response", e))?;
        Ok(buf)
    }

    pub fn json(self) -> Result<V> {
        let bytes = self.bytes()?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(V::Null);
        }
        V::parse(&bytes).map_err(|e| Error::Protocol(format!("bad JSON from the daemon: {e}")))
    }
}

/// A hijacked connection: the reader continues after the `101` head (any bytes the daemon sent
/// along with it are in its buffer), the writer is a second handle on the same socket.
pub struct Hijacked {
    pub head: Head,
    pub reader: Box<dyn Read + Send>,
    pub writer: Box<dyn Conn>,
}

pub struct Client {
    pub host: String,
    addr: Addr,
    /// True when the host is berth's default, so a missing daemon may be started.
    autostart: bool,
    started: AtomicBool,
}

impl Client {
    /// The host from `-H`, else `BERTH_HOST`, else `DOCKER_HOST`, else the default socket.
    pub fn new(flag: Option<String>) -> Result<Client> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (host, explicit) = match flag
            .or_else(|| env("BERTH_HOST"))
            .or_else(|| env("DOCKER_HOST"))
        {
            Some(h) => (h, true),
            None => (DEFAULT_HOST.to_string(), false),
        };
        Ok(Client {
            addr: parse_host(&host)?,
            host,
            autostart: !explicit,
            started: AtomicBool::new(false),
        })
    }

    /// A second client for the same daemon (for another thread); it never starts berthd.
    pub fn duplicate(&self) -> Client {
        Client {
            host: self.host.clone(),
            addr: self.addr.clone(),
            autostart: false,
            started: AtomicBool::new(true),
        }
    }

    fn dial(&self) -> io::Result<Box<dyn Conn>> {
        Ok(match &self.addr {
            Addr::Unix(path) => Box::new(UnixStream::connect(path)?),
            Addr::Tcp(addr) => {
                let s = TcpStream::connect(addr)?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
        })
    }

    /// Connects, starting berthd first when it is absent and that is allowed.
    pub fn connect(&self) -> Result<Box<dyn Conn>> {
        match self.dial() {
            Ok(c) => Ok(c),
            Err(e) if is_absent(&e) => {
                if !self.autostart || self.started.swap(true, Ordering::SeqCst) {
                    return Err(Error::CannotConnect {
                        host: self.host.clone(),
                    });
                }
                // SAFETY: geteuid has no preconditions.
                if unsafe { libc::geteuid() } != 0 {
                    return Err(Error::CannotConnect {
                        host: self.host.clone(),
                    });
                }
                self.start_daemon()?;
                self.dial()
                    .map_err(|e| Error::io(format!("connecting to {}", self.host), e))
            }
            Err(e) => Err(Error::io(format!("connecting to {}", self.host), e)),
        }
    }

    /// Spawns berthd detached, then waits until its socket answers.
    fn start_daemon(&self) -> Result<()> {
        let berthd = find_berthd().ok_or_else(|| {
            Error::client(format!(
                "cannot connect to the berth daemon at {} and cannot start it: no berthd next to berth or in PATH",
                self.host
            ))
        })?;
        let log_path =
            std::env::var("BERTH_DAEMON_LOG").unwrap_or_else(|_| DEFAULT_LOG.to_string());
        let open_log = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|e| Error::io(format!("opening the berthd log {log_path}"), e))
        };
        let mut cmd = Command::new(&berthd);
        cmd.stdin(Stdio::null())
            .stdout(open_log()?)
            .stderr(open_log()?);
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe and allocates nothing. A new session keeps berthd
        // out of this terminal's job control, so ^C on berth or closing the terminal leaves it.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", berthd.display()), e))?;
        eprintln!(
            "berth: started berthd (pid {}), log in {log_path}",
            child.id()
        );
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.dial().is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::client(format!(
                    "berthd exited ({status}) before it was ready; see {log_path}"
                )));
            }
            if Instant::now() >= deadline {
                return Err(Error::client(format!(
                    "berthd (pid {}) did not answer on {} within {}s; see {log_path}",
                    child.id(),
                    self.host,
                    START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn target(path: &str, query: &Query) -> String {
        let q = query.encode();
        if q.is_empty() {
            format!("/v{API_VERSION}{path}")
        } else {
            format!("/v{API_VERSION}{path}?{q}")
        }
    }

    fn host_header(&self) -> &str {
        match &self.addr {
            Addr::Unix(_) => "api.moby.localhost",
            Addr::Tcp(a) => a,
        }
    }

    /// Sends a request and reads the response head, whatever its status.
    pub fn send(&self, method: &str, path: &str, query: &Query, body: Body) -> Result<Response> {
        let conn = self.connect()?;
        self.send_on(conn, method, path, query, body)?
            .finish(method)
    }

    /// Writes a request on its own connection and returns without reading the answer, so a
    /// slow answer (wait) can be read later on another thread.
    pub fn send_on(
        &self,
        mut conn: Box<dyn Conn>,
        method: &str,
        path: &str,
        query: &Query,
        body: Body,
    ) -> Result<Pending> {
        http::write_request(
            &mut conn,
            method,
            &Self::target(path, query),
            self.host_header(),
            body,
            false,
        )
        .map_err(|e| Error::io(format!("sending {method} {path}"), e))?;
        Ok(Pending { conn })
    }

    /// Like `send`, but a 4xx/5xx answer becomes `Error::Daemon`.
    pub fn call(&self, method: &str, path: &str, query: &Query, body: Body) -> Result<Response> {
        check(self.send(method, path, query, body)?)
    }

    pub fn get_json(&self, path: &str, query: &Query) -> Result<V> {
        self.call("GET", path, query, Body::Empty)?.json()
    }

    pub fn post_json(&self, path: &str, query: &Query, body: Body) -> Result<V> {
        self.call("POST", path, query, body)?.json()
    }

    /// A request with `Upgrade: tcp`; on `101` (or a plain `200`, which old daemons send) the
    /// connection becomes a raw byte stream.
    pub fn hijack(&self, method: &str, path: &str, query: &Query) -> Result<Hijacked> {
        self.hijack_with(method, path, query, Body::Empty)
    }

    /// [`Client::hijack`] with a request body (exec start sends its options as JSON).
    pub fn hijack_with(
        &self,
        method: &str,
        path: &str,
        query: &Query,
        body: Body,
    ) -> Result<Hijacked> {
        let mut conn = self.connect()?;
        http::write_request(
            &mut conn,
            method,
            &Self::target(path, query),
            self.host_header(),
            body,
            true,
        )
        .map_err(|e| Error::io(format!("sending {method} {path}"), e))?;
        let writer = conn
            .try_clone_conn()
            .map_err(|e| Error::io("cloning the socket", e))?;
        let mut reader = BufReader::new(conn);
        let head = http::read_head(&mut reader)
            .map_err(|e| Error::io(format!("reading the answer to {path}"), e))?;
        if head.status >= 400 {
            let framing = head.framing(method);
            return Err(check(Response {
                head,
                body: BodyReader::new(reader, framing),
            })
            .err()
            .unwrap_or_else(|| Error::Protocol("hijack failed".into())));
        }
        let reader: Box<dyn Read + Send> = if head.status == 101 {
            Box::new(reader)
        } else {
            let framing = head.framing(method);
            Box::new(BodyReader::new(reader, framing))
        };
        Ok(Hijacked {
            head,
            reader,
            writer,
        })
    }
}

/// A request already written, its answer still to read.
pub struct Pending {
    conn: Box<dyn Conn>,
}

impl Pending {
    pub fn finish(self, method: &str) -> Result<Response> {
        let mut reader = BufReader::new(self.conn);
        let head = http::read_head(&mut reader)
            .map_err(|e| Error::io("reading the daemon's response", e))?;
        let framing = head.framing(method);
        Ok(Response {
            head,
            body: BodyReader::new(reader, framing),
        })
    }
}

/// Turns a 4xx/5xx response into `Error::Daemon` with the daemon's message.
pub fn check(resp: Response) -> Result<Response> {
    if resp.head.status < 400 {
        return Ok(resp);
    }
    let status = resp.head.status;
    let bytes = resp.bytes().unwrap_or_default();
    let message = match V::parse(&bytes) {
        Ok(v) if !v.get("message").str().is_empty() => v.get("message").str().to_string(),
        _ => {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            if text.is_empty() {
                format!("request failed with status {status}")
            } else {
                text
            }
        }
    };
    Err(Error::Daemon { status, message })
}

/// ENOENT (no socket file) and ECONNREFUSED (a stale one) both mean nobody is listening.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

/// `BERTH_BERTHD`, else `berthd` beside this binary, else the first one in PATH.
fn find_berthd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_BERTHD").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::parent)
    {
        let beside = dir.join("berthd");
        if beside.is_file() {
            return Some(beside);
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("berthd"))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse() {
        assert_eq!(
            parse_host("unix:///run/x.sock").unwrap(),
            Addr::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse_host("tcp://1.2.3.4:2375").unwrap(),
            Addr::Tcp("1.2.3.4:2375".into())
        );
        assert_eq!(
            parse_host("tcp://localhost").unwrap(),
            Addr::Tcp("localhost:2375".into())
        );
        assert!(parse_host("ssh://x").is_err());
    }

    #[test]
    fn queries_encode() {
        let mut q = Query::new();
        q.add("filters", r#"{"a":{"b=c":true}}"#)
            .add("name", "x y")
            .flag("all", true)
            .flag("no", false);
        assert_eq!(
            q.encode(),
            "filters=%7B%22a%22%3A%7B%22b%3Dc%22%3Atrue%7D%7D&name=x%20y&all=1"
        );
    }
}
