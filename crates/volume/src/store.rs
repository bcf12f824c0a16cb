//! Named volumes of the local driver: `<root>/<name>/_data` holds the content and
//! `<root>/<name>/volume.json` the name, creation time, labels and driver options, replaced
//! atomically. A volume with driver options has its `_data` mounted (tmpfs, a bind of a host
//! directory, any filesystem) while someone uses it, counted so that it is mounted once and
//! unmounted at the last release.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::localmount::{self, LocalOptions};
use crate::names::{generate_name, rfc3339, validate_name};
use crate::{Result, VolumeError, ANONYMOUS_LABEL};

const META_FILE: &str = "volume.json";
const DATA_DIR: &str = "_data";
/// A volume being removed is first renamed to this prefix, so a crash mid-way never leaves a
/// half-deleted volume that `ls` would show.
const TRASH_PREFIX: &str = ".trash-";

/// A volume as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    /// `<root>/<name>/_data`, what containers mount.
    pub mountpoint: PathBuf,
    /// Seconds since the epoch.
    pub created_at: i64,
    pub labels: BTreeMap<String, String>,
    /// The driver options given at create (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
}

impl Volume {
    pub fn created_at_rfc3339(&self) -> String {
        rfc3339(self.created_at)
    }

    /// Whether the daemon created it for a container (`-v /path`, an image VOLUME).
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// The Engine API's Volume object. `usage` is (size in bytes, number of containers using
    /// it) for `system df`; everywhere else Docker sends null.
    pub fn api_json(&self, usage: Option<(i64, i64)>) -> serde_json::Value {
        json!({
            "Name": self.name,
            "Driver": "local",
            "Mountpoint": self.mountpoint,
            "CreatedAt": self.created_at_rfc3339(),
            "Labels": self.labels,
            "Scope": "local",
            "Options": self.options,
            "UsageData": usage.map(|(size, refs)| json!({"Size": size, "RefCount": refs})),
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    name: String,
    created_at: i64,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

/// Mount state of a volume with driver options.
#[derive(Debug, Default)]
struct Active {
    users: usize,
    mounted: bool,
}

pub struct VolumeStore {
    root: PathBuf,
    active: Mutex<HashMap<String, Active>>,
}

impl VolumeStore {
    /// Opens (creating) the volume root. A volume whose `_data` is still mounted from before a
    /// restart is remembered as mounted with no users: the daemon re-acquires it for the
    /// containers still running, then calls [`VolumeStore::unmount_idle`].
    pub fn open(root: &Path) -> Result<VolumeStore> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o701)
            .create(root)
            .map_err(|e| VolumeError::io("create volume root", root, e))?;
        // The real path: mountinfo shows mount points resolved, and they are compared below.
        let root = root
            .canonicalize()
            .map_err(|e| VolumeError::io("resolve volume root", root, e))?;
        let root = root.as_path();
        let store = VolumeStore {
            root: root.to_path_buf(),
            active: Mutex::new(HashMap::new()),
        };
        let mounts: HashSet<PathBuf> = localmount::mount_points()
            .map_err(|e| VolumeError::io("read", "/proc/self/mountinfo", e))?
            .into_iter()
            .collect();
        let entries = std::fs::read_dir(root).map_err(|e| VolumeError::io("read dir", root, e))?;
        let mut active = store.lock();
        for entry in entries {
            let entry = entry.map_err(|e| VolumeError::io("read dir", root, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TRASH_PREFIX) {
                // An interrupted remove: finish it, unless something is mounted in there.
                let path = entry.path();
                if !mounts.iter().any(|m| m.starts_with(&path)) {
                    std::fs::remove_dir_all(&path)
                        .map_err(|e| VolumeError::io("remove", &path, e))?;
                }
                continue;
            }
            if mounts.contains(&store.data_dir(&name)) {
                active.insert(
                    name,
                    Active {
                        users: 0,
                        mounted: true,
                    },
                );
            }
        }
        drop(active);
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Active>> {
        // A panic while holding the lock leaves counts that are still the truth.
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn volume_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    /// Creates a volume (a generated 64-hex name when `name` is None). Creating an existing
    /// name returns it, as Docker does; but where Docker silently keeps the old options or
    /// labels when new ones differ, berth refuses rather than ignore what was asked.
    pub fn create(
        &self,
        name: Option<&str>,
        driver_opts: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> Result<Volume> {
        let name = match name {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => generate_name(),
        };
        validate_name(&name)?;
        localmount::parse_options(driver_opts)?;
        let _guard = self.lock();
        if let Some(existing) = self.load(&name)? {
            if !driver_opts.is_empty() && &existing.options != driver_opts {
                return Err(VolumeError::Conflict {
                    name,
                    what: "driver options",
                });
            }
            if !labels.is_empty() && &existing.labels != labels {
                return Err(VolumeError::Conflict {
                    name,
                    what: "labels",
                });
            }
            return Ok(existing);
        }
        let dir = self.volume_dir(&name);
        let data = self.data_dir(&name);
        for d in [&dir, &data] {
            match std::fs::DirBuilder::new().mode(0o755).create(d) {
                // A directory without metadata is a create a crash interrupted: reuse it.
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(VolumeError::io("create volume directory", d, e))
                }
                _ => {}
            }
        }
        let meta = Meta {
            name: name.clone(),
            created_at: now(),
            labels: labels.clone(),
            options: driver_opts.clone(),
        };
        let path = dir.join(META_FILE);
        let bytes = serde_json::to_vec_pretty(&meta).expect("metadata serializes");
        berth_runtime::fsutil::write_atomic(&path, &bytes)
            .map_err(|e| VolumeError::io("write", &path, e))?;
        Ok(self.volume_of(meta))
    }

    fn volume_of(&self, meta: Meta) -> Volume {
        Volume {
            mountpoint: self.data_dir(&meta.name),
            name: meta.name,
            created_at: meta.created_at,
            labels: meta.labels,
            options: meta.options,
        }
    }

    /// The volume's metadata, None when there is no such (complete) volume.
    fn load(&self, name: &str) -> Result<Option<Volume>> {
        if validate_name(name).is_err() {
            return Ok(None);
        }
        let path = self.volume_dir(name).join(META_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(VolumeError::io("read", &path, e)),
        };
        let meta: Meta = serde_json::from_slice(&bytes).map_err(|e| VolumeError::Metadata {
            name: name.to_string(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if meta.name != name {
            return Err(VolumeError::Metadata {
                name: name.to_string(),
                path,
                reason: format!("names volume {:?}", meta.name),
            });
        }
        Ok(Some(self.volume_of(meta)))
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        self.load(name)?
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))
    }

    /// Every volume, sorted by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| VolumeError::io("read dir", &self.root, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| VolumeError::io("read dir", &self.root, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(v) = self.load(&name)? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume and its content. Whether a container refers to it is the caller's to
    /// check; the store refuses only while it holds the volume mounted for someone.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut active = self.lock();
        if self.load(name)?.is_none() {
            return Err(VolumeError::NotFound(name.to_string()));
        }
        let data = self.data_dir(name);
        if let Some(a) = active.get(name) {
            if a.users > 0 {
                return Err(VolumeError::InUse(name.to_string()));
            }
            if a.mounted {
                localmount::unmount(&data).map_err(|source| VolumeError::Unmount {
                    name: name.to_string(),
                    path: data.clone(),
                    source,
                })?;
            }
            active.remove(name);
        }
        let dir = self.volume_dir(name);
        // Never recurse into something mounted there: with a bind-typed volume that would
        // delete the host directory's files.
        let mounts = localmount::mount_points()
            .map_err(|e| VolumeError::io("read", "/proc/self/mountinfo", e))?;
        if let Some(m) = mounts.iter().find(|m| m.starts_with(&dir)) {
            return Err(VolumeError::io(
                "remove volume",
                &dir,
                std::io::Error::other(format!("{} is still mounted", m.display())),
            ));
        }
        let trash = self
            .root
            .join(format!("{TRASH_PREFIX}{name}-{}", &generate_name()[..8]));
        std::fs::rename(&dir, &trash).map_err(|e| VolumeError::io("rename", &dir, e))?;
        // std's remove_dir_all does not follow symlinks inside the tree.
        std::fs::remove_dir_all(&trash).map_err(|e| VolumeError::io("remove", &trash, e))
    }

    /// Makes the volume ready for a container and returns the host path to mount: a volume
    /// with driver options is mounted by its first user. Each acquire needs a release.
    pub fn acquire(&self, name: &str) -> Result<PathBuf> {
        let mut active = self.lock();
        let vol = self.get(name)?;
        let state = active.entry(name.to_string()).or_default();
        if !state.mounted {
            if let Some(opts) = localmount::parse_options(&vol.options)? {
                mount_volume(name, &opts, &vol.mountpoint)?;
                state.mounted = true;
            }
        }
        state.users += 1;
        Ok(vol.mountpoint)
    }

    /// Ends one use; the last one unmounts a volume with driver options. If the unmount fails
    /// the use is kept, so the state still says what is mounted.
    pub fn release(&self, name: &str) -> Result<()> {
        let mut active = self.lock();
        let Some(state) = active.get_mut(name) else {
            return Ok(());
        };
        state.users = state.users.saturating_sub(1);
        if state.users == 0 {
            if state.mounted {
                let data = self.data_dir(name);
                if let Err(source) = localmount::unmount(&data) {
                    state.users = 1;
                    return Err(VolumeError::Unmount {
                        name: name.to_string(),
                        path: data,
                        source,
                    });
                }
            }
            active.remove(name);
        }
        Ok(())
    }

    /// How many acquires are outstanding for `name`.
    pub fn users(&self, name: &str) -> usize {
        self.lock().get(name).map_or(0, |a| a.users)
    }

    /// Whether `name`'s `_data` is currently mounted by the store.
    pub fn is_mounted(&self, name: &str) -> bool {
        self.lock().get(name).is_some_and(|a| a.mounted)
    }

    /// Unmounts volumes found mounted at open that nobody acquired since (after the daemon
    /// re-acquired those of running containers). Returns the names it unmounted.
    pub fn unmount_idle(&self) -> Result<Vec<String>> {
        let mut active = self.lock();
        let idle: Vec<String> = active
            .iter()
            .filter(|(_, a)| a.users == 0 && a.mounted)
            .map(|(n, _)| n.clone())
            .collect();
        for name in &idle {
            let data = self.data_dir(name);
            localmount::unmount(&data).map_err(|source| VolumeError::Unmount {
                name: name.clone(),
                path: data,
                source,
            })?;
            active.remove(name);
        }
        Ok(idle)
    }

    /// Bytes of content in the volume, each hard-linked file counted once, symlinks as their
    /// own size and never followed (what `system df` shows).
    pub fn usage_size(&self, name: &str) -> Result<u64> {
        let vol = self.get(name)?;
        let mut seen = HashSet::new();
        dir_size(&vol.mountpoint, &mut seen)
    }
}

fn mount_volume(name: &str, opts: &LocalOptions, data: &Path) -> Result<()> {
    localmount::mount(opts, data).map_err(|source| VolumeError::Mount {
        name: name.to_string(),
        path: data.to_path_buf(),
        source,
    })
}

fn dir_size(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> Result<u64> {
    let mut total = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // Gone in between: it has no size.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(VolumeError::io("read dir", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| VolumeError::io("read dir", dir, e))?;
        let path = entry.path();
        let md = match std::fs::symlink_metadata(&path) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(VolumeError::io("stat", &path, e)),
        };
        if md.is_dir() {
            total += dir_size(&path, seen)?;
        } else if seen.insert((md.dev(), md.ino())) {
            total += md.len();
        }
    }
    Ok(total)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
