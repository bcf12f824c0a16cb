//! Finding a `docker cp` path inside a container root without leaving it.
//!
//! Every lookup goes through `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from a dirfd of
//! the container's root, so `..` and absolute symlinks stop at that root: a symlink
//! `/evil -> /etc` leads to the container's `/etc`, never the host's. What is found is then
//! used through fds (`*at` calls on a parent dirfd and one plain name), not host path strings.

use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A path as docker cp sends it, made absolute and cleaned the way Docker does it: `.` and `..`
/// are resolved lexically, but a trailing `/` or `/.` is kept, because it means "the directory
/// itself, following a symlink" (`/evil/`) or "the contents of the directory" (`/dir/.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpPath {
    /// The absolute path, e.g. `/etc/`, `/etc/.`, `/a/b`.
    pub abs: String,
    /// The directory part, ending in `/` (`/` for the root).
    pub dir: String,
    /// The last component: empty after a trailing `/`, `.` after `/.`.
    pub base: String,
}

impl CpPath {
    pub fn parse(path: &str) -> CpPath {
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        let mut abs = format!("/{}", parts.join("/"));
        let last = path.rsplit('/').next().unwrap_or("");
        if last == "." || path == "." {
            if !abs.ends_with('/') {
                abs.push('/');
            }
            abs.push('.');
        } else if path.ends_with('/') && !abs.ends_with('/') {
            abs.push('/');
        }
        let cut = abs.rfind('/').map_or(0, |i| i + 1);
        CpPath {
            dir: abs[..cut].to_string(),
            base: abs[cut..].to_string(),
            abs,
        }
    }

    /// Go's `filepath.Base(abs)`: the name the resource has in the tar and in the stat header.
    pub fn name(&self) -> String {
        let trimmed = self.abs.trim_end_matches('/');
        if trimmed.is_empty() {
            return "/".to_string();
        }
        trimmed.rsplit('/').next().unwrap_or("/").to_string()
    }

    /// The last component names the directory itself (`/`, `/d/`, `/d/.`), so a symlink there
    /// is followed.
    pub fn is_dir_form(&self) -> bool {
        self.base.is_empty() || self.base == "."
    }
}

fn cvt(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "nul byte in path"))
}

/// `rel` (absolute or relative, it makes no difference) resolved inside `root`.
pub fn open_in_root(root: RawFd, rel: &str, flags: i32) -> io::Result<OwnedFd> {
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    crate::spec::rootfs::openat2_in_root(root, rel.as_bytes(), flags, 0)
}

pub fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole stat on success.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) } as libc::c_long)?;
    Ok(unsafe { st.assume_init() })
}

pub fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: one name in a dir fd, not following a symlink; a whole stat on success.
    cvt(unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } as libc::c_long)?;
    Ok(unsafe { st.assume_init() })
}

pub fn readlink_at(dir: RawFd, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the buffer is as long as we say.
    let n = cvt(
        unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
            as libc::c_long,
    )?;
    buf.truncate(n as usize);
    Ok(buf)
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// What a cp path names: a directory (its fd), or one entry in a parent directory.
pub enum Target {
    Dir(OwnedFd),
    Entry { parent: OwnedFd, name: CString },
}

/// Finds `p` in `root` as Docker's stat does: the directory part is resolved (symlinks
/// followed, inside the root), the last component is not followed unless the path ends in
/// `/` or `/.`. Returns the target and its lstat.
pub fn locate(root: RawFd, p: &CpPath) -> io::Result<(Target, libc::stat)> {
    if p.is_dir_form() {
        let fd = open_in_root(root, &p.abs, libc::O_RDONLY | libc::O_DIRECTORY)?;
        let st = fstat(fd.as_raw_fd())?;
        return Ok((Target::Dir(fd), st));
    }
    let parent = open_in_root(root, &p.dir, libc::O_RDONLY | libc::O_DIRECTORY)?;
    let name = cstring(p.base.as_bytes())?;
    let st = lstat_at(parent.as_raw_fd(), &name)?;
    if is_dir(&st) {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: one plain name in a dir fd we own; O_NOFOLLOW refuses a swapped-in symlink.
        let fd =
            cvt(unsafe { libc::openat(parent.as_raw_fd(), name.as_ptr(), flags) } as libc::c_long)?;
        // SAFETY: a new fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        return Ok((Target::Dir(fd), st));
    }
    Ok((Target::Entry { parent, name }, st))
}

/// Where the symlink at `p` leads, as an absolute path inside the container (Docker's
/// `linkTarget`). The kernel resolves it inside the root; the fd's path is then read back and
/// made relative to the root's. A dangling link is resolved lexically from its text.
pub fn link_target(root: RawFd, p: &CpPath, link: &[u8]) -> String {
    let resolved = open_in_root(root, &p.abs, libc::O_PATH).and_then(|fd| {
        let root_path = std::fs::read_link(format!("/proc/self/fd/{root}"))?;
        let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        path.strip_prefix(&root_path)
            .map(|rel| format!("/{}", rel.display()))
            .map_err(|_| io::Error::other("resolved outside the root's path"))
    });
    match resolved {
        Ok(t) => CpPath::parse(&t).abs,
        Err(_) => {
            let text = String::from_utf8_lossy(link);
            if text.starts_with('/') {
                CpPath::parse(&text).abs
            } else {
                CpPath::parse(&format!("{}{text}", p.dir)).abs
            }
        }
    }
}

/// Go's `os.FileMode` bits for a stat mode, as Docker's stat header carries them.
pub fn go_file_mode(mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut m = mode & 0o777;
    m |= match mode & libc::S_IFMT {
        libc::S_IFDIR => DIR,
        libc::S_IFLNK => SYMLINK,
        libc::S_IFBLK => DEVICE,
        libc::S_IFCHR => DEVICE | CHAR_DEVICE,
        libc::S_IFIFO => NAMED_PIPE,
        libc::S_IFSOCK => SOCKET,
        _ => 0,
    };
    if mode & libc::S_ISUID != 0 {
        m |= SETUID;
    }
    if mode & libc::S_ISGID != 0 {
        m |= SETGID;
    }
    if mode & libc::S_ISVTX != 0 {
        m |= STICKY;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_paths_as_docker_cleans_them() {
        let p = CpPath::parse("etc/hosts");
        assert_eq!(
            (p.abs.as_str(), p.dir.as_str(), p.base.as_str()),
            ("/etc/hosts", "/etc/", "hosts")
        );
        assert_eq!(CpPath::parse("/etc/").abs, "/etc/");
        assert_eq!(CpPath::parse("/etc/.").abs, "/etc/.");
        assert_eq!(CpPath::parse(".").abs, "/.");
        assert_eq!(CpPath::parse("/").abs, "/");
        assert_eq!(CpPath::parse("/a/../../b").abs, "/b");
        assert_eq!(CpPath::parse("/a/./b//").abs, "/a/b/");
        assert_eq!(CpPath::parse("/etc/").name(), "etc");
        assert_eq!(CpPath::parse("/etc/.").name(), ".");
        assert_eq!(CpPath::parse("/").name(), "/");
        assert!(CpPath::parse("/etc/").is_dir_form());
        assert!(!CpPath::parse("/etc").is_dir_form());
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(libc::S_IFREG | 0o4640), (1 << 23) | 0o640);
        assert_eq!(
            go_file_mode(libc::S_IFCHR | 0o666),
            (1 << 26) | (1 << 21) | 0o666
        );
    }

    #[test]
    fn lookups_stay_in_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/marker"), b"inside").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("evil")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("up")).unwrap();
        let fd = std::fs::File::open(&root).unwrap();
        let r = fd.as_raw_fd();
        let (t, st) = locate(r, &CpPath::parse("/evil/")).unwrap();
        assert!(is_dir(&st));
        let Target::Dir(d) = t else {
            panic!("a directory")
        };
        assert!(lstat_at(d.as_raw_fd(), c"marker").is_ok());
        let (_, st) = locate(r, &CpPath::parse("/evil")).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(link_target(r, &CpPath::parse("/evil"), b"/etc"), "/etc");
        let (t, _) = locate(r, &CpPath::parse("/up/etc/")).unwrap();
        let Target::Dir(d) = t else {
            panic!("a directory")
        };
        assert!(lstat_at(d.as_raw_fd(), c"marker").is_ok());
        let missing = locate(r, &CpPath::parse("/nope")).err().unwrap();
        assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
    }
}
