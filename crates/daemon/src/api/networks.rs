//! `/networks`: list, inspect, create, remove, connect, disconnect and prune, with the JSON
//! shapes of the Engine API.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use hyper::StatusCode;
use serde_json::{json, Value};

use super::{blocking, find};
use crate::engine::network::network_event;
use crate::engine::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::filters::Filters;
use crate::network::record::{Driver, NetworkRecord};
use crate::network::CreateRequest;
use crate::server::body::{self, Response};
use crate::server::Request;

fn view(daemon: &Daemon, r: &NetworkRecord, with_containers: bool) -> Value {
    let config: Vec<Value> = match (&r.subnet, r.gateway) {
        (Some(subnet), Some(gw)) => vec![json!({"Subnet": subnet, "Gateway": gw.to_string()})],
        _ => Vec::new(),
    };
    let mut containers = serde_json::Map::new();
    if with_containers {
        for (h, ep) in daemon.network_users(&r.id) {
            containers.insert(
                h.id.clone(),
                json!({
                    "Name": h.lock().name,
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac,
                    "IPv4Address": format!("{}/{}", ep.ip, ep.prefix),
                    "IPv6Address": "",
                }),
            );
        }
    }
    json!({
        "Name": r.name,
        "Id": r.id,
        "Created": r.created,
        "Scope": "local",
        "Driver": r.driver.as_str(),
        "EnableIPv4": true,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": if r.driver == Driver::Bridge && !r.default_bridge { json!({}) } else { Value::Null }, "Config": config},
        "Internal": r.internal,
        "Attachable": r.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": r.options,
        "Labels": r.labels,
    })
}

fn labels_of(r: &NetworkRecord) -> HashMap<String, String> {
    r.labels.clone().into_iter().collect()
}

pub fn list(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let filters = Filters::parse(req.query("filters"))?;
    filters.validate(&[
        "driver", "id", "label", "label!", "name", "scope", "type", "dangling",
    ])?;
    for t in filters.get("type") {
        if !matches!(t.as_str(), "custom" | "builtin") {
            return Err(ApiError::BadRequest(format!(
                "invalid filter: 'type'='{t}'"
            )));
        }
    }
    let dangling = filters.is_true("dangling")?;
    let mut out = Vec::new();
    for r in daemon.networks.all() {
        let labels = labels_of(&r);
        let name_ok = filters.get("name").is_empty()
            || filters
                .get("name")
                .iter()
                .any(|n| r.name.contains(n.as_str()));
        let kind = if r.predefined() { "builtin" } else { "custom" };
        let ok = name_ok
            && filters.matches_prefix("id", &r.id)
            && filters.matches_any("driver", r.driver.as_str())
            && filters.matches_any("scope", "local")
            && filters.matches_any("type", kind)
            && filters.labels_match(Some(&labels))
            && dangling.is_none_or(|d| {
                let unused = !r.predefined() && daemon.network_users(&r.id).is_empty();
                d == unused
            });
        if ok {
            out.push(view(daemon, &r, false));
        }
    }
    Ok(body::ok_json(&out))
}

pub fn inspect(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    if let Some(scope) = req
        .query("scope")
        .filter(|s| !s.is_empty() && *s != "local")
    {
        return Err(ApiError::NotFound(format!(
            "network {id} not found in scope {scope}"
        )));
    }
    let r = daemon.networks.find(id)?;
    Ok(body::ok_json(&view(daemon, &r, true)))
}

pub async fn create(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let body: Value = req.json().await?;
    let request = parse_create(&body)?;
    let record = blocking(daemon, move |d| Ok(d.networks.create(request)?)).await?;
    daemon.events.publish(network_event("create", &record, ""));
    Ok(body::json(
        StatusCode::CREATED,
        &json!({"Id": record.id, "Warning": ""}),
    ))
}

/// Reads a create body, refusing by name what berth does not implement.
fn parse_create(body: &Value) -> ApiResult<CreateRequest> {
    let Value::Object(o) = body else {
        return Err(ApiError::BadRequest(
            "the network config must be a JSON object".into(),
        ));
    };
    let unsupported = |what: &str| {
        ApiError::BadRequest(format!(
            "unsupported network option {what}: berth does not implement it yet"
        ))
    };
    let name = o.get("Name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::BadRequest(
            "network name must not be empty".into(),
        ));
    }
    let driver = o.get("Driver").and_then(Value::as_str).unwrap_or("");
    if !matches!(driver, "" | "bridge") {
        return Err(ApiError::BadRequest(format!(
            "network driver {driver} is not supported by berth (only bridge)"
        )));
    }
    for (key, allowed) in [
        ("EnableIPv6", false),
        ("Ingress", false),
        ("ConfigOnly", false),
    ] {
        if o.get(key).and_then(Value::as_bool).unwrap_or(false) != allowed {
            return Err(unsupported(key));
        }
    }
    if o.get("EnableIPv4").and_then(Value::as_bool) == Some(false) {
        return Err(unsupported("EnableIPv4=false"));
    }
    if let Some(from) = o
        .get("ConfigFrom")
        .and_then(|c| c.get("Network"))
        .and_then(Value::as_str)
    {
        if !from.is_empty() {
            return Err(unsupported("ConfigFrom"));
        }
    }
    if let Some(scope) = o
        .get("Scope")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        if scope != "local" {
            return Err(unsupported(&format!("Scope={scope}")));
        }
    }
    let string_map = |key: &str| -> ApiResult<BTreeMap<String, String>> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| ApiError::BadRequest(format!("invalid {key}: {e}"))),
        }
    };
    let mut request = CreateRequest {
        name: name.to_string(),
        internal: o.get("Internal").and_then(Value::as_bool).unwrap_or(false),
        attachable: o
            .get("Attachable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        labels: string_map("Labels")?,
        options: string_map("Options")?,
        ..CreateRequest::default()
    };
    if let Some(ipam) = o.get("IPAM").filter(|v| !v.is_null()) {
        let ipam_driver = ipam.get("Driver").and_then(Value::as_str).unwrap_or("");
        if !matches!(ipam_driver, "" | "default") {
            return Err(unsupported(&format!("IPAM.Driver={ipam_driver}")));
        }
        if ipam
            .get("Options")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            return Err(unsupported("IPAM.Options"));
        }
        let configs = ipam
            .get("Config")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if configs.len() > 1 {
            return Err(unsupported(
                "more than one IPAM.Config (one IPv4 subnet per network)",
            ));
        }
        if let Some(c) = configs.first() {
            for key in ["IPRange", "AuxiliaryAddresses"] {
                let set = c.get(key).is_some_and(|v| match v {
                    Value::String(s) => !s.is_empty(),
                    Value::Object(m) => !m.is_empty(),
                    Value::Null => false,
                    _ => true,
                });
                if set {
                    return Err(unsupported(&format!("IPAM.Config.{key}")));
                }
            }
            let text = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            request.subnet = text("Subnet");
            request.gateway = text("Gateway");
            if request.subnet.as_deref().is_some_and(|s| s.contains(':')) {
                return Err(unsupported("IPv6 subnets"));
            }
        }
    }
    Ok(request)
}

pub async fn remove(daemon: &Arc<Daemon>, id: &str) -> ApiResult<Response> {
    let record = daemon.networks.find(id)?;
    remove_record(daemon, record).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

async fn remove_record(daemon: &Arc<Daemon>, record: NetworkRecord) -> ApiResult<()> {
    if !record.predefined() && !daemon.network_users(&record.id).is_empty() {
        return Err(ApiError::Forbidden(format!(
            "error while removing network: network {} id {} has active endpoints",
            record.name, record.id
        )));
    }
    let r = record.clone();
    blocking(daemon, move |d| Ok(d.networks.remove(&r)?)).await?;
    daemon.events.publish(network_event("destroy", &record, ""));
    Ok(())
}

pub async fn connect(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let record = daemon.networks.find(id)?;
    let body: Value = req.json().await?;
    let container = body.get("Container").and_then(Value::as_str).unwrap_or("");
    let h = find(daemon, container)?;
    let ep = body.get("EndpointConfig").cloned().unwrap_or(Value::Null);
    crate::spec::check_endpoint("EndpointConfig", &ep)?;
    let settings: Option<bollard_stubs::models::EndpointSettings> = (!ep.is_null())
        .then(|| serde_json::from_value(ep))
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("invalid EndpointConfig: {e}")))?;
    let config = crate::network::sandbox::endpoint_config(&record, settings.as_ref())?;
    daemon.connect(record, &h, config).await?;
    Ok(body::empty(StatusCode::OK))
}

pub async fn disconnect(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let record = daemon.networks.find(id)?;
    let body: Value = req.json().await?;
    let container = body.get("Container").and_then(Value::as_str).unwrap_or("");
    let h = find(daemon, container)?;
    daemon.disconnect(record, &h).await?;
    Ok(body::empty(StatusCode::OK))
}

pub async fn prune(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let filters = Filters::parse(req.query("filters"))?;
    filters.validate(&["until", "label", "label!"])?;
    let until = match filters.get("until").first() {
        Some(u) => Some(
            crate::timefmt::parse_time(u, std::time::SystemTime::now())
                .map_err(|_| ApiError::BadRequest(format!("invalid filter 'until={u}'")))?
                .0,
        ),
        None => None,
    };
    let mut deleted = Vec::new();
    for r in daemon.networks.all() {
        if r.predefined() || !daemon.network_users(&r.id).is_empty() {
            continue;
        }
        if !filters.labels_match(Some(&labels_of(&r))) {
            continue;
        }
        let created = berth_runtime::shim::time::parse(&r.created).map(|t| t.0);
        if until.is_some_and(|u| created.is_some_and(|c| c >= u)) {
            continue;
        }
        let name = r.name.clone();
        match remove_record(daemon, r).await {
            Ok(()) => deleted.push(name),
            Err(e) => tracing::warn!("network prune: removing {name}: {e}"),
        }
    }
    daemon.events.publish(crate::events::Event::new(
        "network",
        "prune",
        "",
        BTreeMap::new(),
    ));
    Ok(body::ok_json(&json!({"NetworksDeleted": deleted})))
}
