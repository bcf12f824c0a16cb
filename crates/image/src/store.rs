//! The image store. An image is its config blob (the image ID is the config's sha256) plus a
//! reference on its top layer in the layer store. Tags live in `images/repositories.json`, the
//! parent links in `images/imagedb/<id hex>/`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_storage::layer::{decompress, Layer, LayerStore};

use crate::{ContentStore, Digest, ImageConfig, ImageError, Reference, Result};

/// An image as the store knows it.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: Digest,
    pub config: ImageConfig,
    pub parent: Option<Digest>,
    /// Chain ID of the top layer; None for an image without layers.
    pub top_layer: Option<Digest>,
    pub repo_tags: Vec<Reference>,
    /// Bytes of all its layers.
    pub size: u64,
}

#[derive(Debug, Clone)]
struct Record {
    config: ImageConfig,
    parent: Option<Digest>,
    top_layer: Option<Digest>,
}

#[derive(Default)]
struct State {
    images: HashMap<Digest, Record>,
    tags: BTreeMap<Reference, Digest>,
}

pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    layers: Arc<LayerStore>,
    state: Mutex<State>,
}

/// What `remove` did, in the order `docker rmi` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(Digest),
}

/// Who uses an image, as the caller (the daemon's container store) knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub container_id: String,
    pub running: bool,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ImageError + 'a {
    move |e| ImageError::io(op, path, e)
}

/// "sha256:abcdef…" shortened the way docker shows image IDs (12 hex digits).
pub fn short_id(id: &Digest) -> &str {
    &id.hex()[..12]
}

impl ImageStore {
    /// Opens the store under `data_root` (`blobs/` and `images/`) over `layers`.
    pub fn open(data_root: &Path, layers: Arc<LayerStore>) -> Result<ImageStore> {
        let root = data_root.join("images");
        std::fs::create_dir_all(root.join("imagedb")).map_err(io("create", &root))?;
        let content = ContentStore::open(&data_root.join("blobs"))?;
        // A load interrupted by a crash leaves its spool directory in blobs/.
        if let Ok(entries) = std::fs::read_dir(data_root.join("blobs")) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".berth-load-") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let store = ImageStore {
            root,
            content,
            layers,
            state: Mutex::new(State::default()),
        };
        store.load()?;
        Ok(store)
    }

    pub fn layers(&self) -> &Arc<LayerStore> {
        &self.layers
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn load(&self) -> Result<()> {
        let mut state = State::default();
        let db = self.root.join("imagedb");
        for entry in std::fs::read_dir(&db).map_err(io("read", &db))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(id) = format!("sha256:{name}").parse::<Digest>() else {
                continue;
            };
            let config = ImageConfig::parse(&self.content.get(&id)?)?;
            let parent_file = entry.path().join("parent");
            let parent = match std::fs::read_to_string(&parent_file) {
                Ok(p) => Some(p.trim().parse().map_err(|e| {
                    ImageError::InvalidConfig(format!("{}: {e}", parent_file.display()))
                })?),
                Err(_) => None,
            };
            let top_layer = chain_of(&config.diff_ids());
            state.images.insert(
                id,
                Record {
                    config,
                    parent,
                    top_layer,
                },
            );
        }
        let repos = self.root.join("repositories.json");
        if let Ok(bytes) = std::fs::read(&repos) {
            let file: RepositoriesFile = serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::InvalidConfig(format!("{}: {e}", repos.display())))?;
            for (_, tags) in file.repositories {
                for (name, id) in tags {
                    let (Ok(r), Ok(id)) = (Reference::parse(&name), id.parse::<Digest>()) else {
                        continue;
                    };
                    if state.images.contains_key(&id) {
                        state.tags.insert(r, id);
                    }
                }
            }
        }
        *self.state.lock().expect("image state") = state;
        Ok(())
    }

    /// Writes repositories.json in Docker's shape: {"Repositories": {name: {name:tag: id}}}.
    fn save_tags(&self, state: &State) -> Result<()> {
        let mut file = RepositoriesFile::default();
        for (r, id) in &state.tags {
            file.repositories
                .entry(r.familiar_name())
                .or_default()
                .insert(r.familiar(), id.to_string());
        }
        let bytes = serde_json::to_vec(&file).expect("tags serialise");
        let path = self.root.join("repositories.json");
        let tmp = self.root.join(".repositories.json.tmp");
        write_synced(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))
    }

    /// Stores raw config bytes as an image (see the crate docs); returns its ID.
    pub fn create(&self, config_bytes: &[u8], parent: Option<&Digest>) -> Result<Digest> {
        let config = ImageConfig::parse(config_bytes)?;
        let top_layer = chain_of(&config.diff_ids());
        if let Some(top) = &top_layer {
            if self.layers.get(top).is_none() {
                return Err(ImageError::InvalidConfig(format!(
                    "its layers (top {top}) are not in the layer store"
                )));
            }
        }
        let id = Digest::of(config_bytes);
        let mut state = self.state.lock().expect("image state");
        if state.images.contains_key(&id) {
            return Ok(id);
        }
        if let Some(p) = parent {
            if !state.images.contains_key(p) {
                return Err(ImageError::NotFound(p.to_string()));
            }
        }
        self.content.put(config_bytes)?;
        if let Some(top) = &top_layer {
            self.layers.acquire(top)?;
        }
        let dir = self.root.join("imagedb").join(id.hex());
        let made = (|| {
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            if let Some(p) = parent {
                write_synced(&dir.join("parent"), p.to_string().as_bytes())?;
            }
            Ok(())
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            if let Some(top) = &top_layer {
                let _ = self.layers.release(top);
            }
            return Err(e);
        }
        state.images.insert(
            id.clone(),
            Record {
                config,
                parent: parent.cloned(),
                top_layer,
            },
        );
        Ok(id)
    }

    pub fn get(&self, id: &Digest) -> Result<Image> {
        let state = self.state.lock().expect("image state");
        self.image(&state, id)
    }

    fn image(&self, state: &State, id: &Digest) -> Result<Image> {
        let r = state
            .images
            .get(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let repo_tags = state
            .tags
            .iter()
            .filter(|(_, i)| *i == id)
            .map(|(t, _)| t.clone())
            .collect();
        let size = r.top_layer.as_ref().map_or(0, |top| self.chain_size(top));
        Ok(Image {
            id: id.clone(),
            config: r.config.clone(),
            parent: r.parent.clone(),
            top_layer: r.top_layer.clone(),
            repo_tags,
            size,
        })
    }

    fn chain_size(&self, top: &Digest) -> u64 {
        let mut size = 0;
        let mut next = Some(top.clone());
        while let Some(layer) = next.and_then(|c| self.layers.get(&c)) {
            size += layer.size;
            next = layer.parent;
        }
        size
    }

    /// The raw config bytes (whose digest is the ID).
    pub fn config_bytes(&self, id: &Digest) -> Result<Vec<u8>> {
        self.content.get(id)
    }

    /// A tag ("busybox", "busybox:1"), a full ID ("sha256:…"), or an unambiguous ID prefix.
    pub fn resolve(&self, name_or_id: &str) -> Result<Digest> {
        let state = self.state.lock().expect("image state");
        let not_found = || ImageError::NotFound(name_or_id.to_string());
        if let Ok(d) = name_or_id.parse::<Digest>() {
            return state
                .images
                .contains_key(&d)
                .then_some(d)
                .ok_or_else(not_found);
        }
        // A name wins over an ID prefix, as in Docker: a tag "cafe" is not image cafe….
        let reference = Reference::parse_tagged(name_or_id);
        if let Some(id) = reference.as_ref().ok().and_then(|r| state.tags.get(r)) {
            return Ok(id.clone());
        }
        let hex = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
        if !hex.is_empty()
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            let matches: Vec<&Digest> = state
                .images
                .keys()
                .filter(|d| d.hex().starts_with(hex))
                .collect();
            match matches.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => return Err(ImageError::Conflict(format!("short ID {hex} is ambiguous"))),
            }
        }
        match reference {
            Ok(_) => Err(not_found()),
            Err(_) if hex.bytes().all(|b| b.is_ascii_hexdigit()) => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    pub fn tag(&self, id: &Digest, reference: &Reference) -> Result<()> {
        let mut state = self.state.lock().expect("image state");
        if !state.images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        if reference.digest().is_some() {
            return Err(ImageError::InvalidReference(format!(
                "refusing to create a tag with a digest reference: {}",
                reference.familiar()
            )));
        }
        let reference = if reference.tag().is_none() {
            reference.with_tag("latest")?
        } else {
            reference.clone()
        };
        state.tags.insert(reference, id.clone());
        self.save_tags(&state)
    }

    /// Removes a tag; returns the image it pointed at.
    pub fn untag(&self, reference: &Reference) -> Result<Digest> {
        let mut state = self.state.lock().expect("image state");
        let id = state
            .tags
            .remove(reference)
            .ok_or_else(|| ImageError::NotFound(reference.familiar()))?;
        self.save_tags(&state)?;
        Ok(id)
    }

    pub fn list(&self) -> Vec<Image> {
        let state = self.state.lock().expect("image state");
        let mut out: Vec<Image> = state
            .images
            .keys()
            .filter_map(|id| self.image(&state, id).ok())
            .collect();
        out.sort_by(|a, b| {
            b.config
                .created
                .cmp(&a.config.created)
                .then(a.id.cmp(&b.id))
        });
        out
    }

    /// Images whose parent is `id`.
    pub fn children(&self, id: &Digest) -> Vec<Digest> {
        let state = self.state.lock().expect("image state");
        state
            .images
            .iter()
            .filter(|(_, r)| r.parent.as_ref() == Some(id))
            .map(|(i, _)| i.clone())
            .collect()
    }

    /// `docker rmi`: by tag, untags (and deletes the image when that was its last tag); by ID,
    /// deletes. An image in use by a container, one with several tags (by ID) or one with child
    /// images is refused with Docker's conflict messages unless `force` allows it. Untagged
    /// parents left dangling go too, as Docker does.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        users: &dyn Fn(&Digest) -> Vec<ImageUser>,
    ) -> Result<Vec<Removed>> {
        let id = self.resolve(name_or_id)?;
        let by_reference = Reference::parse_tagged(name_or_id).ok().filter(|r| {
            let state = self.state.lock().expect("image state");
            state.tags.get(r) == Some(&id)
        });
        let image = self.get(&id)?;
        let short = short_id(&id).to_string();
        let using = users(&id);
        let mut removed = Vec::new();

        if let Some(r) = &by_reference {
            if image.repo_tags.len() > 1 || (!using.is_empty() && force) {
                self.untag(r)?;
                return Ok(vec![Removed::Untagged(r.familiar())]);
            }
            if let Some(u) = using.first() {
                return Err(ImageError::Conflict(format!(
                    "unable to remove repository reference \"{name_or_id}\" (must force) - container {} is using its referenced image {short}",
                    &u.container_id[..u.container_id.len().min(12)]
                )));
            }
        } else {
            if let Some(u) = using.iter().find(|u| u.running) {
                return Err(ImageError::Conflict(format!(
                    "unable to delete {short} (cannot be forced) - image is being used by running container {}",
                    &u.container_id[..u.container_id.len().min(12)]
                )));
            }
            if let (Some(u), false) = (using.first(), force) {
                return Err(ImageError::Conflict(format!(
                    "unable to delete {short} (must be forced) - image is being used by stopped container {}",
                    &u.container_id[..u.container_id.len().min(12)]
                )));
            }
            if image.repo_tags.len() > 1 && !force {
                return Err(ImageError::Conflict(format!(
                    "unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                )));
            }
        }
        if !self.children(&id).is_empty() {
            if by_reference.is_none() {
                return Err(ImageError::Conflict(format!("unable to delete {short} (cannot be forced) - image has dependent child images")));
            }
            for t in &image.repo_tags {
                self.untag(t)?;
                removed.push(Removed::Untagged(t.familiar()));
            }
            return Ok(removed);
        }
        for t in &image.repo_tags {
            self.untag(t)?;
            removed.push(Removed::Untagged(t.familiar()));
        }
        if !using.is_empty() {
            // Forced while a stopped container uses it: the tags go, the image stays.
            return Ok(removed);
        }
        let mut next = Some(id);
        while let Some(current) = next.take() {
            let parent = self.delete_image(&current)?;
            removed.push(Removed::Deleted(current));
            if let Some(p) = parent {
                let dangling = self
                    .get(&p)
                    .map(|i| i.repo_tags.is_empty())
                    .unwrap_or(false);
                if dangling && self.children(&p).is_empty() && users(&p).is_empty() {
                    next = Some(p);
                }
            }
        }
        Ok(removed)
    }

    /// Drops an untagged, childless image: its record, config blob and layer reference.
    fn delete_image(&self, id: &Digest) -> Result<Option<Digest>> {
        let mut state = self.state.lock().expect("image state");
        let record = state
            .images
            .remove(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        drop(state);
        let dir = self.root.join("imagedb").join(id.hex());
        std::fs::remove_dir_all(&dir).map_err(io("remove", &dir))?;
        self.content.delete(id)?;
        if let Some(top) = &record.top_layer {
            self.release_layers(top)?;
        }
        Ok(record.parent)
    }

    /// Registers a layer (gzip, zstd or plain) and keeps its uncompressed tar as a blob named by
    /// its diff ID, in the same pass: the layer store rebuilds a tar from the filesystem, which
    /// reproduces the diff ID only for tars berth wrote itself, so `save` needs the original.
    pub fn register_layer(&self, parent: Option<&Digest>, input: impl Read) -> Result<Layer> {
        let (_, plain) =
            decompress(input).map_err(|e| ImageError::Archive(format!("read layer: {e}")))?;
        let mut spool = self.content.spool()?;
        let layer = self.layers.register(
            parent,
            Tee {
                inner: plain,
                copy: &mut spool,
            },
        )?;
        if let Err(e) = spool.commit(&layer.diff_id) {
            let _ = self.layers.release(&layer.chain_id);
            return Err(e);
        }
        Ok(layer)
    }

    /// Drops a reference on `top`; the tar blobs of layers that went with it are deleted once no
    /// remaining layer has their diff ID.
    pub fn release_layers(&self, top: &Digest) -> Result<()> {
        let mut chain = Vec::new();
        let mut next = Some(top.clone());
        while let Some(layer) = next.and_then(|c| self.layers.get(&c)) {
            next = layer.parent.clone();
            chain.push(layer);
        }
        let removed = self.layers.release(top)?;
        let remaining: HashSet<Digest> =
            self.layers.list().into_iter().map(|l| l.diff_id).collect();
        for layer in chain.iter().filter(|l| removed.contains(&l.chain_id)) {
            if !remaining.contains(&layer.diff_id) {
                self.content.delete(&layer.diff_id)?;
            }
        }
        Ok(())
    }

    /// Deletes blobs nothing refers to: neither an image's config nor a layer's tar.
    pub fn gc_blobs(&self) -> Result<Vec<Digest>> {
        let mut keep: HashSet<Digest> = self
            .state
            .lock()
            .expect("image state")
            .images
            .keys()
            .cloned()
            .collect();
        keep.extend(self.layers.list().into_iter().map(|l| l.diff_id));
        self.content.gc(&keep)
    }

    /// `docker image prune`: removes dangling images (no tag, no child, unused); with `all`,
    /// every unused image without children. Returns the deleted IDs and the bytes freed.
    pub fn prune(
        &self,
        all: bool,
        users: &dyn Fn(&Digest) -> Vec<ImageUser>,
    ) -> Result<(Vec<Digest>, u64)> {
        let mut deleted = Vec::new();
        let mut freed = 0;
        loop {
            let candidates: Vec<Image> = self
                .list()
                .into_iter()
                .filter(|i| {
                    (all || i.repo_tags.is_empty())
                        && self.children(&i.id).is_empty()
                        && users(&i.id).is_empty()
                })
                .collect();
            if candidates.is_empty() {
                return Ok((deleted, freed));
            }
            for image in candidates {
                let before: u64 = self.layers.list().iter().map(|l| l.size).sum();
                for t in &image.repo_tags {
                    self.untag(t)?;
                }
                self.delete_image(&image.id)?;
                let after: u64 = self.layers.list().iter().map(|l| l.size).sum();
                freed += before.saturating_sub(after);
                deleted.push(image.id);
            }
        }
    }
}

/// The chain ID of the top layer of `diff_ids`.
pub fn chain_of(diff_ids: &[Digest]) -> Option<Digest> {
    diff_ids
        .iter()
        .fold(None, |parent, d| Some(Digest::chain(parent.as_ref(), d)))
}

/// Copies what is read through it into `copy`.
struct Tee<'a, R> {
    inner: R,
    copy: &'a mut crate::content::Spool,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(io("create", path))?;
    f.write_all(bytes).map_err(io("write", path))?;
    f.sync_all().map_err(io("sync", path))
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct RepositoriesFile {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}
