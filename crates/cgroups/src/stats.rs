//! What `stats()` reports.

use std::collections::BTreeMap;

/// Resource usage of one cgroup. A section is `None` when its controller is not available.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub memory: Option<MemoryStats>,
    pub cpu: Option<CpuStats>,
    pub pids: Option<PidsStats>,
    pub blkio: Option<BlkioStats>,
}

/// Memory usage in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// v1 memory.usage_in_bytes, v2 memory.current.
    pub usage: u64,
    /// v1 memory.max_usage_in_bytes, v2 memory.peak (`None` if the kernel lacks it).
    pub max_usage: Option<u64>,
    /// The limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// Page cache: v1 `total_cache` (or `cache`) of memory.stat, v2 `file`.
    pub cache: u64,
    /// Swap in use (v1: memsw usage − usage; v2: memory.swap.current) if accounted.
    pub swap_usage: Option<u64>,
    /// All of memory.stat, as the kernel names the keys.
    pub stat: BTreeMap<String, u64>,
}

/// CPU time in nanoseconds and CFS throttling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    pub usage_total_ns: u64,
    pub usage_user_ns: u64,
    pub usage_system_ns: u64,
    /// Per-CPU usage (v1 cpuacct.usage_percpu; empty on v2).
    pub per_cpu_ns: Vec<u64>,
    pub nr_periods: u64,
    pub nr_throttled: u64,
    pub throttled_time_ns: u64,
}

/// Number of tasks and the pids limit (`None` when unlimited).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PidsStats {
    pub current: u64,
    pub limit: Option<u64>,
}

/// State of the freezer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    /// Freezing requested but not all tasks are frozen yet.
    Freezing,
    Frozen,
}

/// Bytes read and written per device, as the kernel counts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlkioStats {
    pub io_service_bytes: Vec<BlkioEntry>,
}

/// One counter: v1 ops are "Read", "Write", "Sync", "Async", "Discard"; v2 "read", "write".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}
