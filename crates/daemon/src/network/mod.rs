//! berthd's networks: the records (`bridge`, `host`, `none` and user-defined ones), their host
//! side (bridge, nftables rules, embedded DNS server) and each running container's sandbox
//! (network namespace, veths, leases, published ports). Built on the `berth-network` crate.
//!
//! Every method blocks (netlink, nft, fsync'd leases): call them off the async workers.

pub mod etc_files;
mod manage;
pub mod record;
mod restore;
pub mod sandbox;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use berth_network::bridge::{self, BridgeConfig};
use berth_network::dns::{DnsConfig, DnsServer, NameTable};
use berth_network::ipam::{Ipam, Subnet};
use berth_network::netlink::Netlink;
use berth_network::nft::{NatTable, NetworkRules};
use berth_network::ports::Publisher;
use berth_network::sysctl::Sysctl;

use crate::config::NetworkConfig;
use crate::error::ApiError;
use record::{Driver, NetworkRecord};

pub use manage::CreateRequest;
pub use sandbox::{EndpointConfig, Mode, Sandbox};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Ipam(#[from] berth_network::ipam::IpamError),
    #[error(transparent)]
    Bridge(#[from] berth_network::bridge::BridgeError),
    #[error(transparent)]
    Veth(#[from] berth_network::veth::VethError),
    #[error(transparent)]
    Netns(#[from] berth_network::netns::NetnsError),
    #[error(transparent)]
    Nft(#[from] berth_network::nft::NftError),
    #[error(transparent)]
    Ports(#[from] berth_network::ports::PortError),
    #[error(transparent)]
    Link(#[from] berth_network::link::LinkError),
    #[error(transparent)]
    Netlink(#[from] berth_network::netlink::NetlinkError),
    #[error(transparent)]
    Sysctl(#[from] berth_network::sysctl::SysctlError),
    #[error(transparent)]
    Dns(#[from] berth_network::dns::DnsError),
}

impl From<NetError> for ApiError {
    fn from(e: NetError) -> ApiError {
        use berth_network::ipam::IpamError;
        match e {
            NetError::NotFound(_) => ApiError::NotFound(e.to_string()),
            NetError::Exists(_) | NetError::Conflict(_) => ApiError::Conflict(e.to_string()),
            NetError::Invalid(_) => ApiError::BadRequest(e.to_string()),
            NetError::Forbidden(_) => ApiError::Forbidden(e.to_string()),
            NetError::Ipam(
                IpamError::Overlap(..)
                | IpamError::OutOfSubnet(_)
                | IpamError::Reserved(..)
                | IpamError::BadGateway(..)
                | IpamError::SubnetTooSmall(_),
            ) => ApiError::BadRequest(e.to_string()),
            NetError::Ipam(IpamError::InUse(_)) => ApiError::Conflict(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> NetError + 'a {
    move |source| NetError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

pub struct Networks {
    config: NetworkConfig,
    /// `<data-root>/network/networks`: one record per network.
    records_dir: PathBuf,
    /// `<exec-root>/netns`: containers' namespaces, pinned by bind mounts.
    netns_dir: PathBuf,
    records: RwLock<BTreeMap<String, NetworkRecord>>,
    ipam: Mutex<Ipam>,
    netlink: Mutex<Option<Netlink>>,
    publisher: Publisher,
    /// Networks whose bridge, rules and DNS server are up (by id); "" once the table is.
    live: Mutex<HashSet<String>>,
    names: Arc<NameTable>,
    dns: Mutex<HashMap<String, DnsServer>>,
    /// The runtime the DNS servers run on.
    rt: tokio::runtime::Handle,
}

impl Networks {
    /// Loads the records and leases; makes the predefined networks on first start. Touches
    /// nothing on the host: bridges and rules come up when first needed (or in `restore`).
    pub fn open(
        config: NetworkConfig,
        data_root: &Path,
        exec_root: &Path,
    ) -> Result<Networks, NetError> {
        let dir = data_root.join("network");
        let records_dir = dir.join("networks");
        let mut ipam = Ipam::open(&dir.join("ipam"))?;
        let mut records: BTreeMap<String, NetworkRecord> = NetworkRecord::load_all(&records_dir)
            .map_err(io_err("reading", &records_dir))?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            if records.values().any(|r| r.name == name && r.predefined()) {
                continue;
            }
            let record = NetworkRecord {
                id: crate::engine::random_id(),
                name: name.to_string(),
                driver,
                created: berth_runtime::shim::time::now(),
                bridge: String::new(),
                subnet: None,
                gateway: None,
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                default_bridge: driver == Driver::Bridge,
            };
            record
                .save(&records_dir)
                .map_err(io_err("saving", &records_dir))?;
            records.insert(record.id.clone(), record);
        }
        let default = records
            .values_mut()
            .find(|r| r.default_bridge)
            .expect("made above");
        configure_default_bridge(default, &config, &mut ipam)?;
        default
            .save(&records_dir)
            .map_err(io_err("saving", &records_dir))?;
        let table = NatTable::new(&config.nft_table)?;
        Ok(Networks {
            records_dir,
            netns_dir: exec_root.join("netns"),
            records: RwLock::new(records),
            ipam: Mutex::new(ipam),
            netlink: Mutex::new(None),
            publisher: Publisher::new(table),
            live: Mutex::new(HashSet::new()),
            names: Arc::new(NameTable::new()),
            dns: Mutex::new(HashMap::new()),
            rt: tokio::runtime::Handle::current(),
            config,
        })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Finds a network as Docker does: full id, exact name, then a unique id prefix.
    pub fn find(&self, name_or_id: &str) -> Result<NetworkRecord, NetError> {
        let records = self.records.read().expect("network records");
        if let Some(r) = records.get(name_or_id) {
            return Ok(r.clone());
        }
        if let Some(r) = records.values().find(|r| r.name == name_or_id) {
            return Ok(r.clone());
        }
        let mut prefixed = records.values().filter(|r| r.id.starts_with(name_or_id));
        match (prefixed.next(), prefixed.next(), name_or_id.is_empty()) {
            (Some(r), None, false) => Ok(r.clone()),
            _ => Err(NetError::NotFound(name_or_id.to_string())),
        }
    }

    pub fn all(&self) -> Vec<NetworkRecord> {
        let mut all: Vec<_> = self
            .records
            .read()
            .expect("network records")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The address pool of a bridge network (subnet, gateway).
    pub fn pool(&self, id: &str) -> Option<(Subnet, Ipv4Addr)> {
        self.ipam().network(id).map(|p| (p.subnet, p.gateway))
    }

    fn ipam(&self) -> MutexGuard<'_, Ipam> {
        self.ipam.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with the daemon's netlink socket (opened at first use).
    fn with_netlink<T>(
        &self,
        f: impl FnOnce(&mut Netlink) -> Result<T, NetError>,
    ) -> Result<T, NetError> {
        let mut guard = self.netlink.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(Netlink::open()?);
        }
        f(guard.as_mut().expect("opened above"))
    }

    /// Brings up what network `record` needs on the host: the nft table (once), the bridge
    /// with its address, the network's rules and, for a user-defined network, its DNS server.
    /// Idempotent and cheap once done.
    pub fn ensure_live(&self, record: &NetworkRecord) -> Result<(), NetError> {
        if record.driver != Driver::Bridge {
            return Ok(());
        }
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.contains(&record.id) {
            return Ok(());
        }
        if !live.contains("") {
            Sysctl::default().enable_ip_forward()?;
            self.publisher.table().ensure()?;
            live.insert(String::new());
        }
        let (subnet, gateway) = self
            .pool(&record.id)
            .ok_or_else(|| NetError::NotFound(record.name.clone()))?;
        self.with_netlink(|nl| {
            bridge::ensure_bridge(
                nl,
                &BridgeConfig {
                    name: record.bridge.clone(),
                    gateway,
                    prefix: subnet.prefix(),
                    mtu: self.config.mtu,
                },
            )?;
            Ok(())
        })?;
        // Published ports over 127.0.0.1 are DNATed to the bridge: the kernel must route them.
        Sysctl::default().enable_route_localnet(&record.bridge)?;
        self.publisher
            .table()
            .add_network(&rules_of(record, subnet))?;
        if record.user_defined() {
            self.start_dns(record, gateway)?;
        }
        live.insert(record.id.clone());
        Ok(())
    }

    fn start_dns(&self, record: &NetworkRecord, gateway: Ipv4Addr) -> Result<(), NetError> {
        let upstreams = if record.internal {
            Vec::new()
        } else {
            let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            etc_files::upstreams(&host)
        };
        let config = DnsConfig::new(
            &record.id,
            vec![SocketAddr::new(gateway.into(), 53)],
            upstreams,
        );
        let server = self
            .rt
            .block_on(DnsServer::start(config, self.names.clone()))?;
        self.dns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(record.id.clone(), server);
        Ok(())
    }

    fn stop_dns(&self, id: &str) {
        let server = self
            .dns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        if let Some(server) = server {
            self.rt.block_on(server.stop());
        }
    }

    /// Takes a user network off the host: DNS server, rules, bridge.
    fn take_down(&self, record: &NetworkRecord) -> Result<(), NetError> {
        self.stop_dns(&record.id);
        let table_up = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.remove(&record.id);
            live.contains("")
        };
        self.names.remove_network(&record.id);
        if table_up {
            self.publisher.table().remove_network(&record.id)?;
        }
        self.with_netlink(|nl| Ok(bridge::remove_bridge(nl, &record.bridge)?))?;
        Ok(())
    }
}

/// The nft rules of a bridge network.
fn rules_of(record: &NetworkRecord, subnet: Subnet) -> NetworkRules {
    NetworkRules {
        name: record.id.clone(),
        bridge: record.bridge.clone(),
        subnet: subnet.network(),
        prefix_len: subnet.prefix(),
        internal: record.internal,
    }
}

/// Points the default network at the configured bridge and subnet. A changed --bip takes
/// effect when no container holds an address on the old subnet.
fn configure_default_bridge(
    record: &mut NetworkRecord,
    config: &NetworkConfig,
    ipam: &mut Ipam,
) -> Result<(), NetError> {
    record.bridge = config.bridge.clone();
    let wanted = (config.bridge_subnet, config.bridge_gateway);
    match ipam
        .network(&record.id)
        .map(|p| (p.subnet, p.gateway, p.leases.len()))
    {
        Some((subnet, gateway, _)) if (subnet, gateway) == wanted => {}
        Some((subnet, _, leases)) if leases > 0 => {
            tracing::warn!(
                "the default bridge keeps subnet {subnet}: {leases} addresses are leased on it"
            );
        }
        Some(_) => {
            ipam.remove_network(&record.id)?;
            ipam.add_network(&record.id, wanted.0, Some(wanted.1))?;
        }
        None => {
            ipam.add_network(&record.id, wanted.0, Some(wanted.1))?;
        }
    }
    let (subnet, gateway) = ipam
        .network(&record.id)
        .map(|p| (p.subnet, p.gateway))
        .expect("registered above");
    record.subnet = Some(subnet.to_string());
    record.gateway = Some(gateway);
    record.options = BTreeMap::from([
        (
            "com.docker.network.bridge.default_bridge".into(),
            "true".into(),
        ),
        (
            "com.docker.network.bridge.name".into(),
            config.bridge.clone(),
        ),
        (
            "com.docker.network.driver.mtu".into(),
            config.mtu.to_string(),
        ),
    ]);
    Ok(())
}
