//! pause, unpause, update, top and port: looking into and adjusting running containers.
//! As the docker CLI, these report each failure and exit 1 at the end.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::opt_parsers::{parse_memory_swap, parse_nano_cpus, parse_restart};
use super::Ctx;
use crate::args::{value_flag as v, Parsed, Spec};
use crate::client::Query;
use crate::error::{Error, Result};
use crate::http::Body;
use crate::units::parse_bytes;

const fn many(command: &'static str, about: &'static str) -> Spec {
    Spec {
        command,
        args: "CONTAINER [CONTAINER...]",
        about,
        flags: &[],
        aliases: &[],
        min_args: 1,
        max_args: None,
        stop_at_positional: false,
    }
}

pub const PAUSE_SPEC: Spec = many(
    "berth pause",
    "Pause all processes within one or more containers",
);
pub const UNPAUSE_SPEC: Spec = many(
    "berth unpause",
    "Unpause all processes within one or more containers",
);
pub const UPDATE_SPEC: Spec = Spec {
    command: "berth update",
    args: "CONTAINER [CONTAINER...]",
    about: "Update configuration of one or more containers",
    flags: &[
        v(
            Some('c'),
            "cpu-shares",
            "int",
            "CPU shares (relative weight)",
        ),
        v(
            None,
            "cpu-period",
            "int",
            "Limit CPU CFS (Completely Fair Scheduler) period",
        ),
        v(
            None,
            "cpu-quota",
            "int",
            "Limit CPU CFS (Completely Fair Scheduler) quota",
        ),
        v(None, "cpus", "decimal", "Number of CPUs"),
        v(
            None,
            "cpuset-cpus",
            "string",
            "CPUs in which to allow execution (0-3, 0,1)",
        ),
        v(
            None,
            "cpuset-mems",
            "string",
            "MEMs in which to allow execution (0-3, 0,1)",
        ),
        v(Some('m'), "memory", "bytes", "Memory limit"),
        v(None, "memory-reservation", "bytes", "Memory soft limit"),
        v(
            None,
            "memory-swap",
            "bytes",
            "Swap limit equal to memory plus swap: -1 to enable unlimited swap",
        ),
        v(
            None,
            "pids-limit",
            "int",
            "Tune container pids limit (set -1 for unlimited)",
        ),
        v(
            None,
            "restart",
            "string",
            "Restart policy to apply when a container exits",
        ),
    ],
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};
pub const TOP_SPEC: Spec = Spec {
    command: "berth top",
    args: "CONTAINER [ps OPTIONS]",
    about: "Display the running processes of a container",
    flags: &[],
    aliases: &[],
    min_args: 1,
    max_args: None,
    // Everything after the container is for ps.
    stop_at_positional: true,
};
pub const PORT_SPEC: Spec = Spec {
    command: "berth port",
    args: "CONTAINER [PRIVATE_PORT[/PROTO]]",
    about: "List port mappings or a specific mapping for the container",
    flags: &[],
    aliases: &[],
    min_args: 1,
    max_args: Some(2),
    stop_at_positional: false,
};

/// Runs `op` on each container, printing its name on success and the error otherwise;
/// exit 1 if any failed (docker's status for these commands).
fn each(names: &[String], mut op: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut failed = false;
    for name in names {
        match op(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                let _ = std::io::stdout().flush();
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Error::Exit(1))
    } else {
        Ok(0)
    }
}

fn post(ctx: &Ctx, name: &str, action: &str) -> Result<()> {
    ctx.client.call(
        "POST",
        &format!("/containers/{name}/{action}"),
        &Query::new(),
        Body::Empty,
    )?;
    Ok(())
}

pub fn pause(ctx: &Ctx, p: Parsed) -> Result<i32> {
    each(&p.args, |name| post(ctx, name, "pause"))
}

pub fn unpause(ctx: &Ctx, p: Parsed) -> Result<i32> {
    each(&p.args, |name| post(ctx, name, "unpause"))
}

/// The UpdateConfig body from the flags given (docker sends zero for the others, which means
/// "unchanged").
fn update_body(ctx: &Ctx, p: &Parsed) -> Result<Map<String, Value>> {
    let bad = |flag: &str, val: &str, e: String| {
        ctx.usage(format!(
            "invalid argument {val:?} for \"--{flag}\" flag: {e}"
        ))
    };
    let mut body = Map::new();
    for (flag, key) in [
        ("memory", "Memory"),
        ("memory-reservation", "MemoryReservation"),
    ] {
        if let Some(val) = p.value(flag) {
            body.insert(
                key.into(),
                json!(parse_bytes(val).map_err(|e| bad(flag, val, e))?),
            );
        }
    }
    if let Some(val) = p.value("memory-swap") {
        let n = parse_memory_swap(val).map_err(|e| bad("memory-swap", val, e))?;
        body.insert("MemorySwap".into(), json!(n));
    }
    if let Some(val) = p.value("cpus") {
        let n = parse_nano_cpus(val).map_err(|e| bad("cpus", val, e))?;
        body.insert("NanoCpus".into(), json!(n));
    }
    for (flag, key) in [
        ("cpu-shares", "CpuShares"),
        ("cpu-quota", "CpuQuota"),
        ("cpu-period", "CpuPeriod"),
        ("pids-limit", "PidsLimit"),
    ] {
        if let Some(n) = p.int(&ctx.spec, flag)? {
            body.insert(key.into(), json!(n));
        }
    }
    for (flag, key) in [("cpuset-cpus", "CpusetCpus"), ("cpuset-mems", "CpusetMems")] {
        if let Some(val) = p.value(flag) {
            body.insert(key.into(), json!(val));
        }
    }
    if let Some(r) = p.value("restart") {
        let (name, retries) = parse_restart(r).map_err(|e| bad("restart", r, e))?;
        body.insert(
            "RestartPolicy".into(),
            json!({"Name": name, "MaximumRetryCount": retries}),
        );
    }
    Ok(body)
}

pub fn update(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let body = update_body(ctx, &p)?;
    if body.is_empty() {
        return Err(ctx.usage("you must provide one or more flags when using this command"));
    }
    let body = Value::Object(body);
    let mut warnings_shown = false;
    each(&p.args, |name| {
        let answer = ctx.client.post_json(
            &format!("/containers/{name}/update"),
            &Query::new(),
            Body::json(&body),
        )?;
        if !warnings_shown {
            for w in answer.get("Warnings").strings() {
                eprintln!("WARNING: {w}");
            }
            warnings_shown = true;
        }
        Ok(())
    })
}

/// Go's tabwriter as `docker top` sets it up: minimum width 20, padding 3; the last column is
/// not padded.
fn top_table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns.saturating_sub(1)) {
            widths[i] = widths[i].max((cell.chars().count() + 3).max(20));
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                out.push_str(&format!("{cell:<width$}", width = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

pub fn top(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let name = &p.args[0];
    let mut q = Query::new();
    if p.args.len() > 1 {
        q.add("ps_args", p.args[1..].join(" "));
    }
    let answer = ctx
        .client
        .get_json(&format!("/containers/{name}/top"), &q)
        .map_err(|e| {
            eprintln!("{e}");
            Error::Exit(1)
        })?;
    let mut rows = vec![answer.get("Titles").strings()];
    rows.extend(answer.get("Processes").items().iter().map(|r| r.strings()));
    print!("{}", top_table(&rows));
    Ok(0)
}

pub fn port(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let name = &p.args[0];
    let fail = |message: String| {
        eprintln!("{message}");
        Error::Exit(1)
    };
    let c = ctx
        .client
        .get_json(&format!("/containers/{name}/json"), &Query::new())
        .map_err(|e| fail(e.to_string()))?;
    let ports = c.get("NetworkSettings").get("Ports");
    let binding = |b: &crate::value::V| {
        let ip = b.get("HostIp").str();
        let ip = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!("{ip}:{}", b.get("HostPort").str())
    };
    if let Some(want) = p.args.get(1) {
        let (number, proto) = want.split_once('/').unwrap_or((want, "tcp"));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if number.parse::<u16>().is_err() {
            return Err(fail(format!(
                "Error: invalid port ({number}): strconv.ParseUint: parsing {number:?}: invalid syntax"
            )));
        }
        let bindings = ports.get(&format!("{number}/{proto}")).items();
        if bindings.is_empty() {
            // As docker: the port as the user wrote it.
            return Err(fail(format!(
                "Error: No public port '{want}' published for {name}"
            )));
        }
        for b in bindings {
            println!("{}", binding(b));
        }
        return Ok(0);
    }
    let mut lines: Vec<String> = ports
        .members()
        .iter()
        .flat_map(|(key, bindings)| {
            bindings
                .items()
                .iter()
                .map(|b| format!("{key} -> {}", binding(b)))
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    for l in lines {
        println!("{l}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_table_pads_like_docker() {
        let rows = vec![
            vec!["PID".to_string(), "USER".into(), "COMMAND".into()],
            vec!["12345".to_string(), "root".into(), "sleep 1000".into()],
        ];
        let text = top_table(&rows);
        let first = text.lines().next().unwrap();
        assert_eq!(first, format!("{:<20}{:<20}COMMAND", "PID", "USER"));
        assert!(text
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("root                sleep 1000"));
    }
}
