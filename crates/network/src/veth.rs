//! Plugging a container into a bridge: a veth pair whose host end (`bv…`) is a port of the
//! bridge and whose other end is the container's `eth0`.
//!
//! The pair is made with one RTM_NEWLINK that already puts the peer into the container's
//! namespace under its final name `eth0` (IFLA_NET_NS_FD and IFLA_IFNAME inside the peer's
//! attributes) with its MAC and MTU, and the host end enslaved and up. That is the same end
//! state as "create, move, rename", with no moment where a stray `eth0`-to-be sits in the host
//! namespace and nothing to undo half-way. Inside the namespace, one short-lived thread then
//! sets the address, brings `eth0` and `lo` up and adds the default route.

use std::net::Ipv4Addr;

use crate::link::{
    self, ifinfomsg, IfAddr, LinkError, IFLA_ADDRESS, IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND,
    IFLA_LINKINFO, IFLA_MASTER, IFLA_MTU, IFLA_NET_NS_FD, MAX_IFNAME_LEN, VETH_INFO_PEER,
};
use crate::netlink::{Message, Netlink, NLM_F_CREATE, NLM_F_EXCL, RTM_NEWLINK};
use crate::netns::{NetNs, NetnsError};
use std::os::fd::AsRawFd;

/// Prefix of every host-side veth berth makes.
pub const HOST_PREFIX: &str = "bv";

#[derive(Debug, thiserror::Error)]
pub enum VethError {
    #[error("container id {0:?} gives no usable interface name (it needs letters or digits)")]
    BadId(String),
    #[error("a container can have at most 36 network interfaces")]
    TooManyInterfaces,
    #[error("bridge {0} does not exist")]
    NoBridge(String),
    #[error("{0}")]
    Link(#[from] LinkError),
    #[error("{0}")]
    Netns(#[from] NetnsError),
    #[error("configuring {ifname} in network namespace {netns}: {source}")]
    Inside {
        ifname: String,
        netns: String,
        source: LinkError,
    },
    #[error("{0} is a {1} device, not one of berth's veths")]
    NotAVeth(String, String),
}

impl VethError {
    /// The kernel's errno, when the kernel refused (EEXIST: that host end exists already).
    pub fn errno(&self) -> Option<i32> {
        match self {
            VethError::Link(e) | VethError::Inside { source: e, .. } => e.errno(),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, VethError>;

/// How to plug one container in.
#[derive(Debug, Clone)]
pub struct AttachRequest<'a> {
    /// The container's id; the host end is named after it (see [`host_ifname`]).
    pub container_id: &'a str,
    /// Which of the container's interfaces this is: `eth<index>` inside. Only index 0 gets the
    /// default route.
    pub index: u8,
    pub bridge: &'a str,
    pub netns: &'a NetNs,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mtu: u32,
}

/// What `docker inspect` shows under NetworkSettings, and what detaching needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub host_ifname: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// `02:42:` followed by the IP's four bytes, like Docker.
    pub mac: [u8; 6],
}

impl Attachment {
    /// The MAC as Docker prints it (`02:42:0a:c8:00:02`).
    pub fn mac_string(&self) -> String {
        format_mac(&self.mac)
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Docker's MAC scheme: the locally administered prefix 02:42 and then the IPv4 address.
pub fn mac_for_ip(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// The host end's name for a container's interface `index`: `bv` + up to 13 of the id's
/// letters and digits for the first; for the others 11 of them, `x` (never in a hex id, so no
/// first interface's name can look the same) and the index in base 36.
pub fn host_ifname(container_id: &str, index: u8) -> Result<String> {
    let room = MAX_IFNAME_LEN - HOST_PREFIX.len() - if index > 0 { 2 } else { 0 };
    let tail: String = container_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(room)
        .collect();
    if tail.is_empty() {
        return Err(VethError::BadId(container_id.to_string()));
    }
    if index == 0 {
        return Ok(format!("{HOST_PREFIX}{tail}"));
    }
    let digit = char::from_digit(u32::from(index), 36).ok_or(VethError::TooManyInterfaces)?;
    Ok(format!("{HOST_PREFIX}{tail}x{digit}"))
}

/// The container side's name for interface `index`.
pub fn container_ifname(index: u8) -> String {
    format!("eth{index}")
}

/// Creates the pair, enslaves and raises the host end, and configures `eth0` in the
/// container's namespace. On failure nothing is left behind (the host end is deleted, which
/// takes `eth0` with it).
pub fn attach(nl: &mut Netlink, req: &AttachRequest<'_>) -> Result<Attachment> {
    let host = host_ifname(req.container_id, req.index)?;
    let inner = container_ifname(req.index);
    let bridge = link::get_link(nl, req.bridge)?
        .ok_or_else(|| VethError::NoBridge(req.bridge.to_string()))?;
    let mac = mac_for_ip(req.ip);
    let msg = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
        .fixed(&ifinfomsg(0, libc::IFF_UP as u32, libc::IFF_UP as u32))
        .attr_str(IFLA_IFNAME, &host)
        .attr_u32(IFLA_MTU, req.mtu)
        .attr_u32(IFLA_MASTER, bridge.index)
        .begin_nest(IFLA_LINKINFO)
        .attr_str(IFLA_INFO_KIND, "veth")
        .begin_nest(IFLA_INFO_DATA)
        .begin_nest(VETH_INFO_PEER)
        .fixed(&ifinfomsg(0, 0, 0))
        .attr_str(IFLA_IFNAME, &inner)
        .attr_u32(IFLA_MTU, req.mtu)
        .attr(IFLA_ADDRESS, &mac)
        .attr_u32(IFLA_NET_NS_FD, req.netns.file().as_raw_fd() as u32)
        .end_nest()
        .end_nest()
        .end_nest();
    nl.request(msg)
        .map_err(LinkError::netlink("creating veth pair", &host))?;

    let configured = req
        .netns
        .run(|| configure_inside(req, &inner))
        .map_err(VethError::from)
        .and_then(|inner| inner);
    if let Err(e) = configured {
        let _ = link::delete_link(nl, &host);
        return Err(e);
    }
    Ok(Attachment {
        host_ifname: host,
        ip: req.ip,
        prefix: req.prefix,
        gateway: req.gateway,
        mac,
    })
}

/// Runs on a thread inside the container's namespace.
fn configure_inside(req: &AttachRequest<'_>, ifname: &str) -> Result<()> {
    let inside = |source| VethError::Inside {
        ifname: ifname.to_string(),
        netns: req.netns.path().display().to_string(),
        source,
    };
    let mut nl = link::open().map_err(inside)?;
    link::set_up(&mut nl, "lo").map_err(inside)?;
    link::add_ipv4_address(
        &mut nl,
        ifname,
        IfAddr {
            addr: req.ip,
            prefix: req.prefix,
        },
    )
    .map_err(inside)?;
    link::set_up(&mut nl, ifname).map_err(inside)?;
    if req.index == 0 {
        link::add_default_route(&mut nl, ifname, req.gateway).map_err(inside)?;
    }
    Ok(())
}

/// Removes a container's veth pair by its host end. Returns false if it was already gone
/// (e.g. the namespace died and took the pair with it). Refuses anything that is not a veth.
pub fn detach(nl: &mut Netlink, host_ifname: &str) -> Result<bool> {
    let Some(found) = link::get_link(nl, host_ifname)? else {
        return Ok(false);
    };
    if found.kind != "veth" {
        return Err(VethError::NotAVeth(
            host_ifname.to_string(),
            found.kind.clone(),
        ));
    }
    Ok(link::delete_link(nl, host_ifname)?)
}

/// Host-side veths of berth (named `bv…`) that exist now: a restart compares them with the
/// containers it knows and detaches the rest.
pub fn list_host_ends(nl: &mut Netlink) -> Result<Vec<String>> {
    Ok(link::list_links(nl)?
        .into_iter()
        .filter(|l| l.kind == "veth" && l.name.starts_with(HOST_PREFIX))
        .map(|l| l.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_fit_the_kernel_limit_and_keep_the_prefix() {
        let id = "4f1e2d3c4b5a69788796a5b4c3d2e1f04f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let name = host_ifname(id, 0).unwrap();
        assert_eq!(name, "bv4f1e2d3c4b5a6");
        assert_eq!(name.len(), MAX_IFNAME_LEN);
        assert_eq!(host_ifname(id, 1).unwrap(), "bv4f1e2d3c4b5x1");
        assert_eq!(host_ifname(id, 11).unwrap(), "bv4f1e2d3c4b5xb");
        // An id whose 13th digit is 1 keeps its first and second interfaces apart.
        let id1 = "4f1e2d3c4b5a1000";
        assert_ne!(host_ifname(id1, 0).unwrap(), host_ifname(id1, 1).unwrap());
        assert_eq!(host_ifname("ab-c", 0).unwrap(), "bvabc");
        assert!(matches!(host_ifname("--", 0), Err(VethError::BadId(_))));
        assert!(matches!(
            host_ifname(id, 36),
            Err(VethError::TooManyInterfaces)
        ));
    }

    #[test]
    fn mac_follows_dockers_scheme() {
        let mac = mac_for_ip(Ipv4Addr::new(10, 200, 0, 2));
        assert_eq!(format_mac(&mac), "02:42:0a:c8:00:02");
    }
}
