//! overlay, the default driver: each layer keeps only its own files, and a mount stacks them.
//!
//! Layout under home:
//! ```text
//! <id>/diff     the layer's own files (overlay's upper dir when mounted)
//! <id>/link     its short name, 26 random capital letters
//! <id>/lower    the parent chain, top first: l/<short>:l/<short>:…  (absent for a base layer)
//! <id>/work     overlay's scratch dir, <id>/merged the mount point (layers with a parent)
//! l/<short>     symlink to ../<id>/diff
//! ```
//! Short names keep a long chain's mount options small; see [`mount`] for how it is mounted.
//! A base layer is never mounted: its view is its diff dir.

mod check;
mod diff;
pub mod mount;

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use mount::{is_mounted, mounts_under, MountMethod};

use crate::archive::{self, ApplyOptions, Change, Whiteouts};
use crate::drivers::copy;
use crate::refcount::RefCounter;
use crate::{Driver, Result, StorageError};

/// The deepest chain a layer may have (as Docker's overlay2).
pub const MAX_DEPTH: usize = 128;
const LINK_DIR: &str = "l";
const SHORT_LEN: usize = 26;

#[derive(Debug, Clone, Default)]
pub struct OverlayOptions {
    /// Mount this way instead of the best the kernel offers (tests use it to reach the
    /// fallback).
    pub mount_method: Option<MountMethod>,
}

pub struct Overlay {
    home: PathBuf,
    refs: RefCounter,
    /// Serializes mounts and unmounts, so a second get never sees a half-made mount.
    lock: Mutex<()>,
    support: check::Support,
}

/// A fresh short name: 26 capital letters from the kernel's random pool.
fn short_name() -> io::Result<String> {
    let mut out = String::with_capacity(SHORT_LEN);
    let mut buf = [0u8; 64];
    while out.len() < SHORT_LEN {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // 234 = 9 × 26: rejecting the rest keeps every letter equally likely.
        for b in buf[..n as usize].iter().filter(|b| **b < 234) {
            if out.len() < SHORT_LEN {
                out.push((b'A' + b % 26) as char);
            }
        }
    }
    Ok(out)
}

fn check_id(id: &str) -> Result<()> {
    crate::drivers::vfs::check_id(id)?;
    if id == LINK_DIR || id.starts_with("berth-check-") {
        return Err(StorageError::InvalidId(id.to_string()));
    }
    Ok(())
}

impl Overlay {
    pub fn new(home: &Path) -> Result<Overlay> {
        Overlay::with_options(home, OverlayOptions::default())
    }

    pub fn with_options(home: &Path, options: OverlayOptions) -> Result<Overlay> {
        let support = check::check(home, options.mount_method)?;
        let links = home.join(LINK_DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&links)
            .map_err(|e| StorageError::io("create", &links, e))?;
        Ok(Overlay {
            home: home.to_path_buf(),
            refs: RefCounter::default(),
            lock: Mutex::new(()),
            support,
        })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn mount_method(&self) -> MountMethod {
        self.support.method
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.home.join(id)
    }

    fn diff_dir(&self, id: &str) -> PathBuf {
        self.home.join(id).join("diff")
    }

    fn read_small(&self, path: &Path) -> Result<Option<String>> {
        match fs::read_to_string(path) {
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io("read", path, e)),
        }
    }

    /// The layer's parent chain as `l/<short>` entries, top first (None for a base layer).
    fn lowers(&self, id: &str) -> Result<Option<Vec<String>>> {
        let lower = self.read_small(&self.dir(id).join("lower"))?;
        Ok(lower.map(|l| {
            l.split(':')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }))
    }

    fn short(&self, id: &str) -> Result<String> {
        let path = self.dir(id).join("link");
        self.read_small(&path)?
            .ok_or_else(|| StorageError::io("read", &path, io::ErrorKind::NotFound.into()))
    }

    /// Whether `parent` is the layer's own parent, so its diff dir is exactly the change.
    fn native(&self, id: &str, parent: Option<&str>) -> Result<bool> {
        if !self.support.native_diff {
            return Ok(false);
        }
        if !self.exists(id) {
            return Err(StorageError::NotFound(id.to_string()));
        }
        Ok(match (self.lowers(id)?, parent) {
            (None, None) => true,
            (Some(lowers), Some(parent)) if self.exists(parent) => {
                lowers.first() == Some(&format!("{LINK_DIR}/{}", self.short(parent)?))
            }
            _ => false,
        })
    }

    fn lower_dirs(&self, id: &str) -> Result<Vec<PathBuf>> {
        Ok(self
            .lowers(id)?
            .unwrap_or_default()
            .iter()
            .map(|l| self.home.join(l))
            .collect())
    }

    fn make_layer(&self, id: &str, parent: Option<&str>) -> Result<()> {
        let dir = self.dir(id);
        let mkdir = |path: PathBuf, mode: u32| {
            fs::DirBuilder::new()
                .mode(mode)
                .create(&path)
                .map_err(|e| StorageError::io("mkdir", &path, e))
        };
        mkdir(dir.join("diff"), 0o755)?;
        let short = loop {
            let short = short_name().map_err(|e| StorageError::io("getrandom", &dir, e))?;
            let link = self.home.join(LINK_DIR).join(&short);
            match std::os::unix::fs::symlink(Path::new("..").join(id).join("diff"), &link) {
                Ok(()) => break short,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StorageError::io("symlink", &link, e)),
            }
        };
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            fs::write(&path, text).map_err(|e| StorageError::io("write", &path, e))
        };
        write("link", &short)?;
        if let Some(parent) = parent {
            let mut chain = vec![format!("{LINK_DIR}/{}", self.short(parent)?)];
            chain.extend(self.lowers(parent)?.unwrap_or_default());
            if chain.len() > MAX_DEPTH {
                return Err(StorageError::TooDeep {
                    id: id.into(),
                    depth: chain.len(),
                    max: MAX_DEPTH,
                });
            }
            mkdir(dir.join("work"), 0o700)?;
            mkdir(dir.join("merged"), 0o700)?;
            write("lower", &chain.join(":"))?;
        }
        Ok(())
    }

    fn remove_files(&self, id: &str) -> Result<()> {
        if let Ok(short) = self.short(id) {
            let link = self.home.join(LINK_DIR).join(short);
            match fs::remove_file(&link) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("remove", &link, e)),
            }
        }
        let dir = self.dir(id);
        fs::remove_dir_all(&dir).map_err(|e| StorageError::io("remove layer", &dir, e))
    }

    fn mount_layer(&self, id: &str) -> Result<PathBuf> {
        let Some(lowers) = self.lowers(id)? else {
            return Ok(self.diff_dir(id));
        };
        let merged = self.dir(id).join("merged");
        for dir in [merged.clone(), self.dir(id).join("work")] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| StorageError::io("mkdir", &dir, e))?;
        }
        if is_mounted(&merged) {
            return Ok(merged); // left by an earlier run of the daemon: the same layer
        }
        let spec = mount::Spec {
            home: &self.home,
            lowers: &lowers,
            upper: format!("{id}/diff"),
            work: format!("{id}/work"),
            target: format!("{id}/merged"),
            options: self.support.options,
        };
        mount::mount(self.support.method, &spec)?;
        Ok(merged)
    }

    /// Runs `f` on the mounted views of `id` and `parent` (the naive diff), unmounting after.
    fn with_views<T>(
        &self,
        id: &str,
        parent: Option<&str>,
        f: impl FnOnce(&Path, Option<&Path>) -> Result<T>,
    ) -> Result<T> {
        let layer = self.get(id)?;
        let parent_view = match parent.map(|p| self.get(p)).transpose() {
            Ok(p) => p,
            Err(e) => {
                let _ = self.put(id);
                return Err(e);
            }
        };
        let result = f(&layer, parent_view.as_deref());
        let put_parent = parent.map(|p| self.put(p)).transpose();
        let put_layer = self.put(id);
        let value = result?;
        put_parent?;
        put_layer?;
        Ok(value)
    }
}

impl Driver for Overlay {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn status(&self) -> Vec<(String, String)> {
        let s = &self.support;
        vec![
            ("Backing Filesystem".into(), s.backing_fs.clone()),
            ("Supports d_type".into(), "true".into()),
            ("Using metacopy".into(), "false".into()),
            ("Native Overlay Diff".into(), s.native_diff.to_string()),
            ("userxattr".into(), "false".into()),
            ("Mount Method".into(), s.method.describe().into()),
        ]
    }

    fn create(&self, id: &str, parent: Option<&str>) -> Result<()> {
        check_id(id)?;
        if let Some(p) = parent {
            check_id(p)?;
            if !self.exists(p) {
                return Err(StorageError::NotFound(p.to_string()));
            }
        }
        // The layer dir is claimed first: whoever makes it owns the cleanup of a failure.
        let dir = self.dir(id);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StorageError::AlreadyExists(id.to_string()))
            }
            Err(e) => return Err(StorageError::io("mkdir", &dir, e)),
        }
        let made = self.make_layer(id, parent);
        if made.is_err() {
            let _ = self.remove_files(id);
        }
        made
    }

    fn remove(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let _guard = self.lock.lock().expect("overlay lock");
        let count = self.refs.count(id);
        if count > 0 {
            return Err(StorageError::Busy {
                id: id.to_string(),
                count,
            });
        }
        if !self.exists(id) {
            return Err(StorageError::NotFound(id.to_string()));
        }
        let merged = self.dir(id).join("merged");
        if is_mounted(&merged) {
            mount::unmount(&merged).map_err(|e| StorageError::io("unmount", &merged, e))?;
        }
        self.remove_files(id)
    }

    fn get(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        let _guard = self.lock.lock().expect("overlay lock");
        if !self.exists(id) {
            return Err(StorageError::NotFound(id.to_string()));
        }
        let view = if self.dir(id).join("lower").exists() {
            self.dir(id).join("merged")
        } else {
            self.diff_dir(id)
        };
        self.refs.get_with(id, || self.mount_layer(id), || view)
    }

    fn put(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let _guard = self.lock.lock().expect("overlay lock");
        if self.refs.count(id) == 0 || self.refs.decrement(id) > 0 {
            return Ok(());
        }
        if !self.dir(id).join("lower").exists() {
            return Ok(());
        }
        let merged = self.dir(id).join("merged");
        mount::unmount(&merged).map_err(|e| {
            self.refs.increment(id); // still mounted: keep the reference
            StorageError::io("unmount", &merged, e)
        })
    }

    fn exists(&self, id: &str) -> bool {
        check_id(id).is_ok() && self.diff_dir(id).is_dir()
    }

    fn cleanup(&self) -> Result<()> {
        let _guard = self.lock.lock().expect("overlay lock");
        self.refs.drain();
        let mut first_err = None;
        let ours = mounts_under(&self.home)
            .into_iter()
            .filter(|p| p.ends_with("merged"));
        for target in ours {
            if let Err(e) = mount::unmount(&target) {
                first_err.get_or_insert(StorageError::io("unmount", &target, e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn changes(&self, id: &str, parent: Option<&str>) -> Result<Vec<Change>> {
        if self.native(id, parent)? {
            return diff::changes(&self.diff_dir(id), &self.lower_dirs(id)?);
        }
        self.with_views(id, parent, archive::tree_changes)
    }

    fn diff(&self, id: &str, parent: Option<&str>, out: &mut dyn Write) -> Result<()> {
        if self.native(id, parent)? {
            return diff::write_tar(&self.diff_dir(id), out);
        }
        self.with_views(id, parent, |layer, parent| {
            let changes = archive::tree_changes(layer, parent)?;
            archive::export_changes(layer, &changes, out)
        })
    }

    fn apply_diff(&self, id: &str, parent: Option<&str>, input: &mut dyn Read) -> Result<u64> {
        if self.native(id, parent)? {
            let opts = ApplyOptions {
                whiteouts: Whiteouts::Overlay,
                ..Default::default()
            };
            return archive::apply_layer(&self.diff_dir(id), input, &opts);
        }
        let target = self.get(id)?;
        let applied = archive::apply_layer(
            &target,
            input,
            &ApplyOptions {
                whiteouts: Whiteouts::Apply,
                ..Default::default()
            },
        );
        self.put(id)?;
        applied
    }

    fn diff_size(&self, id: &str, parent: Option<&str>) -> Result<u64> {
        if self.native(id, parent)? {
            return diff::upper_size(&self.diff_dir(id));
        }
        self.with_views(id, parent, |layer, parent| {
            let changes = archive::tree_changes(layer, parent)?;
            archive::changes_size(layer, &changes)
        })
    }
}

/// The filesystem type of `path`, as `docker info` names it.
pub fn backing_fs(path: &Path) -> io::Result<String> {
    copy::fs_magic(path).map(copy::fs_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_26_capitals() {
        let a = short_name().unwrap();
        assert_eq!(a.len(), SHORT_LEN);
        assert!(a.bytes().all(|b| b.is_ascii_uppercase()), "{a}");
        assert_ne!(a, short_name().unwrap());
    }

    #[test]
    fn reserved_ids_are_refused() {
        for bad in ["l", "berth-check-1", "../x", ""] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
