//! Start, stop, kill, restart, remove and wait. Every operation on one container holds its
//! `op` lock, except the exit monitor, which only records (stop waits for it under the lock).

use std::sync::Arc;
use std::time::Duration;

use berth_runtime::shim::ShimState;
use tokio::sync::watch;

use super::container::{Handle, Progress, Status};
use super::shim::{self, ShimArgs};
use super::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::spec::{self, SpecContext};

/// How long stop waits after SIGKILL before it reports failure.
const KILL_GRACE: Duration = Duration::from_secs(30);
/// Docker's default stop timeout.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// Which change `wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: Option<&str>) -> ApiResult<WaitCondition> {
        match s.unwrap_or("") {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(ApiError::BadRequest(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

impl Daemon {
    pub async fn start(self: &Arc<Self>, h: &Arc<Handle>) -> ApiResult<()> {
        let _op = h.op.lock().await;
        match h.lock().state.status {
            Status::Running => return Err(ApiError::NotModified),
            Status::Paused => {
                return Err(ApiError::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            Status::Removing | Status::Dead => {
                return Err(ApiError::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    h.id
                )))
            }
            _ => {}
        }
        if h.lock().state.manually_stopped {
            h.update(|c| c.state.manually_stopped = false);
        }
        let started = self.start_locked(h).await;
        if started.is_err() && h.lock().host_config.auto_remove.unwrap_or(false) {
            // As Docker: a `--rm` container that cannot start is removed (the client waits
            // for that).
            if let Err(e) = self.remove_locked(h).await {
                tracing::error!("removing container {} after its failed start: {e}", h.id);
            }
            self.remove_anonymous_volumes(&h.snapshot());
        }
        started
    }

    /// Starts the container; the caller holds its op lock.
    pub(super) async fn start_locked(self: &Arc<Self>, h: &Arc<Handle>) -> ApiResult<()> {
        let spawned = match self.open_prepared(h).await? {
            Some(spawned) => spawned,
            None => {
                // Overlaps the kernel's wait before the first cgroup move with the shim's
                // spawn; the result changes nothing, so it is not awaited.
                super::prestart::prime_cgroup_moves();
                let daemon = self.clone();
                let handle = h.clone();
                tokio::task::spawn_blocking(move || daemon.spawn_shim(&handle))
                    .await
                    .map_err(ApiError::internal)??
            }
        };
        let shim_pid = spawned.child.id() as i32;
        let init_fd = shim::pidfd_open(spawned.init_pid).ok().map(Arc::new);
        let started_at = ShimState::load(&h.dir)
            .ok()
            .and_then(|s| s.started_at)
            .unwrap_or_else(berth_runtime::shim::time::now);
        *h.init.lock().expect("init lock") = init_fd;
        // A machine crash ends the container too, so "running" need not wait for the disk.
        h.update_volatile(|c| {
            c.state.status = Status::Running;
            c.state.pid = spawned.init_pid;
            c.state.shim_pid = shim_pid;
            c.state.exit_code = 0;
            c.state.oom_killed = false;
            c.state.error.clear();
            c.state.started_at = Some(started_at);
        });
        self.events.container(&h.lock(), "start", &[]);
        super::monitor::watch(self.clone(), h.clone(), shim_pid, Some(spawned.child));
        Ok(())
    }

    /// Mounts the rootfs, writes the bundle and spawns the shim. On failure the container is
    /// recorded as exited with the runtime's exit code, as Docker does.
    fn spawn_shim(&self, h: &Handle) -> ApiResult<shim::Spawned> {
        let spawned =
            self.set_up_and_spawn(h, |args| shim::spawn(args, super::attach::take_pending(h)));
        if let Err(e) = &spawned {
            self.record_failed_start(h, e);
        }
        spawned
    }

    /// Mounts the rootfs, brings up the network and the mounts, writes the bundle, then spawns
    /// the shim with `spawn`. On failure what was set up is released again.
    pub(super) fn set_up_and_spawn<T>(
        &self,
        h: &Handle,
        spawn: impl FnOnce(&ShimArgs) -> Result<T, shim::ShimError>,
    ) -> ApiResult<T> {
        let c = h.snapshot();
        let t0 = std::time::Instant::now();
        let rootfs = self.layers.mount_container(&c.id)?;
        let mounted = t0.elapsed();
        let bundle = h.dir.join("bundle");
        let runtime = self.config.runtime_path(&c.runtime).ok_or_else(|| {
            ApiError::BadRequest(format!("unknown or invalid runtime name: {}", c.runtime))
        })?;
        let attempt = (|| -> ApiResult<T> {
            let net = self.network_up(h, &c)?;
            let user_mounts = self.mounts_up(h, &c, &rootfs)?;
            let cgroups_path = format!("{}/{}", self.config.cgroup_parent, c.id);
            let ctx = SpecContext {
                container_id: &c.id,
                rootfs: &rootfs,
                bounding_caps: &self.bounding_caps,
                cgroups_path: &cgroups_path,
                init_binary: self.init_binary.as_deref(),
                network: net.setup,
                netns: net.netns.as_deref(),
                etc_mounts: &net.etc_mounts,
                user_mounts: &user_mounts,
            };
            let oci = spec::build(&c.config, &c.host_config, &ctx)?;
            std::fs::create_dir_all(&bundle)
                .map_err(|e| ApiError::internal(format!("create {}: {e}", bundle.display())))?;
            let json = serde_json::to_vec(&oci).map_err(ApiError::internal)?;
            berth_runtime::fsutil::write_atomic_volatile(&bundle.join("config.json"), &json)
                .map_err(|e| ApiError::internal(format!("write bundle of {}: {e}", c.id)))?;
            let _ = std::fs::remove_file(h.dir.join(berth_runtime::shim::STATE_FILE));
            let prepared = t0.elapsed();
            let runtime_root = self.runtime_root(&c.runtime);
            let log_path = h.log_path();
            let args = ShimArgs {
                binary: &self.shim_binary,
                id: &c.id,
                bundle: &bundle,
                state_dir: &h.dir,
                log_path: &log_path,
                runtime,
                runtime_root: &runtime_root,
                terminal: c.tty(),
                stdin: c.config.open_stdin.unwrap_or(false),
                // A terminal's input is never closed by a leaving client, as in Docker: a
                // user who detached from `run -it` can attach and type again.
                stdin_once: c.config.stdin_once.unwrap_or(false) && !c.tty(),
            };
            spawn(&args)
            .map_err(|e| ApiError::BadRequest(format!("failed to create task for container: {e}")))
            .inspect(|_| {
                tracing::debug!(
                    "container {}: rootfs mounted in {mounted:?}, spec ready at {prepared:?}, shim reported at {:?}",
                    c.id,
                    t0.elapsed()
                )
            })
        })();
        if attempt.is_err() {
            self.release_setup(h);
        }
        attempt
    }

    /// Releases what a start set up before the shim: mounts, network and the rootfs.
    pub(super) fn release_setup(&self, h: &Handle) {
        self.mounts_down(h);
        self.network_down(h);
        let _ = self.layers.unmount_container(&h.id);
    }

    /// Records a start that failed: exited with the runtime's code when the shim recorded one.
    pub(super) fn record_failed_start(&self, h: &Handle, e: &ApiError) {
        let recorded = ShimState::load(&h.dir).ok();
        let exit_code = recorded.as_ref().and_then(|s| s.exit_code).unwrap_or(128);
        let message = e.to_string();
        h.update(|c| {
            c.state.status = if c.state.started_at.is_some() || c.state.finished_at.is_some() {
                Status::Exited
            } else {
                Status::Created
            };
            if recorded.is_some() {
                c.state.status = Status::Exited;
                c.state.exit_code = exit_code;
                c.state.finished_at = Some(berth_runtime::shim::time::now());
            }
            c.state.error = message;
        });
    }

    /// Sends `signal` to the container's init.
    pub fn signal(&self, h: &Handle, signal: i32) -> ApiResult<()> {
        let fd = h.init.lock().expect("init lock").clone();
        let Some(fd) = fd else {
            return Err(not_running(h));
        };
        self.events
            .container(&h.lock(), "kill", &[("signal", &signal.to_string())]);
        match shim::pidfd_signal(&fd, signal) {
            Ok(()) => {
                self.thaw_after_signal(h);
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()), // exiting already
            Err(e) => Err(ApiError::internal(format!(
                "signalling container {}: {e}",
                h.id
            ))),
        }
    }

    pub async fn kill(&self, h: &Arc<Handle>, signal: Option<&str>) -> ApiResult<()> {
        let signal = match signal {
            None | Some("") => libc::SIGKILL,
            Some(s) => parse_signal(s)?,
        };
        let _op = h.op.lock().await;
        if !h.lock().state.status.is_alive() {
            return Err(ApiError::Conflict(format!(
                "Cannot kill container: {}: {}",
                h.lock().name,
                not_running(h)
            )));
        }
        if signal == libc::SIGKILL || signal == stop_signal(h) {
            h.update(|c| c.state.manually_stopped = true);
        }
        self.signal(h, signal)
    }

    pub async fn stop(
        &self,
        h: &Arc<Handle>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> ApiResult<()> {
        let _op = h.op.lock().await;
        self.stop_locked(h, signal, timeout).await?;
        self.events.container(&h.lock(), "stop", &[]);
        Ok(())
    }

    pub(super) async fn stop_locked(
        &self,
        h: &Arc<Handle>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> ApiResult<()> {
        let status = h.lock().state.status;
        if status == Status::Restarting {
            // The pending restart sees the flag and leaves it stopped.
            h.update(|c| {
                c.state.manually_stopped = true;
                c.state.status = Status::Exited;
            });
            return Ok(());
        }
        if !status.is_alive() {
            return Err(ApiError::NotModified);
        }
        h.update(|c| c.state.manually_stopped = true);
        let signal = match signal {
            None | Some("") => stop_signal(h),
            Some(s) => parse_signal(s)?,
        };
        let timeout = timeout
            .or_else(|| h.lock().config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let mut rx = h.watch();
        let exits = rx.borrow().exits;
        if signal != libc::SIGKILL {
            self.signal(h, signal)?;
            let wait = if timeout < 0 {
                None
            } else {
                Some(Duration::from_secs(timeout as u64))
            };
            if wait_exit(&mut rx, exits, wait).await {
                return Ok(());
            }
        }
        self.signal(h, libc::SIGKILL)?;
        if wait_exit(&mut rx, exits, Some(KILL_GRACE)).await {
            Ok(())
        } else {
            Err(ApiError::internal(format!(
                "container {} did not exit {}s after SIGKILL",
                h.id,
                KILL_GRACE.as_secs()
            )))
        }
    }

    pub async fn restart(
        self: &Arc<Self>,
        h: &Arc<Handle>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> ApiResult<()> {
        let _op = h.op.lock().await;
        match self.stop_locked(h, signal, timeout).await {
            Ok(()) => self.events.container(&h.lock(), "stop", &[]),
            Err(ApiError::NotModified) => {}
            Err(e) => return Err(e),
        }
        h.update(|c| c.state.manually_stopped = false);
        self.start_locked(h).await?;
        self.events.container(&h.lock(), "restart", &[]);
        Ok(())
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(self: &Arc<Self>, h: &Arc<Handle>, force: bool) -> ApiResult<()> {
        let _op = h.op.lock().await;
        let status = h.lock().state.status;
        if status.is_alive() || status == Status::Restarting {
            if !force {
                let what = if status == Status::Restarting {
                    "restarting"
                } else if status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(ApiError::Conflict(format!(
                    "cannot remove container \"/{}\": container is {what}: stop the container before removing or force remove",
                    h.lock().name
                )));
            }
            self.stop_locked(h, Some("SIGKILL"), Some(0))
                .await
                .or_else(|e| match e {
                    ApiError::NotModified => Ok(()),
                    e => Err(e),
                })?;
        }
        self.remove_locked(h).await
    }

    /// Removes a stopped container; the caller holds its op lock.
    pub(super) async fn remove_locked(self: &Arc<Self>, h: &Arc<Handle>) -> ApiResult<()> {
        if h.progress().removed {
            return Ok(());
        }
        self.discard_prepared(h).await;
        // Once "removing" is on disk the container is gone for clients: a daemon that dies
        // before the files are deleted finishes the job at its next start. So answer now and
        // delete in the background (`run --rm` waits for this).
        h.update(|c| c.state.status = Status::Removing);
        self.forget(&h.id);
        self.events.container(&h.lock(), "destroy", &[]);
        self.execs.remove_container(&h.id);
        h.mark_removed();
        let daemon = self.clone();
        let handle = h.clone();
        tokio::task::spawn_blocking(move || daemon.delete_files(&handle));
        Ok(())
    }

    /// Deletes a removed container's layers and directory.
    pub(super) fn delete_files(&self, h: &Handle) {
        let id = &h.id;
        if h.rootfs_left_mounted
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            if let Err(e) = self.layers.unmount_container(id) {
                tracing::warn!("unmounting container {id}: {e}");
            }
        }
        if self.layers.container(id).is_ok() {
            if let Err(e) = self.layers.remove_container(id) {
                tracing::error!("removing layers of container {id}: {e}");
                return;
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&h.dir) {
            tracing::error!("removing {}: {e}", h.dir.display());
        }
    }

    /// Returns a receiver and a future's worth of state to wait on, taken *now* so that a
    /// change right after the call is not missed.
    pub fn wait_start(&self, h: &Handle) -> (watch::Receiver<Progress>, Progress) {
        let rx = h.watch();
        let now = *rx.borrow();
        (rx, now)
    }
}

/// Waits for `condition` from the state seen at `start`; returns the exit code.
pub async fn wait_for(
    mut rx: watch::Receiver<Progress>,
    start: Progress,
    condition: WaitCondition,
) -> i64 {
    let done = |p: &Progress| match condition {
        WaitCondition::NotRunning => {
            p.removed || !(p.status.is_alive() || p.status == Status::Restarting)
        }
        WaitCondition::NextExit => p.removed || p.exits > start.exits,
        WaitCondition::Removed => p.removed,
    };
    loop {
        let p = *rx.borrow_and_update();
        if done(&p) {
            return p.exit_code as i64;
        }
        if rx.changed().await.is_err() {
            return rx.borrow().exit_code as i64;
        }
    }
}

/// Waits until the exit counter passes `exits`; false on timeout.
async fn wait_exit(
    rx: &mut watch::Receiver<Progress>,
    exits: u64,
    timeout: Option<Duration>,
) -> bool {
    let wait = async {
        loop {
            if rx.borrow_and_update().exits > exits {
                return true;
            }
            if rx.changed().await.is_err() {
                return true;
            }
        }
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, wait).await.unwrap_or(false),
        None => wait.await,
    }
}

fn not_running(h: &Handle) -> ApiError {
    ApiError::Conflict(format!("Container {} is not running", h.id))
}

fn stop_signal(h: &Handle) -> i32 {
    h.lock()
        .config
        .stop_signal
        .as_deref()
        .and_then(|s| parse_signal(s).ok())
        .unwrap_or(libc::SIGTERM)
}

/// "SIGKILL", "KILL", "kill" or "9".
pub fn parse_signal(s: &str) -> ApiResult<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            if let Some(rt) = name
                .strip_prefix("RTMIN+")
                .and_then(|n| n.parse::<i32>().ok())
            {
                let n = libc::SIGRTMIN() + rt;
                if n <= libc::SIGRTMAX() {
                    return Ok(n);
                }
            }
            return Err(ApiError::BadRequest(format!("Invalid signal: {s}")));
        }
    };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("RTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert!(parse_signal("SIGNOPE")
            .unwrap_err()
            .to_string()
            .contains("SIGNOPE"));
        assert!(parse_signal("0").is_err());
    }
}
