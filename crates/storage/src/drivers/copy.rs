//! A faithful copy of a directory tree (what vfs does for every new layer), and the few raw
//! system calls the drivers share: paths as C strings, extended attributes and statfs.
//!
//! The copy keeps ownership, permission bits (setuid, setgid, sticky), timestamps (directories
//! after their contents, symlinks without following them), extended attributes (including
//! `security.capability` and `trusted.*`), hard links, holes in sparse files, device nodes and
//! fifos. Sockets are skipped: they mean nothing without the process that bound them.
//! Everything here is plain system calls; nothing forks.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::{Result, StorageError};

/// `path` as a C string (a path with a NUL byte can't name a file).
pub(crate) fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The names of `path`'s extended attributes (not following a final symlink).
pub fn list_xattrs(path: &Path) -> io::Result<Vec<OsString>> {
    let c = cpath(path)?;
    loop {
        // SAFETY: a NULL buffer of size 0 asks for the needed size.
        let size = unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENOTSUP) => Ok(Vec::new()),
                _ => Err(err),
            };
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size as usize];
        // SAFETY: buf is valid for buf.len() bytes.
        let got = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ERANGE) {
                continue; // the list grew in between
            }
            return Err(err);
        }
        buf.truncate(got as usize);
        return Ok(buf
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| OsString::from_vec(n.to_vec()))
            .collect());
    }
}

/// The value of extended attribute `name` on `path` (not following a final symlink), or None
/// if it has none.
pub fn get_xattr(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let c = cpath(path)?;
    let n = CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "xattr name contains NUL"))?;
    loop {
        // SAFETY: a NULL buffer of size 0 asks for the needed size.
        let size = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(None),
                _ => Err(err),
            };
        }
        let mut buf = vec![0u8; size as usize];
        // SAFETY: buf is valid for buf.len() bytes.
        let got =
            unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ERANGE) => continue,
                Some(libc::ENODATA) => return Ok(None),
                _ => return Err(err),
            }
        }
        buf.truncate(got as usize);
        return Ok(Some(buf));
    }
}

/// Sets extended attribute `name` on `path` (not following a final symlink).
pub fn set_xattr(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let c = cpath(path)?;
    let n = CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "xattr name contains NUL"))?;
    // SAFETY: both strings are NUL-terminated and value is valid for value.len() bytes.
    check(unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Every extended attribute of `path`, sorted by name.
pub fn xattrs(path: &Path) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let mut names = list_xattrs(path)?;
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if let Some(value) = get_xattr(path, &name)? {
            out.push((name, value));
        }
    }
    Ok(out)
}

/// The filesystem type (statfs `f_type`) that holds `path`.
pub(crate) fn fs_magic(path: &Path) -> io::Result<i64> {
    let c = cpath(path)?;
    // SAFETY: statfs is plain data; the kernel fills it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and st is a valid out pointer.
    check(unsafe { libc::statfs(c.as_ptr(), &mut st) })?;
    Ok(st.f_type as i64)
}

pub(crate) const OVERLAY_MAGIC: i64 = 0x794c_7630;

/// A name for a statfs magic, as `docker info` spells backing filesystems.
pub(crate) fn fs_name(magic: i64) -> String {
    match magic {
        0xef53 => "extfs".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683e => "btrfs".into(),
        0x0102_1994 => "tmpfs".into(),
        OVERLAY_MAGIC => "overlayfs".into(),
        0x2fc1_2fc1 => "zfs".into(),
        0x6175_6673 => "aufs".into(),
        0xf15f => "ecryptfs".into(),
        0x6969 => "nfs".into(),
        0xf2f5_2010 => "f2fs".into(),
        0x6573_5546 => "fuse".into(),
        0x0027_e0eb => "cgroupfs".into(),
        other => format!("<unknown {other:#x}>"),
    }
}

/// Copies the tree at `src` to `dst`, which must not exist yet.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let md = fs::symlink_metadata(src).map_err(|e| StorageError::io("stat", src, e))?;
    if !md.is_dir() {
        return Err(StorageError::io(
            "copy tree",
            src,
            io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
        ));
    }
    let mut copier = Copier {
        links: HashMap::new(),
    };
    copier.copy_entry(src, dst, &md)
}

struct Copier {
    /// (device, inode) of every multiply-linked file copied so far → its copy.
    links: HashMap<(u64, u64), PathBuf>,
}

impl Copier {
    fn copy_entry(&mut self, src: &Path, dst: &Path, md: &Metadata) -> Result<()> {
        let ft = md.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = self.links.get(&(md.dev(), md.ino())) {
                return fs::hard_link(first, dst).map_err(|e| StorageError::io("link", dst, e));
            }
            self.links.insert((md.dev(), md.ino()), dst.to_path_buf());
        }
        if ft.is_dir() {
            fs::create_dir(dst).map_err(|e| StorageError::io("mkdir", dst, e))?;
            let mut entries = Vec::new();
            for entry in fs::read_dir(src).map_err(|e| StorageError::io("read dir", src, e))? {
                let entry = entry.map_err(|e| StorageError::io("read dir", src, e))?;
                entries.push(entry.file_name());
            }
            entries.sort();
            for name in entries {
                let (s, d) = (src.join(&name), dst.join(&name));
                let child =
                    fs::symlink_metadata(&s).map_err(|e| StorageError::io("stat", &s, e))?;
                self.copy_entry(&s, &d, &child)?;
            }
        } else if ft.is_file() {
            copy_file_data(src, dst, md)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(src).map_err(|e| StorageError::io("readlink", src, e))?;
            std::os::unix::fs::symlink(&target, dst)
                .map_err(|e| StorageError::io("symlink", dst, e))?;
        } else {
            // Character and block devices, fifos.
            let c = cpath(dst).map_err(|e| StorageError::io("mknod", dst, e))?;
            // SAFETY: c is NUL-terminated.
            check(unsafe { libc::mknod(c.as_ptr(), md.mode() & libc::S_IFMT, md.rdev()) })
                .map_err(|e| StorageError::io("mknod", dst, e))?;
        }
        copy_metadata(src, dst, md)
    }
}

/// Creates `dst` with `src`'s content: a reflink if the filesystem can, else the data ranges
/// only, so that holes stay holes.
fn copy_file_data(src: &Path, dst: &Path, md: &Metadata) -> Result<()> {
    let input = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)
        .map_err(|e| StorageError::io("open", src, e))?;
    let output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(|e| StorageError::io("create", dst, e))?;
    // SAFETY: both descriptors are open; FICLONE takes the source descriptor as argument.
    if unsafe { libc::ioctl(output.as_raw_fd(), libc::FICLONE, input.as_raw_fd()) } == 0 {
        return Ok(());
    }
    copy_sparse(&input, &output, md.len()).map_err(|e| StorageError::io("copy", dst, e))
}

fn copy_sparse(input: &File, output: &File, len: u64) -> io::Result<()> {
    let (ifd, ofd) = (input.as_raw_fd(), output.as_raw_fd());
    let mut pos: i64 = 0;
    let end = len as i64;
    while pos < end {
        // SAFETY: plain lseek on an open descriptor.
        let data = unsafe { libc::lseek(ifd, pos, libc::SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENXIO) => break, // only a hole remains
                Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => {
                    copy_range(ifd, ofd, pos, end - pos)?; // no hole support: copy it all
                    break;
                }
                _ => return Err(err),
            }
        }
        // SAFETY: as above.
        let mut hole = unsafe { libc::lseek(ifd, data, libc::SEEK_HOLE) };
        if hole < 0 {
            hole = end;
        }
        let hole = hole.min(end);
        copy_range(ifd, ofd, data, hole - data)?;
        pos = hole;
    }
    output.set_len(len)
}

/// Copies `len` bytes at offset `at` between two files: copy_file_range, or read and write.
fn copy_range(ifd: libc::c_int, ofd: libc::c_int, at: i64, len: i64) -> io::Result<()> {
    let (mut off_in, mut off_out, mut left) = (at, at, len);
    while left > 0 {
        // SAFETY: both descriptors are open and the offsets are valid out pointers.
        let n = unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                ifd,
                &mut off_in as *mut i64,
                ofd,
                &mut off_out as *mut i64,
                left as usize,
                0u32,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EXDEV)
                | Some(libc::ENOSYS)
                | Some(libc::EINVAL)
                | Some(libc::EOPNOTSUPP) => return copy_range_rw(ifd, ofd, off_in, left),
                Some(libc::EINTR) => continue,
                _ => return Err(err),
            }
        }
        if n == 0 {
            break; // the source shrank
        }
        left -= n as i64;
    }
    Ok(())
}

fn copy_range_rw(ifd: libc::c_int, ofd: libc::c_int, mut at: i64, mut left: i64) -> io::Result<()> {
    let mut buf = vec![0u8; 128 * 1024];
    while left > 0 {
        let want = buf.len().min(left as usize);
        // SAFETY: buf is valid for `want` bytes.
        let n = unsafe { libc::pread(ifd, buf.as_mut_ptr().cast(), want, at) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        let mut done = 0usize;
        while done < n as usize {
            // SAFETY: the slice buf[done..n] is initialized.
            let w = unsafe {
                libc::pwrite(
                    ofd,
                    buf[done..].as_ptr().cast(),
                    n as usize - done,
                    at + done as i64,
                )
            };
            if w < 0 {
                return Err(io::Error::last_os_error());
            }
            done += w as usize;
        }
        at += n as i64;
        left -= n as i64;
    }
    Ok(())
}

/// Owner, then mode (chown clears setuid), then xattrs (chown clears security.capability),
/// then timestamps, all without following a final symlink.
fn copy_metadata(src: &Path, dst: &Path, md: &Metadata) -> Result<()> {
    let c = cpath(dst).map_err(|e| StorageError::io("chown", dst, e))?;
    // SAFETY: c is NUL-terminated.
    check(unsafe {
        libc::fchownat(
            libc::AT_FDCWD,
            c.as_ptr(),
            md.uid(),
            md.gid(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map_err(|e| StorageError::io("chown", dst, e))?;
    let is_link = md.file_type().is_symlink();
    if !is_link {
        // SAFETY: c is NUL-terminated.
        check(unsafe { libc::chmod(c.as_ptr(), md.mode() & 0o7777) })
            .map_err(|e| StorageError::io("chmod", dst, e))?;
    }
    for (name, value) in xattrs(src).map_err(|e| StorageError::io("read xattrs", src, e))? {
        if let Err(e) = set_xattr(dst, &name, &value) {
            // user.* can't be set on a symlink; an SELinux label belongs to the host policy.
            let link_user = is_link
                && name.as_bytes().starts_with(b"user.")
                && e.raw_os_error() == Some(libc::EPERM);
            let selinux = name.as_bytes() == b"security.selinux";
            if !link_user && !selinux {
                return Err(StorageError::io("set xattr", dst, e));
            }
        }
    }
    let times = [
        libc::timespec {
            tv_sec: md.atime(),
            tv_nsec: md.atime_nsec(),
        },
        libc::timespec {
            tv_sec: md.mtime(),
            tv_nsec: md.mtime_nsec(),
        },
    ];
    // SAFETY: c is NUL-terminated and times holds two timespecs.
    check(unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map_err(|e| StorageError::io("set times", dst, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs_names_cover_the_usual_backings() {
        assert_eq!(fs_name(0xef53), "extfs");
        assert_eq!(fs_name(OVERLAY_MAGIC), "overlayfs");
        assert!(fs_name(0x1234).contains("unknown"));
    }

    #[test]
    fn copies_contents_and_holes() {
        let dir = tempfile::Builder::new()
            .prefix("berth-copy-")
            .tempdir()
            .unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("a/b")).unwrap();
        fs::write(src.join("a/b/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("b/f", src.join("a/l")).unwrap();
        let sparse = File::create(src.join("sparse")).unwrap();
        sparse.set_len(8 << 20).unwrap();
        std::os::unix::fs::FileExt::write_at(&sparse, b"end", (8 << 20) - 3).unwrap();
        copy_tree(&src, &dir.path().join("dst")).unwrap();
        let dst = dir.path().join("dst");
        assert_eq!(fs::read(dst.join("a/b/f")).unwrap(), b"hello");
        assert_eq!(fs::read_link(dst.join("a/l")).unwrap(), Path::new("b/f"));
        let md = fs::metadata(dst.join("sparse")).unwrap();
        assert_eq!(md.len(), 8 << 20);
        assert!(
            md.blocks() < 1024,
            "the hole was filled: {} blocks",
            md.blocks()
        );
        assert!(copy_tree(&src.join("a/b/f"), &dir.path().join("x")).is_err());
    }
}
