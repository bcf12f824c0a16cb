//! Reading and writing files inside an untrusted root: every path is resolved with
//! openat2(RESOLVE_IN_ROOT), so an image's symlink (`/etc -> /host/etc`) cannot lead outside.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `rel` resolved inside the directory `root` as if it were `/` (`..` and absolute symlinks
/// stay inside, magic links are refused), opened with `flags` (and `mode` for O_CREAT).
pub(crate) fn openat2_in_root(
    root: RawFd,
    rel: &[u8],
    flags: i32,
    mode: u32,
) -> std::io::Result<OwnedFd> {
    let c = CString::new(rel)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "nul byte in path"))?;
    // SAFETY: open_how is a plain C struct; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = u64::from(mode);
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    let mut again = 0;
    loop {
        // SAFETY: valid pointers for the duration of the call; the kernel copies `how`.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a new fd we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            // A concurrent rename raced with the lookup; the kernel asks us to retry.
            Some(libc::EAGAIN) if again < 16 => again += 1,
            _ => return Err(e),
        }
    }
}

fn openat2(dir: &OwnedFd, rel: &Path, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    openat2_in_root(dir.as_raw_fd(), rel.as_os_str().as_bytes(), flags, mode)
}

fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    File::open(root).map(OwnedFd::from)
}

/// The contents of regular file `rel` inside `root` (at most 16 MiB); None when it does not
/// exist. Anything but a regular file (a FIFO an image planted would block the read) is an error.
pub fn read(root: &Path, rel: &str) -> std::io::Result<Option<Vec<u8>>> {
    let dir = open_root(root)?;
    match openat2(
        &dir,
        Path::new(rel),
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        0,
    ) {
        Ok(fd) => {
            let file = File::from(fd);
            if !file.metadata()?.is_file() {
                return Err(std::io::Error::other(format!(
                    "/{rel} is not a regular file"
                )));
            }
            let mut out = Vec::new();
            file.take(16 << 20).read_to_end(&mut out)?;
            Ok(Some(out))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Directory `rel` inside the root `root_fd` names, resolved in that root.
fn open_dir(root_fd: &OwnedFd, rel: &Path) -> std::io::Result<OwnedFd> {
    if rel.as_os_str().is_empty() {
        return root_fd.try_clone();
    }
    openat2(root_fd, rel, libc::O_DIRECTORY | libc::O_RDONLY, 0)
}

/// Creates directory `rel` (and its parents) inside `root`. Every component, symlinks included,
/// is resolved from `root`, so a symlink can redirect the directories only within it.
pub fn mkdir_all(root: &Path, rel: &str, mode: u32) -> std::io::Result<()> {
    let root_fd = open_root(root)?;
    let mut prefix = std::path::PathBuf::new();
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
        }
        let parent = open_dir(&root_fd, &prefix)?;
        let c = CString::new(part)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: plain mkdirat of one name in a dir fd we own; it never follows a symlink.
        if unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), mode) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
        }
        prefix.push(part);
    }
    open_dir(&root_fd, &prefix).map(drop)
}

/// Creates directory `rel` inside `root` as a mount point, following symlinks the way the
/// container will see them (an absolute target starts again at `root`, `..` stops at it) and
/// creating what is missing, as runc does for mount destinations: a symlink in the image makes
/// the mount land elsewhere inside the rootfs, never outside it.
pub fn mkdir_all_following(root: &Path, rel: &str, mode: u32) -> std::io::Result<()> {
    /// Linux's limit on symlinks in one lookup.
    const MAX_LINKS: usize = 40;
    let root_fd = open_root(root)?;
    let mut todo: std::collections::VecDeque<String> = rel
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        match part.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let parent = open_dir(&root_fd, Path::new(&done.join("/")))?;
        let c = CString::new(part.as_str())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: fstatat into a zeroed struct, not following the last component.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let found = unsafe {
            libc::fstatat(
                parent.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        } == 0;
        if !found {
            // SAFETY: mkdirat of one name in a dir fd we own; it never follows a symlink.
            if unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), mode) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
            done.push(part);
            continue;
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => done.push(part),
            libc::S_IFLNK => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
                }
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                // SAFETY: readlinkat into a buffer of the length given.
                let n = unsafe {
                    libc::readlinkat(
                        parent.as_raw_fd(),
                        c.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                };
                if n < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let target = String::from_utf8_lossy(&buf[..n as usize]).into_owned();
                if target.starts_with('/') {
                    done.clear();
                }
                for p in target.split('/').filter(|p| !p.is_empty()).rev() {
                    todo.push_front(p.to_string());
                }
            }
            _ => return Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)),
        }
    }
    Ok(())
}

/// Replaces file `rel` inside `root` with `data`. A symlink, FIFO, device or empty directory in
/// the last component is removed first, so the write lands on a regular file of the layer.
pub fn write(root: &Path, rel: &str, data: &[u8], mode: u32) -> std::io::Result<()> {
    let fd = create(root, rel, mode, true)?;
    File::from(fd).write_all(data)
}

/// Creates empty file `rel` inside `root` unless a regular file is there already.
pub fn touch(root: &Path, rel: &str, mode: u32) -> std::io::Result<()> {
    create(root, rel, mode, false).map(drop)
}

fn create(root: &Path, rel: &str, mode: u32, truncate: bool) -> std::io::Result<OwnedFd> {
    let rel = rel.trim_start_matches('/');
    let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    if name.is_empty() || name == "." || name == ".." {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    mkdir_all(root, parent, 0o755)?;
    let parent_fd = open_dir(&open_root(root)?, Path::new(parent))?;
    let c =
        CString::new(name).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: fstatat into a zeroed struct, without following the last component.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let exists = unsafe {
        libc::fstatat(
            parent_fd.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } == 0;
    if exists && (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
        let flags = if (st.st_mode & libc::S_IFMT) == libc::S_IFDIR {
            libc::AT_REMOVEDIR
        } else {
            0
        };
        // SAFETY: unlinkat of one name in a dir fd we own.
        if unsafe { libc::unlinkat(parent_fd.as_raw_fd(), c.as_ptr(), flags) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    let flags = if truncate {
        libc::O_WRONLY | libc::O_TRUNC
    } else {
        libc::O_RDONLY
    };
    // O_NOFOLLOW: should a symlink appear in between, this fails instead of following it.
    openat2(
        &parent_fd,
        Path::new(name),
        flags | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        mode,
    )
}

/// A symlink `rel` → `target` inside `root`, replacing a file or symlink that is there.
pub fn symlink(root: &Path, rel: &str, target: &str) -> std::io::Result<()> {
    let rel = rel.trim_start_matches('/');
    let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    mkdir_all(root, parent, 0o755)?;
    let parent_fd = open_dir(&open_root(root)?, Path::new(parent))?;
    let (t, n) = (
        CString::new(target).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?,
        CString::new(name).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?,
    );
    // SAFETY: unlinkat on a name in a dir fd we own; a directory there is left alone (and makes
    // symlinkat fail below).
    unsafe { libc::unlinkat(parent_fd.as_raw_fd(), n.as_ptr(), 0) };
    // SAFETY: symlinkat with valid C strings and a dir fd we own.
    if unsafe { libc::symlinkat(t.as_ptr(), parent_fd.as_raw_fd(), n.as_ptr()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::mkdir_all_following;

    #[test]
    fn mount_points_follow_symlinks_but_stay_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::os::unix::fs::symlink(outside.path(), r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../..", r.join("up")).unwrap();
        std::fs::write(r.join("file"), "").unwrap();
        mkdir_all_following(r, "/abs/inner", 0o755).unwrap();
        let inside = r
            .join(outside.path().strip_prefix("/").unwrap())
            .join("inner");
        assert!(inside.is_dir());
        mkdir_all_following(r, "up/x/y", 0o755).unwrap();
        assert!(r.join("x/y").is_dir());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        let e = mkdir_all_following(r, "file/z", 0o755).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
    }
}
