//! One suite, every driver: a 3-layer chain with adds, a modify, a delete and an opaque
//! directory; the union view; changes and diff; a diff moved between drivers; mount refcounts;
//! removal. btrfs runs on a loop-mounted btrfs image the test makes.

use berth_testutil::loopfs;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_storage::drivers::{btrfs::Btrfs, overlay::Overlay, vfs::Vfs};
use berth_storage::{ChangeKind, Driver};

/// A driver with the temp storage it lives on (dropped after the driver).
struct Subject {
    driver: Arc<dyn Driver>,
    _home: tempfile::TempDir,
    _fs: Option<loopfs::LoopFs>,
}

fn subjects() -> Vec<Subject> {
    berth_testutil::require_root();
    let temp = || {
        tempfile::Builder::new()
            .prefix("berth-storage-")
            .tempdir()
            .unwrap()
    };
    let overlay_home = temp();
    let vfs_home = temp();
    let fs = loopfs::LoopFs::btrfs(256);
    let btrfs_home = tempfile::Builder::new()
        .prefix("berth-storage-")
        .tempdir_in(fs.path())
        .unwrap();
    vec![
        Subject {
            driver: Arc::new(Overlay::new(&overlay_home.path().join("overlay")).unwrap()),
            _home: overlay_home,
            _fs: None,
        },
        Subject {
            driver: Arc::new(Vfs::new(&vfs_home.path().join("vfs")).unwrap()),
            _home: vfs_home,
            _fs: None,
        },
        Subject {
            driver: Arc::new(Btrfs::new(&btrfs_home.path().join("btrfs")).unwrap()),
            _home: btrfs_home,
            _fs: Some(fs),
        },
    ]
}

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    Link(&'a str, &'a str),
}

/// A tar of `entries`, all stamped `mtime` (each layer is written at its own time, as in life).
fn tar_of(mtime: u64, entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, content) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(content.len() as u64);
                b.append_data(&mut h, p, content.as_bytes()).unwrap();
            }
            E::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn layer1() -> Vec<u8> {
    use E::*;
    tar_of(
        1_700_000_000,
        &[
            Dir("a"),
            File("a/file1", "one"),
            File("a/file2", "two"),
            Dir("del"),
            File("del/me", "bye"),
            Dir("opq"),
            File("opq/old", "old"),
            Link("link", "a/file1"),
        ],
    )
}

fn layer2() -> Vec<u8> {
    use E::*;
    tar_of(
        1_700_000_100,
        &[
            Dir("a"),
            File("a/file1", "ONE"),
            Dir("del"),
            File("del/.wh.me", ""),
            Dir("opq"),
            File("opq/.wh..wh..opq", ""),
            File("opq/new", "new"),
        ],
    )
}

fn layer3() -> Vec<u8> {
    tar_of(1_700_000_200, &[E::File("b", "bee")])
}

/// Builds l1 ← l2 ← l3 in the driver from the tars.
fn build_chain(d: &dyn Driver) {
    let mut parent = None;
    for (id, tar) in [("l1", layer1()), ("l2", layer2()), ("l3", layer3())] {
        d.create(id, parent).unwrap();
        d.apply_diff(id, parent, &mut &tar[..]).unwrap();
        parent = Some(id);
    }
}

/// What a tree holds, metadata and content, ignoring directory times.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let ft = m.file_type();
            let desc = if ft.is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_dir() {
                format!("dir {:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid())
            } else {
                let content = std::fs::read(&p).unwrap();
                format!(
                    "file {:o} {}:{} {:?} mtime {}",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid(),
                    String::from_utf8_lossy(&content),
                    m.mtime()
                )
            };
            out.insert(rel, desc);
            if ft.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel)).ok()
}

#[test]
fn the_union_view_is_right_on_every_driver() {
    for s in subjects() {
        let d = s.driver.as_ref();
        build_chain(d);
        let top = d.get("l3").unwrap();
        let name = d.name();
        assert_eq!(read(&top, "a/file1").as_deref(), Some("ONE"), "{name}");
        assert_eq!(read(&top, "a/file2").as_deref(), Some("two"), "{name}");
        assert_eq!(
            read(&top, "link").as_deref(),
            Some("ONE"),
            "{name}: symlink"
        );
        assert!(!top.join("del/me").exists(), "{name}: whiteout ignored");
        assert!(top.join("del").is_dir(), "{name}");
        assert!(
            !top.join("opq/old").exists(),
            "{name}: opaque dir leaked the lower file"
        );
        assert_eq!(read(&top, "opq/new").as_deref(), Some("new"), "{name}");
        assert_eq!(read(&top, "b").as_deref(), Some("bee"), "{name}");
        d.put("l3").unwrap();
        let bottom = d.get("l1").unwrap();
        assert_eq!(
            read(&bottom, "a/file1").as_deref(),
            Some("one"),
            "{name}: a child changed its parent"
        );
        assert!(bottom.join("del/me").exists(), "{name}");
        d.put("l1").unwrap();
        for id in ["l3", "l2", "l1"] {
            d.remove(id).unwrap();
        }
    }
}

#[test]
fn changes_and_diff_are_right_on_every_driver() {
    for s in subjects() {
        let d = s.driver.as_ref();
        let name = d.name();
        build_chain(d);
        let changes = d.changes("l2", Some("l1")).unwrap();
        let has = |path: &str, kind: ChangeKind| {
            changes
                .iter()
                .any(|c| c.path == Path::new(path) && c.kind == kind)
        };
        assert!(has("/a/file1", ChangeKind::Modified), "{name}: {changes:?}");
        assert!(has("/del/me", ChangeKind::Deleted), "{name}: {changes:?}");
        assert!(has("/opq/new", ChangeKind::Added), "{name}: {changes:?}");
        assert!(
            !changes.iter().any(|c| c.path == Path::new("/a/file2")),
            "{name}: unchanged file listed: {changes:?}"
        );

        let mut tar = Vec::new();
        d.diff("l2", Some("l1"), &mut tar).unwrap();
        let mut names = Vec::new();
        for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
            names.push(
                entry
                    .unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string(),
            );
        }
        assert!(
            names.contains(&"del/.wh.me".to_string()),
            "{name}: {names:?}"
        );
        assert!(
            names.contains(&"opq/.wh..wh..opq".to_string())
                || names.contains(&"opq/.wh.old".to_string()),
            "{name}: the opaque directory is lost: {names:?}"
        );
        assert!(names.contains(&"a/file1".to_string()), "{name}: {names:?}");
        assert!(!names.contains(&"a/file2".to_string()), "{name}: {names:?}");
        assert!(d.diff_size("l2", Some("l1")).unwrap() >= 6, "{name}");
        for id in ["l3", "l2", "l1"] {
            d.remove(id).unwrap();
        }
    }
}

#[test]
fn a_diff_from_one_driver_applies_identically_on_another() {
    let subjects = subjects();
    for s in &subjects {
        build_chain(s.driver.as_ref());
    }
    for from in &subjects {
        let mut tar = Vec::new();
        from.driver.diff("l2", Some("l1"), &mut tar).unwrap();
        let expected = snapshot(&from.driver.get("l2").unwrap());
        from.driver.put("l2").unwrap();
        for to in &subjects {
            let d = to.driver.as_ref();
            let id = format!("x-{}", from.driver.name());
            d.create(&id, Some("l1")).unwrap();
            d.apply_diff(&id, Some("l1"), &mut &tar[..]).unwrap();
            let got = snapshot(&d.get(&id).unwrap());
            d.put(&id).unwrap();
            assert_eq!(
                got,
                expected,
                "diff from {} applied on {}",
                from.driver.name(),
                d.name()
            );
            d.remove(&id).unwrap();
        }
    }
    for s in &subjects {
        for id in ["l3", "l2", "l1"] {
            s.driver.remove(id).unwrap();
        }
    }
}

fn mounted(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&p))
}

#[test]
fn mounts_are_refcounted_and_removal_frees_the_layer() {
    for s in subjects() {
        let d = s.driver.as_ref();
        let name = d.name();
        build_chain(d);
        let p1 = d.get("l3").unwrap();
        let p2 = d.get("l3").unwrap();
        assert_eq!(p1, p2, "{name}");
        d.put("l3").unwrap();
        assert_eq!(
            read(&p1, "b").as_deref(),
            Some("bee"),
            "{name}: the first put unmounted a layer still in use"
        );
        d.put("l3").unwrap();
        if name == "overlay" {
            assert!(
                !mounted(&p1),
                "overlay: the last put left {} mounted",
                p1.display()
            );
        }
        assert!(d.remove("l3").is_ok(), "{name}");
        assert!(!d.exists("l3"), "{name}");
        assert!(
            d.get("l3").is_err(),
            "{name}: a removed layer can still be mounted"
        );
        for id in ["l2", "l1"] {
            d.remove(id).unwrap();
        }
        let mut left = 0;
        for e in walkdir(s._home.path()) {
            if std::fs::symlink_metadata(&e)
                .map(|m| m.is_file() && m.len() > 0)
                .unwrap_or(false)
            {
                left += 1;
            }
        }
        assert_eq!(left, 0, "{name}: removed layers left file content behind");
    }
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn a_containers_changes_are_the_same_on_every_driver() {
    let mut answers = Vec::new();
    for s in subjects() {
        let name = s.driver.name();
        let store = berth_storage::layer::LayerStore::open(
            &s._home.path().join("layers"),
            s.driver.clone(),
        )
        .unwrap();
        let image = store.register(None, &layer1()[..]).unwrap();
        store
            .create_container("c", Some(&image.chain_id), |init| {
                std::fs::create_dir_all(init.join("etc")).unwrap();
                std::fs::write(init.join("etc/hostname"), "c\n").unwrap();
                Ok(())
            })
            .unwrap();
        let root = store.mount_container("c").unwrap();
        std::fs::write(root.join("a/new"), "added").unwrap();
        std::fs::write(root.join("a/file1"), "changed").unwrap();
        std::fs::remove_file(root.join("a/file2")).unwrap();
        std::fs::remove_dir_all(root.join("del")).unwrap();
        std::fs::create_dir_all(root.join("newdir/sub")).unwrap();
        store.unmount_container("c").unwrap();
        let changes: Vec<String> = store
            .container_changes("c")
            .unwrap()
            .into_iter()
            .map(|c| format!("{:?} {}", c.kind, c.path.display()))
            .collect();
        let committed = store.commit_container("c").unwrap();
        store.remove_container("c").unwrap();
        store.release(&committed.chain_id).unwrap();
        store.release(&image.chain_id).unwrap();
        answers.push((name, changes));
    }
    let (first, expected) = &answers[0];
    assert!(
        expected.contains(&"Added /a/new".to_string()),
        "{expected:?}"
    );
    assert!(
        expected.contains(&"Modified /a/file1".to_string()),
        "{expected:?}"
    );
    assert!(
        expected.contains(&"Deleted /a/file2".to_string()),
        "{expected:?}"
    );
    assert!(
        expected.contains(&"Deleted /del".to_string()),
        "{expected:?}"
    );
    assert!(
        expected.contains(&"Added /newdir/sub".to_string()),
        "{expected:?}"
    );
    for (name, changes) in &answers[1..] {
        assert_eq!(changes, expected, "{name} and {first} disagree");
    }
}
