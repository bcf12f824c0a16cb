//! A scratch filesystem on a loop device for root integration tests.
//!
//! `LoopFs::btrfs(256)` makes a sparse image file in a temp dir whose name carries "berth",
//! formats it, attaches it to a free loop device and mounts it on a directory in the same temp
//! dir. Dropping it (also while a test panics) unmounts (lazily if it is busy), detaches the
//! loop device and removes the files, so `leakcheck` stays clean.
//!
//! Use as `berth_testutil::loopfs::LoopFs`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{require_root, require_tool};

/// The filesystems a `LoopFs` can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Btrfs,
    Xfs,
    Ext4,
}

impl FsKind {
    /// The type name for mount(2) and /proc/mounts.
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Btrfs => "btrfs",
            FsKind::Xfs => "xfs",
            FsKind::Ext4 => "ext4",
        }
    }

    /// The mkfs tool, the Debian package that ships it, and its quiet/force flags.
    fn mkfs(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            FsKind::Btrfs => ("mkfs.btrfs", "btrfs-progs", &["-q", "-f"]),
            FsKind::Xfs => ("mkfs.xfs", "xfsprogs", &["-q", "-f"]),
            FsKind::Ext4 => ("mkfs.ext4", "e2fsprogs", &["-q", "-F"]),
        }
    }

    /// The smallest image mkfs accepts, rounded up (MiB).
    fn min_size_mb(self) -> u64 {
        match self {
            FsKind::Btrfs => 128,
            FsKind::Xfs => 300,
            FsKind::Ext4 => 8,
        }
    }
}

/// A mounted loop-device filesystem, torn down on drop.
pub struct LoopFs {
    kind: FsKind,
    // Declared before `dir`, and torn down by hand in Drop before `dir` goes.
    device: Option<String>,
    mounted: bool,
    mountpoint: PathBuf,
    image: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl LoopFs {
    /// A btrfs of `size_mb` MiB (at least 128).
    pub fn btrfs(size_mb: u64) -> LoopFs {
        LoopFs::new(FsKind::Btrfs, size_mb)
    }

    /// An xfs of `size_mb` MiB (at least 300), with d_type (ftype=1), as overlay wants.
    pub fn xfs(size_mb: u64) -> LoopFs {
        LoopFs::new(FsKind::Xfs, size_mb)
    }

    /// An ext4 of `size_mb` MiB.
    pub fn ext4(size_mb: u64) -> LoopFs {
        LoopFs::new(FsKind::Ext4, size_mb)
    }

    pub fn new(kind: FsKind, size_mb: u64) -> LoopFs {
        require_root();
        let (mkfs, package, flags) = kind.mkfs();
        let mkfs = require_tool(mkfs, package);
        let losetup = require_tool("losetup", "mount");
        let size_mb = size_mb.max(kind.min_size_mb());

        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-loopfs-{}-", kind.name()))
            .tempdir()
            .expect("create the loopfs temp dir");
        let image = dir.path().join(format!("berth-{}.img", kind.name()));
        let mountpoint = dir.path().join("mnt");
        // From here on, Drop undoes whatever has been done.
        let mut fs = LoopFs {
            kind,
            device: None,
            mounted: false,
            mountpoint,
            image,
            dir: Some(dir),
        };

        let file = std::fs::File::create(&fs.image).expect("create the loopfs image");
        file.set_len(size_mb << 20)
            .expect("size the loopfs image (sparse)");
        drop(file);
        run(Command::new(&mkfs).args(flags).arg(&fs.image));

        let out = run(Command::new(&losetup)
            .args(["--find", "--show"])
            .arg(&fs.image));
        let device = out.trim().to_string();
        assert!(
            device.starts_with("/dev/loop"),
            "losetup printed {device:?}"
        );
        fs.device = Some(device.clone());

        std::fs::create_dir(&fs.mountpoint).expect("create the loopfs mount point");
        let source = cstring(Path::new(&device));
        let target = cstring(&fs.mountpoint);
        let fstype = CString::new(kind.name()).unwrap();
        // SAFETY: all three strings are NUL-terminated and outlive the call; no data argument.
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            panic!(
                "mount {device} ({}) on {}: {}",
                kind.name(),
                fs.mountpoint.display(),
                std::io::Error::last_os_error()
            );
        }
        fs.mounted = true;
        fs
    }

    /// Where the filesystem is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    pub fn kind(&self) -> FsKind {
        self.kind
    }

    /// The image file behind the loop device.
    pub fn image(&self) -> &Path {
        &self.image
    }

    /// The loop device (/dev/loopN).
    pub fn device(&self) -> &str {
        self.device.as_deref().unwrap_or("")
    }

    /// Flushes the filesystem (syncfs).
    pub fn sync(&self) {
        let dir = std::fs::File::open(&self.mountpoint).expect("open the loopfs mount point");
        // SAFETY: syncfs only takes an open fd.
        let rc = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) };
        assert_eq!(
            rc,
            0,
            "syncfs {}: {}",
            self.mountpoint.display(),
            std::io::Error::last_os_error()
        );
    }

    /// Bytes available to an unprivileged user (statvfs f_bavail × f_frsize).
    pub fn free_bytes(&self) -> u64 {
        let path = cstring(&self.mountpoint);
        // SAFETY: an all-zero statvfs is a valid value for the kernel to overwrite.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: path is NUL-terminated; st is valid and writable.
        let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
        assert_eq!(
            rc,
            0,
            "statvfs {}: {}",
            self.mountpoint.display(),
            std::io::Error::last_os_error()
        );
        st.f_bavail * st.f_frsize
    }

    fn teardown(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.mounted {
            let target = cstring(&self.mountpoint);
            // SAFETY: target is NUL-terminated.
            let mut rc = unsafe { libc::umount2(target.as_ptr(), 0) };
            if rc != 0 {
                let first = std::io::Error::last_os_error();
                // Busy (a test still holds a file open, or is panicking with one): detach it
                // now; the kernel finishes when the last reference goes.
                // SAFETY: as above.
                rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
                if rc != 0 {
                    problems.push(format!(
                        "umount {}: {first}; lazy umount: {}",
                        self.mountpoint.display(),
                        std::io::Error::last_os_error()
                    ));
                }
            }
            self.mounted = rc != 0;
        }
        if let Some(device) = self.device.take() {
            // After a lazy umount the device may still be in use: losetup -d then marks it to
            // detach itself (autoclear) when the filesystem lets go.
            match Command::new("losetup").arg("-d").arg(&device).output() {
                Ok(out) if out.status.success() => {}
                Ok(out) => problems.push(format!(
                    "losetup -d {device}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => problems.push(format!("losetup -d {device}: {e}")),
            }
        }
        if !self.mounted {
            if let Some(dir) = self.dir.take() {
                if let Err(e) = dir.close() {
                    problems.push(format!("remove the loopfs temp dir: {e}"));
                }
            }
        } else if let Some(dir) = self.dir.take() {
            // Still mounted: removing the tree would reach into the filesystem. Leave it.
            let _ = dir.keep();
        }
        problems
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let problems = self.teardown();
        if !problems.is_empty() {
            let msg = format!(
                "tearing down the {} loopfs: {}",
                self.kind.name(),
                problems.join("; ")
            );
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("a path without NUL")
}

/// Runs a setup command, panicking with its output when it fails; returns its stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
