//! `berth exec`: docker's exec. Create the instance, start it hijacked (or detached), copy the
//! streams (raw with -t, demultiplexed otherwise), keep the pty's size in step with ours on
//! SIGWINCH, and exit with the process's ExitCode from `/exec/{id}/json`.

use std::io::{self, IsTerminal};
use std::os::fd::AsRawFd;
use std::thread;

use serde_json::json;

use super::attach::{self, copy_stdin, terminal_size, RawMode};
use super::common::parse_kv_file;
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::Query;
use crate::error::{Error, Result};
use crate::http::Body;
use crate::stream::{copy_raw, demux, MULTIPLEXED_STREAM, RAW_STREAM};

pub const EXEC_SPEC: Spec = Spec {
    command: "berth exec",
    args: "CONTAINER COMMAND [ARG...]",
    about: "Execute a command in a running container",
    flags: &[
        b(
            Some('d'),
            "detach",
            "Detached mode: run command in the background",
        ),
        v(
            None,
            "detach-keys",
            "string",
            "Override the key sequence for detaching a container",
        ),
        v(Some('e'), "env", "list", "Set environment variables"),
        v(
            None,
            "env-file",
            "list",
            "Read in a file of environment variables",
        ),
        b(
            Some('i'),
            "interactive",
            "Keep STDIN open even if not attached",
        ),
        b(
            None,
            "privileged",
            "Give extended privileges to the command",
        ),
        b(Some('t'), "tty", "Allocate a pseudo-TTY"),
        v(
            Some('u'),
            "user",
            "string",
            "Username or UID (format: \"<name|uid>[:<group|gid>]\")",
        ),
        v(
            Some('w'),
            "workdir",
            "string",
            "Working directory inside the container",
        ),
    ],
    aliases: &[],
    min_args: 2,
    max_args: None,
    stop_at_positional: true,
};

fn env_list(p: &Parsed) -> Result<Vec<String>> {
    let lookup = |k: &str| std::env::var(k).ok();
    let mut envs = Vec::new();
    for f in p.values("env-file") {
        envs.extend(parse_kv_file(&f, Some(&lookup))?);
    }
    for e in p.values("env") {
        match e.split_once('=') {
            Some(("", _)) => {
                return Err(Error::client(format!(
                    "invalid argument \"{e}\" for \"-e, --env\" flag: invalid environment variable: {e}"
                )))
            }
            Some(_) => envs.push(e),
            None => {
                if let Some(val) = lookup(&e) {
                    envs.push(format!("{e}={val}"));
                }
            }
        }
    }
    Ok(envs)
}

pub fn exec(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let container = &p.args[0];
    let detach = p.bool("detach");
    let interactive = p.bool("interactive");
    let tty = p.bool("tty");
    let stdin_tty = io::stdin().is_terminal();
    if tty && interactive && !detach && !stdin_tty {
        return Err(Error::client("the input device is not a TTY"));
    }
    let size = if tty { terminal_size() } else { None };
    let mut config = json!({
        "User": p.value("user").unwrap_or(""),
        "Privileged": p.bool("privileged"),
        "Tty": tty,
        "AttachStdin": interactive && !detach,
        "AttachStdout": !detach,
        "AttachStderr": !detach,
        "DetachKeys": p.value("detach-keys").unwrap_or(""),
        "Env": env_list(&p)?,
        "WorkingDir": p.value("workdir").unwrap_or(""),
        "Cmd": p.args[1..],
    });
    if let Some((h, w)) = size {
        config["ConsoleSize"] = json!([h, w]);
    }
    let created = ctx.client.post_json(
        &format!("/containers/{container}/exec"),
        &Query::new(),
        Body::json(&config),
    )?;
    let id = created.get("Id").str().to_string();
    let start_path = format!("/exec/{id}/start");
    if detach {
        ctx.client.call(
            "POST",
            &start_path,
            &Query::new(),
            Body::json(&json!({"Detach": true, "Tty": tty})),
        )?;
        return Ok(0);
    }

    let mut start = json!({"Detach": false, "Tty": tty});
    if let Some((h, w)) = size {
        start["ConsoleSize"] = json!([h, w]);
    }
    // Before any thread exists, so only the resizer receives SIGWINCH.
    if tty && size.is_some() {
        watch_resizes(ctx.client.duplicate(), id.clone());
    }
    let _raw = if tty && interactive && stdin_tty {
        RawMode::enable(io::stdin().as_raw_fd())
    } else {
        None
    };
    let h = ctx
        .client
        .hijack_with("POST", &start_path, &Query::new(), Body::json(&start))?;
    let multiplexed = match h.head.content_type() {
        MULTIPLEXED_STREAM => true,
        RAW_STREAM => false,
        _ => !tty,
    };
    if interactive {
        let mut writer = h.writer;
        thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            let _ = copy_stdin(&mut stdin, &mut writer);
            // EOF on our stdin closes the process's stdin.
            let _ = writer.shutdown_write();
        });
    }
    let mut reader = h.reader;
    let copied = {
        let mut out = io::stdout().lock();
        if multiplexed {
            demux(&mut reader, &mut out, &mut io::stderr().lock())
        } else {
            copy_raw(&mut reader, &mut out)
        }
    };
    drop(_raw);
    if let Err(e) = copied {
        if e.kind() != io::ErrorKind::ConnectionReset {
            eprintln!("berth: error copying output: {e}");
        }
    }
    let inspect = ctx
        .client
        .get_json(&format!("/exec/{id}/json"), &Query::new())?;
    Ok(inspect.get("ExitCode").i64() as i32)
}

/// Resizes the exec's pty to our terminal at every SIGWINCH.
fn watch_resizes(client: crate::client::Client, id: String) {
    let path = format!("/exec/{id}/resize");
    attach::on_signals(&[libc::SIGWINCH], move |_| {
        attach::send_size(&client, &path)
    });
}
