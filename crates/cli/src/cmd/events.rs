//! `berth events`: streams the daemon's events, one line each, in docker's format
//! (`<time> <type> <action> <actor id> (k=v, …)`) or through `--format`.

use std::io::{self, BufRead, BufReader, Write};

use super::common::filters_json;
use super::Ctx;
use crate::args::{value_flag as v, Parsed, Spec};
use crate::client::Query;
use crate::error::{Error, Result};
use crate::http::Body;
use crate::template::Template;
use crate::units::{api_timestamp, now_secs, rfc3339_local};
use crate::value::{obj, V};

pub const EVENTS_SPEC: Spec = Spec {
    command: "berth events",
    args: "",
    about: "Get real time events from the server",
    flags: &[
        v(Some('f'), "filter", "filter", "Filter output based on conditions provided"),
        v(None, "format", "string", "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template"),
        v(None, "since", "string", "Show all events created since timestamp"),
        v(None, "until", "string", "Stream events until this timestamp"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};

/// How each event is printed.
enum Output {
    /// docker's default line.
    Pretty,
    /// The daemon's JSON as it came (`--format json` or `{{json .}}`).
    Json,
    Template(Template),
}

pub fn events(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let mut q = Query::new();
    let now = now_secs();
    for key in ["since", "until"] {
        if let Some(val) = p.value(key).filter(|s| !s.is_empty()) {
            q.add(key, api_timestamp(val, now).map_err(Error::client)?);
        }
    }
    if let Some(f) = filters_json(&p.values("filter"))? {
        q.add("filters", f);
    }
    let output = match p.value("format").map(str::trim).unwrap_or("") {
        "" => Output::Pretty,
        "json" | "{{json .}}" => Output::Json,
        f => Output::Template(Template::parse(f).map_err(Error::client)?),
    };
    let resp = ctx.client.call("GET", "/events", &q, Body::Empty)?;
    let mut out = io::stdout().lock();
    for line in BufReader::new(resp.body).lines() {
        let line = line.map_err(|e| Error::io("reading events", e))?;
        if line.trim().is_empty() {
            continue;
        }
        let ev = V::parse(line.as_bytes())
            .map_err(|e| Error::Protocol(format!("bad event from the daemon: {e}")))?;
        let text = match &output {
            Output::Pretty => pretty(&ev),
            Output::Json => line.clone(),
            Output::Template(t) => t.execute(&go_fields(&ev)).map_err(Error::client)?,
        };
        // Flushed per event: a reader on a pipe sees each one as it happens.
        let written = writeln!(out, "{text}").and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(0),
            Err(e) => return Err(Error::io("writing output", e)),
        }
    }
    Ok(0)
}

/// `2026-11-28T09:00:00.123456789Z container start <id> (image=…, name=…)`: local time with
/// nanoseconds, the attributes sorted by key.
pub fn pretty(ev: &V) -> String {
    let nanos = ev.get("timeNano").i64();
    let mut line = String::new();
    if nanos != 0 || ev.get("time").i64() != 0 {
        let (secs, sub) = if nanos != 0 {
            (
                nanos.div_euclid(1_000_000_000),
                nanos.rem_euclid(1_000_000_000),
            )
        } else {
            (ev.get("time").i64(), 0)
        };
        // rfc3339_local gives `YYYY-MM-DDTHH:MM:SS` then the zone; the fraction goes between.
        let stamp = rfc3339_local(secs);
        let (clock, zone) = stamp.split_at(19.min(stamp.len()));
        line.push_str(&format!("{clock}.{sub:09}{zone} "));
    }
    let actor = ev.get("Actor");
    line.push_str(&format!(
        "{} {} {}",
        ev.get("Type").str(),
        ev.get("Action").str(),
        actor.get("ID").str()
    ));
    let mut attrs: Vec<(String, String)> = actor
        .get("Attributes")
        .members()
        .iter()
        .map(|(k, v)| (k.clone(), v.str().to_string()))
        .collect();
    if !attrs.is_empty() {
        attrs.sort();
        let joined: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" ({})", joined.join(", ")));
    }
    line
}

/// The event under the field names of docker's Go struct, which templates use (`.Status`,
/// `.ID`, `.TimeNano`…); the JSON spells some of them in lower case.
fn go_fields(ev: &V) -> V {
    let pairs = [
        ("Status", "status"),
        ("ID", "id"),
        ("From", "from"),
        ("Type", "Type"),
        ("Action", "Action"),
        ("Actor", "Actor"),
        ("Scope", "scope"),
        ("Time", "time"),
        ("TimeNano", "timeNano"),
    ];
    obj(pairs
        .iter()
        .map(|(go, json)| {
            let v = match ev.get(json) {
                V::Null if matches!(*go, "Status" | "ID" | "From") => V::Str(String::new()),
                other => other.clone(),
            };
            (*go, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"status":"die","id":"abc","from":"busybox","Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"name":"web","exitCode":"3","image":"busybox"}},"scope":"local","time":1700000000,"timeNano":1700000000012345678}"#;

    #[test]
    fn default_line_sorts_attributes() {
        let line = pretty(&V::parse(EVENT.as_bytes()).unwrap());
        // The clock is local time, as docker prints it.
        let stamp = rfc3339_local(1_700_000_000);
        let (clock, zone) = stamp.split_at(19);
        assert_eq!(
            line,
            format!(
                "{clock}.012345678{zone} container die abc (exitCode=3, image=busybox, name=web)"
            )
        );
    }

    #[test]
    fn templates_see_go_field_names() {
        let ev = go_fields(&V::parse(EVENT.as_bytes()).unwrap());
        let t = Template::parse("{{.Status}} {{.ID}} {{.Actor.Attributes.exitCode}} {{.TimeNano}}")
            .unwrap();
        assert_eq!(t.execute(&ev).unwrap(), "die abc 3 1700000000012345678");
    }
}
