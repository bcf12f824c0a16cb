//! berthd: parses dockerd-style flags, opens the stores, re-adopts running containers and
//! serves the Docker Engine API on its unix socket until SIGTERM or SIGINT. Containers keep
//! running when berthd stops; the next berthd manages them again.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

use berth_daemon::config::{DaemonConfig, Flags};
use berth_daemon::engine::Daemon;
use clap::Parser;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    let config = match DaemonConfig::from_flags(Flags::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e}");
            return ExitCode::from(1);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTHD_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("berth_daemon={0},berthd={0}", config.log_level))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("berthd: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(config: DaemonConfig) -> Result<(), String> {
    let socket = config.socket.clone();
    let group = config.group.clone();
    let activated = config.socket_activated;
    let daemon = Daemon::open(config).map_err(|e| e.to_string())?;
    let listener = if activated {
        systemd_listener()?
    } else {
        bind(&socket, group.as_deref())?
    };
    daemon.restore().await;
    tracing::info!(
        "berthd {} listening on unix://{} (data root {}, storage driver {})",
        env!("CARGO_PKG_VERSION"),
        socket.display(),
        daemon.config.data_root.display(),
        daemon.layers.driver().name()
    );
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let served = tokio::select! {
        r = berth_daemon::server::serve(daemon.clone(), listener) => r.map_err(|e| e.to_string()),
        _ = term.recv() => Ok(()),
        _ = int.recv() => Ok(()),
    };
    if !activated {
        let _ = std::fs::remove_file(&socket);
    }
    let running = daemon
        .all()
        .iter()
        .any(|h| h.lock().state.status.is_alive());
    let stopping = daemon.clone();
    let _ = tokio::task::spawn_blocking(move || {
        stopping.discard_all_prepared();
        stopping.networks.shutdown(running)
    })
    .await;
    tracing::info!("berthd stopping; containers keep running");
    served
}

/// Binds the socket: mode 0660, group `berth` (or the one named) when it exists. A socket file
/// nobody answers on is stale and replaced; a live one means another berthd runs.
fn bind(socket: &Path, group: Option<&str>) -> Result<UnixListener, String> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    if socket.exists() {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Err(format!(
                "another daemon is listening on {}; stop it or pick another socket with -H",
                socket.display()
            ));
        }
        let _ = std::fs::remove_file(socket);
    }
    let listener =
        UnixListener::bind(socket).map_err(|e| format!("listen on {}: {e}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("chmod {}: {e}", socket.display()))?;
    let group_name = group.unwrap_or("berth");
    if let Some(gid) = group_id(group_name) {
        std::os::unix::fs::chown(socket, Some(0), Some(gid))
            .map_err(|e| format!("chown {}: {e}", socket.display()))?;
    } else if group.is_some() {
        return Err(format!("group {group_name:?} does not exist"));
    }
    Ok(listener)
}

/// The listening socket systemd passes as fd 3 (`LISTEN_FDS`, `LISTEN_PID`).
fn systemd_listener() -> Result<UnixListener, String> {
    use std::os::fd::FromRawFd;
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok());
    if !ours || count != Some(1) {
        return Err("-H fd:// needs exactly one socket from systemd (LISTEN_FDS=1)".into());
    }
    let std_listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(3) };
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("socket from systemd: {e}"))?;
    UnixListener::from_std(std_listener).map_err(|e| format!("socket from systemd: {e}"))
}

fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}
