//! Small wrappers over the host system calls the runtime CLI and the shim make directly (the
//! container init has its own, allocation-free set in `init::sys`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A pipe, both ends close-on-exec: (read, write).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own; no memory is passed.
    unsafe {
        let flags = check(libc::fcntl(fd, libc::F_GETFL))?;
        check(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    }
    Ok(())
}

fn sigset(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in signals {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Blocks `signals` and returns a non-blocking signalfd that reports them. Children started with
/// `std::process::Command` and the builtin runtime's init start with an empty mask again.
pub fn block_signals(signals: &[i32]) -> io::Result<OwnedFd> {
    let set = sigset(signals);
    // SAFETY: a valid set; the process is single-threaded.
    check(unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) })?;
    // SAFETY: -1 asks for a new fd; the set is valid.
    let fd = check(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The next pending signal from a signalfd, or `None` when there is none.
pub fn next_signal(fd: &OwnedFd) -> Option<i32> {
    // SAFETY: reading one signalfd_siginfo into a zeroed struct of that size.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let size = std::mem::size_of_val(&info);
        let n = libc::read(
            fd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            size,
        );
        (n == size as isize).then_some(info.ssi_signo as i32)
    }
}

/// poll(2), retried on EINTR. Returns how many entries have events.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    loop {
        // SAFETY: the slice is a valid array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// read(2) into `buf`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: writing at most buf.len() bytes into buf.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reaps every child that has exited, without blocking: (pid, raw wait status) each.
pub fn reap_children() -> Vec<(i32, i32)> {
    let mut reaped = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return reaped;
        }
        reaped.push((pid, status));
    }
}

/// A wait status as a shell reports it: the exit code, or 128 + the signal that killed it.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Makes this process the reaper of its orphaned descendants (an external runtime's init).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// Leaves the caller's session so that its terminal hanging up does not reach us. Fails
/// harmlessly (EPERM) when we already lead a process group.
pub fn new_session() {
    // SAFETY: no arguments.
    unsafe { libc::setsid() };
}

/// Closes every fd above stderr that the spawning process let us inherit, so the shim (and the
/// container it starts) holds nothing of its caller's.
pub fn close_inherited_fds() {
    // SAFETY: close_range(3, ~0, 0) only closes descriptors; nothing of ours is open yet.
    unsafe { libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, 0) };
}

/// A write to a closed pipe fails with EPIPE instead of killing us. Both runtimes give the
/// container the default disposition back.
pub fn ignore_sigpipe() {
    // SAFETY: setting a disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Points stdin, stdout and stderr at /dev/null.
pub fn stdio_to_devnull() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which we own.
        check(unsafe { libc::dup2(null.as_raw_fd(), target) })?;
    }
    Ok(())
}

/// Receives one fd sent with SCM_RIGHTS (the pty master from the runtime).
pub fn recv_fd(sock: &UnixStream) -> io::Result<OwnedFd> {
    let (n, fd) = recv_with_fd(sock)?;
    match fd {
        Some(fd) => Ok(fd),
        None if n == 0 => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the runtime closed the console socket without sending a pty",
        )),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the runtime's console message carried no file descriptor",
        )),
    }
}

/// Receives one message of up to 256 bytes: its length (0 at EOF) and the first fd it carried
/// with SCM_RIGHTS, if any.
pub fn recv_with_fd(sock: &UnixStream) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut name = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: name.as_mut_ptr().cast(),
        iov_len: name.len(),
    };
    // Room for a few fds, u64-aligned as cmsghdr needs.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; every pointer set below outlives the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    let n = loop {
        // SAFETY: msg describes valid buffers.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut received = Vec::new();
    // SAFETY: walking the control messages recvmsg filled in, within msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                let header = libc::CMSG_LEN(0) as usize;
                let count =
                    ((*cmsg).cmsg_len as usize - header) / std::mem::size_of::<libc::c_int>();
                for i in 0..count {
                    received.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    // Extra fds, if a sender passed more than one, are closed as `received` drops.
    Ok((n as usize, received.into_iter().next()))
}

/// Sends `fd` with SCM_RIGHTS over `sock`, with `name` as the message's payload (runc's
/// console-socket protocol names the pty this way).
pub fn send_fd(sock: &UnixStream, fd: RawFd, name: &[u8]) -> io::Result<()> {
    let mut payload = name.to_vec();
    if payload.is_empty() {
        payload.push(0);
    }
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; the iovec and control buffers outlive sendmsg, and the
    // control buffer has room for one cmsghdr with one int.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        loop {
            if libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// A new pty pair: the master and its slave, both close-on-exec and not a controlling terminal.
pub fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: posix_openpt returns a new fd we own; grantpt/unlockpt/ptsname_r act on it, and
    // ptsname_r writes a NUL-terminated name into our buffer.
    unsafe {
        let m = check(libc::posix_openpt(
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ))?;
        let master = OwnedFd::from_raw_fd(m);
        check(libc::grantpt(m))?;
        check(libc::unlockpt(m))?;
        let mut name = [0 as libc::c_char; 128];
        let rc = libc::ptsname_r(m, name.as_mut_ptr(), name.len());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let s = check(libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ))?;
        Ok((master, OwnedFd::from_raw_fd(s)))
    }
}

/// Sets the window size of the terminal behind `fd` (a pty master or slave).
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the winsize we pass.
    check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(|_| ())
}

/// A close-on-exec copy of this process's stdin.
pub fn dup_stdin() -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new fd that we own.
    let fd = check(unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: fd was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits for `pid`, passing every forwarded signal on to it; returns its exit code.
pub fn wait_forwarding(pid: i32, signals: &OwnedFd) -> i32 {
    loop {
        let mut pfd = [libc::pollfd {
            fd: signals.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let _ = poll(&mut pfd, -1);
        while let Some(sig) = next_signal(signals) {
            if sig == libc::SIGCHLD {
                let found = reap_children()
                    .into_iter()
                    .find(|(p, _)| *p == pid)
                    .map(|(_, status)| exit_code(status));
                if let Some(code) = found {
                    return code;
                }
            } else {
                // SAFETY: forwarding to our own child.
                unsafe { libc::kill(pid, sig) };
            }
        }
    }
}

/// Gives freed heap back to the kernel, so an idle shim's resident set stays small.
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Unix socket paths are limited to 107 bytes. For a longer one this opens its directory and
/// returns `/proc/self/fd/N/<name>` (valid while the returned fd lives), which bind(2) and
/// connect(2) resolve to the same place.
pub fn short_socket_path(
    path: &std::path::Path,
) -> io::Result<(Option<OwnedFd>, std::path::PathBuf)> {
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().as_bytes().len() < 100 {
        return Ok((None, path.to_path_buf()));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok((None, path.to_path_buf()));
    };
    let fd: OwnedFd = std::fs::File::open(dir)?.into();
    let short = std::path::Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())).join(name);
    Ok((Some(fd), short))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        // Raw statuses as waitpid encodes them.
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGKILL), 137);
        assert_eq!(exit_code(libc::SIGTERM | 0x80), 143); // core dumped
    }

    #[test]
    fn an_fd_crosses_a_socket_pair() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = pipe().unwrap();
        // Send `w` the way a runtime sends the pty master.
        send_fd(&a, w.as_raw_fd(), b"/dev/ptmx").unwrap();
        drop(w);
        let got = recv_fd(&b).unwrap();
        // SAFETY: writing two bytes from a static buffer.
        assert_eq!(
            unsafe { libc::write(got.as_raw_fd(), b"ok".as_ptr().cast(), 2) },
            2
        );
        drop(got);
        let mut buf = [0u8; 8];
        assert_eq!(read(r.as_raw_fd(), &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"ok");
        drop(a);
        assert_eq!(
            recv_fd(&b).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }
}
