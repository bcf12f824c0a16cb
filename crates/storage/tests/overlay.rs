//! The overlay driver against the real kernel (root): layers built from tars, the mounted view,
//! the native diff, mount counting, removal, long chains through both mount methods, and the
//! refusal of an overlay-backed home.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_storage::drivers::overlay::{mounts_under, MountMethod, Overlay, OverlayOptions};
use berth_storage::{Change, ChangeKind, Driver, StorageError};

/// A temp home whose mounts are all undone, deepest first, before the directory goes.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        berth_testutil::require_root();
        let dir = tempfile::Builder::new()
            .prefix("berth-ovl-test-")
            .tempdir()
            .unwrap();
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn driver(&self, method: Option<MountMethod>) -> Overlay {
        let d = Overlay::with_options(
            self.path(),
            OverlayOptions {
                mount_method: method,
            },
        )
        .expect("overlay works on this host");
        if let Some(m) = method {
            assert_eq!(d.mount_method(), m);
        }
        d
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        for target in mounts_under(self.dir.path()) {
            let c = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: c is NUL-terminated.
            unsafe {
                if libc::umount2(c.as_ptr(), 0) != 0 {
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
    }
}

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    Mode(&'a str, &'a str, u32),
    Hardlink(&'a str, &'a str),
    Empty(&'a str),
}

/// A layer tar of `entries`, owned by root, all with one mtime.
fn layer_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        match *e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
            E::File(p, text) | E::Mode(p, text, _) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if let E::Mode(_, _, m) = e { *m } else { 0o644 });
                h.set_size(text.len() as u64);
                b.append_data(&mut h, p, text.as_bytes()).unwrap();
            }
            E::Empty(p) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o600);
                h.set_size(0);
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
            E::Hardlink(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Base: etc/{passwd,keep}, opt/old/{a,b}, var/lib/data/x, bin/tool (setuid).
/// Middle: etc/passwd changed, etc/keep deleted, usr/new added.
/// Top: opt/old made opaque with c, var/lib/data deleted, usr/h1 and its hard link usr/h2.
fn build_chain(d: &Overlay) {
    use E::*;
    let base = layer_tar(&[
        Dir("etc"),
        File("etc/passwd", "root"),
        File("etc/keep", "k"),
        Dir("opt"),
        Dir("opt/old"),
        File("opt/old/a", "a"),
        File("opt/old/b", "b"),
        Dir("var"),
        Dir("var/lib"),
        Dir("var/lib/data"),
        File("var/lib/data/x", "x"),
        Dir("bin"),
        Mode("bin/tool", "#!", 0o4755),
    ]);
    let middle = layer_tar(&[
        Dir("etc"),
        File("etc/passwd", "root2"),
        Empty("etc/.wh.keep"),
        Dir("usr"),
        File("usr/new", "n"),
    ]);
    let top = layer_tar(&[
        Dir("opt"),
        Dir("opt/old"),
        Empty("opt/old/.wh..wh..opq"),
        File("opt/old/c", "c"),
        Dir("var"),
        Dir("var/lib"),
        Empty("var/lib/.wh.data"),
        Dir("usr"),
        File("usr/h1", "h"),
        Hardlink("usr/h2", "usr/h1"),
    ]);
    d.create("base", None).unwrap();
    d.apply_diff("base", None, &mut &base[..]).unwrap();
    d.create("middle", Some("base")).unwrap();
    d.apply_diff("middle", Some("base"), &mut &middle[..])
        .unwrap();
    d.create("top", Some("middle")).unwrap();
    d.apply_diff("top", Some("middle"), &mut &top[..]).unwrap();
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn changes(list: &[(&str, ChangeKind)]) -> Vec<Change> {
    let mut v: Vec<Change> = list
        .iter()
        .map(|(p, k)| Change {
            path: PathBuf::from(p),
            kind: *k,
        })
        .collect();
    v.sort();
    v
}

/// (path, entry type, link target) of every entry of a tar.
fn tar_entries(bytes: &[u8]) -> Vec<(String, tar::EntryType, Option<String>)> {
    let mut out = Vec::new();
    for entry in tar::Archive::new(bytes).entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let link = entry
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        out.push((path, entry.header().entry_type(), link));
    }
    out
}

fn mount_count(path: &Path) -> usize {
    mounts_under(path).iter().filter(|p| *p == path).count()
}

fn chain_view_and_native_diff(method: MountMethod) {
    use ChangeKind::*;
    let home = Home::new();
    let d = home.driver(Some(method));
    build_chain(&d);

    let view = d.get("top").unwrap();
    assert_eq!(view, home.path().join("top/merged"));
    assert_eq!(
        fs::read_to_string(view.join("etc/passwd")).unwrap(),
        "root2"
    );
    assert!(!view.join("etc/keep").exists());
    assert_eq!(
        names(&view.join("opt/old")),
        BTreeSet::from(["c".to_string()])
    );
    assert!(view.join("var/lib").is_dir() && !view.join("var/lib/data").exists());
    assert_eq!(fs::read_to_string(view.join("usr/new")).unwrap(), "n");
    let (h1, h2) = (
        fs::metadata(view.join("usr/h1")).unwrap(),
        fs::metadata(view.join("usr/h2")).unwrap(),
    );
    assert_eq!(h1.ino(), h2.ino(), "the hard link survives");
    let tool = fs::metadata(view.join("bin/tool")).unwrap();
    assert_eq!(tool.permissions().mode() & 0o7777, 0o4755);
    d.put("top").unwrap();

    assert_eq!(
        d.changes("middle", Some("base")).unwrap(),
        changes(&[
            ("/etc", Modified),
            ("/etc/keep", Deleted),
            ("/etc/passwd", Modified),
            ("/usr", Added),
            ("/usr/new", Added),
        ])
    );
    assert_eq!(
        d.changes("top", Some("middle")).unwrap(),
        changes(&[
            ("/opt", Modified),
            ("/opt/old", Modified),
            ("/opt/old/a", Deleted),
            ("/opt/old/b", Deleted),
            ("/opt/old/c", Added),
            ("/usr", Modified),
            ("/usr/h1", Added),
            ("/usr/h2", Added),
            ("/var", Modified),
            ("/var/lib", Modified),
            ("/var/lib/data", Deleted),
        ])
    );
    assert_eq!(
        d.diff_size("middle", Some("base")).unwrap(),
        "root2".len() as u64 + 1
    );
    assert_eq!(
        d.diff_size("top", Some("middle")).unwrap(),
        2,
        "c and h (once)"
    );

    let mut tar = Vec::new();
    d.diff("middle", Some("base"), &mut tar).unwrap();
    let entries = tar_entries(&tar);
    assert!(
        entries
            .iter()
            .any(|(p, t, _)| p == "etc/.wh.keep" && t.is_file()),
        "{entries:?}"
    );
    let mut tar = Vec::new();
    d.diff("top", Some("middle"), &mut tar).unwrap();
    let entries = tar_entries(&tar);
    let has = |name: &str| entries.iter().any(|(p, _, _)| p == name);
    assert!(
        has("opt/old/.wh..wh..opq") && has("var/lib/.wh.data") && has("opt/old/c"),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|(p, t, l)| p == "usr/h2" && t.is_hard_link() && l.as_deref() == Some("usr/h1")),
        "{entries:?}"
    );
    assert!(!has("opt/old/a"), "the lower content is not in the diff");

    // The exported diff applied onto the same parent gives the same layer.
    d.create("again", Some("middle")).unwrap();
    d.apply_diff("again", Some("middle"), &mut &tar[..])
        .unwrap();
    assert_eq!(
        d.changes("again", Some("middle")).unwrap(),
        d.changes("top", Some("middle")).unwrap()
    );

    // Against a layer that isn't the parent, the naive diff compares mounted trees.
    let naive = d.changes("top", Some("base")).unwrap();
    for want in [
        ("/usr/new", Added),
        ("/opt/old/a", Deleted),
        ("/etc/keep", Deleted),
        ("/etc/passwd", Modified),
    ] {
        assert!(
            naive.contains(&Change {
                path: want.0.into(),
                kind: want.1
            }),
            "{want:?} in {naive:?}"
        );
    }
    let mut naive_tar = Vec::new();
    d.diff("top", None, &mut naive_tar).unwrap();
    let full: Vec<String> = tar_entries(&naive_tar).into_iter().map(|e| e.0).collect();
    assert!(
        full.contains(&"etc/passwd".to_string()) && full.contains(&"usr/new".to_string()),
        "{full:?}"
    );
    assert!(
        mounts_under(home.path()).is_empty(),
        "the naive diff puts its mounts back"
    );
}

#[test]
fn chain_view_and_native_diff_new_api() {
    chain_view_and_native_diff(MountMethod::NewApi);
}

#[test]
fn chain_view_and_native_diff_legacy_mount() {
    chain_view_and_native_diff(MountMethod::Legacy);
}

#[test]
fn get_twice_mounts_once_and_the_last_put_unmounts() {
    let home = Home::new();
    let d = home.driver(None);
    d.create("base", None).unwrap();
    d.create("child", Some("base")).unwrap();
    let base = d.get("base").unwrap();
    assert_eq!(
        base,
        home.path().join("base/diff"),
        "a base layer is its diff dir"
    );
    assert!(mounts_under(home.path()).is_empty());
    d.put("base").unwrap();

    let merged = home.path().join("child/merged");
    assert_eq!(d.get("child").unwrap(), merged);
    assert_eq!(d.get("child").unwrap(), merged);
    assert_eq!(mount_count(&merged), 1, "two gets, one mount");
    d.put("child").unwrap();
    assert_eq!(mount_count(&merged), 1, "one reference left");
    assert!(matches!(
        d.remove("child"),
        Err(StorageError::Busy { count: 1, .. })
    ));
    d.put("child").unwrap();
    assert_eq!(mount_count(&merged), 0, "the last put unmounts");
    d.put("child").unwrap(); // an extra put is harmless

    assert!(matches!(
        d.create("child", Some("base")),
        Err(StorageError::AlreadyExists(_))
    ));
    assert!(matches!(
        d.create("x", Some("nope")),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(d.get("nope"), Err(StorageError::NotFound(_))));
    assert!(matches!(
        d.create("../x", None),
        Err(StorageError::InvalidId(_))
    ));

    let short = fs::read_to_string(home.path().join("child/link")).unwrap();
    assert_eq!(short.len(), 26);
    let link = home.path().join("l").join(&short);
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("../child/diff"));
    assert_eq!(
        fs::read_to_string(home.path().join("child/lower")).unwrap(),
        format!(
            "l/{}",
            fs::read_to_string(home.path().join("base/link")).unwrap()
        )
    );
    d.remove("child").unwrap();
    assert!(!home.path().join("child").exists() && link.symlink_metadata().is_err());
    assert!(!d.exists("child"));
    assert!(matches!(d.remove("child"), Err(StorageError::NotFound(_))));
}

#[test]
fn cleanup_unmounts_everything() {
    let home = Home::new();
    let d = home.driver(None);
    d.create("a", None).unwrap();
    d.create("b", Some("a")).unwrap();
    d.create("c", Some("b")).unwrap();
    d.get("b").unwrap();
    d.get("c").unwrap();
    d.get("c").unwrap();
    assert_eq!(mounts_under(home.path()).len(), 2);
    d.cleanup().unwrap();
    assert!(mounts_under(home.path()).is_empty());
    let status = d.status();
    let get = |k: &str| {
        status
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("Supports d_type").as_deref(), Some("true"));
    assert_eq!(get("Native Overlay Diff").as_deref(), Some("true"));
    assert!(get("Backing Filesystem").is_some() && get("Mount Method").is_some());
}

fn long_chain(method: MountMethod) {
    const N: usize = 120;
    let home = Home::new();
    let d = home.driver(Some(method));
    let id = |i: usize| format!("{i:064x}");
    for i in 0..N {
        d.create(&id(i), (i > 0).then(|| id(i - 1)).as_deref())
            .unwrap();
        let diff = home.path().join(id(i)).join("diff");
        fs::write(diff.join(format!("f{i}")), i.to_string()).unwrap();
        fs::write(diff.join("top"), i.to_string()).unwrap();
    }
    let top = id(N - 1);
    let lower = fs::read_to_string(home.path().join(&top).join("lower")).unwrap();
    assert_eq!(lower.split(':').count(), N - 1);
    let cwd = std::env::current_dir().unwrap();
    let view = d.get(&top).unwrap();
    assert_eq!(
        std::env::current_dir().unwrap(),
        cwd,
        "the process keeps its cwd"
    );
    assert_eq!(mount_count(&view), 1);
    assert_eq!(
        fs::read_to_string(view.join("top")).unwrap(),
        (N - 1).to_string()
    );
    for i in 0..N {
        let mut s = String::new();
        fs::File::open(view.join(format!("f{i}")))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, i.to_string());
    }
    fs::write(view.join("written"), b"up").unwrap();
    assert!(
        home.path().join(&top).join("diff/written").exists(),
        "writes land in the top diff"
    );
    d.put(&top).unwrap();
    assert_eq!(mount_count(&view), 0);
}

#[test]
fn a_chain_of_120_layers_mounts_with_the_new_api() {
    long_chain(MountMethod::NewApi);
}

#[test]
fn a_chain_of_120_layers_mounts_with_mount2_and_short_links() {
    long_chain(MountMethod::Legacy);
}

#[test]
fn chains_deeper_than_the_limit_are_refused() {
    let home = Home::new();
    let d = home.driver(None);
    d.create("l0", None).unwrap();
    for i in 1..=berth_storage::drivers::overlay::MAX_DEPTH {
        d.create(&format!("l{i}"), Some(&format!("l{}", i - 1)))
            .unwrap();
    }
    let last = format!("l{}", berth_storage::drivers::overlay::MAX_DEPTH);
    let err = d.create("deeper", Some(&last)).unwrap_err();
    assert!(matches!(err, StorageError::TooDeep { .. }), "{err}");
    assert!(
        !home.path().join("deeper").exists(),
        "a refused layer leaves nothing"
    );
}

#[test]
fn an_overlay_backed_home_is_refused_clearly() {
    let home = Home::new();
    let d = home.driver(None);
    d.create("a", None).unwrap();
    d.create("b", Some("a")).unwrap();
    let merged = d.get("b").unwrap();
    let err = Overlay::new(&merged.join("nested"))
        .err()
        .expect("overlay on overlay must fail");
    let text = err.to_string();
    match err {
        StorageError::Unsupported {
            driver: "overlay",
            reason,
        } => {
            assert!(
                reason.contains("overlayfs") && reason.contains("vfs"),
                "{reason}"
            )
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(
        text.starts_with("storage driver overlay can't work here"),
        "{text}"
    );
    d.put("b").unwrap();
}
