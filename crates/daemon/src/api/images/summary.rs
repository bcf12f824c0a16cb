//! `GET /images/json` and the images of `GET /system/df`: which images to show (Docker's list
//! filters) and the ImageSummary objects describing them.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use berth_image::{ops, Digest, Image, Reference};
use serde_json::{json, Value};

use crate::engine::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::filters::Filters;

/// The filters `GET /images/json` accepts (Docker's, with `label!` as the containerd store has).
pub const LIST_FILTERS: &[&str] = &[
    "dangling",
    "label",
    "label!",
    "before",
    "since",
    "reference",
    "until",
];

/// An image config's `created` as (seconds, nanoseconds) since the epoch.
pub fn created_time(created: Option<&str>) -> Option<(i64, u32)> {
    created.and_then(berth_runtime::shim::time::parse)
}

/// Seconds and nanoseconds since the epoch.
type Time = (i64, u32);

/// The list filters with the image names of `before` and `since` resolved to times.
pub struct Selection {
    dangling: Option<bool>,
    /// Only images created strictly before this (the oldest of `before` and `until`).
    before: Option<(i64, u32)>,
    /// Only images created strictly after this (the newest `since`).
    since: Option<(i64, u32)>,
    references: Vec<String>,
    filters: Filters,
}

impl Selection {
    /// `created_of` gives the creation time of the image a `before`/`since` value names.
    pub fn new(
        filters: Filters,
        created_of: &dyn Fn(&str) -> ApiResult<Option<Time>>,
        now: SystemTime,
    ) -> ApiResult<Selection> {
        filters.validate(LIST_FILTERS)?;
        let dangling = filters.is_true("dangling")?;
        let mut before: Option<(i64, u32)> = None;
        for name in filters.get("before") {
            if let Some(t) = created_of(name)? {
                before = Some(before.map_or(t, |b| b.min(t)));
            }
        }
        for value in filters.get("until") {
            let t = crate::timefmt::parse_time(value, now).map_err(|e| {
                ApiError::BadRequest(format!("invalid value for 'until' filter: {e}"))
            })?;
            before = Some(before.map_or(t, |b| b.min(t)));
        }
        let mut since: Option<(i64, u32)> = None;
        for name in filters.get("since") {
            if let Some(t) = created_of(name)? {
                since = Some(since.map_or(t, |s| s.max(t)));
            }
        }
        Ok(Selection {
            dangling,
            before,
            since,
            references: filters.get("reference").to_vec(),
            filters,
        })
    }

    fn reference_matches(&self, r: &Reference) -> bool {
        if self.references.is_empty() {
            return true;
        }
        // Docker matches the familiar and the full forms, with and without the tag.
        let full_name = r.name();
        let full = match r.tag() {
            Some(t) => format!("{full_name}:{t}"),
            None => full_name.clone(),
        };
        let targets = [r.familiar(), r.familiar_name(), full, full_name];
        self.references
            .iter()
            .any(|p| targets.iter().any(|t| ops::glob(p, t)))
    }

    /// The RepoTags to show for `image`, or None when the filters (or, without `all`, being an
    /// intermediate image: untagged with children) leave it out.
    pub fn select(&self, image: &Image, has_children: bool, all: bool) -> Option<Vec<String>> {
        if self.dangling == Some(true) && has_children {
            return None;
        }
        let created = created_time(image.config.created.as_deref());
        // An image without a creation time passes neither bound, as in Docker.
        if let Some(b) = self.before {
            if created.is_none_or(|c| c >= b) {
                return None;
            }
        }
        if let Some(s) = self.since {
            if created.is_none_or(|c| c <= s) {
                return None;
            }
        }
        if !self.filters.get("label").is_empty() || !self.filters.get("label!").is_empty() {
            let labels: HashMap<String, String> = labels_of(image).into_iter().collect();
            if !self.filters.labels_match(Some(&labels)) {
                return None;
            }
        }
        let tags: Vec<String> = image
            .repo_tags
            .iter()
            .filter(|r| self.reference_matches(r))
            .map(Reference::familiar)
            .collect();
        if tags.is_empty() {
            if (!all && has_children) || self.dangling == Some(false) || !self.references.is_empty()
            {
                return None;
            }
        } else if self.dangling == Some(true) {
            return None;
        }
        Some(tags)
    }
}

fn labels_of(image: &Image) -> std::collections::BTreeMap<String, String> {
    image
        .config
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
}

/// One ImageSummary. `shared_size` and `containers` are -1 when not computed, as in Docker.
pub fn summary(image: &Image, repo_tags: Vec<String>, shared_size: i64, containers: i64) -> Value {
    json!({
        "Id": image.id.to_string(),
        "ParentId": image.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        "RepoTags": repo_tags,
        "RepoDigests": [],
        "Created": created_time(image.config.created.as_deref()).map_or(0, |t| t.0),
        "Size": image.size,
        "SharedSize": shared_size,
        "VirtualSize": image.size,
        "Labels": labels_of(image),
        "Containers": containers,
    })
}

/// The chain IDs of an image's layers, bottom first.
fn chain_ids(image: &Image) -> Vec<Digest> {
    let mut parent: Option<Digest> = None;
    image
        .config
        .diff_ids()
        .iter()
        .map(|d| {
            let chain = Digest::chain(parent.as_ref(), d);
            parent = Some(chain.clone());
            chain
        })
        .collect()
}

/// Docker's SharedSize: the bytes of an image's layers that another image (of `all`) uses too.
pub fn shared_sizes(all: &[Image], layer_size: &dyn Fn(&Digest) -> u64) -> HashMap<Digest, i64> {
    let chains: Vec<(&Digest, Vec<Digest>)> = all.iter().map(|i| (&i.id, chain_ids(i))).collect();
    let mut refs: HashMap<&Digest, usize> = HashMap::new();
    for (_, chain) in &chains {
        for c in chain {
            *refs.entry(c).or_default() += 1;
        }
    }
    chains
        .iter()
        .map(|(id, chain)| {
            let shared = chain
                .iter()
                .filter(|c| refs.get(c).copied().unwrap_or(0) > 1)
                .map(|c| layer_size(c) as i64)
                .sum();
            ((*id).clone(), shared)
        })
        .collect()
}

/// ImageSummary objects, newest first, each with its container count; SharedSize only with
/// `shared_size` (else -1).
pub fn build(
    daemon: &Daemon,
    all: bool,
    filters: Filters,
    shared_size: bool,
) -> ApiResult<Vec<Value>> {
    let store = &daemon.images;
    let created_of = |name: &str| -> ApiResult<Option<(i64, u32)>> {
        let id = store.resolve(name)?;
        Ok(created_time(store.get(&id)?.config.created.as_deref()))
    };
    let selection = Selection::new(filters, &created_of, SystemTime::now())?;
    let images = store.list();
    let parents: HashSet<&Digest> = images.iter().filter_map(|i| i.parent.as_ref()).collect();
    let mut containers: HashMap<String, i64> = HashMap::new();
    for h in daemon.all() {
        *containers.entry(h.lock().image_id.clone()).or_default() += 1;
    }
    let shared = if shared_size {
        let layers = store.layers();
        shared_sizes(&images, &|c: &Digest| layers.get(c).map_or(0, |l| l.size))
    } else {
        HashMap::new()
    };
    let mut out: Vec<((i64, u32), Value)> = images
        .iter()
        .filter_map(|img| {
            let tags = selection.select(img, parents.contains(&img.id), all)?;
            let count = containers.get(&img.id.to_string()).copied().unwrap_or(0);
            let shared = shared.get(&img.id).copied().unwrap_or(-1);
            let created = created_time(img.config.created.as_deref()).unwrap_or((0, 0));
            Some((created, summary(img, tags, shared, count)))
        })
        .collect();
    out.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// What `GET /images/json` returns to a client of API `version`: before 1.43, untagged images
/// carry the `<none>:<none>` and `<none>@<none>` placeholders; from 1.44 on, no VirtualSize.
/// Containers is -1 in the list (Docker counts them only for `system df` before API 1.51).
pub fn shape_for_list(items: &mut [Value], version: (u32, u32)) {
    for v in items {
        let untagged = |k: &str| v[k].as_array().is_none_or(Vec::is_empty);
        if version < (1, 43) && untagged("RepoTags") && untagged("RepoDigests") {
            v["RepoTags"] = json!(["<none>:<none>"]);
            v["RepoDigests"] = json!(["<none>@<none>"]);
        }
        if version >= (1, 44) {
            if let Some(o) = v.as_object_mut() {
                o.remove("VirtualSize");
            }
        }
        v["Containers"] = json!(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::{ContainerConfig, ImageConfig, RootFs};

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    fn image(id: char, created: &str, tags: &[&str], diff_ids: &[char]) -> Image {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("app".to_string(), format!("{id}"));
        Image {
            id: digest(id),
            config: ImageConfig {
                created: Some(created.into()),
                config: Some(ContainerConfig {
                    labels: Some(labels),
                    ..Default::default()
                }),
                rootfs: RootFs {
                    typ: "layers".into(),
                    diff_ids: diff_ids.iter().map(|c| digest(*c).to_string()).collect(),
                },
                ..Default::default()
            },
            parent: None,
            top_layer: None,
            repo_tags: tags
                .iter()
                .map(|t| Reference::parse_tagged(t).unwrap())
                .collect(),
            size: 10,
        }
    }

    fn selection(filters: &str) -> ApiResult<Selection> {
        let created_of = |name: &str| -> ApiResult<Option<(i64, u32)>> {
            match name {
                "old" => Ok(Some((100, 0))),
                "new" => Ok(Some((300, 0))),
                _ => Err(ApiError::NotFound(format!("No such image: {name}"))),
            }
        };
        Selection::new(
            Filters::parse(Some(filters))?,
            &created_of,
            SystemTime::now(),
        )
    }

    const T200: &str = "1970-01-01T00:03:20Z";

    #[test]
    fn untagged_intermediate_images_show_only_with_all() {
        let s = selection("{}").unwrap();
        let img = image('a', T200, &[], &[]);
        assert_eq!(s.select(&img, true, false), None);
        assert_eq!(s.select(&img, true, true), Some(vec![]));
        assert_eq!(s.select(&img, false, false), Some(vec![]));
    }

    #[test]
    fn dangling_filter() {
        let tagged = image('a', T200, &["busybox"], &[]);
        let untagged = image('b', T200, &[], &[]);
        let yes = selection(r#"{"dangling":["true"]}"#).unwrap();
        assert_eq!(yes.select(&tagged, false, false), None);
        assert_eq!(yes.select(&untagged, false, false), Some(vec![]));
        assert_eq!(
            yes.select(&untagged, true, true),
            None,
            "only heads are dangling"
        );
        let no = selection(r#"{"dangling":["false"]}"#).unwrap();
        assert_eq!(
            no.select(&tagged, false, false),
            Some(vec!["busybox:latest".to_string()])
        );
        assert_eq!(no.select(&untagged, false, false), None);
        assert!(selection(r#"{"dangling":["maybe"]}"#).is_err());
    }

    #[test]
    fn reference_filter_keeps_only_matching_tags() {
        let img = image('a', T200, &["busybox:1", "busybox:2", "alpine"], &[]);
        let s = selection(r#"{"reference":["busybox:*"]}"#).unwrap();
        assert_eq!(
            s.select(&img, false, false),
            Some(vec!["busybox:1".into(), "busybox:2".into()])
        );
        let s = selection(r#"{"reference":["docker.io/library/alpine"]}"#).unwrap();
        assert_eq!(
            s.select(&img, false, false),
            Some(vec!["alpine:latest".into()])
        );
        let s = selection(r#"{"reference":["nginx"]}"#).unwrap();
        assert_eq!(s.select(&img, false, false), None);
        assert_eq!(s.select(&image('b', T200, &[], &[]), false, true), None);
    }

    #[test]
    fn before_since_until_and_labels() {
        let img = image('a', T200, &["x"], &[]);
        assert!(selection(r#"{"before":["new"]}"#)
            .unwrap()
            .select(&img, false, false)
            .is_some());
        assert!(selection(r#"{"before":["old"]}"#)
            .unwrap()
            .select(&img, false, false)
            .is_none());
        assert!(selection(r#"{"since":["old"]}"#)
            .unwrap()
            .select(&img, false, false)
            .is_some());
        assert!(selection(r#"{"since":["old","new"]}"#)
            .unwrap()
            .select(&img, false, false)
            .is_none());
        assert!(selection(r#"{"until":["1970-01-01T00:04:00Z"]}"#)
            .unwrap()
            .select(&img, false, false)
            .is_some());
        assert!(selection(r#"{"until":["150"]}"#)
            .unwrap()
            .select(&img, false, false)
            .is_none());
        assert!(selection(r#"{"until":["yesterday"]}"#).is_err());
        assert!(matches!(
            selection(r#"{"since":["nope"]}"#),
            Err(ApiError::NotFound(_))
        ));
        assert!(selection(r#"{"label":["app=a"]}"#)
            .unwrap()
            .select(&img, false, false)
            .is_some());
        assert!(selection(r#"{"label":["app=b"]}"#)
            .unwrap()
            .select(&img, false, false)
            .is_none());
        assert!(selection(r#"{"label!":["app"]}"#)
            .unwrap()
            .select(&img, false, false)
            .is_none());
        let e = selection(r#"{"status":["x"]}"#).err().unwrap();
        assert_eq!(e.to_string(), "invalid filter 'status'");
    }

    #[test]
    fn shared_size_counts_layers_used_by_two_images() {
        let a = image('a', T200, &[], &['1', '2']);
        let b = image('b', T200, &[], &['1', '3']);
        let c = image('c', T200, &[], &['3']);
        let sizes = shared_sizes(&[a, b, c], &|_| 5);
        assert_eq!(sizes[&digest('a')], 5, "layer 1 is shared, 1+2 is not");
        assert_eq!(
            sizes[&digest('b')],
            5,
            "1+3 differs from 3 alone: chain IDs, not diff IDs"
        );
        assert_eq!(sizes[&digest('c')], 0);
    }

    #[test]
    fn summaries_shaped_per_api_version() {
        let img = image('a', T200, &[], &[]);
        let v = summary(&img, vec![], -1, 2);
        assert_eq!(v["Created"], 200);
        assert_eq!(v["Labels"]["app"], "a");
        assert_eq!(v["RepoTags"], json!([]));
        let mut old = vec![v.clone()];
        shape_for_list(&mut old, (1, 41));
        assert_eq!(old[0]["RepoTags"], json!(["<none>:<none>"]));
        assert_eq!(old[0]["RepoDigests"], json!(["<none>@<none>"]));
        assert_eq!(old[0]["Containers"], -1);
        let mut now = vec![v.clone()];
        shape_for_list(&mut now, (1, 43));
        assert_eq!(now[0]["RepoTags"], json!([]));
        assert_eq!(now[0]["VirtualSize"], 10);
        let mut newer = vec![v];
        shape_for_list(&mut newer, (1, 44));
        assert!(newer[0].get("VirtualSize").is_none());
    }
}
