//! Tar-split: a registered layer exports as the very tar it was registered from (same sha256,
//! the diff ID), even for tars berth would never write itself: GNU and PAX long names, extra
//! PAX records, odd modes, times and number formats, links, empty and big files, extra zero
//! blocks and trailing bytes, and real layers saved by Docker or copied as OCI. A layer whose
//! files changed fails export clearly; a re-opened store keeps exporting.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_storage::drivers::overlay::{mounts_under, Overlay};
use berth_storage::drivers::vfs::Vfs;
use berth_storage::layer::{Digest, Layer, LayerStore};
use berth_storage::{Driver, StorageError};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Vfs,
    Overlay,
}

/// A layer store in a temp dir; overlay mounts are undone when it goes.
struct Env {
    dir: tempfile::TempDir,
    kind: Kind,
    store: Option<LayerStore>,
}

impl Env {
    fn new(kind: Kind) -> Env {
        berth_testutil::require_root();
        let dir = tempfile::Builder::new()
            .prefix("berth-tar-split-")
            .tempdir()
            .unwrap();
        let mut env = Env {
            dir,
            kind,
            store: None,
        };
        env.reopen();
        env
    }

    fn reopen(&mut self) {
        self.store = None;
        let driver: Arc<dyn Driver> = match self.kind {
            Kind::Vfs => Arc::new(Vfs::new(&self.dir.path().join("vfs")).unwrap()),
            Kind::Overlay => Arc::new(Overlay::new(&self.dir.path().join("overlay")).unwrap()),
        };
        self.store = Some(LayerStore::open(&self.root(), driver).unwrap());
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("layers")
    }

    fn store(&self) -> &LayerStore {
        self.store.as_ref().unwrap()
    }

    fn export(&self, layer: &Layer) -> Vec<u8> {
        let mut out = Vec::new();
        self.store().export(&layer.chain_id, &mut out).unwrap();
        out
    }

    /// Registers `tar` on `parent` and checks that it exports byte for byte.
    fn roundtrip(&self, parent: Option<&Layer>, tar: &[u8]) -> Layer {
        let layer = self
            .store()
            .register(parent.map(|p| &p.chain_id), tar)
            .unwrap();
        assert_eq!(layer.diff_id, Digest::of(tar));
        assert_same(&self.export(&layer), tar);
        layer
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.store = None;
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

fn assert_same(got: &[u8], want: &[u8]) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "export differs: {} bytes vs {} registered, first difference at {:?} (block {:?})",
            got.len(),
            want.len(),
            at,
            at.map(|a| a / 512)
        );
    }
}

// ---- a hand-made tar writer, to get the formats berth would not write itself ----

const BLOCK: usize = 512;

/// A ustar (or GNU, `gnu`) header with sane defaults; callers adjust fields, then `seal`.
fn header(name: &[u8], kind: u8, size: u64, gnu: bool) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind;
    if gnu {
        h[257..265].copy_from_slice(b"ustar  \0");
    } else {
        h[257..265].copy_from_slice(b"ustar\x0000");
    }
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    h
}

/// Zero-padded octal, NUL-terminated.
fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0w$o}\0", v, w = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

/// GNU base-256: high bit set, big-endian value.
fn base256(field: &mut [u8], v: u64) {
    field.fill(0);
    field[0] = 0x80;
    let n = field.len();
    field[n - 8..].copy_from_slice(&v.to_be_bytes());
}

/// Writes the checksum (old style: six digits, NUL, space).
fn seal(mut h: [u8; BLOCK]) -> [u8; BLOCK] {
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn push(out: &mut Vec<u8>, h: [u8; BLOCK], data: &[u8]) {
    out.extend_from_slice(&seal(h));
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(BLOCK), 0);
}

fn file(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    push(
        out,
        header(name.as_bytes(), b'0', data.len() as u64, false),
        data,
    );
}

fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}").len() + body.len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

fn pax(out: &mut Vec<u8>, kind: u8, records: &[(&str, &str)]) {
    let data: String = records.iter().map(|(k, v)| pax_record(k, v)).collect();
    let h = header(b"./PaxHeaders/x", kind, data.len() as u64, false);
    push(out, h, data.as_bytes());
}

fn end(out: &mut Vec<u8>, zero_blocks: usize) {
    out.resize(out.len() + zero_blocks * BLOCK, 0);
}

fn long_name(n: usize) -> String {
    let mut s = String::from("deep/");
    while s.len() < n {
        s.push_str("very-long-directory-name/");
    }
    s.push_str("file.txt");
    s
}

// ---- the tars ----

fn gnu_long(out: &mut Vec<u8>, kind: u8, text: &str) {
    let mut data = text.as_bytes().to_vec();
    data.push(0);
    let h = header(b"././@LongLink", kind, data.len() as u64, true);
    push(out, h, &data);
}

/// GNU long names and long link targets ('L' and 'K'), as GNU tar writes them.
fn gnu_long_names() -> Vec<u8> {
    let name = long_name(180);
    let link = long_name(150);
    let mut t = Vec::new();
    gnu_long(&mut t, b'L', &name);
    let mut h = header(&name.as_bytes()[..100], b'0', 5, true);
    octal(&mut h[100..108], 0o600);
    push(&mut t, h, b"long\n");
    gnu_long(&mut t, b'L', "deep/sym");
    gnu_long(&mut t, b'K', &link);
    push(&mut t, header(b"deep/sym", b'2', 0, true), b"");
    end(&mut t, 2);
    t
}

/// PAX: a global header, a long path with extra records (fractional time, a comment, a
/// vendor key), and a ustar prefix/name split.
fn pax_extras() -> Vec<u8> {
    let name = long_name(220);
    let mut t = Vec::new();
    pax(&mut t, b'g', &[("comment", "made by hand")]);
    pax(
        &mut t,
        b'x',
        &[
            ("path", &name),
            ("mtime", "1700000000.123456789"),
            ("comment", "not berth"),
            ("BERTH.vendor", "x"),
        ],
    );
    push(
        &mut t,
        header(b"truncated-name", b'0', 7, false),
        b"content",
    );
    let mut h = header(b"in-prefix.txt", b'0', 3, false);
    h[345..345 + 10].copy_from_slice(b"pre/fix/dd");
    push(&mut t, h, b"abc");
    // A PAX size record overriding the header's size field.
    pax(&mut t, b'x', &[("size", "11")]);
    push(
        &mut t,
        header(b"pax-size.txt", b'0', 0, false),
        b"eleven byte",
    );
    end(&mut t, 2);
    t
}

/// Odd modes, times and number formats; a hardlink, a symlink, an empty file, directories,
/// `./` and `/` prefixes, and a file written through a symlinked directory of the same tar.
fn odd_entries() -> Vec<u8> {
    let mut t = Vec::new();
    let mut d = header(b"./dir/", b'5', 0, false);
    octal(&mut d[100..108], 0o1777);
    push(&mut t, d, b"");
    let mut h = header(b"/dir/setuid", b'0', 4, false);
    octal(&mut h[100..108], 0o4755);
    base256(&mut h[136..148], (1 << 34) + 7);
    push(&mut t, h, b"suid");
    // Space-terminated octal, as old tars write it.
    let mut h = header(b"dir/spaces", b'0', 2, false);
    h[100..108].copy_from_slice(b"   640 \0");
    h[124..136].copy_from_slice(b"          2 ");
    h[136..148].copy_from_slice(b"          0 ");
    push(&mut t, h, b"hi");
    let mut h = header(b"dir/hard", b'1', 0, false);
    h[157..157 + 10].copy_from_slice(b"dir/setuid");
    push(&mut t, h, b"");
    let mut h = header(b"dir/sym", b'2', 0, false);
    h[157..157 + 6].copy_from_slice(b"setuid");
    push(&mut t, h, b"");
    push(&mut t, header(b"dir/empty", b'0', 0, false), b"");
    push(&mut t, header(b"contig", b'7', 3, false), b"777");
    push(&mut t, header(b"real", b'5', 0, false), b"");
    let mut h = header(b"link", b'2', 0, false);
    h[157..157 + 4].copy_from_slice(b"real");
    push(&mut t, h, b"");
    file(&mut t, "link/inside.txt", b"through a symlinked dir");
    end(&mut t, 2);
    t
}

/// A few MB: zeros, data, zeros; the size in base-256; extra zero blocks and junk at the end.
fn big_file_and_trailing() -> Vec<u8> {
    let mut data = vec![0u8; 3 << 20];
    let mut x: u32 = 1;
    for b in &mut data[1 << 20..2 << 20] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 24) as u8;
    }
    data.extend_from_slice(b"tail");
    let mut t = Vec::new();
    let mut h = header(b"big.bin", b'0', 0, true);
    base256(&mut h[124..136], data.len() as u64);
    push(&mut t, h, &data);
    file(&mut t, "after-big", b"x");
    end(&mut t, 20);
    t.extend_from_slice(b"trailing bytes that are not a tar block");
    t
}

fn whiteouts() -> Vec<u8> {
    let mut t = Vec::new();
    push(&mut t, header(b"dir/.wh.setuid", b'0', 0, false), b"");
    push(&mut t, header(b"real/.wh..wh..opq", b'0', 0, false), b"");
    file(&mut t, "real/new", b"new content");
    file(&mut t, "dir/spaces", b"replaced");
    end(&mut t, 2);
    t
}

fn handmade(kind: Kind) {
    let mut env = Env::new(kind);
    let base = env.roundtrip(None, &odd_entries());
    let top = env.roundtrip(Some(&base), &whiteouts());
    let tars = [gnu_long_names(), pax_extras(), big_file_and_trailing()];
    let mut layers = vec![base, top];
    let mut parent = layers[1].clone();
    for tar in &tars {
        parent = env.roundtrip(Some(&parent), tar);
        layers.push(parent.clone());
    }
    // berth's own rebuild would not give these back.
    let l = &layers[3];
    let mut rebuilt = Vec::new();
    let d = env.store().driver().clone();
    let parent_cache = env
        .store()
        .get(l.parent.as_ref().unwrap())
        .unwrap()
        .cache_id;
    d.diff(&l.cache_id, Some(&parent_cache), &mut rebuilt)
        .unwrap();
    assert_ne!(Digest::of(&rebuilt), l.diff_id);

    // The tar-split is kept beside the metadata and survives a restart.
    for l in &layers {
        let split = env
            .root()
            .join("sha256")
            .join(l.chain_id.hex())
            .join("tar-split.zst");
        assert!(split.is_file(), "{} has a tar-split", l.chain_id);
    }
    let before: Vec<Vec<u8>> = layers.iter().map(|l| env.export(l)).collect();
    env.reopen();
    for (l, bytes) in layers.iter().zip(&before) {
        assert_same(&env.export(l), bytes);
        assert_eq!(Digest::of(bytes), l.diff_id);
    }
}

#[test]
fn handmade_tars_export_byte_for_byte_vfs() {
    handmade(Kind::Vfs);
}

#[test]
fn handmade_tars_export_byte_for_byte_overlay() {
    handmade(Kind::Overlay);
}

// ---- real layers ----

const FIXTURES: &str = "/work/shared/fixtures";

/// The members of a tar file, by name.
fn members(path: &Path) -> std::collections::HashMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = std::collections::HashMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn fixture_layers(kind: Kind) {
    let env = Env::new(kind);
    // docker save: plain layer.tar files, in manifest order.
    let m = members(&Path::new(FIXTURES).join("docker-save-2layer.tar"));
    let manifest: serde_json::Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
    let mut parent: Option<Layer> = None;
    for name in manifest[0]["Layers"].as_array().unwrap() {
        let tar = &m[name.as_str().unwrap()];
        parent = Some(env.roundtrip(parent.as_ref(), tar));
    }
    // OCI layout: gzip blobs; the diff IDs come from the config.
    let m = members(&Path::new(FIXTURES).join("oci-layout-2layer.tar"));
    let blob = |d: &str| &m[&format!("blobs/sha256/{}", d.trim_start_matches("sha256:"))];
    let index: serde_json::Value = serde_json::from_slice(&m["index.json"]).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let mut parent: Option<Layer> = None;
    for (i, l) in manifest["layers"].as_array().unwrap().iter().enumerate() {
        let gz = blob(l["digest"].as_str().unwrap());
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let layer = env
            .store()
            .register(parent.as_ref().map(|p| &p.chain_id), &gz[..])
            .unwrap();
        let want = config["rootfs"]["diff_ids"][i].as_str().unwrap();
        assert_eq!(layer.diff_id.as_str(), want);
        assert_eq!(Digest::of(&env.export(&layer)).as_str(), want);
        parent = Some(layer);
    }
}

#[test]
fn real_layers_export_byte_for_byte_vfs() {
    fixture_layers(Kind::Vfs);
}

#[test]
fn real_layers_export_byte_for_byte_overlay() {
    fixture_layers(Kind::Overlay);
}

// ---- failures, duplicates, old layers, commits ----

fn tampered(kind: Kind) {
    let env = Env::new(kind);
    let mut t = Vec::new();
    file(&mut t, "a.txt", b"hello");
    file(&mut t, "b.txt", b"world");
    end(&mut t, 2);
    let layer = env.roundtrip(None, &t);
    let d = env.store().driver().clone();
    let edit = |name: &str, content: &[u8]| {
        let root = d.get(&layer.cache_id).unwrap();
        std::fs::write(root.join(name), content).unwrap();
        d.put(&layer.cache_id).unwrap();
    };
    let export_err = || {
        let mut out = Vec::new();
        match env.store().export(&layer.chain_id, &mut out) {
            Err(StorageError::Archive(msg)) => msg,
            other => panic!("export of a tampered layer: {other:?}"),
        }
    };
    // Same size, other bytes: the hash check catches it.
    edit("a.txt", b"HELLO");
    let msg = export_err();
    assert!(msg.contains("diff ID") && msg.contains("changed"), "{msg}");
    // Another size: caught before anything of the file is written.
    edit("a.txt", b"hello");
    assert_same(&env.export(&layer), &t);
    edit("b.txt", b"a longer world");
    let msg = export_err();
    assert!(msg.contains("/b.txt") && msg.contains("14 bytes"), "{msg}");
    // Gone altogether.
    let root = d.get(&layer.cache_id).unwrap();
    std::fs::remove_file(root.join("b.txt")).unwrap();
    d.put(&layer.cache_id).unwrap();
    let mut out = Vec::new();
    let err = env.store().export(&layer.chain_id, &mut out).unwrap_err();
    assert!(err.to_string().contains("b.txt"), "{err}");
}

#[test]
fn a_tampered_layer_fails_export_clearly_vfs() {
    tampered(Kind::Vfs);
}

#[test]
fn a_tampered_layer_fails_export_clearly_overlay() {
    tampered(Kind::Overlay);
}

#[test]
fn a_second_registration_keeps_the_first_tar_split() {
    let env = Env::new(Kind::Vfs);
    let tar = pax_extras();
    let first = env.roundtrip(None, &tar);
    let split = env
        .root()
        .join("sha256")
        .join(first.chain_id.hex())
        .join("tar-split.zst");
    let before = std::fs::read(&split).unwrap();
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&split).unwrap());
    let again = env.roundtrip(None, &tar);
    assert_eq!(again, first);
    assert_eq!(env.store().refs(&first.chain_id), 2);
    assert_eq!(std::fs::read(&split).unwrap(), before);
    let ino2 = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&split).unwrap());
    assert_eq!(ino, ino2);
    assert!(std::fs::read_dir(env.root().join("tmp"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn a_layer_without_tar_split_falls_back_to_its_files() {
    let mut env = Env::new(Kind::Vfs);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_size(2);
    b.append_data(&mut h, "f", &b"hi"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let layer = env.roundtrip(None, &tar);
    let split = env
        .root()
        .join("sha256")
        .join(layer.chain_id.hex())
        .join("tar-split.zst");
    std::fs::remove_file(split).unwrap();
    env.reopen();
    let out = env.export(&layer);
    let names: Vec<String> = tar::Archive::new(&out[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.contains(&"f".to_string()), "{names:?}");
}

#[test]
fn a_committed_layer_exports_byte_for_byte() {
    let env = Env::new(Kind::Vfs);
    let base = env.roundtrip(None, &odd_entries());
    env.store()
        .create_container("c1", Some(&base.chain_id), |_| Ok(()))
        .unwrap();
    let rootfs = env.store().mount_container("c1").unwrap();
    std::fs::write(rootfs.join("new.txt"), b"committed").unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(rootfs.join("contig"))
        .unwrap();
    f.write_all(b"more").unwrap();
    drop(f);
    env.store().unmount_container("c1").unwrap();
    let layer = env.store().commit_container("c1").unwrap();
    let out = env.export(&layer);
    assert_eq!(Digest::of(&out), layer.diff_id);
    env.store().remove_container("c1").unwrap();
}

/// The size of a layer's tar-split.
fn split_len(env: &Env, l: &Layer) -> u64 {
    let p = env
        .root()
        .join("sha256")
        .join(l.chain_id.hex())
        .join("tar-split.zst");
    std::fs::metadata(p).unwrap().len()
}

#[test]
fn file_contents_are_left_out_and_read_at_the_path_the_applier_used() {
    let env = Env::new(Kind::Vfs);
    let big = big_file_and_trailing();
    let l = env.roundtrip(None, &big);
    assert!(split_len(&env, &l) < 4096, "{}", split_len(&env, &l));
    let m = members(&Path::new(FIXTURES).join("docker-save-2layer.tar"));
    let manifest: serde_json::Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
    let tar = &m[manifest[0]["Layers"][0].as_str().unwrap()];
    let l = env.roundtrip(None, tar);
    assert!(split_len(&env, &l) * 10 < tar.len() as u64);

    let odd = env.roundtrip(None, &odd_entries());
    let gnu = env.roundtrip(Some(&odd), &gnu_long_names());
    let pax = env.roundtrip(Some(&gnu), &pax_extras());
    let d = env.store().driver().clone();
    let cases = [
        (&odd, "dir/setuid", "dir/setuid"),
        (&odd, "real/inside.txt", "link/inside.txt"),
        (&odd, "contig", "contig"),
        (&gnu, &*long_name(180), &*long_name(180)),
        (&pax, &*long_name(220), &*long_name(220)),
        (&pax, "pre/fix/dd/in-prefix.txt", "pre/fix/dd/in-prefix.txt"),
        (&pax, "pax-size.txt", "pax-size.txt"),
    ];
    for (layer, on_disk, shown) in cases {
        let root = d.get(&layer.cache_id).unwrap();
        let path = root.join(on_disk);
        let keep = std::fs::read(&path).unwrap();
        std::fs::write(&path, b"another size altogether!!").unwrap();
        let mut out = Vec::new();
        let err = env.store().export(&layer.chain_id, &mut out).unwrap_err();
        assert!(
            err.to_string().contains(&format!("/{shown} is 25 bytes")),
            "{on_disk}: {err}"
        );
        std::fs::write(&path, keep).unwrap();
        d.put(&layer.cache_id).unwrap();
        env.export(layer);
    }
}
