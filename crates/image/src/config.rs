//! The image config (Docker's and OCI's, which share their core), kept lossless: fields berth
//! doesn't model are carried in `extra`, and a config that came from elsewhere is stored as the
//! exact bytes it arrived as, since its sha256 is the image ID.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The runtime defaults an image carries (`config` in the image config).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub typ: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> crate::Result<ImageConfig> {
        let config: ImageConfig = serde_json::from_slice(bytes)
            .map_err(|e| crate::ImageError::InvalidConfig(format!("is not valid JSON: {e}")))?;
        if config.rootfs.typ != "layers" {
            return Err(crate::ImageError::InvalidConfig(format!(
                "rootfs.type is {:?}, not \"layers\"",
                config.rootfs.typ
            )));
        }
        for d in &config.rootfs.diff_ids {
            d.parse::<crate::Digest>()
                .map_err(|e| crate::ImageError::InvalidConfig(format!("rootfs.diff_ids: {e}")))?;
        }
        Ok(config)
    }

    pub fn diff_ids(&self) -> Vec<crate::Digest> {
        self.rootfs
            .diff_ids
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect()
    }

    /// The bytes berth writes for a config it made (compact JSON, as Docker writes).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an image config serialises")
    }
}

/// The current time as Docker writes it in configs and history (RFC 3339, UTC, nanoseconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let raw = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Healthcheck":{"Test":["NONE"]}},"rootfs":{"type":"layers","diff_ids":[]},"docker_version":"20.10.24","container_config":{"Cmd":["x"]}}"#;
        let c = ImageConfig::parse(raw).unwrap();
        assert_eq!(c.extra["docker_version"], "20.10.24");
        let again: serde_json::Value = serde_json::from_slice(&c.to_bytes()).unwrap();
        assert_eq!(again["config"]["Healthcheck"]["Test"][0], "NONE");
        assert_eq!(again["container_config"]["Cmd"][0], "x");
    }

    #[test]
    fn a_config_without_layers_rootfs_is_refused() {
        let err = ImageConfig::parse(br#"{"rootfs":{"type":"foo","diff_ids":[]}}"#).unwrap_err();
        assert!(err.to_string().contains("rootfs.type"), "{err}");
        assert!(ImageConfig::parse(b"{not json").is_err());
    }
}
