//! Reading the host's resolv.conf (resolv.conf(5)) for the upstream servers the embedded DNS
//! server forwards to, and the search domains and options a container's resolv.conf copies.
//!
//! Loopback nameservers (127.0.0.0/8, ::1: a local systemd-resolved or dnsmasq) are dropped: a
//! container cannot reach the host's loopback, and berth's listeners stand in for them anyway.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;

use thiserror::Error;

/// Why the host's resolv.conf could not be read.
#[derive(Debug, Error)]
pub enum ResolvConfError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// What berth takes from a resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// Non-loopback nameservers in file order, on port 53.
    pub nameservers: Vec<SocketAddr>,
    /// Search domains: the last `search` or `domain` line wins, as in glibc.
    pub search: Vec<String>,
    /// The words of every `options` line, in order.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parses resolv.conf text. Unknown keywords and unparsable addresses are skipped, like the
    /// C library does, so one odd line cannot cut a container off from DNS.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            // Comments start with '#' or ';' in the first column; glibc also ignores them later.
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(addr) = words.next().and_then(parse_nameserver) {
                        if !addr.ip().is_loopback() && !conf.nameservers.contains(&addr) {
                            conf.nameservers.push(addr);
                        }
                    }
                }
                Some("search") | Some("domain") => {
                    conf.search = words.map(|w| w.trim_end_matches('.').to_string()).collect();
                }
                Some("options") => conf.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        conf
    }

    /// Reads and parses the file at `path` (normally /etc/resolv.conf).
    pub fn read(path: &Path) -> Result<ResolvConf, ResolvConfError> {
        let text = std::fs::read_to_string(path).map_err(|source| ResolvConfError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(ResolvConf::parse(&text))
    }
}

/// `1.2.3.4`, `2001:db8::1` or a link-local `fe80::1%eth0` (the zone names an interface, or is
/// its index).
fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    let (addr, zone) = match word.split_once('%') {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (word, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    match (ip, zone) {
        (ip, None) => Some(SocketAddr::new(ip, 53)),
        (IpAddr::V6(v6), Some(zone)) => Some(SocketAddr::V6(SocketAddrV6::new(
            v6,
            53,
            0,
            zone_index(&v6, zone)?,
        ))),
        (IpAddr::V4(_), Some(_)) => None,
    }
}

fn zone_index(_ip: &Ipv6Addr, zone: &str) -> Option<u32> {
    if let Ok(index) = zone.parse::<u32>() {
        return Some(index);
    }
    let cname = std::ffi::CString::new(zone).ok()?;
    // SAFETY: cname is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    (index != 0).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_without_loopback_in_order() {
        let conf = ResolvConf::parse(
            "# generated\n\
             nameserver 127.0.0.53\n\
             nameserver 192.0.2.1\n\
             nameserver ::1\n\
             nameserver 127.1.2.3\n\
             nameserver 2001:db8::53   # trailing comment\n\
             nameserver 192.0.2.1\n\
             nameserver 198.51.100.7\n",
        );
        let want: Vec<SocketAddr> = ["192.0.2.1:53", "[2001:db8::53]:53", "198.51.100.7:53"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(conf.nameservers, want);
    }

    #[test]
    fn only_loopback_gives_no_upstreams() {
        let conf = ResolvConf::parse("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n");
        assert!(conf.nameservers.is_empty());
        assert_eq!(conf.options, ["edns0", "trust-ad"]);
    }

    #[test]
    fn comments_garbage_and_odd_spacing_are_skipped() {
        let conf = ResolvConf::parse(
            "; comment\n\
             #nameserver 10.0.0.1\n\
             nameserver\n\
             nameserver not-an-ip\n\
             nameserver 10.0.0.300\n\
             \tnameserver\t10.0.0.2\t\n\
             nameserver 10.0.0.3 extra words\n\
             nameserver 10.0.0.4%eth0\n\
             sortlist 130.155.160.0/255.255.240.0\n\
             \n\
             garbage line here\n",
        );
        let want: Vec<SocketAddr> = ["10.0.0.2:53", "10.0.0.3:53"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(conf.nameservers, want);
    }

    #[test]
    fn last_search_or_domain_wins() {
        let conf = ResolvConf::parse("search a.example b.example.\ndomain c.example\n");
        assert_eq!(conf.search, ["c.example"]);
        let conf = ResolvConf::parse("domain c.example\nsearch a.example b.example.\n");
        assert_eq!(conf.search, ["a.example", "b.example"]);
    }

    #[test]
    fn link_local_zones_become_scope_ids() {
        let conf = ResolvConf::parse(
            "nameserver fe80::1%lo\nnameserver fe80::2%7\nnameserver fe80::3%nosuchif0\n",
        );
        let ids: Vec<u32> = conf
            .nameservers
            .iter()
            .map(|a| match a {
                SocketAddr::V6(v6) => v6.scope_id(),
                SocketAddr::V4(_) => panic!("v4 in {a}"),
            })
            .collect();
        assert_eq!(
            ids,
            [1, 7],
            "lo is interface 1; an unknown interface is dropped"
        );
    }

    #[test]
    fn read_reports_the_path() {
        let err = ResolvConf::read(Path::new("/nonexistent/resolv.conf")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/resolv.conf"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 203.0.113.9\n").unwrap();
        assert_eq!(
            ResolvConf::read(&path).unwrap().nameservers,
            ["203.0.113.9:53".parse::<SocketAddr>().unwrap()]
        );
    }
}
