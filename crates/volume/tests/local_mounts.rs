//! Root tests: volumes with driver options really mounted (tmpfs with size and mode, a bind of
//! a host directory), copy-up onto a mounted volume keeping owners, modes, links and xattrs,
//! and counted mounts that leave nothing mounted behind. Each test's data root is a temp dir
//! named berth-…, and a guard detaches whatever is still mounted under it, even on failure.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_volume::{copyup, ErrorKind, VolumeStore};

/// A temp data root; on drop every mount under it is detached before the directory goes.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        berth_testutil::require_root();
        let dir = tempfile::Builder::new()
            .prefix(&berth_testutil::unique_name("voltest"))
            .tempdir()
            .unwrap();
        Root { dir }
    }

    fn volumes(&self) -> PathBuf {
        self.dir.path().join("volumes")
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let mut under = mounts_under(self.dir.path());
        // Deepest first, so a mount inside another goes before it.
        under.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for m in under {
            let c = CString::new(m.as_os_str().as_bytes()).unwrap();
            // SAFETY: c is NUL-terminated.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect()
}

fn fs_type(path: &Path) -> (i64, u64) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: plain out structure.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated, st a valid out pointer.
    assert_eq!(unsafe { libc::statfs(c.as_ptr(), &mut st) }, 0);
    (st.f_type as i64, st.f_blocks * st.f_bsize as u64)
}

const TMPFS_MAGIC: i64 = 0x0102_1994;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn tmpfs_volume_is_mounted_once_with_its_size_and_mode() {
    let root = Root::new();
    let store = VolumeStore::open(&root.volumes()).unwrap();
    let opts = map(&[
        ("type", "tmpfs"),
        ("device", "tmpfs"),
        ("o", "size=1m,mode=0710"),
    ]);
    let vol = store.create(Some("scratch"), &opts, &map(&[])).unwrap();
    assert!(
        mounts_under(root.dir.path()).is_empty(),
        "create mounts nothing"
    );

    let data = store.acquire("scratch").unwrap();
    assert_eq!(data, vol.mountpoint);
    let (magic, bytes) = fs_type(&data);
    assert_eq!(magic, TMPFS_MAGIC, "_data is a tmpfs");
    assert_eq!(bytes, 1 << 20, "size=1m");
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o7777,
        0o710
    );
    // The size is a real limit.
    let err = std::fs::write(data.join("big"), vec![1u8; 2 << 20]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    std::fs::remove_file(data.join("big")).unwrap();

    // A second user shares the one mount.
    store.acquire("scratch").unwrap();
    assert_eq!(mounts_under(root.dir.path()), std::slice::from_ref(&data));
    assert_eq!(store.users("scratch"), 2);
    assert_eq!(
        store.remove("scratch").unwrap_err().kind(),
        ErrorKind::Conflict
    );

    store.release("scratch").unwrap();
    assert_eq!(mounts_under(root.dir.path()).len(), 1, "still one user");
    store.release("scratch").unwrap();
    assert!(
        mounts_under(root.dir.path()).is_empty(),
        "last release unmounts"
    );
    assert_ne!(fs_type(&data).0, TMPFS_MAGIC);
    store.remove("scratch").unwrap();
    assert!(!vol.mountpoint.exists());
}

#[test]
fn bind_volume_shows_the_host_directory_and_removing_it_keeps_the_host_files() {
    let root = Root::new();
    let host = root.dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("from-host"), "h").unwrap();
    let store = VolumeStore::open(&root.volumes()).unwrap();
    let device = host.to_str().unwrap();
    store
        .create(
            Some("hostdir"),
            &map(&[("type", "none"), ("device", device), ("o", "bind")]),
            &map(&[]),
        )
        .unwrap();
    store
        .create(
            Some("hostdir-ro"),
            &map(&[("type", "none"), ("device", device), ("o", "bind,ro")]),
            &map(&[]),
        )
        .unwrap();

    let data = store.acquire("hostdir").unwrap();
    assert_eq!(
        std::fs::read_to_string(data.join("from-host")).unwrap(),
        "h"
    );
    std::fs::write(data.join("from-volume"), "v").unwrap();
    assert_eq!(
        std::fs::read_to_string(host.join("from-volume")).unwrap(),
        "v"
    );

    let ro = store.acquire("hostdir-ro").unwrap();
    assert!(ro.join("from-volume").exists());
    let err = std::fs::write(ro.join("nope"), "x").unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EROFS),
        "o=bind,ro is read-only"
    );

    store.release("hostdir").unwrap();
    store.release("hostdir-ro").unwrap();
    assert!(mounts_under(root.dir.path()).is_empty());
    assert!(
        !data.join("from-host").exists(),
        "_data is empty once unmounted"
    );

    store.remove("hostdir").unwrap();
    store.remove("hostdir-ro").unwrap();
    assert_eq!(
        std::fs::read_to_string(host.join("from-host")).unwrap(),
        "h"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("from-volume")).unwrap(),
        "v"
    );
}

#[test]
fn a_missing_bind_device_fails_the_mount_and_leaves_no_user() {
    let root = Root::new();
    let store = VolumeStore::open(&root.volumes()).unwrap();
    let missing = root.dir.path().join("absent");
    store
        .create(
            Some("broken"),
            &map(&[
                ("type", "none"),
                ("device", missing.to_str().unwrap()),
                ("o", "bind"),
            ]),
            &map(&[]),
        )
        .unwrap();
    let err = store.acquire("broken").unwrap_err();
    assert!(
        err.to_string().starts_with("mount volume broken at "),
        "{err}"
    );
    assert_eq!(store.users("broken"), 0);
    assert!(mounts_under(root.dir.path()).is_empty());
    store.remove("broken").unwrap();
}

#[test]
fn copy_up_onto_a_mounted_volume_keeps_owners_modes_links_and_xattrs() {
    let root = Root::new();
    let image = root.dir.path().join("rootfs");
    let src = image.join("var/lib/app");
    std::fs::create_dir_all(src.join("cache")).unwrap();
    std::fs::write(src.join("app.conf"), "conf").unwrap();
    std::fs::write(src.join("tool"), "#!/bin/sh\n").unwrap();
    std::os::unix::fs::symlink("app.conf", src.join("conf-link")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", src.join("abs-link")).unwrap();
    let chown =
        |p: &Path, uid: u32, gid: u32| std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    chown(&src, 1000, 1000);
    chmod(&src, 0o750);
    chown(&src.join("cache"), 1000, 2000);
    chmod(&src.join("cache"), 0o1777);
    chown(&src.join("app.conf"), 1000, 1000);
    chmod(&src.join("app.conf"), 0o640);
    chown(&src.join("tool"), 0, 0);
    chmod(&src.join("tool"), 0o4755);
    chown(&src.join("conf-link"), 1000, 2000);
    let conf = CString::new(src.join("app.conf").as_os_str().as_bytes()).unwrap();
    let key = CString::new("trusted.berth-test").unwrap();
    // SAFETY: all pointers valid for the given lengths.
    assert_eq!(
        unsafe { libc::setxattr(conf.as_ptr(), key.as_ptr(), b"v1".as_ptr().cast(), 2, 0) },
        0,
        "set xattr: {}",
        std::io::Error::last_os_error()
    );
    let mtime = std::fs::metadata(src.join("app.conf")).unwrap().mtime() - 1000;
    let times = [
        libc::timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        },
    ];
    // SAFETY: conf is NUL-terminated; times holds two timespecs.
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, conf.as_ptr(), times.as_ptr(), 0) },
        0
    );

    let store = VolumeStore::open(&root.volumes()).unwrap();
    store
        .create(
            Some("appdata"),
            &map(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=4m")]),
            &map(&[]),
        )
        .unwrap();
    let data = store.acquire("appdata").unwrap();
    assert!(copyup::copy_up_in_root(&image, "/var/lib/app", &data).unwrap());

    let md = |p: &str| std::fs::symlink_metadata(data.join(p)).unwrap();
    let root_md = std::fs::metadata(&data).unwrap();
    assert_eq!(
        (root_md.uid(), root_md.gid(), root_md.mode() & 0o7777),
        (1000, 1000, 0o750)
    );
    let c = md("cache");
    assert_eq!((c.uid(), c.gid(), c.mode() & 0o7777), (1000, 2000, 0o1777));
    let f = md("app.conf");
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (1000, 1000, 0o640));
    assert_eq!(f.mtime(), mtime);
    assert_eq!(
        md("tool").mode() & 0o7777,
        0o4755,
        "setuid survives the chown"
    );
    let l = md("conf-link");
    assert!(l.file_type().is_symlink());
    assert_eq!((l.uid(), l.gid()), (1000, 2000));
    assert_eq!(
        std::fs::read_link(data.join("conf-link")).unwrap(),
        Path::new("app.conf")
    );
    assert_eq!(
        std::fs::read_link(data.join("abs-link")).unwrap(),
        Path::new("/etc/shadow")
    );
    let copied = CString::new(data.join("app.conf").as_os_str().as_bytes()).unwrap();
    let mut buf = [0u8; 8];
    // SAFETY: buf is valid for its length.
    let n = unsafe {
        libc::getxattr(
            copied.as_ptr(),
            key.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(&buf[..n.max(0) as usize], b"v1", "xattr copied");

    // A volume that already has content is never overwritten.
    std::fs::write(data.join("app.conf"), "mine").unwrap();
    assert!(!copyup::copy_up_in_root(&image, "/var/lib/app", &data).unwrap());
    assert_eq!(
        std::fs::read_to_string(data.join("app.conf")).unwrap(),
        "mine"
    );

    store.release("appdata").unwrap();
    assert!(mounts_under(root.dir.path()).is_empty());
}

#[test]
fn counted_mounts_from_many_threads_and_a_restart_leave_nothing_mounted() {
    let root = Root::new();
    let opts = map(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]);
    {
        let store = VolumeStore::open(&root.volumes()).unwrap();
        for i in 0..4 {
            store
                .create(Some(&format!("v{i}")), &opts, &map(&[]))
                .unwrap();
        }
        std::thread::scope(|s| {
            for t in 0..8 {
                let store = &store;
                s.spawn(move || {
                    for round in 0..20 {
                        let name = format!("v{}", (t + round) % 4);
                        store.acquire(&name).unwrap();
                        store.release(&name).unwrap();
                    }
                });
            }
        });
        assert!(mounts_under(root.dir.path()).is_empty());

        // A daemon that stops with volumes in use leaves them mounted (containers survive).
        store.acquire("v0").unwrap();
        store.acquire("v1").unwrap();
        assert_eq!(mounts_under(root.dir.path()).len(), 2);
    }
    let store = VolumeStore::open(&root.volumes()).unwrap();
    assert!(store.is_mounted("v0") && store.is_mounted("v1"));
    // v0's container is still running: the daemon re-acquires it; v1's is gone.
    store.acquire("v0").unwrap();
    assert_eq!(
        mounts_under(root.dir.path()).len(),
        2,
        "re-acquire mounts nothing new"
    );
    assert_eq!(store.unmount_idle().unwrap(), ["v1"]);
    assert_eq!(mounts_under(root.dir.path()).len(), 1);
    store.release("v0").unwrap();
    assert!(mounts_under(root.dir.path()).is_empty());
    for i in 0..4 {
        store.remove(&format!("v{i}")).unwrap();
    }
}
