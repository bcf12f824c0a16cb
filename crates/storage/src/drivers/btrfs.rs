//! The btrfs driver: every layer is a btrfs subvolume, and a child layer is a writable snapshot
//! of its parent's subvolume, so content is shared at the extent level until it changes.
//!
//! Layout under the driver's home (`storage/btrfs` in the data root):
//!
//! ```text
//! <home>/subvolumes/<id>     one subvolume per layer
//! ```
//!
//! Everything goes through the btrfs ioctls on directory file descriptors; nothing is spawned,
//! so the driver is safe inside the multi-threaded daemon. A layer needs no mount: `get` returns
//! the subvolume's own path, and only counts the reference. The diff side is the trait's naive
//! whole-tree comparison (a send-stream based one would be the native diff).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::refcount::RefCounter;
use crate::{Driver, Result, StorageError};

/// statfs(2) f_type of a btrfs filesystem (linux/magic.h).
pub const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;

/// The inode number of the root directory of every btrfs subvolume
/// (BTRFS_FIRST_FREE_OBJECTID): a directory with this inode is a subvolume.
const SUBVOLUME_ROOT_INO: u64 = 256;

/// The longest name a layer id may have (a directory entry).
const MAX_ID_LEN: usize = 255;

/// The raw ioctl interface, as in linux/btrfs.h.
pub(crate) mod ioctl {
    use std::mem::size_of;

    pub const BTRFS_IOCTL_MAGIC: u64 = 0x94;
    /// BTRFS_PATH_NAME_MAX + 1.
    pub const VOL_NAME_LEN: usize = 4088;
    /// BTRFS_SUBVOL_NAME_MAX + 1.
    pub const VOL_NAME_LEN_V2: usize = 4040;

    /// `struct btrfs_ioctl_vol_args`.
    #[repr(C)]
    pub struct VolArgs {
        pub fd: i64,
        pub name: [u8; VOL_NAME_LEN],
    }

    /// `struct btrfs_ioctl_vol_args_v2`. The first union (size + qgroup_inherit pointer, or
    /// four u64s) is kept as its u64 form; the second is the name (or a devid / subvolid).
    #[repr(C)]
    pub struct VolArgsV2 {
        pub fd: i64,
        pub transid: u64,
        pub flags: u64,
        pub unused: [u64; 4],
        pub name: [u8; VOL_NAME_LEN_V2],
    }

    // The generic Linux _IOC encoding: nr in bits 0-7, type in 8-15, size in 16-29, direction
    // in 30-31 (1 = the kernel reads the argument, "write"; 2 = the kernel writes it, "read").
    const IOC_WRITE: u64 = 1;
    const IOC_READ: u64 = 2;

    const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
        (dir << 30) | ((size as u64) << 16) | (BTRFS_IOCTL_MAGIC << 8) | nr
    }

    /// _IOW(BTRFS_IOCTL_MAGIC, 14, struct btrfs_ioctl_vol_args)
    pub const SUBVOL_CREATE: u64 = ioc(IOC_WRITE, 14, size_of::<VolArgs>());
    /// _IOW(BTRFS_IOCTL_MAGIC, 15, struct btrfs_ioctl_vol_args)
    pub const SNAP_DESTROY: u64 = ioc(IOC_WRITE, 15, size_of::<VolArgs>());
    /// _IOW(BTRFS_IOCTL_MAGIC, 22, __u64)
    pub const WAIT_SYNC: u64 = ioc(IOC_WRITE, 22, size_of::<u64>());
    /// _IOW(BTRFS_IOCTL_MAGIC, 23, struct btrfs_ioctl_vol_args_v2)
    pub const SNAP_CREATE_V2: u64 = ioc(IOC_WRITE, 23, size_of::<VolArgsV2>());
    /// _IOR(BTRFS_IOCTL_MAGIC, 24, __u64)
    pub const START_SYNC: u64 = ioc(IOC_READ, 24, size_of::<u64>());

    impl VolArgs {
        pub fn new(name: &[u8]) -> Box<VolArgs> {
            let mut args = Box::new(VolArgs {
                fd: 0,
                name: [0; VOL_NAME_LEN],
            });
            args.name[..name.len()].copy_from_slice(name);
            args
        }
    }

    impl VolArgsV2 {
        pub fn new(fd: i64, name: &[u8]) -> Box<VolArgsV2> {
            let mut args = Box::new(VolArgsV2 {
                fd,
                transid: 0,
                flags: 0,
                unused: [0; 4],
                name: [0; VOL_NAME_LEN_V2],
            });
            args.name[..name.len()].copy_from_slice(name);
            args
        }
    }
}

/// A layer store on a btrfs filesystem.
#[derive(Debug)]
pub struct Btrfs {
    home: PathBuf,
    subvolumes: PathBuf,
    refs: RefCounter,
}

impl Btrfs {
    /// Opens (creating if needed) the driver's home, which must be on btrfs.
    pub fn new(home: &Path) -> Result<Btrfs> {
        std::fs::create_dir_all(home).map_err(|e| StorageError::io("create directory", home, e))?;
        let fs = fs_magic(home)?;
        if fs != BTRFS_SUPER_MAGIC {
            return Err(StorageError::Unsupported {
                driver: "btrfs",
                reason: format!(
                    "{} is on {}, not btrfs",
                    home.display(),
                    fs_type_name(home, fs)
                ),
            });
        }
        let subvolumes = home.join("subvolumes");
        std::fs::create_dir_all(&subvolumes)
            .map_err(|e| StorageError::io("create directory", &subvolumes, e))?;
        Ok(Btrfs {
            home: home.to_path_buf(),
            subvolumes,
            refs: RefCounter::default(),
        })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The subvolume of layer `id` (whether or not it exists).
    pub fn subvolume_path(&self, id: &str) -> PathBuf {
        self.subvolumes.join(id)
    }

    /// Commits the current btrfs transaction and waits for it (BTRFS_IOC_START_SYNC +
    /// BTRFS_IOC_WAIT_SYNC), so that removed layers become dead roots the cleaner can free.
    /// The space itself comes back asynchronously, shortly after.
    pub fn sync(&self) -> Result<()> {
        let dir = open_dir(&self.home)?;
        let mut transid: u64 = 0;
        // SAFETY: START_SYNC writes one u64 through the pointer, which is valid and aligned.
        let rc = unsafe {
            libc::ioctl(
                dir.as_raw_fd(),
                ioctl::START_SYNC as libc::Ioctl,
                &mut transid as *mut u64,
            )
        };
        if rc < 0 {
            return Err(last_io("start btrfs transaction commit", &self.home));
        }
        // SAFETY: WAIT_SYNC reads one u64 through the pointer, which is valid and aligned.
        let rc = unsafe {
            libc::ioctl(
                dir.as_raw_fd(),
                ioctl::WAIT_SYNC as libc::Ioctl,
                &transid as *const u64,
            )
        };
        if rc < 0 {
            return Err(last_io("wait for btrfs transaction commit", &self.home));
        }
        Ok(())
    }

    fn existing(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        let path = self.subvolume_path(id);
        if path.is_dir() {
            Ok(path)
        } else {
            Err(StorageError::NotFound(id.to_string()))
        }
    }
}

impl Driver for Btrfs {
    fn name(&self) -> &'static str {
        "btrfs"
    }

    fn status(&self) -> Vec<(String, String)> {
        let subvolumes = std::fs::read_dir(&self.subvolumes)
            .map(|d| d.count())
            .unwrap_or(0);
        vec![
            ("Backing Filesystem".to_string(), "btrfs".to_string()),
            ("Root Dir".to_string(), self.home.display().to_string()),
            ("Layers".to_string(), subvolumes.to_string()),
        ]
    }

    fn create(&self, id: &str, parent: Option<&str>) -> Result<()> {
        check_id(id)?;
        let target = self.subvolume_path(id);
        if std::fs::symlink_metadata(&target).is_ok() {
            return Err(StorageError::AlreadyExists(id.to_string()));
        }
        let dir = open_dir(&self.subvolumes)?;
        let rc = match parent {
            None => {
                let mut args = ioctl::VolArgs::new(id.as_bytes());
                // SAFETY: args is a full btrfs_ioctl_vol_args with a NUL-terminated name.
                unsafe {
                    libc::ioctl(
                        dir.as_raw_fd(),
                        ioctl::SUBVOL_CREATE as libc::Ioctl,
                        &mut *args as *mut ioctl::VolArgs,
                    )
                }
            }
            Some(parent) => {
                let source = open_dir(&self.existing(parent)?)?;
                let mut args = ioctl::VolArgsV2::new(source.as_raw_fd() as i64, id.as_bytes());
                // SAFETY: args is a full btrfs_ioctl_vol_args_v2 with flags 0 (a writable
                // snapshot), the fd of the source subvolume and a NUL-terminated name.
                unsafe {
                    libc::ioctl(
                        dir.as_raw_fd(),
                        ioctl::SNAP_CREATE_V2 as libc::Ioctl,
                        &mut *args as *mut ioctl::VolArgsV2,
                    )
                }
            }
        };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EEXIST) {
                return Err(StorageError::AlreadyExists(id.to_string()));
            }
            let op = if parent.is_some() {
                "snapshot btrfs subvolume"
            } else {
                "create btrfs subvolume"
            };
            return Err(StorageError::io(op, target, err));
        }
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<()> {
        let path = self.existing(id)?;
        let count = self.refs.count(id);
        if count > 0 {
            return Err(StorageError::Busy {
                id: id.to_string(),
                count,
            });
        }
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| StorageError::io("stat", &path, e))?;
        if meta.ino() != SUBVOLUME_ROOT_INO {
            // A plain directory (left by something else): remove it the ordinary way.
            return std::fs::remove_dir_all(&path)
                .map_err(|e| StorageError::io("remove directory", &path, e));
        }
        // The kernel refuses to delete a subvolume that still holds others, so the ones a
        // container created inside go first, deepest first.
        let mut nested = nested_subvolumes(&path)?;
        nested.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for sub in nested.iter().chain(std::iter::once(&path)) {
            destroy_subvolume(sub)?;
        }
        Ok(())
    }

    fn get(&self, id: &str) -> Result<PathBuf> {
        let path = self.existing(id)?;
        self.refs.increment(id);
        Ok(path)
    }

    fn put(&self, id: &str) -> Result<()> {
        check_id(id)?;
        self.refs.decrement(id);
        Ok(())
    }

    fn exists(&self, id: &str) -> bool {
        check_id(id).is_ok() && self.subvolume_path(id).is_dir()
    }

    fn cleanup(&self) -> Result<()> {
        // Nothing is mounted; forget the references.
        self.refs.drain();
        Ok(())
    }
}

/// A layer id names one directory entry: no separators, no `.`/`..`, no NUL.
fn check_id(id: &str) -> Result<()> {
    let bad = id.is_empty()
        || id.len() > MAX_ID_LEN
        || id == "."
        || id == ".."
        || id.contains('/')
        || id.contains('\0');
    if bad {
        Err(StorageError::InvalidId(id.to_string()))
    } else {
        Ok(())
    }
}

fn last_io(op: &'static str, path: &Path) -> StorageError {
    StorageError::io(op, path, std::io::Error::last_os_error())
}

fn open_dir(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| StorageError::io("open directory", path, e))
}

/// Deletes the subvolume at `path` with BTRFS_IOC_SNAP_DESTROY on its parent directory.
fn destroy_subvolume(path: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(StorageError::io(
            "delete btrfs subvolume",
            path,
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        ));
    };
    let dir = open_dir(parent)?;
    let mut args = ioctl::VolArgs::new(name.as_bytes());
    // SAFETY: args is a full btrfs_ioctl_vol_args with a NUL-terminated name (a file name is at
    // most 255 bytes, far below the 4087 the buffer holds).
    let rc = unsafe {
        libc::ioctl(
            dir.as_raw_fd(),
            ioctl::SNAP_DESTROY as libc::Ioctl,
            &mut *args as *mut ioctl::VolArgs,
        )
    };
    if rc < 0 {
        return Err(last_io("delete btrfs subvolume", path));
    }
    Ok(())
}

/// Every subvolume below the subvolume `root` (not `root` itself), found by walking the tree
/// without following symlinks and without entering other filesystems mounted inside.
fn nested_subvolumes(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let root_dev = std::fs::symlink_metadata(root)
        .map_err(|e| StorageError::io("stat", root, e))?
        .dev();
    // (directory, st_dev of the subvolume it belongs to); an explicit stack, so a hostile deep
    // tree can't exhaust the daemon's thread stack.
    let mut stack = vec![(root.to_path_buf(), root_dev)];
    while let Some((dir, dev)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StorageError::io("read directory", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io("read directory", &dir, e))?;
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if !is_dir {
                continue;
            }
            let path = entry.path();
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io("stat", &path, e)),
            };
            if meta.ino() == SUBVOLUME_ROOT_INO {
                // Each subvolume has its own st_dev; keep walking inside it for deeper ones.
                found.push(path.clone());
                stack.push((path, meta.dev()));
            } else if meta.dev() == dev {
                stack.push((path, dev));
            }
            // Otherwise: another filesystem mounted here. Don't walk into it; deleting the
            // subvolume under it fails with EBUSY, which is the honest answer.
        }
    }
    Ok(found)
}

/// statfs(2) f_type of the filesystem holding `path`.
fn fs_magic(path: &Path) -> Result<i64> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        StorageError::io(
            "statfs",
            path,
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        )
    })?;
    // SAFETY: an all-zero statfs is a valid value for the kernel to overwrite.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and buf is a valid, writable statfs.
    if unsafe { libc::statfs(c.as_ptr(), &mut buf) } < 0 {
        return Err(last_io("statfs", path));
    }
    #[allow(clippy::unnecessary_cast)] // f_type is i64 on x86_64 but not on every target
    Ok(buf.f_type as i64)
}

/// The name of the filesystem holding `path`: its type in /proc/self/mountinfo (matched by the
/// device number, so ext2/3/4, which share a magic, come out right), else from the magic.
fn fs_type_name(path: &Path, magic: i64) -> String {
    if let Ok(meta) = std::fs::metadata(path) {
        let dev = meta.dev();
        let wanted = format!("{}:{}", libc::major(dev), libc::minor(dev));
        if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
            if let Some(name) = mountinfo_fstype(&info, &wanted) {
                return name;
            }
        }
    }
    magic_name(magic)
        .map(str::to_string)
        .unwrap_or_else(|| format!("a filesystem of type {magic:#x}"))
}

/// The fstype of a mountinfo line for device `major_minor` (every mount of one device, bind
/// mounts included, has the same type).
fn mountinfo_fstype(info: &str, major_minor: &str) -> Option<String> {
    info.lines().find_map(|line| {
        let mut fields = line.split(' ');
        let dev = fields.nth(2)?;
        if dev != major_minor {
            return None;
        }
        // After the optional fields comes "-", then fstype.
        let mut rest = fields.skip_while(|f| *f != "-");
        rest.next()?;
        rest.next().map(str::to_string)
    })
}

fn magic_name(magic: i64) -> Option<&'static str> {
    Some(match magic {
        BTRFS_SUPER_MAGIC => "btrfs",
        0xEF53 => "ext4",
        0x5846_5342 => "xfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlay",
        0x8584_58f6 => "ramfs",
        0xF2F5_2010 => "f2fs",
        0x2FC1_2FC1 => "zfs",
        0x6969 => "nfs",
        0x6573_5546 => "fuse",
        0x7371_7368 => "squashfs",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_linux_btrfs_h() {
        // The values the C preprocessor gives for the macros in linux/btrfs.h (x86_64 and
        // every other architecture using the generic _IOC layout).
        assert_eq!(ioctl::SUBVOL_CREATE, 0x5000_940e);
        assert_eq!(ioctl::SNAP_DESTROY, 0x5000_940f);
        assert_eq!(ioctl::SNAP_CREATE_V2, 0x5000_9417);
        assert_eq!(ioctl::WAIT_SYNC, 0x4008_9416);
        assert_eq!(ioctl::START_SYNC, 0x8008_9418);
    }

    #[test]
    fn ioctl_argument_structs_have_the_kernel_layout() {
        use std::mem::{offset_of, size_of};
        assert_eq!(size_of::<ioctl::VolArgs>(), 4096);
        assert_eq!(size_of::<ioctl::VolArgsV2>(), 4096);
        assert_eq!(offset_of!(ioctl::VolArgsV2, flags), 16);
        assert_eq!(offset_of!(ioctl::VolArgsV2, name), 56);
    }

    #[test]
    fn ids_must_be_a_single_path_component() {
        for bad in ["", ".", "..", "a/b", "/abs", "nul\0", &"x".repeat(256)] {
            assert!(
                matches!(check_id(bad), Err(StorageError::InvalidId(_))),
                "{bad:?}"
            );
        }
        for good in [
            "abc",
            "0123456789abcdef",
            "layer-init",
            "...",
            &"x".repeat(255),
        ] {
            assert!(check_id(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn mountinfo_gives_the_type_of_a_device() {
        let info = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /tmp rw shared:5 - tmpfs tmpfs rw
31 22 8:16 / /mnt rw - xfs /dev/sdb rw
32 22 8:16 /sub /srv rw - xfs /dev/sdb rw
33 31 0:26 / /mnt/merged rw - overlay overlay rw,lowerdir=/a
";
        assert_eq!(mountinfo_fstype(info, "8:1").as_deref(), Some("ext4"));
        assert_eq!(mountinfo_fstype(info, "0:25").as_deref(), Some("tmpfs"));
        assert_eq!(mountinfo_fstype(info, "8:16").as_deref(), Some("xfs"));
        assert_eq!(mountinfo_fstype(info, "0:26").as_deref(), Some("overlay"));
        assert_eq!(mountinfo_fstype(info, "9:9"), None);
    }

    #[test]
    fn magic_names() {
        assert_eq!(magic_name(0x9123_683E), Some("btrfs"));
        assert_eq!(magic_name(0x0102_1994), Some("tmpfs"));
        assert_eq!(magic_name(0x1234), None);
    }
}
