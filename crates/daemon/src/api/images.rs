//! Image endpoints: list, inspect, history, tag, rmi, commit and prune here; save (get), load
//! and import (`images/create?fromSrc=-`) in [`transfer`]. Image-crate calls that touch more
//! than the in-memory index (layers, archives, blobs) run on blocking threads.
//!
//! Errors reach the client as HTTP errors, never inside a 200 stream, whenever they happen before
//! the first byte of the response: load and import answer only once the work is done, and save
//! starts its response only when the archive's first bytes exist (every lookup and layer export
//! happens before that).

mod commit;
mod summary;
mod transfer;

pub use transfer::{create, load, save, save_one};

use std::sync::Arc;

use berth_image::{ops, Digest, Reference};
use hyper::StatusCode;
use serde_json::{json, Value};

use super::percent_decode;
use crate::engine::container::Status;
use crate::engine::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::filters::Filters;
use crate::server::body::{self, Response};
use crate::server::{Request, API_VERSION};

/// What `/system/df` (and `/images/json`) list.
#[derive(Default)]
pub struct ListOptions {
    /// Intermediate images too (untagged, with children).
    pub all: bool,
    pub filters: Filters,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

fn api_version(req: &Request) -> (u32, u32) {
    req.version
        .unwrap_or_else(|| crate::server::request::parse_version(API_VERSION))
}

/// ImageSummary objects for `/system/df`: newest first, each with the number of containers
/// using it and its SharedSize.
pub fn summaries(daemon: &Arc<Daemon>, opts: &ListOptions) -> ApiResult<Vec<Value>> {
    summary::build(daemon, opts.all, opts.filters.clone(), true)
}

/// `GET /images/json?all=&filters=&shared-size=`.
pub fn list(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let version = api_version(&req);
    let mut filters = Filters::parse(req.query("filters"))?;
    // The pre-1.25 `filter=<reference glob>`.
    if let Some(name) = req
        .query("filter")
        .filter(|n| !n.is_empty() && version < (1, 25))
    {
        if filters.get("reference").is_empty() {
            let mut with_ref = serde_json::Map::new();
            with_ref.insert("reference".into(), json!([name]));
            for key in summary::LIST_FILTERS {
                if !filters.get(key).is_empty() {
                    with_ref.insert(key.to_string(), json!(filters.get(key)));
                }
            }
            filters = Filters::parse(Some(&Value::Object(with_ref).to_string()))?;
        }
    }
    let shared_size = version >= (1, 42) && req.flag("shared-size");
    let mut items = summary::build(daemon, req.flag("all"), filters, shared_size)?;
    summary::shape_for_list(&mut items, version);
    Ok(body::ok_json(&items))
}

fn resolve(daemon: &Daemon, name: &str) -> ApiResult<Digest> {
    Ok(daemon.images.resolve(&percent_decode(name))?)
}

/// `GET /images/{name}/json`: the image crate's ImageInspect plus what only the daemon knows
/// (the graph driver) and the fields of API 1.43 kept in the config.
pub fn inspect(daemon: &Arc<Daemon>, name: &str) -> ApiResult<Response> {
    let id = resolve(daemon, name)?;
    let mut v = ops::inspect(&daemon.images, &id)?;
    let config = daemon.images.get(&id)?.config;
    let extra = |key: &str| config.extra.get(key).cloned();
    v["Container"] = extra("container").unwrap_or_else(|| json!(""));
    if let Some(cc) = extra("container_config") {
        v["ContainerConfig"] = cc;
    }
    if let Some(variant) = extra("variant") {
        v["Variant"] = variant;
    }
    if let Some(os_version) = extra("os.version") {
        v["OsVersion"] = os_version;
    }
    v["VirtualSize"] = v["Size"].clone();
    v["GraphDriver"] = json!({ "Name": daemon.layers.driver().name(), "Data": {} });
    Ok(body::ok_json(&v))
}

/// `GET /images/{name}/history`, newest step first.
pub fn history(daemon: &Arc<Daemon>, name: &str) -> ApiResult<Response> {
    let id = resolve(daemon, name)?;
    let entries: Vec<Value> = ops::history(&daemon.images, &id)?
        .into_iter()
        .map(|e| {
            json!({
                "Id": e.id,
                "Created": summary::created_time(Some(&e.created)).map_or(0, |t| t.0),
                "CreatedBy": e.created_by,
                "Tags": if e.tags.is_empty() { Value::Null } else { json!(e.tags) },
                "Size": e.size,
                "Comment": e.comment,
            })
        })
        .collect();
    Ok(body::ok_json(&entries))
}

/// The tag `repo` and `tag` name, as Docker's `RepoTagReference`: `repo` may carry a tag,
/// which `tag` replaces; neither gives `latest`. A digest can't be a tag.
fn tag_reference(repo: &str, tag: Option<&str>) -> ApiResult<Reference> {
    if repo.is_empty() {
        return Err(ApiError::BadRequest(
            "invalid reference format: repository name must have at least one component".into(),
        ));
    }
    let r = Reference::parse(repo)?;
    if r.digest().is_some() {
        return Err(ApiError::BadRequest(format!(
            "invalid reference format: refusing to create a tag with a digest reference ({repo})"
        )));
    }
    let r = match tag.filter(|t| !t.is_empty()) {
        Some(t) => r.with_tag(t)?,
        None if r.tag().is_none() => r.with_tag("latest")?,
        None => r,
    };
    if r.familiar_name() == "sha256" {
        return Err(ApiError::BadRequest(
            "refusing to create an ambiguous tag using digest algorithm as name".into(),
        ));
    }
    Ok(r)
}

/// `repo`/`tag` query parameters of import and commit: a tag to set, if `repo` is given.
fn optional_tag(req: &Request) -> ApiResult<Option<Reference>> {
    match req.query("repo").filter(|r| !r.is_empty()) {
        Some(repo) => tag_reference(repo, req.query("tag")).map(Some),
        None => Ok(None),
    }
}

/// `POST /images/{name}/tag?repo=&tag=` → 201.
pub fn tag(daemon: &Arc<Daemon>, name: &str, req: Request) -> ApiResult<Response> {
    let reference = tag_reference(req.query("repo").unwrap_or(""), req.query("tag"))?;
    let id = resolve(daemon, name)?;
    daemon.images.tag(&id, &reference)?;
    daemon.image_event(&id, &reference.familiar(), "tag");
    Ok(body::empty(StatusCode::CREATED))
}

fn removed_json(r: &berth_image::Removed) -> Value {
    match r {
        berth_image::Removed::Untagged(t) => json!({ "Untagged": t }),
        berth_image::Removed::Deleted(id) => json!({ "Deleted": id.to_string() }),
    }
}

/// The untag and delete events of a removal of image `target`, as Docker sends them (an
/// untag names the image by its ID, not by the tag that went).
fn removal_events(daemon: &Daemon, target: Option<&Digest>, removed: &[berth_image::Removed]) {
    for r in removed {
        match (r, target) {
            (berth_image::Removed::Untagged(_), Some(id)) => {
                daemon.image_event(id, &id.to_string(), "untag")
            }
            (berth_image::Removed::Untagged(_), None) => {}
            (berth_image::Removed::Deleted(id), _) => {
                daemon.image_event(id, &id.to_string(), "delete")
            }
        }
    }
}

/// `DELETE /images/{name}?force=&noprune=`.
pub async fn remove(daemon: &Arc<Daemon>, name: &str, req: Request) -> ApiResult<Response> {
    let name = percent_decode(name);
    if name.trim().is_empty() {
        return Err(ApiError::BadRequest("image name cannot be blank".into()));
    }
    let force = req.flag("force");
    // `noprune` is not honoured: the image store always removes the untagged parents a removal
    // leaves dangling (Docker's default).
    let d = daemon.clone();
    let removed = blocking(move || {
        let users = |id: &Digest| d.image_users(id);
        let target = d.images.resolve(&name).ok();
        let removed = d.images.remove(&name, force, &users)?;
        removal_events(&d, target.as_ref(), &removed);
        Ok(removed)
    })
    .await?;
    Ok(body::ok_json(
        &removed.iter().map(removed_json).collect::<Vec<_>>(),
    ))
}

/// The prune filters: `dangling` (default true; false prunes every unused image), `label`,
/// `label!` and `until`.
struct PruneFilters {
    all: bool,
    until: Option<(i64, u32)>,
    filters: Filters,
}

impl PruneFilters {
    fn parse(query: Option<&str>, now: std::time::SystemTime) -> ApiResult<PruneFilters> {
        let filters = Filters::parse(query)?;
        filters.validate(&["dangling", "label", "label!", "until"])?;
        let all = filters.is_true("dangling")? == Some(false);
        let until = match filters.get("until") {
            [] => None,
            [one] => Some(crate::timefmt::parse_time(one, now).map_err(|e| {
                ApiError::BadRequest(format!("invalid value for 'until' filter: {e}"))
            })?),
            _ => {
                return Err(ApiError::BadRequest(
                    "more than one until filter specified".into(),
                ))
            }
        };
        Ok(PruneFilters {
            all,
            until,
            filters,
        })
    }

    /// Whether the filters allow pruning an image with this config.
    fn allows(&self, config: &berth_image::ImageConfig) -> bool {
        if let Some(until) = self.until {
            let created = summary::created_time(config.created.as_deref());
            if created.is_none_or(|c| c > until) {
                return false;
            }
        }
        let labels: std::collections::HashMap<String, String> = config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        self.filters.labels_match(Some(&labels))
    }
}

/// `POST /images/prune?filters=`.
pub async fn prune(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let pf = PruneFilters::parse(req.query("filters"), std::time::SystemTime::now())?;
    let d = daemon.clone();
    let (deleted, freed) = blocking(move || {
        let tags: std::collections::HashMap<Digest, Vec<Reference>> = d
            .images
            .list()
            .into_iter()
            .map(|i| (i.id, i.repo_tags))
            .collect();
        // The store prunes what no container uses; an image the filters keep is reported as
        // used, so that it stays.
        let users = |id: &Digest| {
            let mut users = d.image_users(id);
            if users.is_empty() && !d.images.get(id).is_ok_and(|img| pf.allows(&img.config)) {
                users.push(berth_image::ImageUser {
                    container_id: String::new(),
                    running: false,
                });
            }
            users
        };
        let (deleted, freed) = d.images.prune(pf.all, &users)?;
        let mut out = Vec::new();
        for id in deleted {
            let mut gone = Vec::new();
            for t in tags.get(&id).into_iter().flatten() {
                gone.push(berth_image::Removed::Untagged(t.familiar()));
            }
            gone.push(berth_image::Removed::Deleted(id.clone()));
            removal_events(&d, Some(&id), &gone);
            out.extend(gone);
        }
        Ok((out, freed))
    })
    .await?;
    let deleted: Vec<Value> = deleted.iter().map(removed_json).collect();
    let attributes = [("reclaimed".to_string(), freed.to_string())].into();
    daemon
        .events
        .publish(crate::events::Event::new("image", "prune", "", attributes));
    Ok(body::ok_json(&json!({
        "ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": freed,
    })))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=…` with an optional
/// container config as body → 201 `{"Id": "sha256:…"}`.
pub async fn commit(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let h = super::find(daemon, req.query("container").unwrap_or(""))?;
    let tag = optional_tag(&req)?;
    let changes: Vec<String> = req
        .query_all("changes")
        .iter()
        .filter(|c| !c.trim().is_empty())
        .cloned()
        .collect();
    let author = req
        .query("author")
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    let comment = req
        .query("comment")
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    // As Docker: a running container is frozen (cgroup freezer) while its layer is read,
    // unless the client asks for pause=false.
    let pause = req.query("pause").is_none() || req.flag("pause");
    let overrides: Option<Value> = req.json().await?;
    let c = h.snapshot();
    match c.state.status {
        Status::Dead => {
            return Err(ApiError::Conflict(format!(
                "You cannot commit container {} which is Dead",
                c.id
            )))
        }
        Status::Removing => {
            return Err(ApiError::Conflict(format!(
                "You cannot commit container {} which is being removed",
                c.id
            )))
        }
        _ => {}
    }
    let container_config = commit::from_container(&c.config);
    let runtime = commit::image_config(&container_config, overrides, &changes)?;
    let created_by = commit::created_by(&c.config);
    let base: Option<Digest> = match c.image_id.as_str() {
        "" => None,
        id => Some(id.parse().map_err(ApiError::internal)?),
    };
    let freeze = (pause && c.state.status == Status::Running).then(|| daemon.cgroup_path(&c.id));
    let d = daemon.clone();
    let id = blocking(move || {
        let frozen = match &freeze {
            Some(path) => {
                let cg = berth_cgroups::open(path)
                    .and_then(|cg| cg.freeze().map(|()| cg))
                    .map_err(|e| {
                        ApiError::internal(format!("pausing {} for the commit: {e}", c.id))
                    })?;
                Some(cg)
            }
            None => None,
        };
        let thaw = |result: ApiResult<Digest>| {
            if let Some(cg) = &frozen {
                if let Err(e) = cg.thaw() {
                    tracing::error!("unpausing container {} after the commit: {e}", c.id);
                }
            }
            result
        };
        let opts = ops::CommitOptions {
            container_config: runtime,
            author,
            comment,
            changes: Vec::new(),
            created_by,
        };
        let comment = opts.comment.clone().unwrap_or_default();
        let id = thaw(ops::commit(&d.images, &c.id, base.as_ref(), opts).map_err(ApiError::from))?;
        if let Some(t) = &tag {
            d.images.tag(&id, t)?;
            d.image_event(&id, &t.familiar(), "tag");
        }
        let image_ref = tag.as_ref().map(|t| t.familiar()).unwrap_or_default();
        let attrs = [
            ("comment", comment.as_str()),
            ("imageID", &id.to_string()),
            ("imageRef", &image_ref),
        ];
        d.events.container(&c, "commit", &attrs);
        Ok(id)
    })
    .await?;
    Ok(body::json(
        StatusCode::CREATED,
        &json!({ "Id": id.to_string() }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_references_follow_docker() {
        let t = |repo, tag| tag_reference(repo, tag).map(|r| r.familiar());
        assert_eq!(t("busybox", None).unwrap(), "busybox:latest");
        assert_eq!(t("busybox", Some("1")).unwrap(), "busybox:1");
        assert_eq!(t("busybox:1", None).unwrap(), "busybox:1");
        assert_eq!(t("busybox:1", Some("2")).unwrap(), "busybox:2");
        assert_eq!(
            t("localhost:5000/app", None).unwrap(),
            "localhost:5000/app:latest"
        );
        for (repo, tag) in [
            ("", None),
            ("Busybox", None),
            ("busybox", Some("a b")),
            ("sha256", None),
        ] {
            let e = tag_reference(repo, tag).unwrap_err();
            assert!(
                matches!(e, ApiError::BadRequest(_)),
                "{repo} {tag:?}: {e:?}"
            );
        }
        let e = tag_reference("Busybox", None).unwrap_err().to_string();
        assert!(e.starts_with("invalid reference format"), "{e}");
        let digest = format!("busybox@sha256:{}", "a".repeat(64));
        assert!(tag_reference(&digest, None)
            .unwrap_err()
            .to_string()
            .contains("digest"));
    }

    #[test]
    fn prune_filters() {
        let now = std::time::SystemTime::now();
        let p = |f: &str| PruneFilters::parse(Some(f), now);
        assert!(!p("{}").unwrap().all);
        assert!(p(r#"{"dangling":["false"]}"#).unwrap().all);
        assert!(!p(r#"{"dangling":["true"]}"#).unwrap().all);
        assert!(p(r#"{"reference":["x"]}"#).is_err());
        assert!(p(r#"{"until":["1h","2h"]}"#).is_err());
        assert!(p(r#"{"until":["soon"]}"#).is_err());

        let config = |created: &str, label: Option<(&str, &str)>| {
            let mut c = berth_image::ImageConfig {
                created: Some(created.into()),
                ..Default::default()
            };
            if let Some((k, v)) = label {
                let mut labels = std::collections::BTreeMap::new();
                labels.insert(k.to_string(), v.to_string());
                c.config = Some(berth_image::ContainerConfig {
                    labels: Some(labels),
                    ..Default::default()
                });
            }
            c
        };
        let old = config("2000-01-01T00:00:00Z", Some(("keep", "1")));
        let fresh = berth_image::ImageConfig {
            created: Some(berth_runtime::shim::time::format(now)),
            ..Default::default()
        };
        let until = p(r#"{"until":["24h"]}"#).unwrap();
        assert!(until.allows(&old) && !until.allows(&fresh));
        assert!(!p(r#"{"label!":["keep"]}"#).unwrap().allows(&old));
        assert!(p(r#"{"label":["keep=1"]}"#).unwrap().allows(&old));
        assert!(!p(r#"{"label":["keep=1"]}"#).unwrap().allows(&fresh));
        assert!(p("{}").unwrap().allows(&fresh));
    }
}
