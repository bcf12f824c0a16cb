//! The per-container shim: one small, single-threaded process per container that starts it
//! through an [`OciRuntime`], holds its stdio (pipes or a pty), writes the json-file log, reaps
//! it, records its exit and OOM kills in `<state-dir>/shim.json`, deletes it and exits.
//!
//! Everything runs in one poll(2) loop over the output fds and a signalfd. The shim outlives the
//! process that spawned it: it leaves its session, takes SIGHUP as an ordinary signal and (in
//! `berth-shim`) points its own stdio at /dev/null once the container runs. SIGTERM and SIGINT
//! sent to the shim are passed on to the container's init.

pub mod attach;
pub mod config;
pub mod gate;
pub mod log;
pub mod pty;
pub mod state;
pub mod stdin;
pub mod time;

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use config::{Config, RuntimeKind};
pub use state::{ShimState, ShimStatus, STATE_FILE};

use crate::console::ConsoleSocket;
use crate::os as sys;
use crate::{CreateOptions, OciRuntime, RuntimeError};
use log::{JsonLog, Stream};

/// Where the runtime connects to hand over a container's pty master.
pub const CONSOLE_SOCKET: &str = "console.sock";
/// How long after `create` the runtime has to send the pty master.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the init exits, how long its output may take to reach EOF before the rest of the
/// container is killed, and then how long before the shim stops waiting for it.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// One read from a container output.
const READ_CHUNK: usize = 16 * 1024;
/// The signals the shim takes through its signalfd.
const HANDLED_SIGNALS: [i32; 4] = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{call}: {source}")]
    Sys {
        call: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("console socket {path}: {message}")]
    Console { path: PathBuf, message: String },
    /// The container could not be started; shim.json records it as exited with `exit_code`.
    #[error("starting container {id:?}: {source}")]
    Start {
        id: String,
        exit_code: i32,
        #[source]
        source: Box<RuntimeError>,
    },
    #[error("deleting container {id:?}: {source}")]
    Delete {
        id: String,
        #[source]
        source: Box<RuntimeError>,
    },
}

impl ShimError {
    fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> ShimError {
        ShimError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    fn sys(call: &'static str) -> impl FnOnce(std::io::Error) -> ShimError {
        move |source| ShimError::Sys { call, source }
    }
}

/// The exit code `docker run` gives a container that failed to start: 127 when the command is
/// missing, 126 when it cannot be run, 128 for any other failure.
pub fn start_failure_code(e: &RuntimeError) -> i32 {
    if let Some(code) = e.exit_code() {
        return code;
    }
    // An external runtime's failure is only text; match it as Docker does.
    let message = e.to_string();
    let exec_missing = message.contains("exec") && message.contains("no such file or directory");
    if message.contains("executable file not found") || exec_missing {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        128
    }
}

/// One container output the shim reads.
struct Source {
    fd: OwnedFd,
    stream: Stream,
}

/// A shim whose container is running.
pub struct Shim {
    cfg: Config,
    runtime: Box<dyn OciRuntime>,
    signals: OwnedFd,
    sources: Vec<Source>,
    /// The container's stdin, fed through the stdin socket.
    stdin: Option<stdin::StdinFeed>,
    /// Hands the pty master to berthd for resizing (containers with a terminal).
    pty: Option<pty::PtyServer>,
    /// Live output for attached clients.
    attach: attach::AttachServer,
    log: JsonLog<File>,
    state: ShimState,
    cgroups_path: Option<PathBuf>,
    /// The container was deleted already (to end output held open after the init's exit).
    deleted: bool,
}

/// What the container's stdio is made of before `create`.
struct Stdio {
    opts: CreateOptions,
    sources: Vec<Source>,
    stdin: Option<OwnedFd>,
    console: Option<ConsoleSocket>,
}

/// A shim whose container is created but not started yet (`--start-gate`).
pub struct Created {
    cfg: Config,
    runtime: Box<dyn OciRuntime>,
    signals: OwnedFd,
    sources: Vec<Source>,
    stdin: Option<stdin::StdinFeed>,
    pty: Option<OwnedFd>,
    log_file: File,
    state: ShimState,
}

impl Shim {
    /// Prepares the state directory, log, signals and stdio, then creates and starts the
    /// container. On a failed start, shim.json already records the container as exited.
    ///
    /// This changes process-wide state (session, signal mask and dispositions, child subreaper,
    /// working directory): call it only in the shim's own process, never in berthd.
    pub fn start(cfg: &Config) -> Result<Shim, ShimError> {
        let first_client = if cfg.attach_stdin {
            let fd = sys::dup_stdin().map_err(ShimError::sys("dup(stdin)"))?;
            Some(std::os::unix::net::UnixStream::from(fd))
        } else {
            None
        };
        Shim::create(cfg)?.start(first_client)
    }

    /// The first half of [`Shim::start`]: everything up to the runtime's `create`, so that the
    /// container's init waits, in its namespaces and cgroup, for [`Created::start`].
    pub fn create(cfg: &Config) -> Result<Created, ShimError> {
        let cfg = cfg
            .absolute()
            .map_err(|e| ShimError::io("resolve paths of", &cfg.state_dir, e))?;
        std::fs::create_dir_all(&cfg.state_dir)
            .map_err(|e| ShimError::io("create state directory", &cfg.state_dir, e))?;
        let log_path = cfg.log_path();
        let log_file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(&log_path)
            .map_err(|e| ShimError::io("open log", &log_path, e))?;

        sys::set_child_subreaper().map_err(ShimError::sys("prctl(PR_SET_CHILD_SUBREAPER)"))?;
        sys::new_session();
        sys::ignore_sigpipe();
        let signals = sys::block_signals(&HANDLED_SIGNALS).map_err(ShimError::sys("signalfd"))?;

        let state = ShimState::new(std::process::id() as i32);
        let runtime = cfg.runtime();
        let stdio = prepare_stdio(&cfg)?;
        let console = stdio.console;
        let stdin = match stdio.stdin {
            Some(pipe) => Some(
                stdin::StdinFeed::bind(&cfg.state_dir, pipe, cfg.stdin_once).map_err(|e| {
                    ShimError::io("listen on", cfg.state_dir.join(stdin::STDIN_SOCKET), e)
                })?,
            ),
            None => None,
        };
        let made = create(&cfg, runtime.as_ref(), stdio.opts, console.as_ref());
        drop(console);
        let mut created = Created {
            cfg,
            runtime,
            signals,
            sources: stdio.sources,
            stdin,
            pty: None,
            log_file,
            state,
        };
        match made {
            Ok((pid, pty)) => {
                created.state.pid = pid;
                created.pty = pty;
                Ok(created)
            }
            Err(source) => Err(created.failed(source)),
        }
    }
}

impl Created {
    /// The container's init PID.
    pub fn pid(&self) -> i32 {
        self.state.pid
    }

    /// Records a failed create or start in shim.json, as an exit with Docker's code.
    fn failed(mut self, source: RuntimeError) -> ShimError {
        let exit_code = start_failure_code(&source);
        self.state.status = ShimStatus::Exited;
        self.state.exit_code = Some(exit_code);
        self.state.finished_at = Some(time::now());
        self.state.error = source.to_string();
        if let Err(e) = self.state.save(&self.cfg.state_dir) {
            return ShimError::io("write", self.cfg.state_dir.join(STATE_FILE), e);
        }
        ShimError::Start {
            id: self.cfg.id.clone(),
            exit_code,
            source: Box::new(source),
        }
    }

    /// Deletes the created container (the gate closed without a start).
    pub fn abort(self) {
        let _ = self.runtime.delete(&self.cfg.id, true);
        sys::reap_children();
    }

    /// Starts the container, with `first_client` attached from its first byte of output.
    pub fn start(
        mut self,
        first_client: Option<std::os::unix::net::UnixStream>,
    ) -> Result<Shim, ShimError> {
        let cfg = self.cfg.clone();
        let attach = attach::AttachServer::bind(&cfg.state_dir, first_client).map_err(|e| {
            ShimError::io("listen on", cfg.state_dir.join(attach::ATTACH_SOCKET), e)
        })?;
        if let Err(source) = self.runtime.start(&cfg.id) {
            let _ = self.runtime.delete(&cfg.id, true);
            sys::reap_children();
            return Err(self.failed(source));
        }
        let mut stdin = self.stdin.take();
        let mut sources = std::mem::take(&mut self.sources);
        let mut pty_server = None;
        if let Some(master) = self.pty.take() {
            sys::set_nonblocking(master.as_raw_fd()).map_err(ShimError::sys("fcntl"))?;
            let copy = || master.try_clone().map_err(ShimError::sys("dup"));
            let listen_err =
                |name: &str, e| ShimError::io("listen on", cfg.state_dir.join(name), e);
            pty_server = Some(
                pty::PtyServer::bind(&cfg.state_dir, copy()?)
                    .map_err(|e| listen_err(pty::PTY_SOCKET, e))?,
            );
            if !cfg.no_stdin {
                // With a terminal, stdin is what is typed into the pty.
                stdin = Some(
                    stdin::StdinFeed::bind(&cfg.state_dir, copy()?, cfg.stdin_once)
                        .map_err(|e| listen_err(stdin::STDIN_SOCKET, e))?,
                );
            }
            sources.push(Source {
                fd: master,
                stream: Stream::Stdout,
            });
        }

        let mut state = self.state;
        state.started_at = Some(time::now());
        let cgroups_path = cgroups_path(&cfg, state.pid);
        let shim = Shim {
            runtime: self.runtime,
            signals: self.signals,
            sources,
            stdin,
            pty: pty_server,
            attach,
            log: JsonLog::new(self.log_file),
            state,
            cgroups_path,
            deleted: false,
            cfg,
        };
        // "Running" only describes a live process, so it needs no fsync; the final state does.
        shim.state
            .save_volatile(&shim.cfg.state_dir)
            .map_err(|e| ShimError::io("write", shim.cfg.state_dir.join(STATE_FILE), e))?;
        // Don't pin whatever mount the caller ran us from.
        let _ = std::env::set_current_dir("/");
        sys::trim_heap();
        Ok(shim)
    }
}

impl Shim {
    /// The container's init PID.
    pub fn pid(&self) -> i32 {
        self.state.pid
    }

    pub fn state(&self) -> &ShimState {
        &self.state
    }

    fn save(&self) -> Result<(), ShimError> {
        self.state
            .save(&self.cfg.state_dir)
            .map_err(|e| ShimError::io("write", self.cfg.state_dir.join(STATE_FILE), e))
    }

    /// Runs until the init has exited and its output is drained, then deletes the container and
    /// writes the final state. A failure on the way is recorded in the state's `error` too.
    pub fn wait(mut self) -> Result<ShimState, ShimError> {
        let result = self.event_loop();
        self.attach.finish();
        let result = result.and_then(|()| self.delete());
        if let Err(e) = &result {
            if self.state.error.is_empty() {
                self.state.error = e.to_string();
            }
        }
        self.state.status = ShimStatus::Exited;
        if self.state.finished_at.is_none() {
            self.state.finished_at = Some(time::now());
        }
        // Without fsync: berthd reads this as soon as the shim has exited and records the exit
        // durably in its own record. Only an exit while berthd is down and a machine crash
        // before the kernel writes this back lose the code, and then the container is gone.
        self.state
            .save_volatile(&self.cfg.state_dir)
            .map_err(|e| ShimError::io("write", self.cfg.state_dir.join(STATE_FILE), e))?;
        result.map(|()| self.state.clone())
    }

    fn exited(&self) -> bool {
        self.state.exit_code.is_some()
    }

    fn event_loop(&mut self) -> Result<(), ShimError> {
        let mut buf = [0u8; READ_CHUNK];
        let mut pollfds: Vec<libc::pollfd> = Vec::with_capacity(3);
        let mut deadline: Option<Instant> = None;
        self.reap();
        loop {
            if self.exited() && self.sources.is_empty() {
                return Ok(());
            }
            if self.exited() && deadline.is_none() {
                deadline = Some(Instant::now() + DRAIN_GRACE);
            }
            let timeout = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    left.as_millis().min(i32::MAX as u128) as i32
                }
            };
            pollfds.clear();
            pollfds.push(pollfd(self.signals.as_raw_fd()));
            pollfds.extend(self.sources.iter().map(|s| pollfd(s.fd.as_raw_fd())));
            let stdin_slots = match &self.stdin {
                Some(feed) if !self.exited() => feed.poll_slots(),
                _ => Vec::new(),
            };
            pollfds.extend(stdin_slots.iter().map(|&(_, fd, events)| libc::pollfd {
                fd,
                events,
                revents: 0,
            }));
            let first_attach = pollfds.len();
            let attach_slots = self.attach.poll_slots();
            pollfds.extend(attach_slots.iter().map(|&(_, fd, events)| libc::pollfd {
                fd,
                events,
                revents: 0,
            }));
            let pty_slot = match &self.pty {
                Some(server) if !self.exited() => {
                    pollfds.push(pollfd(server.fd()));
                    Some(pollfds.len() - 1)
                }
                _ => None,
            };
            sys::poll(&mut pollfds, timeout).map_err(ShimError::sys("poll"))?;
            if let (Some(i), Some(server)) = (pty_slot, &self.pty) {
                if pollfds[i].revents != 0 {
                    server.ready();
                }
            }
            let attach_ready: Vec<(attach::Slot, i16)> = attach_slots
                .iter()
                .enumerate()
                .map(|(k, &(slot, _, _))| (slot, pollfds[first_attach + k].revents))
                .filter(|&(_, revents)| revents != 0)
                .collect();
            if !attach_ready.is_empty() {
                self.attach.ready(&attach_ready);
            }
            let first_stdin = 1 + self.sources.len();
            for (k, (slot, _, _)) in stdin_slots.iter().enumerate() {
                if pollfds[first_stdin + k].revents != 0 {
                    if let Some(feed) = &mut self.stdin {
                        feed.ready(*slot);
                    }
                }
            }

            if pollfds[0].revents != 0 {
                self.handle_signals();
            }
            let mut closed = Vec::new();
            for (i, pfd) in pollfds[1..first_stdin].iter().enumerate() {
                if pfd.revents != 0 && !self.drain(i, &mut buf) {
                    closed.push(i);
                }
            }
            for i in closed.into_iter().rev() {
                let source = self.sources.remove(i);
                self.finish(source.stream);
            }

            if let Some(d) = deadline {
                if Instant::now() >= d && !self.sources.is_empty() {
                    if !self.deleted {
                        // Something outlived the init and holds its output open: kill the rest
                        // of the container, then give the output one more grace period.
                        self.delete()?;
                        deadline = Some(Instant::now() + DRAIN_GRACE);
                    } else {
                        for source in std::mem::take(&mut self.sources) {
                            self.finish(source.stream);
                        }
                    }
                }
            }
        }
    }

    /// Reads what `sources[i]` has; false once it reached its end.
    fn drain(&mut self, i: usize, buf: &mut [u8]) -> bool {
        let Source { fd, stream } = &self.sources[i];
        let (fd, stream) = (fd.as_raw_fd(), *stream);
        // Bounded, so one busy stream cannot starve the signals.
        for _ in 0..16 {
            match sys::read(fd, buf) {
                Ok(0) => return false,
                Ok(n) => {
                    self.attach.broadcast(stream, &buf[..n]);
                    let written = self.log.write(stream, &buf[..n], &time::now());
                    self.log_failed(written);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // EIO: a pty whose last slave closed. Anything else ends the stream as well.
                Err(_) => return false,
            }
        }
        true
    }

    fn finish(&mut self, stream: Stream) {
        let written = self.log.finish(stream, &time::now());
        self.log_failed(written);
    }

    /// A log that cannot be written (a full disk) must not stop the container: the output is
    /// dropped and the first failure is recorded in the state.
    fn log_failed(&mut self, written: std::io::Result<()>) {
        if let Err(e) = written {
            if self.state.error.is_empty() {
                self.state.error = ShimError::io("write log", self.cfg.log_path(), e).to_string();
                let _ = self.save();
            }
        }
    }

    fn handle_signals(&mut self) {
        while let Some(sig) = sys::next_signal(&self.signals) {
            match sig {
                libc::SIGCHLD => self.reap(),
                libc::SIGTERM | libc::SIGINT if !self.exited() && !self.deleted => {
                    // A failure means the init is already gone; its exit arrives as SIGCHLD.
                    let _ = self.runtime.kill(&self.cfg.id, sig, false);
                }
                // SIGHUP: our caller's terminal went away; we carry on.
                _ => {}
            }
        }
    }

    /// Reaps every exited child, recording the init's exit.
    fn reap(&mut self) {
        for (pid, status) in sys::reap_children() {
            if pid == self.state.pid && !self.exited() {
                self.state.exit_code = Some(sys::exit_code(status));
                self.state.finished_at = Some(time::now());
            }
        }
    }

    /// Records OOM kills (the cgroup goes with the container), then deletes the container.
    fn delete(&mut self) -> Result<(), ShimError> {
        if self.deleted {
            return Ok(());
        }
        self.deleted = true;
        if let Some(path) = &self.cgroups_path {
            let count = berth_cgroups::open(path).and_then(|cg| cg.oom_kill_count());
            self.state.oom_killed = matches!(count, Ok(n) if n > 0);
        }
        let result = self.runtime.delete(&self.cfg.id, true);
        // Reap what the forced delete killed.
        self.reap();
        result.map_err(|source| ShimError::Delete {
            id: self.cfg.id.clone(),
            source: Box::new(source),
        })
    }
}

/// Closes every fd above 2 this process inherited. `berth-shim` calls it first thing, before
/// anything of its own is open.
pub fn close_inherited_fds() {
    sys::close_inherited_fds();
}

/// Points the shim's own stdin, stdout and stderr at /dev/null, so that it holds nothing of the
/// process that spawned it.
pub fn detach_stdio() -> Result<(), ShimError> {
    sys::stdio_to_devnull().map_err(|e| ShimError::io("redirect stdio to", "/dev/null", e))
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

fn dev_null(write: bool) -> Result<OwnedFd, ShimError> {
    std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| ShimError::io("open", "/dev/null", e))
}

/// Pipes for stdout and stderr (and stdin unless `--no-stdin`), or with `--terminal` a listening
/// console socket.
fn prepare_stdio(cfg: &Config) -> Result<Stdio, ShimError> {
    if cfg.terminal {
        let path = cfg.state_dir.join(CONSOLE_SOCKET);
        let socket = ConsoleSocket::bind(&path).map_err(|e| ShimError::Console {
            path: path.clone(),
            message: format!("bind: {e}"),
        })?;
        // The pty replaces these inside the container; the runtime process itself gets nothing
        // of ours that could keep a caller's pipe open.
        let opts = CreateOptions {
            stdin: Some(dev_null(false)?),
            stdout: Some(dev_null(true)?),
            stderr: Some(dev_null(true)?),
            console_socket: Some(path.clone()),
            pid_file: None,
        };
        return Ok(Stdio {
            opts,
            sources: Vec::new(),
            stdin: None,
            console: Some(socket),
        });
    }
    let mut sources = Vec::new();
    let mut ends = Vec::new();
    for stream in [Stream::Stdout, Stream::Stderr] {
        let (r, w) = sys::pipe().map_err(ShimError::sys("pipe2"))?;
        sys::set_nonblocking(r.as_raw_fd()).map_err(ShimError::sys("fcntl"))?;
        sources.push(Source { fd: r, stream });
        ends.push(w);
    }
    let (stdin, keep) = if cfg.no_stdin {
        (dev_null(false)?, None)
    } else {
        let (r, w) = sys::pipe().map_err(ShimError::sys("pipe2"))?;
        (r, Some(w))
    };
    let stderr = ends.pop();
    let stdout = ends.pop();
    Ok(Stdio {
        opts: CreateOptions {
            stdin: Some(stdin),
            stdout,
            stderr,
            console_socket: None,
            pid_file: None,
        },
        sources,
        stdin: keep,
        console: None,
    })
}

/// `create` and the pty handover when there is a terminal. A failure after `create` deletes
/// the half-made container again.
fn create(
    cfg: &Config,
    runtime: &dyn OciRuntime,
    opts: CreateOptions,
    console: Option<&ConsoleSocket>,
) -> Result<(i32, Option<OwnedFd>), RuntimeError> {
    let pid = runtime.create(&cfg.id, &cfg.bundle, opts)?;
    let pty = match console {
        Some(socket) => Some(socket.receive_pty(CONSOLE_TIMEOUT).inspect_err(|_| {
            let _ = runtime.delete(&cfg.id, true);
            sys::reap_children();
        })?),
        None => None,
    };
    Ok((pid, pty))
}

/// The container's cgroup, for its OOM-kill counter: the spec's `linux.cgroupsPath`, else the
/// builtin runtime's default, else where an external runtime put the init.
fn cgroups_path(cfg: &Config, pid: i32) -> Option<PathBuf> {
    if let Some(path) = spec_cgroups_path(&cfg.bundle) {
        return Some(path);
    }
    match cfg.runtime {
        RuntimeKind::Builtin => Some(PathBuf::from(format!("/berth/{}", cfg.id))),
        RuntimeKind::External(_) => {
            let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
            cgroup_from_proc(&text).map(PathBuf::from)
        }
    }
}

/// Reads only `linux.cgroupsPath` from the bundle's config.json.
fn spec_cgroups_path(bundle: &Path) -> Option<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Spec {
        linux: Option<Linux>,
    }
    #[derive(serde::Deserialize)]
    struct Linux {
        #[serde(rename = "cgroupsPath")]
        cgroups_path: Option<PathBuf>,
    }
    let bytes = std::fs::read(bundle.join("config.json")).ok()?;
    let spec: Spec = serde_json::from_slice(&bytes).ok()?;
    spec.linux?.cgroups_path.filter(|p| p.is_absolute())
}

/// The memory cgroup (v1) or the unified cgroup (v2) in a /proc/<pid>/cgroup text.
fn cgroup_from_proc(text: &str) -> Option<&str> {
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            return Some(path);
        }
        if controllers.is_empty() {
            unified = Some(path);
        }
    }
    unified
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_cgroup_wins_over_the_unified_one() {
        let v1 = "12:pids:/a\n4:memory:/berth-x\n0::/user.slice\n";
        assert_eq!(cgroup_from_proc(v1), Some("/berth-x"));
        let joined = "5:cpu,memory:/j\n";
        assert_eq!(cgroup_from_proc(joined), Some("/j"));
        assert_eq!(
            cgroup_from_proc("0::/system.slice/x\n"),
            Some("/system.slice/x")
        );
        assert_eq!(cgroup_from_proc(""), None);
    }

    #[test]
    fn start_failures_get_dockers_exit_codes() {
        let ext = |message: &str| {
            RuntimeError::from(crate::external::ExternalError::Failed {
                runtime: "runc".into(),
                op: "create",
                id: "x".into(),
                message: message.into(),
            })
        };
        let not_found = ext("exec: \"nope\": executable file not found in $PATH");
        assert_eq!(start_failure_code(&not_found), 127);
        assert_eq!(start_failure_code(&ext("exec /x: permission denied")), 126);
        assert_eq!(start_failure_code(&ext("cgroup trouble")), 128);
        let builtin = RuntimeError::from(crate::init::InitError::NotFound {
            command: "nope".into(),
        });
        assert_eq!(start_failure_code(&builtin), 127);
    }

    #[test]
    fn the_spec_cgroups_path_is_read_alone() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"ociVersion":"1.0.2","process":{"args":["sh"]},"linux":{"cgroupsPath":"/berth-t","namespaces":[]}}"#,
        )
        .unwrap();
        assert_eq!(
            spec_cgroups_path(dir.path()),
            Some(PathBuf::from("/berth-t"))
        );
        std::fs::write(&config, r#"{"linux":{}}"#).unwrap();
        assert_eq!(spec_cgroups_path(dir.path()), None);
        std::fs::write(&config, r#"{"linux":{"cgroupsPath":"relative"}}"#).unwrap();
        assert_eq!(spec_cgroups_path(dir.path()), None);
    }
}
