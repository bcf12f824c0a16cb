//! The live table of names the embedded server answers for, per network.
//!
//! berthd registers a container's endpoint on a network (its name, short id and aliases, and its
//! address there) when the container starts and unregisters it when it stops; every listener
//! reads the same table, but only its own network's part of it, so a name registered on network A
//! is unknown to network B's listener.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::RwLock;

/// One network's names.
#[derive(Debug, Default)]
struct NetworkNames {
    /// Address → its names in registration order (the first is the one PTR answers with).
    by_ip: HashMap<Ipv4Addr, Vec<String>>,
    /// Lowercase name → addresses in registration order. An alias shared by several containers
    /// maps to all of them, which is how Docker's aliases give round-robin.
    by_name: HashMap<String, Vec<Ipv4Addr>>,
}

/// Names of containers, keyed by network name. Shared (behind an `Arc`) by berthd and every
/// listener; updates are visible to the next query.
#[derive(Debug, Default)]
pub struct NameTable {
    networks: RwLock<HashMap<String, NetworkNames>>,
}

/// Lookup form of a name: lowercase, no trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl NameTable {
    pub fn new() -> NameTable {
        NameTable::default()
    }

    /// Makes `names` (container name, short id, aliases; case and a trailing dot don't matter)
    /// resolve to `ip` on `network`. Registering the same address again adds the new names.
    pub fn register<S: AsRef<str>>(&self, network: &str, names: &[S], ip: Ipv4Addr) {
        let mut networks = self.networks.write().unwrap_or_else(|e| e.into_inner());
        let net = networks.entry(network.to_string()).or_default();
        let known = net.by_ip.entry(ip).or_default();
        for name in names {
            let name = normalize(name.as_ref());
            if name.is_empty() || known.contains(&name) {
                continue;
            }
            known.push(name.clone());
            net.by_name.entry(name).or_default().push(ip);
        }
    }

    /// Forgets every name of `ip` on `network` (the container left it).
    pub fn unregister(&self, network: &str, ip: Ipv4Addr) {
        let mut networks = self.networks.write().unwrap_or_else(|e| e.into_inner());
        let Some(net) = networks.get_mut(network) else {
            return;
        };
        for name in net.by_ip.remove(&ip).unwrap_or_default() {
            if let Some(ips) = net.by_name.get_mut(&name) {
                ips.retain(|&a| a != ip);
                if ips.is_empty() {
                    net.by_name.remove(&name);
                }
            }
        }
        if net.by_ip.is_empty() {
            networks.remove(network);
        }
    }

    /// Drops a whole network's names (the network was removed).
    pub fn remove_network(&self, network: &str) {
        self.networks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(network);
    }

    /// Addresses of `name` on `network`; `name` may also be qualified with the network's name
    /// (`web.mynet`), as Docker allows. Empty when unknown.
    pub fn lookup(&self, network: &str, name: &str) -> Vec<Ipv4Addr> {
        let networks = self.networks.read().unwrap_or_else(|e| e.into_inner());
        let Some(net) = networks.get(network) else {
            return Vec::new();
        };
        let key = normalize(name);
        if let Some(ips) = net.by_name.get(&key) {
            return ips.clone();
        }
        let suffix = format!(".{}", network.to_ascii_lowercase());
        key.strip_suffix(&suffix)
            .and_then(|short| net.by_name.get(short))
            .cloned()
            .unwrap_or_default()
    }

    /// The name PTR answers with for `ip` on `network`: `<first name>.<network>`, as Docker does.
    pub fn reverse(&self, network: &str, ip: Ipv4Addr) -> Option<String> {
        let networks = self.networks.read().unwrap_or_else(|e| e.into_inner());
        let first = networks.get(network)?.by_ip.get(&ip)?.first()?;
        Some(format!("{first}.{network}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 3);

    #[test]
    fn lookups_ignore_case_and_trailing_dot() {
        let t = NameTable::new();
        t.register("net1", &["Web", "0123456789ab", "frontend."], A);
        for q in [
            "web",
            "WEB.",
            "0123456789AB",
            "frontend",
            "Frontend.",
            "web.net1",
            "WEB.NET1.",
        ] {
            assert_eq!(t.lookup("net1", q), [A], "{q}");
        }
        assert!(t.lookup("net1", "db").is_empty());
        assert!(t.lookup("net1", "web.other").is_empty());
    }

    #[test]
    fn networks_are_isolated() {
        let t = NameTable::new();
        t.register("net1", &["web"], A);
        t.register("net2", &["db"], B);
        assert!(t.lookup("net2", "web").is_empty());
        assert!(t.lookup("net1", "db").is_empty());
        assert_eq!(t.reverse("net2", A), None);
    }

    #[test]
    fn shared_alias_resolves_to_all_until_unregistered() {
        let t = NameTable::new();
        t.register("net1", &["one", "svc"], A);
        t.register("net1", &["two", "svc"], B);
        assert_eq!(t.lookup("net1", "svc"), [A, B]);
        t.unregister("net1", A);
        assert_eq!(t.lookup("net1", "svc"), [B]);
        assert!(t.lookup("net1", "one").is_empty());
        assert_eq!(t.reverse("net1", B).as_deref(), Some("two.net1"));
        t.unregister("net1", B);
        assert!(t.lookup("net1", "svc").is_empty());
        t.unregister("net1", B); // twice is harmless
        t.unregister("nonet", B);
    }

    #[test]
    fn remove_network_forgets_everything() {
        let t = NameTable::new();
        t.register("net1", &["web"], A);
        t.remove_network("net1");
        assert!(t.lookup("net1", "web").is_empty());
    }
}
