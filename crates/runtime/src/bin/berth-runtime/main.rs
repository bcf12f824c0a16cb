//! `berth-runtime`: berth's built-in runtime behind runc's command surface, so the two can be
//! compared head to head and driven by the same tools.

mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use berth_runtime::builtin::{Builtin, DEFAULT_ROOT};
use berth_runtime::console::ConsoleSocket;
use berth_runtime::{os, spec};
use berth_runtime::{CreateOptions, OciRuntime, RuntimeError};

const USAGE: &str = "usage: berth-runtime [--root DIR] COMMAND [OPTIONS] ID

commands:
  create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] ID
  start ID
  run [--bundle DIR] [--pid-file FILE] [--detach] ID   create, start, wait, delete
  state ID
  kill [--all] ID [SIGNAL]                                default SIGTERM
  pause ID
  resume ID
  delete [--force] ID
  exec --process FILE [--tty] [--console-socket SOCK] [--pid-file FILE] ID
                                                          run a process in it, wait, exit with its status";

struct Args {
    root: PathBuf,
    command: String,
    bundle: PathBuf,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    detach: bool,
    all: bool,
    force: bool,
    process: Option<PathBuf>,
    tty: bool,
    positional: Vec<String>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        root: PathBuf::from(DEFAULT_ROOT),
        command: String::new(),
        bundle: PathBuf::from("."),
        pid_file: None,
        console_socket: None,
        detach: false,
        all: false,
        force: false,
        process: None,
        tty: false,
        positional: Vec::new(),
    };
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or(format!("flag {name} needs a value"))
        };
        match flag.as_str() {
            "--root" => args.root = value("--root")?.into(),
            "--bundle" | "-b" => args.bundle = value("--bundle")?.into(),
            "--pid-file" => args.pid_file = Some(value("--pid-file")?.into()),
            "--console-socket" => args.console_socket = Some(value("--console-socket")?.into()),
            "--detach" | "-d" => args.detach = true,
            "--all" | "-a" => args.all = true,
            "--force" | "-f" => args.force = true,
            "--process" | "-p" => args.process = Some(value("--process")?.into()),
            "--tty" | "-t" => args.tty = true,
            "--help" | "-h" => return Err(String::new()),
            f if f.starts_with('-') && f.len() > 1 => return Err(format!("unknown flag {f}")),
            _ if args.command.is_empty() => args.command = arg,
            _ => args.positional.push(arg),
        }
    }
    if args.command.is_empty() {
        return Err("no command given".into());
    }
    Ok(args)
}

fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match bare {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        "ALRM" => libc::SIGALRM,
        "WINCH" => libc::SIGWINCH,
        "PIPE" => libc::SIGPIPE,
        _ => return None,
    })
}

enum Failure {
    Usage(String),
    Runtime(RuntimeError),
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Self {
        Failure::Runtime(e)
    }
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            if msg.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("berth-runtime: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match dispatch(&args) {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Usage(msg)) => {
            eprintln!("berth-runtime: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("berth-runtime: {e}");
            ExitCode::from(e.exit_code().unwrap_or(1) as u8)
        }
    }
}

fn one_id(args: &Args) -> Result<&str, Failure> {
    match args.positional.as_slice() {
        [id] => Ok(id),
        [id, _] if args.command == "kill" => Ok(id),
        _ => Err(Failure::Usage(format!(
            "{} takes exactly one container id",
            args.command
        ))),
    }
}

fn dispatch(args: &Args) -> Result<u8, Failure> {
    let rt = Builtin::new(&args.root);
    match args.command.as_str() {
        "create" => {
            let id = one_id(args)?;
            let opts = CreateOptions {
                console_socket: args.console_socket.clone(),
                pid_file: args.pid_file.clone(),
                ..Default::default()
            };
            rt.create(id, &args.bundle, opts)?;
        }
        "start" => rt.start(one_id(args)?)?,
        "run" => return run(&rt, one_id(args)?, args),
        "state" => {
            let state = rt.state(one_id(args)?)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&state).expect("state serialises")
            );
        }
        "kill" => {
            let id = one_id(args)?;
            let name = args.positional.get(1).map_or("SIGTERM", |s| s.as_str());
            let sig = signal_number(name)
                .ok_or_else(|| Failure::Usage(format!("unknown signal {name:?}")))?;
            rt.kill(id, sig, args.all)?;
        }
        "pause" => rt.pause(one_id(args)?)?,
        "resume" => rt.resume(one_id(args)?)?,
        "delete" => rt.delete(one_id(args)?, args.force)?,
        "exec" => return exec(&rt, one_id(args)?, args),
        other => return Err(Failure::Usage(format!("unknown command {other:?}"))),
    }
    Ok(0)
}

/// The signals `run` passes on to the container instead of dying of them.
const FORWARDED: [i32; 7] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// create + start, then wait for the init while forwarding signals (and, with a terminal,
/// proxying the pty), then delete. Exits with the container's status, 128+signal when a signal
/// killed it.
fn run(rt: &Builtin, id: &str, args: &Args) -> Result<u8, Failure> {
    let terminal = spec::load(&args.bundle)
        .map_err(RuntimeError::from)?
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && args.detach {
        return Err(Failure::Usage(
            "a detached container with a terminal needs create --console-socket".into(),
        ));
    }
    let mut handled = FORWARDED.to_vec();
    handled.push(libc::SIGCHLD);
    let signals = os::block_signals(&handled).map_err(|e| RuntimeError::io("signalfd", "", e))?;
    std::fs::create_dir_all(&args.root).map_err(|e| RuntimeError::io("create", &args.root, e))?;
    let console = match terminal {
        true => {
            let path = args.root.join(format!(".{id}.console"));
            Some(
                ConsoleSocket::bind(&path)
                    .map_err(|e| RuntimeError::io("bind console socket", &path, e))?,
            )
        }
        false => None,
    };
    let opts = CreateOptions {
        pid_file: args.pid_file.clone(),
        console_socket: console.as_ref().map(|c| c.path().to_path_buf()),
        ..Default::default()
    };
    let pid = rt.create(id, &args.bundle, opts)?;
    let started = console
        .as_ref()
        .map(|c| c.receive_pty(Duration::from_secs(10)))
        .transpose()
        .and_then(|pty| rt.start(id).map(|()| pty));
    drop(console);
    let pty = match started {
        Ok(pty) => pty,
        Err(e) => {
            let _ = rt.delete(id, true);
            return Err(e.into());
        }
    };
    if args.detach {
        return Ok(0);
    }
    let status = match pty {
        Some(master) => terminal::proxy(pid, &master, &signals),
        None => os::wait_forwarding(pid, &signals),
    };
    rt.delete(id, true)?;
    Ok(status as u8)
}

/// `exec`: the process comes from `--process` (an OCI process object); `--tty` asks for a
/// terminal as runc's flag does, and like runc's `exec -d` that needs a console socket.
fn exec(rt: &Builtin, id: &str, args: &Args) -> Result<u8, Failure> {
    let Some(path) = &args.process else {
        return Err(Failure::Usage("exec needs --process FILE".into()));
    };
    if args.detach {
        return Err(Failure::Usage(
            "exec --detach is not supported: berth-runtime exec waits for the process".into(),
        ));
    }
    let mut process = berth_runtime::exec::load_process(path).map_err(RuntimeError::from)?;
    if args.tty {
        process.set_terminal(Some(true));
    }
    let opts = berth_runtime::exec::ExecOptions {
        console_socket: args.console_socket.clone(),
        pid_file: args.pid_file.clone(),
    };
    let code = berth_runtime::exec::exec(rt, id, &process, &opts)?;
    Ok(code as u8)
}
