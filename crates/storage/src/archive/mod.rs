//! Layer tars: safe extraction with whiteouts, tree comparison, and export of changes.
//!
//! The public signatures here are a contract shared with the drivers. The work lives in
//! [`apply`] (safe extraction), [`changes`] (the naive diff and its size) and [`export`]
//! (changes to tar); [`sys`] holds the fd-relative system calls they share.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::{Result, StorageError};

mod apply;
mod changes;
mod export;
pub(crate) mod sys;

/// The names in a directory fd (without `.` and `..`), read through a fresh fd of its own.
pub use sys::list_dir;

/// The prefix of an OCI whiteout: `.wh.<name>` deletes `<name>` from the layers below.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Names starting with this are whiteout bookkeeping (aufs hardlink dirs and the like), not files.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// In a directory, hides everything the layers below have in it.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// The xattr overlayfs reads as "this directory is opaque".
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What to do with OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) while extracting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Whiteouts {
    /// The target already holds the parent's content (vfs, btrfs): delete what they name.
    #[default]
    Apply,
    /// The target is an overlay upper dir: write overlay's own markers (a 0/0 character device
    /// for a deleted name, `trusted.overlay.opaque=y` on an opaque directory).
    Overlay,
    /// The tar is not a layer (`docker cp`): `.wh.` names are ordinary files.
    Keep,
}

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub whiteouts: Whiteouts,
    /// Refuse to replace a directory with a non-directory or the reverse (docker cp's
    /// `noOverwriteDirNonDir`), instead of removing what is there.
    pub no_overwrite_dir_non_dir: bool,
    /// Own every extracted entry by this uid:gid instead of the tar's (docker cp's `copyUIDGID`).
    pub chown: Option<(u32, u32)>,
}

/// docker diff's A, C, D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

/// One changed path, absolute inside the layer ("/etc/hosts").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    pub path: PathBuf,
    pub kind: ChangeKind,
}

/// Extracts an uncompressed layer tar into `target` without ever writing outside it; returns the
/// size of the content written.
///
/// A `..` that climbs above the layer, an over-long name, a hardlink to something not in the
/// layer and a malformed or truncated tar are refused; absolute paths and symlinks (including
/// those already in `target`) are resolved as if `target` were `/`. On error the layer is left
/// partly written, and the caller discards it.
pub fn apply_layer(target: &Path, layer: &mut dyn Read, opts: &ApplyOptions) -> Result<u64> {
    apply::apply(target, layer, opts)
}

/// Like [`apply_layer`], into the directory `target` already opened (for instance through
/// openat2 inside a container's root); `label` names it in errors.
pub fn apply_layer_at(
    target: std::os::fd::OwnedFd,
    label: &Path,
    layer: &mut dyn Read,
    opts: &ApplyOptions,
) -> Result<u64> {
    apply::apply_at(target, label, layer, opts)
}

/// Reads a whole uncompressed tar and checks it without writing anything: every header parses,
/// every entry has all its bytes, and no name or hardlink target climbs out with `..`. Returns
/// the number of entries. Used before extracting a tar that is not a layer (docker cp), so a
/// broken archive leaves nothing half written.
pub fn check_tar(input: &mut dyn Read) -> Result<u64> {
    apply::check(input)
}

/// Compares `layer` with `parent` (None: an empty tree) entry by entry, sorted by path.
///
/// A path only in `layer` is Added (with everything under it), one only in `parent` is Deleted
/// (only the top-most), one in both is Modified when its type, mode, owner, size (not for
/// directories), mtime, symlink target, device number or xattrs differ, or, for regular files
/// that look alike, when their bytes differ (a rewrite can keep size and mtime). A directory is thus
/// Modified for its own metadata, which includes the mtime that adding or removing an entry in
/// it changes.
pub fn tree_changes(layer: &Path, parent: Option<&Path>) -> Result<Vec<Change>> {
    changes::tree_changes(layer, parent)
}

/// Writes a tar of `changes`, reading content from `layer`; deletions become OCI whiteouts.
///
/// An Added directory brings everything under it; the directories above every entry are
/// included too, so the tar applies cleanly onto the parent. Entries are sorted by path, xattrs
/// travel as `SCHILY.xattr.*` PAX records, and a second name of an exported inode becomes a tar
/// hardlink. Mtimes are whole seconds, as docker writes them.
pub fn export_changes(layer: &Path, changes: &[Change], out: &mut dyn Write) -> Result<()> {
    export::export_changes(layer, changes, out)
}

/// The size of the files that `changes` add or modify in `layer`.
/// Only regular files count, and an inode with several changed names counts once.
pub fn changes_size(layer: &Path, changes: &[Change]) -> Result<u64> {
    changes::changes_size(layer, changes)
}

/// Wraps a layer blob so that it reads as an uncompressed tar, whatever it was stored as:
/// gzip and zstd are recognised by their magic numbers, anything else passes through. A
/// truncated or corrupt compressed stream then fails in [`apply_layer`] with a clear error.
pub fn decompress<'a>(input: Box<dyn Read + 'a>) -> Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::new(input);
    let head = input
        .fill_buf()
        .map_err(|e| StorageError::Archive(format!("reading layer: {e}")))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(input)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|e| StorageError::Archive(format!("starting zstd decoder: {e}")))?;
        Ok(Box::new(decoder))
    } else {
        Ok(Box::new(input))
    }
}
