//! `ps`: the container list, with docker's formatter fields and table.

use super::common::filters_json;
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::client::Query;
use crate::error::{Error, Result};
use crate::http::Body;
use crate::table::{ellipsis, short_id, Format};
use crate::template::LABELS_KEY;
use crate::units::{go_time_string, human_size_prec, since};
use crate::value::{obj, V};

pub const PS_SPEC: Spec = Spec {
    command: "berth ps",
    args: "",
    about: "List containers",
    flags: &[
        b(Some('a'), "all", "Show all containers (default shows just running)"),
        v(Some('f'), "filter", "filter", "Filter output based on conditions provided"),
        v(None, "format", "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'"),
        v(Some('n'), "last", "int", "Show n last created containers (includes all states) (default -1)"),
        b(Some('l'), "latest", "Show the latest created container (includes all states)"),
        b(None, "no-trunc", "Don't truncate output"),
        b(Some('q'), "quiet", "Only display container IDs"),
        b(Some('s'), "size", "Display total file sizes"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub fn ps(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let format = p.value("format").unwrap_or("").to_string();
    let quiet = p.bool("quiet");
    if quiet && !format.is_empty() && format != "table" {
        eprintln!("WARNING: Ignoring custom format, because both --format and --quiet are set.");
    }
    // docker asks for sizes when the template shows them.
    let size = p.bool("size") || (!quiet && format.contains(".Size"));
    let mut last = p.int(&ctx.spec, "last")?.unwrap_or(-1);
    if p.bool("latest") {
        last = 1;
    }
    let mut q = Query::new();
    q.flag("all", p.bool("all"));
    if last > 0 {
        q.add("limit", last.to_string());
    }
    q.flag("size", size);
    if let Some(f) = filters_json(&p.values("filter"))? {
        q.add("filters", f);
    }
    let body = ctx
        .client
        .call("GET", "/containers/json", &q, Body::Empty)?
        .bytes()?;
    let list = parse_list(&body)?;
    let trunc = !p.bool("no-trunc");
    let rows: Vec<V> = list.iter().map(|c| container_row(c, trunc)).collect();
    let template = if quiet {
        "{{.ID}}".to_string()
    } else if format.is_empty() || format == "table" {
        if size {
            format!("{DEFAULT_TABLE}\t{{{{.Size}}}}")
        } else {
            DEFAULT_TABLE.to_string()
        }
    } else {
        format
    };
    Format::new(&template, DEFAULT_TABLE)?.print(&rows, &header())?;
    Ok(0)
}

/// Column titles, as docker's container formatter names them.
fn header() -> V {
    obj(vec![
        ("ID", V::from("CONTAINER ID")),
        ("Image", V::from("IMAGE")),
        ("Command", V::from("COMMAND")),
        ("CreatedAt", V::from("CREATED AT")),
        ("RunningFor", V::from("CREATED")),
        ("Ports", V::from("PORTS")),
        ("State", V::from("STATE")),
        ("Status", V::from("STATUS")),
        ("Size", V::from("SIZE")),
        ("Names", V::from("NAMES")),
        ("Labels", V::from("LABELS")),
        ("Label", V::from("LABEL")),
        ("Mounts", V::from("MOUNTS")),
        ("LocalVolumes", V::from("LOCAL VOLUMES")),
        ("Networks", V::from("NETWORKS")),
        ("Platform", V::from("PLATFORM")),
    ])
}

/// What `ps` reads of one `/containers/json` entry, borrowed from the response where the JSON
/// has no escapes. Parsing only these fields, rather than a whole value tree of each entry,
/// is most of what keeps `ps` with 1000 containers fast. Every field may be missing or null.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Entry<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    names: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    image: Option<Cow<'a, str>>,
    #[serde(rename = "ImageID", borrow)]
    image_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    command: Option<Cow<'a, str>>,
    created: Option<i64>,
    #[serde(borrow)]
    ports: Option<Vec<Port<'a>>>,
    /// Kept as a value: rows hand it to templates for `.Label "key"`.
    labels: Option<V>,
    #[serde(borrow)]
    state: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    size_rw: Option<i64>,
    size_root_fs: Option<i64>,
    #[serde(borrow)]
    mounts: Option<Vec<Mount<'a>>>,
    #[serde(borrow)]
    network_settings: Option<NetworkSettings<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Port<'a> {
    #[serde(rename = "IP", borrow)]
    ip: Option<Cow<'a, str>>,
    private_port: Option<i64>,
    public_port: Option<i64>,
    #[serde(borrow)]
    r#type: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Mount<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    driver: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkSettings<'a> {
    /// Only the names are shown.
    #[serde(borrow)]
    networks: Option<BTreeMap<Cow<'a, str>, IgnoredAny>>,
}

/// The body of `GET /containers/json` (an empty body is an empty list).
pub fn parse_list(body: &[u8]) -> Result<Vec<Entry<'_>>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice::<Option<Vec<Entry>>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|e| Error::Protocol(format!("bad JSON from the daemon: {e}")))
}

fn text<'s>(s: &'s Option<Cow<'_, str>>) -> &'s str {
    s.as_deref().unwrap_or("")
}

/// One `/containers/json` entry as docker's formatter fields (sorted, as its `json` prints).
pub fn container_row(c: &Entry, trunc: bool) -> V {
    let id = text(&c.id);
    let command = text(&c.command);
    let command = if trunc {
        ellipsis(command, 20)
    } else {
        command.to_string()
    };
    let created = c.created.unwrap_or(0);
    let mut names: Vec<&str> = c
        .names
        .iter()
        .flatten()
        .map(|n| n.trim_start_matches('/'))
        .collect();
    if trunc {
        // Legacy link names (`other/alias`) are hidden unless --no-trunc.
        if let Some(n) = names.iter().find(|n| !n.contains('/')).copied() {
            names = vec![n];
        }
    }
    let label_map = c.labels.as_ref().unwrap_or(&crate::value::NULL);
    let mut labels: Vec<(&str, &str)> = label_map
        .members()
        .iter()
        .map(|(k, v)| (k.as_str(), v.str()))
        .collect();
    labels.sort();
    let mounts = c.mounts.as_deref().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = match text(&m.name) {
                "" => text(&m.source),
                name => name,
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = mounts.iter().filter(|m| text(&m.driver) == "local").count();
    // BTreeMap keys: already sorted.
    let networks: Vec<&str> = c
        .network_settings
        .iter()
        .flat_map(|n| n.networks.iter().flatten())
        .map(|(k, _)| k.as_ref())
        .collect();
    let size_rw = c.size_rw.unwrap_or(0);
    let size_root = c.size_root_fs.unwrap_or(0);
    let size = if size_root > 0 {
        format!(
            "{} (virtual {})",
            human_size_prec(size_rw as f64, 3),
            human_size_prec(size_root as f64, 3)
        )
    } else {
        human_size_prec(size_rw as f64, 3)
    };
    obj(vec![
        ("Command", V::Str(go_quote(&command))),
        ("CreatedAt", V::Str(go_time_string(created))),
        (
            "ID",
            V::Str(if trunc { short_id(id) } else { id.to_string() }),
        ),
        ("Image", V::Str(image_name(c, trunc))),
        (
            "Labels",
            V::Str(
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ),
        ("LocalVolumes", V::Str(local_volumes.to_string())),
        ("Mounts", V::Str(mount_names.join(","))),
        ("Names", V::Str(names.join(","))),
        ("Networks", V::Str(networks.join(","))),
        (
            "Ports",
            V::Str(ports(c.ports.as_deref().unwrap_or_default())),
        ),
        ("RunningFor", V::Str(since(created))),
        ("Size", V::Str(size)),
        ("State", V::Str(text(&c.state).to_string())),
        ("Status", V::Str(text(&c.status).to_string())),
        (LABELS_KEY, label_map.clone()),
    ])
}

/// The image column: an image ID is shortened, a digest dropped, unless --no-trunc.
fn image_name(c: &Entry, trunc: bool) -> String {
    let image = text(&c.image);
    if image.is_empty() {
        return "<no image>".into();
    }
    if !trunc {
        return image.to_string();
    }
    if image.starts_with("sha256:") || short_id(text(&c.image_id)) == short_id(image) {
        return short_id(image);
    }
    match image.split_once('@') {
        Some((name, _)) => name.to_string(),
        None => image.to_string(),
    }
}

/// Go's `strconv.Quote` for the COMMAND column.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The PORTS column: `0.0.0.0:8080->80/tcp, 443/tcp`.
fn ports(list: &[Port]) -> String {
    let mut out: Vec<String> = list
        .iter()
        .map(|p| {
            let private = p.private_port.unwrap_or(0);
            let proto = text(&p.r#type);
            let ip = text(&p.ip);
            match p.public_port.unwrap_or(0) {
                0 => format!("{private}/{proto}"),
                public if ip.contains(':') => format!("[{ip}]:{public}->{private}/{proto}"),
                public => format!("{ip}:{public}->{private}/{proto}"),
            }
        })
        .collect();
    out.dedup();
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_docker_formatting() {
        let list = parse_list(
            br#"[{"Id":"4f2c0e1b9a7d6c5b4a3f2e1d0c9b8a7f","Names":["/web","/other/alias"],"Image":"alpine@sha256:abc",
                "ImageID":"sha256:1111","Command":"sh -c 'while true; do sleep 1; done'","Created":0,
                "Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"PrivatePort":443,"Type":"tcp"}],
                "Labels":{"b":"2","a":"1"},"State":"running","Status":"Up 3 seconds","SizeRw":1234567,
                "Mounts":[{"Name":"","Source":"/very/long/source/path","Driver":""}],
                "NetworkSettings":{"Networks":{"bridge":{}}}}]"#,
        )
        .unwrap();
        let c = &list[0];
        let row = container_row(c, true);
        assert_eq!(row.get("ID").str(), "4f2c0e1b9a7d");
        assert_eq!(row.get("Names").str(), "web");
        assert_eq!(row.get("Image").str(), "alpine");
        assert_eq!(row.get("Command").str(), "\"sh -c 'while true; …\"");
        assert_eq!(row.get("Ports").str(), "0.0.0.0:8080->80/tcp, 443/tcp");
        assert_eq!(row.get("Labels").str(), "a=1,b=2");
        assert_eq!(row.get("Size").str(), "1.23MB");
        assert_eq!(row.get("Mounts").str(), "/very/long/sou…");
        assert_eq!(row.get("Networks").str(), "bridge");
        let full = container_row(c, false);
        assert_eq!(full.get("Names").str(), "web,other/alias");
        assert_eq!(full.get("ID").str(), "4f2c0e1b9a7d6c5b4a3f2e1d0c9b8a7f");
    }
}
