//! Child-side steps the container init and `exec` share: the pty handover, the switch to the
//! process's user and capabilities, and the executable lookup. Like the rest of the child code
//! they only make system calls on prepared data: no allocation, no locks, no panics.
//!
//! Each caller reports failures against its own list of steps, so a failure here names a
//! [`Shared`] step and the caller maps it (`From<SharedFailure>`).

use libc::{c_int, c_ulong, gid_t, uid_t};

use super::plan::CapSets;
use super::sys;

/// The steps done here, as both callers' step lists name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shared {
    Console,
    Capabilities,
    Setgroups,
    Setgid,
    Setuid,
    ExecLookup,
}

/// A failed shared step: which, at which index of its sub-steps, and errno.
#[derive(Clone, Copy)]
pub(crate) struct SharedFailure(pub Shared, pub u32, pub c_int);

type Res<T = ()> = Result<T, SharedFailure>;

fn check(rc: c_int, step: Shared, index: u32) -> Res {
    if rc < 0 {
        Err(SharedFailure(step, index, sys::errno()))
    } else {
        Ok(())
    }
}

const TIOCGPTPEER: c_ulong = 0x5441;

/// Given a pty master just opened in the container's devpts: unlocks it, sizes the terminal,
/// sends the master over `console_socket` (runc's protocol), and makes the slave our
/// controlling terminal and stdio. Returns the slave; the caller closes it when it is above 2.
pub(crate) unsafe fn hand_over_pty(
    master: c_int,
    console_size: Option<(u16, u16)>,
    console_socket: c_int,
) -> Res<c_int> {
    check(master, Shared::Console, 0)?;
    let unlock: c_int = 0;
    check(
        libc::ioctl(master, libc::TIOCSPTLCK, &unlock),
        Shared::Console,
        1,
    )?;
    let slave = libc::ioctl(
        master,
        TIOCGPTPEER,
        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
    );
    check(slave, Shared::Console, 2)?;
    if let Some((rows, cols)) = console_size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        libc::ioctl(slave, libc::TIOCSWINSZ, &ws);
    }
    check(send_fd(console_socket, master), Shared::Console, 3)?;
    sys::close(master);
    sys::close(console_socket);
    check(libc::ioctl(slave, libc::TIOCSCTTY, 0), Shared::Console, 4)?;
    for target in 0..3 {
        check(libc::dup2(slave, target), Shared::Console, 5)?;
    }
    if slave <= 2 {
        // dup2 onto itself keeps the close-on-exec flag the other copies drop.
        libc::fcntl(slave, libc::F_SETFD, 0);
    }
    Ok(slave)
}

/// Sends `fd` with SCM_RIGHTS over the unix socket `sock`.
unsafe fn send_fd(sock: c_int, fd: c_int) -> c_int {
    let name = b"/dev/ptmx";
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut _,
        iov_len: name.len(),
    };
    let mut control = [0u64; 4];
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) as usize;
    let cmsg = libc::CMSG_FIRSTHDR(&msg);
    (*cmsg).cmsg_level = libc::SOL_SOCKET;
    (*cmsg).cmsg_type = libc::SCM_RIGHTS;
    (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as usize;
    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>(), fd);
    libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) as c_int
}

/// Who the process runs as.
pub(crate) struct Credentials<'a> {
    pub uid: uid_t,
    pub gid: gid_t,
    pub additional_gids: &'a [gid_t],
    /// In a user namespace without a gid map for them, an empty setgroups fails: skip it.
    pub in_user_ns: bool,
    pub caps: CapSets,
    pub last_cap: u32,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// Bounding set, groups, gid, uid, then the capability sets (kept across the uid change with
/// KEEPCAPS) and the ambient set.
pub(crate) unsafe fn switch_user(c: &Credentials) -> Res {
    let caps = c.caps;
    check(
        libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0),
        Shared::Capabilities,
        0,
    )?;
    for cap in 0..=c.last_cap {
        if caps.bounding & (1u64 << cap) == 0 {
            check(
                libc::prctl(libc::PR_CAPBSET_DROP, cap as c_ulong, 0, 0, 0),
                Shared::Capabilities,
                1,
            )?;
        }
    }
    let groups = c.additional_gids;
    if !(c.in_user_ns && groups.is_empty()) {
        check(
            libc::setgroups(groups.len(), groups.as_ptr()),
            Shared::Setgroups,
            0,
        )?;
    }
    check(libc::setresgid(c.gid, c.gid, c.gid), Shared::Setgid, 0)?;
    check(libc::setresuid(c.uid, c.uid, c.uid), Shared::Setuid, 0)?;
    check(
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0),
        Shared::Capabilities,
        2,
    )?;
    let header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let half = |mask: u64, high: bool| {
        if high {
            (mask >> 32) as u32
        } else {
            mask as u32
        }
    };
    let data = [false, true].map(|high| CapData {
        effective: half(caps.effective, high),
        permitted: half(caps.permitted, high),
        inheritable: half(caps.inheritable, high),
    });
    check(
        libc::syscall(libc::SYS_capset, &header, data.as_ptr()) as c_int,
        Shared::Capabilities,
        3,
    )?;
    check(
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ),
        Shared::Capabilities,
        4,
    )?;
    for cap in 0..=c.last_cap {
        if caps.ambient & (1u64 << cap) != 0 {
            check(
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    cap as c_ulong,
                    0,
                    0,
                ),
                Shared::Capabilities,
                5,
            )?;
        }
    }
    Ok(())
}

/// The first candidate that is an executable regular file; ENOENT when none exists, EACCES when
/// one exists but can't be executed.
pub(crate) unsafe fn find_executable(candidates: &[std::ffi::CString]) -> Res<usize> {
    let mut seen_unexecutable = false;
    for (i, candidate) in candidates.iter().enumerate() {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(candidate.as_ptr(), &mut st) != 0 {
            continue;
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFREG
            && libc::faccessat(
                libc::AT_FDCWD,
                candidate.as_ptr(),
                libc::X_OK,
                libc::AT_EACCESS,
            ) == 0
        {
            return Ok(i);
        }
        seen_unexecutable = true;
    }
    let errno = if seen_unexecutable {
        libc::EACCES
    } else {
        libc::ENOENT
    };
    Err(SharedFailure(Shared::ExecLookup, 0, errno))
}
