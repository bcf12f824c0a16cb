//! `berth volume create|ls|inspect|rm|prune` against Docker's `/volumes` endpoints, printing
//! what docker CLI 28 prints. Like docker, a failed volume command exits 1 (usage errors stay
//! 125). Swarm cluster-volume options are not offered, so the parser refuses them.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::common::{confirm, exit_one, filters_json};
use super::network::natural_cmp;
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::{escape, Query};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::table::Format;
use crate::template::LABELS_KEY;
use crate::units::human_size;
use crate::value::{obj, V};

pub const CREATE_SPEC: Spec = Spec {
    command: "berth volume create",
    args: "[VOLUME]",
    about: "Create a volume",
    flags: &[
        v(
            Some('d'),
            "driver",
            "string",
            "Specify volume driver name (default \"local\")",
        ),
        v(None, "label", "list", "Set metadata for a volume"),
        v(None, "name", "string", "Specify volume name"),
        v(Some('o'), "opt", "map", "Set driver specific options"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(1),
    stop_at_positional: false,
};
pub const LS_SPEC: Spec = Spec {
    command: "berth volume ls",
    args: "",
    about: "List volumes",
    flags: &[
        v(Some('f'), "filter", "filter", "Provide filter values (e.g. \"dangling=true\")"),
        v(None, "format", "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'"),
        b(Some('q'), "quiet", "Only display volume names"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};
pub const INSPECT_SPEC: Spec = Spec {
    command: "berth volume inspect",
    args: "VOLUME [VOLUME...]",
    about: "Display detailed information on one or more volumes",
    flags: &[v(
        Some('f'),
        "format",
        "string",
        "Format output using a custom template: 'json' or 'TEMPLATE'",
    )],
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};
pub const RM_SPEC: Spec = Spec {
    command: "berth volume rm",
    args: "VOLUME [VOLUME...]",
    about: "Remove one or more volumes",
    flags: &[b(
        Some('f'),
        "force",
        "Force the removal of one or more volumes",
    )],
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};
pub const PRUNE_SPEC: Spec = Spec {
    command: "berth volume prune",
    args: "",
    about: "Remove unused local volumes",
    flags: &[
        b(
            Some('a'),
            "all",
            "Remove all unused volumes, not just anonymous ones",
        ),
        v(
            None,
            "filter",
            "filter",
            "Provide filter values (e.g. \"label=<label>\")",
        ),
        b(Some('f'), "force", "Do not prompt for confirmation"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};

const LS_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

/// docker's label check: a label needs a name, and the name no whitespace.
fn check_label(spec: &Spec, label: &str) -> Result<()> {
    let key = label.split_once('=').map_or(label, |(k, _)| k).trim();
    if key.is_empty() {
        return Err(Error::usage(
            spec.command,
            format!("invalid argument {label:?} for \"--label\" flag: invalid label '{label}': empty name"),
        ));
    }
    if key.contains(char::is_whitespace) {
        return Err(Error::usage(
            spec.command,
            format!("invalid argument {label:?} for \"--label\" flag: label '{key}' contains whitespaces"),
        ));
    }
    Ok(())
}

/// `k=v` values to an object; a bare `k` has an empty value, as docker's map options give.
fn kv_map(values: &[String]) -> Map<String, Value> {
    values
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), json!(v))
        })
        .collect()
}

/// The `POST /volumes/create` body docker sends: the driver always, the rest when given.
pub fn create_body(spec: &Spec, p: &Parsed) -> Result<Value> {
    let name = match (p.value("name"), p.args.first().map(String::as_str)) {
        (Some(_), Some(_)) => {
            return Err(Error::client(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ))
        }
        (Some(n), None) | (None, Some(n)) => Some(n),
        (None, None) => None,
    };
    let labels = p.values("label");
    for l in &labels {
        check_label(spec, l)?;
    }
    let mut body = Map::new();
    body.insert("Driver".into(), json!(p.value("driver").unwrap_or("local")));
    let opts = kv_map(&p.values("opt"));
    if !opts.is_empty() {
        body.insert("DriverOpts".into(), Value::Object(opts));
    }
    if !labels.is_empty() {
        body.insert("Labels".into(), Value::Object(kv_map(&labels)));
    }
    if let Some(n) = name {
        body.insert("Name".into(), json!(n));
    }
    Ok(Value::Object(body))
}

pub fn create(ctx: &Ctx, p: Parsed) -> Result<i32> {
    exit_one((|| {
        let body = create_body(&ctx.spec, &p)?;
        let vol = ctx
            .client
            .post_json("/volumes/create", &Query::new(), Body::json(&body))?;
        println!("{}", vol.get("Name").str());
        Ok(0)
    })())
}

/// One volume as docker's volume formatter fields, in the order its `json` prints them.
/// Links and Size come from `UsageData`, which only `system df` fills; Group, Availability
/// and Status describe swarm cluster volumes, which berth has none of.
pub fn volume_row(vol: &V) -> V {
    let mut labels: Vec<String> = vol
        .get("Labels")
        .members()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.str()))
        .collect();
    labels.sort();
    let usage = vol.get("UsageData");
    let (links, size) = if usage.is_null() {
        ("N/A".to_string(), "N/A".to_string())
    } else {
        (
            usage.get("RefCount").i64().to_string(),
            human_size(usage.get("Size").i64() as f64),
        )
    };
    obj(vec![
        ("Availability", V::from("N/A")),
        ("Driver", V::from(vol.get("Driver").str())),
        ("Group", V::from("N/A")),
        ("Labels", V::Str(labels.join(","))),
        ("Links", V::Str(links)),
        ("Mountpoint", V::from(vol.get("Mountpoint").str())),
        ("Name", V::from(vol.get("Name").str())),
        ("Scope", V::from(vol.get("Scope").str())),
        ("Size", V::Str(size)),
        ("Status", V::from("N/A")),
        (LABELS_KEY, vol.get("Labels").clone()),
    ])
}

fn ls_header() -> V {
    obj(vec![
        ("Availability", V::from("AVAILABILITY")),
        ("Driver", V::from("DRIVER")),
        ("Group", V::from("GROUP")),
        ("Label", V::from("LABEL")),
        ("Labels", V::from("LABELS")),
        ("Links", V::from("LINKS")),
        ("Mountpoint", V::from("MOUNTPOINT")),
        ("Name", V::from("VOLUME NAME")),
        ("Scope", V::from("SCOPE")),
        ("Size", V::from("SIZE")),
        ("Status", V::from("STATUS")),
    ])
}

/// The rows of a `GET /volumes` answer, sorted by name in natural order as docker does.
fn ls_rows(list: &V) -> Vec<V> {
    let mut vols: Vec<&V> = list.get("Volumes").items().iter().collect();
    vols.sort_by(|a, b| natural_cmp(a.get("Name").str(), b.get("Name").str()));
    vols.into_iter().map(volume_row).collect()
}

pub fn ls(ctx: &Ctx, p: Parsed) -> Result<i32> {
    exit_one((|| {
        let mut q = Query::new();
        if let Some(f) = filters_json(&p.values("filter"))? {
            q.add("filters", f);
        }
        let list = ctx.client.get_json("/volumes", &q)?;
        let template = if p.bool("quiet") {
            "{{.Name}}"
        } else {
            p.value("format").unwrap_or("")
        };
        Format::new(template, LS_TABLE)?.print(&ls_rows(&list), &ls_header())?;
        Ok(0)
    })())
}

pub fn inspect(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let q = Query::new();
    let paths = p
        .args
        .iter()
        .map(|name| format!("/volumes/{}", escape(name)));
    exit_one(super::common::inspect_each(
        ctx,
        paths,
        &q,
        p.value("format").unwrap_or(""),
    ))
}

/// Removes each volume, printing its name; docker reports the failures after all names. With
/// `-f` the daemon itself treats a missing volume as removed, so nothing is hidden here.
pub fn rm(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let mut q = Query::new();
    q.flag("force", p.bool("force"));
    let mut errors = Vec::new();
    for name in &p.args {
        let path = format!("/volumes/{}", escape(name));
        match ctx.client.call("DELETE", &path, &q, Body::Empty) {
            Ok(_) => println!("{name}"),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return Ok(0);
    }
    let _ = std::io::stdout().flush();
    for e in &errors {
        eprintln!("{e}");
    }
    Err(Error::Exit(1))
}

/// The prompt `volume prune` shows; API 1.42+ daemons prune only anonymous volumes unless
/// `all` is asked for.
pub fn prune_warning(all: bool) -> &'static str {
    if all {
        "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
    }
}

pub fn prune(ctx: &Ctx, p: Parsed) -> Result<i32> {
    exit_one((|| {
        let all = p.bool("all");
        if !p.bool("force") && !confirm(prune_warning(all)) {
            return Ok(0);
        }
        let (text, space) = prune_volumes(ctx, all, &p.values("filter"))?;
        println!("{text}Total reclaimed space: {}", human_size(space as f64));
        Ok(0)
    })())
}

/// `POST /volumes/prune` (`-a` is the `all=true` filter): the "Deleted Volumes" section, empty
/// when none went, and the bytes reclaimed.
pub fn prune_volumes(ctx: &Ctx, all: bool, filters: &[String]) -> Result<(String, i64)> {
    let mut filters = filters.to_vec();
    if all {
        filters.push("all=true".into());
    }
    let mut q = Query::new();
    if let Some(f) = filters_json(&filters)? {
        q.add("filters", f);
    }
    let v = ctx.client.post_json("/volumes/prune", &q, Body::Empty)?;
    Ok((deleted_section(&v), v.get("SpaceReclaimed").i64()))
}

fn deleted_section(v: &V) -> String {
    let deleted = v.get("VolumesDeleted").strings();
    if deleted.is_empty() {
        return String::new();
    }
    format!("Deleted Volumes:\n{}\n\n", deleted.join("\n"))
}

#[cfg(test)]
#[path = "volume_tests.rs"]
mod tests;
