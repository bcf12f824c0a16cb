//! A network as berthd records it: `network/networks/<id>.json`, replaced atomically. The
//! three predefined networks (`bridge`, `host`, `none`) are records too, made at first start.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Bridge,
    Host,
    /// `none`: a private namespace with loopback only (Docker's "null" driver).
    Null,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub driver: Driver,
    pub created: String,
    /// The host bridge device (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The default network (`bridge`): no DNS server, no aliases, addresses only.
    #[serde(default)]
    pub default_bridge: bool,
}

impl NetworkRecord {
    /// `host`, `none` and the default `bridge` cannot be removed.
    pub fn predefined(&self) -> bool {
        self.default_bridge || self.driver != Driver::Bridge
    }

    /// A user-defined bridge network: container names resolve through the embedded DNS.
    pub fn user_defined(&self) -> bool {
        self.driver == Driver::Bridge && !self.default_bridge
    }

    pub fn load_all(dir: &Path) -> std::io::Result<Vec<NetworkRecord>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = std::fs::read(&path)?;
            match serde_json::from_slice::<NetworkRecord>(&bytes) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(
                    "{}: unreadable network record ({e}); skipped",
                    path.display()
                ),
            }
        }
        Ok(out)
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let bytes = serde_json::to_vec_pretty(self).expect("network record serialises");
        berth_runtime::fsutil::write_atomic(&dir.join(format!("{}.json", self.id)), &bytes)
    }

    pub fn delete(&self, dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(dir.join(format!("{}.json", self.id))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Docker's rule for network names.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The host bridge of a user-defined network: `berth-` and the start of its id, so that a
/// leak check finds it by name.
pub fn user_bridge_name(id: &str) -> String {
    format!("berth-{}", &id[..9])
}
