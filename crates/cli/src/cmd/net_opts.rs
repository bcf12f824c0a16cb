//! The networking half of `run`/`create` (`--network`, `--network-alias`, `--ip`, `--add-host`,
//! `--dns`) and the endpoint settings `network connect` shares, built the way docker CLI 28
//! builds them: `HostConfig.NetworkMode` names the first network and
//! `NetworkingConfig.EndpointsConfig.{NAME}` carries `Aliases` and `IPAMConfig.IPv4Address`.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Map, Value};

use crate::args::{Parsed, Spec};
use crate::error::{Error, Result};

/// What one network attachment asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub network: String,
    pub aliases: Vec<String>,
    pub ipv4: Option<String>,
}

impl Attachment {
    /// The `EndpointSettings` object, with only what was asked for (an empty object when
    /// nothing was), so the daemon's defaults apply to the rest.
    pub fn endpoint(&self) -> Value {
        let mut ep = Map::new();
        if let Some(ip) = &self.ipv4 {
            ep.insert("IPAMConfig".into(), json!({ "IPv4Address": ip }));
        }
        if !self.aliases.is_empty() {
            ep.insert("Aliases".into(), json!(self.aliases));
        }
        Value::Object(ep)
    }

    fn is_empty(&self) -> bool {
        self.aliases.is_empty() && self.ipv4.is_none()
    }
}

/// Networks docker predefines (or that are modes, not networks): aliases make no sense there.
pub fn is_user_defined(network: &str) -> bool {
    !matches!(network, "default" | "bridge" | "host" | "none") && !network.starts_with("container:")
}

/// An `--ip`/`--ip=` value: berth networks are IPv4 only, so an IPv6 address is refused here
/// rather than sent and dropped.
pub fn check_ipv4(ip: &str) -> std::result::Result<(), String> {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => Ok(()),
        Ok(IpAddr::V6(_)) => Err(format!(
            "IPv6 address {ip} is not supported: berth networks are IPv4 only"
        )),
        Err(_) => Err(format!("invalid IPv4 address: {ip}")),
    }
}

/// One `--network` value: a plain name, or docker's advanced `name=N,alias=A,ip=IP` form.
fn parse_network_value(value: &str) -> std::result::Result<Attachment, String> {
    if !value.contains('=') {
        return Ok(Attachment {
            network: value.to_string(),
            ..Attachment::default()
        });
    }
    let mut a = Attachment::default();
    for field in value.split(',') {
        let (key, val) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field {field} must be a key=value pair"))?;
        match key.trim().to_lowercase().as_str() {
            "name" => a.network = val.to_string(),
            "alias" => a.aliases.push(val.to_string()),
            "ip" => {
                check_ipv4(val)?;
                a.ipv4 = Some(val.to_string());
            }
            // Known to docker, but nothing berth's networks can honour yet.
            k @ ("ip6" | "link-local-ip" | "mac-address" | "driver-opt" | "gw-priority") => {
                return Err(format!("network option {k} is not supported by berth"))
            }
            k => return Err(format!("invalid field key {k}")),
        }
    }
    if a.network.is_empty() {
        return Err("network name must be set".into());
    }
    Ok(a)
}

/// `HostConfig.NetworkMode` and, when there is something to say, `NetworkingConfig`.
pub fn networking(spec: &Spec, p: &Parsed) -> Result<(String, Option<Value>)> {
    let usage = |m: String| Error::usage(spec.command, m);
    let mut attachments = Vec::new();
    for value in p.values("network") {
        let a = parse_network_value(&value).map_err(|why| {
            usage(format!(
                "invalid argument {value:?} for \"--network\" flag: {why}"
            ))
        })?;
        if attachments
            .iter()
            .any(|b: &Attachment| b.network == a.network)
        {
            return Err(usage(format!(
                "network {:?} is specified multiple times",
                a.network
            )));
        }
        attachments.push(a);
    }
    if attachments.is_empty() {
        attachments.push(Attachment {
            network: "default".into(),
            ..Attachment::default()
        });
    }
    // The container-wide flags apply to the first network, as docker applies them.
    let first = &mut attachments[0];
    let aliases = p.values("network-alias");
    if !aliases.is_empty() {
        if !first.aliases.is_empty() {
            return Err(usage(
                "conflicting options: cannot specify both --network-alias and per-network alias"
                    .into(),
            ));
        }
        first.aliases = aliases;
    }
    if let Some(ip) = p.value("ip") {
        if first.ipv4.is_some() {
            return Err(usage(
                "conflicting options: cannot specify both --ip and per-network IPv4 address".into(),
            ));
        }
        check_ipv4(ip)
            .map_err(|why| usage(format!("invalid argument {ip:?} for \"--ip\" flag: {why}")))?;
        first.ipv4 = Some(ip.to_string());
    }
    if attachments
        .iter()
        .any(|a| !a.aliases.is_empty() && !is_user_defined(&a.network))
    {
        return Err(usage(
            "network-scoped aliases are only supported for user-defined networks".into(),
        ));
    }
    let mode = attachments[0].network.clone();
    // A single network without settings needs no endpoint config: the daemon makes one.
    if attachments.len() == 1 && attachments[0].is_empty() {
        return Ok((mode, None));
    }
    let endpoints: Map<String, Value> = attachments
        .iter()
        .map(|a| (a.network.clone(), a.endpoint()))
        .collect();
    Ok((mode, Some(json!({ "EndpointsConfig": endpoints }))))
}

/// docker's `ValidateExtraHost`: `host:ip` or `host=ip`, the IP possibly in brackets or the
/// word `host-gateway`; sent as `host:ip`.
pub fn extra_host(value: &str) -> std::result::Result<String, String> {
    let (host, ip) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .filter(|(h, i)| !h.is_empty() && !i.is_empty())
        .ok_or_else(|| format!("bad format for add-host: {value:?}"))?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    if ip != "host-gateway" && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address in add-host: {ip:?}"));
    }
    Ok(format!("{host}:{ip}"))
}

/// docker's `ValidateIPAddress` for `--dns`: any IPv4 or IPv6 address, sent as written.
pub fn dns_server(value: &str) -> std::result::Result<String, String> {
    value
        .trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("IP address is not correctly formatted: {value}"))
}

/// An IPv4 CIDR (`10.1.0.0/16`), for matching gateways, ranges and aux addresses to subnets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> std::result::Result<Cidr, String> {
        let bad = || format!("invalid CIDR address: {s}");
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(bad)?;
        Ok(Cidr { addr, prefix })
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// True when either network holds the other's base address (the two overlap).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse;
    use crate::cmd::create_opts::RUN_SPEC;

    fn net(cmdline: &str) -> Result<(String, Option<Value>)> {
        let argv: Vec<String> = cmdline.split_whitespace().map(String::from).collect();
        networking(&RUN_SPEC, &parse(&RUN_SPEC, &argv).unwrap())
    }

    #[test]
    fn network_flags_become_endpoint_configs() {
        assert_eq!(net("img").unwrap(), ("default".into(), None));
        assert_eq!(net("--network n1 img").unwrap(), ("n1".into(), None));
        assert_eq!(
            net("--net n1 --network-alias a --net-alias b --ip 10.77.1.9 img").unwrap(),
            (
                "n1".into(),
                Some(
                    json!({"EndpointsConfig":{"n1":{"IPAMConfig":{"IPv4Address":"10.77.1.9"},"Aliases":["a","b"]}}})
                )
            )
        );
        assert_eq!(
            net("--network name=n1,alias=x,ip=10.77.0.9 --network n2 img").unwrap(),
            (
                "n1".into(),
                Some(
                    json!({"EndpointsConfig":{"n1":{"IPAMConfig":{"IPv4Address":"10.77.0.9"},"Aliases":["x"]},"n2":{}}})
                )
            )
        );
        // --ip on the default network is the daemon's to refuse, as with docker.
        assert_eq!(
            net("--ip 10.0.0.1 img").unwrap().1,
            Some(json!({"EndpointsConfig":{"default":{"IPAMConfig":{"IPv4Address":"10.0.0.1"}}}}))
        );
    }

    #[test]
    fn network_flag_errors_read_like_docker() {
        let err = |c: &str| net(c).unwrap_err().to_string();
        assert!(err("--network-alias a img")
            .contains("network-scoped aliases are only supported for user-defined networks"));
        assert!(err("--network host --network-alias a img").contains("user-defined networks"));
        assert!(err("--network container:x --network-alias a img").contains("user-defined"));
        assert!(err("--network n1 --network n1 img")
            .contains("network \"n1\" is specified multiple times"));
        assert!(err("--network name=n1,alias=x --network-alias a img")
            .contains("cannot specify both --network-alias and per-network alias"));
        assert!(err("--network name=n1,bogus=1 img").contains("invalid field key bogus"));
        assert!(err("--network name=n1,ip6=::1 img").contains("ip6 is not supported"));
        assert!(err("--network n1 --ip ::1 img").contains("berth networks are IPv4 only"));
        assert!(err("--network n1 --ip bad img").contains("invalid IPv4 address: bad"));
    }

    #[test]
    fn extra_hosts_and_dns() {
        assert_eq!(extra_host("a=1.2.3.4").unwrap(), "a:1.2.3.4");
        assert_eq!(extra_host("b:[::1]").unwrap(), "b:::1");
        assert_eq!(extra_host("b:::1").unwrap(), "b:::1");
        assert_eq!(extra_host("c:host-gateway").unwrap(), "c:host-gateway");
        assert_eq!(
            extra_host("bad").unwrap_err(),
            "bad format for add-host: \"bad\""
        );
        assert!(extra_host("x:nope")
            .unwrap_err()
            .contains("invalid IP address"));
        assert_eq!(dns_server("8.8.8.8").unwrap(), "8.8.8.8");
        assert_eq!(
            dns_server("bad").unwrap_err(),
            "IP address is not correctly formatted: bad"
        );
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.255.1".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.overlaps(&Cidr::parse("10.1.1.0/24").unwrap()));
        assert!(!c.overlaps(&Cidr::parse("10.2.0.0/16").unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(Cidr::parse("bad").is_err());
        assert!(Cidr::parse("10.0.0.0/33").is_err());
    }
}
