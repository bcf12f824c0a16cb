//! The container's stdin, fed through `<state-dir>/stdin.sock`: berthd connects when a client
//! attaches with stdin and copies the client's bytes in. One connection at a time. With
//! `--stdin-once` (Docker's StdinOnce), the end of the first connection closes the container's
//! stdin, so `echo hi | docker run -i IMG cat` sees EOF.

use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::os as sys;

/// The socket's name inside the state directory.
pub const STDIN_SOCKET: &str = "stdin.sock";
/// Bytes read from a client before they must go into the pipe.
const CHUNK: usize = 16 * 1024;

pub struct StdinFeed {
    path: PathBuf,
    listener: Option<UnixListener>,
    conn: Option<UnixStream>,
    /// The write end of the container's stdin pipe; None once closed.
    pipe: Option<OwnedFd>,
    pending: Vec<u8>,
    written: usize,
    once: bool,
}

/// What the event loop should poll for the feed, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Listener,
    Conn,
    Pipe,
}

impl StdinFeed {
    pub fn bind(state_dir: &Path, pipe: OwnedFd, once: bool) -> std::io::Result<StdinFeed> {
        let path = state_dir.join(STDIN_SOCKET);
        let _ = std::fs::remove_file(&path);
        let (_dir, bind_path) = sys::short_socket_path(&path)?;
        let listener = UnixListener::bind(&bind_path)?;
        listener.set_nonblocking(true)?;
        sys::set_nonblocking(pipe.as_raw_fd())?;
        Ok(StdinFeed {
            path,
            listener: Some(listener),
            conn: None,
            pipe: Some(pipe),
            pending: Vec::new(),
            written: 0,
            once,
        })
    }

    /// The fds to poll now, each with its events.
    pub fn poll_slots(&self) -> Vec<(Slot, i32, i16)> {
        let mut slots = Vec::with_capacity(2);
        if self.pending.is_empty() {
            match (&self.conn, &self.listener) {
                (Some(c), _) => slots.push((Slot::Conn, c.as_raw_fd(), libc::POLLIN)),
                (None, Some(l)) => slots.push((Slot::Listener, l.as_raw_fd(), libc::POLLIN)),
                (None, None) => {}
            }
        } else if let Some(p) = &self.pipe {
            slots.push((Slot::Pipe, p.as_raw_fd(), libc::POLLOUT));
        }
        slots
    }

    /// Handles readiness of `slot`.
    pub fn ready(&mut self, slot: Slot) {
        match slot {
            Slot::Listener => self.accept(),
            Slot::Conn => self.read(),
            Slot::Pipe => self.flush(),
        }
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        if let Ok((conn, _)) = listener.accept() {
            if conn.set_nonblocking(true).is_ok() {
                self.conn = Some(conn);
            }
        }
    }

    fn read(&mut self) {
        let Some(conn) = &mut self.conn else { return };
        let mut buf = vec![0u8; CHUNK];
        match conn.read(&mut buf) {
            Ok(0) => self.client_done(),
            Ok(n) => {
                buf.truncate(n);
                self.pending = buf;
                self.written = 0;
                self.flush();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => self.client_done(),
        }
    }

    fn flush(&mut self) {
        let Some(pipe) = &self.pipe else {
            self.pending.clear();
            return;
        };
        while self.written < self.pending.len() {
            let rest = &self.pending[self.written..];
            // SAFETY: writes from a live buffer to an fd we own.
            let n = unsafe { libc::write(pipe.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if n >= 0 {
                self.written += n as usize;
                continue;
            }
            match std::io::Error::last_os_error().kind() {
                ErrorKind::WouldBlock => return,
                ErrorKind::Interrupted => {}
                // EPIPE: the container closed its stdin; what is left goes nowhere.
                _ => {
                    self.pipe = None;
                    break;
                }
            }
        }
        self.pending.clear();
        self.written = 0;
    }

    fn client_done(&mut self) {
        self.conn = None;
        if self.once {
            self.close();
        }
    }

    /// Closes the container's stdin and stops taking connections.
    pub fn close(&mut self) {
        self.pipe = None;
        self.pending.clear();
        if self.listener.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for StdinFeed {
    fn drop(&mut self) {
        if self.listener.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pump(feed: &mut StdinFeed) {
        for _ in 0..20 {
            for (slot, _, _) in feed.poll_slots() {
                feed.ready(slot);
            }
        }
    }

    #[test]
    fn bytes_reach_the_pipe_and_once_closes_it() {
        let dir = tempfile::tempdir().unwrap();
        let (r, w) = sys::pipe().unwrap();
        let mut feed = StdinFeed::bind(dir.path(), w, true).unwrap();
        let mut client = UnixStream::connect(dir.path().join(STDIN_SOCKET)).unwrap();
        client.write_all(b"hello\n").unwrap();
        pump(&mut feed);
        drop(client);
        pump(&mut feed);
        let mut got = String::new();
        std::fs::File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello\n");
        assert!(!dir.path().join(STDIN_SOCKET).exists());
    }

    #[test]
    fn without_once_a_second_client_may_write() {
        let dir = tempfile::tempdir().unwrap();
        let (r, w) = sys::pipe().unwrap();
        let mut feed = StdinFeed::bind(dir.path(), w, false).unwrap();
        for text in [&b"a"[..], b"b"] {
            let mut client = UnixStream::connect(dir.path().join(STDIN_SOCKET)).unwrap();
            client.write_all(text).unwrap();
            pump(&mut feed);
            drop(client);
            pump(&mut feed);
        }
        feed.close();
        let mut got = String::new();
        std::fs::File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "ab");
    }
}
