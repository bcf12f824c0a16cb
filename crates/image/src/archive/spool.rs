//! Reading an archive once: every regular file goes to a temp file (under a name of our own, never
//! the archive's path), hashed as it is written. Paths are checked as they come: no absolute
//! paths, no `..`, no devices. Symlinks and hard links are never created; one that stays inside
//! the archive is kept as an alias (older `docker save` links repeated layers), any other is
//! refused. A blob under `blobs/sha256/<hex>` must hash to its name.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tar::EntryType;

use crate::{Digest, ImageError, Result};

/// The most a JSON document of the archive may weigh (manifests, configs, index).
const JSON_LIMIT: u64 = 64 << 20;

pub(crate) fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::Archive(msg.into())
}

#[derive(Debug)]
pub(crate) struct Spooled {
    pub file: PathBuf,
    pub size: u64,
    pub digest: Digest,
}

pub(crate) struct Spool {
    _dir: tempfile::TempDir,
    files: HashMap<String, Spooled>,
    links: HashMap<String, String>,
}

/// `path` as a clean relative archive path ("a/b"), or None when it is absolute or climbs out.
pub(crate) fn clean(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// A link target, relative to the link's own directory, as a clean archive path.
fn link_target(entry: &str, target: &str, hard: bool) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = if hard {
        Vec::new()
    } else {
        let mut p: Vec<&str> = entry.split('/').collect();
        p.pop();
        p
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn read_err(e: std::io::Error) -> ImageError {
    bad(format!(
        "cannot read the archive (truncated, or not a tar): {e}"
    ))
}

impl Spool {
    /// Reads the whole tar (plain, gzip or zstd) from `input` into a temp dir under `parent`
    /// (the content store's root, so that layer blobs can be renamed into it).
    pub fn read(input: impl Read, parent: &Path) -> Result<Spool> {
        let dir = tempfile::Builder::new()
            .prefix(".berth-load-")
            .tempdir_in(parent)
            .map_err(|e| ImageError::io("create a temp dir in", parent, e))?;
        let (_, input) = berth_storage::layer::decompress(input).map_err(read_err)?;
        let mut spool = Spool {
            files: HashMap::new(),
            links: HashMap::new(),
            _dir: dir,
        };
        let mut archive = tar::Archive::new(input);
        let mut count = 0usize;
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            count += 1;
            let raw = entry.path_bytes();
            let raw = std::str::from_utf8(&raw)
                .map_err(|_| bad("an entry's path is not UTF-8"))?
                .to_string();
            let path = clean(&raw)
                .ok_or_else(|| bad(format!("entry {raw:?} points outside the archive")))?;
            let kind = entry.header().entry_type();
            if spool.files.contains_key(&path) || spool.links.contains_key(&path) {
                return Err(bad(format!("entry {path:?} appears twice")));
            }
            match kind {
                EntryType::Directory | EntryType::XGlobalHeader => {}
                EntryType::Regular | EntryType::Continuous => {
                    let file = spool._dir.path().join(count.to_string());
                    let spooled = copy_hashed(&mut entry, &file)?;
                    check_blob_name(&path, &spooled.digest)?;
                    spool.files.insert(path, spooled);
                }
                EntryType::Symlink | EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let resolved = link_target(&path, &target, kind == EntryType::Link)
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| {
                            bad(format!(
                                "link {path:?} -> {target:?} points outside the archive"
                            ))
                        })?;
                    spool.links.insert(path, resolved);
                }
                other => {
                    return Err(bad(format!(
                        "entry {path:?} has unsupported type {other:?}"
                    )));
                }
            }
        }
        if count == 0 {
            return Err(bad("the archive is empty (or not a tar)"));
        }
        Ok(spool)
    }

    /// A path in the temp dir for a file of the loader's own.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self._dir.path().join(name)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.lookup(path).is_ok()
    }

    /// The file at archive path `path` (as a manifest names it), following in-archive links.
    pub fn lookup(&self, path: &str) -> Result<&Spooled> {
        let mut current =
            clean(path).ok_or_else(|| bad(format!("path {path:?} points outside the archive")))?;
        for _ in 0..16 {
            if let Some(f) = self.files.get(&current) {
                return Ok(f);
            }
            match self.links.get(&current) {
                Some(next) => current = next.clone(),
                None => return Err(bad(format!("{path} is missing from the archive"))),
            }
        }
        Err(bad(format!("{path}: too many levels of links")))
    }

    pub fn open(&self, path: &str) -> Result<BufReader<File>> {
        let f = self.lookup(path)?;
        let file = File::open(&f.file).map_err(|e| ImageError::io("open", &f.file, e))?;
        Ok(BufReader::with_capacity(256 * 1024, file))
    }

    pub fn read_small(&self, path: &str) -> Result<Vec<u8>> {
        let f = self.lookup(path)?;
        if f.size > JSON_LIMIT {
            return Err(bad(format!("{path} is {} bytes, too large", f.size)));
        }
        std::fs::read(&f.file).map_err(|e| ImageError::io("read", &f.file, e))
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        serde_json::from_slice(&self.read_small(path)?)
            .map_err(|e| bad(format!("{path} is not valid: {e}")))
    }

    /// The blob a descriptor names, checked against the descriptor's size (the digest was checked
    /// when the blob was read).
    pub fn blob(&self, digest: &str, size: Option<u64>) -> Result<(String, &Spooled)> {
        let d: Digest = digest
            .parse()
            .map_err(|e| bad(format!("descriptor digest: {e}")))?;
        let path = format!("blobs/sha256/{}", d.hex());
        let f = self
            .lookup(&path)
            .map_err(|_| bad(format!("blob {d} is missing from the archive")))?;
        if let Some(size) = size.filter(|s| *s != f.size) {
            return Err(bad(format!(
                "blob {d} is {} bytes, its descriptor says {size}",
                f.size
            )));
        }
        Ok((path, f))
    }
}

fn copy_hashed(input: &mut impl Read, dest: &std::path::Path) -> Result<Spooled> {
    let mut out = File::create(dest).map_err(|e| ImageError::io("create", dest, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| ImageError::io("write", dest, e))?;
        size += n as u64;
    }
    let digest = format!("sha256:{:x}", hasher.finalize())
        .parse()
        .expect("sha256 hex is a digest");
    Ok(Spooled {
        file: dest.to_path_buf(),
        size,
        digest,
    })
}

/// A file at `blobs/sha256/<hex>` must hash to `<hex>`.
fn check_blob_name(path: &str, digest: &Digest) -> Result<()> {
    if let Some(name) = path.strip_prefix("blobs/sha256/") {
        if name != digest.hex() {
            return Err(bad(format!(
                "blob {path} does not match its digest: its content hashes to {digest}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_escapes_refused() {
        assert_eq!(clean("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(clean("/etc/passwd"), None);
        assert_eq!(clean("a/../../x"), None);
        assert_eq!(
            link_target("a/layer.tar", "../b/layer.tar", false).as_deref(),
            Some("b/layer.tar")
        );
        assert_eq!(link_target("a/layer.tar", "../../b", false), None);
        assert_eq!(link_target("a/x", "b/y", true).as_deref(), Some("b/y"));
    }
}
