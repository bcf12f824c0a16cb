//! Root integration tests of the btrfs driver, each on its own loop-mounted btrfs.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_storage::drivers::btrfs::Btrfs;
use berth_storage::{Driver, StorageError};
use berth_testutil::require_tool;
use common::LoopFs;

fn driver_on(fs: &LoopFs) -> Btrfs {
    Btrfs::new(&fs.path().join("storage/btrfs")).expect("btrfs driver on a loop btrfs")
}

fn write(path: &Path, content: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap();
    }
    fs::write(path, content).unwrap();
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// Runs the btrfs CLI (tests only: the driver itself never spawns).
fn btrfs_cli(args: &[&str]) -> String {
    let tool = require_tool("btrfs", "btrfs-progs");
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "btrfs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_chain_of_snapshots_shares_content_and_keeps_changes_apart() {
    let fs = LoopFs::btrfs(256);
    let d = driver_on(&fs);
    assert_eq!(d.name(), "btrfs");

    d.create("base", None).unwrap();
    let base = d.get("base").unwrap();
    assert_eq!(
        fs::metadata(&base).unwrap().ino(),
        256,
        "a layer is a subvolume root"
    );
    assert_eq!(
        fs::read_dir(&base).unwrap().count(),
        0,
        "a new layer is empty"
    );
    write(&base.join("etc/hostname"), "base\n");
    write(&base.join("etc/keep"), "keep\n");
    write(&base.join("bin/tool"), "v1\n");
    write(&base.join("doomed/file"), "x\n");
    d.put("base").unwrap();

    d.create("mid", Some("base")).unwrap();
    let mid = d.get("mid").unwrap();
    assert_eq!(
        fs::metadata(&mid).unwrap().ino(),
        256,
        "a child layer is a snapshot"
    );
    assert_eq!(read(&mid.join("etc/keep")).as_deref(), Some("keep\n"));
    write(&mid.join("bin/tool"), "v2\n");
    write(&mid.join("usr/new"), "added in mid\n");
    fs::remove_file(mid.join("etc/hostname")).unwrap();
    fs::remove_dir_all(mid.join("doomed")).unwrap();
    d.put("mid").unwrap();

    d.create("top", Some("mid")).unwrap();
    let top = d.get("top").unwrap();
    assert_eq!(read(&top.join("bin/tool")).as_deref(), Some("v2\n"));
    assert_eq!(
        read(&top.join("usr/new")).as_deref(),
        Some("added in mid\n")
    );
    assert_eq!(read(&top.join("etc/keep")).as_deref(), Some("keep\n"));
    assert!(
        !top.join("etc/hostname").exists(),
        "a deletion in mid carries up"
    );
    assert!(!top.join("doomed").exists());
    write(&top.join("etc/keep"), "changed in top\n");
    write(&top.join("etc/hostname"), "top\n");
    d.put("top").unwrap();

    // The parents never see their children's changes.
    assert_eq!(read(&base.join("bin/tool")).as_deref(), Some("v1\n"));
    assert_eq!(read(&base.join("etc/hostname")).as_deref(), Some("base\n"));
    assert_eq!(read(&base.join("doomed/file")).as_deref(), Some("x\n"));
    assert!(!base.join("usr").exists());
    assert_eq!(read(&mid.join("etc/keep")).as_deref(), Some("keep\n"));
    assert!(!mid.join("etc/hostname").exists());

    // A parent can go before its child: a snapshot is independent of its source.
    d.remove("mid").unwrap();
    assert!(!d.exists("mid"));
    assert_eq!(
        read(&top.join("usr/new")).as_deref(),
        Some("added in mid\n")
    );
    for id in ["top", "base"] {
        d.remove(id).unwrap();
        assert!(!d.exists(id));
    }
    assert_eq!(
        fs::read_dir(fs.path().join("storage/btrfs/subvolumes"))
            .unwrap()
            .count(),
        0
    );
    d.cleanup().unwrap();
}

#[test]
fn create_checks_ids_duplicates_and_parents() {
    let fs = LoopFs::btrfs(256);
    let d = driver_on(&fs);
    d.create("one", None).unwrap();
    assert!(matches!(d.create("one", None), Err(StorageError::AlreadyExists(id)) if id == "one"));
    assert!(matches!(
        d.create("one", Some("one")),
        Err(StorageError::AlreadyExists(_))
    ));
    assert!(
        matches!(d.create("two", Some("nope")), Err(StorageError::NotFound(id)) if id == "nope")
    );
    assert!(!d.exists("two"), "a failed snapshot leaves nothing");
    for bad in ["", "..", "a/b", "../escape"] {
        assert!(
            matches!(d.create(bad, None), Err(StorageError::InvalidId(_))),
            "{bad:?}"
        );
        assert!(!d.exists(bad));
    }
    assert!(matches!(d.remove("nope"), Err(StorageError::NotFound(_))));
    assert!(matches!(d.get("nope"), Err(StorageError::NotFound(_))));
    assert!(d.exists("one"));

    // A new driver on the same home (a daemon restart) finds the layers.
    drop(d);
    let d = driver_on(&fs);
    assert!(d.exists("one"));
    d.remove("one").unwrap();
}

#[test]
fn get_and_put_are_counted_and_a_used_layer_is_not_removed() {
    let fs = LoopFs::btrfs(256);
    let d = driver_on(&fs);
    d.create("l", None).unwrap();
    let a = d.get("l").unwrap();
    let b = d.get("l").unwrap();
    assert_eq!(a, b);
    assert_eq!(a, fs.path().join("storage/btrfs/subvolumes/l"));
    match d.remove("l") {
        Err(StorageError::Busy { id, count }) => assert_eq!((id.as_str(), count), ("l", 2)),
        other => panic!("remove of a layer in use: {other:?}"),
    }
    d.put("l").unwrap();
    assert!(matches!(
        d.remove("l"),
        Err(StorageError::Busy { count: 1, .. })
    ));
    d.put("l").unwrap();
    d.put("l").unwrap(); // An extra put is harmless.
    assert!(d.exists("l"));

    // cleanup forgets every reference (nothing is mounted to undo).
    d.get("l").unwrap();
    d.cleanup().unwrap();
    d.remove("l").unwrap();
    assert!(!a.exists());
}

#[test]
fn remove_deletes_the_subvolumes_a_container_made_inside() {
    let fs = LoopFs::btrfs(256);
    let d = driver_on(&fs);
    d.create("image", None).unwrap();
    d.create("ctr", Some("image")).unwrap();
    let root = d.get("ctr").unwrap();
    write(&root.join("data/plain"), "plain\n");
    let nested = root.join("data/vol");
    btrfs_cli(&["subvolume", "create", nested.to_str().unwrap()]);
    write(&nested.join("inner"), "inner\n");
    let deeper = nested.join("deeper/sub");
    fs::create_dir_all(deeper.parent().unwrap()).unwrap();
    btrfs_cli(&["subvolume", "create", deeper.to_str().unwrap()]);
    let snap = root.join("snap");
    btrfs_cli(&[
        "subvolume",
        "snapshot",
        "-r",
        nested.to_str().unwrap(),
        snap.to_str().unwrap(),
    ]);
    std::os::unix::fs::symlink("/", root.join("link-to-host-root")).unwrap();
    d.put("ctr").unwrap();

    let listed = btrfs_cli(&["subvolume", "list", fs.path().to_str().unwrap()]);
    assert_eq!(
        listed.lines().count(),
        5,
        "image, ctr and three nested:\n{listed}"
    );

    d.remove("ctr").unwrap();
    assert!(!root.exists());
    assert!(!d.exists("ctr"));
    let listed = btrfs_cli(&["subvolume", "list", fs.path().to_str().unwrap()]);
    assert_eq!(
        listed.lines().count(),
        1,
        "only the image is left:\n{listed}"
    );
    assert!(listed.contains("subvolumes/image"), "{listed}");
    d.remove("image").unwrap();
}

#[test]
fn new_refuses_a_home_that_is_not_on_btrfs_and_names_its_filesystem() {
    let check = |home: &Path, fs_name: &str| {
        let err = Btrfs::new(home).expect_err("btrfs on another filesystem");
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                StorageError::Unsupported {
                    driver: "btrfs",
                    ..
                }
            ),
            "{msg}"
        );
        let want = format!("{} is on {fs_name}, not btrfs", home.display());
        assert!(msg.contains(&want), "{msg:?} should say {want:?}");
    };

    let ext4 = LoopFs::ext4(64);
    check(&ext4.path().join("storage/btrfs"), "ext4");
    let xfs = LoopFs::xfs(300);
    check(xfs.path(), "xfs");

    let tmp = tempfile::Builder::new()
        .prefix("berth-btrfs-tmpfs-")
        .tempdir()
        .unwrap();
    let target = std::ffi::CString::new(tmp.path().to_str().unwrap()).unwrap();
    // SAFETY: NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
    struct Unmount<'a>(&'a std::ffi::CStr);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let _unmount = Unmount(&target);
    check(&tmp.path().join("home"), "tmpfs");

    // And a btrfs is accepted, with honest status facts.
    let btrfs = LoopFs::btrfs(128);
    let d = driver_on(&btrfs);
    let status = d.status();
    let get = |k: &str| {
        status
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("Backing Filesystem").as_deref(), Some("btrfs"));
    assert_eq!(
        get("Root Dir"),
        Some(btrfs.path().join("storage/btrfs").display().to_string())
    );
}

#[test]
fn removing_a_layer_gives_its_space_back() {
    let fs = LoopFs::btrfs(512);
    let d = driver_on(&fs);
    d.create("base", None).unwrap();
    d.create("big", Some("base")).unwrap();
    let big = d.get("big").unwrap();
    fs.sync();
    let before = fs.free_bytes();

    const SIZE: usize = 20 << 20;
    let mut data = vec![0u8; SIZE];
    // Incompressible bytes (xorshift), in case the filesystem compresses.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut file = fs::File::create(big.join("blob")).unwrap();
    file.write_all(&data).unwrap();
    file.sync_all().unwrap();
    drop(file);
    fs.sync();
    let used = before.saturating_sub(fs.free_bytes());
    assert!(
        used >= (SIZE as u64) * 3 / 4,
        "writing 20 MiB used only {used} bytes"
    );

    d.put("big").unwrap();
    d.remove("big").unwrap();
    d.sync().unwrap();
    // btrfs frees a deleted subvolume's extents in its cleaner thread, after a commit.
    let start = Instant::now();
    let deadline = start + Duration::from_secs(20);
    let mut free = fs.free_bytes();
    while free < before.saturating_sub(SIZE as u64 / 4) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        d.sync().unwrap();
        free = fs.free_bytes();
    }
    eprintln!(
        "free: {before} before, {used} used by the write, {free} {:?} after the remove",
        start.elapsed()
    );
    assert!(
        free >= before.saturating_sub(SIZE as u64 / 4),
        "free space did not come back: {before} before the write, {free} after the remove"
    );
    d.remove("base").unwrap();
}

/// An uncompressed tar of (path, Some(content)) files and (path, None) directories.
fn tar_of(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        match content {
            Some(content) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(content.len() as u64);
                builder
                    .append_data(&mut header, path, content.as_bytes())
                    .unwrap();
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

#[test]
fn layers_apply_tars_with_whiteouts_and_report_their_changes() {
    use berth_storage::{Change, ChangeKind};
    let fs = LoopFs::btrfs(256);
    let d = driver_on(&fs);

    d.create("base", None).unwrap();
    let base_tar = tar_of(&[
        ("etc/", None),
        ("etc/a", Some("one\n")),
        ("etc/b", Some("bee\n")),
        ("srv/", None),
        ("srv/data", Some("data\n")),
    ]);
    let written = d.apply_diff("base", None, &mut &base_tar[..]).unwrap();
    assert!(written >= 12, "apply_diff reported {written} bytes");

    d.create("child", Some("base")).unwrap();
    let child_tar = tar_of(&[
        ("etc/", None),
        ("etc/a", Some("two, longer\n")),
        ("etc/.wh.b", Some("")),
        ("new", Some("new\n")),
    ]);
    d.apply_diff("child", Some("base"), &mut &child_tar[..])
        .unwrap();

    let child = d.get("child").unwrap();
    assert_eq!(read(&child.join("etc/a")).as_deref(), Some("two, longer\n"));
    assert!(!child.join("etc/b").exists(), "the whiteout deleted etc/b");
    assert!(
        !child.join("etc/.wh.b").exists(),
        "a whiteout is not content"
    );
    assert_eq!(read(&child.join("srv/data")).as_deref(), Some("data\n"));
    assert_eq!(read(&child.join("new")).as_deref(), Some("new\n"));
    d.put("child").unwrap();
    let base = d.get("base").unwrap();
    assert_eq!(
        read(&base.join("etc/b")).as_deref(),
        Some("bee\n"),
        "the parent is untouched"
    );
    d.put("base").unwrap();

    let changes = d.changes("child", Some("base")).unwrap();
    let change = |path: &str, kind| Change {
        path: path.into(),
        kind,
    };
    for want in [
        change("/etc/a", ChangeKind::Modified),
        change("/etc/b", ChangeKind::Deleted),
        change("/new", ChangeKind::Added),
    ] {
        assert!(changes.contains(&want), "{want:?} missing from {changes:?}");
    }
    assert!(
        !changes.iter().any(|c| c.path.starts_with("/srv")),
        "{changes:?}"
    );
    let all = d.changes("base", None).unwrap();
    assert!(
        all.contains(&change("/srv/data", ChangeKind::Added)),
        "{all:?}"
    );

    // The diff carries the whiteout, and moves to a fresh layer with the same result.
    let mut diff = Vec::new();
    d.diff("child", Some("base"), &mut diff).unwrap();
    let names: Vec<String> = tar::Archive::new(&diff[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.trim_end_matches('/') == "etc/.wh.b"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "new"), "{names:?}");
    assert!(d.diff_size("child", Some("base")).unwrap() >= 16);

    d.create("copy", Some("base")).unwrap();
    d.apply_diff("copy", Some("base"), &mut &diff[..]).unwrap();
    let copy = d.get("copy").unwrap();
    assert!(!copy.join("etc/b").exists());
    assert_eq!(read(&copy.join("etc/a")).as_deref(), Some("two, longer\n"));
    d.put("copy").unwrap();
    for id in ["copy", "child", "base"] {
        d.remove(id).unwrap();
    }
}

#[test]
fn loopfs_cleans_up_after_a_panicking_test_even_when_busy() {
    let mut seen = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _open_file;
        let fs = LoopFs::btrfs(128);
        seen = Some((
            fs.path().to_path_buf(),
            fs.device().to_string(),
            fs.image().to_path_buf(),
        ));
        // Held open past the LoopFs's drop: the umount is busy and has to be lazy.
        _open_file = fs::File::create(fs.path().join("held")).unwrap();
        panic!("a test failing with its filesystem in use");
    }));
    assert!(result.is_err());
    let (mountpoint, device, image) = seen.unwrap();
    let ours = |b: &Option<String>| {
        b.as_deref()
            .is_some_and(|b| b.contains(image.to_str().unwrap()))
    };
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(mountpoint.to_str().unwrap()),
        "still mounted: {mountpoint:?}"
    );
    assert!(
        !mountpoint.parent().unwrap().exists(),
        "the temp dir is left"
    );
    // The loop device lets go once the lazily unmounted filesystem is released.
    let backing = format!(
        "/sys/block/{}/loop/backing_file",
        device.trim_start_matches("/dev/")
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut attached = read(Path::new(&backing));
    while ours(&attached) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        attached = read(Path::new(&backing));
    }
    assert!(
        !ours(&attached),
        "{device} is still attached to {attached:?}"
    );
}

#[test]
fn a_rewrite_that_keeps_size_and_mtime_is_still_a_change() {
    use berth_storage::{Change, ChangeKind};
    let fs = LoopFs::btrfs(128);
    let d = driver_on(&fs);
    d.create("l1", None).unwrap();
    let base = tar_of(&[
        ("a/", None),
        ("a/same", Some("one")),
        ("a/other", Some("two")),
    ]);
    d.apply_diff("l1", None, &mut &base[..]).unwrap();
    d.create("l2", Some("l1")).unwrap();
    // Rewritten in place with the same length, then its mtime put back to the nanosecond (as
    // `cp -p` or `rsync -t` do): only the content and the ctime differ from the parent's.
    let l2 = d.get("l2").unwrap();
    let mtime = fs::metadata(l2.join("a/same")).unwrap().modified().unwrap();
    let file = fs::OpenOptions::new()
        .write(true)
        .open(l2.join("a/same"))
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"ONE", 0).unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    d.put("l2").unwrap();

    let changes = d.changes("l2", Some("l1")).unwrap();
    let modified = Change {
        path: "/a/same".into(),
        kind: ChangeKind::Modified,
    };
    assert!(changes.contains(&modified), "{changes:?}");
    assert!(
        !changes.iter().any(|c| c.path == Path::new("/a/other")),
        "{changes:?}"
    );

    let mut diff = Vec::new();
    d.diff("l2", Some("l1"), &mut diff).unwrap();
    let mut archive = tar::Archive::new(&diff[..]);
    let mut found = None;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap() == Path::new("a/same") {
            let mut content = String::new();
            std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
            found = Some(content);
        }
    }
    assert_eq!(found.as_deref(), Some("ONE"));
    assert_eq!(d.diff_size("l2", Some("l1")).unwrap(), 3);
    for id in ["l2", "l1"] {
        d.remove(id).unwrap();
    }
}
