//! Hands the container's pty master to berthd: every connection to `<state-dir>/pty.sock` gets
//! a copy of the master (SCM_RIGHTS) and is closed. berthd resizes the terminal with it
//! (TIOCSWINSZ) and drops it. Handing out the fd keeps the shim free of a request protocol, and
//! berthd's copy never keeps the pty alive: the shim still sees EIO once the container's last
//! slave closes.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::os as sys;

/// The socket's name inside the state directory.
pub const PTY_SOCKET: &str = "pty.sock";
/// How long a peer may leave the shim waiting to take the fd.
const SEND_TIMEOUT: Duration = Duration::from_millis(200);

pub struct PtyServer {
    path: PathBuf,
    listener: UnixListener,
    master: OwnedFd,
}

impl PtyServer {
    /// Listens at `<state_dir>/pty.sock`; `master` is a copy of the pty master that the server owns.
    pub fn bind(state_dir: &Path, master: OwnedFd) -> std::io::Result<PtyServer> {
        let path = state_dir.join(PTY_SOCKET);
        let _ = std::fs::remove_file(&path);
        let (_dir, bind_path) = sys::short_socket_path(&path)?;
        let listener = UnixListener::bind(&bind_path)?;
        listener.set_nonblocking(true)?;
        Ok(PtyServer {
            path,
            listener,
            master,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// Serves every pending connection.
    pub fn ready(&self) {
        while let Ok((conn, _)) = self.listener.accept() {
            // The socket buffer takes the message at once; the timeout only guards a peer that
            // filled it.
            let _ = conn.set_nonblocking(false);
            let _ = conn.set_write_timeout(Some(SEND_TIMEOUT));
            let _ = sys::send_fd(&conn, self.master.as_raw_fd(), b"pty");
        }
    }
}

impl Drop for PtyServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// berthd's side: takes the master from the shim whose state directory is `state_dir` and sets
/// the terminal's size.
pub fn resize(state_dir: &Path, rows: u16, cols: u16) -> std::io::Result<()> {
    let (_dir, path) = sys::short_socket_path(&state_dir.join(PTY_SOCKET))?;
    let conn = UnixStream::connect(path)?;
    conn.set_read_timeout(Some(SEND_TIMEOUT))?;
    let master = sys::recv_fd(&conn)?;
    sys::set_winsize(master.as_raw_fd(), rows, cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_resizes_the_terminal_through_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let (master, slave) = sys::open_pty().unwrap();
        let server = PtyServer::bind(dir.path(), master).unwrap();
        let state_dir = dir.path().to_path_buf();
        let client = std::thread::spawn(move || resize(&state_dir, 33, 120));
        // Serve until the client is done.
        while !client.is_finished() {
            server.ready();
            std::thread::sleep(Duration::from_millis(5));
        }
        client.join().unwrap().unwrap();
        // SAFETY: TIOCGWINSZ fills the winsize we pass.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) },
            0
        );
        assert_eq!((ws.ws_row, ws.ws_col), (33, 120));
        drop(server);
        assert!(!dir.path().join(PTY_SOCKET).exists());
    }
}
