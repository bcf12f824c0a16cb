//! Prestart: the work of a start done right after `create`, while the client is still on its
//! way to `start`.
//!
//! `docker run` sends create, then attach and wait, then start; between the create's answer and
//! the start there are several milliseconds of client work. In that time berthd mounts the
//! rootfs, writes the bundle and spawns the shim with a start gate (`berth-shim --start-gate`):
//! the shim creates the container (namespaces, cgroup, mounts, pivot_root) and its init waits.
//! The start is then one message through the gate.
//!
//! A prepared start must not be visible to anyone: it is only made when the container's network
//! needs nothing on the host (none, host, or no network), since an address, a DNS name or a
//! published port held by a container that was only created would be. Anything that changes
//! what the start would do (network connect/disconnect, update, remove) discards it first, and
//! so does time: a container not started within [`PREPARED_TTL`] gives it up.

use std::sync::Arc;
use std::time::Duration;

use super::container::{Container, Handle, Status};
use super::shim::{self, GateError, Gated};
use super::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::network::Mode;

/// How long a prepared start waits for its `start` before it is undone.
const PREPARED_TTL: Duration = Duration::from_secs(10);

/// Whether preparing this container's start leaves nothing others could see.
fn preparable(c: &Container) -> bool {
    match Mode::of(&c.host_config) {
        Mode::None | Mode::Host => true,
        Mode::Networks(_) => c.networks.is_empty(),
        Mode::Container(_) => false,
    }
}

/// Drops the shim.json a prepared start may have left (a failed create records an exit): the
/// container has not run.
fn forget_shim_state(h: &Handle) {
    let _ = std::fs::remove_file(h.dir.join(berth_runtime::shim::STATE_FILE));
}

/// Starts priming the kernel's cgroup migration lock (see `berth_cgroups::prime_attach`) on a
/// spare thread: a create is the first sign of a start, and the prepared start's cgroup move
/// then passes without waiting out a grace period of its own.
pub fn prime_cgroup_moves() {
    tokio::task::spawn_blocking(|| {
        if let Err(e) = berth_cgroups::prime_attach() {
            tracing::debug!("priming the cgroup migration lock: {e}");
        }
    });
}

impl Daemon {
    /// After a create: prepares the container's start in the background, if that is safe.
    pub fn prepare_soon(self: &Arc<Self>, id: &str) {
        let Ok(h) = self.find(id) else { return };
        if !preparable(&h.lock()) {
            return;
        }
        let daemon = self.clone();
        tokio::spawn(async move {
            {
                // The start, if it comes now, waits for this and then uses it.
                let _op = h.op.lock().await;
                if h.lock().state.status != Status::Created || daemon.is_prepared(&h) {
                    return;
                }
                let (d, hh) = (daemon.clone(), h.clone());
                match tokio::task::spawn_blocking(move || d.prepare(&hh)).await {
                    Ok(Ok(gated)) => *h.prepared.lock().expect("prepared lock") = Some(gated),
                    // The real start will meet the same error and report it.
                    Ok(Err(e)) => tracing::debug!("container {}: no prestart: {e}", h.id),
                    Err(e) => tracing::warn!("container {}: prestart task: {e}", h.id),
                }
            }
            tokio::time::sleep(PREPARED_TTL).await;
            let _op = h.op.lock().await;
            daemon.discard_prepared(&h).await;
        });
    }

    fn is_prepared(&self, h: &Handle) -> bool {
        h.prepared.lock().expect("prepared lock").is_some()
    }

    /// Sets up the start and spawns the shim up to its gate. Blocking.
    fn prepare(&self, h: &Handle) -> ApiResult<Gated> {
        let gated = self.set_up_and_spawn(h, shim::spawn_gated);
        if gated.is_err() {
            forget_shim_state(h);
        }
        gated
    }

    /// For a start (the caller holds the op lock): runs the prepared start, if there is one.
    /// None when there was none or its shim is gone, so the caller starts the usual way.
    pub(super) async fn open_prepared(
        self: &Arc<Self>,
        h: &Arc<Handle>,
    ) -> ApiResult<Option<shim::Spawned>> {
        let Some(mut gated) = h.prepared.lock().expect("prepared lock").take() else {
            return Ok(None);
        };
        if !gated.waiting() {
            // Checked before the attached clients are handed over, so they stay for the
            // usual start.
            self.undo_prepared(h, gated).await;
            return Ok(None);
        }
        let attach = super::attach::take_pending(h);
        let (d, hh) = (self.clone(), h.clone());
        tokio::task::spawn_blocking(move || match gated.open(attach) {
            Ok(spawned) => Ok(Some(spawned)),
            Err(GateError::Closed(e)) => {
                tracing::warn!("container {}: prepared shim gone ({e})", hh.id);
                d.release_setup(&hh);
                Err(ApiError::internal(format!(
                    "starting container {}: its shim went away: {e}",
                    hh.id
                )))
            }
            Err(GateError::Start(e)) => {
                d.release_setup(&hh);
                let e = ApiError::BadRequest(format!("failed to create task for container: {e}"));
                d.record_failed_start(&hh, &e);
                Err(e)
            }
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// Undoes a prepared start, if there is one; the caller holds the op lock.
    pub(super) async fn discard_prepared(self: &Arc<Self>, h: &Arc<Handle>) {
        let gated = h.prepared.lock().expect("prepared lock").take();
        if let Some(gated) = gated {
            self.undo_prepared(h, gated).await;
        }
    }

    async fn undo_prepared(self: &Arc<Self>, h: &Arc<Handle>, gated: Gated) {
        let (d, hh) = (self.clone(), h.clone());
        let _ = tokio::task::spawn_blocking(move || d.undo_prepared_blocking(&hh, gated)).await;
    }

    fn undo_prepared_blocking(&self, h: &Handle, gated: Gated) {
        gated.abort();
        self.release_setup(h);
        forget_shim_state(h);
    }

    /// At daemon shutdown: undoes every prepared start (their shims would undo themselves when
    /// berthd's end of the gate closes, but the rootfs and mounts are berthd's). Blocking.
    pub fn discard_all_prepared(&self) {
        for h in self.all() {
            let gated = h.prepared.lock().expect("prepared lock").take();
            if let Some(gated) = gated {
                self.undo_prepared_blocking(&h, gated);
            }
        }
    }
}
