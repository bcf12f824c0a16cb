//! Command dispatch: global flags (`-H`), docker's top-level commands and the `container`,
//! `image` and `system` management commands with their aliases, and how errors end the process.

mod archive;
mod attach;
mod changes;
mod common;
mod container;
mod cp;
mod cp_tar;
mod create_opts;
mod events;
mod exec;
mod image;
mod mount_opts;
mod net_opts;
mod network;
mod ops;
mod opt_parsers;
mod ps;
mod run;
mod stats;
mod system;
mod volume;

use std::io::Write;

use crate::args::{self, Parsed, Spec};
use crate::client::Client;
use crate::error::{Error, Result};

/// What a command handler gets: the client and the spec it was parsed with (for usage errors).
pub struct Ctx {
    pub client: Client,
    pub spec: Spec,
}

impl Ctx {
    pub fn usage(&self, message: impl Into<String>) -> Error {
        Error::usage(self.spec.command, message)
    }
}

type Handler = fn(&Ctx, Parsed) -> Result<i32>;

struct Command {
    name: &'static str,
    spec: &'static Spec,
    handler: Handler,
}

const fn c(name: &'static str, spec: &'static Spec, handler: Handler) -> Command {
    Command {
        name,
        spec,
        handler,
    }
}

const TOP: &[Command] = &[
    c("run", &create_opts::RUN_SPEC, run::run),
    c("create", &create_opts::CREATE_SPEC, run::create),
    c("start", &run::START_SPEC, run::start),
    c("attach", &run::ATTACH_SPEC, run::attach),
    c("diff", &changes::DIFF_SPEC, changes::diff),
    c("rename", &changes::RENAME_SPEC, changes::rename),
    c("stop", &container::STOP_SPEC, container::stop),
    c("kill", &container::KILL_SPEC, container::kill),
    c("restart", &container::RESTART_SPEC, container::restart),
    c("rm", &container::RM_SPEC, container::rm),
    c("ps", &ps::PS_SPEC, ps::ps),
    c("logs", &container::LOGS_SPEC, container::logs),
    c("inspect", &container::INSPECT_SPEC, container::inspect),
    c("wait", &container::WAIT_SPEC, container::wait),
    c("exec", &exec::EXEC_SPEC, exec::exec),
    c("images", &image::IMAGES_SPEC, image::images),
    c("tag", &image::TAG_SPEC, image::tag),
    c("rmi", &image::RMI_SPEC, image::rmi),
    c("history", &image::HISTORY_SPEC, image::history),
    c("save", &archive::SAVE_SPEC, archive::save),
    c("load", &archive::LOAD_SPEC, archive::load),
    c("import", &archive::IMPORT_SPEC, archive::import),
    c("commit", &archive::COMMIT_SPEC, archive::commit),
    c("cp", &cp::CP_SPEC, cp::cp),
    c("export", &cp::EXPORT_SPEC, cp::export),
    c("info", &system::INFO_SPEC, system::info),
    c("version", &system::VERSION_SPEC, system::version),
    c("stats", &stats::STATS_SPEC, stats::stats),
    c("top", &ops::TOP_SPEC, ops::top),
    c("pause", &ops::PAUSE_SPEC, ops::pause),
    c("unpause", &ops::UNPAUSE_SPEC, ops::unpause),
    c("update", &ops::UPDATE_SPEC, ops::update),
    c("port", &ops::PORT_SPEC, ops::port),
    c("events", &events::EVENTS_SPEC, events::events),
];

const CONTAINER: &[Command] = &[
    c("ls", &ps::PS_SPEC, ps::ps),
    c("ps", &ps::PS_SPEC, ps::ps),
    c("list", &ps::PS_SPEC, ps::ps),
    c("run", &create_opts::RUN_SPEC, run::run),
    c("create", &create_opts::CREATE_SPEC, run::create),
    c("start", &run::START_SPEC, run::start),
    c("attach", &run::ATTACH_SPEC, run::attach),
    c("diff", &changes::DIFF_SPEC, changes::diff),
    c("rename", &changes::RENAME_SPEC, changes::rename),
    c("attach", &run::ATTACH_SPEC, run::attach),
    c("stop", &container::STOP_SPEC, container::stop),
    c("kill", &container::KILL_SPEC, container::kill),
    c("restart", &container::RESTART_SPEC, container::restart),
    c("rm", &container::RM_SPEC, container::rm),
    c("logs", &container::LOGS_SPEC, container::logs),
    c(
        "inspect",
        &container::CONTAINER_INSPECT_SPEC,
        container::inspect,
    ),
    c("wait", &container::WAIT_SPEC, container::wait),
    c("prune", &container::PRUNE_SPEC, container::prune),
    c("commit", &archive::COMMIT_SPEC, archive::commit),
    c("cp", &cp::CP_SPEC, cp::cp),
    c("export", &cp::EXPORT_SPEC, cp::export),
    c("stats", &stats::STATS_SPEC, stats::stats),
    c("top", &ops::TOP_SPEC, ops::top),
    c("pause", &ops::PAUSE_SPEC, ops::pause),
    c("unpause", &ops::UNPAUSE_SPEC, ops::unpause),
    c("update", &ops::UPDATE_SPEC, ops::update),
    c("port", &ops::PORT_SPEC, ops::port),
    c("exec", &exec::EXEC_SPEC, exec::exec),
];

const IMAGE: &[Command] = &[
    c("ls", &image::IMAGES_SPEC, image::images),
    c("list", &image::IMAGES_SPEC, image::images),
    c("rm", &image::RMI_SPEC, image::rmi),
    c("tag", &image::TAG_SPEC, image::tag),
    c("history", &image::HISTORY_SPEC, image::history),
    c("save", &archive::SAVE_SPEC, archive::save),
    c("load", &archive::LOAD_SPEC, archive::load),
    c("import", &archive::IMPORT_SPEC, archive::import),
    c("inspect", &image::IMAGE_INSPECT_SPEC, container::inspect),
    c("prune", &image::PRUNE_SPEC, image::prune),
];

const SYSTEM: &[Command] = &[
    c("info", &system::INFO_SPEC, system::info),
    c("df", &system::DF_SPEC, system::df),
    c("prune", &system::PRUNE_SPEC, system::prune),
    c("events", &events::EVENTS_SPEC, events::events),
];

const NETWORK: &[Command] = &[
    c("connect", &network::CONNECT_SPEC, network::connect),
    c("create", &network::CREATE_SPEC, network::create),
    c("disconnect", &network::DISCONNECT_SPEC, network::disconnect),
    c("inspect", &network::INSPECT_SPEC, network::inspect),
    c("ls", &network::LS_SPEC, network::ls),
    c("list", &network::LS_SPEC, network::ls),
    c("prune", &network::PRUNE_SPEC, network::prune),
    c("rm", &network::RM_SPEC, network::rm),
    c("remove", &network::RM_SPEC, network::rm),
];

const VOLUME: &[Command] = &[
    c("create", &volume::CREATE_SPEC, volume::create),
    c("inspect", &volume::INSPECT_SPEC, volume::inspect),
    c("ls", &volume::LS_SPEC, volume::ls),
    c("list", &volume::LS_SPEC, volume::ls),
    c("prune", &volume::PRUNE_SPEC, volume::prune),
    c("rm", &volume::RM_SPEC, volume::rm),
    c("remove", &volume::RM_SPEC, volume::rm),
];

const MANAGEMENT: &[(&str, &[Command], &str)] = &[
    ("container", CONTAINER, "Manage containers"),
    ("image", IMAGE, "Manage images"),
    ("network", NETWORK, "Manage networks"),
    ("system", SYSTEM, "Manage berth"),
    ("volume", VOLUME, "Manage volumes"),
];

/// Runs the command line (without the program name) and returns the exit status.
pub fn run(argv: Vec<String>) -> i32 {
    match dispatch(argv) {
        Ok(code) => code,
        Err(Error::Exit(code)) => code,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

fn dispatch(argv: Vec<String>) -> Result<i32> {
    let global_usage = |m: String| Error::usage("berth", m);
    let mut host = None;
    let mut i = 0;
    while i < argv.len() && argv[i].starts_with('-') && argv[i] != "-" {
        let a = &argv[i];
        i += 1;
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |flag: &str| -> Result<String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            if i < argv.len() {
                i += 1;
                return Ok(argv[i - 1].clone());
            }
            Err(global_usage(format!("flag needs an argument: {flag}")))
        };
        match name {
            "-H" | "--host" => host = Some(value(name)?),
            h if h.starts_with("-H") => host = Some(h[2..].trim_start_matches('=').to_string()),
            // Accepted for docker compatibility; berth has no contexts, config files or debug mode.
            "-l" | "--log-level" | "--config" | "-c" | "--context" => {
                value(name)?;
            }
            "-D" | "--debug" | "--tls" | "--tlsverify" => {}
            "-h" | "--help" => {
                print!("{}", main_help());
                return Ok(0);
            }
            "-v" | "--version" => {
                println!("berth version {}", env!("CARGO_PKG_VERSION"));
                return Ok(0);
            }
            _ => return Err(global_usage(format!("unknown flag: {name}"))),
        }
    }
    let rest = &argv[i..];
    let Some(first) = rest.first() else {
        print!("{}", main_help());
        return Ok(0);
    };
    let (command, args, path) =
        if let Some((_, cmds, about)) = MANAGEMENT.iter().find(|(n, _, _)| n == first) {
            let Some(sub) = rest.get(1).filter(|s| !s.starts_with('-')) else {
                if rest.len() > 1 && rest[1] != "--help" && rest[1] != "-h" {
                    return Err(Error::usage(
                        format!("berth {first}"),
                        format!("unknown flag: {}", rest[1]),
                    ));
                }
                print!("{}", management_help(first, cmds, about));
                return Ok(0);
            };
            let cmd = cmds.iter().find(|c| c.name == sub).ok_or_else(|| {
                Error::usage(
                    format!("berth {first}"),
                    format!("unknown command: berth {first} {sub}"),
                )
            })?;
            (cmd, &rest[2..], format!("berth {first} {sub}"))
        } else {
            let cmd = TOP
                .iter()
                .find(|c| c.name == first)
                .ok_or_else(|| global_usage(format!("unknown command: berth {first}")))?;
            (cmd, &rest[1..], format!("berth {first}"))
        };
    let mut spec = *command.spec;
    if spec.command != path {
        // Usage messages name the command as it was typed (`berth container ls`).
        spec.command = Box::leak(path.into_boxed_str());
    }
    let parsed = args::parse(&spec, args)?;
    if parsed.help {
        print!("{}", args::help(&spec));
        return Ok(0);
    }
    let ctx = Ctx {
        client: Client::new(host)?,
        spec,
    };
    (command.handler)(&ctx, parsed)
}

fn main_help() -> String {
    let mut out = String::from(
        "\nUsage:  berth [OPTIONS] COMMAND\n\nA docker-compatible client for the berth container engine\n\nManagement Commands:\n",
    );
    for (name, _, about) in MANAGEMENT {
        out.push_str(&format!("  {name:<11}{about}\n"));
    }
    out.push_str("\nCommands:\n");
    for c in TOP {
        out.push_str(&format!("  {:<11}{}\n", c.name, c.spec.about));
    }
    out.push_str(
        "\nGlobal Options:\n  -H, --host string   Daemon socket to connect to (default $BERTH_HOST, $DOCKER_HOST, unix:///run/berth/berth.sock)\n  -v, --version       Print version information and quit\n\nRun 'berth COMMAND --help' for more information on a command.\n",
    );
    out
}

fn management_help(name: &str, cmds: &[Command], about: &str) -> String {
    let mut out = format!("\nUsage:  berth {name} COMMAND\n\n{about}\n\nCommands:\n");
    for c in cmds {
        out.push_str(&format!("  {:<11}{}\n", c.name, c.spec.about));
    }
    out.push_str(&format!(
        "\nRun 'berth {name} COMMAND --help' for more information on a command.\n"
    ));
    out
}
