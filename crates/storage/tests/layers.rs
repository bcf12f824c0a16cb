//! The layer store: diff and chain IDs computed while streaming, gzip/zstd/plain input,
//! reference counts, container init and read-write layers, commit, and no partial layer after a
//! failed registration. Real images: layers saved by Docker and copied by skopeo.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_storage::drivers::vfs::Vfs;
use berth_storage::layer::{Digest, LayerStore};
use berth_storage::{ChangeKind, Driver};

const FIXTURE_DIFF_IDS: [&str; 2] = [
    "sha256:d1dca514726ed3a3b40b715c3c290d2a8725b20cc7f2694c8d03ff88d257c481",
    "sha256:97ccc69c603fe76207b33f1bbd88e5d25009e600f2931cf4ea62dc799d2437ac",
];

struct Fixture {
    _dir: tempfile::TempDir,
    store: LayerStore,
    root: PathBuf,
}

fn store() -> Fixture {
    berth_testutil::require_root();
    let dir = tempfile::Builder::new()
        .prefix("berth-layers-")
        .tempdir()
        .unwrap();
    let driver: Arc<dyn Driver> = Arc::new(Vfs::new(&dir.path().join("storage/vfs")).unwrap());
    let root = dir.path().join("layers");
    let store = LayerStore::open(&root, driver).unwrap();
    Fixture {
        _dir: dir,
        store,
        root,
    }
}

fn simple_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(content.len() as u64);
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The entries of a tar file, by name.
fn tar_entries(path: &Path) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn fixture(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name);
    assert!(
        p.exists(),
        "fixture {} is missing: the tests need ../shared beside the repository",
        p.display()
    );
    p
}

#[test]
fn plain_gzip_and_zstd_give_the_same_diff_id() {
    let f = store();
    let plain = simple_tar(&[("hello", "world")]);
    let expected = Digest::of(&plain);
    let a = f.store.register(None, &plain[..]).unwrap();
    let b = f.store.register(None, &gzip(&plain)[..]).unwrap();
    let c = f
        .store
        .register(None, &zstd::encode_all(&plain[..], 3).unwrap()[..])
        .unwrap();
    for layer in [&a, &b, &c] {
        assert_eq!(layer.diff_id, expected);
        assert_eq!(
            layer.chain_id, expected,
            "a base layer's chain ID is its diff ID"
        );
    }
    assert_eq!(
        f.store.refs(&expected),
        3,
        "the same content registered three times is one layer"
    );
    assert_eq!(f.store.list().len(), 1);
    for _ in 0..2 {
        assert!(f.store.release(&expected).unwrap().is_empty());
    }
    assert_eq!(f.store.release(&expected).unwrap(), vec![expected.clone()]);
    assert!(f.store.list().is_empty());
}

#[test]
fn docker_saved_layers_get_dockers_diff_ids() {
    let f = store();
    let entries = tar_entries(&fixture("docker-save-2layer.tar"));
    let manifest: serde_json::Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    let mut parent: Option<Digest> = None;
    for (i, layer_path) in manifest[0]["Layers"].as_array().unwrap().iter().enumerate() {
        let data = &entries[layer_path.as_str().unwrap()];
        let layer = f.store.register(parent.as_ref(), &data[..]).unwrap();
        assert_eq!(layer.diff_id.as_str(), FIXTURE_DIFF_IDS[i]);
        assert_eq!(
            layer.chain_id,
            Digest::chain(parent.as_ref(), &layer.diff_id)
        );
        parent = Some(layer.chain_id);
    }
    // The top layer's view: the file it added, and the whiteout of /bin/vi applied.
    let top = f.store.get(parent.as_ref().unwrap()).unwrap();
    let view = f.store.driver().get(&top.cache_id).unwrap();
    assert_eq!(
        std::fs::read_to_string(view.join("opt/fixture/message"))
            .unwrap()
            .trim(),
        "loaded from a docker archive"
    );
    assert!(
        std::fs::symlink_metadata(view.join("bin/vi")).is_err(),
        "the whiteout of /bin/vi was not applied"
    );
    assert!(std::fs::symlink_metadata(view.join("bin/sh")).is_ok());
    f.store.driver().put(&top.cache_id).unwrap();
}

#[test]
fn gzip_layers_from_an_oci_layout_get_the_same_diff_ids() {
    let f = store();
    let entries = tar_entries(&fixture("oci-layout-2layer.tar"));
    let blob =
        |digest: &str| &entries[&format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))];
    let index: serde_json::Value = serde_json::from_slice(&entries["index.json"]).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let mut parent: Option<Digest> = None;
    for (i, layer) in manifest["layers"].as_array().unwrap().iter().enumerate() {
        let data = blob(layer["digest"].as_str().unwrap());
        assert_eq!(&data[..2], &[0x1f, 0x8b], "skopeo wrote gzip layers");
        let registered = f.store.register(parent.as_ref(), &data[..]).unwrap();
        assert_eq!(registered.diff_id.as_str(), FIXTURE_DIFF_IDS[i]);
        parent = Some(registered.chain_id);
    }
}

#[test]
fn a_failed_registration_leaves_no_layer() {
    let f = store();
    let good = gzip(&simple_tar(&[("a", &"x".repeat(100_000))]));
    let truncated = &good[..good.len() / 2];
    assert!(f.store.register(None, truncated).is_err());
    assert!(f.store.list().is_empty());
    for dir in ["pending", "tmp", "sha256"] {
        assert_eq!(
            std::fs::read_dir(f.root.join(dir)).unwrap().count(),
            0,
            "{dir} is not empty"
        );
    }
    let vfs_layers = f._dir.path().join("storage/vfs/dir");
    let left = std::fs::read_dir(&vfs_layers)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "the driver kept the half-applied layer");
    // A parent that doesn't exist is refused before anything is made.
    let missing = Digest::of(b"nope");
    assert!(f
        .store
        .register(Some(&missing), &simple_tar(&[("a", "b")])[..])
        .is_err());
}

#[test]
fn layers_survive_a_reopen_and_an_interrupted_registration_is_cleaned() {
    let dir = tempfile::Builder::new()
        .prefix("berth-layers-")
        .tempdir()
        .unwrap();
    let driver: Arc<dyn Driver> = Arc::new(Vfs::new(&dir.path().join("vfs")).unwrap());
    let root = dir.path().join("layers");
    let base = {
        let store = LayerStore::open(&root, driver.clone()).unwrap();
        let base = store
            .register(None, &simple_tar(&[("a", "1")])[..])
            .unwrap();
        store
            .register(Some(&base.chain_id), &simple_tar(&[("b", "2")])[..])
            .unwrap();
        // As if berthd died mid-registration: a pending driver layer with no metadata.
        driver.create("halfway", None).unwrap();
        std::fs::write(root.join("pending/halfway"), b"").unwrap();
        base
    };
    let store = LayerStore::open(&root, driver.clone()).unwrap();
    assert_eq!(store.list().len(), 2);
    assert_eq!(
        store.refs(&base.chain_id),
        2,
        "the base is held by its registration and its child"
    );
    assert!(
        !driver.exists("halfway"),
        "the interrupted layer was not removed"
    );
}

#[test]
fn container_layers_changes_and_commit() {
    let f = store();
    let image = f
        .store
        .register(
            None,
            &simple_tar(&[("etc/os-release", "busybox"), ("bin/tool", "#!")])[..],
        )
        .unwrap();
    let c = f
        .store
        .create_container("c1", Some(&image.chain_id), |init| {
            std::fs::create_dir_all(init.join("etc")).unwrap();
            std::fs::write(init.join("etc/hostname"), "c1\n").unwrap();
            Ok(())
        })
        .unwrap();
    assert_eq!(
        f.store.refs(&image.chain_id),
        2,
        "the container holds the image's top layer"
    );
    let rootfs = f.store.mount_container("c1").unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/hostname")).unwrap(),
        "c1\n"
    );
    std::fs::write(rootfs.join("created"), "by the container").unwrap();
    std::fs::remove_file(rootfs.join("bin/tool")).unwrap();
    f.store.unmount_container("c1").unwrap();

    let changes = f.store.container_changes("c1").unwrap();
    let listed = |p: &str, k| {
        changes
            .iter()
            .any(|c| c.path == Path::new(p) && c.kind == k)
    };
    assert!(listed("/created", ChangeKind::Added), "{changes:?}");
    assert!(listed("/bin/tool", ChangeKind::Deleted), "{changes:?}");
    assert!(
        !changes.iter().any(|c| c.path == Path::new("/etc/hostname")),
        "the init layer's files are not the container's changes: {changes:?}"
    );

    let committed = f.store.commit_container("c1").unwrap();
    assert_eq!(committed.parent.as_ref(), Some(&image.chain_id));
    let mut tar = Vec::new();
    f.store.export(&committed.chain_id, &mut tar).unwrap();
    assert_eq!(
        Digest::of(&tar),
        committed.diff_id,
        "export gives back the registered bytes"
    );
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"created".to_string()), "{names:?}");
    assert!(names.contains(&"bin/.wh.tool".to_string()), "{names:?}");

    f.store.remove_container("c1").unwrap();
    assert!(f.store.container("c1").is_err());
    assert!(!f.store.driver().exists(&c.rw_id) && !f.store.driver().exists(&c.init_id));
    f.store.release(&committed.chain_id).unwrap();
    assert_eq!(
        f.store.release(&image.chain_id).unwrap(),
        vec![image.chain_id.clone()]
    );
    assert!(f.store.list().is_empty());
}
