//! `run` with `process.terminal`: our terminal in raw mode, bytes copied both ways between it and
//! the container's pty, window size kept in step, signals passed on.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use berth_runtime::os;

/// Puts stdin in raw mode while alive, if it is a terminal.
struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        // SAFETY: termios is plain data, filled by tcgetattr before use.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::isatty(0) == 0 || libc::tcgetattr(0, &mut saved) != 0 {
                return RawMode { saved: None };
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            RawMode { saved: Some(saved) }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restoring the settings read in `enter`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, saved) };
        }
    }
}

/// Copies our terminal's window size to the pty, when stdin is a terminal.
fn copy_window_size(master: RawFd) {
    // SAFETY: winsize is plain data; both ioctls read or write exactly one.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
        }
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        // SAFETY: writing from a live slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        data = &data[n as usize..];
    }
    true
}

/// Proxies until the container has exited and its pty has no more output; returns its exit code.
pub fn proxy(pid: i32, master: &OwnedFd, signals: &OwnedFd) -> i32 {
    let _raw = RawMode::enter();
    let master_fd = master.as_raw_fd();
    copy_window_size(master_fd);
    let mut stdin_open = true;
    let mut output_open = true;
    let mut exit_code = None;
    let mut buf = [0u8; 8192];
    while output_open || exit_code.is_none() {
        let mut fds = [
            libc::pollfd {
                fd: signals.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if output_open { master_fd } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open && output_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let _ = os::poll(&mut fds, -1);
        while let Some(sig) = os::next_signal(signals) {
            match sig {
                libc::SIGCHLD => {
                    if let Some((_, status)) =
                        os::reap_children().into_iter().find(|(p, _)| *p == pid)
                    {
                        exit_code = Some(os::exit_code(status));
                    }
                }
                libc::SIGWINCH => copy_window_size(master_fd),
                // SAFETY: forwarding to our own child.
                other => unsafe {
                    libc::kill(pid, other);
                },
            }
        }
        if fds[1].revents != 0 {
            // Once every holder of the pty's other side is gone, read fails with EIO: the end.
            match os::read(master_fd, &mut buf) {
                Ok(n) if n > 0 => {
                    write_all(1, &buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                _ => output_open = false,
            }
        }
        if fds[2].revents != 0 {
            match os::read(0, &mut buf) {
                Ok(n) if n > 0 => {
                    write_all(master_fd, &buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                _ => stdin_open = false,
            }
        }
    }
    exit_code.unwrap_or(255)
}
