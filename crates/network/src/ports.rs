//! Published ports: reserving host ports and adding their DNAT rules.
//!
//! A published host port is reserved by holding a socket bound to it (TCP: bound, never
//! listening, so it accepts nothing; UDP: bound, never read). That makes the kernel itself the
//! judge of conflicts: publishing a port that something else already uses fails to bind, and
//! while it is published nothing else on the host can bind it. No proxy process is involved:
//! the traffic itself is redirected by the DNAT rules of [`crate::nft`], which act before any
//! socket lookup.
//!
//! Ephemeral host ports (`-p 80`, `-P`) are whatever the kernel gives for a bind to port 0,
//! which it takes from `net.ipv4.ip_local_port_range`.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::str::FromStr;
use std::sync::Mutex;

use socket2::{Domain, Socket, Type};

use crate::nft::{NatTable, NftError, PortRule};

/// Errors of the ports module.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Docker's wording, so that users (and scripts) see the same message.
    #[error("Bind for {host_ip}:{port} failed: port is already allocated")]
    Allocated { host_ip: Ipv4Addr, port: u16 },
    #[error("Bind for {host_ip}:{port} failed: {source}")]
    Bind {
        host_ip: Ipv4Addr,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid port specification: {0:?}")]
    InvalidPort(String),
    #[error("invalid protocol {0:?}: use tcp or udp")]
    InvalidProtocol(String),
    #[error("invalid host IP {0:?}")]
    InvalidHostIp(String),
    #[error("publishing on IPv6 address {0} is not supported: berth's networks are IPv4 only")]
    Ipv6(IpAddr),
    #[error("port ranges ({0:?}) are not supported: publish each port on its own")]
    Range(String),
    #[error("{0} already has published ports: unpublish them first")]
    AlreadyPublished(String),
    #[error(transparent)]
    Nft(#[from] NftError),
}

/// Transport protocol of a published port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The name nft and Docker use (`tcp`, `udp`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = PortError;
    fn from_str(s: &str) -> Result<Self, PortError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(PortError::InvalidProtocol(s.to_string())),
        }
    }
}

/// One port to publish, as asked: `host_port` 0 means "any free one" (the kernel picks it),
/// `host_ip` 0.0.0.0 means every address of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRequest {
    pub proto: Protocol,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
}

impl PortRequest {
    /// Reads one entry of the Engine API's `HostConfig.PortBindings`: the key (`"80/tcp"`,
    /// `"53/udp"`, `"80"`) and one binding's `HostIp` and `HostPort` (either may be empty).
    pub fn from_binding(
        port_proto: &str,
        host_ip: &str,
        host_port: &str,
    ) -> Result<Self, PortError> {
        let (port, proto) = match port_proto.split_once('/') {
            Some((port, proto)) => (port, proto.parse()?),
            None => (port_proto, Protocol::Tcp),
        };
        let container_port = parse_port(port, false)?;
        let host_ip = match host_ip {
            "" => Ipv4Addr::UNSPECIFIED,
            ip => match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(v4)) => v4,
                Ok(v6) => return Err(PortError::Ipv6(v6)),
                Err(_) => return Err(PortError::InvalidHostIp(ip.to_string())),
            },
        };
        let host_port = match host_port {
            "" => 0,
            p => parse_port(p, true)?,
        };
        Ok(PortRequest {
            proto,
            host_ip,
            host_port,
            container_port,
        })
    }
}

fn parse_port(s: &str, zero_ok: bool) -> Result<u16, PortError> {
    if s.contains('-') {
        return Err(PortError::Range(s.to_string()));
    }
    match s.parse::<u16>() {
        Ok(0) if !zero_ok => Err(PortError::InvalidPort(s.to_string())),
        Ok(p) => Ok(p),
        Err(_) => Err(PortError::InvalidPort(s.to_string())),
    }
}

/// A host port held for as long as this value lives.
#[derive(Debug)]
pub struct Reservation {
    proto: Protocol,
    host_ip: Ipv4Addr,
    host_port: u16,
    // Held, never used: its existence is the reservation.
    _socket: Socket,
}

impl Reservation {
    pub fn proto(&self) -> Protocol {
        self.proto
    }
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }
    /// The reserved port (the kernel's choice when 0 was asked).
    pub fn host_port(&self) -> u16 {
        self.host_port
    }
}

/// Reserves `host_ip:port/proto` (port 0: a free ephemeral port) by binding a socket to it.
pub fn reserve(proto: Protocol, host_ip: Ipv4Addr, port: u16) -> Result<Reservation, PortError> {
    let bind_error = |source: std::io::Error| {
        if source.raw_os_error() == Some(libc::EADDRINUSE) {
            PortError::Allocated { host_ip, port }
        } else {
            PortError::Bind {
                host_ip,
                port,
                source,
            }
        }
    };
    let kind = match proto {
        Protocol::Tcp => Type::STREAM,
        Protocol::Udp => Type::DGRAM,
    };
    // No SO_REUSEADDR: a port in any use (listening, bound, or another address's wildcard) must
    // make this bind fail.
    let socket = Socket::new(Domain::IPV4, kind, None).map_err(bind_error)?;
    socket
        .bind(&SocketAddrV4::new(host_ip, port).into())
        .map_err(bind_error)?;
    let host_port = match socket.local_addr().map_err(bind_error)?.as_socket() {
        Some(addr) => addr.port(),
        None => port,
    };
    Ok(Reservation {
        proto,
        host_ip,
        host_port,
        _socket: socket,
    })
}

/// Published ports of every container: their host-port reservations and their DNAT rules in
/// one [`NatTable`], kept together so that neither exists without the other.
#[derive(Debug)]
pub struct Publisher {
    table: NatTable,
    held: Mutex<HashMap<String, Vec<(PortRule, Reservation)>>>,
}

impl Publisher {
    /// A publisher adding its rules to `table` (which [`NatTable::ensure`] or
    /// [`NatTable::reconcile`] must have set up).
    pub fn new(table: NatTable) -> Self {
        Publisher {
            table,
            held: Mutex::new(HashMap::new()),
        }
    }

    pub fn table(&self) -> &NatTable {
        &self.table
    }

    /// Publishes `requests` for `owner` (a container id) whose address is `container_ip`:
    /// reserves every host port, then adds all DNAT rules in one transaction. On any error
    /// nothing stays reserved and no rule is left. Returns the ports as published (ephemeral
    /// ones resolved).
    pub fn publish(
        &self,
        owner: &str,
        container_ip: Ipv4Addr,
        requests: &[PortRequest],
    ) -> Result<Vec<PortRule>, PortError> {
        let mut held = self.lock();
        if held.contains_key(owner) {
            return Err(PortError::AlreadyPublished(owner.to_string()));
        }
        // Dropping `entries` on an early return releases what was reserved so far.
        let mut entries = Vec::with_capacity(requests.len());
        for req in requests {
            let reservation = reserve(req.proto, req.host_ip, req.host_port)?;
            let rule = PortRule {
                proto: req.proto,
                host_ip: req.host_ip,
                host_port: reservation.host_port(),
                container_ip,
                container_port: req.container_port,
            };
            entries.push((rule, reservation));
        }
        let rules: Vec<PortRule> = entries.iter().map(|(rule, _)| *rule).collect();
        if !rules.is_empty() {
            // The owner has nothing published (checked above), so no lookup is needed.
            self.table.append_ports(owner, &rules)?;
        }
        held.insert(owner.to_string(), entries);
        Ok(rules)
    }

    /// Removes `owner`'s rules, then releases its host ports. If nft fails the ports stay
    /// reserved (their rules may still be there) and the error is returned.
    pub fn unpublish(&self, owner: &str) -> Result<(), PortError> {
        let mut held = self.lock();
        self.table.remove_ports(owner)?;
        held.remove(owner);
        Ok(())
    }

    /// Takes back the reservations of ports published before a restart, without touching the
    /// table (whose rules [`NatTable::reconcile`] rebuilds from [`Publisher::published`]).
    pub fn restore(&self, owner: &str, rules: &[PortRule]) -> Result<(), PortError> {
        let mut held = self.lock();
        if held.contains_key(owner) {
            return Err(PortError::AlreadyPublished(owner.to_string()));
        }
        let mut entries = Vec::with_capacity(rules.len());
        for rule in rules {
            entries.push((*rule, reserve(rule.proto, rule.host_ip, rule.host_port)?));
        }
        held.insert(owner.to_string(), entries);
        Ok(())
    }

    /// Every owner's published ports, as [`crate::nft::DesiredState::ports`] wants them.
    pub fn published(&self) -> Vec<(String, Vec<PortRule>)> {
        let held = self.lock();
        let mut all: Vec<_> = held
            .iter()
            .map(|(owner, entries)| (owner.clone(), entries.iter().map(|(r, _)| *r).collect()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(PortRule, Reservation)>>> {
        // The map is only ever changed by whole inserts and removes, so a panic elsewhere
        // cannot leave it half-updated.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_read_like_the_engine_api() {
        let r = PortRequest::from_binding("53/udp", "127.0.0.1", "5353").unwrap();
        assert_eq!(r.proto, Protocol::Udp);
        assert_eq!(r.host_ip, Ipv4Addr::LOCALHOST);
        assert_eq!((r.host_port, r.container_port), (5353, 53));
        let r = PortRequest::from_binding("80", "", "").unwrap();
        assert_eq!(
            (r.proto, r.host_ip, r.host_port),
            (Protocol::Tcp, Ipv4Addr::UNSPECIFIED, 0)
        );
        assert!(matches!(
            PortRequest::from_binding("80/tcp", "::1", "8080"),
            Err(PortError::Ipv6(_))
        ));
        assert!(matches!(
            PortRequest::from_binding("80/tcp", "", "8000-8010"),
            Err(PortError::Range(_))
        ));
        assert!(matches!(
            PortRequest::from_binding("80/sctp", "", "1"),
            Err(PortError::InvalidProtocol(_))
        ));
        assert!(PortRequest::from_binding("0/tcp", "", "1").is_err());
    }

    #[test]
    fn a_reserved_port_cannot_be_reserved_again_until_released() {
        let first = reserve(Protocol::Tcp, Ipv4Addr::LOCALHOST, 0).unwrap();
        let port = first.host_port();
        assert_ne!(port, 0);
        let err = reserve(Protocol::Tcp, Ipv4Addr::LOCALHOST, port).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        drop(first);
        reserve(Protocol::Tcp, Ipv4Addr::LOCALHOST, port).unwrap();
    }
}
