//! The container lifecycle's side of networking: the sandbox comes up before the shim is
//! spawned and goes down when the container has exited (or failed to start).

use std::path::PathBuf;

use super::container::{Container, Handle};
use super::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::network::sandbox::{etc_mounts, Joiner};
use crate::network::Mode;
use crate::spec::{self, NetworkSetup};

/// The container as the network code sees it.
fn joiner<'a>(
    c: &'a Container,
    dir: &'a std::path::Path,
    hostname: &'a str,
    networks: &'a std::collections::BTreeMap<String, crate::network::EndpointConfig>,
) -> Joiner<'a> {
    Joiner {
        id: &c.id,
        name: &c.name,
        hostname,
        domainname: c.config.domainname.as_deref().unwrap_or(""),
        host: &c.host_config,
        exposed_ports: c.config.exposed_ports.as_deref().unwrap_or_default(),
        networks,
        dir,
    }
}

/// What the runtime spec needs to know of the container's network.
pub(super) struct NetPlan {
    pub setup: NetworkSetup,
    pub netns: Option<PathBuf>,
    pub etc_mounts: Vec<(PathBuf, &'static str)>,
}

impl Daemon {
    /// Prepares the container's network namespace for its start and records the sandbox.
    pub(super) fn network_up(&self, h: &Handle, c: &Container) -> ApiResult<NetPlan> {
        let private = |netns, etc| NetPlan {
            setup: NetworkSetup::Private,
            netns,
            etc_mounts: etc,
        };
        match Mode::of(&c.host_config) {
            Mode::Host => Ok(NetPlan {
                setup: NetworkSetup::Host,
                netns: None,
                etc_mounts: Vec::new(),
            }),
            Mode::None => Ok(private(None, Vec::new())),
            Mode::Container(other) => {
                let target = self.find(&other)?;
                let t = target.lock();
                if !t.state.status.is_alive() {
                    return Err(ApiError::Conflict(format!(
                        "cannot join network of a non running container: {}",
                        t.id
                    )));
                }
                if spec::network_setup(&t.host_config)? == NetworkSetup::Host {
                    return Ok(NetPlan {
                        setup: NetworkSetup::Host,
                        netns: None,
                        etc_mounts: Vec::new(),
                    });
                }
                Ok(match &t.sandbox {
                    Some(s) => private(Some(s.netns.clone()), etc_mounts(&target.dir)),
                    None => private(
                        Some(PathBuf::from(format!("/proc/{}/ns/net", t.state.pid))),
                        Vec::new(),
                    ),
                })
            }
            Mode::Networks(_) if c.networks.is_empty() => Ok(private(None, Vec::new())),
            Mode::Networks(primary) => {
                let primary = self
                    .networks
                    .find(&primary)
                    .map(|r| r.name)
                    .unwrap_or(primary);
                let hostname = spec::container_hostname(&c.config, &c.host_config, &c.id);
                let joiner = joiner(c, &h.dir, &hostname, &c.networks);
                let sandbox = self.networks.setup(&joiner, &primary)?;
                self.network_events("connect", &c.id, &sandbox);
                let netns = sandbox.netns.clone();
                // Recorded with the start's own save of the record (one fsync fewer on the start
                // path); a crash before that leaves nothing restore would not sweep.
                h.lock().sandbox = Some(sandbox);
                Ok(private(Some(netns), etc_mounts(&h.dir)))
            }
        }
    }

    /// Releases the container's sandbox, if it has one. Blocking.
    pub(super) fn network_down(&self, h: &Handle) {
        // Taken in memory only: the exit (or failed start) the caller records next saves it.
        let sandbox = h.lock().sandbox.take();
        if let Some(sandbox) = sandbox {
            self.networks.teardown(&h.id, &sandbox);
            self.network_events("disconnect", &h.id, &sandbox);
        }
    }

    /// Docker's network connect/disconnect events for a container's start and stop.
    fn network_events(&self, action: &str, container: &str, sandbox: &crate::network::Sandbox) {
        for ep in sandbox.endpoints.values() {
            if let Ok(record) = self.networks.find(&ep.network_id) {
                self.events
                    .publish(network_event(action, &record, container));
            }
        }
    }
}

impl Daemon {
    /// The running containers with an interface on network `id`, with that interface.
    pub fn network_users(
        &self,
        id: &str,
    ) -> Vec<(std::sync::Arc<Handle>, crate::network::sandbox::Endpoint)> {
        self.all()
            .into_iter()
            .filter_map(|h| {
                let ep = {
                    let c = h.lock();
                    if !c.state.status.is_alive() {
                        return None;
                    }
                    c.sandbox
                        .as_ref()?
                        .endpoints
                        .values()
                        .find(|e| e.network_id == id)
                        .cloned()?
                };
                Some((h, ep))
            })
            .collect()
    }

    /// `docker network connect`: records the network and, on a running container, adds the
    /// interface now.
    pub async fn connect(
        self: &std::sync::Arc<Self>,
        network: crate::network::record::NetworkRecord,
        h: &std::sync::Arc<Handle>,
        config: crate::network::EndpointConfig,
    ) -> ApiResult<()> {
        let _op = h.op.lock().await;
        // The prepared start was made for the old settings.
        self.discard_prepared(h).await;
        let c = h.snapshot();
        if !matches!(Mode::of(&c.host_config), Mode::Networks(_)) {
            return Err(ApiError::Forbidden(format!(
                "container {} shares the {} network namespace and cannot be connected to other networks",
                c.name,
                c.host_config.network_mode.as_deref().unwrap_or("")
            )));
        }
        if network.driver != crate::network::record::Driver::Bridge {
            return Err(ApiError::Forbidden(format!(
                "container cannot be disconnected from host network or connected to {} network",
                network.name
            )));
        }
        if c.networks.contains_key(&network.name) {
            return Err(ApiError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.name, network.name
            )));
        }
        let daemon = self.clone();
        let handle = h.clone();
        let name = network.name.clone();
        tokio::task::spawn_blocking(move || daemon.connect_blocking(&handle, &name, config))
            .await
            .map_err(ApiError::internal)??;
        self.events
            .publish(network_event("connect", &network, &h.id));
        Ok(())
    }

    fn connect_blocking(
        &self,
        h: &Handle,
        network: &str,
        config: crate::network::EndpointConfig,
    ) -> ApiResult<()> {
        let c = h.snapshot();
        let live = c.state.status.is_alive();
        match (&c.sandbox, live) {
            (Some(sandbox), true) => {
                let mut sandbox = sandbox.clone();
                let mut networks = c.networks.clone();
                networks.insert(network.to_string(), config.clone());
                let hostname = spec::container_hostname(&c.config, &c.host_config, &c.id);
                let joiner = joiner(&c, &h.dir, &hostname, &networks);
                let ns = berth_network::netns::NetNs::open(&sandbox.netns)
                    .map_err(crate::network::NetError::from)?;
                self.networks
                    .join(&joiner, &ns, &mut sandbox, network, &config)?;
                if let Err(e) = self.networks.write_etc_files(&joiner, &sandbox) {
                    tracing::warn!("rewriting hosts of {}: {e}", c.id);
                }
                h.update(|c| {
                    c.networks = networks;
                    c.sandbox = Some(sandbox);
                });
            }
            (None, true) => {
                return Err(ApiError::Conflict(format!(
                    "container {} runs without a network namespace of berth's; restart it to connect it",
                    c.name
                )))
            }
            (_, false) => h.update(|c| {
                c.networks.insert(network.to_string(), config);
            }),
        }
        Ok(())
    }

    /// `docker network disconnect`.
    pub async fn disconnect(
        self: &std::sync::Arc<Self>,
        network: crate::network::record::NetworkRecord,
        h: &std::sync::Arc<Handle>,
    ) -> ApiResult<()> {
        let _op = h.op.lock().await;
        // The prepared start was made for the old settings.
        self.discard_prepared(h).await;
        let c = h.snapshot();
        if !c.networks.contains_key(&network.name) {
            return Err(ApiError::Forbidden(format!(
                "container {} is not connected to network {}",
                c.id, network.name
            )));
        }
        let daemon = self.clone();
        let handle = h.clone();
        let name = network.name.clone();
        tokio::task::spawn_blocking(move || {
            let c = handle.snapshot();
            let mut sandbox = c.sandbox.clone();
            if let Some(s) = sandbox.as_mut().filter(|_| c.state.status.is_alive()) {
                daemon.networks.leave(s, &name);
                let hostname = spec::container_hostname(&c.config, &c.host_config, &c.id);
                let joiner = joiner(&c, &handle.dir, &hostname, &c.networks);
                if let Err(e) = daemon.networks.write_etc_files(&joiner, s) {
                    tracing::warn!("rewriting hosts of {}: {e}", c.id);
                }
            }
            handle.update(|c| {
                c.networks.remove(&name);
                c.sandbox = sandbox;
            });
        })
        .await
        .map_err(ApiError::internal)?;
        self.events
            .publish(network_event("disconnect", &network, &h.id));
        Ok(())
    }
}

/// A `network` event as Docker sends it: the network as actor, the container as attribute.
pub fn network_event(
    action: &str,
    network: &crate::network::record::NetworkRecord,
    container: &str,
) -> crate::events::Event {
    let mut attributes = std::collections::BTreeMap::from([
        ("name".to_string(), network.name.clone()),
        ("type".to_string(), network.driver.as_str().to_string()),
    ]);
    if !container.is_empty() {
        attributes.insert("container".into(), container.to_string());
    }
    crate::events::Event::new("network", action, &network.id, attributes)
}
