//! apply_layer, tree_changes, export_changes and changes_size on real trees. Needs root
//! (chown, mknod, trusted.* and security.* xattrs).

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_storage::archive::{
    apply_layer, changes_size, export_changes, tree_changes, ApplyOptions, Change, ChangeKind,
    Whiteouts,
};

/// A tar built with the tar crate's header API.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }
    fn header(kind: tar::EntryType, mode: u32, uid: u64, mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_mtime(mtime);
        h.set_size(0);
        h
    }
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.0
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }
    fn dir(&mut self, name: &str, mode: u32, uid: u64, mtime: u64) -> &mut Self {
        let mut h = Self::header(tar::EntryType::Directory, mode, uid, mtime);
        self.0.append_data(&mut h, name, std::io::empty()).unwrap();
        self
    }
    fn file(&mut self, name: &str, data: &[u8], mode: u32, uid: u64, mtime: u64) -> &mut Self {
        let mut h = Self::header(tar::EntryType::Regular, mode, uid, mtime);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, name, data).unwrap();
        self
    }
    fn link(
        &mut self,
        kind: tar::EntryType,
        name: &str,
        target: &str,
        uid: u64,
        mtime: u64,
    ) -> &mut Self {
        let mut h = Self::header(kind, 0o777, uid, mtime);
        self.0.append_link(&mut h, name, target).unwrap();
        self
    }
    fn empty(&mut self, name: &str) -> &mut Self {
        self.file(name, b"", 0o644, 0, 0)
    }
    fn bytes(&mut self) -> Vec<u8> {
        self.0
            .get_mut()
            .clone()
            .into_iter()
            .chain([0u8; 1024])
            .collect()
    }
}

fn apply(target: &Path, tar: &[u8], whiteouts: Whiteouts) -> u64 {
    apply_layer(
        target,
        &mut &tar[..],
        &ApplyOptions {
            whiteouts,
            ..Default::default()
        },
    )
    .unwrap()
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = unsafe {
        libc::lgetxattr(
            cpath(p).as_ptr(),
            CString::new(name).unwrap().as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

fn setxattr(p: &Path, name: &str, value: &[u8]) {
    let r = unsafe {
        libc::lsetxattr(
            cpath(p).as_ptr(),
            CString::new(name).unwrap().as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(r, 0, "setxattr {name} on {}", p.display());
}

fn set_mtime(p: &Path, sec: i64, nsec: i64) {
    let t = [libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }; 2];
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            cpath(p).as_ptr(),
            t.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(r, 0);
}

fn md(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap()
}

// A capability set for cap_net_raw, as setcap writes it (VFS_CAP_REVISION_2).
const CAP_NET_RAW: &[u8] = &[
    0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[test]
fn apply_keeps_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let tar = Tar::new()
        .pax(&[("mtime", b"1600000000.25")])
        .dir("etc/", 0o750, 1, 0)
        .pax(&[
            ("SCHILY.xattr.user.note", b"hi"),
            ("SCHILY.xattr.security.capability", CAP_NET_RAW),
        ])
        .file("etc/ping", b"ELF", 0o4755, 0, 1_500_000_000)
        .file("etc/owned", b"x", 0o640, 1000, 1_500_000_001)
        .link(
            tar::EntryType::Symlink,
            "etc/sl",
            "/nowhere",
            7,
            1_400_000_000,
        )
        .link(tar::EntryType::Link, "etc/hl", "etc/owned", 0, 0)
        .bytes();
    assert_eq!(apply(t, &tar, Whiteouts::Apply), 4);

    let etc = md(&t.join("etc"));
    assert_eq!((etc.mode() & 0o7777, etc.uid(), etc.gid()), (0o750, 1, 1));
    // Set after its entries were written.
    assert_eq!(
        (etc.mtime(), etc.mtime_nsec()),
        (1_600_000_000, 250_000_000)
    );
    let ping = md(&t.join("etc/ping"));
    assert_eq!(ping.mode() & 0o7777, 0o4755);
    assert_eq!(ping.mtime(), 1_500_000_000);
    assert_eq!(getxattr(&t.join("etc/ping"), "user.note").unwrap(), b"hi");
    assert_eq!(
        getxattr(&t.join("etc/ping"), "security.capability").unwrap(),
        CAP_NET_RAW
    );
    let owned = md(&t.join("etc/owned"));
    assert_eq!((owned.uid(), owned.gid(), owned.nlink()), (1000, 1000, 2));
    assert_eq!(owned.ino(), md(&t.join("etc/hl")).ino());
    let sl = md(&t.join("etc/sl"));
    assert!(sl.file_type().is_symlink());
    assert_eq!((sl.uid(), sl.mtime()), (7, 1_400_000_000));
    assert_eq!(
        fs::read_link(t.join("etc/sl")).unwrap(),
        Path::new("/nowhere")
    );
}

#[test]
fn apply_writes_sparse_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = vec![0u8; 4 << 20];
    data.extend_from_slice(b"end");
    let tar = Tar::new().file("sparse", &data, 0o644, 0, 0).bytes();
    assert_eq!(apply(tmp.path(), &tar, Whiteouts::Apply), data.len() as u64);
    let p = tmp.path().join("sparse");
    assert_eq!(fs::read(&p).unwrap(), data);
    assert!(
        md(&p).blocks() * 512 < 1 << 20,
        "{} blocks",
        md(&p).blocks()
    );
}

/// A lower layer's content, written straight into `t`.
fn lower(t: &Path) {
    for d in ["a/y", "c", "keep"] {
        fs::create_dir_all(t.join(d)).unwrap();
    }
    for f in ["a/x", "a/y/z", "b", "c/d", "keep/k"] {
        fs::write(t.join(f), f).unwrap();
    }
}

#[test]
fn whiteouts_apply_mode_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    lower(t);
    let tar = Tar::new()
        .empty(".wh.b")
        .empty("a/.wh.x")
        .dir("c/", 0o755, 0, 0)
        .empty("c/early")
        .empty("c/.wh..wh..opq")
        .empty("c/late")
        .empty(".wh..wh.plnk")
        .empty(".wh..wh.plnk/123")
        .empty("keep/.wh.absent")
        .bytes();
    apply(t, &tar, Whiteouts::Apply);
    assert!(!t.join("b").exists());
    assert!(!t.join("a/x").exists());
    assert!(t.join("a/y/z").exists());
    assert!(
        !t.join("c/d").exists(),
        "opaque directory keeps lower content"
    );
    assert!(t.join("c/early").exists() && t.join("c/late").exists());
    assert!(!t.join(".wh..wh.plnk").exists());
    assert!(t.join("keep/k").exists());
    assert!(!t.join("keep/.wh.absent").exists());
}

#[test]
fn opaque_prunes_below_kept_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    fs::create_dir_all(t.join("o/sub")).unwrap();
    fs::write(t.join("o/sub/old"), "").unwrap();
    fs::write(t.join("o/old"), "").unwrap();
    let tar = Tar::new()
        .empty("o/sub/new")
        .empty("o/.wh..wh..opq")
        .bytes();
    apply(t, &tar, Whiteouts::Apply);
    assert!(t.join("o/sub/new").exists());
    assert!(!t.join("o/sub/old").exists());
    assert!(!t.join("o/old").exists());
}

#[test]
fn whiteouts_overlay_mode_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let tar = Tar::new()
        .empty(".wh.b")
        .empty("a/.wh.x")
        .empty("c/.wh..wh..opq")
        .empty("c/new")
        .bytes();
    apply(t, &tar, Whiteouts::Overlay);
    for p in ["b", "a/x"] {
        let m = md(&t.join(p));
        assert!(m.file_type().is_char_device(), "{p}");
        assert_eq!(m.rdev(), 0);
    }
    assert_eq!(
        getxattr(&t.join("c"), "trusted.overlay.opaque").unwrap(),
        b"y"
    );
    assert!(t.join("c/new").exists());
    assert!(!t.join(".wh.b").exists());
}

/// A base tree, then a copy of it changed in every way the diff knows.
fn scenario(root: &Path) -> (PathBuf, PathBuf) {
    let parent = root.join("parent");
    let layer = root.join("layer");
    let base = Tar::new()
        .dir("etc/", 0o755, 0, 1_000)
        .file("etc/passwd", b"root:x:0:0\n", 0o644, 0, 1_000)
        .file("etc/hosts", b"127.0.0.1\n", 0o644, 0, 1_000)
        .file("etc/mode", b"m", 0o644, 0, 1_000)
        .dir("usr/", 0o755, 0, 1_000)
        .dir("usr/share/", 0o755, 0, 1_000)
        .file("usr/share/doc", b"doc", 0o644, 0, 1_000)
        .dir("var/", 0o755, 0, 1_000)
        .file("var/log", b"log", 0o644, 0, 1_000)
        .link(tar::EntryType::Symlink, "lib", "usr/lib", 0, 1_000)
        .dir("same/", 0o755, 0, 1_000)
        .file("same/file", b"s", 0o644, 0, 1_000)
        .bytes();
    for d in [&parent, &layer] {
        fs::create_dir(d).unwrap();
        apply(d, &base, Whiteouts::Apply);
    }
    fs::write(layer.join("etc/passwd"), "root:x:0:0\nu:x:1:1\n").unwrap();
    fs::set_permissions(layer.join("etc/mode"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(layer.join("etc/hosts")).unwrap();
    fs::remove_dir_all(layer.join("usr")).unwrap();
    fs::create_dir(layer.join("opt")).unwrap();
    fs::create_dir(layer.join("opt/app")).unwrap();
    fs::write(layer.join("opt/app/bin"), "0123456789").unwrap();
    fs::hard_link(layer.join("opt/app/bin"), layer.join("opt/app/bin2")).unwrap();
    setxattr(&layer.join("opt/app/bin"), "user.tag", b"v1");
    fs::remove_file(layer.join("lib")).unwrap();
    std::os::unix::fs::symlink("usr/lib64", layer.join("lib")).unwrap();
    let dev = libc::makedev(1, 3);
    let null = cpath(&layer.join("var/null"));
    assert_eq!(
        unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, dev) },
        0
    );
    // Whole seconds everywhere, as a tar carries them.
    for p in [
        "",
        "etc",
        "etc/passwd",
        "etc/mode",
        "opt",
        "opt/app",
        "opt/app/bin",
        "lib",
        "var",
        "var/null",
    ] {
        set_mtime(&layer.join(p), 2_000, 0);
    }
    (layer, parent)
}

fn change(path: &str, kind: ChangeKind) -> Change {
    Change {
        path: PathBuf::from(path),
        kind,
    }
}

#[test]
fn tree_changes_reports_like_docker_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, parent) = scenario(tmp.path());
    use ChangeKind::*;
    let expected = vec![
        change("/etc", Modified),
        change("/etc/hosts", Deleted),
        change("/etc/mode", Modified),
        change("/etc/passwd", Modified),
        change("/lib", Modified),
        change("/opt", Added),
        change("/opt/app", Added),
        change("/opt/app/bin", Added),
        change("/opt/app/bin2", Added),
        change("/usr", Deleted),
        change("/var", Modified),
        change("/var/null", Added),
    ];
    assert_eq!(tree_changes(&layer, Some(&parent)).unwrap(), expected);

    // Against nothing, everything is Added.
    let all = tree_changes(&parent, None).unwrap();
    assert!(all.iter().all(|c| c.kind == Added));
    assert_eq!(all.len(), 12);
    assert!(all.contains(&change("/usr/share/doc", Added)));
}

#[test]
fn tree_changes_sees_metadata_only_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, parent) = scenario(tmp.path());
    let file = layer.join("same/file");
    let ns = md(&file).mtime_nsec();
    set_mtime(&file, 1_000, ns + 1);
    setxattr(&layer.join("same"), "user.x", b"1");
    let changes = tree_changes(&layer, Some(&parent)).unwrap();
    assert!(changes.contains(&change("/same", ChangeKind::Modified)));
    assert!(changes.contains(&change("/same/file", ChangeKind::Modified)));
}

#[test]
fn tree_changes_sees_a_rewrite_that_kept_size_and_mtime() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, parent) = scenario(tmp.path());
    fs::write(layer.join("same/file"), "S").unwrap();
    set_mtime(&layer.join("same/file"), 1_000, 0);
    let changes = tree_changes(&layer, Some(&parent)).unwrap();
    assert!(
        changes.contains(&change("/same/file", ChangeKind::Modified)),
        "{changes:?}"
    );
    // The directory holding a change is reported too, as docker diff does.
    assert!(
        changes.contains(&change("/same", ChangeKind::Modified)),
        "{changes:?}"
    );
}

#[test]
fn changes_size_counts_files_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, parent) = scenario(tmp.path());
    let changes = tree_changes(&layer, Some(&parent)).unwrap();
    // passwd (19) + mode (1) + bin/bin2 once (10).
    assert_eq!(changes_size(&layer, &changes).unwrap(), 19 + 1 + 10);
}

fn export(layer: &Path, changes: &[Change]) -> Vec<u8> {
    let mut out = Vec::new();
    export_changes(layer, changes, &mut out).unwrap();
    out
}

#[test]
fn export_round_trips_onto_the_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let (layer, parent) = scenario(tmp.path());
    let changes = tree_changes(&layer, Some(&parent)).unwrap();
    let tar = export(&layer, &changes);
    assert_eq!(tar, export(&layer, &changes), "export is not deterministic");

    let mut names = Vec::new();
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let kind = entry.header().entry_type();
        if name == "opt/app/bin2" {
            assert_eq!(kind, tar::EntryType::Link);
            assert_eq!(
                entry.link_name().unwrap().unwrap(),
                Path::new("opt/app/bin")
            );
        }
        if name == "opt/app/bin" {
            let pax: Vec<_> = entry
                .pax_extensions()
                .unwrap()
                .unwrap()
                .map(|e| e.unwrap().key().unwrap().to_string())
                .collect();
            assert_eq!(pax, ["SCHILY.xattr.user.tag"]);
        }
        names.push(name);
    }
    let expected = [
        ".wh.usr",
        "etc/",
        "etc/.wh.hosts",
        "etc/mode",
        "etc/passwd",
        "lib",
        "opt/",
        "opt/app/",
        "opt/app/bin",
        "opt/app/bin2",
        "var/",
        "var/null",
    ];
    assert_eq!(names, expected);

    // Applied onto a copy of the parent, it gives the layer back.
    let restored = tmp.path().join("restored");
    fs::create_dir(&restored).unwrap();
    let base = export(&parent, &tree_changes(&parent, None).unwrap());
    apply(&restored, &base, Whiteouts::Apply);
    set_mtime(&restored, md(&parent).mtime(), md(&parent).mtime_nsec());
    assert_eq!(tree_changes(&restored, Some(&parent)).unwrap(), vec![]);
    apply(&restored, &tar, Whiteouts::Apply);
    set_mtime(&restored, 2_000, 0);
    assert_eq!(tree_changes(&restored, Some(&layer)).unwrap(), vec![]);
    assert_eq!(
        md(&restored.join("opt/app/bin")).ino(),
        md(&restored.join("opt/app/bin2")).ino()
    );
    let mut content = String::new();
    fs::File::open(restored.join("etc/passwd"))
        .unwrap()
        .read_to_string(&mut content)
        .unwrap();
    assert_eq!(content, "root:x:0:0\nu:x:1:1\n");
}

#[test]
fn export_handles_long_names_and_links() {
    let tmp = tempfile::tempdir().unwrap();
    let layer = tmp.path().join("layer");
    let long_dir = layer.join("d".repeat(120));
    fs::create_dir_all(&long_dir).unwrap();
    let long_file = long_dir.join("f".repeat(200));
    fs::write(&long_file, "x").unwrap();
    let target = "t".repeat(150);
    std::os::unix::fs::symlink(&target, long_dir.join("sl")).unwrap();
    std::os::unix::fs::symlink("a//b/./c", layer.join("odd")).unwrap();
    let changes = tree_changes(&layer, None).unwrap();
    let tar = export(&layer, &changes);
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    apply(&out, &tar, Whiteouts::Apply);
    let rel = long_file.strip_prefix(&layer).unwrap();
    assert_eq!(fs::read(out.join(rel)).unwrap(), b"x");
    assert_eq!(
        fs::read_link(out.join("d".repeat(120)).join("sl")).unwrap(),
        Path::new(&target)
    );
    assert_eq!(
        fs::read_link(out.join("odd")).unwrap(),
        Path::new("a//b/./c")
    );
}
