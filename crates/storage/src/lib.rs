//! berth's storage backend: a set of layers, each a filesystem tree addressed by an id, created
//! empty or copy-on-write from a parent, mounted on demand, and compared or extracted as tar
//! streams with OCI whiteouts.
//!
//! [`Driver`] is the one interface (modelled on moby's graphdriver); [`drivers`] holds overlay,
//! btrfs and vfs. The diff side has a naive default that compares whole trees, which any driver
//! can override with a native one.

pub mod archive;
pub mod drivers;
pub mod error;
pub mod layer;
pub mod refcount;
pub mod select;

use std::io::{Read, Write};
use std::path::PathBuf;

pub use archive::{Change, ChangeKind};
pub use error::StorageError;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A copy-on-write layer store. Ids are opaque strings chosen by the caller (the layer store
/// uses random hex cache ids); a parent must exist when a child is created.
pub trait Driver: Send + Sync {
    /// "overlay", "btrfs" or "vfs".
    fn name(&self) -> &'static str;
    /// Key/value facts for `docker info` (backing filesystem, native diff, …).
    fn status(&self) -> Vec<(String, String)>;
    /// Creates layer `id`, empty or sharing `parent`'s content copy-on-write.
    fn create(&self, id: &str, parent: Option<&str>) -> Result<()>;
    /// Removes layer `id` and frees its space. It must not be mounted.
    fn remove(&self, id: &str) -> Result<()>;
    /// Mounts layer `id` (if it is not already) and returns the path of its full view. Mounts
    /// are counted: two gets need two puts, and the last put unmounts.
    fn get(&self, id: &str) -> Result<PathBuf>;
    fn put(&self, id: &str) -> Result<()>;
    fn exists(&self, id: &str) -> bool;
    /// Unmounts everything this driver mounted (at shutdown).
    fn cleanup(&self) -> Result<()>;

    /// The changes of `id` relative to `parent` (None: relative to an empty tree).
    fn changes(&self, id: &str, parent: Option<&str>) -> Result<Vec<Change>> {
        with_trees(self, id, parent, archive::tree_changes)
    }

    /// Writes `id`'s changes relative to `parent` as a tar with OCI whiteouts.
    fn diff(&self, id: &str, parent: Option<&str>, out: &mut dyn Write) -> Result<()> {
        with_trees(self, id, parent, |layer, parent| {
            let changes = archive::tree_changes(layer, parent)?;
            archive::export_changes(layer, &changes, out)
        })
    }

    /// Extracts the layer tar `input` (uncompressed) into `id`, whose parent is `parent`;
    /// returns the size of the content it wrote.
    fn apply_diff(&self, id: &str, parent: Option<&str>, input: &mut dyn Read) -> Result<u64> {
        let _ = parent;
        let target = self.get(id)?;
        let applied = archive::apply_layer(&target, input, &archive::ApplyOptions::default());
        self.put(id)?;
        applied
    }

    /// The size of `id`'s changes relative to `parent`.
    fn diff_size(&self, id: &str, parent: Option<&str>) -> Result<u64> {
        with_trees(self, id, parent, |layer, parent| {
            let changes = archive::tree_changes(layer, parent)?;
            archive::changes_size(layer, &changes)
        })
    }
}

/// Mounts `id` and `parent` for the naive diff, runs `f`, and unmounts both whatever happens.
fn with_trees<D: Driver + ?Sized, T>(
    driver: &D,
    id: &str,
    parent: Option<&str>,
    f: impl FnOnce(&std::path::Path, Option<&std::path::Path>) -> Result<T>,
) -> Result<T> {
    let layer = driver.get(id)?;
    let parent_path = match parent.map(|p| driver.get(p)).transpose() {
        Ok(p) => p,
        Err(e) => {
            let _ = driver.put(id);
            return Err(e);
        }
    };
    let result = f(&layer, parent_path.as_deref());
    let put_parent = parent.map(|p| driver.put(p)).transpose();
    let put_layer = driver.put(id);
    let value = result?;
    put_parent?;
    put_layer?;
    Ok(value)
}
