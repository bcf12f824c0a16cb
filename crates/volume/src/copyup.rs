//! Copy-up: a fresh, empty volume mounted over a directory of the image starts with that
//! directory's content, as Docker does (and `nocopy` skips it).
//!
//! The walk is all fd-relative: every entry is opened with `openat(…, O_NOFOLLOW)` from its
//! parent's descriptor and symlinks are copied as links, never followed, so nothing in the
//! image can lead the copy outside the tree it reads or the volume it writes. Owners, modes
//! (setuid/setgid/sticky included), timestamps, extended attributes (files and directories) and
//! hard links are kept; sockets are skipped, as they mean nothing without their process.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::{Result, VolumeError};

/// Copies the content of directory `from` into `to`, only if `to` is empty. Returns whether it
/// copied: a missing `from`, a `from` that is not a directory, or a `to` that already holds
/// something (an existing volume is never overwritten) copy nothing. `to` takes `from`'s owner
/// and mode.
pub fn copy_up(from: &Path, to: &Path) -> Result<bool> {
    let src = match open_dir(libc::AT_FDCWD, &cpath(from)?) {
        Ok(fd) => fd,
        Err(e) if skippable(&e) => return Ok(false),
        Err(e) => return Err(VolumeError::io("open", from, e)),
    };
    copy_from_fd(src, from, to)
}

/// As [`copy_up`], with `path` resolved inside `rootfs` as the container will see it: its
/// symlinks, absolute ones included, stay within `rootfs` (openat2 RESOLVE_IN_ROOT).
pub fn copy_up_in_root(rootfs: &Path, path: &str, to: &Path) -> Result<bool> {
    let root = open_dir(libc::AT_FDCWD, &cpath(rootfs)?)
        .map_err(|e| VolumeError::io("open", rootfs, e))?;
    let rel = path.trim_start_matches('/');
    let from = rootfs.join(rel);
    let rel = if rel.is_empty() { "." } else { rel };
    let src = match open_in_root(root.as_raw_fd(), &cstr(rel.as_bytes())?) {
        Ok(fd) => fd,
        Err(e) if skippable(&e) => return Ok(false),
        Err(e) => return Err(VolumeError::io("open", &from, e)),
    };
    copy_from_fd(src, &from, to)
}

fn skippable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
    )
}

fn copy_from_fd(src: OwnedFd, from: &Path, to: &Path) -> Result<bool> {
    let dst = open_dir(libc::AT_FDCWD, &cpath(to)?).map_err(|e| VolumeError::io("open", to, e))?;
    if !list_dir(dst.as_raw_fd())
        .map_err(|e| VolumeError::io("read dir", to, e))?
        .is_empty()
    {
        return Ok(false);
    }
    let mut copier = Copier {
        root: dst.as_raw_fd(),
        links: HashMap::new(),
        from: from.to_path_buf(),
    };
    copier.copy_dir(src.as_raw_fd(), dst.as_raw_fd(), Path::new(""))?;
    // The volume root takes the directory's owner and mode (not its times: it is the volume's).
    let st = fstat(src.as_raw_fd()).map_err(|e| VolumeError::io("stat", from, e))?;
    check(unsafe { libc::fchown(dst.as_raw_fd(), st.st_uid, st.st_gid) })
        .and_then(|_| check(unsafe { libc::fchmod(dst.as_raw_fd(), st.st_mode & 0o7777) }))
        .map_err(|e| VolumeError::io("chown/chmod", to, e))?;
    Ok(true)
}

struct Copier {
    /// The volume's root, for hard links (paths relative to it, all made by this copy).
    root: RawFd,
    /// (device, inode) of each multiply-linked file copied → its path relative to the root.
    links: HashMap<(u64, u64), CString>,
    from: PathBuf,
}

impl Copier {
    fn err(&self, op: &'static str, rel: &Path, e: io::Error) -> VolumeError {
        VolumeError::io(op, self.from.join(rel), e)
    }

    /// Copies the entries of `src` into `dst` (both open directories); `rel` names `src`
    /// relative to the top, for messages and hard links.
    fn copy_dir(&mut self, src: RawFd, dst: RawFd, rel: &Path) -> Result<()> {
        let mut names = list_dir(src).map_err(|e| self.err("read dir", rel, e))?;
        names.sort();
        for name in names {
            let child_rel = rel.join(&name);
            let c = cstr(name.as_bytes())?;
            let st = fstatat(src, &c).map_err(|e| self.err("stat", &child_rel, e))?;
            self.copy_entry(src, dst, &c, &st, &child_rel)?;
        }
        Ok(())
    }

    fn copy_entry(
        &mut self,
        src: RawFd,
        dst: RawFd,
        name: &CStr,
        st: &libc::stat,
        rel: &Path,
    ) -> Result<()> {
        let fmt = st.st_mode & libc::S_IFMT;
        let key = (st.st_dev, st.st_ino);
        if fmt != libc::S_IFDIR && st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                // SAFETY: both strings are NUL-terminated and both fds open.
                return check(unsafe {
                    libc::linkat(self.root, first.as_ptr(), dst, name.as_ptr(), 0)
                })
                .map_err(|e| self.err("link", rel, e));
            }
            self.links.insert(key, cstr(rel.as_os_str().as_bytes())?);
        }
        match fmt {
            libc::S_IFDIR => {
                // SAFETY: name is NUL-terminated; dst is open.
                check(unsafe { libc::mkdirat(dst, name.as_ptr(), 0o700) })
                    .map_err(|e| self.err("mkdir", rel, e))?;
                let s = open_dir(src, name).map_err(|e| self.err("open", rel, e))?;
                let d = open_dir(dst, name).map_err(|e| self.err("open copy of", rel, e))?;
                self.copy_dir(s.as_raw_fd(), d.as_raw_fd(), rel)?;
                // Times last: filling the directory changed them.
                self.fd_metadata(s.as_raw_fd(), d.as_raw_fd(), st, rel)
            }
            libc::S_IFREG => {
                let s = openat(
                    src,
                    name,
                    libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NOCTTY,
                    0,
                )
                .map_err(|e| self.err("open", rel, e))?;
                let d = openat(
                    dst,
                    name,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )
                .map_err(|e| self.err("create copy of", rel, e))?;
                let (mut input, mut output) = (File::from(s), File::from(d));
                // std copies File to File with copy_file_range where it can.
                io::copy(&mut input, &mut output).map_err(|e| self.err("copy", rel, e))?;
                self.fd_metadata(input.as_raw_fd(), output.as_raw_fd(), st, rel)
            }
            libc::S_IFLNK => {
                let target = readlinkat(src, name).map_err(|e| self.err("readlink", rel, e))?;
                // SAFETY: both strings are NUL-terminated.
                check(unsafe { libc::symlinkat(target.as_ptr(), dst, name.as_ptr()) })
                    .map_err(|e| self.err("symlink", rel, e))?;
                self.path_metadata(dst, name, st, false, rel)
            }
            libc::S_IFSOCK => Ok(()),
            _ => {
                // Fifos and device nodes.
                // SAFETY: name is NUL-terminated.
                check(unsafe { libc::mknodat(dst, name.as_ptr(), st.st_mode, st.st_rdev) })
                    .map_err(|e| self.err("mknod", rel, e))?;
                self.path_metadata(dst, name, st, true, rel)
            }
        }
    }

    /// Owner, then mode (a chown clears setuid bits), then xattrs (a chown clears
    /// security.capability), then times.
    fn fd_metadata(&self, src: RawFd, dst: RawFd, st: &libc::stat, rel: &Path) -> Result<()> {
        // SAFETY: dst is open.
        check(unsafe { libc::fchown(dst, st.st_uid, st.st_gid) })
            .map_err(|e| self.err("chown", rel, e))?;
        // SAFETY: as above.
        check(unsafe { libc::fchmod(dst, st.st_mode & 0o7777) })
            .map_err(|e| self.err("chmod", rel, e))?;
        copy_xattrs(src, dst).map_err(|e| self.err("copy xattrs of", rel, e))?;
        let times = [st_atime(st), st_mtime(st)];
        // SAFETY: times holds two timespecs.
        check(unsafe { libc::futimens(dst, times.as_ptr()) })
            .map_err(|e| self.err("set times of", rel, e))
    }

    /// As [`Copier::fd_metadata`] for what can't be opened (symlinks, nodes), by name in its
    /// directory without following it. Symlinks carry no mode and, here, no xattrs.
    fn path_metadata(
        &self,
        dir: RawFd,
        name: &CStr,
        st: &libc::stat,
        chmod: bool,
        rel: &Path,
    ) -> Result<()> {
        // SAFETY: name is NUL-terminated and dir open.
        check(unsafe {
            libc::fchownat(
                dir,
                name.as_ptr(),
                st.st_uid,
                st.st_gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map_err(|e| self.err("chown", rel, e))?;
        if chmod {
            // The node was just made by us and is not a symlink: plain fchmodat is safe.
            // SAFETY: as above.
            check(unsafe { libc::fchmodat(dir, name.as_ptr(), st.st_mode & 0o7777, 0) })
                .map_err(|e| self.err("chmod", rel, e))?;
        }
        let times = [st_atime(st), st_mtime(st)];
        // SAFETY: as above; times holds two timespecs.
        check(unsafe {
            libc::utimensat(
                dir,
                name.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map_err(|e| self.err("set times of", rel, e))
    }
}

fn st_atime(st: &libc::stat) -> libc::timespec {
    libc::timespec {
        tv_sec: st.st_atime,
        tv_nsec: st.st_atime_nsec,
    }
}

fn st_mtime(st: &libc::stat) -> libc::timespec {
    libc::timespec {
        tv_sec: st.st_mtime,
        tv_nsec: st.st_mtime_nsec,
    }
}

/// Copies every extended attribute the target filesystem takes; one it refuses (a tmpfs
/// without `trusted.*`, an LSM label) is skipped, as "where possible" allows.
fn copy_xattrs(src: RawFd, dst: RawFd) -> io::Result<()> {
    let names = fd_buffer(|buf, len| unsafe { libc::flistxattr(src, buf, len) })?;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("split at NUL");
        let value = match fd_buffer(|buf, len| unsafe {
            libc::fgetxattr(src, cname.as_ptr(), buf.cast(), len)
        }) {
            Ok(v) => v,
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(e) => return Err(e),
        };
        // SAFETY: the name is NUL-terminated and value valid for its length.
        let rc =
            unsafe { libc::fsetxattr(dst, cname.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOTSUP) | Some(libc::EPERM) | Some(libc::EACCES) => {}
                _ => return Err(e),
            }
        }
    }
    Ok(())
}

/// Calls a size-then-fill xattr function until the buffer fits.
fn fd_buffer(f: impl Fn(*mut libc::c_char, usize) -> libc::ssize_t) -> io::Result<Vec<u8>> {
    loop {
        let size = f(std::ptr::null_mut(), 0);
        if size < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOTSUP) => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        let mut buf = vec![0u8; size as usize];
        if buf.is_empty() {
            return Ok(buf);
        }
        let got = f(buf.as_mut_ptr().cast(), buf.len());
        if got < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                continue; // it grew in between
            }
            return Err(e);
        }
        buf.truncate(got as usize);
        return Ok(buf);
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn cstr(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| VolumeError::CopyUp {
        path: PathBuf::from(OsString::from_vec(bytes.to_vec())),
        reason: "name contains a NUL byte".into(),
    })
}

fn cpath(p: &Path) -> Result<CString> {
    cstr(p.as_os_str().as_bytes())
}

fn openat(dir: RawFd, name: &CStr, flags: libc::c_int, mode: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: name is NUL-terminated.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens a directory by name in `dir`, refusing a symlink in its place.
fn open_dir(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    openat(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
}

/// The argument of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// Opens directory `rel` under `root` as if `root` were `/` (Linux 5.6+).
fn open_in_root(root: RawFd, rel: &CStr) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: rel is NUL-terminated and `how` a valid open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            rel.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data the kernel fills.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid out pointer.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

fn fstatat(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: as in fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: name is NUL-terminated; st a valid out pointer.
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn readlinkat(dir: RawFd, name: &CStr) -> io::Result<CString> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if (n as usize) < buf.len() {
            buf.truncate(n as usize);
            return CString::new(buf)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "link target has NUL"));
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// The names in directory `dir` (without `.` and `..`), read through a descriptor of its own.
fn list_dir(dir: RawFd) -> io::Result<Vec<OsString>> {
    // SAFETY: dup of an open descriptor.
    let own = unsafe { libc::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0) };
    if own < 0 {
        return Err(io::Error::last_os_error());
    }
    // The duplicate shares the offset: rewind so a second listing sees everything.
    // SAFETY: own is open.
    unsafe { libc::lseek(own, 0, libc::SEEK_SET) };
    // SAFETY: own is an open directory descriptor; fdopendir takes it over.
    let stream = unsafe { libc::fdopendir(own) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so own is still ours to close.
        unsafe { libc::close(own) };
        return Err(e);
    }
    let mut names = Vec::new();
    let result = loop {
        // readdir signals errors only through errno: clear it first.
        // SAFETY: errno location is thread-local.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: stream is a valid DIR*.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            let e = io::Error::last_os_error();
            break if e.raw_os_error().unwrap_or(0) == 0 {
                Ok(())
            } else {
                Err(e)
            };
        }
        // SAFETY: d_name is NUL-terminated within the entry.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    };
    // SAFETY: stream is valid; closing it closes own.
    unsafe { libc::closedir(stream) };
    result.map(|_| names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_a_tree_into_an_empty_dir_only() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir_all(from.join("sub/deeper")).unwrap();
        std::fs::write(from.join("sub/deeper/file"), "hello").unwrap();
        std::fs::set_permissions(from.join("sub"), std::fs::Permissions::from_mode(0o750)).unwrap();
        std::fs::hard_link(from.join("sub/deeper/file"), from.join("twin")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("abs-link")).unwrap();
        std::fs::create_dir(&to).unwrap();

        assert!(copy_up(&from, &to).unwrap());
        assert_eq!(
            std::fs::read_to_string(to.join("sub/deeper/file")).unwrap(),
            "hello"
        );
        assert_eq!(
            std::fs::metadata(to.join("sub"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o750
        );
        assert_eq!(
            std::fs::metadata(to.join("twin")).unwrap().ino(),
            std::fs::metadata(to.join("sub/deeper/file")).unwrap().ino()
        );
        assert_eq!(
            std::fs::read_link(to.join("abs-link")).unwrap(),
            Path::new("/etc/passwd")
        );

        // Not empty any more: a second copy leaves it alone.
        std::fs::write(to.join("sub/deeper/file"), "changed").unwrap();
        assert!(!copy_up(&from, &to).unwrap());
        assert_eq!(
            std::fs::read_to_string(to.join("sub/deeper/file")).unwrap(),
            "changed"
        );
    }

    #[test]
    fn nothing_to_copy_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("to");
        std::fs::create_dir(&to).unwrap();
        assert!(!copy_up(&dir.path().join("missing"), &to).unwrap());
        std::fs::write(dir.path().join("file"), "x").unwrap();
        assert!(!copy_up(&dir.path().join("file"), &to).unwrap());
        // A symlink in place of the source directory is not followed.
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        assert!(!copy_up(&dir.path().join("link"), &to).unwrap());
        assert!(list_dir(
            open_dir(libc::AT_FDCWD, &cpath(&to).unwrap())
                .unwrap()
                .as_raw_fd()
        )
        .unwrap()
        .is_empty());
    }

    #[test]
    fn resolution_in_root_keeps_absolute_links_inside() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("real/data")).unwrap();
        std::fs::write(rootfs.join("real/data/inside"), "in").unwrap();
        // /var/data -> /real/data: absolute, must resolve inside rootfs, not on the host.
        std::fs::create_dir_all(rootfs.join("var")).unwrap();
        std::os::unix::fs::symlink("/real/data", rootfs.join("var/data")).unwrap();
        // /escape -> /: the host root if followed naively; rootfs itself here.
        std::os::unix::fs::symlink("/../../..", rootfs.join("escape")).unwrap();
        let to = dir.path().join("vol");
        std::fs::create_dir(&to).unwrap();
        assert!(copy_up_in_root(&rootfs, "/var/data", &to).unwrap());
        assert_eq!(std::fs::read_to_string(to.join("inside")).unwrap(), "in");

        let to2 = dir.path().join("vol2");
        std::fs::create_dir(&to2).unwrap();
        assert!(copy_up_in_root(&rootfs, "/escape", &to2).unwrap());
        assert!(
            to2.join("real").is_dir(),
            "copied the rootfs, not the host's /"
        );
        assert!(!to2.join("proc").exists());
    }
}
