//! Thin fd-relative system-call wrappers for the archive code. Everything here works on a
//! directory fd plus a single name, never on a multi-component path, so a symlink can only be
//! followed where the caller asks for it.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// The kernel's PATH_MAX and NAME_MAX.
pub const PATH_MAX: usize = libc::PATH_MAX as usize;
pub const NAME_MAX: usize = 255;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Like `cvt`, retrying on EINTR.
fn cvt_retry(mut f: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

pub fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a nul byte"))
}

pub fn cname(name: &OsStr) -> io::Result<CString> {
    cstring(name.as_bytes())
}

/// Opens a directory path (the extraction root), following symlinks as any caller-given path.
pub fn open_dir_path(path: &Path) -> io::Result<OwnedFd> {
    let c = cstring(path.as_os_str().as_bytes())?;
    let fd = cvt_retry(|| unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens `name` in `dir` as a directory without following a symlink in its place.
pub fn open_dir_at(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let fd = cvt_retry(|| unsafe { libc::openat(dir, name.as_ptr(), flags) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A fresh fd for the same directory, with its own read offset.
pub fn reopen_dir(dir: RawFd) -> io::Result<OwnedFd> {
    open_dir_at(dir, c".")
}

/// Resolves `rel` (a relative path of plain components) under `root` as if `root` were `/`:
/// `..` and absolute symlinks stay inside, magic links are refused.
pub fn openat2_in_root(root: RawFd, rel: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: open_how is a plain C struct; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    let mut again = 0;
    loop {
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                rel.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if r >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            // A concurrent rename raced with the lookup; the kernel asks us to retry.
            Some(libc::EAGAIN) if again < 16 => again += 1,
            _ => return Err(err),
        }
    }
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; Ok(None) when nothing is there.
pub fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<Option<libc::stat>> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    let r = unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENOENT) {
            return Ok(None);
        }
        return Err(err);
    }
    Ok(Some(unsafe { st.assume_init() }))
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// The names in a directory, without `.` and `..`.
pub fn list_dir(dir: RawFd) -> io::Result<Vec<OsString>> {
    let fresh = reopen_dir(dir)?;
    let raw = fresh.as_raw_fd();
    // fdopendir takes ownership of the fd: closedir closes it.
    let dirp = unsafe { libc::fdopendir(raw) };
    if dirp.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(fresh);
    let mut names = Vec::new();
    let result = loop {
        unsafe { *libc::__errno_location() = 0 };
        let ent = unsafe { libc::readdir64(dirp) };
        if ent.is_null() {
            let errno = unsafe { *libc::__errno_location() };
            break if errno == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(errno))
            };
        }
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    };
    unsafe { libc::closedir(dirp) };
    result.map(|()| names)
}

/// Removes `name` in `dir` and, for a directory, everything below it. Symlinks are removed,
/// never followed. Missing is fine.
pub fn remove_all_at(dir: RawFd, name: &CStr) -> io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if is_dir(&st) {
        let child = open_dir_at(dir, name)?;
        for entry in list_dir(child.as_raw_fd())? {
            remove_all_at(child.as_raw_fd(), &cname(&entry)?)?;
        }
        drop(child);
        cvt(unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) })?;
    } else {
        cvt(unsafe { libc::unlinkat(dir, name.as_ptr(), 0) })?;
    }
    Ok(())
}

pub fn mkdir_at(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    cvt(unsafe { libc::mkdirat(dir, name.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// Creates a new regular file (never through a symlink, never over an existing entry).
pub fn create_file_at(dir: RawFd, name: &CStr) -> io::Result<std::fs::File> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let fd =
        cvt_retry(|| unsafe { libc::openat(dir, name.as_ptr(), flags, 0o600 as libc::c_uint) })?;
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

pub fn symlink_at(target: &CStr, dir: RawFd, name: &CStr) -> io::Result<()> {
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) }).map(drop)
}

pub fn link_at(src_dir: RawFd, src: &CStr, dst_dir: RawFd, dst: &CStr) -> io::Result<()> {
    cvt(unsafe { libc::linkat(src_dir, src.as_ptr(), dst_dir, dst.as_ptr(), 0) }).map(drop)
}

pub fn mknod_at(dir: RawFd, name: &CStr, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    cvt(unsafe { libc::mknodat(dir, name.as_ptr(), mode as libc::mode_t, dev) }).map(drop)
}

pub fn lchown_at(dir: RawFd, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    cvt(unsafe { libc::fchownat(dir, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
        .map(drop)
}

/// chmod of an entry the caller just created and knows is not a symlink.
pub fn chmod_at(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    cvt(unsafe { libc::fchmodat(dir, name.as_ptr(), mode as libc::mode_t, 0) }).map(drop)
}

pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> io::Result<()> {
    cvt(unsafe { libc::fchown(fd, uid, gid) }).map(drop)
}

pub fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
    cvt(unsafe { libc::fchmod(fd, mode as libc::mode_t) }).map(drop)
}

pub fn timespec(sec: i64, nsec: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as _,
    }
}

/// Sets atime and mtime of `name` in `dir`, not following a symlink.
pub fn utimens_at(dir: RawFd, name: &CStr, times: &[libc::timespec; 2]) -> io::Result<()> {
    cvt(unsafe {
        libc::utimensat(
            dir,
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

pub fn futimens(fd: RawFd, times: &[libc::timespec; 2]) -> io::Result<()> {
    cvt(unsafe { libc::futimens(fd, times.as_ptr()) }).map(drop)
}

pub fn fsetxattr(fd: RawFd, name: &CStr, value: &[u8]) -> io::Result<()> {
    cvt(unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
        .map(drop)
}

/// Sets an xattr on `name` in `dir` without opening it (symlinks, device nodes, fifos): the
/// directory is reached through its /proc/self/fd link, the last component is not followed.
pub fn lsetxattr_at(dir: RawFd, name: &CStr, key: &CStr, value: &[u8]) -> io::Result<()> {
    let mut path = format!("/proc/self/fd/{dir}/").into_bytes();
    path.extend_from_slice(name.to_bytes());
    let path = cstring(&path)?;
    cvt(unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// All extended attributes of `path` (not following a final symlink), sorted by name.
pub fn lxattrs(path: &Path) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let cpath = cstring(path.as_os_str().as_bytes())?;
    let mut list = vec![0u8; 256];
    let n = loop {
        let n = unsafe { libc::llistxattr(cpath.as_ptr(), list.as_mut_ptr().cast(), list.len()) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) => {
                let need = unsafe { libc::llistxattr(cpath.as_ptr(), std::ptr::null_mut(), 0) };
                list.resize((need.max(0) as usize).max(list.len() * 2), 0);
            }
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(err),
        }
    };
    let mut out = Vec::new();
    for key in list[..n].split(|b| *b == 0).filter(|k| !k.is_empty()) {
        let ckey = cstring(key)?;
        let mut value = vec![0u8; 256];
        loop {
            let r = unsafe {
                libc::lgetxattr(
                    cpath.as_ptr(),
                    ckey.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            if r >= 0 {
                value.truncate(r as usize);
                out.push((OsString::from_vec(key.to_vec()), value));
                break;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ERANGE) => {
                    let need = unsafe {
                        libc::lgetxattr(cpath.as_ptr(), ckey.as_ptr(), std::ptr::null_mut(), 0)
                    };
                    value.resize((need.max(0) as usize).max(value.len() * 2), 0);
                }
                // Removed between list and get.
                Some(libc::ENODATA) => break,
                _ => return Err(err),
            }
        }
    }
    out.sort();
    Ok(out)
}
