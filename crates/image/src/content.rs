//! The content store: `blobs/sha256/<hex>`, each blob verified against its digest as it is
//! written (a mismatch leaves nothing), and garbage-collected when nothing refers to it.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::{Digest, ImageError, Result};

#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
}

impl ContentStore {
    /// Opens `<root>/sha256`, creating it; temp files of an interrupted write are removed.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let dir = root.join("sha256");
        std::fs::create_dir_all(&dir).map_err(|e| ImageError::io("create", &dir, e))?;
        for entry in std::fs::read_dir(&dir)
            .map_err(|e| ImageError::io("read", &dir, e))?
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(ContentStore { dir })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    pub fn exists(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Stores `bytes`; returns their digest.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest> {
        let (digest, _) = self.put_stream(None, bytes)?;
        Ok(digest)
    }

    /// Streams `input` into the store. With `expected`, a blob whose content hashes otherwise is
    /// refused and nothing is kept.
    pub fn put_stream(
        &self,
        expected: Option<&Digest>,
        mut input: impl Read,
    ) -> Result<(Digest, u64)> {
        let tmp = self.dir.join(format!(".tmp-{}", unique_suffix()));
        let result = (|| {
            let mut file =
                std::fs::File::create(&tmp).map_err(|e| ImageError::io("create", &tmp, e))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut size = 0u64;
            loop {
                let n = input
                    .read(&mut buf)
                    .map_err(|e| ImageError::io("read blob for", &tmp, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n])
                    .map_err(|e| ImageError::io("write", &tmp, e))?;
                size += n as u64;
            }
            file.sync_all()
                .map_err(|e| ImageError::io("sync", &tmp, e))?;
            let digest: Digest = format!("sha256:{:x}", hasher.finalize())
                .parse()
                .expect("sha256 hex is a digest");
            if let Some(expected) = expected {
                if *expected != digest {
                    return Err(ImageError::DigestMismatch {
                        expected: expected.to_string(),
                        actual: digest.to_string(),
                    });
                }
            }
            let dest = self.path(&digest);
            std::fs::rename(&tmp, &dest).map_err(|e| ImageError::io("rename", &dest, e))?;
            Ok((digest, size))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// A temp file in the store that becomes a blob on [`Spool::commit`], or vanishes if dropped.
    pub fn spool(&self) -> Result<Spool> {
        let path = self.dir.join(format!(".tmp-{}", unique_suffix()));
        let file = std::fs::File::create(&path).map_err(|e| ImageError::io("create", &path, e))?;
        Ok(Spool {
            file,
            hasher: Sha256::new(),
            path: Some(path),
            dir: self.dir.clone(),
        })
    }

    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>> {
        let p = self.path(digest);
        std::fs::read(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ImageError::NotFound(digest.to_string()),
            _ => ImageError::io("read", &p, e),
        })
    }

    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let p = self.path(digest);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::io("remove", &p, e)),
        }
    }

    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .map_err(|e| ImageError::io("read", &self.dir, e))?
            .flatten()
        {
            if let Ok(d) = format!("sha256:{}", entry.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes every blob not in `keep`; returns what was removed.
    pub fn gc(&self, keep: &HashSet<Digest>) -> Result<Vec<Digest>> {
        let mut removed = Vec::new();
        for d in self.list()? {
            if !keep.contains(&d) {
                self.delete(&d)?;
                removed.push(d);
            }
        }
        Ok(removed)
    }
}

/// A blob being written; see [`ContentStore::spool`].
pub struct Spool {
    file: std::fs::File,
    hasher: Sha256,
    path: Option<PathBuf>,
    dir: PathBuf,
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Spool {
    /// Keeps what was written as the blob `expected`, refusing it if it hashes otherwise.
    pub fn commit(mut self, expected: &Digest) -> Result<()> {
        let path = self.path.take().expect("a spool commits once");
        let actual: Digest = format!("sha256:{:x}", self.hasher.clone().finalize())
            .parse()
            .expect("sha256 hex");
        let kept = (|| {
            if actual != *expected {
                return Err(ImageError::DigestMismatch {
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
            self.file
                .sync_all()
                .map_err(|e| ImageError::io("sync", &path, e))?;
            let dest = self.dir.join(expected.hex());
            std::fs::rename(&path, &dest).map_err(|e| ImageError::io("rename", &dest, e))
        })();
        if kept.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        kept
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn unique_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_stored_by_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = store.put(b"hello").unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(store.get(&d).unwrap(), b"hello");
        assert_eq!(store.list().unwrap(), vec![d.clone()]);
        assert!(store.path(&d).ends_with(d.hex()));
    }

    #[test]
    fn a_wrong_digest_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let wrong = Digest::of(b"other");
        let err = store.put_stream(Some(&wrong), &b"hello"[..]).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(store.list().unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(dir.path().join("sha256"))
                .unwrap()
                .count(),
            0,
            "a temp file was left"
        );
    }

    #[test]
    fn gc_removes_what_nothing_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let a = store.put(b"a").unwrap();
        let b = store.put(b"b").unwrap();
        let removed = store.gc(&[a.clone()].into_iter().collect()).unwrap();
        assert_eq!(removed, vec![b.clone()]);
        assert!(store.exists(&a) && !store.exists(&b));
    }
}
