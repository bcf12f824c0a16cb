//! Choosing the storage driver: the configured one, or the best this backing filesystem allows.
//! A driver that can't work here fails when it is opened, with the reason, not at first use.

use std::path::Path;
use std::sync::Arc;

use crate::drivers::{btrfs::Btrfs, overlay::Overlay, vfs::Vfs};
use crate::{Driver, Result, StorageError};

/// The drivers berth has, in the order auto-detection tries them.
pub const DRIVERS: [&str; 3] = ["overlay", "btrfs", "vfs"];

/// Opens the driver `name` (None: auto-detect) with its data under `<storage_root>/<driver>`.
/// "overlay2", Docker's name for its overlay driver, means overlay.
pub fn open(name: Option<&str>, storage_root: &Path) -> Result<Arc<dyn Driver>> {
    match name {
        Some(name) => open_named(name, storage_root),
        None => auto(storage_root),
    }
}

fn open_named(name: &str, root: &Path) -> Result<Arc<dyn Driver>> {
    Ok(match name {
        "overlay" | "overlay2" => Arc::new(Overlay::new(&root.join("overlay"))?),
        "btrfs" => Arc::new(Btrfs::new(&root.join("btrfs"))?),
        "vfs" => Arc::new(Vfs::new(&root.join("vfs"))?),
        other => return Err(StorageError::UnknownDriver(other.to_string())),
    })
}

/// A driver that already holds data in this root wins (switching would hide it); otherwise
/// overlay, then btrfs, then vfs, whichever works first.
fn auto(root: &Path) -> Result<Arc<dyn Driver>> {
    for name in DRIVERS {
        let home = root.join(name);
        let used = std::fs::read_dir(&home)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if used {
            return open_named(name, root);
        }
    }
    let mut reasons = Vec::new();
    for name in DRIVERS {
        let home = root.join(name);
        let existed = home.exists();
        match open_named(name, root) {
            Ok(driver) => return Ok(driver),
            Err(e @ StorageError::Unsupported { .. }) => {
                // Leave no empty home behind that a later start would take for one in use.
                if !existed {
                    let _ = std::fs::remove_dir_all(&home);
                }
                reasons.push(e.to_string());
            }
            Err(e) => return Err(e),
        }
    }
    Err(StorageError::Archive(format!(
        "no storage driver works here: {}",
        reasons.join("; ")
    )))
}
