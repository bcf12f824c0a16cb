//! Writing a list of changes as a layer tar.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::changes::change_rel;
use super::sys;
use super::{Change, ChangeKind, WHITEOUT_PREFIX};
use crate::{Result, StorageError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    /// Read the entry from the layer.
    Entry,
    /// An empty `.wh.<name>` file.
    Whiteout,
}

/// Adds the directories above `rel` (not the root) as entries.
fn add_parents(items: &mut BTreeMap<PathBuf, Item>, rel: &Path) {
    let mut cur = rel.parent();
    while let Some(p) = cur {
        if p.as_os_str().is_empty() {
            break;
        }
        items.insert(p.to_path_buf(), Item::Entry);
        cur = p.parent();
    }
}

fn add_tree(items: &mut BTreeMap<PathBuf, Item>, layer: &Path, rel: &Path) -> Result<()> {
    let dir = layer.join(rel);
    let entries = fs::read_dir(&dir).map_err(|e| StorageError::io("read directory", &dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("read directory", &dir, e))?;
        let child = rel.join(entry.file_name());
        let is_dir = entry
            .file_type()
            .map_err(|e| StorageError::io("stat", dir.join(entry.file_name()), e))?
            .is_dir();
        items.insert(child.clone(), Item::Entry);
        if is_dir {
            add_tree(items, layer, &child)?;
        }
    }
    Ok(())
}

/// The tar entries, in order, for `changes`.
fn plan(layer: &Path, changes: &[Change]) -> Result<BTreeMap<PathBuf, Item>> {
    let mut items = BTreeMap::new();
    for change in changes {
        let rel = change_rel(&change.path)?;
        let Some(name) = rel.file_name() else {
            continue;
        };
        match change.kind {
            ChangeKind::Deleted => {
                let mut wh = OsString::from(WHITEOUT_PREFIX);
                wh.push(name);
                let wh = rel.with_file_name(wh);
                add_parents(&mut items, &wh);
                items.insert(wh, Item::Whiteout);
            }
            ChangeKind::Added | ChangeKind::Modified => {
                add_parents(&mut items, &rel);
                items.insert(rel.clone(), Item::Entry);
                let path = layer.join(&rel);
                let md =
                    fs::symlink_metadata(&path).map_err(|e| StorageError::io("stat", &path, e))?;
                if change.kind == ChangeKind::Added && md.is_dir() {
                    add_tree(&mut items, layer, &rel)?;
                }
            }
        }
    }
    Ok(items)
}

pub(super) fn export_changes(layer: &Path, changes: &[Change], out: &mut dyn Write) -> Result<()> {
    let items = plan(layer, changes)?;
    let mut builder = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for (rel, item) in &items {
        match item {
            Item::Whiteout => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_uid(0);
                h.set_gid(0);
                h.set_size(0);
                h.set_mtime(0);
                builder
                    .append_data(&mut h, rel, io::empty())
                    .map_err(|e| write_err(rel, e))?;
            }
            Item::Entry => append_entry(&mut builder, layer, rel, &mut links)?,
        }
    }
    builder
        .finish()
        .map_err(|e| StorageError::Archive(format!("writing layer tar: {e}")))?;
    Ok(())
}

fn write_err(rel: &Path, e: io::Error) -> StorageError {
    StorageError::Archive(format!("writing {} to the layer tar: {e}", rel.display()))
}

fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    layer: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<()> {
    let path = layer.join(rel);
    let md = fs::symlink_metadata(&path).map_err(|e| StorageError::io("stat", &path, e))?;
    let ft = md.mode() & libc::S_IFMT;
    let mut h = tar::Header::new_gnu();
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(md.uid().into());
    h.set_gid(md.gid().into());
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_size(0);

    // A second name of an inode already in the tar becomes a hardlink to the first.
    if ft == libc::S_IFREG && md.nlink() > 1 {
        if let Some(first) = links.get(&(md.dev(), md.ino())) {
            h.set_entry_type(tar::EntryType::Link);
            return builder
                .append_link(&mut h, rel, first)
                .map_err(|e| write_err(rel, e));
        }
        links.insert((md.dev(), md.ino()), rel.to_path_buf());
    }

    if !matches!(
        ft,
        libc::S_IFREG
            | libc::S_IFDIR
            | libc::S_IFLNK
            | libc::S_IFCHR
            | libc::S_IFBLK
            | libc::S_IFIFO
    ) {
        return Ok(()); // sockets do not travel in layers
    }
    let xattrs = sys::lxattrs(&path).map_err(|e| StorageError::io("read xattrs", &path, e))?;
    let pax: Vec<(String, Vec<u8>)> = xattrs
        .into_iter()
        .filter(|(k, _)| !k.as_bytes().starts_with(b"trusted.overlay."))
        .filter_map(|(k, v)| Some((format!("SCHILY.xattr.{}", k.into_string().ok()?), v)))
        .collect();
    if !pax.is_empty() {
        builder
            .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| write_err(rel, e))?;
    }

    match ft {
        libc::S_IFREG => {
            h.set_entry_type(tar::EntryType::Regular);
            let len = md.size();
            h.set_size(len);
            let file = fs::File::open(&path).map_err(|e| StorageError::io("open", &path, e))?;
            // A file that shrinks while it is read is padded, so the tar stays well formed.
            let data = file.take(len).chain(io::repeat(0)).take(len);
            builder
                .append_data(&mut h, rel, data)
                .map_err(|e| write_err(rel, e))
        }
        libc::S_IFDIR => {
            h.set_entry_type(tar::EntryType::Directory);
            let mut name = rel.as_os_str().to_owned().into_vec();
            name.push(b'/');
            builder
                .append_data(&mut h, OsString::from_vec(name), io::empty())
                .map_err(|e| write_err(rel, e))
        }
        libc::S_IFLNK => {
            h.set_entry_type(tar::EntryType::Symlink);
            let target =
                fs::read_link(&path).map_err(|e| StorageError::io("readlink", &path, e))?;
            if target.as_os_str().len() <= 100 {
                // Byte for byte: the tar crate would tidy `a//b` or `./x` on the way in.
                h.set_link_name_literal(target.as_os_str().as_bytes())
                    .map_err(|e| write_err(rel, e))?;
                builder
                    .append_data(&mut h, rel, io::empty())
                    .map_err(|e| write_err(rel, e))
            } else {
                builder
                    .append_link(&mut h, rel, target)
                    .map_err(|e| write_err(rel, e))
            }
        }
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
            h.set_entry_type(match ft {
                libc::S_IFCHR => tar::EntryType::Char,
                libc::S_IFBLK => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            });
            if ft != libc::S_IFIFO {
                let rdev = md.rdev();
                h.set_device_major(libc::major(rdev))
                    .map_err(|e| write_err(rel, e))?;
                h.set_device_minor(libc::minor(rdev))
                    .map_err(|e| write_err(rel, e))?;
            }
            builder
                .append_data(&mut h, rel, io::empty())
                .map_err(|e| write_err(rel, e))
        }
        _ => Ok(()),
    }
}
