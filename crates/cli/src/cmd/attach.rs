//! An attached session, as `docker run` and `docker start -a` do it: hijack `attach` first,
//! send `wait?condition=next-exit` (or `removed` for --rm) on a second connection so the exit
//! cannot be missed, then start; copy output (demultiplexed unless tty), feed stdin, and exit
//! with the container's status from `wait`.

use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsRawFd;
use std::thread;

use super::Ctx;
use crate::client::{check, Query};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::stream::{copy_raw, demux, MULTIPLEXED_STREAM, RAW_STREAM};

pub struct Session {
    pub id: String,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub auto_remove: bool,
    /// Forward signals berth receives to the container (docker's --sig-proxy, non-tty only).
    pub sig_proxy: bool,
    /// `--detach-keys`, in docker's notation; the daemon watches for them in a tty session.
    pub detach_keys: Option<String>,
}

/// Attaches, starts the container with `start` and returns its exit status.
pub fn run_attached(ctx: &Ctx, s: &Session, start: impl FnOnce() -> Result<()>) -> Result<i32> {
    let stdin_tty = io::stdin().is_terminal();
    if s.tty && s.stdin && !stdin_tty {
        return Err(Error::client("the input device is not a TTY"));
    }
    if s.sig_proxy && !s.tty {
        // Before any thread exists, so every thread inherits the blocked mask and only the
        // forwarder receives these signals.
        forward_signals(ctx.client.duplicate(), s.id.clone());
    }
    let follow_size = s.tty && io::stdout().is_terminal();
    if follow_size {
        // Also before any thread exists, for the same reason.
        follow_window_size(ctx.client.duplicate(), s.id.clone());
    }
    let path = format!("/containers/{}", s.id);
    let hijacked = if s.stdin || s.stdout || s.stderr {
        let mut q = Query::new();
        q.add("stream", "1")
            .flag("stdin", s.stdin)
            .flag("stdout", s.stdout)
            .flag("stderr", s.stderr);
        if let Some(keys) = &s.detach_keys {
            q.add("detachKeys", keys.as_str());
        }
        Some(ctx.client.hijack("POST", &format!("{path}/attach"), &q)?)
    } else {
        None
    };

    let mut q = Query::new();
    q.add(
        "condition",
        if s.auto_remove {
            "removed"
        } else {
            "next-exit"
        },
    );
    let conn = ctx.client.connect()?;
    let pending = ctx
        .client
        .send_on(conn, "POST", &format!("{path}/wait"), &q, Body::Empty)?;
    let waiter = thread::spawn(move || -> Result<i32> {
        let v = check(pending.finish("POST")?)?.json()?;
        let msg = v.get("Error").get("Message").str();
        if !msg.is_empty() {
            return Err(Error::Daemon {
                status: 500,
                message: msg.to_string(),
            });
        }
        Ok(v.get("StatusCode").i64() as i32)
    });

    // Raw mode only for an interactive tty session, restored when `_raw` drops.
    let _raw = if s.tty && s.stdin && stdin_tty {
        RawMode::enable(io::stdin().as_raw_fd())
    } else {
        None
    };
    start()?;
    if follow_size {
        send_size(&ctx.client, &format!("/containers/{}/resize", s.id));
    }

    let Some(h) = hijacked else {
        return waiter
            .join()
            .unwrap_or(Err(Error::client("wait thread panicked")));
    };
    // The content type says which format the stream uses (API >= 1.42); older daemons say
    // raw-stream for both, so fall back on what we know of the container's tty.
    let multiplexed = match h.head.content_type() {
        MULTIPLEXED_STREAM => true,
        RAW_STREAM if h.head.status != 101 => false,
        _ => !s.tty,
    };
    if s.stdin {
        let writer = h.writer;
        thread::spawn(move || {
            let mut w = writer;
            let mut stdin = io::stdin().lock();
            let _ = copy_stdin(&mut stdin, &mut w);
            // EOF on our stdin closes the container's stdin.
            let _ = w.shutdown_write();
        });
    }
    let reader = h.reader;
    let output = thread::spawn(move || -> io::Result<()> {
        let mut out = io::stdout().lock();
        if multiplexed {
            let mut err = io::stderr().lock();
            demux(reader, &mut out, &mut err)
        } else {
            copy_raw(reader, &mut out)
        }
    });
    let copied = output
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("output thread panicked")));
    // The daemon ends a terminal session's stream early when the detach keys are typed; the
    // container then still runs, and berth leaves it running, as docker does. (After an exit
    // the stream ends only once the exit is recorded, so a running state means a detach.)
    if s.tty && s.stdin && !waiter.is_finished() && still_running(ctx, &s.id) {
        return Ok(0);
    }
    let status = waiter
        .join()
        .unwrap_or(Err(Error::client("wait thread panicked")));
    drop(_raw);
    if let Err(e) = copied {
        // A reset after the container exits is normal; anything else is worth a word.
        if e.kind() != io::ErrorKind::ConnectionReset {
            eprintln!("berth: error copying output: {e}");
        }
    }
    status
}

const FORWARDED: [i32; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Blocks the usual terminating signals and sends each one that arrives to the container as
/// `POST /containers/{id}/kill?signal=N`, so ^C stops the container, not just berth.
fn forward_signals(client: crate::client::Client, id: String) {
    on_signals(&FORWARDED, move |sig| {
        let mut q = Query::new();
        q.add("signal", sig.to_string());
        let _ = client.send("POST", &format!("/containers/{id}/kill"), &q, Body::Empty);
    });
}

/// Blocks `signals` in this thread (and so in every thread it spawns later: call it before any
/// other thread exists) and handles each one that arrives on a thread of its own.
pub(super) fn on_signals(signals: &[i32], mut handle: impl FnMut(i32) + Send + 'static) {
    // SAFETY: sigset manipulation on a local set; pthread_sigmask affects this thread (and the
    // threads it spawns later).
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in signals {
            libc::sigaddset(&mut set, sig);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        set
    };
    thread::spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait reads the set and writes the signal number.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        handle(sig);
    });
}

pub(super) fn copy_stdin(r: &mut dyn Read, w: &mut dyn Write) -> io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        w.flush()?;
    }
}

fn still_running(ctx: &Ctx, id: &str) -> bool {
    ctx.client
        .get_json(&format!("/containers/{id}/json"), &Query::new())
        .map(|v| v.get("State").get("Running").bool())
        .unwrap_or(false)
}

/// Resizes the container's terminal whenever ours changes (SIGWINCH), as docker does.
fn follow_window_size(client: crate::client::Client, id: String) {
    let path = format!("/containers/{id}/resize");
    on_signals(&[libc::SIGWINCH], move |_| send_size(&client, &path));
}

/// Our terminal's size as (rows, columns), if stdout is one.
pub(super) fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills the winsize we pass.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Tells the daemon our terminal size at `resize_path` (a container's or an exec's; best
/// effort).
pub(super) fn send_size(client: &crate::client::Client, resize_path: &str) {
    let Some((h, w)) = terminal_size() else {
        return;
    };
    let mut q = Query::new();
    q.add("h", h.to_string()).add("w", w.to_string());
    let _ = client.send("POST", resize_path, &q, Body::Empty);
}

/// The terminal in raw mode, so keys go straight to the container's tty.
pub(super) struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    pub(super) fn enable(fd: i32) -> Option<RawMode> {
        // SAFETY: tcgetattr/tcsetattr on a terminal fd with termios structs we own.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(fd, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes saved in `enable`.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}
