//! Choosing a driver: by name, or the best the backing filesystem allows; a driver that can't
//! work fails when it is opened, saying why.

use berth_storage::select;
use berth_storage::StorageError;

fn root() -> tempfile::TempDir {
    berth_testutil::require_root();
    tempfile::Builder::new()
        .prefix("berth-select-")
        .tempdir()
        .unwrap()
}

#[test]
fn each_driver_opens_by_name_and_overlay2_means_overlay() {
    let dir = root();
    assert_eq!(select::open(Some("vfs"), dir.path()).unwrap().name(), "vfs");
    assert_eq!(
        select::open(Some("overlay"), dir.path()).unwrap().name(),
        "overlay"
    );
    assert_eq!(
        select::open(Some("overlay2"), dir.path()).unwrap().name(),
        "overlay"
    );
}

#[test]
fn an_unknown_driver_is_named() {
    let dir = root();
    let err = select::open(Some("devicemapper"), dir.path())
        .err()
        .unwrap();
    assert!(matches!(err, StorageError::UnknownDriver(_)));
    assert!(err.to_string().contains("\"devicemapper\""), "{err}");
}

#[test]
fn btrfs_off_btrfs_fails_at_open_naming_the_filesystem() {
    let dir = root();
    let err = select::open(Some("btrfs"), dir.path()).err().unwrap();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            StorageError::Unsupported {
                driver: "btrfs",
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("not btrfs"), "{text}");
}

#[test]
fn auto_detection_prefers_overlay_then_keeps_what_the_root_already_uses() {
    let dir = root();
    assert_eq!(select::open(None, dir.path()).unwrap().name(), "overlay");
    let used = root();
    let vfs = select::open(Some("vfs"), used.path()).unwrap();
    vfs.create("layer", None).unwrap();
    assert_eq!(
        select::open(None, used.path()).unwrap().name(),
        "vfs",
        "auto-detection hid existing vfs layers"
    );
}
