//! The native diff: a layer's changes are exactly its upper directory. Overlay writes a deleted
//! name as a 0/0 character device and a directory that hides everything below it as one with
//! `trusted.overlay.opaque=y`; the tar form of both is the OCI whiteout (`.wh.<name>`,
//! `.wh..wh..opq`).
//!
//! Whether a path existed before (Added or Modified, which names a directory hid) is answered
//! by looking through the lower layers' diff dirs the way overlay itself does, without a mount.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::archive::{Change, ChangeKind};
use crate::drivers::copy;
use crate::{Result, StorageError};

pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Overlay's whiteout: a character device numbered 0/0.
pub(crate) fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

pub(crate) fn is_opaque(dir: &Path) -> bool {
    matches!(copy::get_xattr(dir, OsStr::new(OPAQUE_XATTR)), Ok(Some(v)) if v == b"y")
}

fn lstat(path: &Path) -> Result<Metadata> {
    fs::symlink_metadata(path).map_err(|e| StorageError::io("stat", path, e))
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StorageError::io("read dir", dir, e))? {
        names.push(
            entry
                .map_err(|e| StorageError::io("read dir", dir, e))?
                .file_name(),
        );
    }
    names.sort();
    Ok(names)
}

/// The copies of `rel` that the merged view of `lowers` (top first) is made of: the top one
/// that holds it, and below it more only while it is a directory that isn't opaque. Empty: the
/// path doesn't exist in the lower chain.
pub(crate) fn lower_stack(lowers: &[PathBuf], rel: &Path) -> Vec<(PathBuf, Metadata)> {
    let mut stack = Vec::new();
    let parts: Vec<_> = rel.components().collect();
    'layers: for layer in lowers {
        let mut cur = layer.clone();
        let mut hidden_below = false; // an opaque ancestor in this layer hides the ones below
        for (i, part) in parts.iter().enumerate() {
            cur.push(part);
            let Ok(md) = fs::symlink_metadata(&cur) else {
                if hidden_below {
                    return stack;
                }
                continue 'layers;
            };
            if is_whiteout(&md) {
                return stack;
            }
            let last = i + 1 == parts.len();
            if !last {
                if !md.is_dir() {
                    return stack;
                }
                if is_opaque(&cur) {
                    hidden_below = true;
                }
                continue;
            }
            let is_dir = md.is_dir();
            stack.push((cur.clone(), md));
            if !is_dir || hidden_below || is_opaque(&cur) {
                return stack;
            }
        }
        if parts.is_empty() {
            let Ok(md) = fs::symlink_metadata(&cur) else {
                continue;
            };
            stack.push((cur, md));
        }
    }
    stack
}

/// The names the merged view of `lowers` shows in directory `rel`.
fn lower_names(lowers: &[PathBuf], rel: &Path) -> Result<Vec<OsString>> {
    let mut seen: BTreeMap<OsString, bool> = BTreeMap::new();
    for (dir, md) in lower_stack(lowers, rel) {
        if !md.is_dir() {
            break;
        }
        for name in entries(&dir)? {
            if seen.contains_key(&name) {
                continue;
            }
            let visible = !is_whiteout(&lstat(&dir.join(&name))?);
            seen.insert(name, visible);
        }
    }
    Ok(seen
        .into_iter()
        .filter(|(_, v)| *v)
        .map(|(n, _)| n)
        .collect())
}

/// The changes that the upper dir `upper` makes to the lower chain `lowers` (top first).
pub(crate) fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    walk_changes(upper, lowers, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

fn walk_changes(upper: &Path, lowers: &[PathBuf], rel: &Path, out: &mut Vec<Change>) -> Result<()> {
    let dir = upper.join(rel);
    let names = entries(&dir)?;
    if !rel.as_os_str().is_empty() && is_opaque(&dir) {
        // Everything the lower chain had here and this layer doesn't is gone.
        for name in lower_names(lowers, rel)? {
            if names.binary_search(&name).is_err() {
                out.push(Change {
                    path: Path::new("/").join(rel).join(&name),
                    kind: ChangeKind::Deleted,
                });
            }
        }
    }
    for name in names {
        let path = rel.join(&name);
        let md = lstat(&upper.join(&path))?;
        let abs = Path::new("/").join(&path);
        if is_whiteout(&md) {
            out.push(Change {
                path: abs,
                kind: ChangeKind::Deleted,
            });
            continue;
        }
        if md.file_type().is_socket() {
            continue;
        }
        let kind = if lower_stack(lowers, &path).is_empty() {
            ChangeKind::Added
        } else {
            ChangeKind::Modified
        };
        out.push(Change { path: abs, kind });
        if md.is_dir() {
            walk_changes(upper, lowers, &path, out)?;
        }
    }
    Ok(())
}

/// The bytes of the regular files in `upper`, each inode counted once.
pub(crate) fn upper_size(upper: &Path) -> Result<u64> {
    fn walk(dir: &Path, seen: &mut HashMap<(u64, u64), ()>, total: &mut u64) -> Result<()> {
        for name in entries(dir)? {
            let path = dir.join(name);
            let md = lstat(&path)?;
            if md.is_dir() {
                walk(&path, seen, total)?;
            } else if md.is_file() && seen.insert((md.dev(), md.ino()), ()).is_none() {
                *total += md.len();
            }
        }
        Ok(())
    }
    let mut total = 0;
    walk(upper, &mut HashMap::new(), &mut total)?;
    Ok(total)
}

/// Writes the upper dir `upper` as a layer tar: overlay's whiteouts become OCI ones, xattrs
/// (but overlay's own) go in PAX records, hard links stay links.
pub(crate) fn write_tar(upper: &Path, out: &mut dyn Write) -> Result<()> {
    let mut tar = TarWriter {
        upper,
        builder: tar::Builder::new(out),
        links: HashMap::new(),
    };
    tar.dir(Path::new(""))?;
    tar.builder.finish().map_err(|e| tar_err(upper, e))
}

fn tar_err(path: &Path, e: std::io::Error) -> StorageError {
    StorageError::io("write layer tar", path, e)
}

struct TarWriter<'a, W: Write> {
    upper: &'a Path,
    builder: tar::Builder<W>,
    /// (device, inode) of each multiply-linked file written so far → its name in the tar.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> TarWriter<'_, W> {
    fn header(md: &Metadata, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid().into());
        h.set_gid(md.gid().into());
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_size(0);
        h
    }

    fn dir(&mut self, rel: &Path) -> Result<()> {
        let dir = self.upper.join(rel);
        for name in entries(&dir)? {
            self.entry(&rel.join(&name), &name)?;
        }
        Ok(())
    }

    fn entry(&mut self, rel: &Path, name: &OsStr) -> Result<()> {
        let path = self.upper.join(rel);
        let md = lstat(&path)?;
        let ft = md.file_type();
        let err = |e| tar_err(&path, e);
        if is_whiteout(&md) {
            let mut marker = OsString::from(WHITEOUT_PREFIX);
            marker.push(name);
            let mut h = Self::header(&md, tar::EntryType::Regular);
            h.set_mode(0o600);
            let at = rel.with_file_name(marker);
            return self
                .builder
                .append_data(&mut h, at, std::io::empty())
                .map_err(err);
        }
        if ft.is_socket() {
            return Ok(());
        }
        self.xattrs(&path)?;
        if ft.is_dir() {
            let mut h = Self::header(&md, tar::EntryType::Directory);
            self.builder
                .append_data(&mut h, rel, std::io::empty())
                .map_err(err)?;
            if is_opaque(&path) {
                let mut h = Self::header(&md, tar::EntryType::Regular);
                h.set_mode(0o600);
                self.builder
                    .append_data(&mut h, rel.join(OPAQUE_MARKER), std::io::empty())
                    .map_err(err)?;
            }
            return self.dir(rel);
        }
        if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = self.links.get(&(md.dev(), md.ino())) {
                    let mut h = Self::header(&md, tar::EntryType::Link);
                    let first = first.clone();
                    return self.builder.append_link(&mut h, rel, first).map_err(err);
                }
                self.links.insert((md.dev(), md.ino()), rel.to_path_buf());
            }
            let mut h = Self::header(&md, tar::EntryType::Regular);
            h.set_size(md.len());
            let file = File::open(&path).map_err(|e| StorageError::io("open", &path, e))?;
            return self.builder.append_data(&mut h, rel, file).map_err(err);
        }
        if ft.is_symlink() {
            let target =
                fs::read_link(&path).map_err(|e| StorageError::io("readlink", &path, e))?;
            let mut h = Self::header(&md, tar::EntryType::Symlink);
            return self.builder.append_link(&mut h, rel, target).map_err(err);
        }
        let kind = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else {
            tar::EntryType::Fifo
        };
        let mut h = Self::header(&md, kind);
        if kind != tar::EntryType::Fifo {
            // SAFETY: major and minor only compute on the number.
            let (major, minor) = (libc::major(md.rdev()), libc::minor(md.rdev()));
            h.set_device_major(major).map_err(err)?;
            h.set_device_minor(minor).map_err(err)?;
        }
        self.builder
            .append_data(&mut h, rel, std::io::empty())
            .map_err(err)
    }

    /// Writes a PAX header with `path`'s xattrs (overlay's own left out) for the next entry.
    fn xattrs(&mut self, path: &Path) -> Result<()> {
        let all = copy::xattrs(path).map_err(|e| StorageError::io("read xattrs", path, e))?;
        let records: Vec<(String, Vec<u8>)> = all
            .into_iter()
            .filter(|(name, _)| !name.as_bytes().starts_with(b"trusted.overlay."))
            .filter_map(|(name, value)| name.to_str().map(|n| (format!("SCHILY.xattr.{n}"), value)))
            .collect();
        if records.is_empty() {
            return Ok(());
        }
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| tar_err(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whiteout(path: &Path) {
        let c = copy::cpath(path).unwrap();
        // SAFETY: c is NUL-terminated.
        assert_eq!(
            unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) },
            0,
            "mknod (needs root)"
        );
    }

    /// lower2 (bottom): a/{x,y}, d/{p,q}, f; lower1: whiteout f, opaque d with r; upper: opaque
    /// a with z, a new d/r and n.
    fn layers(root: &Path) -> (PathBuf, Vec<PathBuf>) {
        let (l1, l2, up) = (root.join("l1"), root.join("l2"), root.join("up"));
        for d in [
            l2.join("a"),
            l2.join("d"),
            l1.join("d"),
            up.join("a"),
            up.join("d"),
        ] {
            fs::create_dir_all(d).unwrap();
        }
        for f in [
            l2.join("a/x"),
            l2.join("a/y"),
            l2.join("d/p"),
            l2.join("d/q"),
            l2.join("f"),
        ] {
            fs::write(f, b"old").unwrap();
        }
        fs::write(l1.join("d/r"), b"r").unwrap();
        whiteout(&l1.join("f"));
        copy::set_xattr(&l1.join("d"), OsStr::new(OPAQUE_XATTR), b"y").unwrap();
        copy::set_xattr(&up.join("a"), OsStr::new(OPAQUE_XATTR), b"y").unwrap();
        fs::write(up.join("a/z"), b"z").unwrap();
        fs::write(up.join("n"), b"n").unwrap();
        fs::write(up.join("d/r"), b"r2").unwrap();
        (up, vec![l1, l2])
    }

    #[test]
    fn lower_lookup_honours_whiteouts_and_opaque_dirs() {
        let dir = tempfile::Builder::new()
            .prefix("berth-ovl-diff-")
            .tempdir()
            .unwrap();
        let (_, lowers) = layers(dir.path());
        assert!(
            lower_stack(&lowers, Path::new("f")).is_empty(),
            "f was whited out"
        );
        assert!(
            lower_stack(&lowers, Path::new("d/p")).is_empty(),
            "hidden by the opaque d"
        );
        assert_eq!(
            lower_stack(&lowers, Path::new("d")).len(),
            1,
            "opaque d stops the stack"
        );
        assert_eq!(lower_stack(&lowers, Path::new("a")).len(), 1);
        assert!(!lower_stack(&lowers, Path::new("a/x")).is_empty());
        assert_eq!(
            lower_names(&lowers, Path::new("d")).unwrap(),
            vec![OsString::from("r")]
        );
    }

    #[test]
    fn native_changes_and_tar() {
        let dir = tempfile::Builder::new()
            .prefix("berth-ovl-diff-")
            .tempdir()
            .unwrap();
        let (up, lowers) = layers(dir.path());
        let got: Vec<(String, ChangeKind)> = changes(&up, &lowers)
            .unwrap()
            .into_iter()
            .map(|c| (c.path.display().to_string(), c.kind))
            .collect();
        use ChangeKind::*;
        let want = [
            ("/a", Modified),
            ("/a/x", Deleted),
            ("/a/y", Deleted),
            ("/a/z", Added),
            ("/d", Modified),
            ("/d/r", Modified),
            ("/n", Added),
        ];
        let want: Vec<(String, ChangeKind)> =
            want.iter().map(|(p, k)| (p.to_string(), *k)).collect();
        assert_eq!(got, want);

        whiteout(&up.join("gone"));
        copy::set_xattr(&up.join("n"), OsStr::new("user.berth"), b"v").unwrap();
        let mut buf = Vec::new();
        write_tar(&up, &mut buf).unwrap();
        let mut names = Vec::new();
        for entry in tar::Archive::new(&buf[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let pax: Vec<(String, Vec<u8>)> = match entry.pax_extensions().unwrap() {
                Some(exts) => exts
                    .map(|e| e.unwrap())
                    .map(|e| (e.key().unwrap().to_string(), e.value_bytes().to_vec()))
                    .collect(),
                None => Vec::new(),
            };
            if name == "n" {
                assert_eq!(
                    pax,
                    vec![("SCHILY.xattr.user.berth".to_string(), b"v".to_vec())]
                );
            }
            assert!(
                !pax.iter().any(|(k, _)| k.contains("trusted.overlay")),
                "overlay's own xattrs stay out: {name}"
            );
            names.push(name);
        }
        for want in ["a", "a/.wh..wh..opq", "a/z", ".wh.gone", "n"] {
            assert!(
                names.iter().any(|n| n.trim_end_matches('/') == want),
                "{want} in {names:?}"
            );
        }
        assert_eq!(upper_size(&up).unwrap(), 1 + 1 + 2);
    }
}
