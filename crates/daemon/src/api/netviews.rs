//! The network parts of container views: NetworkSettings in inspect and list, and the Ports of
//! `docker ps`.

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

/// `docker ps`'s Ports: published ports with their host side, exposed ones without.
pub fn port_summary(c: &Container) -> Vec<Value> {
    let mut out = Vec::new();
    for (key, bindings) in port_map(c) {
        let (port, proto) = key.split_once('/').unwrap_or((&key, "tcp"));
        let private: u16 = port.parse().unwrap_or(0);
        match bindings {
            Value::Array(list) => {
                for b in list {
                    out.push(json!({
                        "IP": b["HostIp"],
                        "PrivatePort": private,
                        "PublicPort": b["HostPort"].as_str().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0),
                        "Type": proto,
                    }));
                }
            }
            _ => out.push(json!({"PrivatePort": private, "Type": proto})),
        }
    }
    out
}

/// NetworkSettings.Networks: one entry per network, with its address while running.
pub fn networks(daemon: &Daemon, c: &Container) -> Map<String, Value> {
    let mut out = Map::new();
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
            name.clone(),
            json!({
                "IPAMConfig": cfg.ipv4_address.map(|ip| json!({"IPv4Address": ip.to_string()})),
                "Links": null,
                "Aliases": (!cfg.aliases.is_empty()).then(|| cfg.aliases.clone()),
                "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(),
                "DriverOpts": null,
                "GwPriority": 0,
                "NetworkID": cfg.network_id,
                "EndpointID": ep.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
                "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
                "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0),
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": ep.filter(|e| !e.dns_names.is_empty()).map(|e| e.dns_names.clone()),
            }),
        );
    }
    if let Mode::Host | Mode::None = Mode::of(&c.host_config) {
        let name = c.host_config.network_mode.clone().unwrap_or_default();
        let id = daemon
            .networks
            .find(&name)
            .map(|r| r.id)
            .unwrap_or_default();
        out.insert(
            name,
            json!({
                "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
                "DriverOpts": null, "GwPriority": 0, "NetworkID": id, "EndpointID": "",
                "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null,
            }),
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
