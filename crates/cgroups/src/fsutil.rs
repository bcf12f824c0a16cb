//! Small file helpers: every failure names the file.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{CgroupError, Result};

#[cfg(test)]
thread_local! {
    /// Every write attempted by this thread, in order (unit tests check order and content).
    pub(crate) static WRITES: std::cell::RefCell<Vec<(PathBuf, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Read a whole control file.
pub(crate) fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| CgroupError::Read {
        path: path.to_path_buf(),
        err: e.into(),
    })
}

/// Read a control file, `None` if it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            err: e.into(),
        }),
    }
}

/// Write a value to an existing control file in one write(2) (never creates the file).
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    #[cfg(test)]
    WRITES.with(|w| w.borrow_mut().push((path.to_path_buf(), value.to_string())));
    let res = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|e| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        err: e.into(),
    })
}

/// mkdir that tolerates an existing directory; returns true if it created it.
pub(crate) fn mkdir(path: &Path) -> Result<bool> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(CgroupError::Mkdir {
            path: path.to_path_buf(),
            err: e.into(),
        }),
    }
}

fn is_busy(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOTEMPTY))
}

/// Remove a cgroup directory and any child cgroups below it, deepest first.
/// A missing directory is fine. EBUSY is retried for `wait` while the last tasks exit.
pub(crate) fn rmdir_tree(path: &Path, wait: Duration) -> Result<()> {
    let entries = match fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(CgroupError::Read {
                path: path.to_path_buf(),
                err: e.into(),
            })
        }
    };
    for ent in entries.flatten() {
        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            rmdir_tree(&ent.path(), wait)?;
        }
    }
    let start = Instant::now();
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if is_busy(&e) && start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => {
                return Err(CgroupError::Rmdir {
                    path: path.to_path_buf(),
                    err: e.into(),
                })
            }
        }
    }
}

/// rmdir of a shared parent: busy / not-empty / missing all mean "leave it".
pub(crate) fn rmdir_parent(path: &Path) -> Result<()> {
    match fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound || is_busy(&e) => Ok(()),
        Err(e) => Err(CgroupError::Rmdir {
            path: path.to_path_buf(),
            err: e.into(),
        }),
    }
}

/// Parse a number, failing with the file name.
pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<u64> {
    s.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        content: s.to_string(),
    })
}

/// Read a single number.
pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    let s = read(path)?;
    parse_u64(path, &s)
}

/// Read a single number or "max" (`None`).
pub(crate) fn read_max(path: &Path) -> Result<Option<u64>> {
    let s = read(path)?;
    if s.trim() == "max" {
        return Ok(None);
    }
    parse_u64(path, &s).map(Some)
}

/// Parse a flat keyed file ("key value" per line).
pub(crate) fn parse_keyed(path: &Path, s: &str) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for line in s.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
            return Err(CgroupError::Parse {
                path: path.to_path_buf(),
                content: line.to_string(),
            });
        };
        out.insert(k.to_string(), parse_u64(path, v)?);
    }
    Ok(out)
}

/// Read a flat keyed file.
pub(crate) fn read_keyed(path: &Path) -> Result<BTreeMap<String, u64>> {
    let s = read(path)?;
    parse_keyed(path, &s)
}

/// Read cgroup.procs into pids.
pub(crate) fn read_pids(path: &Path) -> Result<Vec<i32>> {
    let s = read(path)?;
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse().map_err(|_| CgroupError::Parse {
                path: path.to_path_buf(),
                content: l.to_string(),
            })
        })
        .collect()
}

/// Send `signal` to `pid`; a process that already exited is fine.
pub(crate) fn signal(pid: i32, signal: i32) -> Result<()> {
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        return Ok(());
    }
    Err(CgroupError::Signal {
        pid,
        signal,
        err: e.into(),
    })
}

/// Join a host absolute path (from mountinfo) under a root prefix ("/" in production).
pub(crate) fn under_root(root: &Path, host_path: &Path) -> PathBuf {
    match host_path.strip_prefix("/") {
        Ok(rel) => root.join(rel),
        Err(_) => root.join(host_path),
    }
}

/// mkdir `mount/levels[0]/levels[1]/...`, calling `before(dir)` on each existing level before
/// making its child and `after(parent, child)` after. Returns the directories it created. If a
/// parent vanishes under us (another container's `remove` took the shared, empty parent), start over.
pub(crate) fn mkdir_levels(
    mount: &Path,
    levels: &[String],
    mut before: impl FnMut(&Path) -> Result<()>,
    mut after: impl FnMut(&Path, &Path) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    let mut attempts = 0;
    'walk: loop {
        let mut cur = mount.to_path_buf();
        for level in levels {
            before(&cur)?;
            let parent = cur.clone();
            cur.push(level);
            match mkdir(&cur) {
                Ok(true) => created.push(cur.clone()),
                Ok(false) => {}
                Err(e)
                    if attempts < 5
                        && e.io_error().map(|e| e.kind()) == Some(io::ErrorKind::NotFound) =>
                {
                    attempts += 1;
                    continue 'walk;
                }
                Err(e) => return Err(e),
            }
            match after(&parent, &cur) {
                Ok(()) => {}
                // A concurrent removal of an empty parent (another container's cleanup) makes
                // its files vanish (ENOENT) or read as ENODEV mid-way: walk again.
                Err(e)
                    if attempts < 5
                        && e.io_error().is_some_and(|e| {
                            e.kind() == io::ErrorKind::NotFound
                                || e.raw_os_error() == Some(libc::ENODEV)
                        }) =>
                {
                    attempts += 1;
                    continue 'walk;
                }
                Err(e) => return Err(e),
            }
        }
        return Ok(created);
    }
}

/// After the leaf is gone: rmdir the now-empty parent levels, deepest first, that this manager
/// created or that are berth's own (name starting with "berth", e.g. the shared `/berth`). A busy
/// parent (other containers in it) stops the walk. Other parents (a user's cgroup parent) stay.
pub(crate) fn remove_parents(mount: &Path, levels: &[String], created: &[PathBuf]) -> Result<()> {
    for k in (1..levels.len()).rev() {
        let dir = crate::path::join_levels(mount, &levels[..k]);
        if !(created.contains(&dir) || levels[k - 1].starts_with("berth")) {
            break;
        }
        rmdir_parent(&dir)?;
        if dir.exists() {
            break;
        }
    }
    Ok(())
}

/// Every PID in the cgroup `dir` and its sub-cgroups.
pub(crate) fn pids_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    out.extend(read_pids(&dir.join("cgroup.procs"))?);
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                pids_recursive(&e.path(), out)?;
            }
        }
    }
    Ok(())
}
