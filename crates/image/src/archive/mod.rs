//! `docker save` / `docker load`: images as docker-archive tars (what Docker 20.10 writes) and as
//! OCI image layouts.
//!
//! Loading reads the archive once into a temp dir, checking every path and hashing every file on
//! the way; then it checks that each image's config and layers are all there, registers the
//! layers (the layer store computes each diff ID as it applies the layer) and compares every
//! diff ID with the config's. Only when all of that passed are the configs stored and the tags
//! set. On any failure the layers registered so far are released: the store is left as it was.

mod docker;
mod load;
mod oci;
mod save;
mod spool;

pub use load::load;
pub use save::save;

use crate::{Digest, Reference};

/// The two archive formats berth writes (it reads both, telling them apart by their content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `manifest.json`, `<v1 id>/layer.tar`, `<config>.json`, `repositories`: `docker save`.
    Docker,
    /// `oci-layout`, `index.json`, `blobs/sha256/…`: an OCI image layout.
    Oci,
}

/// One image a load brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: Digest,
    pub tags: Vec<Reference>,
}

/// What `load` did, in the archive's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub format: Option<ArchiveFormat>,
    pub images: Vec<LoadedImage>,
}

impl LoadReport {
    /// The lines `docker load` prints: "Loaded image: busybox:latest" per tag, and
    /// "Loaded image ID: sha256:…" for an image loaded without a tag.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for image in &self.images {
            if image.tags.is_empty() {
                out.push(format!("Loaded image ID: {}", image.id));
            }
            for t in &image.tags {
                out.push(format!("Loaded image: {}", t.familiar()));
            }
        }
        out
    }
}
