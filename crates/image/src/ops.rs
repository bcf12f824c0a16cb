//! The image operations docker exposes: import, commit, export, history, inspect, list filters.

use std::io::{Read, Write};

use serde_json::{json, Value};

use crate::changes::apply_changes;
use crate::config::now_rfc3339;
use crate::store::{short_id, Image, ImageStore};
use crate::{ContainerConfig, Digest, History, ImageConfig, ImageError, Reference, Result, RootFs};

/// Docker's name for this machine's architecture.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    }
}

/// `docker import`: a rootfs tarball (plain, gzip or zstd) becomes a one-layer image, its
/// runtime config set by the `--change` instructions.
pub fn import(
    store: &ImageStore,
    input: impl Read,
    changes: &[String],
    message: Option<&str>,
) -> Result<Digest> {
    let mut runtime = ContainerConfig::default();
    apply_changes(&mut runtime, changes)?;
    let layer = store.register_layer(None, input)?;
    let created = now_rfc3339();
    let config = ImageConfig {
        architecture: host_architecture().into(),
        os: "linux".into(),
        created: Some(created.clone()),
        comment: message.map(str::to_string),
        config: Some(runtime),
        rootfs: RootFs {
            typ: "layers".into(),
            diff_ids: vec![layer.diff_id.to_string()],
        },
        history: vec![History {
            created: Some(created),
            created_by: None,
            comment: Some(message.unwrap_or("Imported from -").to_string()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let created = store.create(&config.to_bytes(), None);
    // The image holds its own reference now (or creation failed): drop the registration's.
    store.release_layers(&layer.chain_id)?;
    created
}

/// What `docker commit` records besides the container's changes.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The container's runtime config, which becomes the image's (before `changes`).
    pub container_config: ContainerConfig,
    pub author: Option<String>,
    pub comment: Option<String>,
    pub changes: Vec<String>,
    /// The history line ("sh -c …", the container's command).
    pub created_by: String,
}

/// `docker commit`: the container's changes become a new layer on its image, with a config
/// carrying author, comment and `--change` instructions. Pausing the container meanwhile is the
/// caller's part (the daemon owns the runtime).
pub fn commit(
    store: &ImageStore,
    container_id: &str,
    base: Option<&Digest>,
    opts: CommitOptions,
) -> Result<Digest> {
    let mut runtime = opts.container_config;
    apply_changes(&mut runtime, &opts.changes)?;
    let mut config = match base {
        Some(id) => store.get(id)?.config,
        None => ImageConfig {
            architecture: host_architecture().into(),
            os: "linux".into(),
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: Vec::new(),
            },
            ..Default::default()
        },
    };
    let container = store.layers().container(container_id)?;
    let mut tar = Vec::new();
    store
        .layers()
        .driver()
        .diff(&container.rw_id, Some(&container.init_id), &mut tar)?;
    let layer = store.register_layer(container.image_top.as_ref(), &tar[..])?;
    let created = now_rfc3339();
    config.created = Some(created.clone());
    config.author = opts.author.clone();
    config.comment = opts.comment.clone();
    config.config = Some(runtime);
    config.rootfs.diff_ids.push(layer.diff_id.to_string());
    config.history.push(History {
        created: Some(created),
        created_by: Some(opts.created_by),
        author: opts.author,
        comment: opts.comment,
        empty_layer: false,
    });
    config
        .extra
        .insert("container".into(), Value::String(container_id.to_string()));
    let created = store.create(&config.to_bytes(), base);
    store.release_layers(&layer.chain_id)?;
    created
}

/// `docker export`: the container's filesystem as one tar.
pub fn export_container(store: &ImageStore, container_id: &str, out: &mut dyn Write) -> Result<()> {
    Ok(store.layers().export_container(container_id, out)?)
}

/// One line of `docker history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image ID, or "<missing>" for a step whose image this host doesn't have.
    pub id: String,
    pub created: String,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub tags: Vec<String>,
}

/// `docker history`, newest first.
pub fn history(store: &ImageStore, id: &Digest) -> Result<Vec<HistoryEntry>> {
    let image = store.get(id)?;
    // Layer sizes in diff_ids order, one per non-empty history step.
    let mut sizes = Vec::new();
    let mut parent: Option<Digest> = None;
    for diff_id in image.config.diff_ids() {
        let chain = Digest::chain(parent.as_ref(), &diff_id);
        sizes.push(store.layers().get(&chain).map_or(0, |l| l.size));
        parent = Some(chain);
    }
    // Which step each known image (this one and its parents) ends at.
    let mut owners: Vec<(usize, Image)> = Vec::new();
    let mut next = Some(image.clone());
    while let Some(img) = next {
        let steps = img.config.history.len();
        next = img.parent.as_ref().and_then(|p| store.get(p).ok());
        if steps > 0 {
            owners.push((steps - 1, img));
        }
    }
    let mut layer = 0;
    let mut out = Vec::new();
    for (i, h) in image.config.history.iter().enumerate() {
        let size = if h.empty_layer {
            0
        } else {
            layer += 1;
            sizes.get(layer - 1).copied().unwrap_or(0)
        };
        let owner = owners
            .iter()
            .find(|(step, _)| *step == i)
            .map(|(_, img)| img);
        out.push(HistoryEntry {
            id: owner.map_or("<missing>".into(), |img| img.id.to_string()),
            created: h.created.clone().unwrap_or_default(),
            created_by: h.created_by.clone().unwrap_or_default(),
            size,
            comment: h.comment.clone().unwrap_or_default(),
            tags: owner
                .map(|img| img.repo_tags.iter().map(Reference::familiar).collect())
                .unwrap_or_default(),
        });
    }
    out.reverse();
    Ok(out)
}

/// `docker image inspect`, in the Engine API's ImageInspect shape (the daemon adds GraphDriver).
pub fn inspect(store: &ImageStore, id: &Digest) -> Result<Value> {
    let image = store.get(id)?;
    let c = &image.config;
    let runtime =
        serde_json::to_value(c.config.clone().unwrap_or_default()).expect("config serialises");
    Ok(json!({
        "Id": image.id.to_string(),
        "RepoTags": image.repo_tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "RepoDigests": [],
        "Parent": image.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        "Comment": c.comment.clone().unwrap_or_default(),
        "Created": c.created.clone().unwrap_or_default(),
        "DockerVersion": c.extra.get("docker_version").and_then(Value::as_str).unwrap_or_default(),
        "Author": c.author.clone().unwrap_or_default(),
        "Config": runtime,
        "Architecture": c.architecture,
        "Os": c.os,
        "Size": image.size,
        "RootFS": {"Type": "layers", "Layers": c.rootfs.diff_ids},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }))
}

/// `docker images --filter`.
#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    pub dangling: Option<bool>,
    /// `label=key` or `label=key=value`.
    pub labels: Vec<String>,
    /// `reference=pattern`, glob over "name" and "name:tag".
    pub references: Vec<String>,
    pub before: Option<String>,
    pub since: Option<String>,
}

/// The images matching every filter, newest first.
pub fn list(store: &ImageStore, filters: &ListFilters) -> Result<Vec<Image>> {
    let created_of = |name: &str| -> Result<String> {
        let id = store.resolve(name)?;
        Ok(store.get(&id)?.config.created.unwrap_or_default())
    };
    let before = filters.before.as_deref().map(created_of).transpose()?;
    let since = filters.since.as_deref().map(created_of).transpose()?;
    let images = store.list().into_iter().filter(|img| {
        let created = img.config.created.clone().unwrap_or_default();
        let labels = img
            .config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        filters
            .dangling
            .is_none_or(|d| d == img.repo_tags.is_empty())
            && before.as_ref().is_none_or(|b| created < *b)
            && since.as_ref().is_none_or(|s| created > *s)
            && filters.labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
                None => labels.contains_key(l),
            })
            && (filters.references.is_empty()
                || filters.references.iter().any(|pattern| {
                    img.repo_tags
                        .iter()
                        .any(|t| glob(pattern, &t.familiar()) || glob(pattern, &t.familiar_name()))
                }))
    });
    Ok(images.collect())
}

/// Shell-style matching of `*` (not across '/') and `?`, as Go's path.Match does for filters.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && t[0] != b'/' && go(p, &t[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// A short ID as `docker images` prints it.
pub fn display_id(id: &Digest) -> String {
    short_id(id).to_string()
}

/// Refuses a name that can't become a tag.
pub fn parse_tag(name: &str) -> Result<Reference> {
    let r = Reference::parse_tagged(name)?;
    if r.digest().is_some() {
        return Err(ImageError::InvalidReference(format!(
            "{name}: a tag can't carry a digest"
        )));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_docker_filters() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("busybox:*", "busybox:latest"));
        assert!(!glob("busy*", "library/busybox"));
        assert!(glob("*/app", "user/app"));
        assert!(glob("b?sybox", "busybox"));
        assert!(!glob("b?sybox", "bsybox"));
    }
}
