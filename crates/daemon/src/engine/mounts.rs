//! Volumes and other mounts of containers: resolved at create (named volumes made, anonymous
//! ones named), made ready at each start (bind sources created, volumes mounted and filled
//! by copy-up), released at the exit, and anonymous volumes removed with the container.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use berth_volume::spec::{parse_volumes_from, MountKind, MountPoint, Origin, SpecInput};
use berth_volume::{ErrorKind, VolumeError, ANONYMOUS_LABEL};
use bollard_stubs::models::{ContainerCreateBody, HostConfig};
use serde_json::Value;

use super::container::{Container, Handle};
use super::Daemon;
use crate::error::{ApiError, ApiResult};

impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> ApiError {
        match e.kind() {
            ErrorKind::InvalidParameter => ApiError::BadRequest(e.to_string()),
            ErrorKind::NotFound => ApiError::NotFound(e.to_string()),
            ErrorKind::Conflict => ApiError::Conflict(e.to_string()),
            ErrorKind::System => ApiError::Internal(e.to_string()),
        }
    }
}

impl Daemon {
    /// The container's mounts from its create request, with the volumes they name made (a
    /// named one if missing, anonymous ones always). HostConfig.Tmpfs mounts stay the spec's.
    pub(super) fn resolve_mounts(
        &self,
        config: &ContainerCreateBody,
        host: &HostConfig,
    ) -> ApiResult<Vec<MountPoint>> {
        let mut volumes_from = Vec::new();
        for spec in host.volumes_from.iter().flatten() {
            let (name, rw) = parse_volumes_from(spec)?;
            let other = self.find(&name)?;
            let mounts = other.lock().mounts.clone();
            volumes_from.push((mounts, rw));
        }
        let mounts = parse_mounts_of(config, host, &volumes_from)?;
        let mut made = Vec::new();
        for m in &mounts {
            let MountKind::Volume {
                name,
                anonymous,
                driver_opts,
                labels,
                ..
            } = &m.kind
            else {
                continue;
            };
            if m.origin == Origin::VolumesFrom || self.volumes.get(name).is_ok() {
                continue;
            }
            let mut labels = labels.clone();
            if *anonymous {
                labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
            }
            match self.volumes.create(Some(name), driver_opts, &labels) {
                Ok(_) => made.push(name.clone()),
                Err(e) => {
                    for name in made {
                        let _ = self.volumes.remove(&name);
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(mounts
            .into_iter()
            .filter(|m| m.origin != Origin::Tmpfs)
            .collect())
    }

    /// Makes every mount ready for a start and returns their OCI entries. Bind sources that
    /// `-v` may create are created; volumes are acquired (mounted if they have driver options)
    /// and, when empty, filled from the image at their destination. On failure what was
    /// acquired is released.
    pub(super) fn mounts_up(
        &self,
        h: &Handle,
        c: &Container,
        rootfs: &std::path::Path,
    ) -> ApiResult<Vec<Value>> {
        let mut out = Vec::new();
        let mut held = Vec::new();
        let result = (|| -> ApiResult<()> {
            for m in &c.mounts {
                let source = match &m.kind {
                    MountKind::Bind {
                        source,
                        create_missing,
                        ..
                    } => {
                        if *create_missing && !source.exists() {
                            std::fs::create_dir_all(source).map_err(|e| {
                                ApiError::internal(format!(
                                    "error while creating mount source path '{}': {e}",
                                    source.display()
                                ))
                            })?;
                        }
                        source.clone()
                    }
                    MountKind::Volume { name, .. } => {
                        let path = self.volumes.acquire(name)?;
                        held.push(name.clone());
                        if m.copies_up() {
                            berth_volume::copyup::copy_up_in_root(rootfs, &m.destination, &path)?;
                        }
                        path
                    }
                    MountKind::Tmpfs { .. } => PathBuf::new(),
                };
                // The mount point, made inside the rootfs (through the image's symlinks, but
                // never out of it); a file bind gets only its directory, the runtime the file.
                let point = if source.is_file() {
                    std::path::Path::new(&m.destination)
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default()
                } else {
                    m.destination.clone()
                };
                crate::spec::rootfs::mkdir_all_following(rootfs, &point, 0o755).map_err(|e| {
                    ApiError::BadRequest(format!(
                        "cannot make mount point {} in the container: {e}",
                        m.destination
                    ))
                })?;
                out.push(serde_json::to_value(m.oci(&source)).map_err(ApiError::internal)?);
            }
            Ok(())
        })();
        if let Err(e) = result {
            for name in held {
                let _ = self.volumes.release(&name);
            }
            return Err(e);
        }
        for m in &c.mounts {
            if let Some(name) = m.volume_name() {
                self.events
                    .publish(volume_event("mount", name, Some((&c.id, Some(m)))));
            }
        }
        *h.volumes_held.lock().expect("volumes lock") = held;
        Ok(out)
    }

    /// Ends the container's use of its volumes (at its exit or failed start).
    pub(super) fn mounts_down(&self, h: &Handle) {
        let held = std::mem::take(&mut *h.volumes_held.lock().expect("volumes lock"));
        for name in held {
            if let Err(e) = self.volumes.release(&name) {
                tracing::warn!("releasing volume {name} of {}: {e}", h.id);
            }
            self.events
                .publish(volume_event("unmount", &name, Some((&h.id, None))));
        }
    }

    /// A running container found at daemon start holds its volumes again.
    pub(super) fn mounts_readopt(&self, h: &Handle) {
        let names: Vec<String> = h
            .lock()
            .mounts
            .iter()
            .filter_map(|m| m.volume_name().map(str::to_string))
            .collect();
        let mut held = Vec::new();
        for name in names {
            match self.volumes.acquire(&name) {
                Ok(_) => held.push(name),
                Err(e) => tracing::warn!("re-acquiring volume {name} of {}: {e}", h.id),
            }
        }
        *h.volumes_held.lock().expect("volumes lock") = held;
    }

    /// The containers (any state) whose mounts name volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<Arc<Handle>> {
        self.all()
            .into_iter()
            .filter(|h| {
                h.lock()
                    .mounts
                    .iter()
                    .any(|m| m.volume_name() == Some(name))
            })
            .collect()
    }

    /// `rm -v` and `--rm`: the container's anonymous volumes go, unless another container
    /// (through --volumes-from) still uses one.
    pub fn remove_anonymous_volumes(&self, c: &Container) {
        for m in &c.mounts {
            let MountKind::Volume {
                name,
                anonymous: true,
                ..
            } = &m.kind
            else {
                continue;
            };
            if m.origin == Origin::VolumesFrom
                || self.volume_users(name).iter().any(|h| h.id != c.id)
            {
                continue;
            }
            if let Err(e) = self.volumes.remove(name) {
                tracing::warn!("removing anonymous volume {name} of {}: {e}", c.id);
            }
        }
    }
}

/// A `volume` event as dockerd sends it; mount events name the container and the mount.
pub fn volume_event(
    action: &str,
    name: &str,
    user: Option<(&str, Option<&MountPoint>)>,
) -> crate::events::Event {
    let mut attributes = BTreeMap::from([("driver".to_string(), "local".to_string())]);
    if let Some((container, mount)) = user {
        attributes.insert("container".into(), container.to_string());
        if let Some(m) = mount {
            attributes.insert("destination".into(), m.destination.clone());
            attributes.insert("read/write".into(), m.rw.to_string());
            attributes.insert(
                "propagation".into(),
                m.propagation.map_or("", |p| p.as_str()).to_string(),
            );
        }
    }
    crate::events::Event::new("volume", action, name, attributes)
}

fn parse_mounts_of(
    config: &ContainerCreateBody,
    host: &HostConfig,
    volumes_from: &[(Vec<MountPoint>, Option<bool>)],
) -> ApiResult<Vec<MountPoint>> {
    let tmpfs = host.tmpfs.clone();
    let input = SpecInput {
        binds: host.binds.as_deref().unwrap_or_default(),
        mounts: host.mounts.as_deref().unwrap_or_default(),
        tmpfs: tmpfs.as_ref(),
        config_volumes: config.volumes.as_deref().unwrap_or_default(),
        image_volumes: &[],
        volumes_from,
    };
    Ok(berth_volume::spec::parse(&input)?)
}

/// The inspect `Mounts` of a container.
pub fn mounts_view(daemon: &Daemon, c: &Container) -> Vec<Value> {
    c.mounts
        .iter()
        .filter_map(|m| {
            let source = match &m.kind {
                MountKind::Bind { source, .. } => source.clone(),
                MountKind::Volume { name, .. } => daemon
                    .volumes
                    .get(name)
                    .map(|v| v.mountpoint)
                    .unwrap_or_default(),
                MountKind::Tmpfs { .. } => PathBuf::new(),
            };
            m.api_json(&source)
        })
        .collect()
}

/// Names of the volumes each container uses, for `volume ls -f dangling` and prune.
pub fn volumes_in_use(daemon: &Daemon) -> BTreeMap<String, usize> {
    let mut used = BTreeMap::new();
    for h in daemon.all() {
        for m in &h.lock().mounts {
            if let Some(name) = m.volume_name() {
                *used.entry(name.to_string()).or_insert(0) += 1;
            }
        }
    }
    used
}
