//! Image commands: images, tag, rmi, history, image prune (and the image inspect spec).

use super::common::{confirm, filters_json, for_each};
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::{escape, Query};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::table::{ellipsis, short_id, Format};
use crate::units::{go_time_string, human_size, human_size_prec, rfc3339_local, since};
use crate::value::{obj, V};

const FORMAT_HELP: &str =
    "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'";

pub const IMAGES_SPEC: Spec = Spec {
    command: "berth images",
    args: "[REPOSITORY[:TAG]]",
    about: "List images",
    flags: &[
        b(
            Some('a'),
            "all",
            "Show all images (default hides intermediate images)",
        ),
        b(None, "digests", "Show digests"),
        v(
            Some('f'),
            "filter",
            "filter",
            "Filter output based on conditions provided",
        ),
        v(None, "format", "string", FORMAT_HELP),
        b(None, "no-trunc", "Don't truncate output"),
        b(Some('q'), "quiet", "Only show image IDs"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(1),
    stop_at_positional: false,
};
pub const TAG_SPEC: Spec = Spec {
    command: "berth tag",
    args: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    about: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    flags: &[],
    aliases: &[],
    min_args: 2,
    max_args: Some(2),
    stop_at_positional: false,
};
pub const RMI_SPEC: Spec = Spec {
    command: "berth rmi",
    args: "IMAGE [IMAGE...]",
    about: "Remove one or more images",
    flags: &[
        b(Some('f'), "force", "Force removal of the image"),
        b(None, "no-prune", "Do not delete untagged parents"),
    ],
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};
pub const HISTORY_SPEC: Spec = Spec {
    command: "berth history",
    args: "IMAGE",
    about: "Show the history of an image",
    flags: &[
        v(None, "format", "string", FORMAT_HELP),
        b(
            Some('H'),
            "human",
            "Print sizes and dates in human readable format (default true)",
        ),
        b(None, "no-trunc", "Don't truncate output"),
        b(Some('q'), "quiet", "Only show image IDs"),
    ],
    aliases: &[],
    min_args: 1,
    max_args: Some(1),
    stop_at_positional: false,
};
pub const IMAGE_INSPECT_SPEC: Spec = Spec {
    command: "berth image inspect",
    args: "IMAGE [IMAGE...]",
    about: "Display detailed information on one or more images",
    flags: &[v(
        Some('f'),
        "format",
        "string",
        "Format output using a custom template",
    )],
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};
pub const PRUNE_SPEC: Spec = Spec {
    command: "berth image prune",
    args: "",
    about: "Remove unused images",
    flags: &[
        b(
            Some('a'),
            "all",
            "Remove all unused images, not just dangling ones",
        ),
        v(
            None,
            "filter",
            "filter",
            "Provide filter values (e.g. \"until=<timestamp>\")",
        ),
        b(Some('f'), "force", "Do not prompt for confirmation"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};

const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const IMAGES_DIGESTS_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub fn images(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let mut filters = p.values("filter");
    if let Some(r) = p.args.first() {
        filters.push(format!("reference={r}"));
    }
    let mut q = Query::new();
    q.flag("all", p.bool("all"));
    if let Some(f) = filters_json(&filters)? {
        q.add("filters", f);
    }
    let list = ctx.client.get_json("/images/json", &q)?;
    let trunc = !p.bool("no-trunc");
    let quiet = p.bool("quiet");
    let mut rows = Vec::new();
    for img in list.items() {
        rows.extend(image_rows(img, trunc));
    }
    if quiet {
        // One line per image, not per tag.
        rows.dedup_by(|a, b| a.get("ID") == b.get("ID"));
    }
    let format = p.value("format").unwrap_or("");
    let template = if quiet {
        "{{.ID}}"
    } else if (format.is_empty() || format == "table") && p.bool("digests") {
        IMAGES_DIGESTS_TABLE
    } else {
        format
    };
    Format::new(template, IMAGES_TABLE)?.print(&rows, &images_header())?;
    Ok(0)
}

fn images_header() -> V {
    obj(vec![
        ("Repository", V::from("REPOSITORY")),
        ("Tag", V::from("TAG")),
        ("ID", V::from("IMAGE ID")),
        ("Digest", V::from("DIGEST")),
        ("CreatedSince", V::from("CREATED")),
        ("CreatedAt", V::from("CREATED AT")),
        ("Size", V::from("SIZE")),
        ("Containers", V::from("CONTAINERS")),
        ("SharedSize", V::from("SHARED SIZE")),
        ("UniqueSize", V::from("UNIQUE SIZE")),
        ("VirtualSize", V::from("VIRTUAL SIZE")),
    ])
}

/// `name:tag` → (name, tag); the colon must come after the last slash (registry ports).
pub fn split_tag(reference: &str) -> (&str, Option<&str>) {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], Some(&reference[slash + i + 1..])),
        None => (reference, None),
    }
}

/// One `/images/json` entry as table rows: one per tag, digest-only repositories, or a single
/// `<none>` row.
pub fn image_rows(img: &V, trunc: bool) -> Vec<V> {
    let id = img.get("Id").str();
    let created = img.get("Created").i64();
    let size = img.get("Size").i64();
    let tags: Vec<String> = img
        .get("RepoTags")
        .strings()
        .into_iter()
        .filter(|t| t != "<none>:<none>")
        .collect();
    let digests: Vec<String> = img
        .get("RepoDigests")
        .strings()
        .into_iter()
        .filter(|d| d != "<none>@<none>")
        .collect();
    let digest_for = |repo: &str| {
        digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, dg)| dg.to_string())
            })
            .unwrap_or_else(|| "<none>".into())
    };
    let row = |repo: &str, tag: &str, digest: String| {
        let shared = img.get("SharedSize").i64();
        obj(vec![
            (
                "Containers",
                V::Str(match img.get("Containers").i64() {
                    -1 => "N/A".into(),
                    n => n.to_string(),
                }),
            ),
            ("CreatedAt", V::Str(go_time_string(created))),
            ("CreatedSince", V::Str(since(created))),
            ("Digest", V::Str(digest)),
            (
                "ID",
                V::Str(if trunc { short_id(id) } else { id.to_string() }),
            ),
            ("Repository", V::from(repo)),
            (
                "SharedSize",
                V::Str(if shared < 0 {
                    "N/A".into()
                } else {
                    human_size_prec(shared as f64, 3)
                }),
            ),
            ("Size", V::Str(human_size_prec(size as f64, 3))),
            ("Tag", V::from(tag)),
            (
                "UniqueSize",
                V::Str(if shared < 0 {
                    "N/A".into()
                } else {
                    human_size_prec((size - shared) as f64, 3)
                }),
            ),
            ("VirtualSize", V::Str(human_size_prec(size as f64, 3))),
        ])
    };
    let mut rows = Vec::new();
    for t in &tags {
        let (repo, tag) = split_tag(t);
        rows.push(row(repo, tag.unwrap_or("<none>"), digest_for(repo)));
    }
    for d in &digests {
        let (repo, digest) = d.split_once('@').unwrap_or((d, ""));
        if !tags.iter().any(|t| split_tag(t).0 == repo) {
            rows.push(row(repo, "<none>", digest.to_string()));
        }
    }
    if rows.is_empty() {
        rows.push(row("<none>", "<none>", "<none>".into()));
    }
    rows
}

pub fn tag(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let (source, target) = (&p.args[0], &p.args[1]);
    if target.contains('@') {
        return Err(Error::client(format!(
            "refusing to create a tag with a digest reference: {target}"
        )));
    }
    let (repo, tag) = split_tag(target);
    let mut q = Query::new();
    q.add("repo", repo).add("tag", tag.unwrap_or("latest"));
    ctx.client.call(
        "POST",
        &format!("/images/{}/tag", escape_name(source)),
        &q,
        Body::Empty,
    )?;
    Ok(0)
}

/// Image names go into the path as they are (slashes included), other characters escaped.
fn escape_name(name: &str) -> String {
    name.split('/').map(escape).collect::<Vec<_>>().join("/")
}

pub fn rmi(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let mut q = Query::new();
    q.flag("force", p.bool("force"))
        .flag("noprune", p.bool("no-prune"));
    for_each(&p.args, |name| {
        let v = ctx
            .client
            .call(
                "DELETE",
                &format!("/images/{}", escape_name(name)),
                &q,
                Body::Empty,
            )?
            .json()?;
        let lines: Vec<String> = v.items().iter().filter_map(removal_line).collect();
        Ok((!lines.is_empty()).then(|| lines.join("\n")))
    })
}

fn removal_line(item: &V) -> Option<String> {
    match (item.get("Untagged").str(), item.get("Deleted").str()) {
        (u, _) if !u.is_empty() => Some(format!("Untagged: {u}")),
        (_, d) if !d.is_empty() => Some(format!("Deleted: {d}")),
        _ => None,
    }
}

const HISTORY_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub fn history(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let list = ctx.client.get_json(
        &format!("/images/{}/history", escape_name(&p.args[0])),
        &Query::new(),
    )?;
    let trunc = !p.bool("no-trunc");
    let human = p.bool_or("human", true);
    let rows: Vec<V> = list
        .items()
        .iter()
        .map(|h| history_row(h, trunc, human))
        .collect();
    let format = if p.bool("quiet") {
        "{{.ID}}"
    } else {
        p.value("format").unwrap_or("")
    };
    let header = obj(vec![
        ("ID", V::from("IMAGE")),
        ("CreatedSince", V::from("CREATED")),
        ("CreatedAt", V::from("CREATED AT")),
        ("CreatedBy", V::from("CREATED BY")),
        ("Size", V::from("SIZE")),
        ("Comment", V::from("COMMENT")),
    ]);
    Format::new(format, HISTORY_TABLE)?.print(&rows, &header)?;
    Ok(0)
}

pub fn history_row(h: &V, trunc: bool, human: bool) -> V {
    let id = h.get("Id").str();
    let id = if id == "<missing>" || !trunc {
        id.to_string()
    } else {
        short_id(id)
    };
    let created = h.get("Created").i64();
    let created_by = h.get("CreatedBy").str().replace('\t', " ");
    let created_by = if trunc {
        ellipsis(&created_by, 45)
    } else {
        created_by
    };
    let size = h.get("Size").i64();
    obj(vec![
        ("Comment", V::Str(h.get("Comment").str().to_string())),
        ("CreatedAt", V::Str(rfc3339_local(created))),
        ("CreatedBy", V::Str(created_by)),
        (
            "CreatedSince",
            V::Str(if human {
                since(created)
            } else {
                rfc3339_local(created)
            }),
        ),
        ("ID", V::Str(id)),
        (
            "Size",
            V::Str(if human {
                human_size_prec(size as f64, 3)
            } else {
                size.to_string()
            }),
        ),
    ])
}

pub fn prune(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let all = p.bool("all");
    let warning = if all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !p.bool("force") && !confirm(&format!("{warning}\nAre you sure you want to continue?")) {
        return Ok(0);
    }
    let (text, space) = prune_images(ctx, all, &p.values("filter"))?;
    println!("{text}Total reclaimed space: {}", human_size(space as f64));
    Ok(0)
}

/// `POST /images/prune`: the "Deleted Images" section and the bytes reclaimed.
pub fn prune_images(ctx: &Ctx, all: bool, filters: &[String]) -> Result<(String, i64)> {
    let mut filters = filters.to_vec();
    filters.push(format!("dangling={}", !all));
    let mut q = Query::new();
    if let Some(f) = filters_json(&filters)? {
        q.add("filters", f);
    }
    let v = ctx.client.post_json("/images/prune", &q, Body::Empty)?;
    let mut text = String::new();
    let deleted = v.get("ImagesDeleted").items();
    if !deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        for item in deleted {
            if let Some(line) = removal_line(item) {
                // prune reports in lower case, as docker prints it.
                let (kind, rest) = line.split_once(": ").unwrap_or(("", &line));
                text.push_str(&format!("{}: {rest}\n", kind.to_lowercase()));
            }
        }
        text.push('\n');
    }
    Ok((text, v.get("SpaceReclaimed").i64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_after_the_last_slash() {
        assert_eq!(split_tag("alpine:3.19"), ("alpine", Some("3.19")));
        assert_eq!(split_tag("localhost:5000/x"), ("localhost:5000/x", None));
        assert_eq!(
            split_tag("localhost:5000/x:1"),
            ("localhost:5000/x", Some("1"))
        );
    }

    #[test]
    fn image_rows_expand_tags() {
        let img = V::parse(
            br#"{"Id":"sha256:0123456789abcdef","RepoTags":["a:1","b:latest"],"RepoDigests":["a@sha256:dd"],
                "Created":0,"Size":7800000,"SharedSize":-1,"Containers":-1}"#,
        )
        .unwrap();
        let rows = image_rows(&img, true);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get("Repository").str(), "a");
        assert_eq!(rows[0].get("Digest").str(), "sha256:dd");
        assert_eq!(rows[1].get("Tag").str(), "latest");
        assert_eq!(rows[1].get("ID").str(), "0123456789ab");
        assert_eq!(rows[1].get("Size").str(), "7.8MB");
        let dangling =
            V::parse(br#"{"Id":"sha256:ff","RepoTags":null,"Created":0,"Size":0}"#).unwrap();
        let rows = image_rows(&dangling, false);
        assert_eq!(rows[0].get("Repository").str(), "<none>");
        assert_eq!(rows[0].get("ID").str(), "sha256:ff");
    }

    #[test]
    fn history_rows() {
        let h = V::parse(br#"{"Id":"<missing>","Created":0,"CreatedBy":"/bin/sh -c #(nop)\tCMD [\"sh\"] and a very long tail here","Size":1000,"Comment":""}"#).unwrap();
        let row = history_row(&h, true, true);
        assert_eq!(row.get("ID").str(), "<missing>");
        assert_eq!(
            row.get("CreatedBy").str(),
            "/bin/sh -c #(nop) CMD [\"sh\"] and a very long…"
        );
        assert_eq!(row.get("Size").str(), "1kB");
        assert_eq!(history_row(&h, true, false).get("Size").str(), "1000");
    }
}
