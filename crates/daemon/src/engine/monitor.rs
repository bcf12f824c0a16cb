//! Watches a container's shim through its pidfd and records the exit when the shim ends:
//! exit code and OOM from shim.json, then a restart under the policy, or removal for `--rm`.

use std::process::Child;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use berth_runtime::shim::ShimState;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::container::{Handle, Status};
use super::restart;
use super::{shim, Daemon};

/// Exit code recorded when the shim vanished without recording one (as Docker's 255 for a
/// container whose monitor was lost).
const LOST_EXIT_CODE: i32 = 255;

/// Spawns the task that waits for the shim `shim_pid` to end. `child` is set when this
/// berthd spawned it (and so must reap it).
pub fn watch(daemon: Arc<Daemon>, h: Arc<Handle>, shim_pid: i32, child: Option<Child>) {
    let pidfd = shim::pidfd_open(shim_pid);
    tokio::spawn(async move {
        if let Ok(fd) = pidfd {
            // SAFETY: the AsyncFd owns the pidfd, which stays open and registered only here.
            match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
                Ok(afd) => {
                    let _ = afd.readable().await;
                }
                Err(e) => tracing::error!("watching shim {shim_pid}: {e}"),
            }
        }
        if let Some(mut child) = child {
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        }
        daemon.on_exit(&h).await;
    });
}

impl Daemon {
    /// Records the exit of a container whose shim has ended.
    pub(super) async fn on_exit(self: &Arc<Self>, h: &Arc<Handle>) {
        let daemon = self.clone();
        let handle = h.clone();
        // A `--rm` container's rootfs is unmounted by its removal, after `wait` is answered:
        // nobody can see it any more. Its ports and volumes are released here, before.
        let auto_remove = h.lock().host_config.auto_remove.unwrap_or(false);
        let recorded = tokio::task::spawn_blocking(move || {
            daemon.network_down(&handle);
            daemon.mounts_down(&handle);
            if auto_remove {
                handle.rootfs_left_mounted.store(true, Ordering::SeqCst);
            } else if let Err(e) = daemon.layers.unmount_container(&handle.id) {
                tracing::warn!("unmounting container {}: {e}", handle.id);
            }
            ShimState::load(&handle.dir).ok()
        })
        .await
        .ok()
        .flatten();
        *h.init.lock().expect("init lock") = None;
        let (exit_code, oom, finished, error) = match recorded {
            Some(s) => (
                s.exit_code.unwrap_or(LOST_EXIT_CODE),
                s.oom_killed,
                s.finished_at,
                s.error,
            ),
            None => (
                LOST_EXIT_CODE,
                false,
                None,
                "berth-shim ended without recording the exit".to_string(),
            ),
        };
        let finished = finished.unwrap_or_else(berth_runtime::shim::time::now);
        let decision = restart::decide(h, exit_code, &finished);
        // Published before the state changes, so a client woken by `wait` finds the die.
        if oom {
            self.events.container(&h.lock(), "oom", &[]);
        }
        let ran_for = exec_duration(h.lock().state.started_at.as_deref(), &finished);
        self.events.container(
            &h.lock(),
            "die",
            &[
                ("exitCode", &exit_code.to_string()),
                ("execDuration", &ran_for.to_string()),
            ],
        );
        let record = |c: &mut super::container::Container| {
            c.state.status = if decision.is_some() {
                Status::Restarting
            } else {
                Status::Exited
            };
            c.state.pid = 0;
            c.state.shim_pid = 0;
            c.state.exit_code = exit_code;
            c.state.oom_killed = oom;
            c.state.finished_at = Some(finished);
            c.state.error = error;
        };
        if auto_remove {
            // Its durable "removing" follows at once (create and update refuse a restart
            // policy beside --rm, so there is no restart decision here).
            h.update_volatile(record);
        } else {
            h.update(record);
        }
        tracing::debug!("container {} exited with {exit_code}", h.id);
        if let Some(delay) = decision {
            restart::schedule(self.clone(), h.clone(), delay);
        } else if auto_remove {
            let daemon = self.clone();
            let handle = h.clone();
            tokio::spawn(async move {
                let _op = handle.op.lock().await;
                if let Err(e) = daemon.remove_locked(&handle).await {
                    tracing::error!("auto-removing container {}: {e}", handle.id);
                }
                // `--rm` takes the anonymous volumes along, as in Docker.
                let (d, c) = (daemon.clone(), handle.snapshot());
                let _ = tokio::task::spawn_blocking(move || d.remove_anonymous_volumes(&c)).await;
            });
        }
    }
}

/// Whole seconds from the start of the run to its end, as Docker's die event reports them.
fn exec_duration(started: Option<&str>, finished: &str) -> i64 {
    let now = std::time::SystemTime::now();
    let parse = |t: &str| crate::timefmt::parse_time(t, now).ok();
    match (started.and_then(parse), parse(finished)) {
        (Some((s, sn)), Some((f, fn_))) => {
            let nanos = (f - s) as i128 * 1_000_000_000 + fn_ as i128 - sn as i128;
            (nanos / 1_000_000_000).max(0) as i64
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::exec_duration;

    #[test]
    fn the_run_time_is_in_whole_seconds() {
        assert_eq!(
            exec_duration(
                Some("2026-11-28T10:00:00.900000000Z"),
                "2026-11-28T10:01:05.100000000Z"
            ),
            64
        );
        assert_eq!(exec_duration(None, "2026-11-28T10:01:05Z"), 0);
    }
}
