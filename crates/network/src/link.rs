//! Link, address and route operations over [`Netlink`], in whatever namespace the socket was
//! opened in. Higher-level pieces ([`crate::bridge`], [`crate::veth`]) are built from these.

use std::net::Ipv4Addr;

use crate::netlink::{
    attr_string, attr_u32, attrs, Message, Netlink, NetlinkError, NLM_F_CREATE, NLM_F_EXCL,
    RTM_DELLINK, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE,
};

pub(crate) const IFLA_ADDRESS: u16 = 1;
pub(crate) const IFLA_IFNAME: u16 = 3;
pub(crate) const IFLA_MTU: u16 = 4;
pub(crate) const IFLA_MASTER: u16 = 10;
pub(crate) const IFLA_LINKINFO: u16 = 18;
pub(crate) const IFLA_NET_NS_FD: u16 = 28;
pub(crate) const IFLA_INFO_KIND: u16 = 1;
pub(crate) const IFLA_INFO_DATA: u16 = 2;
pub(crate) const VETH_INFO_PEER: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

const IFF_UP: u32 = libc::IFF_UP as u32;
/// Longest interface name the kernel accepts (IFNAMSIZ minus the NUL).
pub const MAX_IFNAME_LEN: usize = 15;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{op} {name}: {source}")]
    Netlink {
        op: &'static str,
        name: String,
        source: NetlinkError,
    },
    #[error("invalid interface name {0:?}: 1 to 15 bytes, no '/', whitespace or ':'")]
    BadName(String),
    #[error("no interface named {0}")]
    NotFound(String),
}

impl LinkError {
    pub(crate) fn netlink(op: &'static str, name: &str) -> impl FnOnce(NetlinkError) -> LinkError {
        let name = name.to_string();
        move |source| LinkError::Netlink { op, name, source }
    }

    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LinkError::Netlink { source, .. } => source.errno(),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, LinkError>;

/// What berth needs to know about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// `bridge`, `veth`, … (empty for devices without a kind, e.g. physical NICs, `lo`).
    pub kind: String,
    pub mtu: u32,
    pub up: bool,
    /// Index of the bridge this link is a port of.
    pub master: Option<u32>,
    pub mac: Option<[u8; 6]>,
}

/// Checks a name the way the kernel will (dev_valid_name), so errors name the culprit early.
pub fn validate_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IFNAME_LEN
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if ok {
        Ok(())
    } else {
        Err(LinkError::BadName(name.to_string()))
    }
}

/// `struct ifinfomsg` with family AF_UNSPEC.
pub(crate) fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

fn parse_link(payload: &[u8]) -> Option<LinkInfo> {
    let fixed = payload.get(..16)?;
    let index = i32::from_ne_bytes(fixed[4..8].try_into().ok()?) as u32;
    let flags = u32::from_ne_bytes(fixed[8..12].try_into().ok()?);
    let mut info = LinkInfo {
        index,
        name: String::new(),
        kind: String::new(),
        mtu: 0,
        up: flags & IFF_UP != 0,
        master: None,
        mac: None,
    };
    for (kind, value) in attrs(&payload[16..]) {
        match kind {
            IFLA_IFNAME => info.name = attr_string(value),
            IFLA_MTU => info.mtu = attr_u32(value).unwrap_or(0),
            IFLA_MASTER => info.master = attr_u32(value).filter(|&m| m != 0),
            IFLA_ADDRESS => info.mac = value.try_into().ok(),
            IFLA_LINKINFO => {
                if let Some((_, k)) = attrs(value).find(|(k, _)| *k == IFLA_INFO_KIND) {
                    info.kind = attr_string(k);
                }
            }
            _ => {}
        }
    }
    Some(info)
}

/// Looks an interface up by name; `None` if there is none.
pub fn get_link(nl: &mut Netlink, name: &str) -> Result<Option<LinkInfo>> {
    validate_ifname(name)?;
    let msg = Message::new(RTM_GETLINK, 0)
        .fixed(&ifinfomsg(0, 0, 0))
        .attr_str(IFLA_IFNAME, name);
    match nl.get(msg) {
        Ok(reply) => Ok(parse_link(&reply)),
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(LinkError::netlink("looking up interface", name)(e)),
    }
}

/// Every interface in the socket's namespace (a restart's reconcile looks for `bv…` leftovers).
pub fn list_links(nl: &mut Netlink) -> Result<Vec<LinkInfo>> {
    let msg = Message::new(RTM_GETLINK, 0).fixed(&ifinfomsg(0, 0, 0));
    let replies = nl
        .dump(msg)
        .map_err(LinkError::netlink("listing interfaces", "(all)"))?;
    Ok(replies.iter().filter_map(|r| parse_link(r)).collect())
}

fn require(nl: &mut Netlink, name: &str) -> Result<LinkInfo> {
    get_link(nl, name)?.ok_or_else(|| LinkError::NotFound(name.to_string()))
}

/// Brings an interface up.
pub fn set_up(nl: &mut Netlink, name: &str) -> Result<()> {
    let link = require(nl, name)?;
    let msg = Message::new(RTM_NEWLINK, 0).fixed(&ifinfomsg(link.index, IFF_UP, IFF_UP));
    nl.request(msg)
        .map_err(LinkError::netlink("bringing up interface", name))
}

/// Sets an interface's MTU.
pub fn set_mtu(nl: &mut Netlink, name: &str, mtu: u32) -> Result<()> {
    let link = require(nl, name)?;
    let msg = Message::new(RTM_NEWLINK, 0)
        .fixed(&ifinfomsg(link.index, 0, 0))
        .attr_u32(IFLA_MTU, mtu);
    nl.request(msg)
        .map_err(LinkError::netlink("setting the mtu of interface", name))
}

/// Deletes an interface by name. Returns false if there was none. Deleting either end of a
/// veth pair deletes both.
pub fn delete_link(nl: &mut Netlink, name: &str) -> Result<bool> {
    let Some(link) = get_link(nl, name)? else {
        return Ok(false);
    };
    let msg = Message::new(RTM_DELLINK, 0).fixed(&ifinfomsg(link.index, 0, 0));
    match nl.request(msg) {
        Ok(()) => Ok(true),
        // Gone in between (its netns died, or a concurrent delete): the goal is reached.
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(LinkError::netlink("deleting interface", name)(e)),
    }
}

/// Creates a link of `kind` (e.g. `bridge`, `dummy`) with no kind-specific data.
pub(crate) fn create_link(
    nl: &mut Netlink,
    name: &str,
    kind: &str,
    mtu: Option<u32>,
    mac: Option<[u8; 6]>,
) -> Result<()> {
    validate_ifname(name)?;
    let mut msg = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
        .fixed(&ifinfomsg(0, 0, 0))
        .attr_str(IFLA_IFNAME, name);
    if let Some(mtu) = mtu {
        msg = msg.attr_u32(IFLA_MTU, mtu);
    }
    if let Some(mac) = mac {
        msg = msg.attr(IFLA_ADDRESS, &mac);
    }
    let msg = msg
        .begin_nest(IFLA_LINKINFO)
        .attr_str(IFLA_INFO_KIND, kind)
        .end_nest();
    nl.request(msg)
        .map_err(LinkError::netlink("creating interface", name))
}

/// An IPv4 address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// IPv4 addresses on the interface with `index`.
pub fn ipv4_addresses(nl: &mut Netlink, index: u32) -> Result<Vec<IfAddr>> {
    let msg = Message::new(RTM_GETADDR, 0).fixed(&ifaddrmsg(0, 0));
    let replies = nl.dump(msg).map_err(LinkError::netlink(
        "listing addresses of interface",
        &index.to_string(),
    ))?;
    let mut out = Vec::new();
    for r in &replies {
        let Some(fixed) = r.get(..8) else { continue };
        if fixed[0] != libc::AF_INET as u8
            || u32::from_ne_bytes(fixed[4..8].try_into().unwrap()) != index
        {
            continue;
        }
        let local = attrs(&r[8..])
            .find(|(k, _)| *k == IFA_LOCAL)
            .or_else(|| attrs(&r[8..]).find(|(k, _)| *k == IFA_ADDRESS));
        if let Some((_, v)) = local {
            if let Ok(octets) = <[u8; 4]>::try_from(v) {
                out.push(IfAddr {
                    addr: Ipv4Addr::from(octets),
                    prefix: fixed[1],
                });
            }
        }
    }
    Ok(out)
}

/// `struct ifaddrmsg` for AF_INET.
fn ifaddrmsg(prefix: u8, index: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = libc::AF_INET as u8;
    b[1] = prefix;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b
}

/// Adds an IPv4 address (with its subnet's broadcast) to an interface.
pub fn add_ipv4_address(nl: &mut Netlink, name: &str, addr: IfAddr) -> Result<()> {
    let link = require(nl, name)?;
    let mask = if addr.prefix == 0 {
        0
    } else {
        u32::MAX << (32 - addr.prefix as u32)
    };
    let broadcast = Ipv4Addr::from(u32::from(addr.addr) | !mask);
    let msg = Message::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)
        .fixed(&ifaddrmsg(addr.prefix, link.index))
        .attr(IFA_LOCAL, &addr.addr.octets())
        .attr(IFA_ADDRESS, &addr.addr.octets())
        .attr(IFA_BROADCAST, &broadcast.octets());
    nl.request(msg).map_err(|source| LinkError::Netlink {
        op: "adding address",
        name: format!("{}/{} to {name}", addr.addr, addr.prefix),
        source,
    })
}

/// `struct rtmsg` for an IPv4 unicast route in the main table.
fn rtmsg(dst_len: u8) -> [u8; 12] {
    [
        libc::AF_INET as u8,
        dst_len,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,
        0,
        0,
        0,
    ]
}

/// Adds the default route via `gateway` out of interface `name`.
pub fn add_default_route(nl: &mut Netlink, name: &str, gateway: Ipv4Addr) -> Result<()> {
    let link = require(nl, name)?;
    let msg = Message::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL)
        .fixed(&rtmsg(0))
        .attr(RTA_GATEWAY, &gateway.octets())
        .attr_u32(RTA_OIF, link.index);
    nl.request(msg).map_err(|source| LinkError::Netlink {
        op: "adding default route",
        name: format!("via {gateway} dev {name}"),
        source,
    })
}

/// An IPv4 route in the main table, as a destination subnet and an optional gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
}

/// IPv4 routes of the main table (IPAM avoids subnets the host already routes).
pub fn ipv4_routes(nl: &mut Netlink) -> Result<Vec<Route>> {
    let msg = Message::new(RTM_GETROUTE, 0).fixed(&rtmsg(0));
    let replies = nl
        .dump(msg)
        .map_err(LinkError::netlink("listing routes", "(main table)"))?;
    let mut out = Vec::new();
    for r in &replies {
        let Some(fixed) = r.get(..12) else { continue };
        let mut table = fixed[4] as u32;
        let mut route = Route {
            dst: Ipv4Addr::UNSPECIFIED,
            prefix: fixed[1],
            gateway: None,
            oif: None,
        };
        for (kind, v) in attrs(&r[12..]) {
            let ip = <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from);
            match kind {
                RTA_DST => route.dst = ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                RTA_GATEWAY => route.gateway = ip,
                RTA_OIF => route.oif = attr_u32(v),
                RTA_TABLE => table = attr_u32(v).unwrap_or(table),
                _ => {}
            }
        }
        if fixed[0] == libc::AF_INET as u8 && table == RT_TABLE_MAIN as u32 {
            out.push(route);
        }
    }
    Ok(out)
}

/// Opens a netlink socket, mapping the error into this module's.
pub fn open() -> Result<Netlink> {
    Netlink::open().map_err(LinkError::netlink("opening", "rtnetlink socket"))
}
