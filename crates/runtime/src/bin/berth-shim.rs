//! `berth-shim`: the monitor berthd spawns for each container. See [`berth_runtime::shim`].
//!
//! Until the container runs, errors go to stderr and the exit status is 1 (2 for bad usage).
//! Once it runs, the shim prints the init's PID on a line of its own, points its stdio at
//! /dev/null (a caller reading its stdout sees EOF then) and carries on alone; from then on
//! shim.json is the only report.

use std::io::Write;
use std::process::ExitCode;

use berth_runtime::shim::config::USAGE;
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
    let shim = match Shim::start(&cfg) {
        Ok(shim) => shim,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", shim.pid());
    let _ = out.flush();
    drop(out);
    if let Err(e) = berth_runtime::shim::detach_stdio() {
        eprintln!("berth-shim: {e}");
    }
    match shim.wait() {
        Ok(_) => ExitCode::SUCCESS,
        // Recorded in shim.json; nobody is left to read stderr.
        Err(_) => ExitCode::from(1),
    }
}
