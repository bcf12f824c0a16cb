//! The naive diff: compare two trees entry by entry.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::sys;
use super::{Change, ChangeKind};
use crate::{Result, StorageError};

/// What the diff compares about one entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Info {
    pub file_type: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub rdev: u64,
    pub link: Option<PathBuf>,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Info {
    pub fn read(path: &Path) -> io::Result<Info> {
        let md = fs::symlink_metadata(path)?;
        let file_type = md.mode() & libc::S_IFMT;
        let link = if file_type == libc::S_IFLNK {
            Some(fs::read_link(path)?)
        } else {
            None
        };
        let is_dev = file_type == libc::S_IFCHR || file_type == libc::S_IFBLK;
        Ok(Info {
            file_type,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            size: md.size(),
            mtime: (md.mtime(), md.mtime_nsec()),
            rdev: if is_dev { md.rdev() } else { 0 },
            link,
            xattrs: sys::lxattrs(path)?,
        })
    }

    pub fn is_dir(&self) -> bool {
        self.file_type == libc::S_IFDIR
    }

    /// Whether the entry itself changed. A directory's size and mtime follow its entries, so
    /// they are left out, as `docker diff` does; a directory with changes inside is reported
    /// by [`compare_dir`] instead.
    fn differs(&self, old: &Info) -> bool {
        self.file_type != old.file_type
            || self.mode != old.mode
            || self.uid != old.uid
            || self.gid != old.gid
            || (!self.is_dir() && self.size != old.size)
            || (!self.is_dir() && self.mtime != old.mtime)
            || self.rdev != old.rdev
            || self.link != old.link
            || self.xattrs != old.xattrs
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |e| StorageError::io(op, path, e)
}

fn names(dir: &Path) -> io::Result<BTreeSet<OsString>> {
    fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect()
}

fn abs(rel: &Path) -> PathBuf {
    Path::new("/").join(rel)
}

pub(super) fn tree_changes(layer: &Path, parent: Option<&Path>) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    compare_dir(layer, parent, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

/// Compares the entries of directory `rel`, which is a directory in `layer` and, when `parent`
/// is given, also in `parent`.
fn compare_dir(
    layer: &Path,
    parent: Option<&Path>,
    rel: &Path,
    out: &mut Vec<Change>,
) -> Result<()> {
    let ldir = layer.join(rel);
    let new = names(&ldir).map_err(io_err("read directory", &ldir))?;
    let old = match parent {
        Some(p) => {
            let pdir = p.join(rel);
            names(&pdir).map_err(io_err("read directory", &pdir))?
        }
        None => BTreeSet::new(),
    };
    for name in new.union(&old) {
        let child = rel.join(name);
        let lpath = layer.join(&child);
        let in_new = new.contains(name);
        let in_old = old.contains(name);
        if !in_new {
            out.push(Change {
                path: abs(&child),
                kind: ChangeKind::Deleted,
            });
            continue;
        }
        let linfo = Info::read(&lpath).map_err(io_err("stat", &lpath))?;
        if !in_old {
            out.push(Change {
                path: abs(&child),
                kind: ChangeKind::Added,
            });
            if linfo.is_dir() {
                compare_dir(layer, None, &child, out)?;
            }
            continue;
        }
        let ppath = parent.expect("an old entry has a parent tree").join(&child);
        let pinfo = Info::read(&ppath).map_err(io_err("stat", &ppath))?;
        let modified = linfo.differs(&pinfo)
            || (linfo.file_type == libc::S_IFREG && !same_content(&lpath, &ppath)?);
        let at = out.len();
        if modified {
            out.push(Change {
                path: abs(&child),
                kind: ChangeKind::Modified,
            });
        }
        if linfo.is_dir() {
            // A directory that replaced a non-directory: everything in it is new.
            compare_dir(
                layer,
                if pinfo.is_dir() { parent } else { None },
                &child,
                out,
            )?;
            // Changes inside make the directory itself changed, as docker diff reports it.
            if !modified && out.len() > at {
                out.insert(
                    at,
                    Change {
                        path: abs(&child),
                        kind: ChangeKind::Modified,
                    },
                );
            }
        }
    }
    Ok(())
}

/// Whether two regular files of the same size hold the same bytes. The metadata can't tell a
/// rewrite that kept size and mtime (a layer tar replacing a file does exactly that); reading
/// is the price of the naive diff, and drivers with a native one avoid it.
fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let (ma, mb) = (
        fs::symlink_metadata(a).map_err(io_err("stat", a))?,
        fs::symlink_metadata(b).map_err(io_err("stat", b))?,
    );
    if ma.dev() == mb.dev() && ma.ino() == mb.ino() {
        return Ok(true);
    }
    let mut fa = fs::File::open(a).map_err(io_err("open", a))?;
    let mut fb = fs::File::open(b).map_err(io_err("open", b))?;
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(io_err("read", a))?;
        let nb = read_full(&mut fb, &mut bb).map_err(io_err("read", b))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Cleans an absolute change path into a relative one, refusing `..` and the root.
pub(crate) fn change_rel(path: &Path) -> Result<PathBuf> {
    let raw = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    super::apply::clean_path(raw).map_err(|reason| StorageError::UnsafeEntry {
        path: path.display().to_string(),
        reason,
    })
}

pub(super) fn changes_size(layer: &Path, changes: &[Change]) -> Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    for change in changes {
        if change.kind == ChangeKind::Deleted {
            continue;
        }
        let rel = change_rel(&change.path)?;
        let path = layer.join(&rel);
        let md = match fs::symlink_metadata(&path) {
            Ok(md) => md,
            // Gone since the diff was taken: nothing to count.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StorageError::io("stat", path, e)),
        };
        if !md.file_type().is_file() {
            continue;
        }
        if md.nlink() > 1 && !seen.insert((md.dev(), md.ino())) {
            continue;
        }
        total += md.size();
    }
    Ok(total)
}
