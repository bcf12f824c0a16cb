//! The engine: the stores, the container index and the container state machine. Lifecycle
//! work that touches files runs on blocking threads; the index is behind short locks.

pub mod archive;
pub mod attach;
pub mod container;
pub mod create;
pub mod exec;
pub mod lifecycle;
pub mod monitor;
pub mod mounts;
pub mod network;
pub mod pause;
pub mod prestart;
pub mod restart;
pub mod restore;
pub mod shim;
pub mod update;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use berth_image::ImageStore;
use berth_storage::layer::LayerStore;

pub use container::{Container, Handle, Status};

use crate::config::DaemonConfig;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] berth_storage::StorageError),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error("berth-shim not found next to berthd or in PATH; install berth completely")]
    NoShim,
    #[error(transparent)]
    Network(Box<crate::network::NetError>),
    #[error(transparent)]
    Volume(#[from] berth_volume::VolumeError),
}

impl From<crate::network::NetError> for EngineError {
    fn from(e: crate::network::NetError) -> EngineError {
        EngineError::Network(Box::new(e))
    }
}

pub fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.into();
    move |source| EngineError::Io { op, path, source }
}

#[derive(Default)]
struct Index {
    by_id: HashMap<String, Arc<Handle>>,
    /// Name (without '/') → ID.
    names: HashMap<String, String>,
}

pub struct Daemon {
    pub config: DaemonConfig,
    pub layers: Arc<LayerStore>,
    pub images: Arc<ImageStore>,
    index: RwLock<Index>,
    pub shim_binary: PathBuf,
    /// berthd's own bounding set: what `--privileged` grants.
    pub bounding_caps: Vec<String>,
    /// A static init for `--init` (tini), if the host has one.
    pub init_binary: Option<PathBuf>,
    pub started_at: SystemTime,
    /// The event bus behind `GET /events`.
    pub events: crate::events::Events,
    /// `docker exec` instances of every container.
    pub execs: exec::ExecStore,
    /// Networks, and containers' sandboxes on them.
    pub networks: crate::network::Networks,
    /// Named and anonymous volumes (`<data-root>/volumes`).
    pub volumes: berth_volume::VolumeStore,
}

impl Daemon {
    /// Opens the stores under the data root and loads the containers recorded there.
    pub fn open(config: DaemonConfig) -> Result<Arc<Daemon>, EngineError> {
        for dir in [&config.data_root, &config.exec_root] {
            std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        let containers = config.data_root.join("containers");
        std::fs::create_dir_all(&containers).map_err(io_err("create", &containers))?;
        let storage_root = config.data_root.join("storage");
        let driver = berth_storage::select::open(config.storage_driver.as_deref(), &storage_root)?;
        let layers = Arc::new(LayerStore::open(&config.data_root.join("layers"), driver)?);
        let images = Arc::new(ImageStore::open(&config.data_root, layers.clone())?);
        let networks = crate::network::Networks::open(
            config.network.clone(),
            &config.data_root,
            &config.exec_root,
        )?;
        let volumes = berth_volume::VolumeStore::open(&config.data_root.join("volumes"))?;
        let daemon = Arc::new(Daemon {
            layers,
            images,
            index: RwLock::new(Index::default()),
            shim_binary: shim::find_binary().ok_or(EngineError::NoShim)?,
            bounding_caps: own_bounding_caps(),
            init_binary: ["/usr/bin/tini-static", "/usr/bin/docker-init"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists()),
            started_at: SystemTime::now(),
            events: crate::events::Events::new(),
            execs: exec::ExecStore::default(),
            networks,
            volumes,
            config,
        });
        Ok(daemon)
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.config.data_root.join("containers")
    }

    pub fn runtime_root(&self, runtime: &str) -> PathBuf {
        self.config.exec_root.join("runtime").join(runtime)
    }

    /// Finds a container by full ID, name, or unique ID prefix, as Docker does.
    pub fn find(&self, name_or_id: &str) -> ApiResult<Arc<Handle>> {
        let index = self.index.read().expect("index lock");
        if let Some(h) = index.by_id.get(name_or_id) {
            return Ok(h.clone());
        }
        let name = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if let Some(id) = index.names.get(name) {
            return Ok(index.by_id[id].clone());
        }
        if name_or_id.is_empty() || !name_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::no_such_container(name_or_id));
        }
        let mut found = index
            .by_id
            .iter()
            .filter(|(id, _)| id.starts_with(name_or_id));
        match (found.next(), found.next()) {
            (Some((_, h)), None) => Ok(h.clone()),
            (Some(_), Some(_)) => Err(ApiError::NotFound(format!(
                "multiple IDs found with provided prefix: {name_or_id}"
            ))),
            _ => Err(ApiError::no_such_container(name_or_id)),
        }
    }

    pub fn all(&self) -> Vec<Arc<Handle>> {
        self.index
            .read()
            .expect("index lock")
            .by_id
            .values()
            .cloned()
            .collect()
    }

    /// Reserves `name` for `id`; Docker's 409 when another container has it.
    pub fn reserve_name(&self, name: &str, id: &str) -> ApiResult<()> {
        let mut index = self.index.write().expect("index lock");
        if let Some(owner) = index.names.get(name) {
            if owner != id {
                return Err(ApiError::Conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
        }
        index.names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    pub fn release_name(&self, name: &str, id: &str) {
        let mut index = self.index.write().expect("index lock");
        if index.names.get(name).map(String::as_str) == Some(id) {
            index.names.remove(name);
        }
    }

    pub fn insert(&self, handle: Arc<Handle>) {
        let name = handle.lock().name.clone();
        let mut index = self.index.write().expect("index lock");
        index.names.insert(name, handle.id.clone());
        index.by_id.insert(handle.id.clone(), handle);
    }

    pub fn forget(&self, id: &str) {
        let mut index = self.index.write().expect("index lock");
        if let Some(h) = index.by_id.remove(id) {
            let name = h.lock().name.clone();
            if index.names.get(&name).map(String::as_str) == Some(id) {
                index.names.remove(&name);
            }
        }
    }

    /// The containers using each image, for `rmi` and `image prune` conflict checks.
    pub fn image_users(&self, image: &berth_image::Digest) -> Vec<berth_image::ImageUser> {
        let image = image.to_string();
        self.all()
            .into_iter()
            .filter_map(|h| {
                let c = h.lock();
                (c.image_id == image).then(|| berth_image::ImageUser {
                    container_id: c.id.clone(),
                    running: c.state.status.is_alive(),
                })
            })
            .collect()
    }
}

impl Daemon {
    /// Bytes the container's read-write layer adds (`docker ps -s`, `system df`).
    pub fn container_size(&self, id: &str) -> Result<u64, EngineError> {
        let changes = self.layers.container_changes(id)?;
        let rootfs = self.layers.mount_container(id)?;
        let size = berth_storage::archive::changes_size(&rootfs, &changes);
        self.layers.unmount_container(id)?;
        Ok(size?)
    }
}

/// The capabilities in berthd's bounding set, as "CAP_…" names.
fn own_bounding_caps() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .filter_map(|bit| berth_runtime::caps::name(bit))
        .map(str::to_string)
        .collect()
}

/// 64 random hex digits: a container ID.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    assert_eq!(n, 32, "getrandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
