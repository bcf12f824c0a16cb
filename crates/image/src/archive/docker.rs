//! The docker-archive format (`docker save` since 1.10): `manifest.json`
//! `[{"Config": "<hex>.json", "RepoTags": [...], "Layers": ["<v1 id>/layer.tar", ...]}]`, a
//! directory per layer named by its v1 ID (`VERSION`, `json`, `layer.tar`), and `repositories`
//! (`{"busybox": {"latest": "<top v1 id>"}}`). Docker 25 writes the same manifest.json beside an
//! OCI layout, with layers at `blobs/sha256/<hex>`; both read the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::load::Candidate;
use super::save::{export_layer, go_json, Selected, Source, TarEntries};
use super::spool::{bad, Spool};
use crate::{Digest, ImageConfig, ImageStore, Reference, Result};

#[derive(Serialize, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// The images a docker-archive's manifest.json describes, their parts found and checked.
pub(crate) fn candidates(spool: &Spool) -> Result<Vec<Candidate>> {
    let manifest: Vec<ManifestEntry> = spool.json("manifest.json")?;
    let mut out = Vec::new();
    for (i, entry) in manifest.into_iter().enumerate() {
        let what = format!("manifest.json entry {i}");
        let config = spool
            .read_small(&entry.config)
            .map_err(|e| bad(format!("{what}: config: {}", strip(e))))?;
        for path in &entry.layers {
            spool
                .lookup(path)
                .map_err(|e| bad(format!("{what}: layer: {}", strip(e))))?;
        }
        let mut tags = Vec::new();
        for t in entry.repo_tags.unwrap_or_default() {
            tags.push(
                Reference::parse_tagged(&t).map_err(|e| bad(format!("{what}: RepoTags: {e}")))?,
            );
        }
        out.push(Candidate::new(what, config, entry.layers, tags)?);
    }
    Ok(out)
}

/// An archive error's message without its "image archive: " prefix, to nest it in another.
fn strip(e: crate::ImageError) -> String {
    match e {
        crate::ImageError::Archive(m) => m,
        e => e.to_string(),
    }
}

/// Adds the images to `tar` as Docker 20.10 lays them out, v1 IDs computed as Docker does.
pub(crate) fn write(store: &ImageStore, images: &[Selected], tar: &mut TarEntries) -> Result<()> {
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in images {
        let bytes = store.config_bytes(&image.id)?;
        let config = ImageConfig::parse(&bytes)?;
        let raw: Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("config {}: {e}", image.id)))?;
        let mtime = created_secs(&raw);
        let diff_ids = config.diff_ids();
        let mut chain: Option<Digest> = None;
        let mut parent_v1: Option<String> = None;
        let mut layers = Vec::new();
        for (i, diff_id) in diff_ids.iter().enumerate() {
            let layer_chain = Digest::chain(chain.as_ref(), diff_id);
            let top = i + 1 == diff_ids.len();
            let v1 = V1::new(top.then_some(&raw), parent_v1.as_deref());
            let id = v1.id(&layer_chain);
            let dir = format!("{id}/");
            if !tar.contains(&dir) {
                let (file, size) = export_layer(store, &layer_chain, diff_id)?;
                tar.add(dir, Source::Dir, mtime);
                tar.add(
                    format!("{id}/VERSION"),
                    Source::Bytes(b"1.0".to_vec()),
                    mtime,
                );
                tar.add(
                    format!("{id}/json"),
                    Source::Bytes(v1.file(&id, &raw).into_bytes()),
                    mtime,
                );
                tar.add(format!("{id}/layer.tar"), Source::File(file, size), mtime);
            }
            layers.push(format!("{id}/layer.tar"));
            chain = Some(layer_chain);
            parent_v1 = Some(id);
        }
        let config_name = format!("{}.json", image.id.hex());
        tar.add(config_name.clone(), Source::Bytes(bytes), mtime);
        for t in &image.tags {
            if let (Some(tag), Some(top)) = (t.tag(), &parent_v1) {
                repositories
                    .entry(t.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), top.clone());
            }
        }
        let repo_tags =
            (!image.tags.is_empty()).then(|| image.tags.iter().map(|t| t.familiar()).collect());
        manifest.push(ManifestEntry {
            config: config_name,
            repo_tags,
            layers,
        });
    }
    // Docker writes both with a json.Encoder: a newline ends each.
    let manifest = go_json(&serde_json::to_string(&manifest).expect("manifest serialises")) + "\n";
    tar.add(
        "manifest.json".into(),
        Source::Bytes(manifest.into_bytes()),
        0,
    );
    if !repositories.is_empty() {
        let repos =
            go_json(&serde_json::to_string(&repositories).expect("repositories serialise")) + "\n";
        tar.add("repositories".into(), Source::Bytes(repos.into_bytes()), 0);
    }
    Ok(())
}

/// The image's creation time in seconds since the epoch (0 when it has none).
fn created_secs(raw: &Value) -> u64 {
    raw.get("created")
        .and_then(Value::as_str)
        .and_then(|s| humantime::parse_rfc3339_weak(s).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// A layer's legacy v1 image: Docker's `image.V1Image`. Layers below the top carry an empty
/// one created at the epoch; the top layer carries the image's own fields.
struct V1<'a> {
    image: Option<&'a Value>,
    parent: Option<&'a str>,
}

const EPOCH: &str = "\"1970-01-01T00:00:00Z\"";

impl<'a> V1<'a> {
    fn new(image: Option<&'a Value>, parent: Option<&'a str>) -> V1<'a> {
        V1 { image, parent }
    }

    /// The V1Image's fields (without id and parent) in struct order, as Go marshals them.
    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut f = Vec::new();
        let Some(img) = self.image else {
            f.push(("created", EPOCH.to_string()));
            f.push(("container_config", go_container_config(None)));
            return f;
        };
        let string = |key: &str| {
            img.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        if let Some(c) = string("comment") {
            f.push(("comment", json_str(c)));
        }
        f.push((
            "created",
            string("created").map_or_else(|| "\"0001-01-01T00:00:00Z\"".into(), json_str),
        ));
        if let Some(c) = string("container") {
            f.push(("container", json_str(c)));
        }
        f.push((
            "container_config",
            go_container_config(img.get("container_config")),
        ));
        for (key, name) in [("docker_version", "docker_version"), ("author", "author")] {
            if let Some(v) = string(key) {
                f.push((name, json_str(v)));
            }
        }
        if let Some(c) = img.get("config").filter(|c| c.is_object()) {
            f.push(("config", go_container_config(Some(c))));
        }
        for key in ["architecture", "variant", "os"] {
            if let Some(v) = string(key) {
                f.push((key, json_str(v)));
            }
        }
        f
    }

    /// The v1 ID, as Docker's `v1.CreateID`: sha256 of the fields plus `layer_id` (the chain ID)
    /// and `parent` (the parent's v1 ID as a digest), keys sorted.
    fn id(&self, chain: &Digest) -> String {
        let mut fields: BTreeMap<&str, String> = self.fields().into_iter().collect();
        fields.insert("layer_id", json_str(chain.as_str()));
        if let Some(p) = self.parent {
            fields.insert("parent", json_str(&format!("sha256:{p}")));
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", json_str(k)))
            .collect();
        Digest::of(go_json(&format!("{{{}}}", body.join(","))).as_bytes())
            .hex()
            .to_string()
    }

    /// The layer's `json` file: the V1Image with its id and parent, in struct order.
    fn file(&self, id: &str, raw: &Value) -> String {
        let mut body = vec![format!("\"id\":{}", json_str(id))];
        if let Some(p) = self.parent {
            body.push(format!("\"parent\":{}", json_str(p)));
        }
        for (k, v) in self.fields() {
            if k != "os" {
                body.push(format!("{}:{v}", json_str(k)));
            }
        }
        if let Some(os) = raw
            .get("os")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            body.push(format!("\"os\":{}", json_str(os)));
        }
        go_json(&format!("{{{}}}", body.join(",")))
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// Docker's `container.Config` as Go marshals it: every field in struct order, the omitempty
/// ones only when set.
fn go_container_config(v: Option<&Value>) -> String {
    let get = |k: &str| v.and_then(|v| v.get(k)).filter(|x| !x.is_null());
    let s = |k: &str| {
        get(k)
            .and_then(Value::as_str)
            .map_or_else(|| "\"\"".to_string(), json_str)
    };
    let b = |k: &str| get(k).and_then(Value::as_bool).unwrap_or(false).to_string();
    let raw = |k: &str| get(k).map_or_else(|| "null".to_string(), |x| x.to_string());
    let strs = |k: &str| match get(k) {
        Some(Value::String(one)) => format!("[{}]", json_str(one)),
        Some(x) => x.to_string(),
        None => "null".into(),
    };
    let set = |k: &str| {
        get(k).filter(|x| match x {
            Value::Bool(b) => *b,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        })
    };
    let mut f: Vec<(&str, String)> = Vec::new();
    f.push(("Hostname", s("Hostname")));
    f.push(("Domainname", s("Domainname")));
    f.push(("User", s("User")));
    for k in ["AttachStdin", "AttachStdout", "AttachStderr"] {
        f.push((k, b(k)));
    }
    if let Some(p) = set("ExposedPorts") {
        f.push(("ExposedPorts", p.to_string()));
    }
    for k in ["Tty", "OpenStdin", "StdinOnce"] {
        f.push((k, b(k)));
    }
    f.push(("Env", raw("Env")));
    f.push(("Cmd", strs("Cmd")));
    if let Some(h) = get("Healthcheck").filter(|h| h.is_object()) {
        let mut hf = Vec::new();
        for k in [
            "Test",
            "Interval",
            "Timeout",
            "StartPeriod",
            "StartInterval",
            "Retries",
        ] {
            if let Some(x) = h.get(k).filter(|x| {
                !x.is_null() && x.as_i64() != Some(0) && x.as_array().is_none_or(|a| !a.is_empty())
            }) {
                hf.push(format!("{}:{x}", json_str(k)));
            }
        }
        f.push(("Healthcheck", format!("{{{}}}", hf.join(","))));
    }
    if set("ArgsEscaped").is_some() {
        f.push(("ArgsEscaped", "true".into()));
    }
    f.push(("Image", s("Image")));
    f.push(("Volumes", raw("Volumes")));
    f.push(("WorkingDir", s("WorkingDir")));
    f.push(("Entrypoint", strs("Entrypoint")));
    if set("NetworkDisabled").is_some() {
        f.push(("NetworkDisabled", "true".into()));
    }
    if let Some(m) = set("MacAddress") {
        f.push(("MacAddress", m.to_string()));
    }
    f.push(("OnBuild", raw("OnBuild")));
    f.push(("Labels", raw("Labels")));
    for k in ["StopSignal", "StopTimeout", "Shell"] {
        if let Some(x) = set(k) {
            f.push((k, x.to_string()));
        }
    }
    let body: Vec<String> = f
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v1 IDs Docker 20.10 gave the fixture's layers (see /work/shared/fixtures).
    #[test]
    fn v1_ids_are_dockers() {
        let layer1: Digest =
            "sha256:d1dca514726ed3a3b40b715c3c290d2a8725b20cc7f2694c8d03ff88d257c481"
                .parse()
                .unwrap();
        let bottom = V1::new(None, None);
        assert_eq!(
            bottom.id(&layer1),
            "69ef39486f226dc8529a9e067ab23491e746efb130f5ecfda2e1c4a84f3dbe8e"
        );
    }
}
