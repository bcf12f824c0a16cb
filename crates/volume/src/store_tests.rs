use super::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn store() -> (tempfile::TempDir, VolumeStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(&dir.path().join("volumes")).unwrap();
    (dir, store)
}

#[test]
fn create_get_list_remove_round_trip() {
    let (dir, store) = store();
    let labels = map(&[("team", "a")]);
    let v = store.create(Some("data"), &map(&[]), &labels).unwrap();
    assert_eq!(v.mountpoint, dir.path().join("volumes/data/_data"));
    assert!(v.mountpoint.is_dir());
    assert!(!v.is_anonymous());

    // A store opened afresh reads the same volume back from disk.
    let again = VolumeStore::open(&dir.path().join("volumes")).unwrap();
    let got = again.get("data").unwrap();
    assert_eq!(got, v);
    assert_eq!(got.labels, labels);

    let api = got.api_json(None);
    assert_eq!(api["Name"], "data");
    assert_eq!(api["Driver"], "local");
    assert_eq!(api["Scope"], "local");
    assert_eq!(api["Labels"]["team"], "a");
    assert_eq!(api["UsageData"], serde_json::Value::Null);
    assert_eq!(api["Mountpoint"], v.mountpoint.to_str().unwrap());
    assert!(api["CreatedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(got.api_json(Some((5, 1)))["UsageData"]["RefCount"], 1);

    store.create(Some("other"), &map(&[]), &map(&[])).unwrap();
    let names: Vec<_> = store.list().unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["data", "other"]);

    std::fs::write(v.mountpoint.join("f"), "x").unwrap();
    store.remove("data").unwrap();
    assert!(!dir.path().join("volumes/data").exists());
    assert_eq!(
        store.get("data").unwrap_err().to_string(),
        "get data: no such volume"
    );
    assert_eq!(
        store.remove("data").unwrap_err().kind(),
        crate::ErrorKind::NotFound
    );
    // Nothing but the remaining volume is left in the root (no temp or trash files).
    let left: Vec<_> = std::fs::read_dir(dir.path().join("volumes"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["other"]);
}

#[test]
fn metadata_file_is_plain_json() {
    let (dir, store) = store();
    store
        .create(
            Some("tmp1"),
            &map(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]),
            &map(&[]),
        )
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("volumes/tmp1/volume.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["name"], "tmp1");
    assert_eq!(v["options"]["o"], "size=1m");
}

#[test]
fn unnamed_volumes_get_64_hex_names() {
    let (_dir, store) = store();
    let labels = map(&[(ANONYMOUS_LABEL, "")]);
    let v = store.create(None, &map(&[]), &labels).unwrap();
    assert_eq!(v.name.len(), 64);
    assert!(v.is_anonymous());
    let w = store.create(Some(""), &map(&[]), &map(&[])).unwrap();
    assert_ne!(v.name, w.name);
}

#[test]
fn creating_an_existing_name_returns_it_unless_it_conflicts() {
    let (_dir, store) = store();
    let opts = map(&[("type", "tmpfs"), ("device", "tmpfs")]);
    let first = store
        .create(Some("vol"), &opts, &map(&[("a", "1")]))
        .unwrap();
    std::fs::write(first.mountpoint.join("keep"), "x").unwrap();
    // No options or labels given: the existing volume, content untouched.
    assert_eq!(
        store.create(Some("vol"), &map(&[]), &map(&[])).unwrap(),
        first
    );
    assert_eq!(
        store
            .create(Some("vol"), &opts, &map(&[("a", "1")]))
            .unwrap(),
        first
    );
    assert!(first.mountpoint.join("keep").exists());
    let e = store
        .create(
            Some("vol"),
            &map(&[("type", "none"), ("device", "/x")]),
            &map(&[]),
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "volume vol already exists with different driver options"
    );
    assert_eq!(e.kind(), crate::ErrorKind::Conflict);
    let e = store
        .create(Some("vol"), &map(&[]), &map(&[("a", "2")]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "volume vol already exists with different labels"
    );
}

#[test]
fn bad_names_and_options_create_nothing() {
    let (dir, store) = store();
    let e = store.create(Some("a b"), &map(&[]), &map(&[])).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("\"a b\" includes invalid characters"),
        "{e}"
    );
    assert_eq!(e.kind(), crate::ErrorKind::InvalidParameter);
    store
        .create(Some("../escape"), &map(&[]), &map(&[]))
        .unwrap_err();
    let e = store
        .create(Some("vol"), &map(&[("foo", "bar")]), &map(&[]))
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid option key: \"foo\"");
    let e = store
        .create(Some("vol"), &map(&[("o", "size=1m")]), &map(&[]))
        .unwrap_err();
    assert_eq!(e.to_string(), "missing required option: \"device\"");
    assert_eq!(
        std::fs::read_dir(dir.path().join("volumes"))
            .unwrap()
            .count(),
        0
    );
    // get of a path-like name is simply not found, never a look outside the root.
    assert!(matches!(store.get("../x"), Err(VolumeError::NotFound(_))));
}

#[test]
fn a_plain_volume_is_counted_but_never_mounted() {
    let (_dir, store) = store();
    let v = store.create(Some("plain"), &map(&[]), &map(&[])).unwrap();
    assert_eq!(store.acquire("plain").unwrap(), v.mountpoint);
    store.acquire("plain").unwrap();
    assert_eq!(store.users("plain"), 2);
    assert!(!store.is_mounted("plain"));
    assert_eq!(
        store.remove("plain").unwrap_err().to_string(),
        "remove plain: volume is in use"
    );
    store.release("plain").unwrap();
    store.release("plain").unwrap();
    assert_eq!(store.users("plain"), 0);
    store.remove("plain").unwrap();
    assert!(matches!(
        store.acquire("plain"),
        Err(VolumeError::NotFound(_))
    ));
}

#[test]
fn usage_counts_hard_links_once_and_never_follows_symlinks() {
    let (dir, store) = store();
    let v = store.create(Some("sized"), &map(&[]), &map(&[])).unwrap();
    std::fs::create_dir(v.mountpoint.join("sub")).unwrap();
    std::fs::write(v.mountpoint.join("sub/a"), vec![0u8; 1000]).unwrap();
    std::fs::hard_link(v.mountpoint.join("sub/a"), v.mountpoint.join("b")).unwrap();
    let outside = dir.path().join("big");
    std::fs::write(&outside, vec![0u8; 100_000]).unwrap();
    std::os::unix::fs::symlink(&outside, v.mountpoint.join("link")).unwrap();
    let link_len = outside.as_os_str().len() as u64;
    assert_eq!(store.usage_size("sized").unwrap(), 1000 + link_len);
}

#[test]
fn open_finishes_an_interrupted_remove_and_skips_incomplete_creates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("volumes");
    std::fs::create_dir_all(root.join(".trash-old-1234/_data/x")).unwrap();
    // A create that died before its metadata was written.
    std::fs::create_dir_all(root.join("half/_data")).unwrap();
    let store = VolumeStore::open(&root).unwrap();
    assert!(!root.join(".trash-old-1234").exists());
    assert!(store.list().unwrap().is_empty());
    // Creating that name again completes it.
    store.create(Some("half"), &map(&[]), &map(&[])).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
}
