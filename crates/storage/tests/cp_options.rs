//! The extraction options docker cp needs: `.wh.` names kept as files, no directory/non-directory
//! replacement, one owner for everything, extraction into an open directory fd, and the
//! check-only pass that refuses a broken tar before anything is written.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_storage::archive::{apply_layer_at, check_tar, ApplyOptions, Whiteouts};

fn tar_with(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o640);
        h.set_uid(1234);
        h.set_gid(5678);
        match data {
            Some(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, name, *d).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, name, std::io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn open(p: &Path) -> OwnedFd {
    std::fs::File::open(p).unwrap().into()
}

#[test]
fn whiteouts_kept_and_owner_forced() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("victim"), "stays").unwrap();
    let tar = tar_with(&[(".wh.victim", Some(b"")), ("f", Some(b"data"))]);
    let opts = ApplyOptions {
        whiteouts: Whiteouts::Keep,
        chown: Some((42, 43)),
        ..Default::default()
    };
    apply_layer_at(open(tmp.path()), tmp.path(), &mut &tar[..], &opts).unwrap();
    assert!(
        tmp.path().join("victim").exists(),
        "a .wh. file deleted content"
    );
    assert!(tmp.path().join(".wh.victim").exists());
    let md = std::fs::metadata(tmp.path().join("f")).unwrap();
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (42, 43, 0o640));
}

#[test]
fn no_overwrite_dir_non_dir_refuses_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("d")).unwrap();
    std::fs::write(tmp.path().join("f"), "file").unwrap();
    let opts = ApplyOptions {
        whiteouts: Whiteouts::Keep,
        no_overwrite_dir_non_dir: true,
        ..Default::default()
    };
    let err = apply_layer_at(
        open(tmp.path()),
        tmp.path(),
        &mut &tar_with(&[("d", Some(b"x"))])[..],
        &opts,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot overwrite directory"),
        "{err}"
    );
    let err = apply_layer_at(
        open(tmp.path()),
        tmp.path(),
        &mut &tar_with(&[("f", None)])[..],
        &opts,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot overwrite non-directory"),
        "{err}"
    );
    assert!(tmp.path().join("d").is_dir() && tmp.path().join("f").is_file());
}

#[test]
fn check_refuses_truncated_and_climbing_tars() {
    let good = tar_with(&[("a", Some(b"12345")), ("d", None)]);
    assert_eq!(check_tar(&mut &good[..]).unwrap(), 2);
    let cut = &good[..512 + 3];
    assert!(check_tar(&mut &cut[..])
        .unwrap_err()
        .to_string()
        .contains("truncated"));
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.as_old_mut().name[..5].copy_from_slice(b"../up");
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, std::io::empty()).unwrap();
    let climbing = b.into_inner().unwrap();
    assert!(check_tar(&mut &climbing[..])
        .unwrap_err()
        .to_string()
        .contains("'..'"));
    let garbage = vec![b'x'; 1024];
    assert!(check_tar(&mut &garbage[..]).is_err());
}
