//! Live output for attached clients. The json-file log holds whole lines, but a terminal
//! session needs every byte as it comes (a shell prompt has no newline). So the shim also sends
//! what it reads to each attached connection, framed with Docker's 8-byte stream header
//! (stream 1 = stdout, also for a terminal; 2 = stderr; then the length, big-endian).
//!
//! Clients are berthd's connections to `<state-dir>/attach.sock`, plus, when berthd spawns the
//! shim for a client that attached before the start (`docker run`), the shim's stdin socket:
//! that client is there before the container prints anything. Writes never block the shim: a
//! client more than [`MAX_BEHIND`] bytes behind is dropped.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::log::Stream;
use crate::os as sys;

/// The socket's name inside the state directory.
pub const ATTACH_SOCKET: &str = "attach.sock";
/// How far a client may fall behind before it is dropped.
const MAX_BEHIND: usize = 4 << 20;
/// How long the shim, about to exit, waits for clients to take what is still queued.
const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// A frame's stream byte.
fn stream_byte(stream: Stream) -> u8 {
    match stream {
        Stream::Stdout => 1,
        Stream::Stderr => 2,
    }
}

struct Client {
    conn: UnixStream,
    queued: Vec<u8>,
    sent: usize,
}

impl Client {
    /// Writes what it can; false when the connection is gone.
    fn flush(&mut self) -> bool {
        while self.sent < self.queued.len() {
            match self.conn.write(&self.queued[self.sent..]) {
                Ok(0) => return false,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.queued.clear();
        self.sent = 0;
        if self.queued.capacity() > 64 * 1024 {
            self.queued = Vec::new();
        }
        true
    }
}

pub struct AttachServer {
    path: PathBuf,
    listener: UnixListener,
    clients: Vec<Client>,
}

/// What the event loop polls for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Listener,
    Client(usize),
}

impl AttachServer {
    /// Listens at `<state_dir>/attach.sock`, with `first` (if any) already attached.
    pub fn bind(state_dir: &Path, first: Option<UnixStream>) -> std::io::Result<AttachServer> {
        let path = state_dir.join(ATTACH_SOCKET);
        let _ = std::fs::remove_file(&path);
        let (_dir, bind_path) = sys::short_socket_path(&path)?;
        let listener = UnixListener::bind(&bind_path)?;
        listener.set_nonblocking(true)?;
        let mut server = AttachServer {
            path,
            listener,
            clients: Vec::new(),
        };
        if let Some(conn) = first {
            server.add(conn);
        }
        Ok(server)
    }

    fn add(&mut self, conn: UnixStream) {
        if conn.set_nonblocking(true).is_ok() {
            self.clients.push(Client {
                conn,
                queued: Vec::new(),
                sent: 0,
            });
        }
    }

    /// The fds to poll now, each with its events.
    pub fn poll_slots(&self) -> Vec<(Slot, i32, i16)> {
        let mut slots = Vec::with_capacity(1 + self.clients.len());
        slots.push((Slot::Listener, self.listener.as_raw_fd(), libc::POLLIN));
        for (i, c) in self.clients.iter().enumerate() {
            // Readable means the peer closed (clients send nothing); writable matters only
            // while something is queued.
            let mut events = libc::POLLIN;
            if !c.queued.is_empty() {
                events |= libc::POLLOUT;
            }
            slots.push((Slot::Client(i), c.conn.as_raw_fd(), events));
        }
        slots
    }

    /// Handles the readiness poll reported for `slots` (as returned by [`poll_slots`], in order).
    pub fn ready(&mut self, slots: &[(Slot, i16)]) {
        let mut gone = Vec::new();
        for &(slot, revents) in slots {
            match slot {
                Slot::Listener => {
                    while let Ok((conn, _)) = self.listener.accept() {
                        self.add(conn);
                    }
                }
                Slot::Client(i) => {
                    let Some(c) = self.clients.get_mut(i) else {
                        continue;
                    };
                    let mut alive = revents & (libc::POLLHUP | libc::POLLERR) == 0;
                    if alive && revents & libc::POLLIN != 0 {
                        let mut sink = [0u8; 512];
                        alive = !matches!(c.conn.read(&mut sink), Ok(0));
                    }
                    if alive && revents & libc::POLLOUT != 0 {
                        alive = c.flush();
                    }
                    if !alive {
                        gone.push(i);
                    }
                }
            }
        }
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            self.clients.remove(i);
        }
    }

    /// Queues `data` from `stream` for every client and sends what can go now.
    pub fn broadcast(&mut self, stream: Stream, data: &[u8]) {
        if self.clients.is_empty() || data.is_empty() {
            return;
        }
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut header = [0u8; 8];
        header[0] = stream_byte(stream);
        header[4..].copy_from_slice(&len.to_be_bytes());
        self.clients.retain_mut(|c| {
            c.queued.extend_from_slice(&header);
            c.queued.extend_from_slice(&data[..len as usize]);
            c.flush() && c.queued.len() - c.sent <= MAX_BEHIND
        });
    }

    /// The container is gone: gives clients a little time to take what is queued, then closes
    /// every connection (which ends each attached stream).
    pub fn finish(&mut self) {
        let deadline = Instant::now() + FINAL_FLUSH;
        loop {
            self.clients
                .retain_mut(|c| c.flush() && !c.queued.is_empty());
            if self.clients.is_empty() {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.clients.clear();
                return;
            }
            let mut pfds: Vec<libc::pollfd> = self
                .clients
                .iter()
                .map(|c| libc::pollfd {
                    fd: c.conn.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                })
                .collect();
            let _ = sys::poll(&mut pfds, left.as_millis().min(1000) as i32);
        }
    }
}

impl Drop for AttachServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pump(server: &mut AttachServer) {
        for _ in 0..5 {
            let slots: Vec<(Slot, i16)> = server
                .poll_slots()
                .into_iter()
                .map(|(s, _, events)| (s, events & !libc::POLLIN | libc::POLLOUT))
                .collect();
            // Listener readiness is simulated by trying accept.
            let mut with_listener = slots.clone();
            with_listener.retain(|(s, _)| *s != Slot::Listener);
            with_listener.insert(0, (Slot::Listener, libc::POLLIN));
            server.ready(&with_listener);
        }
    }

    fn read_frames(conn: &mut UnixStream) -> Vec<(u8, Vec<u8>)> {
        let mut bytes = Vec::new();
        conn.read_to_end(&mut bytes).unwrap();
        let mut frames = Vec::new();
        let mut rest = &bytes[..];
        while rest.len() >= 8 {
            let len = u32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
            frames.push((rest[0], rest[8..8 + len].to_vec()));
            rest = &rest[8 + len..];
        }
        assert!(rest.is_empty());
        frames
    }

    #[test]
    fn the_first_client_and_a_later_one_get_live_frames() {
        let dir = tempfile::tempdir().unwrap();
        let (first, mut first_peer) = UnixStream::pair().unwrap();
        let mut server = AttachServer::bind(dir.path(), Some(first)).unwrap();
        server.broadcast(Stream::Stdout, b"/ # ");
        let mut later = UnixStream::connect(dir.path().join(ATTACH_SOCKET)).unwrap();
        pump(&mut server);
        server.broadcast(Stream::Stderr, b"oops\n");
        server.finish();
        drop(server);
        assert_eq!(
            read_frames(&mut first_peer),
            vec![(1, b"/ # ".to_vec()), (2, b"oops\n".to_vec())]
        );
        assert_eq!(read_frames(&mut later), vec![(2, b"oops\n".to_vec())]);
        assert!(!dir.path().join(ATTACH_SOCKET).exists());
    }

    #[test]
    fn a_client_that_went_away_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (first, peer) = UnixStream::pair().unwrap();
        let mut server = AttachServer::bind(dir.path(), Some(first)).unwrap();
        drop(peer);
        server.broadcast(Stream::Stdout, b"x");
        assert!(server.clients.is_empty());
    }
}
