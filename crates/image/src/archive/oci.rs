//! The OCI image layout: `oci-layout`, `index.json`, `blobs/sha256/<hex>`. The index points at
//! manifests (or nested indexes, of which the host's platform is taken); a manifest at a config
//! and the layer blobs. Tags come from the index's annotations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::load::Candidate;
use super::save::{export_layer, Selected, Source, TarEntries};
use super::spool::{bad, Spool};
use crate::{Digest, ImageConfig, ImageStore, Reference, Result};

pub(crate) const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub(crate) const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    media_type: String,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    media_type: String,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout {
    image_layout_version: String,
}

/// The images an OCI layout's index.json names, their blobs found and checked.
pub(crate) fn candidates(spool: &Spool) -> Result<Vec<Candidate>> {
    let layout: Layout = spool
        .json("oci-layout")
        .map_err(|e| bad(format!("not an OCI layout: oci-layout: {e}")))?;
    if !layout.image_layout_version.starts_with("1.") {
        return Err(bad(format!(
            "OCI layout version {} is not supported",
            layout.image_layout_version
        )));
    }
    let index: Index = spool.json("index.json")?;
    let mut out = Vec::new();
    for (i, desc) in index.manifests.iter().enumerate() {
        let what = format!("index.json manifest {i} ({})", desc.digest);
        let tags = tags_of(desc).map_err(|e| bad(format!("{what}: {e}")))?;
        let manifest = resolve(spool, desc, &what, 0)?;
        let (config_path, _) = spool
            .blob(&manifest.config.digest, Some(manifest.config.size))
            .map_err(|e| bad(format!("{what}: config: {e}")))?;
        let config = spool.read_small(&config_path)?;
        let mut layers = Vec::new();
        for l in &manifest.layers {
            if !is_layer(&l.media_type) {
                return Err(bad(format!(
                    "{what}: layer {} has unsupported media type {:?}",
                    l.digest, l.media_type
                )));
            }
            layers.push(
                spool
                    .blob(&l.digest, Some(l.size))
                    .map_err(|e| bad(format!("{what}: {e}")))?
                    .0,
            );
        }
        out.push(Candidate::new(what, config, layers, tags)?);
    }
    Ok(out)
}

fn is_layer(media_type: &str) -> bool {
    let base = media_type
        .strip_prefix("application/vnd.oci.image.layer.")
        .unwrap_or("");
    matches!(base, "v1.tar" | "v1.tar+gzip" | "v1.tar+zstd")
        || media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"
        || media_type == "application/vnd.docker.image.rootfs.diff.tar"
}

/// The tags an index descriptor gives: containerd's full name, else a ref.name that is a whole
/// reference (a bare tag such as "latest" names no repository, so gives none).
fn tags_of(desc: &Descriptor) -> Result<Vec<Reference>> {
    if let Some(name) = desc.annotations.get(CONTAINERD_NAME) {
        return Ok(vec![Reference::parse_tagged(name)?]);
    }
    match desc.annotations.get(REF_NAME) {
        Some(name) if name.contains('/') || name.contains(':') => {
            Ok(vec![Reference::parse_tagged(name)?])
        }
        _ => Ok(Vec::new()),
    }
}

/// Follows `desc` down nested indexes to an image manifest for this host's platform.
fn resolve(spool: &Spool, desc: &Descriptor, what: &str, depth: u32) -> Result<Manifest> {
    if depth > 4 {
        return Err(bad(format!("{what}: indexes nest too deep")));
    }
    let (path, _) = spool
        .blob(&desc.digest, Some(desc.size))
        .map_err(|e| bad(format!("{what}: {e}")))?;
    let bytes = spool.read_small(&path)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("{what}: {path}: {e}")))?;
    let media_type = value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(&desc.media_type);
    let is_index = media_type == INDEX
        || media_type == DOCKER_LIST
        || (media_type.is_empty() && value.get("manifests").is_some());
    if !is_index {
        if ![MANIFEST, DOCKER_MANIFEST, ""].contains(&media_type) {
            return Err(bad(format!(
                "{what}: media type {media_type:?} is not an image manifest"
            )));
        }
        return serde_json::from_value(value)
            .map_err(|e| bad(format!("{what}: manifest {path}: {e}")));
    }
    let index: Index =
        serde_json::from_value(value).map_err(|e| bad(format!("{what}: index {path}: {e}")))?;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let chosen = match index.manifests.as_slice() {
        [only] => only,
        many => many
            .iter()
            .find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == arch)
            })
            .ok_or_else(|| {
                bad(format!(
                    "{what}: no manifest for linux/{arch} in index {path}"
                ))
            })?,
    };
    resolve(spool, chosen, what, depth + 1)
}

/// Adds the images to `tar` as an OCI layout: uncompressed layers, one index entry per tag.
pub(crate) fn write(store: &ImageStore, images: &[Selected], tar: &mut TarEntries) -> Result<()> {
    tar.add("blobs/".into(), Source::Dir, 0);
    tar.add("blobs/sha256/".into(), Source::Dir, 0);
    let mut manifests = Vec::new();
    for image in images {
        let bytes = store.config_bytes(&image.id)?;
        let config = ImageConfig::parse(&bytes)?;
        let mut layers = Vec::new();
        let mut chain: Option<Digest> = None;
        for diff_id in config.diff_ids() {
            let layer_chain = Digest::chain(chain.as_ref(), &diff_id);
            let (file, size) = export_layer(store, &layer_chain, &diff_id)?;
            let path = format!("blobs/sha256/{}", diff_id.hex());
            tar.add(path, Source::File(file, size), 0);
            layers.push(descriptor(LAYER, &diff_id, size));
            chain = Some(layer_chain);
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST.into(),
            config: descriptor(CONFIG, &image.id, bytes.len() as u64),
            layers,
        };
        tar.add(
            format!("blobs/sha256/{}", image.id.hex()),
            Source::Bytes(bytes),
            0,
        );
        let manifest = serde_json::to_vec(&manifest).expect("manifest serialises");
        let digest = Digest::of(&manifest);
        let desc = descriptor(MANIFEST, &digest, manifest.len() as u64);
        tar.add(
            format!("blobs/sha256/{}", digest.hex()),
            Source::Bytes(manifest),
            0,
        );
        if image.tags.is_empty() {
            manifests.push(desc.clone());
        }
        for t in &image.tags {
            let mut d = desc.clone();
            let tag = t.tag().unwrap_or("latest");
            d.annotations
                .insert(CONTAINERD_NAME.into(), format!("{}:{tag}", t.name()));
            d.annotations.insert(REF_NAME.into(), tag.into());
            manifests.push(d);
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: INDEX.into(),
        manifests,
    };
    tar.add(
        "index.json".into(),
        Source::Bytes(serde_json::to_vec(&index).expect("index serialises")),
        0,
    );
    tar.add(
        "oci-layout".into(),
        Source::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        0,
    );
    Ok(())
}

fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: digest.to_string(),
        size,
        annotations: BTreeMap::new(),
        platform: None,
    }
}
