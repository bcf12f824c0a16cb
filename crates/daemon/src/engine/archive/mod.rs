//! `docker cp` and `docker export` on the engine side: stat a path in a container, archive it,
//! extract a tar into it, and archive the whole filesystem.
//!
//! A running container is reached through `/proc/<init>/root`, so what is mounted inside it is
//! seen as the container sees it; a stopped one has its rootfs mounted through the storage
//! driver for the time of the copy. Either way paths are resolved inside that root (see
//! [`resolve`]), and files are read and written through fds.

pub mod resolve;
mod tar_out;

use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_storage::archive::{ApplyOptions, Whiteouts};
use berth_storage::layer::LayerStore;
use berth_storage::StorageError;
use serde::Serialize;

use super::{Daemon, Handle};
use crate::error::ApiError;
use resolve::{CpPath, Target};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Docker's wording for a path that is not there (404).
    #[error("Could not find the file {path} in container {container}")]
    NotFound { path: String, container: String },
    #[error("extraction point is not a directory")]
    NotADirectory,
    #[error("container rootfs is marked read-only")]
    ReadOnly,
    #[error("{op} {path} in container {container}: {source}")]
    Io {
        op: &'static str,
        path: String,
        container: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}: {source}")]
    Local {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> ApiError {
        match e {
            ArchiveError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            ArchiveError::NotADirectory | ArchiveError::ReadOnly | ArchiveError::Spec(_) => {
                ApiError::BadRequest(e.to_string())
            }
            ArchiveError::Io { ref source, .. } if source.raw_os_error() == Some(libc::ENOTDIR) => {
                ApiError::BadRequest(e.to_string())
            }
            ArchiveError::Storage(s) => s.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Docker's `ContainerPathStat`, the `X-Docker-Container-Path-Stat` header (base64 JSON).
#[derive(Debug, Clone, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// An open view of a container's root filesystem; a mount taken for it is released on drop.
pub struct ContainerRoot {
    fd: OwnedFd,
    /// The same root as a host path (for reading /etc/passwd with the spec helpers).
    path: PathBuf,
    mounted: Option<(Arc<LayerStore>, String)>,
    /// The name or ID the client used, for Docker's error messages.
    pub container: String,
    pub running: bool,
}

impl Drop for ContainerRoot {
    fn drop(&mut self) {
        if let Some((layers, id)) = self.mounted.take() {
            if let Err(e) = layers.unmount_container(&id) {
                tracing::warn!("container {id}: releasing the rootfs mount after a copy: {e}");
            }
        }
    }
}

/// A located cp path: what it is and where it is.
pub struct Located {
    pub target: Target,
    pub stat: PathStat,
    lstat: libc::stat,
    name: String,
}

impl Daemon {
    /// Opens the root of `h` as `name` (what the client called it). Blocking.
    pub fn container_root(&self, h: &Handle, name: &str) -> Result<ContainerRoot, ArchiveError> {
        let (alive, pid) = {
            let c = h.lock();
            (c.state.status.is_alive(), c.state.pid)
        };
        if alive && pid > 0 {
            let path = PathBuf::from(format!("/proc/{pid}/root"));
            if let Ok(f) = std::fs::File::open(&path) {
                // The pid may have been reused since the state was read; the pidfd taken at
                // start says whether that process is still the container's init.
                let init = h.init.lock().expect("init lock").clone();
                let ours = init.is_none_or(|fd| super::shim::pidfd_signal(&fd, 0).is_ok());
                if ours {
                    return Ok(ContainerRoot {
                        fd: f.into(),
                        path,
                        mounted: None,
                        container: name.to_string(),
                        running: true,
                    });
                }
            }
        }
        let path = self.layers.mount_container(&h.id)?;
        let mounted = Some((self.layers.clone(), h.id.clone()));
        let fd = std::fs::File::open(&path).map(OwnedFd::from);
        let root = ContainerRoot {
            fd: match fd {
                Ok(fd) => fd,
                Err(source) => {
                    let _ = self.layers.unmount_container(&h.id);
                    return Err(ArchiveError::Local {
                        op: "open the container's rootfs",
                        source,
                    });
                }
            },
            path,
            mounted,
            container: name.to_string(),
            running: false,
        };
        Ok(root)
    }
}

impl ContainerRoot {
    fn io(&self, op: &'static str, path: &str) -> impl FnOnce(std::io::Error) -> ArchiveError {
        let (path, container) = (path.to_string(), self.container.clone());
        move |source| {
            if source.raw_os_error() == Some(libc::ENOENT) {
                ArchiveError::NotFound { path, container }
            } else {
                ArchiveError::Io {
                    op,
                    path,
                    container,
                    source,
                }
            }
        }
    }

    /// `HEAD /containers/{id}/archive`: what `path` is (the last component not followed).
    pub fn locate(&self, path: &str) -> Result<Located, ArchiveError> {
        let p = CpPath::parse(path);
        let (target, st) =
            resolve::locate(self.fd.as_raw_fd(), &p).map_err(self.io("stat", path))?;
        let link_target = match &target {
            Target::Entry { parent, name } if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                let text = resolve::readlink_at(parent.as_raw_fd(), name)
                    .map_err(self.io("readlink", path))?;
                resolve::link_target(self.fd.as_raw_fd(), &p, &text)
            }
            _ => String::new(),
        };
        let name = p.name();
        Ok(Located {
            stat: PathStat {
                name: name.clone(),
                size: st.st_size,
                mode: resolve::go_file_mode(st.st_mode),
                mtime: berth_runtime::shim::time::format_unix(st.st_mtime, st.st_mtime_nsec as u32),
                link_target,
            },
            target,
            lstat: st,
            name,
        })
    }

    /// `GET /containers/{id}/archive`: writes `located` as a tar, named as Docker names it
    /// (the requested base name; `.` for `dir/.`, whose entries are then `./…`).
    pub fn write_tar(&self, located: &Located, out: impl Write) -> std::io::Result<()> {
        tar_out::TarWriter::new(out).write(&located.target, &located.lstat, located.name.as_bytes())
    }

    /// `PUT /containers/{id}/archive`: extracts the tar in `input` into directory `path`.
    ///
    /// The whole tar is first spooled to an unnamed temporary file in `spool_dir` and checked,
    /// so a malformed or truncated archive is refused before anything is written.
    pub fn extract(
        &self,
        path: &str,
        input: &mut dyn Read,
        opts: ExtractOptions<'_>,
        spool_dir: &Path,
    ) -> Result<u64, ArchiveError> {
        if opts.readonly_rootfs {
            return Err(ArchiveError::ReadOnly);
        }
        let p = CpPath::parse(path);
        // The last component is followed too: extracting "into a symlink" to a directory works.
        let dir = resolve::open_in_root(self.fd.as_raw_fd(), &p.abs, libc::O_RDONLY)
            .map_err(self.io("open", path))?;
        let st = resolve::fstat(dir.as_raw_fd()).map_err(self.io("stat", path))?;
        if !resolve::is_dir(&st) {
            return Err(ArchiveError::NotADirectory);
        }
        let chown = match opts.copy_uid_gid_user {
            Some(user) if !user.is_empty() => {
                let u = crate::spec::user::resolve(&self.path, user, &[])?;
                Some((u.uid, u.gid))
            }
            _ => None,
        };
        let local = |op| move |source| ArchiveError::Local { op, source };
        let mut spool = tempfile::tempfile_in(spool_dir).map_err(local("create spool file"))?;
        std::io::copy(input, &mut spool).map_err(|e| {
            StorageError::Archive(format!("reading the archive from the request: {e}"))
        })?;
        spool.rewind().map_err(local("rewind spool file"))?;
        berth_storage::archive::check_tar(&mut std::io::BufReader::new(&spool))?;
        spool.rewind().map_err(local("rewind spool file"))?;
        let apply = ApplyOptions {
            whiteouts: Whiteouts::Keep,
            no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
            chown,
        };
        let label = Path::new(&p.abs);
        Ok(berth_storage::archive::apply_layer_at(
            dir,
            label,
            &mut std::io::BufReader::new(spool),
            &apply,
        )?)
    }
}

pub struct ExtractOptions<'a> {
    pub no_overwrite_dir_non_dir: bool,
    /// With copyUIDGID: the container's `User`, whose uid:gid every entry gets (Docker does
    /// this only when the container has a user; otherwise the tar's owners stay).
    pub copy_uid_gid_user: Option<&'a str>,
    pub readonly_rootfs: bool,
}
