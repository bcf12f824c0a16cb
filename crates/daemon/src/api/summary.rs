//! The summary `GET /containers/json` gives of each container, serialised straight from the
//! record. Building a `serde_json::Value` tree per container (a dozen maps of owned strings)
//! and dropping it again was most of the endpoint's time with 1000 containers; these views
//! borrow from the record and write into the response buffer directly.
//!
//! Every struct declares its fields in sorted order: the list used to be made of serde_json
//! maps, which sort their keys, and clients have only ever seen that order.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::SystemTime;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::netviews::{EndpointView, PortView};
use crate::engine::Container;

/// One entry of `GET /containers/json` (Docker's ContainerSummary, as far as berth fills it).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary<'a> {
    command: CommandLine<'a>,
    created: i64,
    host_config: HostConfigView<'a>,
    id: &'a str,
    image: &'a str,
    #[serde(rename = "ImageID")]
    image_id: &'a str,
    labels: SortedLabels<'a>,
    mounts: Vec<Value>,
    names: [SlashName<'a>; 1],
    network_settings: NetworkSettingsView<'a>,
    ports: Vec<PortView>,
    state: &'static str,
    status: String,
}

#[derive(Debug, Serialize)]
struct HostConfigView<'a> {
    #[serde(rename = "NetworkMode")]
    network_mode: &'a str,
}

#[derive(Debug, Serialize)]
struct NetworkSettingsView<'a> {
    #[serde(rename = "Networks")]
    networks: BTreeMap<&'a str, EndpointView<'a>>,
}

/// Path and arguments joined by spaces, written without building the joined string.
#[derive(Debug)]
struct CommandLine<'a>(&'a str, &'a [String]);

impl fmt::Display for CommandLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        for arg in self.1 {
            f.write_str(" ")?;
            f.write_str(arg)?;
        }
        Ok(())
    }
}

impl Serialize for CommandLine<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A name with Docker's leading '/'.
#[derive(Debug)]
struct SlashName<'a>(&'a str);

impl Serialize for SlashName<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("/{}", self.0))
    }
}

/// Labels as a JSON object with sorted keys (the record keeps them in a HashMap).
#[derive(Debug)]
struct SortedLabels<'a>(Option<&'a HashMap<String, String>>);

impl Serialize for SortedLabels<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut labels: Vec<(&String, &String)> = self.0.into_iter().flatten().collect();
        labels.sort_unstable();
        let mut map = s.serialize_map(Some(labels.len()))?;
        for (k, v) in labels {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'a> ContainerSummary<'a> {
    /// The summary of `c` at `now` (for the Status text). The parts that need the daemon's
    /// stores come in resolved: `networks` from [`super::netviews::networks`], `mounts` from
    /// [`crate::engine::mounts::mounts_view`].
    pub fn new(
        c: &'a Container,
        networks: BTreeMap<&'a str, EndpointView<'a>>,
        mounts: Vec<Value>,
        now: SystemTime,
    ) -> ContainerSummary<'a> {
        let state = &c.state;
        ContainerSummary {
            command: CommandLine(&c.path, &c.args),
            created: super::views::created_unix(c),
            host_config: HostConfigView {
                network_mode: c.host_config.network_mode.as_deref().unwrap_or("default"),
            },
            id: &c.id,
            image: &c.image,
            image_id: &c.image_id,
            labels: SortedLabels(c.config.labels.as_ref()),
            mounts,
            names: [SlashName(&c.name)],
            network_settings: NetworkSettingsView { networks },
            ports: super::netviews::port_summary(c),
            state: state.status.as_str(),
            status: crate::timefmt::status_text(
                state.status.as_str(),
                state.exit_code as i64,
                state.started_at.as_deref(),
                state.finished_at.as_deref(),
                now,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// A running container with labels, published and exposed ports and a bridge endpoint,
    /// as berthd records it.
    const WEB: &str = r#"{"id": "d7abb5cf582d93a02873795aa51035d7152cdbc650792093b76613de1840ac67",
        "name": "web", "created": "2026-11-28T15:12:27.651320535Z", "image": "bb",
        "image_id": "sha256:f9496828c0ce8727389dbf2f66595fb6a058e0f7e24bba40cde37d09657a6dbf",
        "config": {"ExposedPorts": {"80/tcp": {}, "443/udp": {}, "9000/tcp": {}},
            "Cmd": ["sh", "-c", "echo \"hi\""], "Image": "bb", "Labels": {"b": "2", "a": "1"}},
        "host_config": {"NetworkMode": "default"},
        "state": {"status": "running", "pid": 14805, "shim_pid": 14804, "exit_code": 0,
            "oom_killed": false, "error": "", "started_at": "2026-11-28T15:12:27.737127810Z",
            "finished_at": null, "manually_stopped": false},
        "restart_count": 0, "driver": "overlay", "runtime": "berth", "path": "sh",
        "args": ["-c", "echo \"hi\""],
        "networks": {"bridge": {"network_id": "338c43", "aliases": ["w"], "ipv4_address": "10.234.0.2"}},
        "sandbox": {"netns": "/run/netns/x", "endpoints": {"bridge": {"network_id": "338c43",
            "endpoint_id": "72bad7", "ip": "10.234.0.2", "prefix": 24, "gateway": "10.234.0.1",
            "mac": "02:42:0a:ea:00:02", "host_ifname": "bvd7", "index": 0, "dns_names": ["web"]}},
            "ports": [{"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 18080,
                "container_ip": "10.234.0.2", "container_port": 80}]}}"#;

    fn web() -> Container {
        serde_json::from_str(WEB).expect("record parses")
    }

    fn now() -> SystemTime {
        // Three minutes (and a bit) after the start above.
        UNIX_EPOCH + Duration::from_secs(1_795_878_747 + 200)
    }

    #[test]
    fn fields_come_in_sorted_order_at_every_level() {
        let c = web();
        let mut none = web();
        none.host_config.network_mode = Some("none".into());
        none.networks.clear();
        for c in [&c, &none] {
            let nets = super::super::netviews::endpoints(c, |name| format!("id-of-{name}"));
            let summary = ContainerSummary::new(c, nets, Vec::new(), now());
            let direct = serde_json::to_string(&summary).unwrap();
            // Through a Value every map is sorted; the direct bytes must be the same.
            let sorted = serde_json::to_string(&serde_json::to_value(&summary).unwrap()).unwrap();
            assert_eq!(direct, sorted);
        }
    }

    #[test]
    fn summary_has_dockers_values() {
        let c = web();
        let nets = super::super::netviews::endpoints(&c, |_| unreachable!("bridge mode"));
        let v = serde_json::to_value(ContainerSummary::new(&c, nets, Vec::new(), now())).unwrap();
        assert_eq!(v["Command"], r#"sh -c echo "hi""#);
        assert_eq!(v["Names"], serde_json::json!(["/web"]));
        assert_eq!(v["Status"], "Up 3 minutes");
        assert_eq!(v["State"], "running");
        assert_eq!(v["HostConfig"]["NetworkMode"], "default");
        assert_eq!(v["Labels"], serde_json::json!({"a": "1", "b": "2"}));
        assert_eq!(
            v["Ports"],
            serde_json::json!([
                {"PrivatePort": 443, "Type": "udp"},
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"},
                {"PrivatePort": 9000, "Type": "tcp"},
            ])
        );
        let bridge = &v["NetworkSettings"]["Networks"]["bridge"];
        assert_eq!(bridge["IPAddress"], "10.234.0.2");
        assert_eq!(bridge["Gateway"], "10.234.0.1");
        assert_eq!(
            bridge["IPAMConfig"],
            serde_json::json!({"IPv4Address": "10.234.0.2"})
        );
        assert_eq!(bridge["Aliases"], serde_json::json!(["w"]));
        assert_eq!(bridge["DNSNames"], serde_json::json!(["web"]));
        assert_eq!(bridge["Links"], Value::Null);
        assert_eq!(bridge["IPPrefixLen"], 24);

        let mut stopped = web();
        stopped.state.status = crate::engine::Status::Exited;
        stopped.state.exit_code = 3;
        stopped.state.finished_at = Some("2026-11-28T15:13:27Z".into());
        let nets = super::super::netviews::endpoints(&stopped, |_| String::new());
        let v = serde_json::to_value(ContainerSummary::new(&stopped, nets, vec![], now())).unwrap();
        assert_eq!(v["Status"], "Exited (3) 2 minutes ago");
        assert_eq!(v["Ports"], serde_json::json!([]));
        assert_eq!(v["NetworkSettings"]["Networks"]["bridge"]["IPAddress"], "");
    }
}
