//! IPv4 address management: a subnet and gateway per network, leases handed to containers,
//! and subnets for new networks cut from a pool.
//!
//! Leases live in one JSON file per network under a directory the caller gives (berthd:
//! `<root>/network/ipam/`), replaced atomically (temp file, fsync, rename, fsync directory)
//! *before* an allocation is returned, so a crash can never make berth hand out an address it
//! already gave. Allocation walks forward from the last address handed out rather than taking
//! the lowest free one, so an address just released is not reused at once (a peer may still
//! hold it in its ARP cache or DNS answer).
//!
//! No syscalls beyond files: the host's routes come in as a list ([`host_routes`] reads them).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error("invalid subnet {0:?}: want a.b.c.d/len")]
    BadSubnet(String),
    #[error("subnet {0} is too small: berth needs at least a /30")]
    SubnetTooSmall(Subnet),
    #[error("invalid network id {0:?}")]
    BadNetworkId(String),
    #[error("network {0} already has an address pool")]
    NetworkExists(String),
    #[error("no address pool for network {0}")]
    NoSuchNetwork(String),
    #[error("pool overlaps with other one on this address space: {0} overlaps {1}")]
    Overlap(Subnet, String),
    #[error("invalid gateway {0}: it must be a host address of subnet {1}")]
    BadGateway(Ipv4Addr, Subnet),
    #[error("invalid address {0}: it does not belong to any of this network's subnets")]
    OutOfSubnet(Ipv4Addr),
    #[error("address {0} is reserved in subnet {1} (network, gateway or broadcast)")]
    Reserved(Ipv4Addr, Subnet),
    #[error("address already in use: {0}")]
    InUse(Ipv4Addr),
    #[error("no available IPv4 addresses on this network's address pools: {0} ({1})")]
    Exhausted(String, Subnet),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network (pool {0}, /{1} each)")]
    PoolExhausted(Subnet, u8),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("corrupt lease file {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, IpamError>;

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> IpamError {
    let path = path.to_path_buf();
    move |source| IpamError::Io { what, path, source }
}

/// An IPv4 subnet, always stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The subnet containing `addr` with this prefix length (host bits are dropped).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet> {
        if prefix > 32 {
            return Err(IpamError::BadSubnet(format!("{addr}/{prefix}")));
        }
        Ok(Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }

    /// The first host address: the default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let shorter = self.prefix.min(other.prefix);
        u32::from(self.network) & mask(shorter) == u32::from(other.network) & mask(shorter)
    }

    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network && ip != self.broadcast()
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = IpamError;
    /// Parses `a.b.c.d/len`. Like Docker, host bits set in the address are dropped.
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = || IpamError::BadSubnet(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Subnet::new(addr, len).map_err(|_| bad())
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where subnets for new networks come from: `base` cut into `/size` pieces.
/// berth's default is 10.201.0.0/16 in /24s (clear of Docker's and Podman's pools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetPool {
    pub base: Subnet,
    pub size: u8,
}

impl Default for SubnetPool {
    fn default() -> SubnetPool {
        SubnetPool {
            base: Subnet::new(Ipv4Addr::new(10, 201, 0, 0), 16).expect("valid"),
            size: 24,
        }
    }
}

/// The default bridge network's subnet (`berth0`), clear of Docker's 172.17.0.0/16.
pub fn default_bridge_subnet() -> Subnet {
    Subnet::new(Ipv4Addr::new(10, 200, 0, 0), 16).expect("valid")
}

/// One network's pool and leases, as stored in `<dir>/<network id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPool {
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// The address handed out last; the next search starts after it.
    pub last: Option<Ipv4Addr>,
    /// Leased address → owner (a container id, or whatever the caller passes).
    pub leases: BTreeMap<Ipv4Addr, String>,
}

impl NetworkPool {
    fn reserved(&self, ip: Ipv4Addr) -> bool {
        !self.subnet.is_host(ip) || ip == self.gateway
    }
}

/// All networks' pools, backed by a directory of lease files. The daemon keeps one behind a
/// mutex; every method that changes something has it on disk before it returns.
#[derive(Debug)]
pub struct Ipam {
    dir: PathBuf,
    networks: BTreeMap<String, NetworkPool>,
}

fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(IpamError::BadNetworkId(id.to_string()))
    }
}

impl Ipam {
    /// Loads every network's leases from `dir` (created if missing). Temp files a crash left
    /// are removed; a lease file that does not parse is an error rather than a silent loss of
    /// leases (which could hand an address out twice).
    pub fn open(dir: &Path) -> Result<Ipam> {
        std::fs::create_dir_all(dir).map_err(io_err("creating lease directory", dir))?;
        let mut networks = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(io_err("reading lease directory", dir))? {
            let entry = entry.map_err(io_err("reading lease directory", dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                std::fs::remove_file(&path).map_err(io_err("removing stale temp file", &path))?;
                continue;
            }
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            let bytes = std::fs::read(&path).map_err(io_err("reading lease file", &path))?;
            let pool: NetworkPool = serde_json::from_slice(&bytes)
                .map_err(|source| IpamError::Corrupt { path, source })?;
            networks.insert(id.to_string(), pool);
        }
        Ok(Ipam {
            dir: dir.to_path_buf(),
            networks,
        })
    }

    pub fn network(&self, id: &str) -> Option<&NetworkPool> {
        self.networks.get(id)
    }

    pub fn networks(&self) -> impl Iterator<Item = (&str, &NetworkPool)> {
        self.networks.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Registers a network with an explicit subnet (`--subnet`, and the default bridge) and
    /// gateway (default: the first host address). Refused if it overlaps another network.
    pub fn add_network(
        &mut self,
        id: &str,
        subnet: Subnet,
        gateway: Option<Ipv4Addr>,
    ) -> Result<&NetworkPool> {
        check_id(id)?;
        if self.networks.contains_key(id) {
            return Err(IpamError::NetworkExists(id.to_string()));
        }
        if subnet.prefix > 30 {
            return Err(IpamError::SubnetTooSmall(subnet));
        }
        if let Some((other, _)) = self
            .networks
            .iter()
            .find(|(_, p)| p.subnet.overlaps(&subnet))
        {
            return Err(IpamError::Overlap(subnet, other.clone()));
        }
        let gateway = gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.is_host(gateway) {
            return Err(IpamError::BadGateway(gateway, subnet));
        }
        let pool = NetworkPool {
            subnet,
            gateway,
            last: None,
            leases: BTreeMap::new(),
        };
        self.save(id, &pool)?;
        Ok(self.networks.entry(id.to_string()).or_insert(pool))
    }

    /// Registers a network with the first `/pool.size` of `pool.base` that overlaps neither
    /// another network nor any of `host_routes` (the host's own networks).
    pub fn add_network_from_pool(
        &mut self,
        id: &str,
        pool: &SubnetPool,
        host_routes: &[Subnet],
    ) -> Result<&NetworkPool> {
        let subnet = self
            .free_subnet(pool, host_routes)
            .ok_or(IpamError::PoolExhausted(pool.base, pool.size))?;
        self.add_network(id, subnet, None)
    }

    fn free_subnet(&self, pool: &SubnetPool, host_routes: &[Subnet]) -> Option<Subnet> {
        if pool.size < pool.base.prefix || pool.size > 30 {
            return None;
        }
        let count = 1u64 << (pool.size - pool.base.prefix);
        let step = 1u64 << (32 - pool.size as u32);
        (0..count)
            .map(|i| {
                let addr = (u32::from(pool.base.network) as u64 + i * step) as u32;
                Subnet::new(Ipv4Addr::from(addr), pool.size).expect("prefix checked above")
            })
            .find(|candidate| {
                !self.networks.values().any(|p| p.subnet.overlaps(candidate))
                    && !host_routes.iter().any(|r| r.overlaps(candidate))
            })
    }

    /// Forgets a network and deletes its lease file.
    pub fn remove_network(&mut self, id: &str) -> Result<()> {
        check_id(id)?;
        if self.networks.remove(id).is_none() {
            return Err(IpamError::NoSuchNetwork(id.to_string()));
        }
        let path = self.file(id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing lease file", &path)(e)),
        }
        sync_dir(&self.dir)
    }

    /// Leases an address to `owner`: the one asked for (`--ip`), refused if taken, reserved or
    /// outside the subnet; otherwise the next free one after the last handed out.
    pub fn allocate(
        &mut self,
        id: &str,
        owner: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr> {
        let current = self
            .networks
            .get(id)
            .ok_or_else(|| IpamError::NoSuchNetwork(id.to_string()))?;
        let ip = match requested {
            Some(ip) => {
                if !current.subnet.contains(ip) {
                    return Err(IpamError::OutOfSubnet(ip));
                }
                if current.reserved(ip) {
                    return Err(IpamError::Reserved(ip, current.subnet));
                }
                if current.leases.contains_key(&ip) {
                    return Err(IpamError::InUse(ip));
                }
                ip
            }
            None => next_free(current)
                .ok_or_else(|| IpamError::Exhausted(id.to_string(), current.subnet))?,
        };
        let mut updated = current.clone();
        updated.leases.insert(ip, owner.to_string());
        if requested.is_none() {
            updated.last = Some(ip);
        }
        self.save(id, &updated)?;
        self.networks.insert(id.to_string(), updated);
        Ok(ip)
    }

    /// Ends a lease. Returns false if the address was not leased.
    pub fn release(&mut self, id: &str, ip: Ipv4Addr) -> Result<bool> {
        let current = self
            .networks
            .get(id)
            .ok_or_else(|| IpamError::NoSuchNetwork(id.to_string()))?;
        if !current.leases.contains_key(&ip) {
            return Ok(false);
        }
        let mut updated = current.clone();
        updated.leases.remove(&ip);
        self.save(id, &updated)?;
        self.networks.insert(id.to_string(), updated);
        Ok(true)
    }

    /// Ends every lease `owner` holds on the network (a restart's cleanup of a container that
    /// is gone) and returns the addresses freed.
    pub fn release_owner(&mut self, id: &str, owner: &str) -> Result<Vec<Ipv4Addr>> {
        let current = self
            .networks
            .get(id)
            .ok_or_else(|| IpamError::NoSuchNetwork(id.to_string()))?;
        let freed: Vec<Ipv4Addr> = current
            .leases
            .iter()
            .filter(|(_, o)| o.as_str() == owner)
            .map(|(ip, _)| *ip)
            .collect();
        if freed.is_empty() {
            return Ok(freed);
        }
        let mut updated = current.clone();
        for ip in &freed {
            updated.leases.remove(ip);
        }
        self.save(id, &updated)?;
        self.networks.insert(id.to_string(), updated);
        Ok(freed)
    }

    fn file(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// temp + fsync + rename + fsync(dir): a crash leaves the old file or the new one.
    fn save(&self, id: &str, pool: &NetworkPool) -> Result<()> {
        let path = self.file(id);
        let tmp = self.dir.join(format!(".tmp-{id}.json"));
        let bytes = serde_json::to_vec_pretty(pool).expect("lease files always serialize");
        let mut f = std::fs::File::create(&tmp).map_err(io_err("writing lease file", &tmp))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(io_err("writing lease file", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io_err("replacing lease file", &path))?;
        sync_dir(&self.dir)
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing lease directory", dir))
}

/// The next unleased, unreserved address after `last`, wrapping around once.
fn next_free(pool: &NetworkPool) -> Option<Ipv4Addr> {
    let first = u32::from(pool.subnet.network) as u64;
    let size = 1u64 << (32 - pool.subnet.prefix as u32);
    let start = pool
        .last
        .filter(|ip| pool.subnet.contains(*ip))
        .map(|ip| u32::from(ip) as u64 - first + 1)
        .unwrap_or(0);
    (0..size)
        .map(|i| Ipv4Addr::from((first + (start + i) % size) as u32))
        .find(|ip| !pool.reserved(*ip) && !pool.leases.contains_key(ip))
}

/// The host's IPv4 routes from a `/proc/net/route`-format file, except default routes (which
/// overlap everything and say nothing about which subnets are in use).
pub fn host_routes(proc_net_route: &Path) -> Result<Vec<Subnet>> {
    let text = std::fs::read_to_string(proc_net_route)
        .map_err(io_err("reading routes", proc_net_route))?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(dst), Some(mask)) = (cols.get(1), cols.get(7)) else {
            continue;
        };
        // The kernel prints these as the in-memory (network order) u32, in hex.
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(dst, 16), u32::from_str_radix(mask, 16))
        else {
            continue;
        };
        let mask = u32::from_be_bytes(mask.to_ne_bytes());
        let dst = Ipv4Addr::from(dst.to_ne_bytes());
        let prefix = mask.leading_ones() as u8;
        if prefix == 0 {
            continue;
        }
        if let Ok(subnet) = Subnet::new(dst, prefix) {
            out.push(subnet);
        }
    }
    Ok(out)
}
