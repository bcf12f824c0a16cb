//! vfs: every layer is a full copy of its parent in `<home>/dir/<id>`. Slow and large, but it
//! needs nothing from the filesystem, so it works everywhere (and inside anything).
//!
//! `get` returns the directory itself (counted, nothing is mounted). The diff side is the naive
//! one from [`Driver`]'s defaults, which compares whole trees and applies whiteouts by deleting.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::copy;
use crate::refcount::RefCounter;
use crate::{Driver, Result, StorageError};

pub struct Vfs {
    home: PathBuf,
    refs: RefCounter,
}

/// Rejects ids that could name something other than one directory under home.
pub(crate) fn check_id(id: &str) -> Result<()> {
    let bad = id.is_empty()
        || id.len() > 200
        || id == "."
        || id == ".."
        || id.starts_with('.')
        || id.contains(['/', '\0']);
    if bad {
        Err(StorageError::InvalidId(id.to_string()))
    } else {
        Ok(())
    }
}

impl Vfs {
    pub fn new(home: &Path) -> Result<Vfs> {
        let dir = home.join("dir");
        fs::create_dir_all(&dir).map_err(|e| StorageError::io("create vfs home", &dir, e))?;
        Ok(Vfs {
            home: home.to_path_buf(),
            refs: RefCounter::default(),
        })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.home.join("dir").join(id)
    }
}

impl Driver for Vfs {
    fn name(&self) -> &'static str {
        "vfs"
    }

    fn status(&self) -> Vec<(String, String)> {
        let backing = copy::fs_magic(&self.home)
            .map(copy::fs_name)
            .unwrap_or_else(|e| e.to_string());
        vec![("Backing Filesystem".into(), backing)]
    }

    fn create(&self, id: &str, parent: Option<&str>) -> Result<()> {
        check_id(id)?;
        let dir = self.dir(id);
        if dir.symlink_metadata().is_ok() {
            return Err(StorageError::AlreadyExists(id.to_string()));
        }
        let Some(parent) = parent else {
            return fs::create_dir(&dir).map_err(|e| StorageError::io("create layer", &dir, e));
        };
        check_id(parent)?;
        let from = self.dir(parent);
        if !from.is_dir() {
            return Err(StorageError::NotFound(parent.to_string()));
        }
        // Copy under a hidden name and rename, so a crash never leaves a half copy as a layer.
        let tmp = self.home.join("dir").join(format!(".tmp-{id}"));
        if tmp.symlink_metadata().is_ok() {
            fs::remove_dir_all(&tmp).map_err(|e| StorageError::io("remove stale copy", &tmp, e))?;
        }
        let copied = copy::copy_tree(&from, &tmp).and_then(|()| {
            fs::rename(&tmp, &dir).map_err(|e| StorageError::io("rename layer", &dir, e))
        });
        if copied.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        copied
    }

    fn remove(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let count = self.refs.count(id);
        if count > 0 {
            return Err(StorageError::Busy {
                id: id.to_string(),
                count,
            });
        }
        let dir = self.dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StorageError::NotFound(id.into())),
            Err(e) => Err(StorageError::io("remove layer", &dir, e)),
        }
    }

    fn get(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        let dir = self.dir(id);
        if !dir.is_dir() {
            return Err(StorageError::NotFound(id.to_string()));
        }
        self.refs.increment(id);
        Ok(dir)
    }

    fn put(&self, id: &str) -> Result<()> {
        check_id(id)?;
        self.refs.decrement(id);
        Ok(())
    }

    fn exists(&self, id: &str) -> bool {
        check_id(id).is_ok() && self.dir(id).is_dir()
    }

    fn cleanup(&self) -> Result<()> {
        self.refs.drain();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_inside_home() {
        for bad in ["", ".", "..", "a/b", ".tmp-x", "a\0b"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        check_id("0123abcd").unwrap();
    }
}
