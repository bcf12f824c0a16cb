//! Saving: choose the images and their tags, export their layers, and write a tar whose bytes
//! depend only on the images (entries sorted, fixed owners, modes and times).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, Write};

use sha2::{Digest as _, Sha256};

use super::spool::bad;
use super::{docker, oci, ArchiveFormat};
use crate::{Digest, ImageError, ImageStore, Reference, Result};

/// An image to save, with the tags the archive gives it.
pub(crate) struct Selected {
    pub id: Digest,
    pub tags: Vec<Reference>,
}

/// Writes `images` (tags, names or IDs) to `out` as a docker-archive or an OCI layout tar.
///
/// As `docker save` does: `name:tag` saves that tag; a bare `name` every tag of that repository;
/// an ID (full or short) the image without tags.
pub fn save(
    store: &ImageStore,
    images: &[String],
    format: ArchiveFormat,
    out: impl Write,
) -> Result<()> {
    if images.is_empty() {
        return Err(bad("nothing to save: name at least one image"));
    }
    let selected = select(store, images)?;
    let mut tar = TarEntries::default();
    match format {
        ArchiveFormat::Docker => docker::write(store, &selected, &mut tar)?,
        ArchiveFormat::Oci => oci::write(store, &selected, &mut tar)?,
    }
    tar.write(out)
}

fn select(store: &ImageStore, names: &[String]) -> Result<Vec<Selected>> {
    let mut out: Vec<Selected> = Vec::new();
    let mut add = |id: Digest, tags: Vec<Reference>| match out.iter_mut().find(|s| s.id == id) {
        Some(s) => {
            for t in tags {
                if !s.tags.contains(&t) {
                    s.tags.push(t);
                }
            }
        }
        None => out.push(Selected { id, tags }),
    };
    for name in names {
        let is_id = name.parse::<Digest>().is_ok()
            || store
                .resolve(name)
                .is_ok_and(|id| id.hex().starts_with(name.trim_start_matches("sha256:")));
        match Reference::parse(name) {
            Ok(r) if !is_id && r.is_name_only() => {
                let mut found = false;
                for image in store.list() {
                    let tags: Vec<Reference> = image
                        .repo_tags
                        .into_iter()
                        .filter(|t| t.name() == r.name())
                        .collect();
                    if !tags.is_empty() {
                        found = true;
                        add(image.id, tags);
                    }
                }
                if !found {
                    return Err(ImageError::NotFound(name.clone()));
                }
            }
            Ok(r) if !is_id && r.tag().is_some() => add(store.resolve(name)?, vec![r]),
            _ => add(store.resolve(name)?, Vec::new()),
        }
    }
    for s in &mut out {
        s.tags.sort();
    }
    Ok(out)
}

/// The uncompressed tar of layer `chain`: the original a load kept in the content store, else
/// the layer store's export in an anonymous temp file, checked against `diff_id`.
pub(crate) fn export_layer(
    store: &ImageStore,
    chain: &Digest,
    diff_id: &Digest,
) -> Result<(File, u64)> {
    if store.content().exists(diff_id) {
        let path = store.content().path(diff_id);
        let file = File::open(&path).map_err(|e| ImageError::io("open", &path, e))?;
        let size = file
            .metadata()
            .map_err(|e| ImageError::io("stat", &path, e))?
            .len();
        return Ok((file, size));
    }
    let file = tempfile::tempfile()
        .map_err(|e| ImageError::io("create a temp file in", std::env::temp_dir(), e))?;
    let mut w = HashingWriter {
        inner: std::io::BufWriter::new(file),
        hasher: Sha256::new(),
        size: 0,
    };
    store.layers().export(chain, &mut w)?;
    let HashingWriter {
        inner,
        hasher,
        size,
    } = w;
    let mut file = inner.into_inner().map_err(|e| {
        ImageError::io("write a temp file in", std::env::temp_dir(), e.into_error())
    })?;
    let got: Digest = format!("sha256:{:x}", hasher.finalize())
        .parse()
        .expect("sha256 hex is a digest");
    if got != *diff_id {
        return Err(bad(format!(
            "layer {chain} exports with diff ID {got}, its image says {diff_id}"
        )));
    }
    file.rewind()
        .map_err(|e| ImageError::io("rewind a temp file in", std::env::temp_dir(), e))?;
    Ok((file, size))
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub(crate) enum Source {
    Dir,
    Bytes(Vec<u8>),
    File(File, u64),
}

/// The archive's entries by path; written in path order.
#[derive(Default)]
pub(crate) struct TarEntries {
    entries: BTreeMap<String, (Source, u64)>,
}

impl TarEntries {
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    /// Adds an entry (a directory when `path` ends in '/') with modification time `mtime`.
    pub fn add(&mut self, path: String, source: Source, mtime: u64) {
        self.entries.entry(path).or_insert((source, mtime));
    }

    fn write(self, out: impl Write) -> Result<()> {
        let werr = |e: std::io::Error| ImageError::io("write", "the image archive", e);
        let mut b = tar::Builder::new(out);
        for (path, (source, mtime)) in self.entries {
            let mut h = tar::Header::new_ustar();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(mtime);
            match source {
                Source::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, &path, std::io::empty())
                        .map_err(werr)?;
                }
                Source::Bytes(bytes) => {
                    h.set_mode(0o644);
                    h.set_size(bytes.len() as u64);
                    b.append_data(&mut h, &path, &bytes[..]).map_err(werr)?;
                }
                Source::File(file, size) => {
                    h.set_mode(0o644);
                    h.set_size(size);
                    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
                    b.append_data(&mut h, &path, reader).map_err(werr)?;
                }
            }
        }
        b.into_inner().map_err(werr)?.flush().map_err(werr)
    }
}

/// JSON as Go's encoding/json writes it: compact, with <, >, &, U+2028 and U+2029 escaped.
pub(crate) fn go_json(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len());
    for c in compact.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}
