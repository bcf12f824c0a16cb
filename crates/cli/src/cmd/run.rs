//! `run`, `create` and `start`.

use std::io::{IsTerminal, Write};

use super::attach::{run_attached, Session};
use super::common::for_each;
use super::create_opts::{self, CreateRequest};
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::Query;
use crate::error::{Error, Result};
use crate::http::Body;

pub const START_SPEC: Spec = Spec {
    command: "berth start",
    args: "CONTAINER [CONTAINER...]",
    about: "Start one or more stopped containers",
    flags: &[
        b(
            Some('a'),
            "attach",
            "Attach STDOUT/STDERR and forward signals",
        ),
        v(
            None,
            "detach-keys",
            "string",
            "Override the key sequence for detaching a container",
        ),
        b(Some('i'), "interactive", "Attach container's STDIN"),
    ],
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};

pub const ATTACH_SPEC: Spec = Spec {
    command: "berth attach",
    args: "CONTAINER",
    about: "Attach local standard input, output, and error streams to a running container",
    flags: &[
        v(
            None,
            "detach-keys",
            "string",
            "Override the key sequence for detaching a container",
        ),
        b(None, "no-stdin", "Do not attach STDIN"),
        b(
            None,
            "sig-proxy",
            "Proxy all received signals to the process (default true)",
        ),
    ],
    aliases: &[],
    min_args: 1,
    max_args: Some(1),
    stop_at_positional: false,
};

/// `attach`: a session on a running container, ending with its exit status (or 0 on detach).
pub fn attach(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let info = ctx
        .client
        .get_json(&format!("/containers/{}/json", p.args[0]), &Query::new())?;
    let state = info.get("State");
    if !state.get("Running").bool() {
        return Err(Error::client(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if state.get("Paused").bool() {
        return Err(Error::client(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let config = info.get("Config");
    let session = Session {
        id: info.get("Id").str().to_string(),
        stdin: !p.bool("no-stdin") && config.get("OpenStdin").bool(),
        stdout: true,
        stderr: true,
        tty: config.get("Tty").bool(),
        auto_remove: false,
        sig_proxy: p.bool_or("sig-proxy", true),
        detach_keys: p.value("detach-keys").map(str::to_string),
    };
    run_attached(ctx, &session, || Ok(()))
}

fn env_lookup(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

pub fn create(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let req = create_opts::build(&ctx.spec, &p, &env_lookup)?;
    let id = create_container(ctx, &req)?;
    println!("{id}");
    Ok(0)
}

pub fn run(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let req = create_opts::build(&ctx.spec, &p, &env_lookup)?;
    // Checked before anything is created, as docker does.
    if req.tty && req.attach_stdin && !std::io::stdin().is_terminal() {
        return Err(Error::client("the input device is not a TTY"));
    }
    let id = create_container(ctx, &req)?;
    let start = || start_container(ctx, &id);
    if req.detach {
        start()?;
        println!("{id}");
        return Ok(0);
    }
    let session = Session {
        id: id.clone(),
        stdin: req.attach_stdin,
        stdout: req.attach_stdout,
        stderr: req.attach_stderr,
        tty: req.tty,
        auto_remove: req.auto_remove,
        sig_proxy: p.bool_or("sig-proxy", true),
        detach_keys: p.value("detach-keys").map(str::to_string),
    };
    run_attached(ctx, &session, start)
}

/// `POST /containers/create`; prints the daemon's warnings, explains a missing image.
fn create_container(ctx: &Ctx, req: &CreateRequest) -> Result<String> {
    if let Some(f) = &req.cidfile {
        if std::path::Path::new(f).exists() {
            return Err(Error::client(format!(
                "container ID file found, make sure the other container isn't running or delete {f}"
            )));
        }
    }
    let mut q = Query::new();
    if let Some(n) = &req.name {
        q.add("name", n.as_str());
    }
    if let Some(pl) = &req.platform {
        q.add("platform", pl.as_str());
    }
    let resp = ctx
        .client
        .post_json("/containers/create", &q, Body::json(&req.body));
    let v = match resp {
        Ok(v) => v,
        Err(e @ Error::Daemon { status: 404, .. }) if e.to_string().contains("No such image") => {
            eprintln!(
                "Unable to find image '{}' locally",
                with_default_tag(&req.image)
            );
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    for w in v.get("Warnings").strings() {
        eprintln!("WARNING: {w}");
    }
    let id = v.get("Id").str().to_string();
    if id.is_empty() {
        return Err(Error::Protocol("create answered without an Id".into()));
    }
    if let Some(f) = &req.cidfile {
        std::fs::File::create(f)
            .and_then(|mut file| file.write_all(id.as_bytes()))
            .map_err(|e| Error::io(format!("writing the container ID file {f}"), e))?;
    }
    Ok(id)
}

/// `alpine` → `alpine:latest`, as docker names an image it cannot find.
fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// `POST /containers/{id}/start`; a command that cannot run exits 126/127 as with docker.
fn start_container(ctx: &Ctx, id: &str) -> Result<()> {
    match ctx.client.call(
        "POST",
        &format!("/containers/{id}/start"),
        &Query::new(),
        Body::Empty,
    ) {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = start_error_code(&e.to_string());
            if code == 125 {
                return Err(e);
            }
            eprintln!("{e}");
            Err(Error::Exit(code))
        }
    }
}

/// docker's rule for start failures: a missing executable is 127, an unusable one 126.
pub fn start_error_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

pub fn start(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let attach = p.bool("attach");
    let interactive = p.bool("interactive");
    if !attach && !interactive {
        return for_each(&p.args, |name| {
            ctx.client.call(
                "POST",
                &format!("/containers/{name}/start"),
                &Query::new(),
                Body::Empty,
            )?;
            Ok(Some(name.to_string()))
        });
    }
    if p.args.len() > 1 {
        return Err(Error::client(
            "you cannot start and attach multiple containers at once",
        ));
    }
    let info = ctx
        .client
        .get_json(&format!("/containers/{}/json", p.args[0]), &Query::new())?;
    let id = info.get("Id").str().to_string();
    let config = info.get("Config");
    let session = Session {
        id: id.clone(),
        stdin: interactive && config.get("OpenStdin").bool(),
        // docker attaches output for -i alone too.
        stdout: true,
        stderr: true,
        tty: config.get("Tty").bool(),
        auto_remove: info.get("HostConfig").get("AutoRemove").bool(),
        sig_proxy: true,
        detach_keys: p.value("detach-keys").map(str::to_string),
    };
    run_attached(ctx, &session, || start_container(ctx, &id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_map_to_docker_exit_codes() {
        assert_eq!(
            start_error_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_error_code("exec /x: no such file or directory"), 127);
        assert_eq!(start_error_code("exec /etc: permission denied"), 126);
        assert_eq!(start_error_code("cgroup setup failed"), 125);
    }

    #[test]
    fn missing_images_are_named_with_their_tag() {
        assert_eq!(with_default_tag("alpine"), "alpine:latest");
        assert_eq!(
            with_default_tag("localhost:5000/alpine"),
            "localhost:5000/alpine:latest"
        );
        assert_eq!(with_default_tag("alpine:3"), "alpine:3");
    }
}
