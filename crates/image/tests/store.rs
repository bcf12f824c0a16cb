//! The image store and the operations over it: import with --change, tag and resolve, commit,
//! history, inspect, rmi's conflicts, prune, list filters, export, and a reopen.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use berth_image::ops::{self, CommitOptions, ListFilters};
use berth_image::{Digest, ImageError, ImageStore, ImageUser, Reference, Removed};
use berth_storage::drivers::vfs::Vfs;
use berth_storage::layer::LayerStore;
use berth_storage::Driver;

struct Fixture {
    dir: tempfile::TempDir,
    store: ImageStore,
}

fn open(dir: &Path) -> ImageStore {
    let driver: Arc<dyn Driver> = Arc::new(Vfs::new(&dir.join("storage/vfs")).unwrap());
    let layers = Arc::new(LayerStore::open(&dir.join("layers"), driver).unwrap());
    ImageStore::open(dir, layers).unwrap()
}

fn fixture() -> Fixture {
    berth_testutil::require_root();
    let dir = tempfile::Builder::new()
        .prefix("berth-images-")
        .tempdir()
        .unwrap();
    let store = open(dir.path());
    Fixture { dir, store }
}

/// A small rootfs tar: busybox-like files, enough to tell images apart.
fn rootfs_tar(marker: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in [
        ("bin/sh", "#!fake shell"),
        ("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
        ("marker", marker),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_mtime(1_700_000_000);
        h.set_size(content.len() as u64);
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn import(store: &ImageStore, marker: &str, changes: &[&str]) -> Digest {
    let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
    ops::import(store, &rootfs_tar(marker)[..], &changes, None).unwrap()
}

fn nobody(_: &Digest) -> Vec<ImageUser> {
    Vec::new()
}

fn tag(store: &ImageStore, id: &Digest, name: &str) {
    store
        .tag(id, &Reference::parse_tagged(name).unwrap())
        .unwrap();
}

#[test]
fn import_applies_changes_and_inspect_has_dockers_shape() {
    let f = fixture();
    let id = import(
        &f.store,
        "one",
        &[
            "CMD [\"sh\"]",
            "ENV A=b",
            "WORKDIR /srv",
            "LABEL team=berth",
        ],
    );
    tag(&f.store, &id, "busybox:test");
    let config_bytes = f.store.config_bytes(&id).unwrap();
    assert_eq!(
        Digest::of(&config_bytes),
        id,
        "the image ID is the config's sha256"
    );
    let v = ops::inspect(&f.store, &id).unwrap();
    assert_eq!(v["Id"], id.to_string());
    assert_eq!(v["RepoTags"][0], "busybox:test");
    assert_eq!(v["Config"]["Cmd"][0], "sh");
    assert_eq!(v["Config"]["Env"][0], "A=b");
    assert_eq!(v["Config"]["WorkingDir"], "/srv");
    assert_eq!(v["Config"]["Labels"]["team"], "berth");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(v["Size"].as_u64().unwrap() > 0);
    let h = ops::history(&f.store, &id).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id, id.to_string());
    assert_eq!(h[0].comment, "Imported from -");
    assert_eq!(h[0].tags, vec!["busybox:test".to_string()]);
}

#[test]
fn a_bad_change_is_refused_and_nothing_is_kept() {
    let f = fixture();
    let err = ops::import(
        &f.store,
        &rootfs_tar("x")[..],
        &["RUN true".to_string()],
        None,
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::InvalidChange { .. }), "{err}");
    assert!(f.store.list().is_empty());
    assert!(
        f.store.layers().list().is_empty(),
        "the layer stayed behind"
    );
}

#[test]
fn images_resolve_by_tag_full_id_and_short_id() {
    let f = fixture();
    let id = import(&f.store, "one", &[]);
    tag(&f.store, &id, "busybox");
    tag(&f.store, &id, "localhost:5000/team/app:v1");
    assert_eq!(f.store.resolve("busybox").unwrap(), id);
    assert_eq!(f.store.resolve("busybox:latest").unwrap(), id);
    assert_eq!(
        f.store.resolve("docker.io/library/busybox:latest").unwrap(),
        id
    );
    assert_eq!(f.store.resolve("localhost:5000/team/app:v1").unwrap(), id);
    assert_eq!(f.store.resolve(id.as_str()).unwrap(), id);
    assert_eq!(f.store.resolve(&id.hex()[..12]).unwrap(), id);
    let missing = f.store.resolve("nothere:1").unwrap_err();
    assert_eq!(missing.to_string(), "No such image: nothere:1");
    assert!(matches!(
        f.store.resolve("Bad:Name").unwrap_err(),
        ImageError::InvalidReference(_)
    ));
}

#[test]
fn a_tag_that_looks_like_an_id_prefix_names_its_own_image() {
    let f = fixture();
    let a = import(&f.store, "one", &[]);
    let b = import(&f.store, "two", &[]);
    // Tag `a` with the first hex digit of `b`'s ID: the tag must win over the prefix.
    let prefix = &b.hex()[..1];
    tag(&f.store, &a, prefix);
    assert_eq!(f.store.resolve(prefix).unwrap(), a);
    assert_eq!(f.store.resolve(&b.hex()[..12]).unwrap(), b);
}

#[test]
fn commit_adds_a_layer_a_parent_and_history() {
    let f = fixture();
    let base = import(&f.store, "base", &["CMD [\"sh\"]"]);
    tag(&f.store, &base, "base");
    let top = f.store.get(&base).unwrap().top_layer;
    f.store
        .layers()
        .create_container("c1", top.as_ref(), |_| Ok(()))
        .unwrap();
    let root = f.store.layers().mount_container("c1").unwrap();
    std::fs::write(root.join("added-by-container"), "hi").unwrap();
    f.store.layers().unmount_container("c1").unwrap();
    let opts = CommitOptions {
        container_config: f.store.get(&base).unwrap().config.config.unwrap(),
        author: Some("Ada <ada@example.com>".into()),
        comment: Some("saved my work".into()),
        changes: vec!["ENV STAGE=committed".into()],
        created_by: "sh -c echo hi".into(),
    };
    let child = ops::commit(&f.store, "c1", Some(&base), opts).unwrap();
    let image = f.store.get(&child).unwrap();
    assert_eq!(image.parent.as_ref(), Some(&base));
    assert_eq!(image.config.rootfs.diff_ids.len(), 2);
    let v = ops::inspect(&f.store, &child).unwrap();
    assert_eq!(v["Author"], "Ada <ada@example.com>");
    assert_eq!(v["Comment"], "saved my work");
    assert_eq!(v["Parent"], base.to_string());
    assert_eq!(v["Config"]["Env"][0], "STAGE=committed");
    assert_eq!(
        v["Config"]["Cmd"][0], "sh",
        "the container's config is the base"
    );
    let h = ops::history(&f.store, &child).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].id, child.to_string());
    assert_eq!(h[0].created_by, "sh -c echo hi");
    assert_eq!(h[0].comment, "saved my work");
    assert!(h[0].size > 0);
    assert_eq!(h[1].id, base.to_string());
    assert_eq!(h[1].tags, vec!["base:latest".to_string()]);

    let mut tar = Vec::new();
    ops::export_container(&f.store, "c1", &mut tar).unwrap();
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["added-by-container", "marker", "bin/sh"] {
        assert!(
            names.iter().any(|n| n == expected),
            "export lacks {expected}: {names:?}"
        );
    }
    f.store.layers().remove_container("c1").unwrap();
}

#[test]
fn rmi_refuses_what_docker_refuses() {
    let f = fixture();
    let id = import(&f.store, "one", &[]);
    tag(&f.store, &id, "a:1");
    tag(&f.store, &id, "b:1");
    let running = |_: &Digest| {
        vec![ImageUser {
            container_id: "0123456789abcdef".into(),
            running: true,
        }]
    };
    let stopped = |_: &Digest| {
        vec![ImageUser {
            container_id: "0123456789abcdef".into(),
            running: false,
        }]
    };

    let err = f.store.remove(id.as_str(), true, &running).unwrap_err();
    assert!(
        err.to_string()
            .contains("(cannot be forced) - image is being used by running container 0123456789ab"),
        "{err}"
    );
    let err = f.store.remove(id.as_str(), false, &stopped).unwrap_err();
    assert!(
        err.to_string()
            .contains("(must be forced) - image is being used by stopped container"),
        "{err}"
    );
    let err = f.store.remove(id.as_str(), false, &nobody).unwrap_err();
    assert!(
        err.to_string()
            .contains("image is referenced in multiple repositories"),
        "{err}"
    );

    // By tag, with another tag left: only the tag goes.
    assert_eq!(
        f.store.remove("a:1", false, &nobody).unwrap(),
        vec![Removed::Untagged("a:1".into())]
    );
    let err = f.store.remove("b:1", false, &stopped).unwrap_err();
    assert!(
        err.to_string()
            .contains("unable to remove repository reference \"b:1\" (must force)"),
        "{err}"
    );
    let removed = f.store.remove("b:1", false, &nobody).unwrap();
    assert_eq!(
        removed,
        vec![
            Removed::Untagged("b:1".into()),
            Removed::Deleted(id.clone())
        ]
    );
    assert!(f.store.list().is_empty());
    assert!(
        f.store.layers().list().is_empty(),
        "the image's layer outlived it"
    );
    assert!(
        !f.store.content().exists(&id),
        "the config blob outlived the image"
    );
}

#[test]
fn parents_and_dangling_images_behave_as_in_docker() {
    let f = fixture();
    let base = import(&f.store, "base", &[]);
    let top = f.store.get(&base).unwrap().top_layer;
    f.store
        .layers()
        .create_container("c", top.as_ref(), |_| Ok(()))
        .unwrap();
    let child = ops::commit(&f.store, "c", Some(&base), CommitOptions::default()).unwrap();
    f.store.layers().remove_container("c").unwrap();
    tag(&f.store, &child, "child");
    let err = f.store.remove(base.as_str(), true, &nobody).unwrap_err();
    assert!(
        err.to_string().contains("image has dependent child images"),
        "{err}"
    );
    // Removing the child takes its untagged parent with it.
    let removed = f.store.remove("child", false, &nobody).unwrap();
    assert_eq!(
        removed,
        vec![
            Removed::Untagged("child:latest".into()),
            Removed::Deleted(child),
            Removed::Deleted(base)
        ]
    );
    assert!(f.store.layers().list().is_empty());
}

#[test]
fn prune_removes_dangling_images_only() {
    let f = fixture();
    let kept = import(&f.store, "kept", &[]);
    tag(&f.store, &kept, "kept");
    let dangling = import(&f.store, "dangling", &[]);
    let (deleted, freed) = f.store.prune(false, &nobody).unwrap();
    assert_eq!(deleted, vec![dangling]);
    assert!(freed > 0);
    assert_eq!(f.store.list().len(), 1);
    let (deleted, _) = f.store.prune(true, &nobody).unwrap();
    assert_eq!(deleted, vec![kept]);
}

#[test]
fn list_filters() {
    let f = fixture();
    let old = import(&f.store, "old", &["LABEL tier=db"]);
    tag(&f.store, &old, "db:1");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let new = import(&f.store, "new", &["LABEL tier=web"]);
    tag(&f.store, &new, "web:1");
    let loose = import(&f.store, "loose", &[]);
    let ids = |filters: ListFilters| -> Vec<Digest> {
        ops::list(&f.store, &filters)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(
        ids(ListFilters {
            dangling: Some(true),
            ..Default::default()
        }),
        vec![loose.clone()]
    );
    assert_eq!(
        ids(ListFilters {
            labels: vec!["tier=web".into()],
            ..Default::default()
        }),
        vec![new.clone()]
    );
    assert_eq!(
        ids(ListFilters {
            labels: vec!["tier".into()],
            ..Default::default()
        })
        .len(),
        2
    );
    assert_eq!(
        ids(ListFilters {
            references: vec!["d*".into()],
            ..Default::default()
        }),
        vec![old.clone()]
    );
    assert_eq!(
        ids(ListFilters {
            before: Some("web:1".into()),
            ..Default::default()
        }),
        vec![old.clone()]
    );
    assert_eq!(
        ids(ListFilters {
            since: Some("db:1".into()),
            dangling: Some(false),
            ..Default::default()
        }),
        vec![new]
    );
}

#[test]
fn images_and_tags_survive_a_reopen() {
    let f = fixture();
    let id = import(&f.store, "one", &["CMD [\"true\"]"]);
    tag(&f.store, &id, "keep:me");
    drop(f.store);
    let store = open(f.dir.path());
    assert_eq!(store.resolve("keep:me").unwrap(), id);
    assert_eq!(
        store.get(&id).unwrap().config.config.unwrap().cmd,
        Some(vec!["true".to_string()])
    );
    let mut raw = String::new();
    std::fs::File::open(f.dir.path().join("images/repositories.json"))
        .unwrap()
        .read_to_string(&mut raw)
        .unwrap();
    assert!(
        raw.contains("\"keep\":{\"keep:me\""),
        "repositories.json is not in Docker's shape: {raw}"
    );
}

#[test]
fn an_imported_image_saves_and_loads_back_unchanged() {
    use berth_image::archive::{self, ArchiveFormat};
    let f = fixture();
    let id = import(&f.store, "portable", &["CMD [\"sh\"]"]);
    tag(&f.store, &id, "portable:1");
    for format in [ArchiveFormat::Docker, ArchiveFormat::Oci] {
        let mut saved = Vec::new();
        archive::save(&f.store, &["portable:1".to_string()], format, &mut saved).unwrap();
        let other = fixture();
        let report = archive::load(&other.store, &saved[..]).unwrap();
        assert_eq!(report.images[0].id, id, "{format:?}");
        assert_eq!(other.store.resolve("portable:1").unwrap(), id, "{format:?}");
    }
}

#[test]
fn removing_every_image_leaves_no_blob_and_gc_keeps_what_is_used() {
    let f = fixture();
    let a = import(&f.store, "a", &[]);
    let b = import(&f.store, "b", &[]);
    tag(&f.store, &a, "a");
    let stray = f.store.content().put(b"nobody refers to this").unwrap();
    assert_eq!(f.store.gc_blobs().unwrap(), vec![stray]);
    assert_eq!(
        f.store.content().list().unwrap().len(),
        4,
        "two configs and two layer tars stay"
    );
    f.store.remove("a", false, &nobody).unwrap();
    f.store.remove(b.as_str(), false, &nobody).unwrap();
    assert!(
        f.store.content().list().unwrap().is_empty(),
        "blobs outlived their images"
    );
    assert!(f.store.layers().list().is_empty());
}
