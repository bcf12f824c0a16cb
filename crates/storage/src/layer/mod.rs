//! The layer store: content-addressed layers over a [`Driver`].
//!
//! A layer is registered from a tar stream (gzip, zstd or plain). Its diff ID (sha256 of the
//! uncompressed tar) and chain ID are computed while the stream is applied, in one pass. Metadata
//! lives in `layers/sha256/<chain-id hex>/` (`diff-id`, `parent`, `size`, `cache-id`, `refs`,
//! and `tar-split.zst`, which lets [`LayerStore::export`] give back the very tar that was
//! registered); the driver's own id for the layer is the random cache id. A container gets two
//! driver layers on top of its image: an init layer and a read-write layer
//! (`layers/mounts/<container>/`).

mod compression;
mod digest;
mod meta;
mod split;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use compression::{decompress, Compression};
pub use digest::{Digest, HashingReader, InvalidDigest};
use meta::{random_id, ContainerMeta, LayerMeta};

use crate::{Change, Driver, Result, StorageError};

/// A registered layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// Bytes of content the layer itself holds.
    pub size: u64,
    /// The driver's id for this layer.
    pub cache_id: String,
}

/// A container's two driver layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLayers {
    pub container_id: String,
    pub init_id: String,
    pub rw_id: String,
    /// The image's top layer, if the image has any.
    pub image_top: Option<Digest>,
}

pub struct LayerStore {
    root: PathBuf,
    driver: Arc<dyn Driver>,
    layers: Mutex<HashMap<Digest, (LayerMeta, u64)>>,
}

impl LayerStore {
    /// Opens (or creates) the store under `root` (normally `<data-root>/layers`). Driver layers
    /// left by a registration that never finished are removed here.
    pub fn open(root: &Path, driver: Arc<dyn Driver>) -> Result<LayerStore> {
        for dir in ["sha256", "tmp", "mounts", "pending"] {
            let d = root.join(dir);
            std::fs::create_dir_all(&d).map_err(|e| StorageError::io("create", d, e))?;
        }
        let store = LayerStore {
            root: root.to_path_buf(),
            driver,
            layers: Mutex::new(HashMap::new()),
        };
        store.recover()?;
        let loaded = meta::load_all(&root.join("sha256"))?;
        *store.layers.lock().expect("layer index") = loaded
            .into_iter()
            .map(|(m, refs)| (m.chain_id.clone(), (m, refs)))
            .collect();
        Ok(store)
    }

    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    /// Throws away what an interrupted registration left: pending driver layers and temp dirs.
    fn recover(&self) -> Result<()> {
        for cache_id in meta::list_names(&self.root.join("pending"))? {
            if self.driver.exists(&cache_id) {
                self.driver.remove(&cache_id)?;
            }
            let marker = self.root.join("pending").join(&cache_id);
            std::fs::remove_file(&marker).map_err(|e| StorageError::io("remove", marker, e))?;
        }
        for name in meta::list_names(&self.root.join("tmp"))? {
            let d = self.root.join("tmp").join(name);
            std::fs::remove_dir_all(&d).map_err(|e| StorageError::io("remove", d, e))?;
        }
        Ok(())
    }

    pub fn get(&self, chain_id: &Digest) -> Option<Layer> {
        self.layers
            .lock()
            .expect("layer index")
            .get(chain_id)
            .map(|(m, _)| m.to_layer())
    }

    /// How many holders (images, children, containers) a layer has.
    pub fn refs(&self, chain_id: &Digest) -> u64 {
        self.layers
            .lock()
            .expect("layer index")
            .get(chain_id)
            .map_or(0, |(_, r)| *r)
    }

    pub fn list(&self) -> Vec<Layer> {
        let mut v: Vec<Layer> = self
            .layers
            .lock()
            .expect("layer index")
            .values()
            .map(|(m, _)| m.to_layer())
            .collect();
        v.sort_by(|a, b| a.chain_id.cmp(&b.chain_id));
        v
    }

    /// Registers the layer tar `input` (gzip, zstd or plain) on top of `parent`, and takes a
    /// reference on the result. Registering a layer that exists already just takes a reference.
    /// On any failure, nothing of the new layer remains.
    pub fn register(&self, parent: Option<&Digest>, input: impl Read) -> Result<Layer> {
        let parent_meta = match parent {
            Some(p) => Some(
                self.get(p)
                    .ok_or_else(|| StorageError::NotFound(p.to_string()))?,
            ),
            None => None,
        };
        let cache_id = random_id()?;
        let marker = self.root.join("pending").join(&cache_id);
        meta::write_synced(&marker, b"")?;
        let tmp = match meta::new_temp_dir(&self.root) {
            Ok(t) => t,
            Err(e) => {
                let _ = std::fs::remove_file(&marker);
                return Err(e);
            }
        };
        let applied = self.apply_new(
            &cache_id,
            parent_meta.as_ref().map(|p| p.cache_id.as_str()),
            input,
            &tmp.join(split::FILE_NAME),
        );
        let (diff_id, size) = match applied {
            Ok(v) => v,
            Err(e) => {
                if self.driver.exists(&cache_id) {
                    let _ = self.driver.remove(&cache_id);
                }
                let _ = std::fs::remove_dir_all(&tmp);
                let _ = std::fs::remove_file(&marker);
                return Err(e);
            }
        };
        let chain_id = Digest::chain(parent, &diff_id);
        let m = LayerMeta {
            chain_id: chain_id.clone(),
            diff_id,
            parent: parent.cloned(),
            size,
            cache_id,
        };
        let mut layers = self.layers.lock().expect("layer index");
        if let Some((existing, refs)) = layers.get_mut(&chain_id) {
            // Same content registered twice: keep the first, drop the copy.
            *refs += 1;
            let existing = existing.to_layer();
            let refs = *refs;
            drop(layers);
            // The first registration's tar-split stays too.
            let _ = std::fs::remove_dir_all(&tmp);
            self.driver.remove(&m.cache_id)?;
            std::fs::remove_file(&marker).map_err(|e| StorageError::io("remove", &marker, e))?;
            meta::write_refs(&self.root.join("sha256"), &chain_id, refs)?;
            return Ok(existing);
        }
        if let Err(e) = meta::save(&self.root, &tmp, &m, 1) {
            drop(layers);
            let _ = std::fs::remove_dir_all(&tmp);
            let _ = self.driver.remove(&m.cache_id);
            let _ = std::fs::remove_file(&marker);
            return Err(e);
        }
        if let Some(p) = parent {
            let parent_refs = layers.get_mut(p).map(|(_, r)| {
                *r += 1;
                *r
            });
            if let Some(r) = parent_refs {
                meta::write_refs(&self.root.join("sha256"), p, r)?;
            }
        }
        layers.insert(chain_id, (m.clone(), 1));
        drop(layers);
        std::fs::remove_file(&marker).map_err(|e| StorageError::io("remove", &marker, e))?;
        Ok(m.to_layer())
    }

    /// Creates driver layer `cache_id` on `parent` and streams the decompressed input into it,
    /// hashing it and recording its tar-split into `split_path` as it goes, in one pass.
    /// Returns (diff ID, size).
    fn apply_new(
        &self,
        cache_id: &str,
        parent: Option<&str>,
        input: impl Read,
        split_path: &Path,
    ) -> Result<(Digest, u64)> {
        self.driver.create(cache_id, parent)?;
        let (_, decompressed) =
            decompress(input).map_err(|e| StorageError::Archive(format!("read layer: {e}")))?;
        let mut split = split::to_file(decompressed, split_path)?;
        let mut hashing = HashingReader::new(&mut split);
        let size = self.driver.apply_diff(cache_id, parent, &mut hashing)?;
        let (diff_id, _) = hashing
            .finish()
            .map_err(|e| StorageError::Archive(format!("read layer: {e}")))?;
        split::finish_file(split, split_path)?;
        Ok((diff_id, size))
    }

    /// Takes another reference on a layer (an image that uses it, say).
    pub fn acquire(&self, chain_id: &Digest) -> Result<Layer> {
        let mut layers = self.layers.lock().expect("layer index");
        let (m, refs) = layers
            .get_mut(chain_id)
            .ok_or_else(|| StorageError::NotFound(chain_id.to_string()))?;
        *refs += 1;
        meta::write_refs(&self.root.join("sha256"), chain_id, *refs)?;
        Ok(m.to_layer())
    }

    /// Drops a reference; a layer left with none is removed, and its parent loses one in turn.
    /// Returns the chain IDs removed.
    pub fn release(&self, chain_id: &Digest) -> Result<Vec<Digest>> {
        let mut removed = Vec::new();
        let mut next = Some(chain_id.clone());
        while let Some(id) = next.take() {
            let mut layers = self.layers.lock().expect("layer index");
            let (m, refs) = layers
                .get_mut(&id)
                .ok_or_else(|| StorageError::NotFound(id.to_string()))?;
            *refs -= 1;
            if *refs > 0 {
                meta::write_refs(&self.root.join("sha256"), &id, *refs)?;
                break;
            }
            let m = m.clone();
            layers.remove(&id);
            drop(layers);
            meta::remove(&self.root, &m.chain_id)?;
            self.driver.remove(&m.cache_id)?;
            removed.push(id);
            next = m.parent;
        }
        Ok(removed)
    }

    /// The uncompressed tar of a registered layer, as it was registered (same diff ID): its
    /// tar-split is replayed with file contents read from the layer, and the result is checked
    /// against the diff ID. A layer registered before tar-splits existed is rebuilt from its
    /// files instead, which matches only for tars berth wrote itself.
    pub fn export(&self, chain_id: &Digest, out: &mut dyn std::io::Write) -> Result<()> {
        let layer = self
            .get(chain_id)
            .ok_or_else(|| StorageError::NotFound(chain_id.to_string()))?;
        let split_path = self
            .root
            .join("sha256")
            .join(chain_id.hex())
            .join(split::FILE_NAME);
        if split_path.exists() {
            return split::export(
                &split_path,
                &*self.driver,
                &layer.cache_id,
                &layer.diff_id,
                out,
            );
        }
        let parent_cache = layer
            .parent
            .as_ref()
            .and_then(|p| self.get(p))
            .map(|p| p.cache_id);
        self.driver
            .diff(&layer.cache_id, parent_cache.as_deref(), out)
    }

    /// Creates a container's init layer on `image_top`, lets `init` write into it (hostname,
    /// hosts, resolv.conf, mount points), then the read-write layer on top. Takes a reference on
    /// the image's top layer.
    pub fn create_container(
        &self,
        container_id: &str,
        image_top: Option<&Digest>,
        init: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<ContainerLayers> {
        meta::check_name(container_id)?;
        let dir = self.root.join("mounts").join(container_id);
        if dir.exists() {
            return Err(StorageError::AlreadyExists(container_id.to_string()));
        }
        let parent_cache = match image_top {
            Some(top) => Some(self.acquire(top)?.cache_id),
            None => None,
        };
        let init_id = format!("{}-init", random_id()?);
        let rw_id = random_id()?;
        let made = (|| {
            self.driver.create(&init_id, parent_cache.as_deref())?;
            let path = self.driver.get(&init_id)?;
            let written = init(&path);
            self.driver.put(&init_id)?;
            written?;
            self.driver.create(&rw_id, Some(&init_id))?;
            let c = ContainerMeta {
                init_id: init_id.clone(),
                rw_id: rw_id.clone(),
                image_top: image_top.cloned(),
            };
            c.save(&self.root, container_id)
        })();
        if let Err(e) = made {
            for id in [&rw_id, &init_id] {
                if self.driver.exists(id) {
                    let _ = self.driver.remove(id);
                }
            }
            if let Some(top) = image_top {
                let _ = self.release(top);
            }
            return Err(e);
        }
        Ok(ContainerLayers {
            container_id: container_id.to_string(),
            init_id,
            rw_id,
            image_top: image_top.cloned(),
        })
    }

    pub fn container(&self, container_id: &str) -> Result<ContainerLayers> {
        meta::check_name(container_id)?;
        let c = ContainerMeta::load(&self.root, container_id)?;
        Ok(ContainerLayers {
            container_id: container_id.to_string(),
            init_id: c.init_id,
            rw_id: c.rw_id,
            image_top: c.image_top,
        })
    }

    /// Mounts the container's rootfs (refcounted) and returns its path.
    pub fn mount_container(&self, container_id: &str) -> Result<PathBuf> {
        self.driver.get(&self.container(container_id)?.rw_id)
    }

    pub fn unmount_container(&self, container_id: &str) -> Result<()> {
        self.driver.put(&self.container(container_id)?.rw_id)
    }

    /// What the container changed, as `docker diff` shows it: rw layer against init layer.
    pub fn container_changes(&self, container_id: &str) -> Result<Vec<Change>> {
        let c = self.container(container_id)?;
        self.driver.changes(&c.rw_id, Some(&c.init_id))
    }

    /// Turns the container's changes into a new layer on the image's top layer (commit).
    pub fn commit_container(&self, container_id: &str) -> Result<Layer> {
        let c = self.container(container_id)?;
        let mut tar = Vec::new();
        self.driver.diff(&c.rw_id, Some(&c.init_id), &mut tar)?;
        self.register(c.image_top.as_ref(), &tar[..])
    }

    /// The container's whole filesystem as one tar (`docker export`).
    pub fn export_container(&self, container_id: &str, out: &mut dyn std::io::Write) -> Result<()> {
        let c = self.container(container_id)?;
        self.driver.diff(&c.rw_id, None, out)
    }

    /// Removes the container's layers and drops its reference on the image's top layer.
    pub fn remove_container(&self, container_id: &str) -> Result<()> {
        let c = self.container(container_id)?;
        for id in [&c.rw_id, &c.init_id] {
            if self.driver.exists(id) {
                self.driver.remove(id)?;
            }
        }
        ContainerMeta::remove(&self.root, container_id)?;
        if let Some(top) = &c.image_top {
            self.release(top)?;
        }
        Ok(())
    }
}
