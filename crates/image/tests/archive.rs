//! save/load: the fixtures Docker and skopeo wrote load with the IDs and tags they reported;
//! berth's own archives round-trip and are byte-stable; broken archives are refused with a clear
//! error and leave the store as it was.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use berth_image::archive::{self, ArchiveFormat};
use berth_image::{Digest, ImageError, ImageStore, Reference};
use berth_storage::drivers::vfs::Vfs;
use berth_storage::layer::LayerStore;
use berth_storage::Driver;

const FIXTURES: &str = "/work/shared/fixtures";
const IMAGE_ID: &str = "sha256:762bfdf310f91da543f06133615ea20fb16e1e122326ca88b6ce7f32d97fd4cb";
const DIFF_IDS: [&str; 2] = [
    "sha256:d1dca514726ed3a3b40b715c3c290d2a8725b20cc7f2694c8d03ff88d257c481",
    "sha256:97ccc69c603fe76207b33f1bbd88e5d25009e600f2931cf4ea62dc799d2437ac",
];
const TAG: &str = "fixture/busybox:2layer";

struct Fixture {
    _dir: tempfile::TempDir,
    store: ImageStore,
}

fn store() -> Fixture {
    berth_testutil::require_root();
    let dir = tempfile::Builder::new()
        .prefix("berth-archive-")
        .tempdir()
        .unwrap();
    let driver: Arc<dyn Driver> = Arc::new(Vfs::new(&dir.path().join("storage/vfs")).unwrap());
    let layers = Arc::new(LayerStore::open(&dir.path().join("layers"), driver).unwrap());
    let store = ImageStore::open(dir.path(), layers).unwrap();
    Fixture { _dir: dir, store }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn diff_ids(store: &ImageStore, id: &Digest) -> Vec<String> {
    store.get(id).unwrap().config.rootfs.diff_ids
}

fn save(store: &ImageStore, names: &[&str], format: ArchiveFormat) -> Vec<u8> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    archive::save(store, &names, format, &mut out).unwrap();
    out
}

/// (path, kind, link target, data) of every entry of a tar.
type Entries = Vec<(String, tar::EntryType, String, Vec<u8>)>;

fn entries(tar_bytes: &[u8]) -> Entries {
    let mut a = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let kind = e.header().entry_type();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((path, kind, link, data));
    }
    out
}

fn build(entries: &Entries) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        if kind.is_symlink() || kind.is_hard_link() {
            // set_link_name refuses nothing: escaping targets are exactly what we test.
            h.set_link_name_literal(link).unwrap();
        }
        h.set_path(path).unwrap_or_else(|_| {
            let name = h.as_old_mut();
            name.name[..path.len()].copy_from_slice(path.as_bytes());
        });
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn find<'a>(entries: &'a mut Entries, path: &str) -> &'a mut Vec<u8> {
    &mut entries
        .iter_mut()
        .find(|e| e.0 == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .3
}

#[test]
fn the_docker_fixture_loads_with_dockers_id_and_tag() {
    let f = store();
    let report = archive::load(&f.store, &fixture("docker-save-2layer.tar")[..]).unwrap();
    assert_eq!(report.format, Some(ArchiveFormat::Docker));
    assert_eq!(report.images.len(), 1);
    let image = &report.images[0];
    assert_eq!(image.id.as_str(), IMAGE_ID);
    assert_eq!(image.tags, vec![Reference::parse_tagged(TAG).unwrap()]);
    assert_eq!(report.lines(), vec![format!("Loaded image: {TAG}")]);
    assert_eq!(f.store.resolve(TAG).unwrap(), image.id);
    assert_eq!(diff_ids(&f.store, &image.id), DIFF_IDS);
    let top = f.store.get(&image.id).unwrap().top_layer.unwrap();
    assert_eq!(
        f.store.layers().refs(&top),
        1,
        "only the image holds its top layer after a load"
    );
    assert_eq!(f.store.layers().list().len(), 2);
    // Loading again changes nothing.
    archive::load(&f.store, &fixture("docker-save-2layer.tar")[..]).unwrap();
    assert_eq!(f.store.layers().refs(&top), 1);
    assert_eq!(f.store.list().len(), 1);
}

#[test]
fn the_oci_fixture_loads_with_the_same_diff_ids() {
    let f = store();
    let report = archive::load(&f.store, &fixture("oci-layout-2layer.tar")[..]).unwrap();
    assert_eq!(report.format, Some(ArchiveFormat::Oci));
    assert_eq!(report.images.len(), 1);
    let image = &report.images[0];
    assert_eq!(image.tags, vec![Reference::parse_tagged(TAG).unwrap()]);
    assert_eq!(diff_ids(&f.store, &image.id), DIFF_IDS);
    assert_eq!(f.store.resolve(TAG).unwrap(), image.id);
}

#[test]
fn a_saved_docker_archive_is_laid_out_as_docker_wrote_the_fixture() {
    let f = store();
    let original = fixture("docker-save-2layer.tar");
    archive::load(&f.store, &original[..]).unwrap();
    let saved = save(&f.store, &[TAG], ArchiveFormat::Docker);
    let ours = entries(&saved);
    let theirs = entries(&original);
    let names = |e: &Entries| e.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&ours),
        names(&theirs),
        "same entries, same v1 IDs, same order"
    );
    for ((path, _, _, a), (_, _, _, b)) in ours.iter().zip(&theirs) {
        if path.ends_with("layer.tar") {
            assert_eq!(Digest::of(a), Digest::of(b), "{path}: same diff ID");
        } else {
            assert_eq!(
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b),
                "{path}"
            );
        }
    }
}

#[test]
fn saves_round_trip_and_are_byte_stable() {
    for format in [ArchiveFormat::Docker, ArchiveFormat::Oci] {
        let f = store();
        let id = archive::load(&f.store, &fixture("docker-save-2layer.tar")[..])
            .unwrap()
            .images[0]
            .id
            .clone();
        let first = save(&f.store, &[TAG], format);
        assert_eq!(
            first,
            save(&f.store, &[TAG], format),
            "{format:?}: two saves differ"
        );
        let by_id = save(&f.store, &[&id.as_str()[7..19]], format);
        let h = store();
        let untagged = archive::load(&h.store, &by_id[..]).unwrap();
        assert_eq!(untagged.images[0].id, id);
        assert!(
            untagged.images[0].tags.is_empty(),
            "{format:?}: saved by ID, loaded without tags"
        );
        assert_eq!(untagged.lines(), vec![format!("Loaded image ID: {id}")]);
        let g = store();
        let report = archive::load(&g.store, &first[..]).unwrap();
        assert_eq!(report.format, Some(format));
        assert_eq!(report.images[0].id, id, "{format:?}: the image ID survives");
        assert_eq!(
            report.images[0].tags,
            vec![Reference::parse_tagged(TAG).unwrap()]
        );
        assert_eq!(diff_ids(&g.store, &id), DIFF_IDS);
        assert_eq!(
            save(&g.store, &[TAG], format),
            first,
            "{format:?}: saved again elsewhere, the bytes differ"
        );
    }
}

#[test]
fn saving_a_repository_name_takes_all_its_tags() {
    let f = store();
    let id = archive::load(&f.store, &fixture("docker-save-2layer.tar")[..])
        .unwrap()
        .images[0]
        .id
        .clone();
    f.store
        .tag(
            &id,
            &Reference::parse_tagged("fixture/busybox:other").unwrap(),
        )
        .unwrap();
    f.store
        .tag(&id, &Reference::parse_tagged("elsewhere:1").unwrap())
        .unwrap();
    let saved = save(&f.store, &["fixture/busybox"], ArchiveFormat::Docker);
    let manifest: serde_json::Value =
        serde_json::from_slice(find(&mut entries(&saved), "manifest.json")).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["fixture/busybox:2layer", "fixture/busybox:other"])
    );
    let repos: serde_json::Value =
        serde_json::from_slice(find(&mut entries(&saved), "repositories")).unwrap();
    assert_eq!(
        repos["fixture/busybox"]["other"],
        repos["fixture/busybox"]["2layer"]
    );
    let err = archive::save(
        &f.store,
        &["nothing:here".to_string()],
        ArchiveFormat::Oci,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::NotFound(_)), "{err}");
}

/// Loads `bytes`, expecting a refusal whose message holds `expect`, then checks that the store
/// holds nothing: no image, no layer, no blob.
fn refused(bytes: &[u8], expect: &str) {
    let f = store();
    let err = archive::load(&f.store, bytes).unwrap_err();
    assert!(
        matches!(err, ImageError::Archive(_)),
        "{expect}: not an archive error: {err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(expect), "{msg:?} does not say {expect:?}");
    assert!(f.store.list().is_empty(), "{expect}: an image was left");
    assert!(
        f.store.layers().list().is_empty(),
        "{expect}: layers were left"
    );
    assert!(
        f.store.content().list().unwrap().is_empty(),
        "{expect}: blobs were left"
    );
    let blobs: Vec<_> = std::fs::read_dir(f._dir.path().join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        blobs,
        vec![std::ffi::OsString::from("sha256")],
        "{expect}: the load's temp dir was left"
    );
}

const LAYER2: &str = "7d3861ded5f8d711e71d5daf10a8fd60d2e4e1ab1ede32a966ca7012b4df99b0/layer.tar";

#[test]
fn a_missing_layer_is_refused() {
    let mut e = entries(&fixture("docker-save-2layer.tar"));
    e.retain(|e| e.0 != LAYER2);
    refused(&build(&e), &format!("{LAYER2} is missing from the archive"));
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_refused_and_released() {
    let mut e = entries(&fixture("docker-save-2layer.tar"));
    // A valid tar, just not the one the config names: the first layer registers, then goes.
    let mut other = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    other
        .append_data(&mut h, "intruder", &b"hello"[..])
        .unwrap();
    *find(&mut e, LAYER2) = other.into_inner().unwrap();
    refused(
        &build(&e),
        &format!("but the image config says {}", DIFF_IDS[1]),
    );
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused() {
    let mut e = entries(&fixture("oci-layout-2layer.tar"));
    let config = "blobs/sha256/d9df59b94a09be5adbcbc30c0456847953ddce63fd10c831e4e8b25e8e9f40f3";
    let blob = find(&mut e, config);
    let text = String::from_utf8(blob.clone())
        .unwrap()
        .replace("FIXTURE=yes", "FIXTURE=no!");
    *blob = text.into_bytes();
    refused(&build(&e), "does not match its digest");
}

#[test]
fn an_oci_layout_without_a_config_blob_is_refused() {
    let mut e = entries(&fixture("oci-layout-2layer.tar"));
    e.retain(|e| {
        !e.0.ends_with("d9df59b94a09be5adbcbc30c0456847953ddce63fd10c831e4e8b25e8e9f40f3")
    });
    refused(&build(&e), "is missing from the archive");
}

#[test]
fn a_truncated_archive_is_refused() {
    let bytes = fixture("docker-save-2layer.tar");
    refused(&bytes[..bytes.len() / 2], "truncated");
    refused(&bytes[..1000], "truncated");
}

#[test]
fn manifest_paths_outside_the_archive_are_refused() {
    let mut e = entries(&fixture("docker-save-2layer.tar"));
    let m = find(&mut e, "manifest.json");
    *m = String::from_utf8(m.clone())
        .unwrap()
        .replace(LAYER2, "../x")
        .into_bytes();
    refused(&build(&e), "points outside the archive");
    let mut e = entries(&fixture("docker-save-2layer.tar"));
    let m = find(&mut e, "manifest.json");
    *m = String::from_utf8(m.clone())
        .unwrap()
        .replace(LAYER2, "/etc/passwd")
        .into_bytes();
    refused(&build(&e), "points outside the archive");
}

#[test]
fn entries_and_links_outside_the_archive_are_refused() {
    let mut e = entries(&fixture("docker-save-2layer.tar"));
    e.retain(|e| e.0 != LAYER2);
    e.push((
        LAYER2.into(),
        tar::EntryType::Symlink,
        "../../../etc/passwd".into(),
        Vec::new(),
    ));
    refused(&build(&e), "points outside the archive");
    let mut e = entries(&fixture("docker-save-2layer.tar"));
    e.push((
        "../escape".into(),
        tar::EntryType::Regular,
        String::new(),
        b"x".to_vec(),
    ));
    refused(&build(&e), "points outside the archive");
}

#[test]
fn an_in_archive_link_to_a_layer_is_followed() {
    // Older `docker save` links a layer it already wrote; such a link stays inside the archive.
    let mut e = entries(&fixture("docker-save-2layer.tar"));
    let data = std::mem::take(find(&mut e, LAYER2));
    e.retain(|e| e.0 != LAYER2);
    e.push((
        "elsewhere/layer.tar".into(),
        tar::EntryType::Regular,
        String::new(),
        data,
    ));
    e.push((
        LAYER2.into(),
        tar::EntryType::Symlink,
        "../elsewhere/layer.tar".into(),
        Vec::new(),
    ));
    let f = store();
    let report = archive::load(&f.store, &build(&e)[..]).unwrap();
    assert_eq!(report.images[0].id.as_str(), IMAGE_ID);
}

#[test]
fn garbage_is_refused() {
    refused(
        b"this is not a tar archive at all, just some words to read",
        "not a tar",
    );
    refused(&[0u8; 0], "empty");
    let e: Entries = vec![(
        "hello.txt".into(),
        tar::EntryType::Regular,
        String::new(),
        b"hi".to_vec(),
    )];
    refused(&build(&e), "neither a docker archive");
    let mut e = entries(&fixture("docker-save-2layer.tar"));
    *find(&mut e, "manifest.json") = b"{not json".to_vec();
    refused(&build(&e), "manifest.json is not valid");
}
