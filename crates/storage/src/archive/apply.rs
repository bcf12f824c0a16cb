//! Safe extraction of a layer tar.
//!
//! Every entry's path is cleaned lexically (a `..` that would climb above the layer is refused).
//! Its parent directory is then opened from a dirfd of the target with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so symlinks already in the tree resolve
//! as if the target were `/` and can never lead out of it. The last component is created with
//! `*at` calls that do not follow symlinks. Where openat2 is unavailable the parents are walked
//! one component at a time with `O_NOFOLLOW` and a symlinked parent is refused.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{CStr, CString, OsStr};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::sys;
use super::{ApplyOptions, Whiteouts, WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};
use crate::{Result, StorageError};

/// Extended attributes a layer may not set: overlayfs reads them as instructions.
fn xattr_forbidden(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Cleans a tar path: strips leading `/`, drops `.` and empty components, resolves `..`
/// lexically and refuses one that climbs above the root. Returns the reason when refused.
pub(crate) fn clean_path(raw: &[u8]) -> std::result::Result<PathBuf, String> {
    if raw.len() >= sys::PATH_MAX {
        return Err(format!(
            "name is {} bytes long, more than PATH_MAX ({})",
            raw.len(),
            sys::PATH_MAX - 1
        ));
    }
    if raw.contains(&0) {
        return Err("name contains a nul byte".into());
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err("path climbs out of the layer with '..'".into());
                }
            }
            _ if part.len() > sys::NAME_MAX => {
                return Err(format!(
                    "a component is {} bytes long, more than NAME_MAX ({})",
                    part.len(),
                    sys::NAME_MAX
                ));
            }
            _ => parts.push(part),
        }
    }
    Ok(parts.iter().map(|p| OsStr::from_bytes(p)).collect())
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    times: [libc::timespec; 2],
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// Parses a PAX time ("1700000000.123456789", possibly negative) into seconds and nanoseconds.
fn pax_time(value: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(value).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nsec: i64 = digits.parse().ok()?;
    Some(if !neg {
        (sec, nsec)
    } else if nsec == 0 {
        (-sec, 0)
    } else {
        (-sec - 1, 1_000_000_000 - nsec)
    })
}

struct Applier<'a> {
    target: &'a Path,
    root: OwnedFd,
    openat2: bool,
    opts: &'a ApplyOptions,
    /// Paths this tar wrote, and their ancestors (for opaque whiteouts in Apply mode).
    written: HashSet<PathBuf>,
    /// Directory times, set at the end so that creating children does not disturb them.
    dir_times: BTreeMap<PathBuf, [libc::timespec; 2]>,
    bytes: u64,
}

fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn unsafe_entry(raw: &[u8], reason: impl Into<String>) -> StorageError {
    StorageError::UnsafeEntry {
        path: show(raw),
        reason: reason.into(),
    }
}

pub(super) fn apply(target: &Path, layer: &mut dyn Read, opts: &ApplyOptions) -> Result<u64> {
    let root = sys::open_dir_path(target)
        .map_err(|e| StorageError::io("open layer directory", target, e))?;
    apply_at(root, target, layer, opts)
}

pub(super) fn apply_at(
    root: OwnedFd,
    target: &Path,
    layer: &mut dyn Read,
    opts: &ApplyOptions,
) -> Result<u64> {
    let openat2 = match sys::openat2_in_root(root.as_raw_fd(), c".") {
        Ok(_) => true,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => false,
        Err(e) => return Err(StorageError::io("open layer directory", target, e)),
    };
    let mut applier = Applier {
        target,
        root,
        openat2,
        opts,
        written: HashSet::new(),
        dir_times: BTreeMap::new(),
        bytes: 0,
    };
    let mut archive = tar::Archive::new(layer);
    let entries = archive.entries().map_err(tar_error)?;
    for entry in entries {
        let mut entry = entry.map_err(tar_error)?;
        applier.entry(&mut entry)?;
    }
    applier.finish()?;
    // Read what follows the end-of-archive blocks (padding, a compressor's trailer), so that a
    // damaged or cut compressed stream is noticed even when the tar itself looked complete.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| {
        StorageError::Archive(format!(
            "reading layer tar after its last entry: {}",
            printable(&e.to_string())
        ))
    })?;
    Ok(applier.bytes)
}

pub(super) fn check(input: &mut dyn Read) -> Result<u64> {
    use tar::EntryType as T;
    let mut archive = tar::Archive::new(input);
    let mut count = 0;
    for entry in archive.entries().map_err(tar_error)? {
        let mut entry = entry.map_err(tar_error)?;
        let raw = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        clean_path(&raw).map_err(|reason| unsafe_entry(&raw, reason))?;
        if kind == T::Link {
            let link = entry
                .link_name_bytes()
                .map(|l| l.into_owned())
                .unwrap_or_default();
            clean_path(&link)
                .map_err(|reason| unsafe_entry(&raw, format!("hardlink target: {reason}")))?;
        }
        let expected = entry.size();
        let read = io::copy(&mut entry, &mut io::sink()).map_err(|e| {
            StorageError::Archive(format!(
                "reading {} from the tar: {}",
                show(&raw),
                printable(&e.to_string())
            ))
        })?;
        if read != expected {
            return Err(StorageError::Archive(format!(
                "tar is truncated: {} has {read} of {expected} bytes",
                show(&raw)
            )));
        }
        count += 1;
    }
    Ok(count)
}

/// An error message with archive bytes in it, made printable and short.
fn printable(msg: &str) -> String {
    let mut out: String = msg
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(160)
        .collect();
    if msg.chars().count() > 160 {
        out.push('…');
    }
    out
}

fn tar_error(e: io::Error) -> StorageError {
    let msg = e.to_string();
    if msg.contains("cksum") || msg.contains("checksum") {
        return StorageError::Archive(
            "reading layer tar: corrupt header (bad checksum), not a tar stream".into(),
        );
    }
    // The tar crate quotes the raw field and path; keep only what it says went wrong.
    let msg = msg.split(" when getting ").next().unwrap_or_default();
    StorageError::Archive(format!("reading layer tar: {}", printable(msg)))
}

impl Applier<'_> {
    fn io(&self, op: &'static str, rel: &Path, e: io::Error) -> StorageError {
        StorageError::io(op, self.target.join(rel), e)
    }

    /// Opens directory `rel` inside the root. `rel` must be clean (plain components).
    fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        if rel.as_os_str().is_empty() {
            return sys::reopen_dir(self.root.as_raw_fd());
        }
        if self.openat2 {
            return sys::openat2_in_root(self.root.as_raw_fd(), &sys::cname(rel.as_os_str())?);
        }
        let mut fd = sys::reopen_dir(self.root.as_raw_fd())?;
        for part in rel.iter() {
            fd = sys::open_dir_at(fd.as_raw_fd(), &sys::cname(part)?).map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    io::Error::other("a parent directory is a symlink")
                } else {
                    e
                }
            })?;
        }
        Ok(fd)
    }

    /// Opens directory `rel`, creating it and any missing parents (0755, root-owned) as needed.
    fn ensure_dir(&mut self, rel: &Path) -> Result<OwnedFd> {
        match self.open_dir(rel) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(self.io("open parent directory", rel, e)),
        }
        let parent = rel.parent().unwrap_or(Path::new(""));
        let name = rel
            .file_name()
            .expect("a missing directory below the root has a name");
        let parent_fd = self.ensure_dir(parent)?;
        let cname = sys::cname(name).map_err(|e| self.io("create parent directory", rel, e))?;
        match sys::mkdir_at(parent_fd.as_raw_fd(), &cname, 0o755) {
            Ok(()) => {
                self.mark_written(rel);
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(self.io("create parent directory", rel, e)),
        }
        self.open_dir(rel).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => StorageError::UnsafeEntry {
                path: rel.display().to_string(),
                reason: "parent directory is a dangling symlink".into(),
            },
            _ => self.io("open parent directory", rel, e),
        })
    }

    fn mark_written(&mut self, rel: &Path) {
        for a in rel.ancestors() {
            if !self.written.insert(a.to_path_buf()) {
                break;
            }
        }
    }

    /// Forgets deferred directory times at and below `rel` (it was replaced or removed).
    fn forget(&mut self, rel: &Path) {
        let below: Vec<PathBuf> = self
            .dir_times
            .range(rel.to_path_buf()..)
            .take_while(|(k, _)| k.starts_with(rel))
            .map(|(k, _)| k.clone())
            .collect();
        for k in below {
            self.dir_times.remove(&k);
        }
    }

    /// Clears the slot `name` in `dir` for a new entry: anything there goes, except that a
    /// directory stays when a directory is coming. Returns whether a directory was kept.
    fn clear_slot(
        &mut self,
        dir: &OwnedFd,
        name: &CStr,
        rel: &Path,
        keep_dir: bool,
    ) -> Result<bool> {
        let existing = sys::lstat_at(dir.as_raw_fd(), name).map_err(|e| self.io("stat", rel, e))?;
        match existing {
            None => Ok(false),
            Some(st) if keep_dir && sys::is_dir(&st) => Ok(true),
            Some(st) if self.opts.no_overwrite_dir_non_dir && keep_dir != sys::is_dir(&st) => {
                let what = if keep_dir {
                    "cannot overwrite non-directory"
                } else {
                    "cannot overwrite directory"
                };
                let with = if keep_dir {
                    "with directory"
                } else {
                    "with non-directory"
                };
                Err(StorageError::Overwrite(format!(
                    "{what} {:?} {with}",
                    Path::new("/").join(rel)
                )))
            }
            Some(_) => {
                sys::remove_all_at(dir.as_raw_fd(), name).map_err(|e| self.io("remove", rel, e))?;
                self.forget(rel);
                Ok(false)
            }
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        use tar::EntryType as T;
        let raw = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
        ) {
            return Ok(());
        }
        let rel = clean_path(&raw).map_err(|reason| unsafe_entry(&raw, reason))?;
        let meta = self.meta(entry, &raw)?;

        let Some(name) = rel.file_name().map(|n| n.to_owned()) else {
            // The root itself: only a directory entry makes sense, and it sets the root's metadata.
            if kind == T::Directory {
                let fd =
                    sys::reopen_dir(self.root.as_raw_fd()).map_err(|e| self.io("open", &rel, e))?;
                self.set_fd_meta(&fd, &rel, &meta)?;
                self.dir_times.insert(rel, meta.times);
                return Ok(());
            }
            return Err(unsafe_entry(
                &raw,
                "only a directory can name the layer root",
            ));
        };
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let name_bytes = name.as_bytes();

        let layer = self.opts.whiteouts != Whiteouts::Keep;
        // aufs bookkeeping (`.wh..wh.plnk/…`, `.wh..wh.aufs`) is not content.
        if layer
            && parent
                .iter()
                .any(|c| c.as_bytes().starts_with(WHITEOUT_META_PREFIX.as_bytes()))
        {
            return Ok(());
        }
        if let Some(rest) = name_bytes
            .strip_prefix(WHITEOUT_PREFIX.as_bytes())
            .filter(|_| layer)
        {
            if name_bytes == WHITEOUT_OPAQUE.as_bytes() {
                return self.opaque(&parent);
            }
            if name_bytes.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
                return Ok(());
            }
            if rest.is_empty() || rest == b"." || rest == b".." {
                return Err(unsafe_entry(&raw, "whiteout names no file"));
            }
            return self.whiteout(&parent, OsStr::from_bytes(rest), &meta);
        }

        let cname = sys::cname(&name).map_err(|e| self.io("create", &rel, e))?;
        match kind {
            T::Directory => {
                let dir = self.ensure_dir(&parent)?;
                if !self.clear_slot(&dir, &cname, &rel, true)? {
                    sys::mkdir_at(dir.as_raw_fd(), &cname, 0o700)
                        .map_err(|e| self.io("mkdir", &rel, e))?;
                }
                let fd = sys::open_dir_at(dir.as_raw_fd(), &cname)
                    .map_err(|e| self.io("open", &rel, e))?;
                self.set_fd_meta(&fd, &rel, &meta)?;
                self.dir_times.insert(rel.clone(), meta.times);
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let dir = self.ensure_dir(&parent)?;
                self.clear_slot(&dir, &cname, &rel, false)?;
                let mut file = sys::create_file_at(dir.as_raw_fd(), &cname)
                    .map_err(|e| self.io("create", &rel, e))?;
                let expected = entry.size();
                let written = self.copy_content(entry, &mut file, &raw, &rel)?;
                if written != expected {
                    return Err(StorageError::Archive(format!(
                        "layer tar is truncated: {} has {written} of {expected} bytes",
                        show(&raw)
                    )));
                }
                self.bytes += written;
                self.set_fd_meta(&file, &rel, &meta)?;
                sys::futimens(file.as_raw_fd(), &meta.times)
                    .map_err(|e| self.io("set times", &rel, e))?;
            }
            T::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                if link.is_empty() {
                    return Err(unsafe_entry(&raw, "symlink has no target"));
                }
                if link.len() >= sys::PATH_MAX {
                    return Err(unsafe_entry(
                        &raw,
                        format!(
                            "symlink target is {} bytes long, more than PATH_MAX",
                            link.len()
                        ),
                    ));
                }
                let clink = sys::cstring(&link)
                    .map_err(|_| unsafe_entry(&raw, "symlink target contains a nul byte"))?;
                let dir = self.ensure_dir(&parent)?;
                self.clear_slot(&dir, &cname, &rel, false)?;
                sys::symlink_at(&clink, dir.as_raw_fd(), &cname)
                    .map_err(|e| self.io("symlink", &rel, e))?;
                self.set_at_meta(&dir, &cname, &rel, &meta, false)?;
            }
            T::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                let src = clean_path(&link)
                    .map_err(|reason| unsafe_entry(&raw, format!("hardlink target: {reason}")))?;
                self.hardlink(&raw, &rel, &parent, &cname, &src)?;
            }
            T::Char | T::Block | T::Fifo => {
                let (major, minor) = if kind == T::Fifo {
                    (0, 0)
                } else {
                    let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                    let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                    (major, minor)
                };
                let ftype = match kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let dir = self.ensure_dir(&parent)?;
                self.clear_slot(&dir, &cname, &rel, false)?;
                sys::mknod_at(
                    dir.as_raw_fd(),
                    &cname,
                    ftype | (meta.mode & 0o777),
                    libc::makedev(major, minor),
                )
                .map_err(|e| self.io("mknod", &rel, e))?;
                self.set_at_meta(&dir, &cname, &rel, &meta, true)?;
            }
            other => {
                return Err(unsafe_entry(
                    &raw,
                    format!("unsupported tar entry type {:?}", other.as_byte() as char),
                ));
            }
        }
        self.mark_written(&rel);
        Ok(())
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, raw: &[u8]) -> Result<Meta> {
        let h = entry.header();
        let bad = |what: &str, e: io::Error| {
            StorageError::Archive(format!("bad {what} in {}: {e}", show(raw)))
        };
        // An empty numeric field reads as 0, as GNU tar and Go read it.
        let blank = |field: &[u8]| field.iter().all(|b| *b == 0 || *b == b' ');
        let old = h.as_old();
        let mode = if blank(&old.mode) {
            0
        } else {
            h.mode().map_err(|e| bad("mode", e))? & 0o7777
        };
        let uid = if blank(&old.uid) {
            0
        } else {
            h.uid().map_err(|e| bad("uid", e))?
        };
        let gid = if blank(&old.gid) {
            0
        } else {
            h.gid().map_err(|e| bad("gid", e))?
        };
        let uid = u32::try_from(uid)
            .map_err(|_| unsafe_entry(raw, format!("uid {uid} is out of range")))?;
        let gid = u32::try_from(gid)
            .map_err(|_| unsafe_entry(raw, format!("gid {gid} is out of range")))?;
        let mtime = if blank(&old.mtime) {
            0
        } else {
            h.mtime().map_err(|e| bad("mtime", e))?
        };
        let mut mtime = (i64::try_from(mtime).unwrap_or(i64::MAX), 0);
        let mut atime = None;
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(|e| bad("pax header", e))? {
            for ext in pax {
                let ext = ext.map_err(|e| bad("pax header", e))?;
                let key = ext.key_bytes();
                if let Some(xname) = key.strip_prefix(b"SCHILY.xattr.") {
                    if xname.is_empty() || xattr_forbidden(xname) {
                        continue;
                    }
                    let cname = sys::cstring(xname)
                        .map_err(|_| unsafe_entry(raw, "xattr name contains a nul byte"))?;
                    xattrs.push((cname, ext.value_bytes().to_vec()));
                } else if key == b"mtime" {
                    mtime = pax_time(ext.value_bytes())
                        .ok_or_else(|| unsafe_entry(raw, "bad pax mtime"))?;
                } else if key == b"atime" {
                    atime = Some(
                        pax_time(ext.value_bytes())
                            .ok_or_else(|| unsafe_entry(raw, "bad pax atime"))?,
                    );
                }
            }
        }
        let atime = atime.unwrap_or(mtime);
        let (uid, gid) = self.opts.chown.unwrap_or((uid, gid));
        Ok(Meta {
            mode,
            uid,
            gid,
            times: [
                sys::timespec(atime.0, atime.1),
                sys::timespec(mtime.0, mtime.1),
            ],
            xattrs,
        })
    }

    /// Owner, then mode (chown clears set-id bits), then xattrs (chown clears capabilities).
    fn set_fd_meta(&self, fd: &impl AsRawFd, rel: &Path, meta: &Meta) -> Result<()> {
        let fd = fd.as_raw_fd();
        sys::fchown(fd, meta.uid, meta.gid).map_err(|e| self.io("chown", rel, e))?;
        sys::fchmod(fd, meta.mode).map_err(|e| self.io("chmod", rel, e))?;
        for (key, value) in &meta.xattrs {
            tolerate_xattr(sys::fsetxattr(fd, key, value))
                .map_err(|e| self.io("set xattr", rel, e))?;
        }
        Ok(())
    }

    /// The same for an entry that must not be opened (symlink, device, fifo).
    fn set_at_meta(
        &self,
        dir: &OwnedFd,
        name: &CStr,
        rel: &Path,
        meta: &Meta,
        chmod: bool,
    ) -> Result<()> {
        let d = dir.as_raw_fd();
        sys::lchown_at(d, name, meta.uid, meta.gid).map_err(|e| self.io("chown", rel, e))?;
        if chmod {
            sys::chmod_at(d, name, meta.mode).map_err(|e| self.io("chmod", rel, e))?;
        }
        for (key, value) in &meta.xattrs {
            tolerate_xattr(sys::lsetxattr_at(d, name, key, value))
                .map_err(|e| self.io("set xattr", rel, e))?;
        }
        sys::utimens_at(d, name, &meta.times).map_err(|e| self.io("set times", rel, e))
    }

    /// Copies file content, leaving holes where whole blocks are zero.
    fn copy_content<R: Read>(
        &self,
        entry: &mut R,
        file: &mut std::fs::File,
        raw: &[u8],
        rel: &Path,
    ) -> Result<u64> {
        const BLOCK: usize = 64 * 1024;
        let mut buf = vec![0u8; BLOCK];
        let mut total = 0u64;
        let mut hole = false;
        loop {
            let mut filled = 0;
            while filled < BLOCK {
                match entry.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(StorageError::Archive(format!(
                            "reading {} from the layer tar: {e}",
                            show(raw)
                        )));
                    }
                }
            }
            if filled == 0 {
                break;
            }
            let chunk = &buf[..filled];
            if filled == BLOCK && chunk.iter().all(|b| *b == 0) {
                file.seek(SeekFrom::Current(BLOCK as i64))
                    .map_err(|e| self.io("seek", rel, e))?;
                hole = true;
            } else {
                file.write_all(chunk)
                    .map_err(|e| self.io("write", rel, e))?;
                hole = false;
            }
            total += filled as u64;
        }
        if hole {
            file.set_len(total)
                .map_err(|e| self.io("truncate", rel, e))?;
        }
        Ok(total)
    }

    fn hardlink(
        &mut self,
        raw: &[u8],
        rel: &Path,
        parent: &Path,
        cname: &CStr,
        src: &Path,
    ) -> Result<()> {
        let Some(src_name) = src.file_name() else {
            return Err(unsafe_entry(raw, "hardlink to the layer root"));
        };
        if src == rel {
            return Ok(()); // a link to itself: the file is already there
        }
        let src_parent = src.parent().unwrap_or(Path::new(""));
        let src_dir = self.open_dir(src_parent).map_err(|e| {
            unsafe_entry(
                raw,
                format!("hardlink target {} is not in the layer: {e}", src.display()),
            )
        })?;
        let src_cname = sys::cname(src_name).map_err(|e| self.io("link", rel, e))?;
        match sys::lstat_at(src_dir.as_raw_fd(), &src_cname) {
            Ok(Some(st)) if sys::is_dir(&st) => {
                return Err(unsafe_entry(raw, "hardlink to a directory"));
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(unsafe_entry(
                    raw,
                    format!("hardlink target {} is not in the layer", src.display()),
                ));
            }
            Err(e) => return Err(self.io("stat", src, e)),
        }
        let dir = self.ensure_dir(parent)?;
        self.clear_slot(&dir, cname, rel, false)?;
        sys::link_at(src_dir.as_raw_fd(), &src_cname, dir.as_raw_fd(), cname)
            .map_err(|e| self.io("link", rel, e))?;
        Ok(())
    }

    fn whiteout(&mut self, parent: &Path, name: &OsStr, meta: &Meta) -> Result<()> {
        let rel = parent.join(name);
        let cname = sys::cname(name).map_err(|e| self.io("whiteout", &rel, e))?;
        match self.opts.whiteouts {
            Whiteouts::Apply | Whiteouts::Keep => {
                let dir = match self.open_dir(parent) {
                    Ok(dir) => dir,
                    // Nothing there to delete.
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) =>
                    {
                        return Ok(())
                    }
                    Err(e) => return Err(self.io("open parent directory", parent, e)),
                };
                sys::remove_all_at(dir.as_raw_fd(), &cname)
                    .map_err(|e| self.io("remove", &rel, e))?;
                self.forget(&rel);
                self.written.remove(&rel);
            }
            Whiteouts::Overlay => {
                let dir = self.ensure_dir(parent)?;
                self.clear_slot(&dir, &cname, &rel, false)?;
                sys::mknod_at(dir.as_raw_fd(), &cname, libc::S_IFCHR, 0)
                    .map_err(|e| self.io("mknod whiteout", &rel, e))?;
                sys::lchown_at(dir.as_raw_fd(), &cname, meta.uid, meta.gid)
                    .map_err(|e| self.io("chown", &rel, e))?;
                self.mark_written(&rel);
            }
        }
        Ok(())
    }

    fn opaque(&mut self, dir_rel: &Path) -> Result<()> {
        match self.opts.whiteouts {
            Whiteouts::Apply | Whiteouts::Keep => {
                let dir = match self.open_dir(dir_rel) {
                    Ok(dir) => dir,
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) =>
                    {
                        return Ok(())
                    }
                    Err(e) => return Err(self.io("open opaque directory", dir_rel, e)),
                };
                self.prune(&dir, dir_rel)?;
            }
            Whiteouts::Overlay => {
                let dir = self.ensure_dir(dir_rel)?;
                sys::fsetxattr(dir.as_raw_fd(), c"trusted.overlay.opaque", b"y")
                    .map_err(|e| self.io("mark directory opaque", dir_rel, e))?;
                self.mark_written(dir_rel);
            }
        }
        Ok(())
    }

    /// Removes everything under `dir_rel` that this tar did not write.
    fn prune(&mut self, dir: &OwnedFd, dir_rel: &Path) -> Result<()> {
        let names = sys::list_dir(dir.as_raw_fd()).map_err(|e| self.io("list", dir_rel, e))?;
        for name in names {
            let rel = dir_rel.join(&name);
            let cname = sys::cname(&name).map_err(|e| self.io("remove", &rel, e))?;
            if self.written.contains(&rel) {
                let st =
                    sys::lstat_at(dir.as_raw_fd(), &cname).map_err(|e| self.io("stat", &rel, e))?;
                if st.is_some_and(|st| sys::is_dir(&st)) {
                    let child = sys::open_dir_at(dir.as_raw_fd(), &cname)
                        .map_err(|e| self.io("open", &rel, e))?;
                    self.prune(&child, &rel)?;
                }
            } else {
                sys::remove_all_at(dir.as_raw_fd(), &cname)
                    .map_err(|e| self.io("remove", &rel, e))?;
                self.forget(&rel);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let times = std::mem::take(&mut self.dir_times);
        for (rel, t) in times.iter().rev() {
            let Some(name) = rel.file_name() else {
                sys::futimens(self.root.as_raw_fd(), t)
                    .map_err(|e| self.io("set times", rel, e))?;
                continue;
            };
            let parent = rel.parent().unwrap_or(Path::new(""));
            let dir = self
                .open_dir(parent)
                .map_err(|e| self.io("open", parent, e))?;
            let cname = sys::cname(name).map_err(|e| self.io("set times", rel, e))?;
            sys::utimens_at(dir.as_raw_fd(), &cname, t)
                .map_err(|e| self.io("set times", rel, e))?;
        }
        Ok(())
    }
}

/// Filesystems without xattr support (or without the namespace) drop them, as docker does.
fn tolerate_xattr(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_strips_and_refuses() {
        let ok = |raw: &str| clean_path(raw.as_bytes()).unwrap();
        assert_eq!(ok("/abs/path"), Path::new("abs/path"));
        assert_eq!(ok("./a//b/./c/"), Path::new("a/b/c"));
        assert_eq!(ok("a/../b"), Path::new("b"));
        assert_eq!(ok("./"), Path::new(""));
        assert!(clean_path(b"../x").unwrap_err().contains("'..'"));
        assert!(clean_path(b"a/../../x").unwrap_err().contains("'..'"));
        assert!(clean_path(b"/..").unwrap_err().contains("'..'"));
        assert!(clean_path(&[b'a'; 256]).unwrap_err().contains("NAME_MAX"));
        assert!(clean_path(&[b'a'; 4096]).unwrap_err().contains("PATH_MAX"));
        assert!(clean_path(b"a\0b").unwrap_err().contains("nul"));
    }

    #[test]
    fn fallback_walk_refuses_symlinked_parents() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::os::unix::fs::symlink("d", tmp.path().join("s")).unwrap();
        let opts = ApplyOptions::default();
        let applier = Applier {
            target: tmp.path(),
            root: sys::open_dir_path(tmp.path()).unwrap(),
            openat2: false,
            opts: &opts,
            written: HashSet::new(),
            dir_times: BTreeMap::new(),
            bytes: 0,
        };
        assert!(applier.open_dir(Path::new("d")).is_ok());
        assert!(applier.open_dir(Path::new("s")).is_err());
        assert!(applier.open_dir(Path::new("s/x")).is_err());
    }

    #[test]
    fn pax_times_parse() {
        assert_eq!(pax_time(b"1600000000"), Some((1_600_000_000, 0)));
        assert_eq!(
            pax_time(b"1600000000.5"),
            Some((1_600_000_000, 500_000_000))
        );
        assert_eq!(pax_time(b"1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(pax_time(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(pax_time(b"x"), None);
        assert_eq!(pax_time(b"1.x"), None);
    }
}
