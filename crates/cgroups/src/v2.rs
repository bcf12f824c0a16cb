//! The unified cgroup v2 hierarchy.

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};

use crate::error::{CgroupError, Result};
use crate::fsutil;
use crate::path::join_levels;
use crate::resources::{self, blkio_weight_to_io_weight, shares_to_weight};
use crate::stats::{CpuStats, FreezerState, MemoryStats, PidsStats, Stats};
use crate::{CgroupManager, CgroupVersion};

const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
const RMDIR_WAIT: Duration = Duration::from_secs(2);

/// A cgroup in a cgroup2 hierarchy.
#[derive(Debug)]
pub struct V2Manager {
    mount: PathBuf,
    dir: PathBuf,
    levels: Vec<String>,
    enable_controllers: bool,
    created: Mutex<Vec<PathBuf>>,
}

impl V2Manager {
    /// `mount` is where the cgroup2 hierarchy is (e.g. `/sys/fs/cgroup`); `levels` come from
    /// [`crate::parse_cgroups_path`].
    pub fn new(mount: impl Into<PathBuf>, levels: &[String]) -> V2Manager {
        let mount = mount.into();
        let dir = join_levels(&mount, levels);
        V2Manager {
            mount,
            dir,
            levels: levels.to_vec(),
            enable_controllers: true,
            created: Mutex::new(Vec::new()),
        }
    }

    /// The cgroup2 mount beside v1 hierarchies (hybrid): used only to track processes, so
    /// `create` does not touch any cgroup.subtree_control.
    pub(crate) fn hybrid(mount: PathBuf, levels: &[String]) -> V2Manager {
        V2Manager {
            enable_controllers: false,
            ..V2Manager::new(mount, levels)
        }
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Controllers usable in this cgroup (its cgroup.controllers); empty if the file is missing.
    pub fn controllers(&self) -> Result<Vec<String>> {
        let s = fsutil::read_opt(&self.file("cgroup.controllers"))?.unwrap_or_default();
        Ok(s.split_whitespace().map(str::to_string).collect())
    }

    fn need(&self, avail: &[String], controller: &str, field: &str) -> Result<()> {
        if avail.iter().any(|c| c == controller) {
            return Ok(());
        }
        Err(CgroupError::ControllerUnavailable {
            field: field.to_string(),
            controller: controller.to_string(),
            root: self.mount.clone(),
        })
    }

    /// Make every controller available in `dir` available to its children too.
    fn enable_subtree(dir: &Path) -> Result<()> {
        let Some(avail) = fsutil::read_opt(&dir.join("cgroup.controllers"))? else {
            return Ok(());
        };
        let ctl = dir.join("cgroup.subtree_control");
        let enabled = fsutil::read_opt(&ctl)?.unwrap_or_default();
        let enabled: Vec<&str> = enabled.split_whitespace().collect();
        let missing: Vec<String> = avail
            .split_whitespace()
            .filter(|c| !enabled.contains(c))
            .map(|c| format!("+{c}"))
            .collect();
        if missing.is_empty() || fsutil::write(&ctl, &missing.join(" ")).is_ok() {
            return Ok(());
        }
        // One at a time: a controller that cannot be enabled here (e.g. a threaded subtree) is
        // reported by `apply` as unavailable when a resource needs it.
        for m in &missing {
            let _ = fsutil::write(&ctl, m);
        }
        Ok(())
    }

    fn apply_memory(&self, m: &LinuxMemory, avail: &[String]) -> Result<()> {
        const F: &str = "linux.resources.memory";
        if m.swappiness().is_some() {
            return Err(CgroupError::unsupported_because(
                "linux.resources.memory.swappiness",
                "cgroup v2 has no per-cgroup swappiness",
            ));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(CgroupError::unsupported_because(
                "linux.resources.memory.disableOOMKiller",
                "cgroup v2 cannot disable the oom killer",
            ));
        }
        if m.limit().is_none() && m.reservation().is_none() && m.swap().is_none() {
            return Ok(());
        }
        self.need(avail, "memory", F)?;
        if let Some(l) = m.limit() {
            resources::check_limit("linux.resources.memory.limit", l)?;
            if m.check_before_update() == Some(true) && l >= 0 {
                let cur = fsutil::read_u64(&self.file("memory.current"))?;
                if (l as u64) < cur {
                    return Err(CgroupError::invalid(
                        "linux.resources.memory.limit",
                        format!("{l} is below the current usage {cur}"),
                    ));
                }
            }
            fsutil::write(&self.file("memory.max"), &resources::v2_limit(l))?;
        }
        if let Some(s) = m.swap() {
            let v = resources::v2_swap_max(s, m.limit())?;
            let f = self.file("memory.swap.max");
            if !f.exists() {
                return Err(CgroupError::unsupported_because(
                    "linux.resources.memory.swap",
                    &format!("swap accounting is off ({} does not exist)", f.display()),
                ));
            }
            fsutil::write(&f, &v)?;
        }
        if let Some(r) = m.reservation() {
            resources::check_limit("linux.resources.memory.reservation", r)?;
            fsutil::write(&self.file("memory.low"), &resources::v2_limit(r))?;
        }
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu, avail: &[String]) -> Result<()> {
        if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
            return Err(CgroupError::unsupported_because(
                "linux.resources.cpu.realtimeRuntime/realtimePeriod",
                "cgroup v2 has no realtime cpu controller",
            ));
        }
        let cpu_fields = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.idle().is_some();
        if cpu_fields {
            self.need(avail, "cpu", "linux.resources.cpu")?;
        }
        if let Some(s) = c.shares() {
            fsutil::write(&self.file("cpu.weight"), &shares_to_weight(s).to_string())?;
        }
        if c.quota().is_some() || c.period().is_some() {
            let f = self.file("cpu.max");
            let cur = fsutil::read(&f)?;
            let mut it = cur.split_whitespace();
            let (cur_q, cur_p) = (
                it.next().unwrap_or("max").to_string(),
                it.next().unwrap_or("100000").to_string(),
            );
            let q = match c.quota() {
                Some(q) if q > 0 => q.to_string(),
                Some(_) => "max".to_string(),
                None => cur_q,
            };
            let p = match c.period() {
                Some(0) => {
                    return Err(CgroupError::invalid(
                        "linux.resources.cpu.period",
                        "0 is not a period",
                    ))
                }
                Some(p) => p.to_string(),
                None => cur_p,
            };
            fsutil::write(&f, &format!("{q} {p}"))?;
        }
        if let Some(b) = c.burst() {
            fsutil::write(&self.file("cpu.max.burst"), &b.to_string())?;
        }
        if let Some(i) = c.idle() {
            fsutil::write(&self.file("cpu.idle"), &i.to_string())?;
        }
        for (val, name, field) in [
            (c.cpus(), "cpuset.cpus", "linux.resources.cpu.cpus"),
            (c.mems(), "cpuset.mems", "linux.resources.cpu.mems"),
        ] {
            if let Some(v) = val {
                self.need(avail, "cpuset", field)?;
                fsutil::write(&self.file(name), v)?;
            }
        }
        Ok(())
    }

    fn apply_io(&self, b: &LinuxBlockIo, avail: &[String]) -> Result<()> {
        let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
            (b.throttle_read_bps_device(), "rbps"),
            (b.throttle_write_bps_device(), "wbps"),
            (b.throttle_read_iops_device(), "riops"),
            (b.throttle_write_iops_device(), "wiops"),
        ];
        let any = b.weight().is_some()
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || throttles
                .iter()
                .any(|(t, _)| t.as_ref().is_some_and(|v| !v.is_empty()));
        if !any {
            return Ok(());
        }
        self.need(avail, "io", "linux.resources.blockIO")?;
        let bfq = self.file("io.bfq.weight");
        let use_bfq = bfq.exists();
        let weight_file = if use_bfq { bfq } else { self.file("io.weight") };
        let conv = |w: u16| {
            if use_bfq {
                u64::from(w.clamp(1, 1000))
            } else {
                blkio_weight_to_io_weight(w)
            }
        };
        if let Some(w) = b.weight() {
            fsutil::write(&weight_file, &format!("default {}", conv(w)))?;
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                fsutil::write(
                    &weight_file,
                    &format!("{}:{} {}", d.major(), d.minor(), conv(w)),
                )?;
            }
        }
        for (list, key) in throttles {
            for d in list.iter().flatten() {
                let rate = if d.rate() == 0 {
                    "max".to_string()
                } else {
                    d.rate().to_string()
                };
                fsutil::write(
                    &self.file("io.max"),
                    &format!("{}:{} {key}={rate}", d.major(), d.minor()),
                )?;
            }
        }
        Ok(())
    }

    fn apply_unified(
        &self,
        map: &std::collections::HashMap<String, String>,
        avail: &[String],
    ) -> Result<()> {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for k in keys {
            let field = format!("linux.resources.unified[{k:?}]");
            if k.is_empty() || k.contains('/') || k.starts_with('.') {
                return Err(CgroupError::invalid(&field, "not a cgroup file name"));
            }
            let controller = k.split('.').next().unwrap_or_default();
            if controller != "cgroup" {
                self.need(avail, controller, &field)?;
            }
            let f = self.file(k);
            if !f.exists() {
                return Err(CgroupError::invalid(
                    &field,
                    format!("{} does not exist", f.display()),
                ));
            }
            fsutil::write(&f, &map[k])?;
        }
        Ok(())
    }

    fn frozen_event(&self) -> Result<bool> {
        let ev = fsutil::read_keyed(&self.file("cgroup.events"))?;
        Ok(ev.get("frozen") == Some(&1))
    }

    /// Write 1 to cgroup.kill if the kernel has it (5.14+); false if it does not.
    pub(crate) fn try_cgroup_kill(&self) -> Result<bool> {
        let f = self.file("cgroup.kill");
        if !f.exists() {
            return Ok(false);
        }
        fsutil::write(&f, "1")?;
        Ok(true)
    }
}

impl CgroupManager for V2Manager {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::V2
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn create(&self) -> Result<()> {
        let enable = self.enable_controllers;
        let new = fsutil::mkdir_levels(
            &self.mount,
            &self.levels,
            |dir| {
                if enable {
                    Self::enable_subtree(dir)
                } else {
                    Ok(())
                }
            },
            |_, _| Ok(()),
        )?;
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(new);
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        resources::refuse_unimplemented(r)?;
        let avail = self.controllers()?;
        if let Some(m) = r.memory() {
            self.apply_memory(m, &avail)?;
        }
        if let Some(c) = r.cpu() {
            self.apply_cpu(c, &avail)?;
        }
        if let Some(p) = r.pids() {
            self.need(&avail, "pids", "linux.resources.pids")?;
            fsutil::write(&self.file("pids.max"), &resources::pids_max(p.limit()))?;
        }
        if let Some(b) = r.block_io() {
            self.apply_io(b, &avail)?;
        }
        if let Some(d) = r.devices() {
            resources::v2_devices_ok(d)?;
        }
        if let Some(u) = r.unified() {
            self.apply_unified(u, &avail)?;
        }
        Ok(())
    }

    fn clone_into_fd(&self) -> Result<Option<OwnedFd>> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&self.dir)
            .map_err(|e| CgroupError::Open {
                path: self.dir.clone(),
                err: e.into(),
            })?;
        Ok(Some(f.into()))
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        fsutil::write(&self.file("cgroup.procs"), &pid.to_string())
    }

    fn freeze(&self) -> Result<()> {
        let f = self.file("cgroup.freeze");
        fsutil::write(&f, "1")?;
        let start = Instant::now();
        while !self.frozen_event()? {
            if start.elapsed() > FREEZE_TIMEOUT {
                return Err(CgroupError::Timeout {
                    what: "cgroup.events to report frozen 1".into(),
                    path: self.dir.clone(),
                    ms: FREEZE_TIMEOUT.as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn thaw(&self) -> Result<()> {
        fsutil::write(&self.file("cgroup.freeze"), "0")
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        let f = self.file("cgroup.freeze");
        let want = fsutil::read_u64(&f)?;
        Ok(match (want, self.frozen_event()?) {
            (0, _) => FreezerState::Thawed,
            (_, true) => FreezerState::Frozen,
            (_, false) => FreezerState::Freezing,
        })
    }

    fn stats(&self) -> Result<Stats> {
        let avail = self.controllers()?;
        let has = |c: &str| avail.iter().any(|a| a == c);
        let mut st = Stats::default();
        if has("memory") {
            let stat = fsutil::read_keyed(&self.file("memory.stat"))?;
            let swap_usage = match fsutil::read_opt(&self.file("memory.swap.current"))? {
                Some(s) => Some(fsutil::parse_u64(&self.file("memory.swap.current"), &s)?),
                None => None,
            };
            let max_usage = match fsutil::read_opt(&self.file("memory.peak"))? {
                Some(s) => Some(fsutil::parse_u64(&self.file("memory.peak"), &s)?),
                None => None,
            };
            st.memory = Some(MemoryStats {
                usage: fsutil::read_u64(&self.file("memory.current"))?,
                max_usage,
                limit: fsutil::read_max(&self.file("memory.max"))?,
                cache: stat.get("file").copied().unwrap_or(0),
                swap_usage,
                stat,
            });
        }
        if let Some(s) = fsutil::read_opt(&self.file("cpu.stat"))? {
            let k = fsutil::parse_keyed(&self.file("cpu.stat"), &s)?;
            let g = |key: &str| k.get(key).copied().unwrap_or(0);
            st.cpu = Some(CpuStats {
                usage_total_ns: g("usage_usec") * 1000,
                usage_user_ns: g("user_usec") * 1000,
                usage_system_ns: g("system_usec") * 1000,
                per_cpu_ns: Vec::new(),
                nr_periods: g("nr_periods"),
                nr_throttled: g("nr_throttled"),
                throttled_time_ns: g("throttled_usec") * 1000,
            });
        }
        if has("pids") {
            st.pids = Some(PidsStats {
                current: fsutil::read_u64(&self.file("pids.current"))?,
                limit: fsutil::read_max(&self.file("pids.max"))?,
            });
        }
        if has("io") {
            st.blkio = Some(crate::blkio::read_v2(&self.file("io.stat"))?);
        }
        Ok(st)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        self.need(
            &self.controllers()?,
            "memory",
            "memory.events (oom kill count)",
        )?;
        let ev = fsutil::read_keyed(&self.file("memory.events"))?;
        Ok(ev.get("oom_kill").copied().unwrap_or(0))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        fsutil::pids_recursive(&self.dir, &mut out)?;
        Ok(out)
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        if !self.dir.exists() {
            return Ok(());
        }
        if signal == libc::SIGKILL && self.try_cgroup_kill()? {
            return Ok(());
        }
        self.freeze()?;
        let mut res = Ok(());
        for pid in self.pids()? {
            if let Err(e) = fsutil::signal(pid, signal) {
                res = res.and(Err(e));
            }
        }
        self.thaw()?;
        res
    }

    fn remove(&self) -> Result<()> {
        fsutil::rmdir_tree(&self.dir, RMDIR_WAIT)?;
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        fsutil::remove_parents(&self.mount, &self.levels, &created)?;
        created.clear();
        Ok(())
    }
}
