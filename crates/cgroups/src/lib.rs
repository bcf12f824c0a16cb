//! cgroup v1 and v2 behind one trait.
//!
//! ```no_run
//! # fn main() -> berth_cgroups::Result<()> {
//! let cg = berth_cgroups::open(std::path::Path::new("/berth/abc"))?;
//! cg.create()?;
//! cg.apply(&oci_spec::runtime::LinuxResources::default())?;
//! let fd = cg.clone_into_fd()?; // Some on v2: pass to clone3 with CLONE_INTO_CGROUP
//! # let pid = 1;
//! if fd.is_none() {
//!     cg.add_process(pid)?; // v1: write cgroup.procs in every hierarchy
//! }
//! // ... later
//! cg.kill_all(libc::SIGKILL)?;
//! cg.remove()?;
//! # Ok(()) }
//! ```
//!
//! All file access is relative to a root (`/` on a real host), so the managers can be tested on
//! a fake tree: see [`Options`].

mod blkio;
mod error;
mod fsutil;
mod mountinfo;
mod path;
mod prime;
mod resources;
mod stats;
mod v1;
mod v2;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests_v1;
#[cfg(test)]
mod tests_v2;

use std::fmt::Debug;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use error::{CgroupError, OsError, Result};
pub use mountinfo::{host_layout, parse_layout, HostLayout, V1Hierarchy};
pub use oci_spec::runtime::LinuxResources;
pub use path::parse_cgroups_path;
pub use prime::prime_attach;
pub use resources::{blkio_weight_to_io_weight, shares_to_weight};
pub use stats::{BlkioEntry, BlkioStats, CpuStats, FreezerState, MemoryStats, PidsStats, Stats};
pub use v1::V1Manager;
pub use v2::V2Manager;

/// Which cgroup version a manager drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    /// cgroup v1 hierarchies (possibly with a cgroup2 mount beside them: hybrid).
    V1,
    /// The unified cgroup v2 hierarchy.
    V2,
}

/// One container's cgroup, whatever the cgroup version.
pub trait CgroupManager: Debug + Send + Sync {
    /// v1 or v2.
    fn version(&self) -> CgroupVersion;
    /// The directories of this cgroup (one per v1 hierarchy, one on v2).
    fn paths(&self) -> Vec<PathBuf>;
    /// mkdir every level in every hierarchy (v1 cpuset: copy the parent's cpus and mems into new levels;
    /// v2: enable the available controllers in the ancestors' cgroup.subtree_control).
    fn create(&self) -> Result<()>;
    /// Write the resource limits. Any field set that cannot be honoured is an error naming it.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// v2: an `O_DIRECTORY|O_CLOEXEC` fd of the cgroup for clone3's CLONE_INTO_CGROUP. v1: `None`.
    fn clone_into_fd(&self) -> Result<Option<OwnedFd>>;
    /// Move a process into the cgroup (one cgroup.procs write per hierarchy).
    fn add_process(&self, pid: i32) -> Result<()>;
    /// Freeze every task and wait until the kernel reports them frozen.
    fn freeze(&self) -> Result<()>;
    /// Thaw the cgroup.
    fn thaw(&self) -> Result<()>;
    /// The freezer's state.
    fn freezer_state(&self) -> Result<FreezerState>;
    /// Memory, cpu and pids usage.
    fn stats(&self) -> Result<Stats>;
    /// How many times the OOM killer killed a task in this cgroup.
    fn oom_kill_count(&self) -> Result<u64>;
    /// Every process in the cgroup (and its descendants).
    fn pids(&self) -> Result<Vec<i32>>;
    /// Send `signal` to every process (freezing first so none can fork away).
    fn kill_all(&self, signal: i32) -> Result<()>;
    /// rmdir the cgroup (and any sub-cgroups) in every hierarchy, then the empty parent levels that
    /// this manager created or whose name starts with "berth" (the shared `/berth`), deepest first;
    /// a busy parent is left alone. Retries EBUSY on the leaf briefly while the last tasks exit.
    fn remove(&self) -> Result<()>;
}

/// Where to look: mountinfo text and the root that host paths are resolved under.
#[derive(Clone, Debug)]
pub struct Options {
    /// Contents of /proc/self/mountinfo (or a fake).
    pub mountinfo: String,
    /// Where the mountinfo's absolute paths are found: `/` on a real host, a temp dir in tests.
    pub root: PathBuf,
}

impl Options {
    /// The real host: /proc/self/mountinfo, root `/`.
    pub fn host() -> Result<Options> {
        let p = Path::new("/proc/self/mountinfo");
        Ok(Options {
            mountinfo: fsutil::read(p)?,
            root: PathBuf::from("/"),
        })
    }
}

/// Open the manager for `cgroups_path` (e.g. `/berth/<id>`) on this host.
pub fn open(cgroups_path: &Path) -> Result<Box<dyn CgroupManager>> {
    open_with(&Options::host()?, cgroups_path)
}

/// Open the manager for `cgroups_path` with explicit mountinfo and root.
pub fn open_with(opts: &Options, cgroups_path: &Path) -> Result<Box<dyn CgroupManager>> {
    let levels = parse_cgroups_path(cgroups_path)?;
    let layout = parse_layout(&opts.mountinfo, Path::new("/proc/self/mountinfo"))?;
    Ok(match layout {
        HostLayout::Unified { mount_point } => Box::new(V2Manager::new(
            fsutil::under_root(&opts.root, &mount_point),
            &levels,
        )),
        HostLayout::V1 {
            hierarchies,
            unified,
        } => Box::new(V1Manager::new(
            &opts.root,
            &hierarchies,
            unified.as_deref(),
            &levels,
        )),
    })
}
