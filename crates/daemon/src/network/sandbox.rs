//! A container's side of networking: which networks it asked for (recorded at create), and
//! while it runs its sandbox: a network namespace pinned under the exec root, one veth per
//! network, the leased addresses, the published ports and the DNS names.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_network::netns::{self, NetNs};
use berth_network::nft::PortRule;
use berth_network::ports::PortRequest;
use berth_network::veth::{self, AttachRequest};
use bollard_stubs::models::{HostConfig, NetworkingConfig};
use serde::{Deserialize, Serialize};

use super::record::{Driver, NetworkRecord};
use super::{io_err, NetError, Networks};

/// A network the container joins, as asked at create or connect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointConfig {
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`.
    #[serde(default)]
    pub ipv4_address: Option<Ipv4Addr>,
}

/// The container's interface on one network while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub host_ifname: String,
    /// `eth<index>` inside.
    pub index: u8,
    /// The names registered in the network's DNS.
    #[serde(default)]
    pub dns_names: Vec<String>,
}

/// Everything a running container holds on the host's side, recorded so that a restarted
/// berthd can take it over or clean it up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub netns: PathBuf,
    /// By network name.
    pub endpoints: BTreeMap<String, Endpoint>,
    pub ports: Vec<PortRule>,
}

/// The network mode of HostConfig.NetworkMode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Host,
    None,
    /// `container:<name|id>`: the other container's namespace.
    Container(String),
    /// Bridge networks: the default one or a named one.
    Networks(String),
}

impl Mode {
    pub fn of(host: &HostConfig) -> Mode {
        match host.network_mode.as_deref().unwrap_or("") {
            "" | "default" | "bridge" => Mode::Networks("bridge".into()),
            "host" => Mode::Host,
            "none" => Mode::None,
            m => match m.strip_prefix("container:") {
                Some(other) => Mode::Container(other.to_string()),
                None => Mode::Networks(m.to_string()),
            },
        }
    }
}

/// What the container needs from the host to join a network: who it is and what it asked.
pub struct Joiner<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub hostname: &'a str,
    pub domainname: &'a str,
    pub host: &'a HostConfig,
    pub exposed_ports: &'a [String],
    pub networks: &'a BTreeMap<String, EndpointConfig>,
    /// The container's directory: hosts and resolv.conf go there.
    pub dir: &'a Path,
}

impl Networks {
    /// The networks a new container joins, from its network mode and the create request's
    /// endpoint settings. Unknown networks are Docker's 404.
    pub fn endpoints_for_create(
        &self,
        host: &HostConfig,
        networking: Option<&NetworkingConfig>,
    ) -> Result<BTreeMap<String, EndpointConfig>, NetError> {
        let asked = networking
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default();
        let mode = Mode::of(host);
        let primary = match &mode {
            Mode::Networks(name) => name.clone(),
            Mode::Host | Mode::None | Mode::Container(_) => {
                let own = host.network_mode.clone().unwrap_or_default();
                if let Some(other) = asked.keys().find(|k| **k != own && k.as_str() != "default") {
                    return Err(NetError::Invalid(format!(
                        "container cannot be connected to network {other} in network mode {own}"
                    )));
                }
                return Ok(BTreeMap::new());
            }
        };
        let mut out = BTreeMap::new();
        let mut wanted: Vec<(String, Option<&bollard_stubs::models::EndpointSettings>)> =
            vec![(primary.clone(), None)];
        for (name, ep) in &asked {
            let name = if name == "default" {
                "bridge"
            } else {
                name.as_str()
            };
            match wanted.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = Some(ep),
                None => wanted.push((name.to_string(), Some(ep))),
            }
        }
        for (name, ep) in wanted {
            // A 400, not a 404: the docker CLI answers a 404 to create by pulling the image.
            let record = self.find(&name).map_err(|e| match e {
                NetError::NotFound(n) => NetError::Invalid(format!("network {n} not found")),
                other => other,
            })?;
            if record.driver != Driver::Bridge {
                return Err(NetError::Invalid(format!(
                    "container cannot be connected to the {} network together with others",
                    record.name
                )));
            }
            let config = endpoint_config(&record, ep)?;
            out.insert(record.name.clone(), config);
        }
        Ok(out)
    }

    /// Sets up the container's sandbox before its start: namespace, an interface on every
    /// network in `joiner.networks` (the primary one, `primary`, first), published ports,
    /// hosts and resolv.conf. On failure nothing is left.
    pub fn setup(&self, joiner: &Joiner<'_>, primary: &str) -> Result<Sandbox, NetError> {
        let t0 = std::time::Instant::now();
        let netns = self.netns_dir.join(joiner.id);
        // A namespace left by a crash for this very container is stale.
        netns::remove_path(&netns)?;
        let ns = NetNs::create(&self.netns_dir, joiner.id)?;
        let mut sandbox = Sandbox {
            netns: ns.path().to_path_buf(),
            ..Sandbox::default()
        };
        let made = t0.elapsed();
        let result = (|| {
            // berth's networks are IPv4 only: no IPv6 (not even link-local) inside, as Docker
            // does for networks without IPv6.
            ns.run(disable_ipv6)?
                .map_err(io_err("disabling IPv6 in", &sandbox.netns))?;
            let mut order: Vec<&String> = joiner.networks.keys().collect();
            order.sort_by_key(|n| (n.as_str() != primary, n.as_str()));
            for name in order {
                self.join(joiner, &ns, &mut sandbox, name, &joiner.networks[name])?;
            }
            let joined = t0.elapsed();
            self.publish(joiner, &mut sandbox, primary)?;
            self.write_etc_files(joiner, &sandbox)?;
            tracing::debug!(
                "sandbox of {}: namespace {made:?}, joined {joined:?}, ready {:?}",
                joiner.id,
                t0.elapsed()
            );
            Ok(())
        })();
        if let Err(e) = result {
            self.teardown(joiner.id, &sandbox);
            return Err(e);
        }
        Ok(sandbox)
    }

    /// Adds an interface on network `name` to a sandbox (at setup, or `network connect` on a
    /// running container).
    pub fn join(
        &self,
        joiner: &Joiner<'_>,
        ns: &NetNs,
        sandbox: &mut Sandbox,
        name: &str,
        config: &EndpointConfig,
    ) -> Result<(), NetError> {
        let record = self
            .find(&config.network_id)
            .map_err(|_| NetError::NotFound(name.to_string()))?;
        self.ensure_live(&record)?;
        let ip = self
            .ipam()
            .allocate(&record.id, joiner.id, config.ipv4_address)?;
        let (subnet, gateway) = self
            .pool(&record.id)
            .ok_or_else(|| NetError::NotFound(name.to_string()))?;
        let index = (0u8..)
            .find(|i| !sandbox.endpoints.values().any(|e| e.index == *i))
            .expect("fewer than 256 endpoints");
        let request = AttachRequest {
            container_id: joiner.id,
            index,
            bridge: &record.bridge,
            netns: ns,
            ip,
            prefix: subnet.prefix(),
            gateway,
            mtu: self.config.mtu,
        };
        let attached = self.with_netlink(|nl| match veth::attach(nl, &request) {
            // The pair of this container's previous run, whose namespace the kernel has not
            // finished destroying (see `teardown`): remove it now and try again.
            Err(e) if e.errno() == Some(libc::EEXIST) => {
                veth::detach(nl, &veth::host_ifname(joiner.id, index)?)?;
                Ok(veth::attach(nl, &request)?)
            }
            other => Ok(other?),
        });
        let attached = match attached {
            Ok(a) => a,
            Err(e) => {
                let _ = self.ipam().release(&record.id, ip);
                return Err(e);
            }
        };
        let mut endpoint = Endpoint {
            network_id: record.id.clone(),
            endpoint_id: crate::engine::random_id(),
            ip,
            prefix: subnet.prefix(),
            gateway,
            mac: attached.mac_string(),
            host_ifname: attached.host_ifname.clone(),
            index,
            dns_names: Vec::new(),
        };
        sandbox
            .endpoints
            .insert(record.name.clone(), endpoint.clone());
        berth_network::sysctl::enable_hairpin(&attached.host_ifname)?;
        if record.user_defined() {
            let mut names = vec![joiner.name.to_string(), joiner.id[..12].to_string()];
            names.extend(config.aliases.iter().cloned());
            self.names.register(&record.id, &names, ip);
            endpoint.dns_names = names;
            sandbox.endpoints.insert(record.name.clone(), endpoint);
        }
        Ok(())
    }

    /// Removes one interface from a running sandbox (`network disconnect`).
    pub fn leave(&self, sandbox: &mut Sandbox, name: &str) {
        let Some(ep) = sandbox.endpoints.remove(name) else {
            return;
        };
        if let Err(e) = self.with_netlink(|nl| Ok(veth::detach(nl, &ep.host_ifname)?)) {
            tracing::warn!("removing veth {}: {e}", ep.host_ifname);
        }
        self.release(&ep, name);
    }

    /// Gives back an interface's address and DNS names.
    fn release(&self, ep: &Endpoint, network: &str) {
        self.names.unregister(&ep.network_id, ep.ip);
        if let Err(e) = self.ipam().release(&ep.network_id, ep.ip) {
            tracing::warn!("releasing {} on network {network}: {e}", ep.ip);
        }
    }

    /// Undoes `setup`: ports, leases, names, the namespace. The veths go with the namespace:
    /// the kernel destroys it (and them) in the background once the container's processes are
    /// gone, which spares the exit path the ~10-40 ms a synchronous veth deletion costs. Best
    /// effort: what fails is logged (and a restart's reconcile removes it).
    pub fn teardown(&self, id: &str, sandbox: &Sandbox) {
        let t0 = std::time::Instant::now();
        if !sandbox.ports.is_empty() {
            if let Err(e) = self.publisher.unpublish(id) {
                tracing::warn!("unpublishing the ports of {id}: {e}");
            }
        }
        for (name, ep) in &sandbox.endpoints {
            self.release(ep, name);
        }
        if let Err(e) = netns::remove_path(&sandbox.netns) {
            tracing::warn!("removing network namespace of {id}: {e}");
        }
        tracing::debug!("sandbox of {id} down in {:?}", t0.elapsed());
    }

    /// Publishes -p and -P ports on the primary network's address.
    fn publish(
        &self,
        joiner: &Joiner<'_>,
        sandbox: &mut Sandbox,
        primary: &str,
    ) -> Result<(), NetError> {
        let requests = port_requests(joiner.host, joiner.exposed_ports)?;
        if requests.is_empty() {
            return Ok(());
        }
        let Some(ep) = sandbox.endpoints.get(primary) else {
            return Ok(());
        };
        let record = self.find(&ep.network_id)?;
        if record.internal {
            return Err(NetError::Invalid(format!(
                "ports cannot be published on internal network {}",
                record.name
            )));
        }
        let rules = self
            .publisher
            .publish(joiner.id, ep.ip, &requests)
            .map_err(|e| {
                NetError::Conflict(format!(
                    "driver failed programming external connectivity on endpoint {} ({}): {e}",
                    joiner.name, ep.endpoint_id
                ))
            })?;
        sandbox.ports = rules;
        Ok(())
    }

    /// Writes `<dir>/hosts` and `<dir>/resolv.conf` for the sandbox's addresses.
    pub fn write_etc_files(&self, joiner: &Joiner<'_>, sandbox: &Sandbox) -> Result<(), NetError> {
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let overrides = dns_overrides(joiner.host);
        let mut own: Vec<(u8, Ipv4Addr)> = sandbox
            .endpoints
            .values()
            .map(|e| (e.index, e.ip))
            .collect();
        own.sort();
        let own: Vec<Ipv4Addr> = own.into_iter().map(|(_, ip)| ip).collect();
        let extra = super::etc_files::parse_extra_hosts(
            joiner.host.extra_hosts.as_deref().unwrap_or_default(),
        )?;
        let hosts = super::etc_files::hosts_file(
            &own,
            joiner.hostname,
            joiner.domainname,
            &extra,
            self.config.bridge_gateway,
        );
        // The embedded DNS server of the first user network the container is on (also after a
        // `network connect` of a container started on the default bridge, as in Docker).
        let mut endpoints: Vec<&Endpoint> = sandbox.endpoints.values().collect();
        endpoints.sort_by_key(|e| e.index);
        let primary_user = endpoints
            .iter()
            .filter_map(|e| self.find(&e.network_id).ok().map(|r| (r, e.gateway)))
            .find(|(r, _)| r.user_defined());
        let resolv = match primary_user {
            Some((_, gateway)) => {
                super::etc_files::embedded_resolv_conf(&host_resolv, gateway, &overrides)
            }
            None => super::etc_files::bridge_resolv_conf(&host_resolv, &overrides),
        };
        for (file, text) in [("hosts", hosts), ("resolv.conf", resolv)] {
            let path = joiner.dir.join(file);
            let written = if path.exists() {
                // In place: a running container has this very inode bind-mounted, and a
                // rename would leave it looking at the old one.
                std::fs::write(&path, text.as_bytes())
            } else {
                berth_runtime::fsutil::write_atomic_volatile(&path, text.as_bytes())
            };
            written.map_err(io_err("writing", &path))?;
        }
        Ok(())
    }
}

/// Turns IPv6 off in the calling thread's network namespace, for the interfaces there and those
/// to come.
fn disable_ipv6() -> std::io::Result<()> {
    for key in ["all", "default"] {
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6"), "1")?;
    }
    Ok(())
}

/// The bind mounts giving a networked container its hosts and resolv.conf (from `dir`).
pub fn etc_mounts(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    vec![
        (dir.join("hosts"), "/etc/hosts"),
        (dir.join("resolv.conf"), "/etc/resolv.conf"),
    ]
}

/// A network's endpoint settings from a create request or `network connect`, checked as
/// Docker checks them.
pub fn endpoint_config(
    record: &NetworkRecord,
    ep: Option<&bollard_stubs::models::EndpointSettings>,
) -> Result<EndpointConfig, NetError> {
    let aliases = ep.and_then(|e| e.aliases.clone()).unwrap_or_default();
    let ip = ep
        .and_then(|e| e.ipam_config.as_ref())
        .and_then(|c| c.ipv4_address.clone())
        .filter(|s| !s.is_empty());
    if record.default_bridge && !aliases.is_empty() {
        return Err(NetError::Invalid(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    if record.default_bridge && ip.is_some() {
        return Err(NetError::Invalid(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    let ipv4_address = ip
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| NetError::Invalid(format!("invalid IPv4 address: {s}")))
        })
        .transpose()?;
    Ok(EndpointConfig {
        network_id: record.id.clone(),
        aliases,
        ipv4_address,
    })
}

/// `-p` bindings and, with `-P`, every exposed port on an ephemeral host port.
pub fn port_requests(host: &HostConfig, exposed: &[String]) -> Result<Vec<PortRequest>, NetError> {
    let bad = |e: berth_network::ports::PortError| NetError::Invalid(e.to_string());
    let mut out = Vec::new();
    let bindings = host.port_bindings.clone().unwrap_or_default();
    for (port, list) in &bindings {
        for b in list.iter().flatten() {
            out.push(
                PortRequest::from_binding(
                    port,
                    b.host_ip.as_deref().unwrap_or(""),
                    b.host_port.as_deref().unwrap_or(""),
                )
                .map_err(bad)?,
            );
        }
    }
    if host.publish_all_ports.unwrap_or(false) {
        for port in exposed {
            let published = bindings
                .get(port)
                .is_some_and(|l| l.as_ref().is_some_and(|l| !l.is_empty()));
            if !published {
                out.push(PortRequest::from_binding(port, "", "").map_err(bad)?);
            }
        }
    }
    Ok(out)
}

pub fn dns_overrides(host: &HostConfig) -> super::etc_files::DnsOverrides {
    super::etc_files::DnsOverrides {
        servers: host.dns.clone().unwrap_or_default(),
        search: host.dns_search.clone().unwrap_or_default(),
        options: host.dns_options.clone().unwrap_or_default(),
    }
}

impl Networks {
    /// The checks of the network options that Docker makes at create. Returns its warnings.
    pub fn check_create(
        &self,
        host: &HostConfig,
        exposed_ports: &[String],
        networks: &BTreeMap<String, EndpointConfig>,
    ) -> Result<Vec<String>, NetError> {
        let mut warnings = Vec::new();
        super::etc_files::parse_extra_hosts(host.extra_hosts.as_deref().unwrap_or_default())?;
        let overrides = dns_overrides(host);
        overrides.check()?;
        let ports = port_requests(host, exposed_ports)?;
        match Mode::of(host) {
            Mode::Host if !ports.is_empty() => {
                warnings.push("Published ports are discarded when using host network mode".into())
            }
            Mode::None if !ports.is_empty() => {
                warnings.push("Published ports are discarded when using none network mode".into())
            }
            Mode::Container(_) if !ports.is_empty() => {
                return Err(NetError::Invalid(
                    "conflicting options: port publishing and the container type network mode"
                        .into(),
                ))
            }
            Mode::Container(_) if !overrides.servers.is_empty() => {
                return Err(NetError::Invalid(
                    "conflicting options: dns and the network mode".into(),
                ))
            }
            Mode::Container(_) if !host.extra_hosts.as_deref().unwrap_or_default().is_empty() => {
                return Err(NetError::Invalid(
                    "conflicting options: custom host-to-IP mapping and the network mode".into(),
                ))
            }
            _ => {}
        }
        let on_user_network = networks
            .values()
            .filter_map(|c| self.find(&c.network_id).ok())
            .any(|r| r.user_defined());
        if on_user_network && !overrides.servers.is_empty() {
            return Err(NetError::Invalid(
                "--dns on a user-defined network is not supported by berth yet: its embedded DNS server forwards to the host's resolvers".into(),
            ));
        }
        Ok(warnings)
    }
}
