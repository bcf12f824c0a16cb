//! `POST /containers/{id}/update`: new cgroup limits and restart policy. The new values are
//! merged into the container's HostConfig and checked as create checks them; a live container's
//! cgroup gets them at once, and the record keeps them for later starts.

use std::sync::Arc;

use bollard_stubs::models::{HostConfig, RestartPolicy, RestartPolicyNameEnum};
use serde_json::{json, Map, Value};

use super::container::{Handle, Status};
use super::Daemon;
use crate::error::{ApiError, ApiResult};

/// The fields `update` honours. Docker's UpdateConfig has more (blkio, kernel memory,
/// realtime CPU, devices…): those are refused by name when set.
const SUPPORTED: &[&str] = &[
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "NanoCpus",
    "CpuShares",
    "CpuQuota",
    "CpuPeriod",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "RestartPolicy",
];

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("invalid update request: {0}")]
    Body(String),
    #[error("unsupported update option {0}: berth does not implement it yet")]
    Unsupported(String),
    /// Docker's conflicts between the update and the container's settings.
    #[error("Cannot update container {id}: {reason}")]
    Conflict { id: String, reason: String },
    #[error("Cannot update container {id}: {source}")]
    Cgroup {
        id: String,
        #[source]
        source: berth_cgroups::CgroupError,
    },
}

impl From<UpdateError> for ApiError {
    fn from(e: UpdateError) -> ApiError {
        match e {
            UpdateError::Cgroup { .. } => ApiError::Internal(e.to_string()),
            _ => ApiError::BadRequest(e.to_string()),
        }
    }
}

/// Zero values mean "leave as it is" in Docker's UpdateConfig, as Go clients send every field.
fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_unset),
    }
}

/// The parsed request: only the fields that change something.
#[derive(Debug, Default)]
pub struct UpdateRequest {
    memory: i64,
    memory_swap: i64,
    memory_reservation: i64,
    nano_cpus: i64,
    cpu_shares: i64,
    cpu_quota: i64,
    cpu_period: i64,
    cpuset_cpus: String,
    cpuset_mems: String,
    /// Set (even to 0 or -1, "unlimited") when the client sent it.
    pids_limit: Option<i64>,
    restart_policy: Option<RestartPolicy>,
}

impl UpdateRequest {
    pub fn parse(body: Value) -> Result<UpdateRequest, UpdateError> {
        let obj = match body {
            Value::Null => Map::new(),
            Value::Object(o) => o,
            other => {
                return Err(UpdateError::Body(format!(
                    "expected a JSON object, got {other}"
                )))
            }
        };
        let mut refused: Vec<&str> = obj
            .iter()
            .filter(|(k, v)| !SUPPORTED.contains(&k.as_str()) && !is_unset(v))
            .map(|(k, _)| k.as_str())
            .collect();
        refused.sort_unstable();
        if !refused.is_empty() {
            return Err(UpdateError::Unsupported(refused.join(", ")));
        }
        let int = |key: &str| -> Result<i64, UpdateError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(0),
                Some(v) => v
                    .as_i64()
                    .ok_or_else(|| UpdateError::Body(format!("{key}: {v} is not an integer"))),
            }
        };
        let string = |key: &str| -> Result<String, UpdateError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(v) => Err(UpdateError::Body(format!("{key}: {v} is not a string"))),
            }
        };
        let restart_policy = match obj.get("RestartPolicy") {
            Some(v) if !v.is_null() => {
                let p: RestartPolicy = serde_json::from_value(v.clone())
                    .map_err(|e| UpdateError::Body(format!("RestartPolicy: {e}")))?;
                // An empty name leaves the policy alone, as in Docker.
                p.name
                    .filter(|n| *n != RestartPolicyNameEnum::EMPTY)
                    .map(|_| p)
            }
            _ => None,
        };
        Ok(UpdateRequest {
            memory: int("Memory")?,
            memory_swap: int("MemorySwap")?,
            memory_reservation: int("MemoryReservation")?,
            nano_cpus: int("NanoCpus")?,
            cpu_shares: int("CpuShares")?,
            cpu_quota: int("CpuQuota")?,
            cpu_period: int("CpuPeriod")?,
            cpuset_cpus: string("CpusetCpus")?,
            cpuset_mems: string("CpusetMems")?,
            pids_limit: obj.get("PidsLimit").and_then(Value::as_i64),
            restart_policy,
        })
    }

    /// Docker's merge of the update into the container's HostConfig, with its conflicts.
    pub fn merge_into(&self, id: &str, host: &HostConfig) -> Result<HostConfig, UpdateError> {
        let conflict = |reason: &str| UpdateError::Conflict {
            id: id.to_string(),
            reason: reason.to_string(),
        };
        let mut new = host.clone();
        let has = |v: Option<i64>| v.unwrap_or(0) > 0;
        // NanoCpus stands for a quota and a period: one form cannot update the other.
        if self.nano_cpus > 0 && has(host.cpu_period) {
            return Err(conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"));
        }
        if self.nano_cpus > 0 && has(host.cpu_quota) {
            return Err(conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"));
        }
        if self.cpu_period > 0 && has(host.nano_cpus) {
            return Err(conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"));
        }
        if self.cpu_quota > 0 && has(host.nano_cpus) {
            return Err(conflict(
                "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
            ));
        }
        for (value, field) in [
            (self.nano_cpus, &mut new.nano_cpus),
            (self.cpu_shares, &mut new.cpu_shares),
            (self.cpu_quota, &mut new.cpu_quota),
            (self.cpu_period, &mut new.cpu_period),
            (self.memory_reservation, &mut new.memory_reservation),
        ] {
            if value != 0 {
                *field = Some(value);
            }
        }
        if !self.cpuset_cpus.is_empty() {
            new.cpuset_cpus = Some(self.cpuset_cpus.clone());
        }
        if !self.cpuset_mems.is_empty() {
            new.cpuset_mems = Some(self.cpuset_mems.clone());
        }
        // The swap limit in force: create's default is twice the memory limit. Docker
        // records that default at create; berth records it at the first update.
        let memory = host.memory.unwrap_or(0);
        let swap = match host.memory_swap.unwrap_or(0) {
            0 if memory > 0 => memory * 2,
            s => s,
        };
        if swap != host.memory_swap.unwrap_or(0) {
            new.memory_swap = Some(swap);
        }
        if self.memory != 0 {
            if self.memory > swap && self.memory_swap == 0 {
                return Err(conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"));
            }
            new.memory = Some(self.memory);
        }
        if self.memory_swap != 0 {
            new.memory_swap = Some(self.memory_swap);
        }
        if let Some(p) = self.pids_limit {
            new.pids_limit = Some(p);
        }
        if let Some(policy) = &self.restart_policy {
            let restarts = !matches!(policy.name, Some(RestartPolicyNameEnum::NO));
            if host.auto_remove.unwrap_or(false) && restarts {
                return Err(conflict(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                ));
            }
            new.restart_policy = Some(policy.clone());
        }
        Ok(new)
    }

    /// The cgroup resources to write into a live container: every limit the new HostConfig
    /// sets (writing an unchanged one again is harmless), plus an explicit pids limit, which
    /// may lift a limit (0 or -1) and so is absent from create's resources.
    fn live_resources(&self, new: &HostConfig) -> ApiResult<berth_cgroups::LinuxResources> {
        let mut warnings = Vec::new();
        let mut res = crate::spec::cgroup_resources(new, &mut warnings)?;
        if let Some(p) = self.pids_limit {
            res.insert("pids".into(), json!({ "limit": p }));
        }
        serde_json::from_value(Value::Object(res)).map_err(ApiError::internal)
    }
}

impl Daemon {
    /// Applies `req` to the container: its live cgroup first (so a refused value changes
    /// nothing), then its record.
    pub async fn update_container(
        self: &Arc<Self>,
        h: &Arc<Handle>,
        req: UpdateRequest,
    ) -> ApiResult<Vec<String>> {
        let _op = h.op.lock().await;
        // The prepared start was made for the old settings.
        self.discard_prepared(h).await;
        let (status, host) = {
            let c = h.lock();
            (c.state.status, c.host_config.clone())
        };
        if matches!(status, Status::Removing | Status::Dead) {
            return Err(ApiError::Conflict(format!(
                "Cannot update container {}: container is marked for removal and cannot be \"update\"",
                h.id
            )));
        }
        let new = req.merge_into(&h.id, &host)?;
        let mut warnings = Vec::new();
        crate::spec::cgroup_resources(&new, &mut warnings)?;
        super::create::check_restart_policy(&new)?;
        if status.is_alive() {
            let resources = req.live_resources(&new)?;
            let d = self.clone();
            let id = h.id.clone();
            tokio::task::spawn_blocking(move || d.cgroup(&id).and_then(|cg| cg.apply(&resources)))
                .await
                .map_err(ApiError::internal)?
                .map_err(|source| UpdateError::Cgroup {
                    id: h.id.clone(),
                    source,
                })?;
        }
        h.update(|c| c.host_config = new);
        self.events.container(&h.lock(), "update", &[]);
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(v: Value) -> HostConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn zero_fields_are_ignored_and_others_refused_by_name() {
        let r = UpdateRequest::parse(json!({
            "Memory": 0, "BlkioWeight": 0, "CgroupParent": "", "Devices": null,
            "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}
        }))
        .unwrap();
        assert_eq!(r.memory, 0);
        assert!(r.restart_policy.is_none());
        let e = UpdateRequest::parse(json!({"Memory": 1, "BlkioWeight": 300, "KernelMemory": 5}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported update option BlkioWeight, KernelMemory: berth does not implement it yet"
        );
        assert!(UpdateRequest::parse(json!([1])).is_err());
        assert!(UpdateRequest::parse(json!({"Memory": "x"})).is_err());
    }

    #[test]
    fn memory_updates_follow_dockers_swap_rule() {
        let current = host(json!({"Memory": 64 << 20}));
        let r = UpdateRequest::parse(json!({"Memory": 96 << 20})).unwrap();
        let new = r.merge_into("c", &current).unwrap();
        assert_eq!(new.memory, Some(96 << 20));
        // The create default (twice the memory) is recorded.
        assert_eq!(new.memory_swap, Some(128 << 20));
        let r = UpdateRequest::parse(json!({"Memory": 256 << 20})).unwrap();
        let e = r.merge_into("c", &current).unwrap_err();
        assert_eq!(e.to_string(), "Cannot update container c: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
        let r = UpdateRequest::parse(json!({"Memory": 256 << 20, "MemorySwap": -1})).unwrap();
        let new = r.merge_into("c", &current).unwrap();
        assert_eq!((new.memory, new.memory_swap), (Some(256 << 20), Some(-1)));
    }

    #[test]
    fn cpu_forms_do_not_update_each_other() {
        let nano = host(json!({"NanoCpus": 500_000_000}));
        let r = UpdateRequest::parse(json!({"CpuQuota": 20000})).unwrap();
        assert!(r
            .merge_into("c", &nano)
            .unwrap_err()
            .to_string()
            .contains("CPU Quota cannot be updated as NanoCPUs has already been set"));
        let r = UpdateRequest::parse(json!({"NanoCpus": 1_000_000_000, "CpuShares": 512})).unwrap();
        let new = r.merge_into("c", &nano).unwrap();
        assert_eq!(
            (new.nano_cpus, new.cpu_shares),
            (Some(1_000_000_000), Some(512))
        );
        let res = r.live_resources(&new).unwrap();
        let cpu = res.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(100_000), Some(100_000)));
        assert_eq!(cpu.shares(), Some(512));
    }

    #[test]
    fn pids_and_restart_policy() {
        let current = host(json!({"PidsLimit": 10, "AutoRemove": true}));
        let r = UpdateRequest::parse(json!({"PidsLimit": -1})).unwrap();
        let new = r.merge_into("c", &current).unwrap();
        assert_eq!(new.pids_limit, Some(-1));
        let res = r.live_resources(&new).unwrap();
        assert_eq!(res.pids().as_ref().unwrap().limit(), -1);
        let r = UpdateRequest::parse(json!({"RestartPolicy": {"Name": "always"}})).unwrap();
        assert!(r
            .merge_into("c", &current)
            .unwrap_err()
            .to_string()
            .contains("AutoRemove is enabled"));
        let r = UpdateRequest::parse(
            json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}),
        )
        .unwrap();
        let new = r.merge_into("c", &host(json!({}))).unwrap();
        let p = new.restart_policy.unwrap();
        assert_eq!(
            (p.name, p.maximum_retry_count),
            (Some(RestartPolicyNameEnum::ON_FAILURE), Some(3))
        );
    }
}
