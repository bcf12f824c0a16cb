//! A container as berthd records it: `containers/<id>/config.v2.json`, replaced atomically at
//! every change, plus an in-memory handle that lifecycle operations lock and waiters watch.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bollard_stubs::models::{ContainerCreateBody, HostConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The record's file inside the container directory.
pub const RECORD_FILE: &str = "config.v2.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// A process of the container exists (it may be paused).
    pub fn is_alive(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    /// Host PID of the container's init while it runs.
    pub pid: i32,
    /// PID of its berth-shim while it runs.
    pub shim_pid: i32,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Stopped by a user: restart policies leave it alone (until the daemon restarts, for
    /// `always`).
    pub manually_stopped: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    /// Without Docker's leading '/'.
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    /// The create request merged with the image's config; `host_config` is kept apart.
    pub config: ContainerCreateBody,
    pub host_config: HostConfig,
    pub state: RunState,
    pub restart_count: i64,
    pub driver: String,
    /// The runtime's name ("berth" or one from --add-runtime).
    pub runtime: String,
    /// Entrypoint + Cmd as resolved at create: Docker's Path and Args.
    pub path: String,
    pub args: Vec<String>,
    /// The networks it joins at start, by name (create's and `network connect`'s choice).
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, crate::network::EndpointConfig>,
    /// Its network namespace, interfaces and ports while it runs.
    #[serde(default)]
    pub sandbox: Option<crate::network::Sandbox>,
    /// Binds, volumes and `--mount` tmpfs, resolved at create.
    #[serde(default)]
    pub mounts: Vec<berth_volume::MountPoint>,
}

impl Container {
    pub fn load(dir: &Path) -> std::io::Result<Container> {
        let bytes = std::fs::read(dir.join(RECORD_FILE))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).expect("container record serialises");
        berth_runtime::fsutil::write_atomic(&dir.join(RECORD_FILE), &bytes)
    }

    /// Replaces the record atomically without waiting for the disk (see `Handle::update_volatile`).
    fn save_volatile(&self, dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).expect("container record serialises");
        berth_runtime::fsutil::write_atomic_volatile(&dir.join(RECORD_FILE), &bytes)
    }

    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// What waiters watch: bumps of these counters wake them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// How many times the container has exited since the daemon loaded it.
    pub exits: u64,
    pub status: Status,
    pub exit_code: i32,
    pub removed: bool,
}

/// The daemon's live view of one container.
pub struct Handle {
    pub id: String,
    pub dir: PathBuf,
    record: Mutex<Container>,
    /// Serialises start, stop, kill, restart and remove on this container.
    pub op: tokio::sync::Mutex<()>,
    progress: watch::Sender<Progress>,
    /// The init's pidfd while it runs, for signals without PID reuse races.
    pub init: Mutex<Option<Arc<std::os::fd::OwnedFd>>>,
    /// The delay before the next restart under a restart policy.
    pub backoff: Mutex<std::time::Duration>,
    /// Clients attached before the start, waiting for its live output.
    pending_attach: Mutex<Vec<super::attach::Subscriber>>,
    /// The volumes this run acquired (released at its exit).
    pub volumes_held: Mutex<Vec<String>>,
    /// A start made ready right after create, waiting at its shim's gate (see `prestart`).
    pub prepared: Mutex<Option<super::shim::Gated>>,
    /// The exit of a `--rm` container left its rootfs mounted for the removal to unmount.
    pub rootfs_left_mounted: std::sync::atomic::AtomicBool,
}

impl Handle {
    pub fn new(record: Container, dir: PathBuf) -> Arc<Handle> {
        let progress = Progress {
            exits: 0,
            status: record.state.status,
            exit_code: record.state.exit_code,
            removed: false,
        };
        Arc::new(Handle {
            id: record.id.clone(),
            dir,
            record: Mutex::new(record),
            op: tokio::sync::Mutex::new(()),
            progress: watch::channel(progress).0,
            init: Mutex::new(None),
            backoff: Mutex::new(super::restart::INITIAL_BACKOFF),
            pending_attach: Mutex::new(Vec::new()),
            volumes_held: Mutex::new(Vec::new()),
            prepared: Mutex::new(None),
            rootfs_left_mounted: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Registers a client for the live output of the next start.
    pub fn add_pending_attach(&self, subscriber: super::attach::Subscriber) {
        self.pending_attach
            .lock()
            .expect("attach lock")
            .push(subscriber);
    }

    pub fn take_pending_attach(&self) -> Vec<super::attach::Subscriber> {
        std::mem::take(&mut *self.pending_attach.lock().expect("attach lock"))
    }

    pub fn lock(&self) -> MutexGuard<'_, Container> {
        self.record.lock().expect("container record lock")
    }

    pub fn snapshot(&self) -> Container {
        self.lock().clone()
    }

    /// Changes the record, saves it, and tells waiters. A failed save is logged: the
    /// in-memory state stays right and the next save catches up.
    pub fn update(&self, change: impl FnOnce(&mut Container)) {
        self.apply(change, Container::save)
    }

    /// As `update`, but the record reaches the disk whenever the kernel writes it back. For
    /// states that only describe live processes (running), or that the caller replaces at once
    /// with a durable one: what a machine crash could lose is then no longer true anyway.
    pub fn update_volatile(&self, change: impl FnOnce(&mut Container)) {
        self.apply(change, Container::save_volatile)
    }

    fn apply(
        &self,
        change: impl FnOnce(&mut Container),
        save: fn(&Container, &Path) -> std::io::Result<()>,
    ) {
        let (status, exit_code) = {
            let mut record = self.lock();
            change(&mut record);
            if let Err(e) = save(&record, &self.dir) {
                tracing::error!("saving container {}: {e}", self.id);
            }
            (record.state.status, record.state.exit_code)
        };
        self.progress.send_modify(|p| {
            if p.status.is_alive() && !status.is_alive() {
                p.exits += 1;
            }
            p.status = status;
            p.exit_code = exit_code;
        });
    }

    pub fn mark_removed(&self) {
        self.progress.send_modify(|p| p.removed = true);
    }

    pub fn watch(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    pub fn progress(&self) -> Progress {
        *self.progress.borrow()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.id))
    }
}
