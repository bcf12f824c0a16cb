//! Container commands that act on existing containers: stop, kill, restart, rm, wait, logs,
//! inspect (containers and images), container prune.

use std::io::{self, Write};

use super::common::{confirm, filters_json, for_each};
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::Query;
use crate::error::{Error, Result};
use crate::http::Body;
use crate::stream::{copy_raw, demux, MULTIPLEXED_STREAM, RAW_STREAM};
use crate::template::Template;
use crate::units::{api_timestamp, human_size, now_secs};
use crate::value::V;

const fn many(
    command: &'static str,
    about: &'static str,
    flags: &'static [crate::args::Flag],
) -> Spec {
    Spec {
        command,
        args: "CONTAINER [CONTAINER...]",
        about,
        flags,
        aliases: &[],
        min_args: 1,
        max_args: None,
        stop_at_positional: false,
    }
}

pub const STOP_SPEC: Spec = many(
    "berth stop",
    "Stop one or more running containers",
    &[
        v(
            Some('s'),
            "signal",
            "string",
            "Signal to send to the container",
        ),
        v(
            Some('t'),
            "timeout",
            "int",
            "Seconds to wait before killing the container",
        ),
    ],
);
pub const RESTART_SPEC: Spec = many(
    "berth restart",
    "Restart one or more containers",
    &[
        v(
            Some('s'),
            "signal",
            "string",
            "Signal to send to the container",
        ),
        v(
            Some('t'),
            "timeout",
            "int",
            "Seconds to wait before killing the container",
        ),
    ],
);
pub const KILL_SPEC: Spec = many(
    "berth kill",
    "Kill one or more running containers",
    &[v(
        Some('s'),
        "signal",
        "string",
        "Signal to send to the container",
    )],
);
pub const RM_SPEC: Spec = many(
    "berth rm",
    "Remove one or more containers",
    &[
        b(
            Some('f'),
            "force",
            "Force the removal of a running container (uses SIGKILL)",
        ),
        b(Some('l'), "link", "Remove the specified link"),
        b(
            Some('v'),
            "volumes",
            "Remove anonymous volumes associated with the container",
        ),
    ],
);
pub const WAIT_SPEC: Spec = many(
    "berth wait",
    "Block until one or more containers stop, then print their exit codes",
    &[],
);
pub const LOGS_SPEC: Spec = Spec {
    command: "berth logs",
    args: "CONTAINER",
    about: "Fetch the logs of a container",
    flags: &[
        b(None, "details", "Show extra details provided to logs"),
        b(Some('f'), "follow", "Follow log output"),
        v(None, "since", "string", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
        v(Some('n'), "tail", "string", "Number of lines to show from the end of the logs (default \"all\")"),
        b(Some('t'), "timestamps", "Show timestamps"),
        v(None, "until", "string", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
    ],
    aliases: &[],
    min_args: 1,
    max_args: Some(1),
    stop_at_positional: false,
};
const INSPECT_FLAGS: &[crate::args::Flag] = &[
    v(
        Some('f'),
        "format",
        "string",
        "Format output using a custom template",
    ),
    b(
        Some('s'),
        "size",
        "Display total file sizes if the type is container",
    ),
    v(
        None,
        "type",
        "string",
        "Only inspect objects of the given type",
    ),
];
pub const INSPECT_SPEC: Spec = Spec {
    command: "berth inspect",
    args: "NAME|ID [NAME|ID...]",
    about: "Return low-level information on berth objects",
    flags: INSPECT_FLAGS,
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};
pub const CONTAINER_INSPECT_SPEC: Spec = Spec {
    command: "berth container inspect",
    args: "CONTAINER [CONTAINER...]",
    about: "Display detailed information on one or more containers",
    flags: &[
        v(
            Some('f'),
            "format",
            "string",
            "Format output using a custom template",
        ),
        b(Some('s'), "size", "Display total file sizes"),
    ],
    ..INSPECT_SPEC
};
pub const PRUNE_SPEC: Spec = Spec {
    command: "berth container prune",
    args: "",
    about: "Remove all stopped containers",
    flags: &[
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

pub fn stop(ctx: &Ctx, p: Parsed) -> Result<i32> {
    stop_or_restart(ctx, p, "stop")
}

pub fn restart(ctx: &Ctx, p: Parsed) -> Result<i32> {
    stop_or_restart(ctx, p, "restart")
}

fn stop_or_restart(ctx: &Ctx, p: Parsed, action: &str) -> Result<i32> {
    let mut q = Query::new();
    if let Some(t) = p.int(&ctx.spec, "timeout")? {
        q.add("t", t.to_string());
    }
    if let Some(s) = p.value("signal") {
        q.add("signal", s);
    }
    for_each(&p.args, |name| {
        ctx.client.call(
            "POST",
            &format!("/containers/{name}/{action}"),
            &q,
            Body::Empty,
        )?;
        Ok(Some(name.to_string()))
    })
}

pub fn kill(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let mut q = Query::new();
    if let Some(s) = p.value("signal") {
        q.add("signal", s);
    }
    for_each(&p.args, |name| {
        ctx.client
            .call("POST", &format!("/containers/{name}/kill"), &q, Body::Empty)?;
        Ok(Some(name.to_string()))
    })
}

pub fn rm(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let mut q = Query::new();
    q.flag("v", p.bool("volumes"))
        .flag("force", p.bool("force"))
        .flag("link", p.bool("link"));
    for_each(&p.args, |name| {
        ctx.client
            .call("DELETE", &format!("/containers/{name}"), &q, Body::Empty)?;
        Ok(Some(name.to_string()))
    })
}

pub fn wait(ctx: &Ctx, p: Parsed) -> Result<i32> {
    for_each(&p.args, |name| {
        let v = ctx.client.post_json(
            &format!("/containers/{name}/wait"),
            &Query::new(),
            Body::Empty,
        )?;
        let msg = v.get("Error").get("Message").str();
        if !msg.is_empty() {
            return Err(Error::Daemon {
                status: 500,
                message: msg.to_string(),
            });
        }
        Ok(Some(v.get("StatusCode").i64().to_string()))
    })
}

pub fn logs(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let name = &p.args[0];
    let mut q = Query::new();
    q.add("stdout", "1").add("stderr", "1");
    let now = now_secs();
    for key in ["since", "until"] {
        if let Some(val) = p.value(key).filter(|s| !s.is_empty()) {
            q.add(key, api_timestamp(val, now).map_err(Error::client)?);
        }
    }
    q.flag("timestamps", p.bool("timestamps"))
        .flag("follow", p.bool("follow"))
        .flag("details", p.bool("details"));
    q.add("tail", p.value("tail").unwrap_or("all"));
    let resp = ctx
        .client
        .call("GET", &format!("/containers/{name}/logs"), &q, Body::Empty)?;
    let ctype = resp.head.content_type().to_string();
    let multiplexed = match ctype.as_str() {
        MULTIPLEXED_STREAM => true,
        RAW_STREAM => false,
        // A daemon that does not say: ask whether the container has a tty, as docker does.
        _ => {
            let info = ctx
                .client
                .get_json(&format!("/containers/{name}/json"), &Query::new())?;
            !info.get("Config").get("Tty").bool()
        }
    };
    let mut out = io::stdout().lock();
    let copied = if multiplexed {
        demux(resp.body, &mut out, &mut io::stderr().lock())
    } else {
        copy_raw(resp.body, &mut out)
    };
    match copied {
        Ok(()) => Ok(0),
        // A reader like `head` went away: stop quietly.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Error::io("reading logs", e)),
    }
}

/// `inspect`, `container inspect` and `image inspect`.
pub fn inspect(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let forced = if ctx.spec.command.ends_with("container inspect") {
        Some("container")
    } else if ctx.spec.command.ends_with("image inspect") {
        Some("image")
    } else {
        p.value("type").filter(|t| !t.is_empty())
    };
    if let Some(t) = forced {
        if t != "container" && t != "image" {
            return Err(Error::client(format!(
                "\"{t}\" is not a valid value for --type"
            )));
        }
    }
    let template = match p.value("format").filter(|f| !f.is_empty() && *f != "json") {
        Some(f) => Some(Template::parse(f).map_err(Error::client)?),
        None => None,
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &p.args {
        match inspect_one(ctx, name, forced, p.bool("size")) {
            Ok(v) => found.push(v),
            Err(e) => errors.push(e),
        }
    }
    let mut out = io::stdout().lock();
    let write = |out: &mut io::StdoutLock, s: &str| {
        out.write_all(s.as_bytes())
            .map_err(|e| Error::io("writing output", e))
    };
    match &template {
        Some(t) => {
            for v in &found {
                let text = t.execute(v).map_err(Error::client)?;
                write(&mut out, &format!("{text}\n"))?;
            }
        }
        None => write(
            &mut out,
            &format!("{}\n", V::Arr(found).to_json_pretty("    ")),
        )?,
    }
    drop(out);
    if errors.is_empty() {
        return Ok(0);
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Err(Error::Exit(125))
}

fn inspect_one(ctx: &Ctx, name: &str, forced: Option<&str>, size: bool) -> Result<V> {
    let container = || {
        let mut q = Query::new();
        q.flag("size", size);
        ctx.client.get_json(&format!("/containers/{name}/json"), &q)
    };
    let image = || {
        ctx.client
            .get_json(&format!("/images/{name}/json"), &Query::new())
    };
    match forced {
        Some("container") => container(),
        Some(_) => image(),
        None => match container() {
            Err(e) if e.is_not_found() => match image() {
                Err(e) if e.is_not_found() => Err(Error::Plain(format!("No such object: {name}"))),
                other => other,
            },
            other => other,
        },
    }
}

pub fn prune(ctx: &Ctx, p: Parsed) -> Result<i32> {
    if !p.bool("force")
        && !confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return Ok(0);
    }
    let (text, space) = prune_containers(ctx, &p.values("filter"))?;
    println!("{text}Total reclaimed space: {}", human_size(space as f64));
    Ok(0)
}

/// `POST /containers/prune`: the "Deleted Containers" section (empty when none) and the bytes
/// reclaimed. System prune shares it.
pub fn prune_containers(ctx: &Ctx, filters: &[String]) -> Result<(String, i64)> {
    let mut q = Query::new();
    if let Some(f) = filters_json(filters)? {
        q.add("filters", f);
    }
    let v = ctx.client.post_json("/containers/prune", &q, Body::Empty)?;
    let mut text = String::new();
    let deleted = v.get("ContainersDeleted").strings();
    if !deleted.is_empty() {
        text.push_str("Deleted Containers:\n");
        for id in deleted {
            text.push_str(&id);
            text.push('\n');
        }
        text.push('\n');
    }
    Ok((text, v.get("SpaceReclaimed").i64()))
}
