//! `berth network create|ls|inspect|rm|connect|disconnect|prune` against Docker's `/networks`
//! endpoints. Like docker, every failure here exits 1 (usage errors stay 125). Options docker
//! has that berth's networks cannot honour (IPv6, other drivers and IPAM drivers, swarm scope,
//! config-only networks) are refused before anything is sent.

use std::cmp::Ordering;
use std::io::Write;
use std::net::Ipv4Addr;

use serde_json::{json, Map, Value};

use super::common::{confirm, exit_one, filters_json};
use super::net_opts::{check_ipv4, Attachment, Cidr};
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::{escape, Query};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::table::{short_id, Format};
use crate::template::LABELS_KEY;
use crate::value::{obj, V};

pub const CREATE_SPEC: Spec = Spec {
    command: "berth network create",
    args: "NETWORK",
    about: "Create a network",
    flags: &[
        b(None, "attachable", "Enable manual container attachment"),
        v(
            None,
            "aux-address",
            "map",
            "Auxiliary IPv4 addresses used by Network driver",
        ),
        v(
            None,
            "config-from",
            "string",
            "The network from which to copy the configuration (not supported)",
        ),
        b(
            None,
            "config-only",
            "Create a configuration only network (not supported)",
        ),
        v(
            Some('d'),
            "driver",
            "string",
            "Driver to manage the Network (default \"bridge\")",
        ),
        v(
            None,
            "gateway",
            "strings",
            "IPv4 Gateway for the master subnet",
        ),
        b(
            None,
            "ingress",
            "Create swarm routing-mesh network (not supported)",
        ),
        b(None, "internal", "Restrict external access to the network"),
        v(
            None,
            "ip-range",
            "strings",
            "Allocate container ip from a sub-range",
        ),
        v(
            None,
            "ipam-driver",
            "string",
            "IP Address Management Driver (default \"default\")",
        ),
        v(None, "ipam-opt", "map", "Set IPAM driver specific options"),
        b(
            None,
            "ipv4",
            "Enable or disable IPv4 address assignment (default true)",
        ),
        b(
            None,
            "ipv6",
            "Enable or disable IPv6 address assignment (not supported)",
        ),
        v(None, "label", "list", "Set metadata on a network"),
        v(Some('o'), "opt", "map", "Set driver specific options"),
        v(
            None,
            "scope",
            "string",
            "Control the network's scope (only \"local\")",
        ),
        v(
            None,
            "subnet",
            "strings",
            "Subnet in CIDR format that represents a network segment",
        ),
    ],
    aliases: &[],
    min_args: 1,
    max_args: Some(1),
    stop_at_positional: false,
};
pub const LS_SPEC: Spec = Spec {
    command: "berth network ls",
    args: "",
    about: "List networks",
    flags: &[
        v(Some('f'), "filter", "filter", "Provide filter values (e.g. \"driver=bridge\")"),
        v(None, "format", "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'"),
        b(None, "no-trunc", "Do not truncate the output"),
        b(Some('q'), "quiet", "Only display network IDs"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};
pub const INSPECT_SPEC: Spec = Spec {
    command: "berth network inspect",
    args: "NETWORK [NETWORK...]",
    about: "Display detailed information on one or more networks",
    flags: &[
        v(
            Some('f'),
            "format",
            "string",
            "Format output using a custom template: 'json' or 'TEMPLATE'",
        ),
        b(Some('v'), "verbose", "Verbose output for diagnostics"),
    ],
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};
pub const RM_SPEC: Spec = Spec {
    command: "berth network rm",
    args: "NETWORK [NETWORK...]",
    about: "Remove one or more networks",
    flags: &[b(
        Some('f'),
        "force",
        "Do not error if the network does not exist",
    )],
    aliases: &[],
    min_args: 1,
    max_args: None,
    stop_at_positional: false,
};
pub const CONNECT_SPEC: Spec = Spec {
    command: "berth network connect",
    args: "NETWORK CONTAINER",
    about: "Connect a container to a network",
    flags: &[
        v(
            None,
            "alias",
            "strings",
            "Add network-scoped alias for the container",
        ),
        v(
            None,
            "driver-opt",
            "strings",
            "driver options for the network (not supported)",
        ),
        v(
            None,
            "gw-priority",
            "int",
            "Highest gw-priority provides the default gateway (not supported)",
        ),
        v(
            None,
            "ip",
            "string",
            "IPv4 address (e.g., \"172.30.100.104\")",
        ),
        v(None, "ip6", "string", "IPv6 address (not supported)"),
        v(
            None,
            "link",
            "list",
            "Add link to another container (not supported)",
        ),
        v(
            None,
            "link-local-ip",
            "strings",
            "Add a link-local address for the container (not supported)",
        ),
    ],
    aliases: &[],
    min_args: 2,
    max_args: Some(2),
    stop_at_positional: false,
};
pub const DISCONNECT_SPEC: Spec = Spec {
    command: "berth network disconnect",
    args: "NETWORK CONTAINER",
    about: "Disconnect a container from a network",
    flags: &[b(
        Some('f'),
        "force",
        "Force the container to disconnect from a network",
    )],
    aliases: &[],
    min_args: 2,
    max_args: Some(2),
    stop_at_positional: false,
};
pub const PRUNE_SPEC: Spec = Spec {
    command: "berth network prune",
    args: "",
    about: "Remove all unused networks",
    flags: &[
        v(
            None,
            "filter",
            "filter",
            "Provide filter values (e.g. \"until=<timestamp>\")",
        ),
        b(Some('f'), "force", "Do not prompt for confirmation"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};

/// A pflag `strings` flag: every occurrence, each split at commas.
fn strings(p: &Parsed, flag: &str) -> Vec<String> {
    p.values(flag)
        .iter()
        .flat_map(|v| v.split(',').map(String::from))
        .filter(|v| !v.is_empty())
        .collect()
}

fn refused(what: &str) -> Error {
    Error::client(format!("{what} is not supported by berth networks yet"))
}

/// `--label k=v` and `-o k=v` (a bare `k` means an empty value, as docker's map options do).
fn kv_map(values: &[String]) -> Map<String, Value> {
    values
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), json!(v))
        })
        .collect()
}

/// The IPAM config list from `--subnet`, `--ip-range`, `--gateway` and `--aux-address`, each
/// range, gateway and aux address placed on the subnet that holds it, as docker's CLI does.
fn ipam_config(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &[String],
) -> Result<Vec<Value>> {
    for v in subnets.iter().chain(ranges).chain(gateways).chain(aux) {
        if v.contains(':') {
            return Err(refused(&format!("IPv6 ({v})")));
        }
    }
    if ranges.len() > subnets.len() || gateways.len() > subnets.len() {
        return Err(Error::client(
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    let mut parsed: Vec<Cidr> = Vec::new();
    for s in subnets {
        let c = Cidr::parse(s).map_err(|e| Error::client(format!("invalid subnet {s}: {e}")))?;
        if parsed.iter().any(|p| p.overlaps(&c)) {
            return Err(Error::client(
                "multiple overlapping subnet configuration is not supported",
            ));
        }
        parsed.push(c);
    }
    let mut configs: Vec<Map<String, Value>> = subnets
        .iter()
        .map(|s| {
            let mut m = Map::new();
            m.insert("Subnet".into(), json!(s));
            m
        })
        .collect();
    let holder = |ip: Ipv4Addr| parsed.iter().position(|c| c.contains(ip));
    for r in ranges {
        let range =
            Cidr::parse(r).map_err(|e| Error::client(format!("invalid ip-range {r}: {e}")))?;
        let i = holder(range.addr)
            .ok_or_else(|| Error::client(format!("no matching subnet for range {r}")))?;
        if let Some(old) = configs[i].get("IPRange") {
            return Err(Error::client(format!(
                "cannot configure multiple ranges ({}, {r}) on the same subnet ({})",
                old.as_str().unwrap_or(""),
                subnets[i]
            )));
        }
        configs[i].insert("IPRange".into(), json!(r));
    }
    for g in gateways {
        let ip: Ipv4Addr = g
            .parse()
            .map_err(|_| Error::client(format!("invalid gateway address {g}")))?;
        let i = holder(ip)
            .ok_or_else(|| Error::client(format!("no matching subnet for gateway {g}")))?;
        if let Some(old) = configs[i].get("Gateway") {
            return Err(Error::client(format!(
                "cannot configure multiple gateways ({}, {g}) for the same subnet ({})",
                old.as_str().unwrap_or(""),
                subnets[i]
            )));
        }
        configs[i].insert("Gateway".into(), json!(g));
    }
    for a in aux {
        let (name, addr) = a.split_once('=').ok_or_else(|| {
            Error::client(format!("invalid aux-address {a}: expected name=address"))
        })?;
        let ip: Ipv4Addr = addr
            .parse()
            .map_err(|_| Error::client(format!("invalid aux-address {addr}")))?;
        let i = holder(ip)
            .ok_or_else(|| Error::client(format!("no matching subnet for aux-address {addr}")))?;
        let entry = configs[i]
            .entry("AuxiliaryAddresses")
            .or_insert_with(|| json!({}));
        entry[name] = json!(addr);
    }
    Ok(configs.into_iter().map(Value::Object).collect())
}

/// The `POST /networks/create` body, or the reason berth refuses the command line.
pub fn create_body(p: &Parsed) -> Result<Value> {
    let driver = p.value("driver").unwrap_or("bridge");
    if driver != "bridge" {
        return Err(refused(&format!("driver {driver:?} (only \"bridge\")")));
    }
    let ipam_driver = p.value("ipam-driver").unwrap_or("default");
    if ipam_driver != "default" {
        return Err(refused(&format!("IPAM driver {ipam_driver:?}")));
    }
    let scope = p.value("scope").unwrap_or("");
    if !matches!(scope, "" | "local") {
        return Err(refused(&format!("scope {scope:?} (only \"local\")")));
    }
    if p.bool("ipv6") {
        return Err(refused("IPv6 (--ipv6)"));
    }
    if !p.bool_or("ipv4", true) {
        return Err(refused("disabling IPv4 (--ipv4=false)"));
    }
    for flag in ["ingress", "config-only"] {
        if p.bool(flag) {
            return Err(refused(&format!("--{flag}")));
        }
    }
    if p.is_set("config-from") {
        return Err(refused("--config-from"));
    }
    let config = ipam_config(
        &strings(p, "subnet"),
        &strings(p, "ip-range"),
        &strings(p, "gateway"),
        &p.values("aux-address"),
    )?;
    let mut body = json!({
        "Name": p.args[0],
        // API 1.43 still checks duplicates only when asked; docker's CLI always asks.
        "CheckDuplicate": true,
        "Driver": driver,
        "Scope": scope,
        "IPAM": {"Driver": ipam_driver, "Options": kv_map(&p.values("ipam-opt")), "Config": config},
        "Internal": p.bool("internal"),
        "Attachable": p.bool("attachable"),
        "Ingress": false,
        "ConfigOnly": false,
        "Options": kv_map(&p.values("opt")),
        "Labels": kv_map(&p.values("label")),
    });
    if p.is_set("ipv6") {
        body["EnableIPv6"] = json!(false);
    }
    Ok(body)
}

pub fn create(ctx: &Ctx, p: Parsed) -> Result<i32> {
    exit_one((|| {
        let body = create_body(&p)?;
        let v = ctx
            .client
            .post_json("/networks/create", &Query::new(), Body::json(&body))?;
        let warning = v.get("Warning").str();
        if !warning.is_empty() {
            eprintln!("{warning}");
        }
        println!("{}", v.get("Id").str());
        Ok(0)
    })())
}

const LS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

fn ls_header() -> V {
    obj(vec![
        ("ID", V::from("NETWORK ID")),
        ("Name", V::from("NAME")),
        ("Driver", V::from("DRIVER")),
        ("Scope", V::from("SCOPE")),
        ("IPv4", V::from("IPV4")),
        ("IPv6", V::from("IPV6")),
        ("Internal", V::from("INTERNAL")),
        ("Labels", V::from("LABELS")),
        ("Label", V::from("LABEL")),
        ("CreatedAt", V::from("CREATED AT")),
    ])
}

/// Go's `time.Time.String()` of an RFC 3339 timestamp, keeping its offset, as the `CreatedAt`
/// column shows it: `2026-11-28T12:03:45.56Z` → `2026-11-28 12:03:45.56 +0000 UTC`.
pub fn go_time_of_rfc3339(s: &str) -> String {
    let Some((date, rest)) = s.split_once('T') else {
        return s.to_string();
    };
    let (clock, zone) = if let Some(c) = rest.strip_suffix('Z') {
        (c, "+0000 UTC".to_string())
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let off = rest[i..].replace(':', "");
        (&rest[..i], format!("{off} {off}"))
    } else {
        return s.to_string();
    };
    format!("{date} {clock} {zone}")
}

/// One `/networks` entry as docker's network formatter fields, in the order its `json` prints.
pub fn network_row(n: &V, trunc: bool) -> V {
    let id = n.get("Id").str();
    let mut labels: Vec<String> = n
        .get("Labels")
        .members()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.str()))
        .collect();
    labels.sort();
    obj(vec![
        (
            "CreatedAt",
            V::Str(go_time_of_rfc3339(n.get("Created").str())),
        ),
        ("Driver", V::from(n.get("Driver").str())),
        (
            "ID",
            V::Str(if trunc { short_id(id) } else { id.to_string() }),
        ),
        ("IPv4", V::Str(n.get("EnableIPv4").bool().to_string())),
        ("IPv6", V::Str(n.get("EnableIPv6").bool().to_string())),
        ("Internal", V::Str(n.get("Internal").bool().to_string())),
        ("Labels", V::Str(labels.join(","))),
        ("Name", V::from(n.get("Name").str())),
        ("Scope", V::from(n.get("Scope").str())),
        (LABELS_KEY, n.get("Labels").clone()),
    ])
}

/// docker sorts networks by name in natural order (`net2` before `net10`).
pub(super) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let (na, nb) = (
                    a[..da].trim_start_matches('0'),
                    b[..db].trim_start_matches('0'),
                );
                let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
            }
        }
    }
}

pub fn ls(ctx: &Ctx, p: Parsed) -> Result<i32> {
    exit_one((|| {
        let mut q = Query::new();
        if let Some(f) = filters_json(&p.values("filter"))? {
            q.add("filters", f);
        }
        let list = ctx.client.get_json("/networks", &q)?;
        let trunc = !p.bool("no-trunc");
        let mut nets: Vec<&V> = list.items().iter().collect();
        nets.sort_by(|a, b| natural_cmp(a.get("Name").str(), b.get("Name").str()));
        let rows: Vec<V> = nets.iter().map(|n| network_row(n, trunc)).collect();
        let template = if p.bool("quiet") {
            "{{.ID}}"
        } else {
            p.value("format").unwrap_or("")
        };
        Format::new(template, LS_TABLE)?.print(&rows, &ls_header())?;
        Ok(0)
    })())
}

pub fn inspect(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let mut q = Query::new();
    if p.bool("verbose") {
        q.add("verbose", "true");
    }
    let paths = p
        .args
        .iter()
        .map(|name| format!("/networks/{}", escape(name)));
    exit_one(super::common::inspect_each(
        ctx,
        paths,
        &q,
        p.value("format").unwrap_or(""),
    ))
}

pub fn rm(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let force = p.bool("force");
    let mut failed = false;
    for name in &p.args {
        let path = format!("/networks/{}", escape(name));
        match ctx.client.call("DELETE", &path, &Query::new(), Body::Empty) {
            Ok(_) => println!("{name}"),
            Err(e) if force && e.is_not_found() => {}
            Err(e) => {
                let _ = std::io::stdout().flush();
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Error::Exit(1))
    } else {
        Ok(0)
    }
}

/// The `POST /networks/{id}/connect` body, or the reason berth refuses the command line.
pub fn connect_body(ctx_spec: &Spec, p: &Parsed) -> Result<Value> {
    for flag in ["ip6", "link", "link-local-ip", "driver-opt"] {
        if p.is_set(flag) {
            return Err(refused(&format!("--{flag}")));
        }
    }
    if p.int(ctx_spec, "gw-priority")?.is_some_and(|n| n != 0) {
        return Err(refused("--gw-priority"));
    }
    let ipv4 = match p.value("ip") {
        Some(ip) => {
            check_ipv4(ip).map_err(Error::client)?;
            Some(ip.to_string())
        }
        None => None,
    };
    let attachment = Attachment {
        network: p.args[0].clone(),
        aliases: strings(p, "alias"),
        ipv4,
    };
    Ok(json!({"Container": p.args[1], "EndpointConfig": attachment.endpoint()}))
}

pub fn connect(ctx: &Ctx, p: Parsed) -> Result<i32> {
    exit_one((|| {
        let body = connect_body(&ctx.spec, &p)?;
        let path = format!("/networks/{}/connect", escape(&p.args[0]));
        ctx.client
            .call("POST", &path, &Query::new(), Body::json(&body))?;
        Ok(0)
    })())
}

pub fn disconnect(ctx: &Ctx, p: Parsed) -> Result<i32> {
    exit_one((|| {
        let body = json!({"Container": p.args[1], "Force": p.bool("force")});
        let path = format!("/networks/{}/disconnect", escape(&p.args[0]));
        ctx.client
            .call("POST", &path, &Query::new(), Body::json(&body))?;
        Ok(0)
    })())
}

pub fn prune(ctx: &Ctx, p: Parsed) -> Result<i32> {
    exit_one((|| {
        if !p.bool("force")
            && !confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?")
        {
            return Ok(0);
        }
        print!("{}", prune_networks(ctx, &p.values("filter"))?);
        Ok(0)
    })())
}

/// `POST /networks/prune`: the "Deleted Networks" section, empty when none went.
pub fn prune_networks(ctx: &Ctx, filters: &[String]) -> Result<String> {
    let mut q = Query::new();
    if let Some(f) = filters_json(filters)? {
        q.add("filters", f);
    }
    let v = ctx.client.post_json("/networks/prune", &q, Body::Empty)?;
    let deleted = v.get("NetworksDeleted").strings();
    if deleted.is_empty() {
        return Ok(String::new());
    }
    Ok(format!("Deleted Networks:\n{}\n\n", deleted.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse;

    fn parsed(spec: &Spec, cmdline: &str) -> Parsed {
        let argv: Vec<String> = cmdline.split_whitespace().map(String::from).collect();
        parse(spec, &argv).unwrap()
    }

    fn body(cmdline: &str) -> Result<Value> {
        create_body(&parsed(&CREATE_SPEC, cmdline))
    }

    #[test]
    fn create_sends_what_docker_sends() {
        assert_eq!(
            body("n2").unwrap(),
            json!({"Name":"n2","CheckDuplicate":true,"Driver":"bridge","Scope":"",
                   "IPAM":{"Driver":"default","Options":{},"Config":[]},"Internal":false,
                   "Attachable":false,"Ingress":false,"ConfigOnly":false,"Options":{},"Labels":{}})
        );
        let b = body("--subnet 10.77.0.0/16 --gateway 10.77.0.1 --ip-range 10.77.1.0/24 --label a=b --label c -o com.docker.network.bridge.name=brx --attachable --internal -d bridge --scope local n1").unwrap();
        assert_eq!(
            b["IPAM"]["Config"],
            json!([{"Subnet":"10.77.0.0/16","IPRange":"10.77.1.0/24","Gateway":"10.77.0.1"}])
        );
        assert_eq!(b["Labels"], json!({"a":"b","c":""}));
        assert_eq!(
            b["Options"],
            json!({"com.docker.network.bridge.name":"brx"})
        );
        assert_eq!(
            (&b["Internal"], &b["Attachable"], &b["Scope"]),
            (&json!(true), &json!(true), &json!("local"))
        );
        let b =
            body("--subnet 10.1.0.0/16,10.2.0.0/16 --gateway 10.2.0.1 --aux-address a=10.1.0.9 x")
                .unwrap();
        assert_eq!(
            b["IPAM"]["Config"],
            json!([{"Subnet":"10.1.0.0/16","AuxiliaryAddresses":{"a":"10.1.0.9"}},
                   {"Subnet":"10.2.0.0/16","Gateway":"10.2.0.1"}])
        );
    }

    #[test]
    fn create_refuses_what_berth_cannot_honour() {
        let err = |c: &str| body(c).unwrap_err().to_string();
        for (cmdline, what) in [
            ("--ipv6 x", "IPv6"),
            ("--ipv4=false x", "disabling IPv4"),
            ("-d overlay x", "driver \"overlay\""),
            ("--driver macvlan x", "driver \"macvlan\""),
            ("--ipam-driver dhcp x", "IPAM driver \"dhcp\""),
            ("--scope swarm x", "scope \"swarm\""),
            ("--config-from other x", "--config-from"),
            ("--config-only x", "--config-only"),
            ("--ingress x", "--ingress"),
            ("--subnet fd00::/64 x", "IPv6 (fd00::/64)"),
        ] {
            let e = err(cmdline);
            assert!(
                e.contains(what) && e.contains("not supported by berth"),
                "{cmdline}: {e}"
            );
        }
        assert_eq!(
            err("--gateway 10.0.0.1 x"),
            "berth: every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            err("--subnet 10.1.0.0/16 --gateway 10.2.0.1 x"),
            "berth: no matching subnet for gateway 10.2.0.1"
        );
        assert!(err("--subnet 10.1.0.0/16 --subnet 10.1.1.0/24 x").contains("overlapping"));
        assert!(err(
            "--subnet 10.1.0.0/16,10.2.0.0/16 --ip-range 10.1.1.0/24 --ip-range 10.1.2.0/24 x"
        )
        .contains("cannot configure multiple ranges (10.1.1.0/24, 10.1.2.0/24)"));
        assert!(err("--subnet 10.1.0.0/16 --aux-address b=10.9.0.1 x")
            .contains("no matching subnet for aux-address 10.9.0.1"));
        assert!(err("--subnet bad --gateway 10.0.0.1 x").contains("invalid subnet bad"));
    }

    #[test]
    fn connect_body_and_refusals() {
        let b = |c: &str| connect_body(&CONNECT_SPEC, &parsed(&CONNECT_SPEC, c));
        assert_eq!(
            b("--alias x --alias y,z --ip 10.77.1.5 n1 c1").unwrap(),
            json!({"Container":"c1","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.77.1.5"},"Aliases":["x","y","z"]}})
        );
        assert_eq!(
            b("n1 c1").unwrap(),
            json!({"Container":"c1","EndpointConfig":{}})
        );
        for (c, what) in [
            ("--ip6 ::1 n c", "--ip6"),
            ("--link a:b n c", "--link"),
            ("--link-local-ip 169.254.0.1 n c", "--link-local-ip"),
            ("--driver-opt a=b n c", "--driver-opt"),
            ("--gw-priority 5 n c", "--gw-priority"),
            ("--ip ::1 n c", "IPv4 only"),
        ] {
            let e = b(c).unwrap_err().to_string();
            assert!(e.contains(what), "{c}: {e}");
        }
        assert!(parse(&CONNECT_SPEC, &["n".to_string()]).is_err());
    }

    #[test]
    fn ls_rows_and_table() {
        let list = V::parse(
            br#"[{"Name":"net10","Id":"57305d44af23e787c1eca022157d10c4d3d03ef669ccf853d52e7c1cf35a0c69","Created":"2026-11-28T12:03:45.560918625Z","Scope":"local","Driver":"bridge","EnableIPv6":false,"Internal":true,"Labels":{"z":"1","a":"b"}},
                 {"Name":"net2","Id":"3323d46cb945db01b14eb4af02d092d30a26448e0fd4c858fd81d8fc6ea55faa","Created":"2026-11-28T12:03:16+01:00","Scope":"local","Driver":"bridge","Labels":{}}]"#,
        )
        .unwrap();
        let mut nets: Vec<&V> = list.items().iter().collect();
        nets.sort_by(|a, b| natural_cmp(a.get("Name").str(), b.get("Name").str()));
        let rows: Vec<V> = nets.iter().map(|n| network_row(n, true)).collect();
        assert_eq!(
            Format::new("", LS_TABLE)
                .unwrap()
                .render(&rows, &ls_header())
                .unwrap(),
            "NETWORK ID     NAME      DRIVER    SCOPE\n\
             3323d46cb945   net2      bridge    local\n\
             57305d44af23   net10     bridge    local\n"
        );
        assert_eq!(
            Format::new("json", LS_TABLE)
                .unwrap()
                .render(&rows[1..], &ls_header())
                .unwrap(),
            "{\"CreatedAt\":\"2026-11-28 12:03:45.560918625 +0000 UTC\",\"Driver\":\"bridge\",\"ID\":\"57305d44af23\",\"IPv4\":\"false\",\"IPv6\":\"false\",\"Internal\":\"true\",\"Labels\":\"a=b,z=1\",\"Name\":\"net10\",\"Scope\":\"local\"}\n"
        );
        assert_eq!(
            Format::new("{{.Name}} {{.Label \"z\"}} {{.CreatedAt}}", "")
                .unwrap()
                .render(&rows, &ls_header())
                .unwrap(),
            "net2  2026-11-28 12:03:16 +0100 +0100\nnet10 1 2026-11-28 12:03:45.560918625 +0000 UTC\n"
        );
        assert_eq!(
            network_row(nets[0], false).get("ID").str(),
            "3323d46cb945db01b14eb4af02d092d30a26448e0fd4c858fd81d8fc6ea55faa"
        );
    }

    #[test]
    fn natural_order() {
        let mut names = vec!["net10", "bridge", "net2", "net02x", "host", "Net1"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["Net1", "bridge", "host", "net2", "net02x", "net10"]);
    }
}
