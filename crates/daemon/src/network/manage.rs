//! Creating and removing user-defined networks.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_network::ipam::{host_routes, Subnet};

use super::record::{self, Driver, NetworkRecord};
use super::{io_err, NetError, Networks};

/// Driver options berth understands (Docker's names); anything else is refused.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";
const KNOWN_OPTIONS: &[&str] = &[BRIDGE_NAME_OPTION];

/// A checked `POST /networks/create`.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
}

impl Networks {
    /// Records a bridge network, gives it a subnet and brings it up on the host (bridge,
    /// rules, DNS server). On failure nothing of it remains.
    pub fn create(&self, req: CreateRequest) -> Result<NetworkRecord, NetError> {
        if !record::valid_name(&req.name) {
            return Err(NetError::Invalid(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        if let Some(k) = req
            .options
            .keys()
            .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
        {
            return Err(NetError::Invalid(format!(
                "network driver option {k} is not supported by berth"
            )));
        }
        let subnet = req
            .subnet
            .as_deref()
            .map(|s| {
                s.parse::<Subnet>()
                    .map_err(|e| NetError::Invalid(e.to_string()))
            })
            .transpose()?;
        let gateway = req
            .gateway
            .as_deref()
            .map(|g| {
                g.parse::<Ipv4Addr>()
                    .map_err(|_| NetError::Invalid(format!("invalid gateway address {g}")))
            })
            .transpose()?;
        if gateway.is_some() && subnet.is_none() {
            return Err(NetError::Invalid(
                "gateway can only be given together with a subnet".into(),
            ));
        }
        let id = crate::engine::random_id();
        let bridge = req
            .options
            .get(BRIDGE_NAME_OPTION)
            .cloned()
            .unwrap_or_else(|| record::user_bridge_name(&id));
        berth_network::link::validate_ifname(&bridge)
            .map_err(|e| NetError::Invalid(format!("bridge name {bridge:?}: {e}")))?;

        let mut records = self.records.write().expect("network records");
        if records.values().any(|r| r.name == req.name) {
            return Err(NetError::Exists(req.name));
        }
        if records.values().any(|r| r.bridge == bridge) {
            return Err(NetError::Conflict(format!(
                "bridge {bridge} is in use by another network"
            )));
        }
        let pool = {
            let mut ipam = self.ipam();
            match subnet {
                Some(subnet) => ipam.add_network(&id, subnet, gateway)?.clone(),
                None => {
                    let routes = host_routes(std::path::Path::new("/proc/net/route"))?;
                    let mut last = None;
                    let mut found = None;
                    for pool in &self.config.pools {
                        match ipam.add_network_from_pool(&id, pool, &routes) {
                            Ok(p) => {
                                found = Some(p.clone());
                                break;
                            }
                            Err(e) => last = Some(e),
                        }
                    }
                    match (found, last) {
                        (Some(p), _) => p,
                        (None, Some(e)) => return Err(e.into()),
                        (None, None) => unreachable!("the config always has a pool"),
                    }
                }
            }
        };
        let record = NetworkRecord {
            id: id.clone(),
            name: req.name,
            driver: Driver::Bridge,
            created: berth_runtime::shim::time::now(),
            bridge,
            subnet: Some(pool.subnet.to_string()),
            gateway: Some(pool.gateway),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels,
            options: req.options,
            default_bridge: false,
        };
        let made = record
            .save(&self.records_dir)
            .map_err(io_err("saving", &self.records_dir))
            .and_then(|()| self.ensure_live(&record));
        if let Err(e) = made {
            let _ = self.take_down(&record);
            let _ = record.delete(&self.records_dir);
            let _ = self.ipam().remove_network(&id);
            return Err(e);
        }
        records.insert(id, record.clone());
        Ok(record)
    }

    /// Removes a user-defined network that no running container uses (the caller checks).
    pub fn remove(&self, record: &NetworkRecord) -> Result<(), NetError> {
        if record.predefined() {
            return Err(NetError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                record.name
            )));
        }
        self.take_down(record)?;
        let mut ipam = self.ipam();
        if ipam.network(&record.id).is_some() {
            ipam.remove_network(&record.id)?;
        }
        drop(ipam);
        record
            .delete(&self.records_dir)
            .map_err(io_err("removing", &self.records_dir))?;
        self.records
            .write()
            .expect("network records")
            .remove(&record.id);
        Ok(())
    }
}
