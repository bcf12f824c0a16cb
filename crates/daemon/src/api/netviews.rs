//! The network parts of container views: NetworkSettings in inspect and list, and the Ports of
//! `docker ps`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::engine::{Container, Daemon};
use crate::network::Mode;

/// Exposed ports ("80/tcp") and, while it runs, what each is published on.
fn port_map(c: &Container) -> Map<String, Value> {
    let mut ports = Map::new();
    let Some(sandbox) = c.sandbox.as_ref().filter(|_| c.state.status.is_alive()) else {
        return ports;
    };
    for p in c.config.exposed_ports.iter().flatten() {
        let key = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        ports.insert(key, Value::Null);
    }
    for rule in &sandbox.ports {
        let key = format!("{}/{}", rule.container_port, rule.proto.name());
        let binding =
            json!({"HostIp": rule.host_ip.to_string(), "HostPort": rule.host_port.to_string()});
        match ports.get_mut(&key) {
            Some(Value::Array(list)) => list.push(binding),
            _ => {
                ports.insert(key, json!([binding]));
            }
        }
    }
    ports
}

/// One entry of `docker ps`'s Ports. Fields are declared in sorted order: serde_json's maps
/// sort their keys, and the list's bytes stay what they were when these were `Value`s.
#[derive(Debug, Serialize)]
pub struct PortView {
    #[serde(rename = "IP", skip_serializing_if = "Option::is_none")]
    ip: Option<Value>,
    #[serde(rename = "PrivatePort")]
    private_port: u16,
    #[serde(rename = "PublicPort", skip_serializing_if = "Option::is_none")]
    public_port: Option<u16>,
    #[serde(rename = "Type")]
    proto: String,
}

/// `docker ps`'s Ports: published ports with their host side, exposed ones without.
pub fn port_summary(c: &Container) -> Vec<PortView> {
    let mut out = Vec::new();
    for (key, bindings) in port_map(c) {
        let (port, proto) = key.split_once('/').unwrap_or((&key, "tcp"));
        let private_port: u16 = port.parse().unwrap_or(0);
        match bindings {
            Value::Array(list) => {
                for mut b in list {
                    let public = b["HostPort"].as_str().and_then(|p| p.parse::<u16>().ok());
                    out.push(PortView {
                        ip: Some(b["HostIp"].take()),
                        private_port,
                        public_port: Some(public.unwrap_or(0)),
                        proto: proto.to_string(),
                    });
                }
            }
            _ => out.push(PortView {
                ip: None,
                private_port,
                public_port: None,
                proto: proto.to_string(),
            }),
        }
    }
    out
}

/// An IPv4 address, or "" where there is none (as Docker prints unset addresses).
#[derive(Debug)]
struct AddrOrEmpty(Option<Ipv4Addr>);

impl Serialize for AddrOrEmpty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(ip) => ip.serialize(s),
            None => s.serialize_str(""),
        }
    }
}

#[derive(Debug, Serialize)]
struct IpamView {
    #[serde(rename = "IPv4Address")]
    ipv4_address: Ipv4Addr,
}

/// One entry of NetworkSettings.Networks, in inspect and in the list. Fields are declared in
/// sorted order, the order serde_json's maps gave them when this was built as a `Value`
/// (the unit test of the list checks it). `()` fields are Docker's always-null ones.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointView<'a> {
    aliases: Option<&'a [String]>,
    #[serde(rename = "DNSNames")]
    dns_names: Option<&'a [String]>,
    driver_opts: (),
    #[serde(rename = "EndpointID")]
    endpoint_id: &'a str,
    gateway: AddrOrEmpty,
    #[serde(rename = "GlobalIPv6Address")]
    global_ipv6_address: &'static str,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    global_ipv6_prefix_len: u8,
    gw_priority: u8,
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<IpamView>,
    #[serde(rename = "IPAddress")]
    ip_address: AddrOrEmpty,
    #[serde(rename = "IPPrefixLen")]
    ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    ipv6_gateway: &'static str,
    links: (),
    mac_address: &'a str,
    #[serde(rename = "NetworkID")]
    network_id: Cow<'a, str>,
}

/// NetworkSettings.Networks: one entry per network, with its address while running.
pub fn networks<'a>(daemon: &Daemon, c: &'a Container) -> BTreeMap<&'a str, EndpointView<'a>> {
    endpoints(c, |name| {
        daemon.networks.find(name).map(|r| r.id).unwrap_or_default()
    })
}

/// [`networks`], with the ID of `host` or `none` (for containers in those modes) from
/// `predefined_id`.
pub fn endpoints<'a>(
    c: &'a Container,
    predefined_id: impl FnOnce(&str) -> String,
) -> BTreeMap<&'a str, EndpointView<'a>> {
    let mut out = BTreeMap::new();
    let running = c.state.status.is_alive();
    let endpoint = |name: &str| {
        c.sandbox
            .as_ref()
            .filter(|_| running)
            .and_then(|s| s.endpoints.get(name))
    };
    for (name, cfg) in &c.networks {
        let ep = endpoint(name);
        out.insert(
            name.as_str(),
            EndpointView {
                aliases: (!cfg.aliases.is_empty()).then_some(cfg.aliases.as_slice()),
                dns_names: ep
                    .filter(|e| !e.dns_names.is_empty())
                    .map(|e| e.dns_names.as_slice()),
                driver_opts: (),
                endpoint_id: ep.map_or("", |e| e.endpoint_id.as_str()),
                gateway: AddrOrEmpty(ep.map(|e| e.gateway)),
                global_ipv6_address: "",
                global_ipv6_prefix_len: 0,
                gw_priority: 0,
                ipam_config: cfg.ipv4_address.map(|ip| IpamView { ipv4_address: ip }),
                ip_address: AddrOrEmpty(ep.map(|e| e.ip)),
                ip_prefix_len: ep.map_or(0, |e| e.prefix),
                ipv6_gateway: "",
                links: (),
                mac_address: ep.map_or("", |e| e.mac.as_str()),
                network_id: Cow::Borrowed(&cfg.network_id),
            },
        );
    }
    if let Mode::Host | Mode::None = Mode::of(&c.host_config) {
        let name = c.host_config.network_mode.as_deref().unwrap_or_default();
        out.insert(
            name,
            EndpointView {
                aliases: None,
                dns_names: None,
                driver_opts: (),
                endpoint_id: "",
                gateway: AddrOrEmpty(None),
                global_ipv6_address: "",
                global_ipv6_prefix_len: 0,
                gw_priority: 0,
                ipam_config: None,
                ip_address: AddrOrEmpty(None),
                ip_prefix_len: 0,
                ipv6_gateway: "",
                links: (),
                mac_address: "",
                network_id: Cow::Owned(predefined_id(name)),
            },
        );
    }
    out
}

/// The whole NetworkSettings of `docker inspect`. The top-level address fields describe the
/// default `bridge` network, as Docker's do.
pub fn network_settings(daemon: &Daemon, c: &Container) -> Value {
    let running = c.state.status.is_alive();
    let sandbox = c.sandbox.as_ref().filter(|_| running);
    let bridge = sandbox.and_then(|s| s.endpoints.get("bridge"));
    json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": sandbox.map(|s| s.netns.display().to_string()).unwrap_or_default(),
        "Ports": port_map(c),
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": bridge.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": bridge.map(|e| e.gateway.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": bridge.map(|e| e.prefix).unwrap_or(0),
        "IPv6Gateway": "",
        "MacAddress": bridge.map(|e| e.mac.clone()).unwrap_or_default(),
        "Networks": networks(daemon, c),
    })
}
