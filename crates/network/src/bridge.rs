//! The host bridge of a network (`berth0` for the default one): made if missing, adopted if
//! present, with the gateway address, MTU and up state a network needs.

use std::io::Read;
use std::net::Ipv4Addr;

use crate::link::{self, IfAddr, LinkError, LinkInfo};
use crate::netlink::Netlink;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("interface {name} exists but is a {kind} device, not a bridge")]
    NotABridge { name: String, kind: String },
    #[error("bridge {name}: {source}")]
    Link { name: String, source: LinkError },
}

pub type Result<T> = std::result::Result<T, BridgeError>;

/// What a bridge must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    pub name: String,
    /// The network's gateway: the bridge's own address.
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    pub mtu: u32,
}

fn kind_of(link: &LinkInfo) -> &str {
    if link.kind.is_empty() {
        "non-virtual"
    } else {
        &link.kind
    }
}

/// A random locally administered unicast MAC. The bridge gets a fixed one at creation because
/// a bridge without an assigned address takes the lowest MAC among its ports, so it would
/// change as containers come and go and neighbours' ARP caches would go stale.
fn random_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut mac);
    }
    if mac == [0u8; 6] {
        // No /dev/urandom: time and pid still differ between bridges.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ ((std::process::id() as u64) << 32);
        mac.copy_from_slice(&t.to_ne_bytes()[..6]);
    }
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// Makes sure the bridge exists, is a bridge, carries `gateway/prefix`, has the MTU and is up.
/// Idempotent: an existing bridge is adopted and only what differs is changed (addresses it
/// has besides the gateway are left alone: an administrator may have put them there).
pub fn ensure_bridge(nl: &mut Netlink, cfg: &BridgeConfig) -> Result<LinkInfo> {
    let wrap = |source| BridgeError::Link {
        name: cfg.name.clone(),
        source,
    };
    let mut current = link::get_link(nl, &cfg.name).map_err(wrap)?;
    if current.is_none() {
        match link::create_link(nl, &cfg.name, "bridge", Some(cfg.mtu), Some(random_mac())) {
            Ok(()) => {}
            // Made by someone else in between: adopt it like any existing one.
            Err(e) if e.errno() == Some(libc::EEXIST) => {}
            Err(e) => return Err(wrap(e)),
        }
        current = link::get_link(nl, &cfg.name).map_err(wrap)?;
    }
    let current = current.ok_or_else(|| wrap(LinkError::NotFound(cfg.name.clone())))?;
    if current.kind != "bridge" {
        return Err(BridgeError::NotABridge {
            name: cfg.name.clone(),
            kind: kind_of(&current).to_string(),
        });
    }
    if current.mtu != cfg.mtu {
        link::set_mtu(nl, &cfg.name, cfg.mtu).map_err(wrap)?;
    }
    let wanted = IfAddr {
        addr: cfg.gateway,
        prefix: cfg.prefix,
    };
    let addrs = link::ipv4_addresses(nl, current.index).map_err(wrap)?;
    if !addrs.contains(&wanted) {
        match link::add_ipv4_address(nl, &cfg.name, wanted) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(libc::EEXIST) => {}
            Err(e) => return Err(wrap(e)),
        }
    }
    if !current.up {
        link::set_up(nl, &cfg.name).map_err(wrap)?;
    }
    link::get_link(nl, &cfg.name)
        .map_err(wrap)?
        .ok_or_else(|| wrap(LinkError::NotFound(cfg.name.clone())))
}

/// Deletes the bridge. Returns false if there was none; refuses to delete a non-bridge.
/// Ports still attached are released by the kernel (their veths stay).
pub fn remove_bridge(nl: &mut Netlink, name: &str) -> Result<bool> {
    let wrap = |source| BridgeError::Link {
        name: name.to_string(),
        source,
    };
    let Some(current) = link::get_link(nl, name).map_err(wrap)? else {
        return Ok(false);
    };
    if current.kind != "bridge" {
        return Err(BridgeError::NotABridge {
            name: name.to_string(),
            kind: kind_of(&current).to_string(),
        });
    }
    link::delete_link(nl, name).map_err(wrap)
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_macs_are_local_unicast_and_differ() {
        let a = super::random_mac();
        let b = super::random_mac();
        assert_eq!(a[0] & 0x03, 0x02, "{a:02x?}");
        assert_ne!(a, b);
    }
}
