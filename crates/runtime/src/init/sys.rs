//! Thin, async-signal-safe wrappers over system calls that `libc` lacks or that the child uses
//! between clone and exec. Nothing here allocates.

use std::ffi::CStr;

use libc::{c_char, c_int, c_long};

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_IN_ROOT: u64 = 0x10;
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2): `path` is resolved with `resolve` (e.g. [`RESOLVE_IN_ROOT`], which treats `dirfd`
/// as `/`, so neither `..` nor an absolute symlink can leave it). Returns the fd or -1.
///
/// # Safety
/// `path` must be NUL-terminated.
pub unsafe fn openat2(dirfd: c_int, path: *const c_char, flags: c_int, resolve: u64) -> c_int {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    libc::syscall(
        libc::SYS_openat2,
        dirfd,
        path,
        &how as *const OpenHow,
        std::mem::size_of::<OpenHow>(),
    ) as c_int
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3(2) with fork semantics (no shared memory, child returns 0 on a copy of our stack).
/// With `cgroup_fd`, the child starts inside that cgroup v2 directory (CLONE_INTO_CGROUP), which
/// spares the costly write to cgroup.procs.
///
/// # Safety
/// As for fork: in the child, only async-signal-safe operations until exec or `_exit`.
pub unsafe fn clone3(flags: u64, cgroup_fd: Option<c_int>) -> c_long {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    libc::syscall(
        libc::SYS_clone3,
        &mut args as *mut CloneArgs,
        std::mem::size_of::<CloneArgs>(),
    )
}

pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns a valid thread-local pointer.
    unsafe { *libc::__errno_location() }
}

/// `/proc/self/fd/<fd>` as a NUL-terminated string on the stack: the way to mount onto, or
/// from, a file we hold open without giving a path that a symlink could redirect.
pub struct FdPath {
    buf: [u8; 32],
}

impl FdPath {
    pub fn new(fd: c_int) -> FdPath {
        const PREFIX: &[u8] = b"/proc/self/fd/";
        let mut buf = [0u8; 32];
        buf[..PREFIX.len()].copy_from_slice(PREFIX);
        let mut digits = [0u8; 12];
        let mut n = fd.max(0) as u32;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            buf[PREFIX.len() + i] = digits[len - 1 - i];
        }
        FdPath { buf }
    }

    pub fn as_ptr(&self) -> *const c_char {
        self.buf.as_ptr().cast()
    }

    pub fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).expect("FdPath is always NUL-terminated")
    }
}

/// Closes `fd` if it is one (>= 0), ignoring errors.
pub fn close(fd: c_int) {
    if fd >= 0 {
        // SAFETY: closing an fd we own; errors are irrelevant here.
        unsafe { libc::close(fd) };
    }
}

/// Writes all of `bytes` to `fd`, retrying on EINTR. Returns false on error.
pub fn write_all(fd: c_int, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length come from a live slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// Reads exactly `buf.len()` bytes unless EOF comes first; returns how many were read, or -1.
pub fn read_full(fd: c_int, buf: &mut [u8]) -> isize {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the pointer and length come from a live slice.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return -1;
        }
        if n == 0 {
            break;
        }
        got += n as usize;
    }
    got as isize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_formatted() {
        assert_eq!(
            FdPath::new(0).as_cstr().to_str().unwrap(),
            "/proc/self/fd/0"
        );
        assert_eq!(
            FdPath::new(7).as_cstr().to_str().unwrap(),
            "/proc/self/fd/7"
        );
        assert_eq!(
            FdPath::new(1234567).as_cstr().to_str().unwrap(),
            "/proc/self/fd/1234567"
        );
    }

    #[test]
    fn openat2_in_root_keeps_symlinks_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/marker"), "inside").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        let root = std::ffi::CString::new(dir.path().to_str().unwrap()).unwrap();
        // SAFETY: plain syscalls on NUL-terminated strings.
        unsafe {
            let rootfd = libc::open(root.as_ptr(), libc::O_PATH | libc::O_DIRECTORY);
            assert!(rootfd >= 0);
            let fd = openat2(
                rootfd,
                c"link/marker".as_ptr(),
                libc::O_RDONLY,
                RESOLVE_IN_ROOT,
            );
            assert!(fd >= 0, "the absolute symlink must resolve inside the root");
            let mut buf = [0u8; 16];
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            assert_eq!(&buf[..n as usize], b"inside");
            let escape = openat2(
                rootfd,
                c"../../../../etc/hostname".as_ptr(),
                libc::O_RDONLY,
                RESOLVE_IN_ROOT,
            );
            assert_eq!(escape, -1);
            close(fd);
            close(rootfd);
        }
    }
}
