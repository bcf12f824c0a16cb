//! Pause and unpause through the cgroup freezer (v1 `freezer.state`, v2 `cgroup.freeze`), and
//! the container's cgroup as the other operations (commit, stats, top, update) open it.

use std::path::PathBuf;
use std::sync::Arc;

use berth_cgroups::{CgroupManager, FreezerState};

use super::container::{Handle, Status};
use super::Daemon;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("Container {0} is already paused")]
    AlreadyPaused(String),
    #[error("Container {0} is not paused")]
    NotPaused(String),
    #[error("Container {0} is restarting, wait until the container is running")]
    Restarting(String),
    #[error("{what} container {id}: {source}")]
    Cgroup {
        what: &'static str,
        id: String,
        #[source]
        source: berth_cgroups::CgroupError,
    },
}

impl From<PauseError> for ApiError {
    fn from(e: PauseError) -> ApiError {
        match e {
            PauseError::Cgroup { .. } => ApiError::Internal(e.to_string()),
            _ => ApiError::Conflict(e.to_string()),
        }
    }
}

impl Daemon {
    /// `<cgroup_parent>/<id>`, the path the spec gives the runtime.
    pub fn cgroup_path(&self, id: &str) -> PathBuf {
        PathBuf::from(format!("{}/{id}", self.config.cgroup_parent))
    }

    /// The container's cgroup manager (v1 or v2, whatever the host has).
    pub fn cgroup(&self, id: &str) -> berth_cgroups::Result<Box<dyn CgroupManager>> {
        berth_cgroups::open(&self.cgroup_path(id))
    }

    /// `POST /containers/{id}/pause`.
    pub async fn pause(self: &Arc<Self>, h: &Arc<Handle>) -> ApiResult<()> {
        let _op = h.op.lock().await;
        match h.lock().state.status {
            Status::Running => {}
            Status::Paused => return Err(PauseError::AlreadyPaused(h.id.clone()).into()),
            Status::Restarting => return Err(PauseError::Restarting(h.id.clone()).into()),
            _ => return Err(PauseError::NotRunning(h.id.clone()).into()),
        }
        let d = self.clone();
        let id = h.id.clone();
        tokio::task::spawn_blocking(move || d.cgroup(&id).and_then(|cg| cg.freeze()))
            .await
            .map_err(ApiError::internal)?
            .map_err(|source| PauseError::Cgroup {
                what: "pausing",
                id: h.id.clone(),
                source,
            })?;
        h.update(|c| c.state.status = Status::Paused);
        self.events.container(&h.lock(), "pause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn unpause(self: &Arc<Self>, h: &Arc<Handle>) -> ApiResult<()> {
        let _op = h.op.lock().await;
        if h.lock().state.status != Status::Paused {
            return Err(PauseError::NotPaused(h.id.clone()).into());
        }
        let d = self.clone();
        let id = h.id.clone();
        tokio::task::spawn_blocking(move || d.cgroup(&id).and_then(|cg| cg.thaw()))
            .await
            .map_err(ApiError::internal)?
            .map_err(|source| PauseError::Cgroup {
                what: "unpausing",
                id: h.id.clone(),
                source,
            })?;
        h.update(|c| c.state.status = Status::Running);
        self.events.container(&h.lock(), "unpause", &[]);
        Ok(())
    }

    /// After a signal to a paused container: thaw it so the signal is delivered, as Docker
    /// does for stop, kill and rm -f. The caller holds the op lock.
    pub(super) fn thaw_after_signal(&self, h: &Handle) {
        if h.lock().state.status != Status::Paused {
            return;
        }
        match self.cgroup(&h.id).and_then(|cg| cg.thaw()) {
            Ok(()) => h.update(|c| {
                if c.state.status == Status::Paused {
                    c.state.status = Status::Running;
                }
            }),
            Err(e) => tracing::error!("unpausing container {} after a signal: {e}", h.id),
        }
    }

    /// At re-adoption: the freezer is the truth about whether a live container is paused
    /// (berthd may have died between the freeze and the record's update).
    pub(super) fn restore_paused_state(&self, h: &Handle) {
        let state = match self.cgroup(&h.id).and_then(|cg| cg.freezer_state()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("container {}: reading its freezer state: {e}", h.id);
                return;
            }
        };
        let status = match state {
            FreezerState::Frozen | FreezerState::Freezing => Status::Paused,
            FreezerState::Thawed => Status::Running,
        };
        if h.lock().state.status != status {
            h.update(|c| c.state.status = status);
        }
    }
}
