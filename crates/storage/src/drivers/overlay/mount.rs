//! Mounting and unmounting overlay, without forking and without touching the process's cwd.
//!
//! Two ways, chosen once at start:
//! - [`MountMethod::NewApi`]: `fsopen("overlay")`, one `fsconfig("lowerdir+", path)` per lower
//!   layer (Linux ≥ 6.8), `fsmount`, `move_mount`. Each path is its own call, so a chain has no
//!   length limit.
//! - [`MountMethod::Legacy`]: one `mount(2)` whose option string must fit in a page. Lower layers
//!   are named by their short links relative to the driver home (`l/<26 letters>`), which needs
//!   cwd = home. cwd is shared by every thread of a process, so the mount runs on a short-lived
//!   thread that first unshares its filesystem context (`unshare(CLONE_FS)`).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::drivers::copy::cpath;
use crate::{Result, StorageError};

/// How the driver mounts a layer with lower layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountMethod {
    /// The new mount API with `lowerdir+` (Linux ≥ 6.8): no length limit.
    NewApi,
    /// mount(2) with relative short-link paths, from a thread with a private cwd.
    Legacy,
}

impl MountMethod {
    pub fn describe(self) -> &'static str {
        match self {
            MountMethod::NewApi => "fsopen/fsconfig lowerdir+ (new mount API)",
            MountMethod::Legacy => "mount(2) with relative short links",
        }
    }
}

/// One overlay mount: every path relative to `home`, lower layers top first.
pub(crate) struct Spec<'a> {
    pub home: &'a Path,
    pub lowers: &'a [String],
    pub upper: String,
    pub work: String,
    pub target: String,
    /// Extra options (`index=off`, …), as key and value.
    pub options: &'a [(&'a str, &'a str)],
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains NUL"))
}

/// An open overlay filesystem context (fsopen).
struct FsContext(OwnedFd);

impl FsContext {
    fn open() -> io::Result<FsContext> {
        let name = c"overlay";
        // SAFETY: fsopen takes a NUL-terminated name and flags; it returns a new descriptor.
        let fd = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        Ok(FsContext(unsafe {
            OwnedFd::from_raw_fd(fd as libc::c_int)
        }))
    }

    fn set(&self, key: &str, value: &str) -> io::Result<()> {
        let (k, v) = (cstr(key)?, cstr(value)?);
        // SAFETY: both strings are NUL-terminated; the descriptor is open.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn create(&self) -> io::Result<()> {
        // SAFETY: FSCONFIG_CMD_CREATE takes no key or value.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The messages the kernel logged on this context ("e overlay: …"), joined.
    fn messages(&self) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        for _ in 0..16 {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.push(
                String::from_utf8_lossy(&buf[..n as usize])
                    .trim()
                    .to_string(),
            );
        }
        out.join("; ")
    }
}

/// Whether this kernel's overlay takes `lowerdir+` through the new mount API.
pub(crate) fn kernel_has_lowerdir_plus() -> bool {
    let Ok(ctx) = FsContext::open() else {
        return false;
    };
    ctx.set("lowerdir+", "/").is_ok()
}

/// Mounts overlay as `spec` says.
pub(crate) fn mount(method: MountMethod, spec: &Spec<'_>) -> Result<()> {
    match method {
        MountMethod::NewApi => mount_new_api(spec),
        MountMethod::Legacy => mount_legacy(spec),
    }
}

fn mount_new_api(spec: &Spec<'_>) -> Result<()> {
    let target = spec.home.join(&spec.target);
    let fail = |what: &str, e: io::Error, ctx: Option<&FsContext>| {
        let log = ctx.map(FsContext::messages).unwrap_or_default();
        let reason = if log.is_empty() {
            format!("{what}: {e}")
        } else {
            format!("{what}: {e} ({log})")
        };
        StorageError::Mount {
            path: target.clone(),
            reason,
        }
    };
    let ctx = FsContext::open().map_err(|e| fail("fsopen overlay", e, None))?;
    ctx.set("source", "overlay")
        .map_err(|e| fail("fsconfig source", e, Some(&ctx)))?;
    for lower in spec.lowers {
        let abs = spec.home.join(lower);
        let abs = abs
            .to_str()
            .ok_or_else(|| fail("lower path", io::ErrorKind::InvalidInput.into(), None))?;
        ctx.set("lowerdir+", abs)
            .map_err(|e| fail(&format!("fsconfig lowerdir+ {abs}"), e, Some(&ctx)))?;
    }
    for (key, rel) in [("upperdir", &spec.upper), ("workdir", &spec.work)] {
        let abs = spec.home.join(rel);
        let abs = abs
            .to_str()
            .ok_or_else(|| fail(key, io::ErrorKind::InvalidInput.into(), None))?;
        ctx.set(key, abs)
            .map_err(|e| fail(&format!("fsconfig {key}"), e, Some(&ctx)))?;
    }
    for (key, value) in spec.options {
        ctx.set(key, value)
            .map_err(|e| fail(&format!("fsconfig {key}={value}"), e, Some(&ctx)))?;
    }
    ctx.create()
        .map_err(|e| fail("create the overlay", e, Some(&ctx)))?;
    // SAFETY: the context is created; fsmount returns a new detached-mount descriptor.
    let mfd = unsafe { libc::syscall(libc::SYS_fsmount, ctx.0.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if mfd < 0 {
        return Err(fail("fsmount", io::Error::last_os_error(), Some(&ctx)));
    }
    // SAFETY: mfd is a fresh descriptor that nothing else owns.
    let mfd = unsafe { OwnedFd::from_raw_fd(mfd as libc::c_int) };
    let to = cpath(&target).map_err(|e| fail("target", e, None))?;
    // SAFETY: an empty path with MOVE_MOUNT_F_EMPTY_PATH moves the mount mfd refers to.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mfd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(fail("move_mount", io::Error::last_os_error(), None));
    }
    Ok(())
}

/// The mount(2) option string for `spec`, all paths relative to home.
pub(crate) fn legacy_options(spec: &Spec<'_>) -> String {
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        spec.lowers.join(":"),
        spec.upper,
        spec.work
    );
    for (key, value) in spec.options {
        data.push_str(&format!(",{key}={value}"));
    }
    data
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as usize
    } else {
        4096
    }
}

fn mount_legacy(spec: &Spec<'_>) -> Result<()> {
    let target = spec.home.join(&spec.target);
    let data = legacy_options(spec);
    if data.len() >= page_size() {
        return Err(StorageError::Mount {
            path: target,
            reason: format!(
                "the mount options are {} bytes, over the kernel's limit of one page ({} bytes)",
                data.len(),
                page_size()
            ),
        });
    }
    let io_err = |e: io::Error| StorageError::Mount {
        path: target.clone(),
        reason: e.to_string(),
    };
    let home = cpath(spec.home).map_err(io_err)?;
    let rel_target = cstr(&spec.target).map_err(io_err)?;
    let data = cstr(&data).map_err(io_err)?;
    let worker = std::thread::Builder::new()
        .name("berth-ovl-mount".into())
        .spawn(move || -> io::Result<()> {
            // SAFETY: CLONE_FS gives this thread its own cwd; the rest of the process keeps its.
            if unsafe { libc::unshare(libc::CLONE_FS) } < 0 {
                return Err(io::Error::other(format!(
                    "unshare(CLONE_FS): {}",
                    io::Error::last_os_error()
                )));
            }
            // SAFETY: home is NUL-terminated.
            if unsafe { libc::chdir(home.as_ptr()) } < 0 {
                return Err(io::Error::other(format!(
                    "chdir: {}",
                    io::Error::last_os_error()
                )));
            }
            // SAFETY: every string is NUL-terminated and outlives the call.
            let r = unsafe {
                libc::mount(
                    c"overlay".as_ptr(),
                    rel_target.as_ptr(),
                    c"overlay".as_ptr(),
                    0,
                    data.as_ptr().cast(),
                )
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
        .map_err(io_err)?;
    match worker.join() {
        Ok(result) => result.map_err(io_err),
        Err(_) => Err(io_err(io::Error::other("the mount thread panicked"))),
    }
}

/// Unmounts `target`; a path that is not mounted is fine. A busy mount is detached lazily.
pub(crate) fn unmount(target: &Path) -> io::Result<()> {
    let c = cpath(target)?;
    // SAFETY: c is NUL-terminated.
    if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
        Some(libc::EBUSY) => {
            // SAFETY: as above.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        }
        _ => Err(err),
    }
}

/// Undoes the octal escapes (`\040`) of a mountinfo path.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let digit = |b: u8| u32::from(b - b'0');
            let v = digit(bytes[i + 1]) * 64 + digit(bytes[i + 2]) * 8 + digit(bytes[i + 3]);
            out.push(v as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

/// Every mount point at or under `dir`, deepest first (the order to unmount them in).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Whether `path` is a mount point.
pub fn is_mounted(path: &Path) -> bool {
    mounts_under(path).iter().any(|p| p == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_options_are_relative_and_short() {
        let lowers: Vec<String> = (0..120).map(|i| format!("l/{:A>26}", i)).collect();
        let id = "f".repeat(64);
        let spec = Spec {
            home: Path::new("/var/lib/berth/storage/overlay"),
            lowers: &lowers,
            upper: format!("{id}/diff"),
            work: format!("{id}/work"),
            target: format!("{id}/merged"),
            options: &[("index", "off"), ("redirect_dir", "off")],
        };
        let data = legacy_options(&spec);
        assert!(data.starts_with("lowerdir=l/"));
        assert!(data.ends_with(",index=off,redirect_dir=off"));
        assert!(!data.contains("/var/lib"), "paths stay relative to home");
        assert!(
            data.len() < 4096,
            "120 layers fit in a page: {}",
            data.len()
        );
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/a\040b\011c"), PathBuf::from("/a b\tc"));
        assert_eq!(unescape(r"/plain\"), PathBuf::from(r"/plain\"));
    }
}
