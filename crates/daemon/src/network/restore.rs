//! Daemon start and stop: the host side is brought back in line with the records. What a
//! crash left (namespaces, veths, leases, rules of containers that are gone) is removed, and
//! running containers keep their addresses, ports and names.

use std::collections::HashSet;

use berth_network::bridge;
use berth_network::link;
use berth_network::netns;
use berth_network::nft::DesiredState;
use berth_network::sysctl::Sysctl;

use super::record::NetworkRecord;
use super::{rules_of, NetError, Networks, Sandbox};

impl Networks {
    /// `running`: every container that still runs, with its recorded sandbox.
    pub fn restore(&self, running: &[(String, Sandbox)]) {
        for (id, sandbox) in running {
            if !sandbox.ports.is_empty() {
                if let Err(e) = self.publisher.restore(id, &sandbox.ports) {
                    tracing::warn!("taking back the published ports of {id}: {e}");
                }
            }
            for ep in sandbox.endpoints.values() {
                if !ep.dns_names.is_empty() {
                    self.names.register(&ep.network_id, &ep.dns_names, ep.ip);
                }
            }
        }
        let used: HashSet<&str> = running
            .iter()
            .flat_map(|(_, s)| s.endpoints.values().map(|e| e.network_id.as_str()))
            .collect();
        let needed: Vec<NetworkRecord> = self
            .all()
            .into_iter()
            .filter(|r| r.user_defined() || used.contains(r.id.as_str()))
            .collect();
        if let Err(e) = self.bring_back(&needed) {
            tracing::error!("restoring networks on the host: {e}");
        }
        self.remove_leftovers(running);
    }

    fn bring_back(&self, needed: &[NetworkRecord]) -> Result<(), NetError> {
        let table = self.publisher.table();
        if needed.is_empty() {
            // Nothing runs and no user network exists: what an earlier berthd left goes.
            self.take_down_host()?;
            return Ok(());
        }
        Sysctl::default().enable_ip_forward()?;
        let networks = needed
            .iter()
            .filter_map(|r| self.pool(&r.id).map(|(subnet, _)| rules_of(r, subnet)))
            .collect();
        table.reconcile(&DesiredState {
            networks,
            ports: self.publisher.published(),
        })?;
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(String::new());
        for record in needed {
            if let Err(e) = self.ensure_live(record) {
                tracing::error!("bringing up network {}: {e}", record.name);
            }
        }
        Ok(())
    }

    /// Namespaces, veths and leases of containers that no longer run.
    fn remove_leftovers(&self, running: &[(String, Sandbox)]) {
        let pinned: HashSet<&std::path::Path> =
            running.iter().map(|(_, s)| s.netns.as_path()).collect();
        for path in netns::list_pinned(&self.netns_dir).unwrap_or_default() {
            if !pinned.contains(path.as_path()) {
                if let Err(e) = netns::remove_path(&path) {
                    tracing::warn!("removing stale network namespace {}: {e}", path.display());
                }
            }
        }
        let ours: HashSet<String> = running
            .iter()
            .flat_map(|(_, s)| s.endpoints.values().map(|e| e.host_ifname.clone()))
            .collect();
        let bridges: HashSet<String> = self
            .all()
            .into_iter()
            .filter(|r| !r.bridge.is_empty())
            .map(|r| r.bridge)
            .collect();
        let swept = self.with_netlink(|nl| {
            let links = link::list_links(nl)?;
            let bridge_index: HashSet<u32> = links
                .iter()
                .filter(|l| bridges.contains(&l.name))
                .map(|l| l.index)
                .collect();
            for l in &links {
                let stale = l.kind == "veth"
                    && l.name.starts_with(berth_network::veth::HOST_PREFIX)
                    && l.master.is_some_and(|m| bridge_index.contains(&m))
                    && !ours.contains(&l.name);
                if stale {
                    link::delete_link(nl, &l.name)?;
                }
            }
            Ok(())
        });
        if let Err(e) = swept {
            tracing::warn!("removing stale veths: {e}");
        }
        let holders: HashSet<(&str, &str)> = running
            .iter()
            .flat_map(|(id, s)| {
                s.endpoints
                    .values()
                    .map(move |e| (e.network_id.as_str(), id.as_str()))
            })
            .collect();
        let mut ipam = self.ipam();
        let stale: Vec<(String, String)> = ipam
            .networks()
            .flat_map(|(net, pool)| {
                pool.leases
                    .values()
                    .filter(|owner| !holders.contains(&(net, owner.as_str())))
                    .map(move |owner| (net.to_string(), owner.clone()))
            })
            .collect();
        for (net, owner) in stale {
            if let Err(e) = ipam.release_owner(&net, &owner) {
                tracing::warn!("releasing the leases of {owner} on {net}: {e}");
            }
        }
    }

    /// At berthd's stop. With no container left running, everything berthd made on the host
    /// goes (bridges, the nft table); records and leases stay for the next start.
    pub fn shutdown(&self, containers_running: bool) {
        let servers: Vec<String> = self
            .dns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for id in servers {
            self.stop_dns(&id);
        }
        if !containers_running {
            if let Err(e) = self.take_down_host() {
                tracing::warn!("removing networks from the host: {e}");
            }
        }
    }

    fn take_down_host(&self) -> Result<(), NetError> {
        self.publisher.table().delete()?;
        let bridges: Vec<String> = self
            .all()
            .into_iter()
            .filter(|r| !r.bridge.is_empty())
            .map(|r| r.bridge)
            .collect();
        self.with_netlink(|nl| {
            for b in &bridges {
                bridge::remove_bridge(nl, b)?;
            }
            Ok(())
        })?;
        self.live.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(())
    }
}
