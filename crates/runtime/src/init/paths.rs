//! Paths inside the container's rootfs, prepared before the clone so the child can resolve and
//! create them with `openat2(RESOLVE_IN_ROOT)` without allocating.

use std::ffi::{CStr, CString};
use std::path::{Component, Path};

use libc::c_int;

use super::sys::{self, RESOLVE_IN_ROOT};

/// A path relative to the container root, with every prefix ready for a step-by-step mkdir.
#[derive(Debug, Clone)]
pub struct PathInRoot {
    /// "sys", "sys/fs", "sys/fs/cgroup"; empty for the root itself.
    prefixes: Vec<CString>,
    /// "sys", "fs", "cgroup".
    names: Vec<CString>,
    /// As the spec wrote it, for error messages.
    pub display: String,
}

impl PathInRoot {
    /// `None` when the path has a NUL byte or is not UTF-8. `..` components are kept:
    /// RESOLVE_IN_ROOT clamps them at the root, as the kernel does for a chrooted process.
    pub fn new(path: &Path) -> Option<PathInRoot> {
        let mut prefixes = Vec::new();
        let mut names = Vec::new();
        let mut acc = String::new();
        for component in path.components() {
            let name = match component {
                Component::Normal(n) => n.to_str()?,
                Component::ParentDir => "..",
                Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            };
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(name);
            prefixes.push(CString::new(acc.as_str()).ok()?);
            names.push(CString::new(name).ok()?);
        }
        Some(PathInRoot {
            prefixes,
            names,
            display: path.display().to_string(),
        })
    }

    /// The last component, if any.
    pub fn name(&self) -> Option<&CStr> {
        self.names.last().map(|n| n.as_c_str())
    }

    fn open_prefix(&self, root_fd: c_int, count: usize) -> c_int {
        let path = if count == 0 {
            c"."
        } else {
            self.prefixes[count - 1].as_c_str()
        };
        // SAFETY: `path` is NUL-terminated.
        unsafe { sys::openat2(root_fd, path.as_ptr(), libc::O_PATH, RESOLVE_IN_ROOT) }
    }

    /// Opens the path (O_PATH) inside `root_fd`. Returns the fd or -1 with errno set.
    pub fn open(&self, root_fd: c_int) -> c_int {
        self.open_prefix(root_fd, self.names.len())
    }

    /// Makes sure the first `count` components exist as directories, creating what is missing.
    fn ensure_dirs(&self, root_fd: c_int, count: usize) -> bool {
        for i in 1..=count {
            let fd = self.open_prefix(root_fd, i);
            if fd >= 0 {
                sys::close(fd);
                continue;
            }
            if sys::errno() != libc::ENOENT {
                return false;
            }
            let parent = self.open_prefix(root_fd, i - 1);
            if parent < 0 {
                return false;
            }
            // SAFETY: a valid fd and a NUL-terminated name.
            let made = unsafe { libc::mkdirat(parent, self.names[i - 1].as_ptr(), 0o755) } == 0;
            let err = sys::errno();
            sys::close(parent);
            if !made && err != libc::EEXIST {
                return false;
            }
        }
        true
    }

    /// Opens the path's parent directory, creating missing directories. Returns the fd or -1.
    pub fn open_parent(&self, root_fd: c_int) -> c_int {
        let parents = self.names.len().saturating_sub(1);
        if !self.ensure_dirs(root_fd, parents) {
            return -1;
        }
        self.open_prefix(root_fd, parents)
    }

    /// Opens the path, creating missing directories and, with `as_file`, the last component as an
    /// empty file. Everything is resolved inside `root_fd`. Returns the O_PATH fd or -1.
    pub fn open_or_create(&self, root_fd: c_int, as_file: bool) -> c_int {
        let fd = self.open(root_fd);
        if fd >= 0 || sys::errno() != libc::ENOENT {
            return fd;
        }
        if !as_file {
            if !self.ensure_dirs(root_fd, self.names.len()) {
                return -1;
            }
            return self.open(root_fd);
        }
        let parent = self.open_parent(root_fd);
        let Some(name) = self.name() else { return -1 };
        if parent < 0 {
            return -1;
        }
        // SAFETY: a valid fd and a NUL-terminated name.
        let f = unsafe {
            libc::openat(
                parent,
                name.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o644,
            )
        };
        let err = sys::errno();
        sys::close(parent);
        if f < 0 && err != libc::EEXIST {
            return -1;
        }
        sys::close(f);
        self.open(root_fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_root(dir: &Path) -> c_int {
        let root = CString::new(dir.to_str().unwrap()).unwrap();
        // SAFETY: NUL-terminated path.
        let fd = unsafe {
            libc::open(
                root.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        assert!(fd >= 0);
        fd
    }

    #[test]
    fn creates_missing_directories_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(dir.path());
        let p = PathInRoot::new(Path::new("/a/b/c")).unwrap();
        let fd = p.open_or_create(root, false);
        assert!(fd >= 0);
        assert!(dir.path().join("a/b/c").is_dir());
        let f = PathInRoot::new(Path::new("/x/y/file")).unwrap();
        let fd2 = f.open_or_create(root, true);
        assert!(fd2 >= 0);
        assert!(dir.path().join("x/y/file").is_file());
        sys::close(fd);
        sys::close(fd2);
        sys::close(root);
    }

    #[test]
    fn a_symlink_cannot_lead_creation_outside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // The same absolute path exists inside the root: that is where the link must lead.
        let twin = dir.path().join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&twin).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
        let root = open_root(dir.path());
        let p = PathInRoot::new(Path::new("/evil/created")).unwrap();
        let fd = p.open_or_create(root, false);
        assert!(fd >= 0);
        assert!(
            !outside.path().join("created").exists(),
            "escaped through the symlink"
        );
        assert!(twin.join("created").is_dir());
        sys::close(fd);

        // A dangling link is not followed out either: creation fails instead.
        std::os::unix::fs::symlink("/nowhere/at/all", dir.path().join("dangling")).unwrap();
        let p = PathInRoot::new(Path::new("/dangling/x")).unwrap();
        assert_eq!(p.open_or_create(root, false), -1);
        assert!(!Path::new("/nowhere").exists());
        sys::close(root);
    }

    #[test]
    fn dotdot_is_clamped_at_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(dir.path());
        let p = PathInRoot::new(Path::new("/../../up")).unwrap();
        let fd = p.open_or_create(root, false);
        assert!(fd >= 0);
        assert!(dir.path().join("up").is_dir());
        sys::close(fd);
        sys::close(root);
    }
}
