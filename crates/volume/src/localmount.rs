//! The local driver's options (`type`, `device`, `o`) and the mount(2) they turn into, plus the
//! mount table reads the store needs.
//!
//! As with `mount -t TYPE -o O DEVICE DIR`: the words of `o` that are mount flags (ro, nosuid,
//! bind, …) become flags, propagation words a separate propagation change, and the rest the
//! filesystem's data string (tmpfs `size=`, `mode=`, `uid=`…).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::{Result, VolumeError};

/// Validated local driver options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalOptions {
    pub typ: String,
    pub device: String,
    pub o: String,
}

/// Checks driver options as Docker's local driver does; None when there are none (a plain
/// directory volume).
pub(crate) fn parse_options(opts: &BTreeMap<String, String>) -> Result<Option<LocalOptions>> {
    if opts.is_empty() {
        return Ok(None);
    }
    for key in opts.keys() {
        match key.as_str() {
            "type" | "device" | "o" => {}
            // Docker's quota-backed size needs an xfs project quota root, which berth lacks.
            "size" => {
                return Err(VolumeError::InvalidSpec(
                    "quota size requested but no quota support".into(),
                ))
            }
            _ => return Err(VolumeError::InvalidOption(key.clone())),
        }
    }
    let required: [(&str, &[&'static str]); 3] = [
        ("type", &["device"]),
        ("device", &["type"]),
        ("o", &["device", "type"]),
    ];
    for (key, needs) in required {
        if opts.contains_key(key) {
            if let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n)) {
                return Err(VolumeError::MissingOption(missing));
            }
        }
    }
    let local = LocalOptions {
        typ: opts["type"].clone(),
        device: opts["device"].clone(),
        o: opts.get("o").cloned().unwrap_or_default(),
    };
    // Parse now so that a bad `o` fails the create, not a container start much later.
    MountPlan::new(&local)?;
    Ok(Some(local))
}

/// What mount(2) calls an option set becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountPlan {
    pub flags: libc::c_ulong,
    pub propagation: libc::c_ulong,
    pub data: String,
}

impl MountPlan {
    pub fn new(opts: &LocalOptions) -> Result<MountPlan> {
        let mut plan = MountPlan {
            flags: 0,
            propagation: 0,
            data: String::new(),
        };
        let mut data = Vec::new();
        for word in opts.o.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if let Some(p) = propagation_flag(word) {
                plan.propagation = p;
                continue;
            }
            match flag(word) {
                Some((set, true)) => plan.flags |= set,
                Some((set, false)) => plan.flags &= !set,
                None if word == "defaults" => {}
                None if word == "remount" => {
                    return Err(VolumeError::InvalidOptionValue {
                        key: "o",
                        value: opts.o.clone(),
                        reason: "remount makes no sense for a volume's first mount".into(),
                    })
                }
                None => data.push(word),
            }
        }
        if plan.flags & libc::MS_BIND != 0 && !data.is_empty() {
            return Err(VolumeError::InvalidOptionValue {
                key: "o",
                value: opts.o.clone(),
                reason: format!(
                    "a bind mount takes no filesystem options ({})",
                    data.join(",")
                ),
            });
        }
        plan.data = data.join(",");
        Ok(plan)
    }
}

/// A mount flag word: the bits and whether the word sets (true) or clears them.
fn flag(word: &str) -> Option<(libc::c_ulong, bool)> {
    Some(match word {
        "ro" => (libc::MS_RDONLY, true),
        "rw" => (libc::MS_RDONLY, false),
        "suid" => (libc::MS_NOSUID, false),
        "nosuid" => (libc::MS_NOSUID, true),
        "dev" => (libc::MS_NODEV, false),
        "nodev" => (libc::MS_NODEV, true),
        "exec" => (libc::MS_NOEXEC, false),
        "noexec" => (libc::MS_NOEXEC, true),
        "sync" => (libc::MS_SYNCHRONOUS, true),
        "async" => (libc::MS_SYNCHRONOUS, false),
        "dirsync" => (libc::MS_DIRSYNC, true),
        "mand" => (libc::MS_MANDLOCK, true),
        "nomand" => (libc::MS_MANDLOCK, false),
        "atime" => (libc::MS_NOATIME, false),
        "noatime" => (libc::MS_NOATIME, true),
        "diratime" => (libc::MS_NODIRATIME, false),
        "nodiratime" => (libc::MS_NODIRATIME, true),
        "relatime" => (libc::MS_RELATIME, true),
        "norelatime" => (libc::MS_RELATIME, false),
        "strictatime" => (libc::MS_STRICTATIME, true),
        "nostrictatime" => (libc::MS_STRICTATIME, false),
        "bind" => (libc::MS_BIND, true),
        "rbind" => (libc::MS_BIND | libc::MS_REC, true),
        _ => return None,
    })
}

fn propagation_flag(word: &str) -> Option<libc::c_ulong> {
    Some(match word {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option contains a NUL byte"))
}

fn sys_mount(
    source: Option<&CString>,
    target: &CString,
    fstype: Option<&CString>,
    flags: libc::c_ulong,
    data: Option<&CString>,
) -> io::Result<()> {
    let ptr = |c: Option<&CString>| c.map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Mounts `opts` on `target`; on failure nothing stays mounted.
pub(crate) fn mount(opts: &LocalOptions, target: &Path) -> io::Result<()> {
    let plan = MountPlan::new(opts).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tgt = cpath(target)?;
    let dev = cstr(&opts.device)?;
    if plan.flags & libc::MS_BIND != 0 {
        let bind = plan.flags & (libc::MS_BIND | libc::MS_REC);
        sys_mount(Some(&dev), &tgt, None, bind, None)?;
        // A bind ignores every other flag on its first call: apply them with a remount.
        let rest = plan.flags & !(libc::MS_BIND | libc::MS_REC);
        if rest != 0 {
            if let Err(e) = sys_mount(
                None,
                &tgt,
                None,
                libc::MS_REMOUNT | libc::MS_BIND | rest,
                None,
            ) {
                let _ = unmount(target);
                return Err(e);
            }
        }
    } else {
        let fstype = cstr(&opts.typ)?;
        let data = cstr(&plan.data)?;
        let data = (!plan.data.is_empty()).then_some(&data);
        sys_mount(Some(&dev), &tgt, Some(&fstype), plan.flags, data)?;
    }
    if plan.propagation != 0 {
        if let Err(e) = sys_mount(None, &tgt, None, plan.propagation, None) {
            let _ = unmount(target);
            return Err(e);
        }
    }
    Ok(())
}

/// Detaches the mount at `target` (lazily, as Docker does: a process still inside keeps its
/// view, the tree is gone from the host at once).
pub(crate) fn unmount(target: &Path) -> io::Result<()> {
    let tgt = cpath(target)?;
    // SAFETY: tgt is NUL-terminated.
    if unsafe { libc::umount2(tgt.as_ptr(), libc::MNT_DETACH) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Every mount point in this process's mount namespace, from /proc/self/mountinfo.
pub(crate) fn mount_points() -> io::Result<Vec<PathBuf>> {
    let table = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .collect())
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn option_keys_are_checked_as_docker_does() {
        assert_eq!(parse_options(&opts(&[])).unwrap(), None);
        assert_eq!(
            parse_options(&opts(&[("foo", "bar")]))
                .unwrap_err()
                .to_string(),
            "invalid option key: \"foo\""
        );
        assert_eq!(
            parse_options(&opts(&[("type", "tmpfs")]))
                .unwrap_err()
                .to_string(),
            "missing required option: \"device\""
        );
        assert_eq!(
            parse_options(&opts(&[("device", "tmpfs")]))
                .unwrap_err()
                .to_string(),
            "missing required option: \"type\""
        );
        assert_eq!(
            parse_options(&opts(&[("size", "10m")]))
                .unwrap_err()
                .to_string(),
            "quota size requested but no quota support"
        );
        let tmpfs = parse_options(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m,mode=0700"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(tmpfs.typ, "tmpfs");
    }

    #[test]
    fn o_splits_into_flags_propagation_and_data() {
        let plan = MountPlan::new(&LocalOptions {
            typ: "tmpfs".into(),
            device: "tmpfs".into(),
            o: "size=1m,ro,nosuid,mode=0755,rshared,uid=1000".into(),
        })
        .unwrap();
        assert_eq!(plan.flags, libc::MS_RDONLY | libc::MS_NOSUID);
        assert_eq!(plan.propagation, libc::MS_SHARED | libc::MS_REC);
        assert_eq!(plan.data, "size=1m,mode=0755,uid=1000");

        let bind = MountPlan::new(&LocalOptions {
            typ: "none".into(),
            device: "/srv".into(),
            o: "bind,ro".into(),
        })
        .unwrap();
        assert_eq!(bind.flags, libc::MS_BIND | libc::MS_RDONLY);
        assert_eq!(bind.data, "");

        let err = MountPlan::new(&LocalOptions {
            typ: "none".into(),
            device: "/srv".into(),
            o: "bind,size=1m".into(),
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("takes no filesystem options"),
            "{err}"
        );
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/trail\\04"), "/trail\\04");
    }
}
