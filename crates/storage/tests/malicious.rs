//! Hostile layer tars. Each is applied into `<tmp>/target` next to `<tmp>/outside/victim`; the
//! apply must either refuse with a clear error or keep every effect inside `target`, and
//! nothing outside `target` may change. The last cases check that legitimate special content
//! (devices, set-id bits) survives the same code path. Needs root (chown, mknod).

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_storage::archive::{apply_layer, decompress, ApplyOptions, Whiteouts};
use berth_storage::StorageError;
use tar::EntryType;

/// A tar writer that writes names as given: no cleaning, no refusal.
#[derive(Default)]
struct Hostile {
    buf: Vec<u8>,
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = 3 + key.len() + value.len();
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

impl Hostile {
    fn block(&mut self, header: &tar::Header, data: &[u8]) {
        self.buf.extend_from_slice(header.as_bytes());
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    fn pax(&mut self, records: &[(&str, &[u8])]) {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(EntryType::XHeader);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.block(&h, &data);
    }

    #[allow(clippy::too_many_arguments)]
    fn entry_full(
        &mut self,
        name: &[u8],
        kind: EntryType,
        mode: u32,
        data: &[u8],
        link: &[u8],
        extra: &[(&str, &[u8])],
    ) {
        let mut records: Vec<(&str, &[u8])> = extra.to_vec();
        if name.len() > 100 {
            records.push(("path", name));
        }
        if link.len() > 100 {
            records.push(("linkpath", link));
        }
        if !records.is_empty() {
            self.pax(&records);
        }
        let mut h = tar::Header::new_gnu();
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        let l = link.len().min(100);
        h.as_old_mut().linkname[..l].copy_from_slice(&link[..l]);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.block(&h, data);
    }

    fn entry(
        &mut self,
        name: &str,
        kind: EntryType,
        mode: u32,
        data: &[u8],
        link: &str,
    ) -> &mut Self {
        self.entry_full(name.as_bytes(), kind, mode, data, link.as_bytes(), &[]);
        self
    }
    fn file(&mut self, name: &str, data: &str) -> &mut Self {
        self.entry(name, EntryType::Regular, 0o644, data.as_bytes(), "")
    }
    fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, EntryType::Directory, 0o755, b"", "")
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, EntryType::Symlink, 0o777, b"", target)
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, EntryType::Link, 0o644, b"", target)
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    target: PathBuf,
    outside: PathBuf,
    before: BTreeMap<PathBuf, (u64, u64, u32)>,
}

/// Everything under `base` except `target`: path → (size, nlink, mode).
fn snapshot(base: &Path, target: &Path) -> BTreeMap<PathBuf, (u64, u64, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![base.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p == target {
                continue;
            }
            let md = fs::symlink_metadata(&p).unwrap();
            out.insert(p.clone(), (md.size(), md.nlink(), md.mode()));
            if md.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        let target = base.join("target");
        let outside = base.join("outside");
        fs::create_dir(&target).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("victim"), "precious").unwrap();
        let before = snapshot(&base, &target);
        Fixture {
            _tmp: tmp,
            base,
            target,
            outside,
            before,
        }
    }

    fn outside_str(&self) -> String {
        self.outside.to_str().unwrap().to_string()
    }

    fn apply_with(&self, tar: &[u8], whiteouts: Whiteouts) -> Result<u64, StorageError> {
        let result = apply_layer(
            &self.target,
            &mut &tar[..],
            &ApplyOptions {
                whiteouts,
                ..Default::default()
            },
        );
        self.assert_untouched();
        result
    }

    fn apply(&self, tar: &[u8]) -> Result<u64, StorageError> {
        self.apply_with(tar, Whiteouts::Apply)
    }

    fn assert_untouched(&self) {
        assert_eq!(
            fs::read_to_string(self.outside.join("victim")).unwrap(),
            "precious"
        );
        assert_eq!(
            snapshot(&self.base, &self.target),
            self.before,
            "something changed outside target"
        );
    }
}

fn assert_unsafe(result: Result<u64, StorageError>, needle: &str) {
    match result {
        Err(StorageError::UnsafeEntry { reason, .. }) => {
            assert!(
                reason.contains(needle),
                "reason {reason:?} does not mention {needle:?}"
            )
        }
        other => panic!("expected an unsafe-entry error mentioning {needle:?}, got {other:?}"),
    }
}

fn assert_archive_error(result: Result<u64, StorageError>, needle: &str) {
    match result {
        Err(StorageError::Archive(msg)) => {
            assert!(msg.contains(needle), "{msg:?} does not mention {needle:?}")
        }
        other => panic!("expected an archive error mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn dotdot_escape_is_refused() {
    let fx = Fixture::new();
    assert_unsafe(
        fx.apply(&Hostile::default().file("../escape", "x").finish()),
        "'..'",
    );
    assert!(!fx.base.join("escape").exists());
}

#[test]
fn nested_dotdot_escape_is_refused() {
    let fx = Fixture::new();
    assert_unsafe(
        fx.apply(&Hostile::default().file("a/../../escape", "x").finish()),
        "'..'",
    );
    // A `..` that stays inside is just a path.
    fx.apply(&Hostile::default().file("a/../inside", "x").finish())
        .unwrap();
    assert!(fx.target.join("inside").is_file());
}

#[test]
fn absolute_path_lands_inside() {
    let fx = Fixture::new();
    let abs = format!("{}/pwned", fx.outside_str());
    fx.apply(&Hostile::default().file(&abs, "x").finish())
        .unwrap();
    assert!(fx.target.join(abs.trim_start_matches('/')).is_file());
}

#[test]
fn write_through_absolute_symlink_is_contained() {
    let fx = Fixture::new();
    let tar = Hostile::default()
        .symlink("s", &fx.outside_str())
        .file("s/pwned", "x")
        .finish();
    // The symlink resolves to <target><outside>, which does not exist: refused, not followed.
    assert_unsafe(fx.apply(&tar), "dangling symlink");
    assert!(!fx.outside.join("pwned").exists());
}

#[test]
fn write_through_dotdot_symlink_is_contained() {
    let fx = Fixture::new();
    let tar = Hostile::default()
        .symlink("s", "../..")
        .file("s/x", "x")
        .finish();
    fx.apply(&tar).unwrap();
    // `..` stops at the layer root, so s/x is <target>/x.
    assert_eq!(fs::read_to_string(fx.target.join("x")).unwrap(), "x");
    assert!(!fx.base.join("x").exists());
}

#[test]
fn hardlink_to_host_passwd_is_refused() {
    let fx = Fixture::new();
    assert_unsafe(
        fx.apply(&Hostile::default().hardlink("pw", "/etc/passwd").finish()),
        "not in the layer",
    );
    assert!(!fx.target.join("pw").exists());
}

#[test]
fn hardlink_to_outside_victim_is_refused() {
    let fx = Fixture::new();
    assert_unsafe(
        fx.apply(
            &Hostile::default()
                .hardlink("v", "../outside/victim")
                .finish(),
        ),
        "'..'",
    );
    assert_eq!(fs::metadata(fx.outside.join("victim")).unwrap().nlink(), 1);
}

#[test]
fn hardlink_through_symlink_is_contained() {
    let fx = Fixture::new();
    let tar = Hostile::default()
        .symlink("s", &fx.outside_str())
        .hardlink("v", "s/victim")
        .finish();
    assert_unsafe(fx.apply(&tar), "not in the layer");
    let tar = Hostile::default()
        .symlink("t", "../outside")
        .hardlink("w", "t/victim")
        .finish();
    assert_unsafe(fx.apply(&tar), "not in the layer");
    assert_eq!(fs::metadata(fx.outside.join("victim")).unwrap().nlink(), 1);
}

#[test]
fn hardlink_to_symlink_links_the_symlink_itself() {
    let fx = Fixture::new();
    let victim = format!("{}/victim", fx.outside_str());
    fx.apply(
        &Hostile::default()
            .symlink("s", &victim)
            .hardlink("h", "s")
            .finish(),
    )
    .unwrap();
    assert!(fs::symlink_metadata(fx.target.join("h"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::metadata(fx.outside.join("victim")).unwrap().nlink(), 1);
}

#[test]
fn hardlink_to_directory_is_refused() {
    let fx = Fixture::new();
    assert_unsafe(
        fx.apply(&Hostile::default().dir("d").hardlink("h", "d").finish()),
        "directory",
    );
}

#[test]
fn whiteout_pointing_outside_is_refused() {
    let fx = Fixture::new();
    assert_unsafe(
        fx.apply(
            &Hostile::default()
                .file("../outside/.wh.victim", "")
                .finish(),
        ),
        "'..'",
    );
    for name in [".wh...", "sub/.wh..", ".wh."] {
        assert_unsafe(
            fx.apply(&Hostile::default().file(name, "").finish()),
            "whiteout",
        );
    }
    assert_unsafe(
        fx.apply(&Hostile::default().file("../.wh..wh..opq", "").finish()),
        "'..'",
    );
}

#[test]
fn whiteout_under_symlinked_parent_is_contained() {
    let fx = Fixture::new();
    let tar = Hostile::default()
        .symlink("s", &fx.outside_str())
        .file("s/.wh.victim", "")
        .finish();
    // Apply: the parent resolves inside the target and holds nothing to delete.
    fx.apply(&tar).unwrap();
    let tar = Hostile::default()
        .symlink("t", "../outside")
        .file("t/.wh.victim", "")
        .finish();
    fx.apply(&tar).unwrap();
    let tar = Hostile::default()
        .symlink("o", &fx.outside_str())
        .file("o/.wh..wh..opq", "")
        .finish();
    fx.apply(&tar).unwrap();
    // Overlay: a marker would have to be created under a dangling symlink: refused.
    let tar = Hostile::default()
        .symlink("u", &fx.outside_str())
        .file("u/.wh.victim", "")
        .finish();
    assert_unsafe(fx.apply_with(&tar, Whiteouts::Overlay), "dangling symlink");
}

#[test]
fn duplicate_entries_replace_each_other() {
    let fx = Fixture::new();
    let tar = Hostile::default()
        .file("dup", "one")
        .dir("dup")
        .file("dup/inner", "i")
        .file("dup", "two")
        .finish();
    fx.apply(&tar).unwrap();
    assert_eq!(fs::read_to_string(fx.target.join("dup")).unwrap(), "two");
    // A directory over a directory keeps what is in it.
    let tar = Hostile::default()
        .dir("d")
        .file("d/keep", "k")
        .dir("d")
        .finish();
    fx.apply(&tar).unwrap();
    assert_eq!(fs::read_to_string(fx.target.join("d/keep")).unwrap(), "k");
}

#[test]
fn symlink_replacing_directory_cannot_redirect_later_writes() {
    let fx = Fixture::new();
    let tar = Hostile::default()
        .dir("d")
        .file("d/a", "a")
        .symlink("d", &fx.outside_str())
        .file("d/pwned", "x")
        .finish();
    assert_unsafe(fx.apply(&tar), "dangling symlink");
    assert!(fs::symlink_metadata(fx.target.join("d"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!fx.outside.join("pwned").exists());
}

#[test]
fn directory_replacing_symlink_to_outside_is_a_real_directory() {
    let fx = Fixture::new();
    let tar = Hostile::default()
        .symlink("d", &fx.outside_str())
        .dir("d")
        .file("d/victim", "pwned")
        .finish();
    fx.apply(&tar).unwrap();
    assert!(fs::symlink_metadata(fx.target.join("d")).unwrap().is_dir());
    assert_eq!(
        fs::read_to_string(fx.target.join("d/victim")).unwrap(),
        "pwned"
    );
}

#[test]
fn symlink_already_in_target_is_resolved_inside() {
    let fx = Fixture::new();
    std::os::unix::fs::symlink(&fx.outside, fx.target.join("pre")).unwrap();
    std::os::unix::fs::symlink("/proc/self/root", fx.target.join("magic")).unwrap();
    assert_unsafe(
        fx.apply(&Hostile::default().file("pre/victim", "x").finish()),
        "dangling symlink",
    );
    assert_unsafe(
        fx.apply(&Hostile::default().file("magic/tmp/x", "x").finish()),
        "dangling symlink",
    );
    // Whiteouts through it find nothing to delete.
    fx.apply(&Hostile::default().file("pre/.wh.victim", "").finish())
        .unwrap();
}

#[test]
fn symlink_loop_parent_is_refused() {
    let fx = Fixture::new();
    let tar = Hostile::default()
        .symlink("a", "b")
        .symlink("b", "a")
        .file("a/x", "x")
        .finish();
    assert!(matches!(fx.apply(&tar), Err(StorageError::Io { .. })));
}

#[test]
fn overlong_names_are_refused() {
    let fx = Fixture::new();
    let long = "a/".repeat(2100) + "f";
    assert_unsafe(
        fx.apply(&Hostile::default().file(&long, "x").finish()),
        "PATH_MAX",
    );
    let wide = "b".repeat(300);
    assert_unsafe(
        fx.apply(&Hostile::default().file(&wide, "x").finish()),
        "NAME_MAX",
    );
    let far = "c".repeat(5000);
    assert_unsafe(
        fx.apply(&Hostile::default().symlink("l", &far).finish()),
        "PATH_MAX",
    );
}

#[test]
fn nul_in_pax_path_is_refused() {
    let fx = Fixture::new();
    let mut h = Hostile::default();
    h.entry_full(
        b"x",
        EntryType::Regular,
        0o644,
        b"",
        b"",
        &[("path", b"ok\0/../../../escape")],
    );
    assert_unsafe(fx.apply(&h.finish()), "nul");
}

#[test]
fn overlay_xattrs_from_the_tar_are_dropped() {
    let fx = Fixture::new();
    let mut h = Hostile::default();
    let extra: &[(&str, &[u8])] = &[
        ("SCHILY.xattr.trusted.overlay.redirect", b"/outside"),
        ("SCHILY.xattr.user.ok", b"1"),
    ];
    h.entry_full(b"d/", EntryType::Directory, 0o755, b"", b"", extra);
    fx.apply_with(&h.finish(), Whiteouts::Overlay).unwrap();
    let names = xattr_names(&fx.target.join("d"));
    assert!(
        !names.iter().any(|n| n.starts_with("trusted.overlay")),
        "{names:?}"
    );
}

fn xattr_names(path: &Path) -> Vec<String> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(n >= 0);
    buf[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into())
        .collect()
}

fn valid_tar() -> Vec<u8> {
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let mut h = Hostile::default();
    h.dir("etc").file("etc/hostname", "box\n");
    h.entry("big", EntryType::Regular, 0o644, &data, "");
    h.file("z", "z");
    h.finish()
}

#[test]
fn truncated_tar_is_refused() {
    let tar = valid_tar();
    let fx = Fixture::new();
    // Cut in the middle of "big".
    assert_archive_error(fx.apply(&tar[..512 * 5 + 3000]), "truncated");
    // Cut in the middle of the header of "z".
    let fx = Fixture::new();
    assert_archive_error(fx.apply(&tar[..512 * 44 + 100]), "reading layer tar");
}

#[test]
fn garbage_is_refused() {
    let fx = Fixture::new();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 1)
        .collect();
    assert_archive_error(fx.apply(&garbage), "bad checksum");
    let fx = Fixture::new();
    // A valid header whose size field is not a number.
    let mut tar = valid_tar();
    tar[124..136].copy_from_slice(b"zzzzzzzzzzz\0");
    assert!(matches!(fx.apply(&tar), Err(StorageError::Archive(_))));
}

#[test]
fn unknown_entry_type_is_refused() {
    let fx = Fixture::new();
    let tar = Hostile::default()
        .entry("v", EntryType::new(b'V'), 0o644, b"", "")
        .finish();
    assert_unsafe(fx.apply(&tar), "unsupported");
}

fn compress_gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn truncated_gzip_is_refused() {
    let tar = valid_tar();
    let gz = compress_gzip(&tar);
    for cut in [gz.len() / 2, gz.len() - 4] {
        let fx = Fixture::new();
        let mut reader = decompress(Box::new(&gz[..cut])).unwrap();
        assert!(
            matches!(
                fx.apply_layer_reader(&mut reader),
                Err(StorageError::Archive(_))
            ),
            "cut at {cut}"
        );
    }
    let mut corrupt = gz.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    let fx = Fixture::new();
    let mut reader = decompress(Box::new(&corrupt[..])).unwrap();
    assert!(matches!(
        fx.apply_layer_reader(&mut reader),
        Err(StorageError::Archive(_))
    ));
    // The whole stream applies.
    let fx = Fixture::new();
    let mut reader = decompress(Box::new(&gz[..])).unwrap();
    assert_eq!(fx.apply_layer_reader(&mut reader).unwrap(), 20_000 + 4 + 1);
}

#[test]
fn truncated_zstd_is_refused() {
    let tar = valid_tar();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let fx = Fixture::new();
    let mut reader = decompress(Box::new(&zst[..zst.len() / 2])).unwrap();
    assert!(matches!(
        fx.apply_layer_reader(&mut reader),
        Err(StorageError::Archive(_))
    ));
    let fx = Fixture::new();
    let mut reader = decompress(Box::new(&zst[..])).unwrap();
    assert_eq!(fx.apply_layer_reader(&mut reader).unwrap(), 20_000 + 4 + 1);
}

impl Fixture {
    fn apply_layer_reader(&self, reader: &mut dyn Read) -> Result<u64, StorageError> {
        let result = apply_layer(&self.target, reader, &ApplyOptions::default());
        self.assert_untouched();
        result
    }
}

#[test]
fn device_nodes_are_kept() {
    let fx = Fixture::new();
    let mut h = tar::Header::new_gnu();
    let mut tar = Hostile::default();
    for (name, kind, major, minor) in [
        ("dev/null", EntryType::Char, 1, 3),
        ("dev/loop9", EntryType::Block, 7, 9),
    ] {
        h.set_entry_type(kind);
        h.as_old_mut().name = [0; 100];
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(0o660);
        h.set_uid(0);
        h.set_gid(6);
        h.set_mtime(1_500_000_000);
        h.set_size(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        tar.block(&h, b"");
    }
    tar.entry("run/fifo", EntryType::Fifo, 0o600, b"", "");
    fx.apply(&tar.finish()).unwrap();
    let null = fs::symlink_metadata(fx.target.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!((libc::major(null.rdev()), libc::minor(null.rdev())), (1, 3));
    assert_eq!(null.mode() & 0o7777, 0o660);
    assert_eq!(null.gid(), 6);
    assert_eq!(null.mtime(), 1_500_000_000);
    let lp = fs::symlink_metadata(fx.target.join("dev/loop9")).unwrap();
    assert!(lp.file_type().is_block_device());
    assert_eq!((libc::major(lp.rdev()), libc::minor(lp.rdev())), (7, 9));
    let fifo = fs::symlink_metadata(fx.target.join("run/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o600);
}

#[test]
fn setid_and_sticky_bits_are_kept() {
    let fx = Fixture::new();
    let mut h = tar::Header::new_gnu();
    let mut tar = Hostile::default();
    for (name, kind, mode, uid) in [
        ("bin/su", EntryType::Regular, 0o4755, 0u64),
        ("bin/tool", EntryType::Regular, 0o6711, 1000),
        ("shared/", EntryType::Directory, 0o2775, 1000),
        ("tmp/", EntryType::Directory, 0o1777, 0),
    ] {
        h.set_entry_type(kind);
        h.as_old_mut().name = [0; 100];
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_mtime(1_500_000_000);
        h.set_size(2);
        if kind == EntryType::Directory {
            h.set_size(0);
        }
        h.set_cksum();
        tar.block(
            &h,
            if kind == EntryType::Directory {
                b""
            } else {
                b"#!"
            },
        );
    }
    fx.apply(&tar.finish()).unwrap();
    let mode = |p: &str| {
        fs::symlink_metadata(fx.target.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("bin/su"), 0o4755);
    assert_eq!(mode("bin/tool"), 0o6711);
    assert_eq!(
        fs::metadata(fx.target.join("bin/tool")).unwrap().uid(),
        1000
    );
    assert_eq!(mode("shared"), 0o2775);
    assert_eq!(mode("tmp"), 0o1777);
}
