//! The vfs driver (root): the full copy keeps everything a layer can hold, a 3-layer chain built
//! from tars, the naive diff, and reference counts.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_storage::drivers::copy;
use berth_storage::drivers::vfs::Vfs;
use berth_storage::{Change, ChangeKind, Driver, StorageError};

fn home() -> tempfile::TempDir {
    berth_testutil::require_root();
    tempfile::Builder::new()
        .prefix("berth-vfs-test-")
        .tempdir()
        .unwrap()
}

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

fn ok(ret: libc::c_int, what: &str) {
    assert_eq!(ret, 0, "{what}: {}", std::io::Error::last_os_error());
}

fn set_times(path: &Path, sec: i64, nsec: i64) {
    let t = [libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }; 2];
    // SAFETY: the path is NUL-terminated and t holds two timespecs.
    ok(
        unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                c(path).as_ptr(),
                t.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
        "utimensat",
    );
}

/// A tree with one of everything a copy must keep.
fn fill(root: &Path) {
    fs::create_dir_all(root.join("d/sub")).unwrap();
    fs::write(root.join("d/sub/file"), b"deep").unwrap();
    let owned = root.join("owned");
    fs::write(&owned, b"mine").unwrap();
    std::os::unix::fs::chown(&owned, Some(1234), Some(5678)).unwrap();
    fs::set_permissions(&owned, fs::Permissions::from_mode(0o640)).unwrap();
    let suid = root.join("suid");
    fs::write(&suid, b"#!").unwrap();
    std::os::unix::fs::chown(&suid, Some(0), Some(50)).unwrap();
    fs::set_permissions(&suid, fs::Permissions::from_mode(0o4755)).unwrap();
    copy::set_xattr(&owned, "user.berth".as_ref(), b"u").unwrap();
    copy::set_xattr(&owned, "trusted.berth".as_ref(), b"t").unwrap();
    // VFS_CAP_REVISION_2 with CAP_NET_BIND_SERVICE (bit 10) permitted and effective.
    let mut cap = Vec::new();
    for word in [0x0200_0001u32, 1 << 10, 0, 0, 0] {
        cap.extend_from_slice(&word.to_le_bytes());
    }
    copy::set_xattr(&suid, "security.capability".as_ref(), &cap).unwrap();
    fs::write(root.join("h1"), b"linked").unwrap();
    fs::hard_link(root.join("h1"), root.join("d/h2")).unwrap();
    // SAFETY: the paths are NUL-terminated.
    unsafe {
        ok(
            libc::mknod(
                c(&root.join("null")).as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(1, 3),
            ),
            "mknod chr",
        );
        ok(
            libc::mknod(
                c(&root.join("blk")).as_ptr(),
                libc::S_IFBLK | 0o660,
                libc::makedev(7, 200),
            ),
            "mknod blk",
        );
        ok(
            libc::mkfifo(c(&root.join("fifo")).as_ptr(), 0o620),
            "mkfifo",
        );
    }
    fs::set_permissions(root.join("fifo"), fs::Permissions::from_mode(0o620)).unwrap();
    let sparse = fs::File::create(root.join("sparse")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"head", 0).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"tail", (64 << 20) - 4).unwrap();
    drop(sparse);
    std::os::unix::fs::symlink("owned", root.join("sl")).unwrap();
    std::os::unix::fs::lchown(root.join("sl"), Some(42), Some(43)).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    set_times(&root.join("sl"), 1_500_000_000, 7);
    set_times(&owned, 1_600_000_000, 123_456_789);
    set_times(&root.join("d"), 1_400_000_000, 0);
    set_times(root, 1_300_000_000, 0);
}

#[test]
fn a_child_layer_is_a_faithful_copy() {
    let home = home();
    let d = Vfs::new(home.path()).unwrap();
    d.create("base", None).unwrap();
    let base = d.get("base").unwrap();
    fill(&base);
    d.put("base").unwrap();
    d.create("child", Some("base")).unwrap();
    let child = d.get("child").unwrap();
    assert_eq!(child, home.path().join("dir/child"));

    let md = |p: &str| fs::symlink_metadata(child.join(p)).unwrap();
    assert_eq!(fs::read(child.join("d/sub/file")).unwrap(), b"deep");
    let owned = md("owned");
    assert_eq!(
        (owned.uid(), owned.gid(), owned.mode() & 0o7777),
        (1234, 5678, 0o640)
    );
    assert_eq!(
        (owned.mtime(), owned.mtime_nsec()),
        (1_600_000_000, 123_456_789)
    );
    let suid = md("suid");
    assert_eq!(
        (suid.uid(), suid.gid(), suid.mode() & 0o7777),
        (0, 50, 0o4755),
        "setuid survives chown"
    );
    let xattr = |p: &str, n: &str| copy::get_xattr(&child.join(p), n.as_ref()).unwrap();
    assert_eq!(xattr("owned", "user.berth").as_deref(), Some(&b"u"[..]));
    assert_eq!(xattr("owned", "trusted.berth").as_deref(), Some(&b"t"[..]));
    let cap = xattr("suid", "security.capability").expect("file capabilities survive chown");
    assert_eq!(cap.len(), 20);
    assert_eq!(
        md("h1").ino(),
        md("d/h2").ino(),
        "hard links stay one inode"
    );
    assert_eq!(md("h1").nlink(), 2);
    assert!(md("null").file_type().is_char_device() && md("null").rdev() == libc::makedev(1, 3));
    assert!(md("blk").file_type().is_block_device() && md("blk").rdev() == libc::makedev(7, 200));
    assert!(md("fifo").file_type().is_fifo() && md("fifo").mode() & 0o777 == 0o620);
    assert!(
        child.join("sock").symlink_metadata().is_err(),
        "sockets are skipped"
    );
    let sparse = md("sparse");
    assert_eq!(sparse.len(), 64 << 20);
    assert!(
        sparse.blocks() < 256,
        "holes stay holes: {} blocks of 512 bytes",
        sparse.blocks()
    );
    let data = fs::read(child.join("sparse")).unwrap();
    assert_eq!(
        (&data[..4], &data[data.len() - 4..]),
        (&b"head"[..], &b"tail"[..])
    );
    let sl = md("sl");
    assert_eq!(fs::read_link(child.join("sl")).unwrap(), Path::new("owned"));
    assert_eq!(
        (sl.uid(), sl.gid(), sl.mtime(), sl.mtime_nsec()),
        (42, 43, 1_500_000_000, 7)
    );
    assert_eq!(
        md("d").mtime(),
        1_400_000_000,
        "a directory's time is set after its contents"
    );
    assert_eq!(md(".").mtime(), 1_300_000_000);

    // The copy is independent of its parent.
    fs::write(child.join("owned"), b"changed").unwrap();
    assert_eq!(fs::read(base.join("owned")).unwrap(), b"mine");
    d.put("child").unwrap();
}

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    Empty(&'a str),
}

fn layer_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (path, kind, mode, text) = match *e {
            E::Dir(p) => (p, tar::EntryType::Directory, 0o755, ""),
            E::File(p, t) => (p, tar::EntryType::Regular, 0o644, t),
            E::Empty(p) => (p, tar::EntryType::Regular, 0o600, ""),
        };
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(text.len() as u64);
        b.append_data(&mut h, path, text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn a_three_layer_chain_from_tars() {
    use ChangeKind::*;
    use E::*;
    let home = home();
    let d = Vfs::new(home.path()).unwrap();
    let base = layer_tar(&[
        Dir("etc"),
        File("etc/a", "1"),
        File("etc/b", "2"),
        Dir("opt"),
        File("opt/x", "x"),
    ]);
    let middle = layer_tar(&[
        Dir("etc"),
        File("etc/a", "11"),
        Empty("etc/.wh.b"),
        File("new", "n"),
    ]);
    let top = layer_tar(&[Dir("opt"), Empty("opt/.wh..wh..opq"), File("opt/y", "y")]);
    d.create("base", None).unwrap();
    d.apply_diff("base", None, &mut &base[..]).unwrap();
    d.create("middle", Some("base")).unwrap();
    d.apply_diff("middle", Some("base"), &mut &middle[..])
        .unwrap();
    d.create("top", Some("middle")).unwrap();
    d.apply_diff("top", Some("middle"), &mut &top[..]).unwrap();

    let view = d.get("top").unwrap();
    assert_eq!(fs::read_to_string(view.join("etc/a")).unwrap(), "11");
    assert!(!view.join("etc/b").exists() && !view.join("opt/x").exists());
    assert_eq!(fs::read_to_string(view.join("opt/y")).unwrap(), "y");
    assert!(!view.join("opt/.wh..wh..opq").exists() && !view.join("etc/.wh.b").exists());
    d.put("top").unwrap();
    assert!(
        d.get("base").unwrap().join("opt/x").exists(),
        "the parent keeps its files"
    );
    d.put("base").unwrap();

    let got = d.changes("middle", Some("base")).unwrap();
    for (path, kind) in [("/etc/a", Modified), ("/etc/b", Deleted), ("/new", Added)] {
        assert!(
            got.contains(&Change {
                path: PathBuf::from(path),
                kind
            }),
            "{path} in {got:?}"
        );
    }
    let mut tar = Vec::new();
    d.diff("middle", Some("base"), &mut tar).unwrap();
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "etc/.wh.b"), "{names:?}");
    assert_eq!(d.diff_size("middle", Some("base")).unwrap(), 2 + 1);
    assert_eq!(d.status()[0].0, "Backing Filesystem");
}

#[test]
fn references_are_counted_and_a_held_layer_stays() {
    let home = home();
    let d = Vfs::new(home.path()).unwrap();
    d.create("a", None).unwrap();
    assert!(matches!(
        d.create("a", None),
        Err(StorageError::AlreadyExists(_))
    ));
    assert!(matches!(
        d.create("b", Some("nope")),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(d.get("nope"), Err(StorageError::NotFound(_))));
    assert!(matches!(
        d.create("x/y", None),
        Err(StorageError::InvalidId(_))
    ));
    assert_eq!(d.get("a").unwrap(), d.get("a").unwrap());
    d.put("a").unwrap();
    assert!(matches!(
        d.remove("a"),
        Err(StorageError::Busy { count: 1, .. })
    ));
    d.put("a").unwrap();
    d.remove("a").unwrap();
    assert!(!d.exists("a") && !home.path().join("dir/a").exists());
    assert!(matches!(d.remove("a"), Err(StorageError::NotFound(_))));
    d.create("c", None).unwrap();
    d.get("c").unwrap();
    d.cleanup().unwrap();
    d.remove("c").unwrap();
}
