//! The receiving end of a console socket: where a runtime hands over the pty master of a
//! container whose spec sets `process.terminal` (runc's `--console-socket` protocol).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::os;
use crate::RuntimeError;

/// A listening unix socket, removed from the filesystem when dropped.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Listens at `path`, replacing a stale socket left there.
    pub fn bind(path: &Path) -> std::io::Result<ConsoleSocket> {
        let _ = std::fs::remove_file(path);
        let (_dir, bind_path) = crate::os::short_socket_path(path)?;
        let listener = UnixListener::bind(&bind_path)?;
        Ok(ConsoleSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection and takes the pty master from it, waiting at most
    /// `timeout` for the runtime to connect.
    pub fn receive_pty(&self, timeout: Duration) -> Result<OwnedFd, RuntimeError> {
        let fail = |e: std::io::Error| RuntimeError::io("receive the pty master on", &self.path, e);
        self.listener.set_nonblocking(true).map_err(fail)?;
        let mut pfd = [libc::pollfd {
            fd: self.listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let ready = os::poll(&mut pfd, timeout.as_millis() as i32).map_err(fail)?;
        if ready == 0 {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the runtime never connected (does the spec set process.terminal?)",
            )));
        }
        let (conn, _) = self.listener.accept().map_err(fail)?;
        conn.set_nonblocking(false).map_err(fail)?;
        conn.set_read_timeout(Some(timeout)).map_err(fail)?;
        os::recv_fd(&conn).map_err(fail)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
