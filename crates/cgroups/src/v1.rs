//! cgroup v1 hierarchies (with the cgroup2 mount of a hybrid host tracked alongside).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxResources};

use crate::error::{CgroupError, Result};
use crate::fsutil;
use crate::mountinfo::V1Hierarchy;
use crate::path::join_levels;
use crate::resources;
use crate::stats::{CpuStats, FreezerState, MemoryStats, PidsStats, Stats};
use crate::v2::V2Manager;
use crate::{CgroupManager, CgroupVersion};

const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
const RMDIR_WAIT: Duration = Duration::from_secs(2);
/// v1 reports "unlimited" as a page-aligned i64::MAX; anything this large is no limit.
const V1_UNLIMITED: u64 = 1 << 62;

#[derive(Debug)]
struct Hier {
    info: V1Hierarchy,
    /// The mount point under the root prefix.
    mount: PathBuf,
    /// This cgroup's directory in the hierarchy.
    dir: PathBuf,
}

/// A cgroup spread over the cgroup v1 hierarchies.
#[derive(Debug)]
pub struct V1Manager {
    hiers: Vec<Hier>,
    unified: Option<V2Manager>,
    levels: Vec<String>,
    /// The directory that holds the mounts (for messages), e.g. /sys/fs/cgroup.
    base: PathBuf,
    created: Mutex<Vec<PathBuf>>,
}

impl V1Manager {
    /// `root` is the path prefix (`/` on a real host); `hierarchies` and `unified` come from
    /// [`crate::parse_layout`]; `levels` from [`crate::parse_cgroups_path`].
    pub fn new(
        root: &Path,
        hierarchies: &[V1Hierarchy],
        unified: Option<&Path>,
        levels: &[String],
    ) -> V1Manager {
        let hiers: Vec<Hier> = hierarchies
            .iter()
            .map(|h| {
                let mount = fsutil::under_root(root, &h.mount_point);
                Hier {
                    info: h.clone(),
                    dir: join_levels(&mount, levels),
                    mount,
                }
            })
            .collect();
        let base = hiers
            .first()
            .and_then(|h| h.mount.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.to_path_buf());
        let unified = unified.map(|u| V2Manager::hybrid(fsutil::under_root(root, u), levels));
        V1Manager {
            hiers,
            unified,
            levels: levels.to_vec(),
            base,
            created: Mutex::new(Vec::new()),
        }
    }

    fn hier(&self, subsystem: &str) -> Option<&Hier> {
        self.hiers.iter().find(|h| h.info.has(subsystem))
    }

    /// This cgroup's directory in the hierarchy carrying `subsystem`, or an error naming `field`.
    fn dir(&self, subsystem: &str, field: &str) -> Result<&Path> {
        self.hier(subsystem)
            .map(|h| h.dir.as_path())
            .ok_or_else(|| CgroupError::ControllerUnavailable {
                field: field.to_string(),
                controller: subsystem.to_string(),
                root: self.base.clone(),
            })
    }

    /// Copy the parent's cpuset.cpus / cpuset.mems into a level whose own are empty: a new v1
    /// cpuset cgroup starts empty and refuses tasks until they are set.
    fn fill_cpuset(parent: &Path, child: &Path) -> Result<()> {
        for name in ["cpuset.cpus", "cpuset.mems"] {
            match fsutil::read_opt(&child.join(name))? {
                Some(v) if v.trim().is_empty() => {
                    let p = fsutil::read(&parent.join(name))?;
                    fsutil::write(&child.join(name), p.trim())?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<()> {
        const F: &str = "linux.resources.memory";
        let wants = m.limit().is_some()
            || m.reservation().is_some()
            || m.swap().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some();
        if !wants {
            return Ok(());
        }
        let dir = self.dir("memory", F)?;
        let limit_f = dir.join("memory.limit_in_bytes");
        let memsw_f = dir.join("memory.memsw.limit_in_bytes");
        if let Some(l) = m.limit() {
            resources::check_limit("linux.resources.memory.limit", l)?;
            if m.check_before_update() == Some(true) && l >= 0 {
                let cur = fsutil::read_u64(&dir.join("memory.usage_in_bytes"))?;
                if (l as u64) < cur {
                    return Err(CgroupError::invalid(
                        "linux.resources.memory.limit",
                        format!("{l} is below the current usage {cur}"),
                    ));
                }
            }
        }
        if let Some(s) = m.swap() {
            resources::check_limit("linux.resources.memory.swap", s)?;
            if !memsw_f.exists() {
                return Err(CgroupError::unsupported_because(
                    "linux.resources.memory.swap",
                    &format!(
                        "swap accounting is off ({} does not exist)",
                        memsw_f.display()
                    ),
                ));
            }
        }
        // memsw must stay >= limit after every single write.
        let as_u64 = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        match (m.limit(), m.swap()) {
            (Some(l), Some(s)) => {
                if as_u64(s) < as_u64(l) {
                    return Err(CgroupError::invalid(
                        "linux.resources.memory.swap",
                        format!("memory+swap {s} is less than the memory limit {l}"),
                    ));
                }
                let cur_memsw = fsutil::read_u64(&memsw_f)?;
                if as_u64(s) >= cur_memsw {
                    fsutil::write(&memsw_f, &s.to_string())?;
                    fsutil::write(&limit_f, &l.to_string())?;
                } else {
                    fsutil::write(&limit_f, &l.to_string())?;
                    fsutil::write(&memsw_f, &s.to_string())?;
                }
            }
            (Some(l), None) => {
                if let Some(cur) = fsutil::read_opt(&memsw_f)? {
                    let cur = fsutil::parse_u64(&memsw_f, &cur)?;
                    if as_u64(l) > cur {
                        return Err(CgroupError::invalid(
                            "linux.resources.memory.limit",
                            format!("{l} is above the current memory+swap limit {cur}; set linux.resources.memory.swap too"),
                        ));
                    }
                }
                fsutil::write(&limit_f, &l.to_string())?;
            }
            (None, Some(s)) => fsutil::write(&memsw_f, &s.to_string())?,
            (None, None) => {}
        }
        if let Some(r) = m.reservation() {
            resources::check_limit("linux.resources.memory.reservation", r)?;
            fsutil::write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(CgroupError::invalid(
                    "linux.resources.memory.swappiness",
                    format!("{s} is not in 0..=100"),
                ));
            }
            fsutil::write(&dir.join("memory.swappiness"), &s.to_string())?;
        }
        if let Some(d) = m.disable_oom_killer() {
            fsutil::write(&dir.join("memory.oom_control"), if d { "1" } else { "0" })?;
        }
        Ok(())
    }

    fn write_optional(dir: &Path, name: &str, field: &str, value: String) -> Result<()> {
        let f = dir.join(name);
        if !f.exists() {
            return Err(CgroupError::unsupported_because(
                field,
                &format!("this kernel has no {}", f.display()),
            ));
        }
        fsutil::write(&f, &value)
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<()> {
        let cpu_fields = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.idle().is_some()
            || c.realtime_period().is_some()
            || c.realtime_runtime().is_some();
        if cpu_fields {
            let dir = self.dir("cpu", "linux.resources.cpu")?;
            if let Some(s) = c.shares() {
                fsutil::write(&dir.join("cpu.shares"), &s.to_string())?;
            }
            if let Some(p) = c.period() {
                if p == 0 {
                    return Err(CgroupError::invalid(
                        "linux.resources.cpu.period",
                        "0 is not a period",
                    ));
                }
                fsutil::write(&dir.join("cpu.cfs_period_us"), &p.to_string())?;
            }
            if let Some(q) = c.quota() {
                let v = if q > 0 { q } else { -1 };
                fsutil::write(&dir.join("cpu.cfs_quota_us"), &v.to_string())?;
            }
            if let Some(b) = c.burst() {
                Self::write_optional(
                    dir,
                    "cpu.cfs_burst_us",
                    "linux.resources.cpu.burst",
                    b.to_string(),
                )?;
            }
            if let Some(i) = c.idle() {
                Self::write_optional(dir, "cpu.idle", "linux.resources.cpu.idle", i.to_string())?;
            }
            if let Some(p) = c.realtime_period() {
                Self::write_optional(
                    dir,
                    "cpu.rt_period_us",
                    "linux.resources.cpu.realtimePeriod",
                    p.to_string(),
                )?;
            }
            if let Some(r) = c.realtime_runtime() {
                Self::write_optional(
                    dir,
                    "cpu.rt_runtime_us",
                    "linux.resources.cpu.realtimeRuntime",
                    r.to_string(),
                )?;
            }
        }
        for (val, name, field) in [
            (c.cpus(), "cpuset.cpus", "linux.resources.cpu.cpus"),
            (c.mems(), "cpuset.mems", "linux.resources.cpu.mems"),
        ] {
            if let Some(v) = val {
                fsutil::write(&self.dir("cpuset", field)?.join(name), v)?;
            }
        }
        Ok(())
    }

    fn apply_blkio(&self, b: &LinuxBlockIo) -> Result<()> {
        let throttles = [
            (
                b.throttle_read_bps_device(),
                "blkio.throttle.read_bps_device",
            ),
            (
                b.throttle_write_bps_device(),
                "blkio.throttle.write_bps_device",
            ),
            (
                b.throttle_read_iops_device(),
                "blkio.throttle.read_iops_device",
            ),
            (
                b.throttle_write_iops_device(),
                "blkio.throttle.write_iops_device",
            ),
        ];
        let weights =
            b.weight().is_some() || b.weight_device().as_ref().is_some_and(|v| !v.is_empty());
        let any = weights
            || throttles
                .iter()
                .any(|(t, _)| t.as_ref().is_some_and(|v| !v.is_empty()));
        if !any {
            return Ok(());
        }
        let dir = self.dir("blkio", "linux.resources.blockIO")?;
        if weights {
            // cfq kernels have blkio.weight; since 5.0 only bfq's blkio.bfq.weight exists.
            let (wf, wdf) = if dir.join("blkio.weight").exists() {
                ("blkio.weight", "blkio.weight_device")
            } else if dir.join("blkio.bfq.weight").exists() {
                ("blkio.bfq.weight", "blkio.bfq.weight_device")
            } else {
                return Err(CgroupError::unsupported_because(
                    "linux.resources.blockIO.weight",
                    &format!(
                        "neither blkio.weight nor blkio.bfq.weight exists in {}",
                        dir.display()
                    ),
                ));
            };
            if let Some(w) = b.weight() {
                fsutil::write(&dir.join(wf), &w.to_string())?;
            }
            for d in b.weight_device().iter().flatten() {
                if let Some(w) = d.weight() {
                    fsutil::write(&dir.join(wdf), &format!("{}:{} {w}", d.major(), d.minor()))?;
                }
            }
        }
        for (list, file) in throttles {
            for d in list.iter().flatten() {
                fsutil::write(
                    &dir.join(file),
                    &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                )?;
            }
        }
        Ok(())
    }

    fn apply_devices(&self, rules: &[LinuxDeviceCgroup]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        let dir = self.dir("devices", "linux.resources.devices")?;
        for r in rules {
            let line = resources::device_rule(r)?;
            let file = if r.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            fsutil::write(&dir.join(file), &line)?;
        }
        Ok(())
    }

    fn freezer_file(&self, what: &str) -> Result<PathBuf> {
        Ok(self.dir("freezer", what)?.join("freezer.state"))
    }

    fn read_freezer(f: &Path) -> Result<FreezerState> {
        let s = fsutil::read(f)?;
        match s.trim() {
            "THAWED" => Ok(FreezerState::Thawed),
            "FREEZING" => Ok(FreezerState::Freezing),
            "FROZEN" => Ok(FreezerState::Frozen),
            _ => Err(CgroupError::Parse {
                path: f.to_path_buf(),
                content: s,
            }),
        }
    }

    fn cpu_stats(&self) -> Result<Option<CpuStats>> {
        let acct = self.hier("cpuacct").map(|h| h.dir.clone());
        let cpu = self.hier("cpu").map(|h| h.dir.clone());
        if acct.is_none() && cpu.is_none() {
            return Ok(None);
        }
        let mut st = CpuStats::default();
        if let Some(d) = acct {
            st.usage_total_ns = fsutil::read_u64(&d.join("cpuacct.usage"))?;
            let (u, s) = (d.join("cpuacct.usage_user"), d.join("cpuacct.usage_sys"));
            if u.exists() && s.exists() {
                st.usage_user_ns = fsutil::read_u64(&u)?;
                st.usage_system_ns = fsutil::read_u64(&s)?;
            } else {
                // Older kernels: cpuacct.stat in clock ticks.
                let k = fsutil::read_keyed(&d.join("cpuacct.stat"))?;
                // SAFETY: sysconf has no memory-safety preconditions.
                let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
                st.usage_user_ns = k.get("user").copied().unwrap_or(0) * (1_000_000_000 / hz);
                st.usage_system_ns = k.get("system").copied().unwrap_or(0) * (1_000_000_000 / hz);
            }
            let pf = d.join("cpuacct.usage_percpu");
            if let Some(s) = fsutil::read_opt(&pf)? {
                st.per_cpu_ns = s
                    .split_whitespace()
                    .map(|v| fsutil::parse_u64(&pf, v))
                    .collect::<Result<_>>()?;
            }
        }
        if let Some(d) = cpu {
            let k = fsutil::read_keyed(&d.join("cpu.stat"))?;
            st.nr_periods = k.get("nr_periods").copied().unwrap_or(0);
            st.nr_throttled = k.get("nr_throttled").copied().unwrap_or(0);
            st.throttled_time_ns = k.get("throttled_time").copied().unwrap_or(0);
        }
        Ok(Some(st))
    }

    fn memory_stats(&self) -> Result<Option<MemoryStats>> {
        let Some(h) = self.hier("memory") else {
            return Ok(None);
        };
        let d = &h.dir;
        let stat = fsutil::read_keyed(&d.join("memory.stat"))?;
        let usage = fsutil::read_u64(&d.join("memory.usage_in_bytes"))?;
        let limit = fsutil::read_u64(&d.join("memory.limit_in_bytes"))?;
        let swap_usage = match fsutil::read_opt(&d.join("memory.memsw.usage_in_bytes"))? {
            Some(s) => Some(
                fsutil::parse_u64(&d.join("memory.memsw.usage_in_bytes"), &s)?
                    .saturating_sub(usage),
            ),
            None => None,
        };
        Ok(Some(MemoryStats {
            usage,
            max_usage: Some(fsutil::read_u64(&d.join("memory.max_usage_in_bytes"))?),
            limit: (limit < V1_UNLIMITED).then_some(limit),
            cache: stat
                .get("total_cache")
                .or_else(|| stat.get("cache"))
                .copied()
                .unwrap_or(0),
            swap_usage,
            stat,
        }))
    }
}

impl CgroupManager for V1Manager {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::V1
    }

    fn paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.hiers.iter().map(|h| h.dir.clone()).collect();
        if let Some(u) = &self.unified {
            v.push(u.dir().to_path_buf());
        }
        v
    }

    fn create(&self) -> Result<()> {
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        for h in &self.hiers {
            let cpuset = h.info.has("cpuset");
            let new = fsutil::mkdir_levels(
                &h.mount,
                &self.levels,
                |_| Ok(()),
                |parent, dir| {
                    if cpuset {
                        Self::fill_cpuset(parent, dir)
                    } else {
                        Ok(())
                    }
                },
            )?;
            created.extend(new);
        }
        if let Some(u) = &self.unified {
            u.create()?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        resources::refuse_unimplemented(r)?;
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(CgroupError::unsupported_because(
                "linux.resources.unified",
                "the host uses cgroup v1",
            ));
        }
        if let Some(m) = r.memory() {
            self.apply_memory(m)?;
        }
        if let Some(c) = r.cpu() {
            self.apply_cpu(c)?;
        }
        if let Some(p) = r.pids() {
            let dir = self.dir("pids", "linux.resources.pids")?;
            fsutil::write(&dir.join("pids.max"), &resources::pids_max(p.limit()))?;
        }
        if let Some(b) = r.block_io() {
            self.apply_blkio(b)?;
        }
        if let Some(d) = r.devices() {
            self.apply_devices(d)?;
        }
        Ok(())
    }

    fn clone_into_fd(&self) -> Result<Option<OwnedFd>> {
        Ok(None)
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for h in &self.hiers {
            fsutil::write(&h.dir.join("cgroup.procs"), &pid)?;
        }
        if let Some(u) = &self.unified {
            fsutil::write(&u.dir().join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        let f = self.freezer_file("freeze")?;
        let start = Instant::now();
        let mut last_write = None::<Instant>;
        loop {
            // Re-ask now and then: a task that forks while freezing can leave the state at FREEZING.
            if last_write.is_none_or(|t| t.elapsed() >= Duration::from_millis(50)) {
                fsutil::write(&f, "FROZEN")?;
                last_write = Some(Instant::now());
            }
            if Self::read_freezer(&f)? == FreezerState::Frozen {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                let _ = fsutil::write(&f, "THAWED");
                return Err(CgroupError::Timeout {
                    what: "freezer.state to become FROZEN".into(),
                    path: f,
                    ms: FREEZE_TIMEOUT.as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn thaw(&self) -> Result<()> {
        fsutil::write(&self.freezer_file("thaw")?, "THAWED")
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        Self::read_freezer(&self.freezer_file("freezer_state")?)
    }

    fn stats(&self) -> Result<Stats> {
        let pids = match self.hier("pids") {
            Some(h) => Some(PidsStats {
                current: fsutil::read_u64(&h.dir.join("pids.current"))?,
                limit: fsutil::read_max(&h.dir.join("pids.max"))?,
            }),
            None => None,
        };
        Ok(Stats {
            memory: self.memory_stats()?,
            cpu: self.cpu_stats()?,
            pids,
            blkio: match self.hier("blkio") {
                Some(h) => Some(crate::blkio::read_v1(&h.dir)?),
                None => None,
            },
        })
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let f = self
            .dir("memory", "memory.oom_control (oom kill count)")?
            .join("memory.oom_control");
        let s = fsutil::read(&f)?;
        let k = fsutil::parse_keyed(&f, &s)?;
        k.get("oom_kill").copied().ok_or(CgroupError::Parse {
            path: f,
            content: s,
        })
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let h = ["pids", "freezer", "memory", "cpu"]
            .iter()
            .find_map(|s| self.hier(s))
            .or(self.hiers.first());
        let mut out = Vec::new();
        match (h, &self.unified) {
            (Some(h), _) => fsutil::pids_recursive(&h.dir, &mut out)?,
            (None, Some(u)) => out = u.pids()?,
            (None, None) => {}
        }
        Ok(out)
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        if signal == libc::SIGKILL {
            if let Some(u) = &self.unified {
                if u.dir().exists() && u.try_cgroup_kill()? {
                    return Ok(());
                }
            }
        }
        let freezer = self.hier("freezer").is_some_and(|h| h.dir.exists());
        if freezer {
            self.freeze()?;
        }
        let mut res = Ok(());
        for pid in self.pids()? {
            if let Err(e) = fsutil::signal(pid, signal) {
                res = res.and(Err(e));
            }
        }
        if freezer {
            self.thaw()?;
        }
        res
    }

    fn remove(&self) -> Result<()> {
        for h in &self.hiers {
            fsutil::rmdir_tree(&h.dir, RMDIR_WAIT)?;
        }
        if let Some(u) = &self.unified {
            u.remove()?;
        }
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        for h in &self.hiers {
            fsutil::remove_parents(&h.mount, &self.levels, &created)?;
        }
        created.clear();
        Ok(())
    }
}
