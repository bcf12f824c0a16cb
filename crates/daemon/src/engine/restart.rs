//! Restart policies (no, always, unless-stopped, on-failure[:N]) with Docker's back-off: 100 ms
//! doubling per restart up to a minute, reset once a run lasted 10 seconds.

use std::sync::Arc;
use std::time::Duration;

use bollard_stubs::models::RestartPolicyNameEnum;

use super::container::{Handle, Status};
use super::Daemon;

pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// Whether the policy restarts a container that just exited with `exit_code`, and after how
/// long.
pub fn decide(h: &Handle, exit_code: i32, finished_at: &str) -> Option<Duration> {
    let c = h.lock();
    if c.state.manually_stopped {
        return None;
    }
    let policy = c.host_config.restart_policy.clone().unwrap_or_default();
    let name = policy.name.unwrap_or(RestartPolicyNameEnum::EMPTY);
    let restart = match name {
        RestartPolicyNameEnum::ALWAYS | RestartPolicyNameEnum::UNLESS_STOPPED => true,
        RestartPolicyNameEnum::ON_FAILURE => {
            let max = policy.maximum_retry_count.unwrap_or(0);
            exit_code != 0 && (max == 0 || c.restart_count < max)
        }
        _ => false,
    };
    if !restart {
        return None;
    }
    let ran = match (
        &c.state.started_at,
        berth_runtime::shim::time::parse(finished_at),
    ) {
        (Some(start), Some(end)) => berth_runtime::shim::time::parse(start)
            .map(|s| Duration::from_secs((end.0 - s.0).max(0) as u64))
            .unwrap_or_default(),
        _ => Duration::ZERO,
    };
    let mut backoff = h.backoff.lock().expect("backoff lock");
    if ran >= STABLE_RUN {
        *backoff = INITIAL_BACKOFF;
    }
    let delay = *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    Some(delay)
}

/// Starts the container again after `delay`, unless a user stopped or removed it meanwhile.
pub fn schedule(daemon: Arc<Daemon>, h: Arc<Handle>, delay: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _op = h.op.lock().await;
        let still_wanted = {
            let c = h.lock();
            c.state.status == Status::Restarting && !c.state.manually_stopped
        };
        if !still_wanted || h.progress().removed {
            return;
        }
        h.update(|c| c.restart_count += 1);
        if let Err(e) = daemon.start_locked(&h).await {
            tracing::warn!("restarting container {}: {e}", h.id);
            h.update(|c| {
                if c.state.status == Status::Restarting {
                    c.state.status = Status::Exited;
                }
            });
        }
    });
}
