//! Daemon start: containers are loaded from their records; running ones whose shim survived
//! are managed again (live-restore), the others get their exit recorded, and restart policies
//! bring back `always` and `unless-stopped` containers.

use std::sync::Arc;

use bollard_stubs::models::RestartPolicyNameEnum;

use super::container::{Container, Handle, Status};
use super::{monitor, shim, Daemon};

impl Daemon {
    pub async fn restore(self: &Arc<Self>) {
        let dir = self.containers_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("reading {}: {e}", dir.display());
                return;
            }
        };
        let mut handles = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            match Container::load(&path) {
                Ok(record) if record.id == entry.file_name().to_string_lossy() => {
                    let h = Handle::new(record, path);
                    self.insert(h.clone());
                    handles.push(h);
                }
                Ok(_) => tracing::warn!(
                    "{}: record names another container; skipped",
                    path.display()
                ),
                Err(e) => tracing::warn!(
                    "{}: unreadable container record ({e}); skipped",
                    path.display()
                ),
            }
        }
        let mut adopted = 0;
        for h in &handles {
            let (status, shim_pid, pid) = {
                let c = h.lock();
                (c.state.status, c.state.shim_pid, c.state.pid)
            };
            match status {
                Status::Running | Status::Paused | Status::Restarting => {
                    let daemon = self.clone();
                    let id = h.id.clone();
                    // Take the mount reference the running container holds (the driver finds
                    // the mount the earlier berthd left).
                    let mounted =
                        tokio::task::spawn_blocking(move || daemon.layers.mount_container(&id))
                            .await
                            .map(|r| r.is_ok())
                            .unwrap_or(false);
                    if status != Status::Restarting
                        && shim_pid > 0
                        && shim::is_shim_of(shim_pid, &h.id)
                    {
                        *h.init.lock().expect("init lock") =
                            shim::pidfd_open(pid).ok().map(Arc::new);
                        self.restore_paused_state(h);
                        self.mounts_readopt(h);
                        monitor::watch(self.clone(), h.clone(), shim_pid, None);
                        adopted += 1;
                    } else {
                        if !mounted {
                            tracing::warn!("container {}: rootfs could not be mounted", h.id);
                        }
                        self.on_exit(h).await;
                    }
                }
                Status::Removing => {
                    let _op = h.op.lock().await;
                    if let Err(e) = self.remove_locked(h).await {
                        tracing::error!("finishing removal of {}: {e}", h.id);
                    }
                }
                Status::Created | Status::Exited | Status::Dead => {}
            }
        }
        tracing::info!("loaded {} containers, {adopted} running", handles.len());
        let running: Vec<(String, crate::network::Sandbox)> = handles
            .iter()
            .filter_map(|h| {
                let c = h.lock();
                let sandbox = c.sandbox.clone()?;
                c.state.status.is_alive().then(|| (c.id.clone(), sandbox))
            })
            .collect();
        let daemon = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            daemon.networks.restore(&running);
            if let Err(e) = daemon.volumes.unmount_idle() {
                tracing::warn!("unmounting volumes nobody uses: {e}");
            }
        })
        .await;
        for h in handles {
            let start = {
                let c = h.lock();
                let policy = c
                    .host_config
                    .restart_policy
                    .as_ref()
                    .and_then(|p| p.name)
                    .unwrap_or(RestartPolicyNameEnum::EMPTY);
                c.state.status == Status::Exited
                    && (policy == RestartPolicyNameEnum::ALWAYS
                        || (policy == RestartPolicyNameEnum::UNLESS_STOPPED
                            && !c.state.manually_stopped))
            };
            if start {
                if let Err(e) = self.start(&h).await {
                    tracing::warn!("starting container {} (restart policy): {e}", h.id);
                }
            }
        }
    }
}
