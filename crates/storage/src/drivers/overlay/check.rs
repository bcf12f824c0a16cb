//! What overlay needs from the host, checked once when the driver starts: the kernel has it, the
//! home is on a filesystem that can be an upper layer (not overlay itself, d_type, trusted.*
//! xattrs), and a real mount in a scratch directory under home works.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use super::mount::{self, MountMethod, Spec};
use crate::drivers::copy::{self, cpath};
use crate::{Result, StorageError};

/// The options every mount gets: no inode index (it ties upper to lower by file handle, which
/// breaks when layers are moved or rebuilt), no redirects and no metacopy (both would put the
/// truth about a directory or file outside the layer's own diff, and the native diff reads only
/// that).
pub(crate) const STRICT_OPTIONS: &[(&str, &str)] = &[
    ("index", "off"),
    ("redirect_dir", "off"),
    ("metacopy", "off"),
];
/// What a kernel that refuses the strict set gets; the native diff is then off.
pub(crate) const MINIMAL_OPTIONS: &[(&str, &str)] = &[("index", "off")];

#[derive(Debug, Clone)]
pub(crate) struct Support {
    pub backing_fs: String,
    pub method: MountMethod,
    pub options: &'static [(&'static str, &'static str)],
    /// The upper dir alone describes a layer's changes (redirects and metacopy are off).
    pub native_diff: bool,
}

fn unsupported(reason: String) -> StorageError {
    StorageError::Unsupported {
        driver: "overlay",
        reason,
    }
}

/// Removes the scratch directory (unmounting first) whatever happens.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = mount::unmount(&self.0.join("merged"));
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn check(home: &Path, forced: Option<MountMethod>) -> Result<Support> {
    let filesystems = fs::read_to_string("/proc/filesystems")
        .map_err(|e| StorageError::io("read", "/proc/filesystems", e))?;
    if !filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        return Err(unsupported(
            "the kernel has no overlay filesystem (load it with `modprobe overlay`)".into(),
        ));
    }
    fs::create_dir_all(home).map_err(|e| StorageError::io("create overlay home", home, e))?;
    let magic = copy::fs_magic(home).map_err(|e| StorageError::io("statfs", home, e))?;
    let backing_fs = copy::fs_name(magic);
    if matches!(backing_fs.as_str(), "overlayfs" | "aufs" | "ecryptfs") {
        return Err(unsupported(format!(
            "{} is on {backing_fs}, which can't hold overlay's upper layers; \
             put the data root on another filesystem or use the vfs driver",
            home.display()
        )));
    }

    let scratch = Scratch(home.join(format!("berth-check-{}", std::process::id())));
    let _ = fs::remove_dir_all(&scratch.0);
    for dir in ["lower1", "lower2", "upper", "work", "merged"] {
        let d = scratch.0.join(dir);
        fs::create_dir_all(&d).map_err(|e| StorageError::io("create", &d, e))?;
    }
    for (dir, file) in [("lower1", "a"), ("lower2", "b")] {
        let f = scratch.0.join(dir).join(file);
        fs::write(&f, b"berth").map_err(|e| StorageError::io("write", &f, e))?;
    }
    if !supports_d_type(&scratch.0.join("lower1"))? {
        return Err(unsupported(format!(
            "{backing_fs} under {} does not report d_type, which overlay needs \
             (for xfs: mkfs.xfs -n ftype=1)",
            home.display()
        )));
    }
    let probe = scratch.0.join("upper");
    if let Err(e) = copy::set_xattr(&probe, OsStr::new("trusted.berth.check"), b"1") {
        return Err(unsupported(format!(
            "{backing_fs} under {} does not take trusted.* extended attributes \
             (overlay keeps whiteouts and opaque directories in them): {e}",
            home.display()
        )));
    }

    let method = forced.unwrap_or(if mount::kernel_has_lowerdir_plus() {
        MountMethod::NewApi
    } else {
        MountMethod::Legacy
    });
    let name = scratch
        .0
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let lowers = [format!("{name}/lower1"), format!("{name}/lower2")];
    let spec = |options| Spec {
        home,
        lowers: &lowers,
        upper: format!("{name}/upper"),
        work: format!("{name}/work"),
        target: format!("{name}/merged"),
        options,
    };
    let (options, native_diff) = match mount::mount(method, &spec(STRICT_OPTIONS)) {
        Ok(()) => (STRICT_OPTIONS, true),
        Err(strict) => match mount::mount(method, &spec(MINIMAL_OPTIONS)) {
            Ok(()) => (MINIMAL_OPTIONS, false),
            Err(_) => {
                return Err(unsupported(format!(
                    "a test mount in {} failed: {strict}",
                    scratch.0.display()
                )))
            }
        },
    };
    let merged = scratch.0.join("merged");
    let visible = merged.join("a").exists() && merged.join("b").exists();
    mount::unmount(&merged).map_err(|e| StorageError::io("unmount test mount", &merged, e))?;
    if !visible {
        return Err(unsupported(format!(
            "a test mount in {} did not show its lower layers",
            scratch.0.display()
        )));
    }
    Ok(Support {
        backing_fs,
        method,
        options,
        native_diff,
    })
}

/// Whether readdir in `dir` (which holds one regular file) reports entry types.
fn supports_d_type(dir: &Path) -> Result<bool> {
    let c = cpath(dir).map_err(|e| StorageError::io("opendir", dir, e))?;
    // SAFETY: c is NUL-terminated.
    let d = unsafe { libc::opendir(c.as_ptr()) };
    if d.is_null() {
        return Err(StorageError::io(
            "opendir",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    let mut typed = true;
    loop {
        // SAFETY: d is an open directory stream.
        let entry = unsafe { libc::readdir(d) };
        if entry.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid entry that lives until the next call.
        let (name, kind) = unsafe {
            (
                std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()),
                (*entry).d_type,
            )
        };
        if name.to_bytes() != b"." && name.to_bytes() != b".." && kind == libc::DT_UNKNOWN {
            typed = false;
        }
    }
    // SAFETY: d is open and closed once.
    unsafe { libc::closedir(d) };
    Ok(typed)
}
