//! `POST /containers/create`: checks the request, merges the image's config, makes the init
//! and read-write layers, and records the container.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use berth_image::Reference;
use bollard_stubs::models::{ContainerCreateBody, RestartPolicyNameEnum};

use super::container::{Container, Handle, RunState};
use super::{random_id, Daemon};
use crate::error::{ApiError, ApiResult};
use crate::{names, spec};

pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

impl Daemon {
    /// Creates a container from a create request body. Blocking: call off the async workers.
    pub fn create_container(
        self: &Arc<Self>,
        name: Option<&str>,
        body: serde_json::Value,
    ) -> ApiResult<Created> {
        if body.is_null() {
            return Err(ApiError::BadRequest(
                "Config cannot be empty in order to create a container".into(),
            ));
        }
        spec::check_supported(&body)?;
        let mut req: ContainerCreateBody = serde_json::from_value(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid container config: {e}")))?;
        let host = req.host_config.take().unwrap_or_default();
        let networking = req.networking_config.take();

        let image_name = req.image.clone().unwrap_or_default();
        if image_name.is_empty() {
            return Err(ApiError::BadRequest(
                "no image given: set Config.Image".into(),
            ));
        }
        let image_id = self.images.resolve(&image_name).map_err(|e| match e {
            berth_image::ImageError::NotFound(_) => ApiError::NotFound(format!(
                "No such image: {}",
                Reference::parse(&image_name)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| image_name.clone())
            )),
            other => other.into(),
        })?;
        let image = self.images.get(&image_id)?;
        spec::merge_image_config(&mut req, image.config.config.as_ref())?;

        let mut warnings = Vec::new();
        let networks = self
            .networks
            .endpoints_for_create(&host, networking.as_ref())?;
        let exposed: Vec<String> = req.exposed_ports.clone().unwrap_or_default();
        warnings.extend(self.networks.check_create(&host, &exposed, &networks)?);
        if let crate::network::Mode::Container(other) = crate::network::Mode::of(&host) {
            self.find(&other)?;
        }
        let mounts = self.resolve_mounts(&req, &host)?;
        // Bad limits and options fail at create, as in Docker, not at the first start.
        warnings.extend(spec::validate_create(&req, &host, &self.bounding_caps)?);

        let runtime = host
            .runtime
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| self.config.default_runtime.clone());
        if self.config.runtime_path(&runtime).is_none() {
            return Err(ApiError::BadRequest(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        check_restart_policy(&host)?;
        let id = random_id();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !names::valid_name(n) {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                self.reserve_name(n, &id)?;
                n.to_string()
            }
            None => self.generate_name(&id),
        };

        let made = self.make_container(
            &id,
            &name,
            &image_name,
            &image,
            (req, host, networks, mounts.clone()),
            runtime,
        );
        match made {
            Ok(handle) => {
                self.events.container(&handle.lock(), "create", &[]);
                self.insert(handle);
                Ok(Created { id, warnings })
            }
            Err(e) => {
                self.release_name(&name, &id);
                // The anonymous volumes made for it are nobody's.
                for m in &mounts {
                    if let berth_volume::MountKind::Volume {
                        name,
                        anonymous: true,
                        ..
                    } = &m.kind
                    {
                        if m.origin != berth_volume::spec::Origin::VolumesFrom {
                            let _ = self.volumes.remove(name);
                        }
                    }
                }
                Err(e)
            }
        }
    }

    fn generate_name(&self, id: &str) -> String {
        loop {
            let candidate = names::random_name();
            if self.reserve_name(&candidate, id).is_ok() {
                return candidate;
            }
        }
    }

    fn make_container(
        &self,
        id: &str,
        name: &str,
        image_name: &str,
        image: &berth_image::Image,
        (config, host, networks, mounts): (
            ContainerCreateBody,
            bollard_stubs::models::HostConfig,
            std::collections::BTreeMap<String, crate::network::EndpointConfig>,
            Vec<berth_volume::MountPoint>,
        ),
        runtime: String,
    ) -> ApiResult<Arc<Handle>> {
        let hostname = spec::container_hostname(&config, &host, id);
        let domainname = config.domainname.clone().unwrap_or_default();
        let dir = self.containers_dir().join(id);
        std::fs::DirBuilder::new()
            .mode(0o710)
            .create(&dir)
            .map_err(|e| ApiError::internal(format!("create {}: {e}", dir.display())))?;
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let made = (|| {
            self.layers
                .create_container(id, image.top_layer.as_ref(), |root| {
                    spec::write_init_layer(root, &hostname, &domainname, &resolv).map_err(|e| {
                        berth_storage::StorageError::io(
                            "write init layer",
                            root,
                            std::io::Error::other(e.to_string()),
                        )
                    })
                })
                .map_err(ApiError::from)?;
            let mut command = config.entrypoint.clone().unwrap_or_default();
            command.extend(config.cmd.clone().unwrap_or_default());
            let record = Container {
                id: id.to_string(),
                name: name.to_string(),
                created: berth_runtime::shim::time::now(),
                image: image_name.to_string(),
                image_id: image.id.to_string(),
                config,
                host_config: host,
                state: RunState::default(),
                restart_count: 0,
                driver: self.layers.driver().name().to_string(),
                runtime,
                path: command.first().cloned().unwrap_or_default(),
                args: command.iter().skip(1).cloned().collect(),
                networks,
                sandbox: None,
                mounts,
            };
            record
                .save(&dir)
                .map_err(|e| ApiError::internal(format!("saving container {id}: {e}")))?;
            Ok(Handle::new(record, dir.clone()))
        })();
        if made.is_err() {
            if self.layers.container(id).is_ok() {
                let _ = self.layers.remove_container(id);
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        made
    }
}

pub(crate) fn check_restart_policy(host: &bollard_stubs::models::HostConfig) -> ApiResult<()> {
    let Some(policy) = &host.restart_policy else {
        return Ok(());
    };
    let retries = policy.maximum_retry_count.unwrap_or(0);
    let name = policy.name.unwrap_or(RestartPolicyNameEnum::EMPTY);
    let restarts = !matches!(
        name,
        RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO
    );
    if retries < 0 {
        return Err(ApiError::BadRequest(
            "invalid restart policy: maximum retry count cannot be negative".into(),
        ));
    }
    if retries > 0 && name != RestartPolicyNameEnum::ON_FAILURE {
        return Err(ApiError::BadRequest(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'".into(),
        ));
    }
    if restarts && host.auto_remove.unwrap_or(false) {
        return Err(ApiError::BadRequest(
            "conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    Ok(())
}
