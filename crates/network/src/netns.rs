//! Network namespaces held open by a bind mount, made and entered without forking.
//!
//! berthd is multi-threaded, so it never forks: a namespace is made on a dedicated thread that
//! `unshare(CLONE_NEWNET)`s, bind-mounts its `/proc/thread-self/ns/net` onto a file the caller
//! names (`<exec-root>/netns/<id>`), and then `setns()`es back before it ends. The file keeps
//! the namespace alive with no process in it; the OCI runtime later joins it by path.
//!
//! Code that must run *inside* a namespace (configuring `eth0`, binding a socket there) runs on
//! a fresh scoped thread that `setns()`es in and then ends, so no pooled thread (tokio's or
//! anyone's) is ever left in the wrong namespace.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// statfs(2) magic of nsfs, the filesystem behind /proc/*/ns/* files.
const NSFS_MAGIC: i64 = 0x6e73_6673;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("creating network namespace file {path}: {source}")]
    CreateFile { path: PathBuf, source: io::Error },
    #[error("network namespace file {0} already exists")]
    Exists(PathBuf),
    #[error("unsharing a new network namespace: {0}")]
    Unshare(#[source] io::Error),
    #[error("bind-mounting the new network namespace onto {path}: {source}")]
    Mount { path: PathBuf, source: io::Error },
    #[error("returning to the original network namespace: {0}")]
    Restore(#[source] io::Error),
    #[error("opening network namespace {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{0} is not a network namespace (nsfs) file")]
    NotANamespace(PathBuf),
    #[error("entering network namespace {path}: {source}")]
    Enter { path: PathBuf, source: io::Error },
    #[error("unmounting network namespace {path}: {source}")]
    Unmount { path: PathBuf, source: io::Error },
    #[error("removing network namespace file {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("the thread working in network namespace {0} panicked")]
    ThreadPanicked(PathBuf),
}

pub type Result<T> = std::result::Result<T, NetnsError>;

/// An open network namespace, pinned by a bind mount at `path` (and by our open descriptor).
#[derive(Debug)]
pub struct NetNs {
    path: PathBuf,
    file: File,
}

fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths have no NUL bytes")
}

fn setns(file: &File) -> io::Result<()> {
    // SAFETY: setns on a valid descriptor; CLONE_NEWNET limits it to network namespaces.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl NetNs {
    /// Creates a new, empty network namespace pinned at `dir/name` (`dir` is created if
    /// missing). Fails if that file exists already.
    pub fn create(dir: &Path, name: &str) -> Result<NetNs> {
        let path = dir.join(name);
        std::fs::create_dir_all(dir).map_err(|source| NetnsError::CreateFile {
            path: path.clone(),
            source,
        })?;
        // The mount target must exist; O_EXCL makes two creations of one id collide loudly.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(NetnsError::Exists(path))
            }
            Err(source) => return Err(NetnsError::CreateFile { path, source }),
        }
        let target = path.clone();
        let made = std::thread::scope(|s| {
            s.spawn(|| pin_new_namespace(&target))
                .join()
                .unwrap_or_else(|_| Err(NetnsError::ThreadPanicked(target.clone())))
        });
        if let Err(e) = made {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        NetNs::open(&path)
    }

    /// Opens an existing namespace file (one made by [`NetNs::create`], or `/proc/<pid>/ns/net`).
    pub fn open(path: &Path) -> Result<NetNs> {
        let file = File::open(path).map_err(|source| NetnsError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: fstatfs into a zeroed struct on a valid descriptor.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) } < 0 {
            return Err(NetnsError::Open {
                path: path.to_path_buf(),
                source: io::Error::last_os_error(),
            });
        }
        if st.f_type as i64 != NSFS_MAGIC {
            return Err(NetnsError::NotANamespace(path.to_path_buf()));
        }
        Ok(NetNs {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Where the namespace is pinned; the OCI spec joins it by this path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An open descriptor of the namespace (netlink's IFLA_NET_NS_FD takes it).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Runs `f` on a new thread that has entered this namespace; the thread ends with `f`, so
    /// it never goes back to any pool. Sockets `f` opens stay in this namespace for their
    /// whole life, whichever thread later uses them.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(&self.file).map_err(|source| NetnsError::Enter {
                    path: self.path.clone(),
                    source,
                })?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(NetnsError::ThreadPanicked(self.path.clone())))
        })
    }

    /// Unmounts and removes the namespace file. The kernel destroys the namespace (and the
    /// container ends of veth pairs in it) once nothing else holds it.
    pub fn delete(self) -> Result<()> {
        let NetNs { path, file } = self;
        drop(file);
        remove_path(&path)
    }
}

/// The namespace files under `dir` (none if `dir` does not exist): a restart compares them
/// with the containers it knows and removes the rest with [`remove_path`].
pub fn list_pinned(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(NetnsError::Open {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| NetnsError::Open {
            path: dir.to_path_buf(),
            source,
        })?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

/// Unmounts and unlinks a namespace file by path, e.g. one left behind by a crash. A missing
/// file is not an error, so a reconcile pass can call it blindly.
pub fn remove_path(path: &Path) -> Result<()> {
    let c = cpath(path);
    // MNT_DETACH: a process still inside keeps its namespace; the file goes away regardless.
    // SAFETY: umount2 on a NUL-terminated path.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } < 0 {
        let err = io::Error::last_os_error();
        // EINVAL: not a mount point (half-made by a crash); ENOENT: already gone.
        match err.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOENT) => {}
            _ => {
                return Err(NetnsError::Unmount {
                    path: path.to_path_buf(),
                    source: err,
                })
            }
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NetnsError::Remove {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Body of the dedicated thread in [`NetNs::create`].
fn pin_new_namespace(target: &Path) -> Result<()> {
    let original = File::open("/proc/thread-self/ns/net").map_err(|source| NetnsError::Open {
        path: "/proc/thread-self/ns/net".into(),
        source,
    })?;
    // SAFETY: unshare affects only this thread's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
        return Err(NetnsError::Unshare(io::Error::last_os_error()));
    }
    let src = cpath(Path::new("/proc/thread-self/ns/net"));
    let dst = cpath(target);
    // SAFETY: bind mount between two NUL-terminated paths; no data argument.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    let mounted = if rc < 0 {
        Err(NetnsError::Mount {
            path: target.to_path_buf(),
            source: io::Error::last_os_error(),
        })
    } else {
        Ok(())
    };
    // Go back even though the thread is about to end: being in the new namespace must not
    // outlive this function, whoever calls it.
    setns(&original).map_err(NetnsError::Restore)?;
    mounted
}
