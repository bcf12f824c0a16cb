//! Moving images in and out as tars: save, load, import, and commit (a container to an image).

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::Path;

use super::image::split_tag;
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::Query;
use crate::error::{Error, Result};
use crate::http::Body;
use crate::value::V;

pub const SAVE_SPEC: Spec = Spec {
    command: "berth save",
    args: "IMAGE [IMAGE...]",
    about: "Save one or more images to a tar archive (streamed to STDOUT by default)",
    flags: &[v(
        Some('o'),
        "output",
        "string",
        "Write to a file, instead of STDOUT",
    )],
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};
pub const LOAD_SPEC: Spec = Spec {
    command: "berth load",
    args: "",
    about: "Load an image from a tar archive or STDIN",
    flags: &[
        v(
            Some('i'),
            "input",
            "string",
            "Read from tar archive file, instead of STDIN",
        ),
        b(Some('q'), "quiet", "Suppress the load output"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};
pub const IMPORT_SPEC: Spec = Spec {
    command: "berth import",
    args: "file|URL|- [REPOSITORY[:TAG]]",
    about: "Import the contents from a tarball to create a filesystem image",
    flags: &[
        v(
            Some('c'),
            "change",
            "list",
            "Apply Dockerfile instruction to the created image",
        ),
        v(
            Some('m'),
            "message",
            "string",
            "Set commit message for imported image",
        ),
        v(
            None,
            "platform",
            "string",
            "Set platform if server is multi-platform capable",
        ),
    ],
    aliases: &[],
    min_args: 1,
    max_args: Some(2),
    stop_at_positional: false,
};
pub const COMMIT_SPEC: Spec = Spec {
    command: "berth commit",
    args: "CONTAINER [REPOSITORY[:TAG]]",
    about: "Create a new image from a container's changes",
    flags: &[
        v(
            Some('a'),
            "author",
            "string",
            "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")",
        ),
        v(
            Some('c'),
            "change",
            "list",
            "Apply Dockerfile instruction to the created image",
        ),
        v(Some('m'), "message", "string", "Commit message"),
        b(
            Some('p'),
            "pause",
            "Pause container during commit (default true)",
        ),
    ],
    aliases: &[],
    min_args: 1,
    max_args: Some(2),
    stop_at_positional: false,
};

pub fn save(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let output = p.value("output").filter(|o| !o.is_empty());
    if output.is_none() && io::stdout().is_terminal() {
        return Err(Error::client(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let mut q = Query::new();
    for name in &p.args {
        q.add("names", name.as_str());
    }
    let mut resp = ctx.client.call("GET", "/images/get", &q, Body::Empty)?;
    match output {
        None => {
            let mut out = io::stdout().lock();
            io::copy(&mut resp.body, &mut out)
                .and_then(|_| out.flush())
                .map_err(|e| Error::io("writing the archive to stdout", e))?;
        }
        Some(path) => copy_to_file(&mut resp.body, Path::new(path))?,
    }
    Ok(0)
}

/// Writes through a temporary file renamed into place, so a failed save leaves no partial
/// archive under the requested name (docker does the same).
pub(super) fn copy_to_file(r: &mut dyn Read, path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.berth-save-{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        io::copy(r, &mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(
            format!("failed to save image to {}", path.display()),
            e,
        ));
    }
    Ok(())
}

/// A request body from a file (with its length) or from stdin (chunked).
fn input_body(path: Option<&str>, ctype: &'static str) -> Result<Body> {
    match path.filter(|p| !p.is_empty() && *p != "-") {
        Some(path) => {
            let f = File::open(path).map_err(|e| Error::io(format!("open {path}"), e))?;
            let len = f.metadata().map(|m| m.len()).ok();
            Ok(Body::Reader(Box::new(f), ctype, len))
        }
        None => Ok(Body::Reader(Box::new(io::stdin()), ctype, None)),
    }
}

pub fn load(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let input = p.value("input");
    if input.filter(|i| !i.is_empty()).is_none() && io::stdin().is_terminal() {
        return Err(Error::client(
            "requested load from stdin, but stdin is empty (use -i to read from a file, or redirect)",
        ));
    }
    let mut q = Query::new();
    q.flag("quiet", p.bool("quiet"));
    let resp = ctx.client.call(
        "POST",
        "/images/load",
        &q,
        input_body(input, "application/x-tar")?,
    )?;
    if resp.head.content_type().contains("json") {
        print_json_stream(resp.body, |m| m.get("stream").str().to_string())?;
    } else {
        let mut out = io::stdout().lock();
        io::copy(&mut { resp.body }, &mut out)
            .map_err(|e| Error::io("reading the daemon's response", e))?;
    }
    Ok(0)
}

/// Prints a JSON-lines progress stream: `pick` chooses the text of each message; an `error`
/// message ends it as a daemon error.
fn print_json_stream(body: impl Read, pick: impl Fn(&V) -> String) -> Result<()> {
    let mut out = io::stdout().lock();
    // Messages are read as they arrive, so progress shows while the daemon works.
    for msg in serde_json::Deserializer::from_reader(BufReader::new(body)).into_iter::<V>() {
        let msg = msg.map_err(|e| Error::Protocol(format!("bad JSON message: {e}")))?;
        let err = msg.get("error").str();
        let detail = msg.get("errorDetail").get("message").str();
        if !err.is_empty() || !detail.is_empty() {
            let message = if detail.is_empty() { err } else { detail };
            return Err(Error::Daemon {
                status: 500,
                message: message.to_string(),
            });
        }
        let line = pick(&msg);
        if !line.is_empty() {
            let _ = out.write_all(line.as_bytes());
        }
    }
    let _ = out.flush();
    Ok(())
}

pub fn import(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let source = &p.args[0];
    if source.starts_with("http://") || source.starts_with("https://") {
        return Err(Error::client(
            "importing from a URL is not supported by berth yet; download the file and import it",
        ));
    }
    let mut q = Query::new();
    q.add("fromSrc", "-");
    if let Some(r) = p.args.get(1) {
        let (repo, tag) = split_tag(r);
        q.add("repo", repo);
        if let Some(t) = tag {
            q.add("tag", t);
        }
    }
    if let Some(m) = p.value("message") {
        q.add("message", m);
    }
    for c in p.values("change") {
        q.add("changes", c);
    }
    if let Some(pl) = p.value("platform") {
        q.add("platform", pl);
    }
    let body = input_body(Some(source), "application/x-tar")?;
    let resp = ctx.client.call("POST", "/images/create", &q, body)?;
    print_json_stream(resp.body, |m| {
        let status = m.get("status").str();
        if status.is_empty() {
            String::new()
        } else {
            format!("{status}\n")
        }
    })?;
    Ok(0)
}

pub fn commit(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let mut q = Query::new();
    q.add("container", p.args[0].as_str());
    if let Some(r) = p.args.get(1) {
        let (repo, tag) = split_tag(r);
        q.add("repo", repo);
        if let Some(t) = tag {
            q.add("tag", t);
        }
    }
    if let Some(m) = p.value("message") {
        q.add("comment", m);
    }
    if let Some(a) = p.value("author") {
        q.add("author", a);
    }
    for c in p.values("change") {
        q.add("changes", c);
    }
    q.add("pause", if p.bool_or("pause", true) { "1" } else { "0" });
    let v = ctx
        .client
        .post_json("/commit", &q, Body::json(&serde_json::json!({})))?;
    println!("{}", v.get("Id").str());
    Ok(0)
}
