//! Loading: detect the format, gather each image's parts, verify, then commit.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::spool::{bad, Spool};
use super::{docker, oci, ArchiveFormat, LoadReport, LoadedImage};
use crate::{Digest, ImageConfig, ImageError, ImageStore, Reference, Result};

/// One image found in an archive, with everything checked that can be checked without
/// registering its layers.
pub(crate) struct Candidate {
    /// Where it came from, for messages ("manifest.json entry 0").
    pub what: String,
    pub config: Vec<u8>,
    /// Archive paths of the layer blobs, bottom first; as many as the config has diff IDs.
    pub layers: Vec<String>,
    pub tags: Vec<Reference>,
}

impl Candidate {
    pub fn new(
        what: String,
        config: Vec<u8>,
        layers: Vec<String>,
        tags: Vec<Reference>,
    ) -> Result<Candidate> {
        let parsed = ImageConfig::parse(&config).map_err(|e| bad(format!("{what}: {e}")))?;
        if parsed.diff_ids().len() != layers.len() {
            return Err(bad(format!(
                "{what}: the config lists {} layers (rootfs.diff_ids) but the manifest {}",
                parsed.diff_ids().len(),
                layers.len()
            )));
        }
        Ok(Candidate {
            what,
            config,
            layers,
            tags,
        })
    }
}

/// Loads every image of a docker-archive or OCI layout tar (plain, gzip or zstd) from `input`.
pub fn load(store: &ImageStore, input: impl Read) -> Result<LoadReport> {
    let blobs_root = store.content().path(&Digest::of(b""));
    let blobs_root = blobs_root
        .parent()
        .and_then(Path::parent)
        .expect("blobs live in <root>/sha256");
    let spool = Spool::read(input, blobs_root)?;
    let (format, candidates) = if spool.contains("manifest.json") {
        (ArchiveFormat::Docker, docker::candidates(&spool)?)
    } else if spool.contains("index.json") {
        (ArchiveFormat::Oci, oci::candidates(&spool)?)
    } else {
        return Err(bad(
            "neither a docker archive (no manifest.json) nor an OCI layout (no index.json)",
        ));
    };
    if candidates.is_empty() {
        return Err(bad("the archive holds no image"));
    }
    let mut held = Vec::new();
    let mut originals = Vec::new();
    let registered = register_all(store, &spool, &candidates, &mut held, &mut originals);
    let result = registered.and_then(|()| commit(store, &candidates, &originals));
    let mut release_err = None;
    for chain in held.iter().rev() {
        if let Err(e) = store.layers().release(chain) {
            release_err.get_or_insert(e);
        }
    }
    let images = result?;
    if let Some(e) = release_err {
        return Err(e.into());
    }
    Ok(LoadReport {
        format: Some(format),
        images,
    })
}

/// Registers every layer of every candidate, each on its parent, checking each diff ID against
/// the config. `held` gets one reference per layer taken, for the caller to release;
/// `originals` the uncompressed tar of each new layer (in the spool), for the content store.
fn register_all(
    store: &ImageStore,
    spool: &Spool,
    candidates: &[Candidate],
    held: &mut Vec<Digest>,
    originals: &mut Vec<(Digest, PathBuf)>,
) -> Result<()> {
    let layers = store.layers();
    for c in candidates {
        let diff_ids = ImageConfig::parse(&c.config)?.diff_ids();
        let mut parent: Option<Digest> = None;
        for (i, (path, expected)) in c.layers.iter().zip(&diff_ids).enumerate() {
            let chain = Digest::chain(parent.as_ref(), expected);
            if layers.get(&chain).is_some() {
                // Already here, with the very content the config names: no need to apply it.
                layers.acquire(&chain)?;
                held.push(chain.clone());
                parent = Some(chain);
                continue;
            }
            let fail =
                |e: &dyn std::fmt::Display| bad(format!("{}: layer {i} ({path}): {e}", c.what));
            let spooled = spool.lookup(path)?;
            let (layer, original) = if spooled.digest == *expected {
                // An uncompressed tar, already hashed: it is its own original.
                let layer = layers
                    .register(parent.as_ref(), spool.open(path)?)
                    .map_err(|e| fail(&e))?;
                held.push(layer.chain_id.clone());
                (layer, spooled.file.clone())
            } else {
                // Compressed (or wrong): keep the uncompressed bytes as the layer store reads them.
                let copy = spool.scratch(&format!("layer-{}", originals.len() + held.len()));
                let out = File::create(&copy).map_err(|e| ImageError::io("create", &copy, e))?;
                let (_, plain) =
                    berth_storage::layer::decompress(spool.open(path)?).map_err(|e| fail(&e))?;
                let mut tee = Tee {
                    inner: plain,
                    out: BufWriter::new(out),
                };
                let layer = layers
                    .register(parent.as_ref(), &mut tee)
                    .map_err(|e| fail(&e))?;
                held.push(layer.chain_id.clone());
                let file = tee
                    .out
                    .into_inner()
                    .map_err(|e| ImageError::io("write", &copy, e.into_error()))?;
                file.sync_all()
                    .map_err(|e| ImageError::io("sync", &copy, e))?;
                (layer, copy)
            };
            if layer.diff_id != *expected {
                return Err(bad(format!(
                    "{}: layer {i} ({path}) has diff ID {} but the image config says {expected}",
                    c.what, layer.diff_id
                )));
            }
            originals.push((layer.diff_id, original));
            parent = Some(layer.chain_id);
        }
    }
    Ok(())
}

/// Copies what is read through it into `out`.
struct Tee<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Moves each new layer's original tar into the content store (under its diff ID), so that a
/// save gives back the very bytes that were loaded. Returns the blobs it added.
fn keep_originals(store: &ImageStore, originals: &[(Digest, PathBuf)]) -> Result<Vec<Digest>> {
    let content = store.content();
    let mut added = Vec::new();
    for (diff_id, file) in originals {
        if content.exists(diff_id) || added.contains(diff_id) {
            continue;
        }
        let dest = content.path(diff_id);
        let kept = File::open(file)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(file, &dest))
            .map_err(|e| ImageError::io("rename", &dest, e))
            .or_else(|_| {
                let f = File::open(file).map_err(|e| ImageError::io("open", file, e))?;
                content
                    .put_stream(Some(diff_id), std::io::BufReader::new(f))
                    .map(|_| ())
            });
        if let Err(e) = kept {
            for d in &added {
                let _ = content.delete(d);
            }
            return Err(e);
        }
        added.push(diff_id.clone());
    }
    Ok(added)
}

/// Stores the configs (the images now hold their layers) and sets the tags.
fn commit(
    store: &ImageStore,
    candidates: &[Candidate],
    originals: &[(Digest, PathBuf)],
) -> Result<Vec<LoadedImage>> {
    keep_originals(store, originals)?;
    let mut out: Vec<LoadedImage> = Vec::new();
    for c in candidates {
        let id = store.create(&c.config, None)?;
        for t in &c.tags {
            store.tag(&id, t)?;
        }
        match out.iter_mut().find(|l| l.id == id) {
            Some(l) => l.tags.extend(c.tags.iter().cloned()),
            None => out.push(LoadedImage {
                id,
                tags: c.tags.clone(),
            }),
        }
    }
    Ok(out)
}
