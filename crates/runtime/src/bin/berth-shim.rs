//! `berth-shim`: the monitor berthd spawns for each container. See [`berth_runtime::shim`].
//!
//! Until the container runs, errors go to stderr and the exit status is 1 (2 for bad usage).
//! Once it runs, the shim prints the init's PID on a line of its own, points its stdio at
//! /dev/null (a caller reading its stdout sees EOF then) and carries on alone; from then on
//! shim.json is the only report.

use std::io::Write;
use std::process::ExitCode;

use berth_runtime::shim::config::USAGE;
use berth_runtime::shim::gate::{self, Word};
use berth_runtime::shim::{Config, Shim};

fn main() -> ExitCode {
    let cfg = match Config::parse(std::env::args().skip(1)) {
        Ok(cfg) => cfg,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("berth-shim: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    berth_runtime::shim::close_inherited_fds();
    let started = if cfg.start_gate {
        start_at_the_gate(&cfg)
    } else {
        Shim::start(&cfg).map(Some).map_err(|e| e.to_string())
    };
    let shim = match started {
        Ok(Some(shim)) => shim,
        // The gate closed: the created container is deleted, nothing ran.
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            return ExitCode::from(1);
        }
    };
    print_line(&shim.pid().to_string());
    if let Err(e) = berth_runtime::shim::detach_stdio() {
        eprintln!("berth-shim: {e}");
    }
    match shim.wait() {
        Ok(_) => ExitCode::SUCCESS,
        // Recorded in shim.json; nobody is left to read stderr.
        Err(_) => ExitCode::from(1),
    }
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `--start-gate`: creates the container and prints the init's PID, then starts it when the
/// gate (stdin) says so. The PID is printed again once it runs, as without a gate.
fn start_at_the_gate(cfg: &Config) -> Result<Option<Shim>, String> {
    let gate_fd = berth_runtime::os::dup_stdin().map_err(|e| format!("dup(stdin): {e}"))?;
    let gate_socket = std::os::unix::net::UnixStream::from(gate_fd);
    let created = Shim::create(cfg).map_err(|e| e.to_string())?;
    print_line(&created.pid().to_string());
    match gate::wait(&gate_socket) {
        Ok(Word::Start(client)) => created.start(client).map(Some).map_err(|e| e.to_string()),
        Ok(Word::Abort) => {
            created.abort();
            Ok(None)
        }
        Err(e) => {
            created.abort();
            Err(format!("reading the start gate: {e}"))
        }
    }
}
