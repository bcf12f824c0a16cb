//! The spec's `mounts` turned into steps the child can carry out with system calls alone.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use libc::c_ulong;
use oci_spec::runtime::Mount;

use super::paths::PathInRoot;
use super::InitError;

/// How a step mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A new filesystem instance: mount(source, target, fstype, flags, data).
    Fs,
    /// A bind mount of `source` (a host path), recursive with `rbind`.
    Bind { recursive: bool },
    /// Remounts what is already at the target with `flags` (used to make a tmpfs read-only once
    /// the mounts inside it exist).
    Remount,
}

#[derive(Debug, Clone)]
pub struct MountStep {
    pub kind: MountKind,
    pub dest: PathInRoot,
    pub source: Option<CString>,
    pub fstype: Option<CString>,
    /// MS_* flags other than bind and propagation.
    pub flags: c_ulong,
    pub data: Option<CString>,
    /// A second try's data when the first fails with EINVAL (devpts's gid= in a user namespace).
    pub fallback_data: Option<CString>,
    /// MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE, with MS_REC, or 0.
    pub propagation: c_ulong,
    /// A bind of a file needs a file, not a directory, at the destination.
    pub dest_is_file: bool,
    /// sysfs cannot be mounted without owning the netns; bind the host's /sys instead, as runc.
    pub sysfs_bind_fallback: bool,
    /// For error messages: "mounts[3]" or a description of a step berth added.
    pub origin: String,
}

/// Flags, propagation and fs-specific data parsed from a mount's `options`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ParsedOptions {
    pub flags: c_ulong,
    pub clear: c_ulong,
    pub propagation: c_ulong,
    pub bind: Option<bool>,
    pub data: Vec<String>,
}

pub fn parse_options(options: &[String], origin: &str) -> Result<ParsedOptions, InitError> {
    let mut p = ParsedOptions::default();
    for opt in options {
        let (set, clear): (c_ulong, c_ulong) = match opt.as_str() {
            "defaults" => (0, 0),
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "suid" => (0, libc::MS_NOSUID),
            "nosuid" => (libc::MS_NOSUID, 0),
            "dev" => (0, libc::MS_NODEV),
            "nodev" => (libc::MS_NODEV, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "noexec" => (libc::MS_NOEXEC, 0),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "bind" => {
                p.bind = Some(false);
                continue;
            }
            "rbind" => {
                p.bind = Some(true);
                continue;
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                p.propagation = propagation_flags(opt).expect("listed above");
                continue;
            }
            "tmpcopyup" | "idmap" | "ridmap" | "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev"
            | "rdev" | "rnoexec" | "rexec" | "rnoatime" | "ratime" | "rrelatime"
            | "rstrictatime" | "nosymfollow" | "rnosymfollow" => {
                return Err(InitError::UnsupportedMountOption {
                    origin: origin.to_string(),
                    option: opt.clone(),
                })
            }
            _ => {
                p.data.push(opt.clone());
                continue;
            }
        };
        p.flags = (p.flags | set) & !clear;
        p.clear = (p.clear | clear) & !set;
    }
    Ok(p)
}

/// Propagation flags for a `linux.rootfsPropagation` value or a mount option.
pub fn propagation_flags(name: &str) -> Option<c_ulong> {
    Some(match name {
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

fn cstring(s: &str, origin: &str, what: &str) -> Result<CString, InitError> {
    CString::new(s).map_err(|_| InitError::InvalidMount {
        origin: origin.to_string(),
        message: format!("{what} has a NUL byte"),
    })
}

fn dest(path: &Path, origin: &str) -> Result<PathInRoot, InitError> {
    PathInRoot::new(path).ok_or_else(|| InitError::InvalidMount {
        origin: origin.to_string(),
        message: format!("destination {path:?} is not a valid path"),
    })
}

/// How the container's cgroup hierarchy appears on the host, for a `cgroup` mount.
#[derive(Debug, Clone)]
pub enum CgroupMountSource {
    /// cgroup v1: one entry per hierarchy: (directory name under the mount, mount options such as
    /// "cpu,cpuacct" or "name=systemd", host path of the container's cgroup there).
    V1(Vec<(String, String, PathBuf)>),
    /// cgroup v2: the host path of the container's cgroup.
    V2(PathBuf),
}

pub struct StepContext<'a> {
    pub rootfs: &'a Path,
    pub cgroup_ns: bool,
    /// cgroup v1 filesystems can't be mounted from inside a user namespace; binds can.
    pub user_ns: bool,
    pub cgroups: &'a CgroupMountSource,
}

/// Turns one spec mount into one or more steps.
pub fn steps_for(
    mount: &Mount,
    index: usize,
    ctx: &StepContext,
) -> Result<Vec<MountStep>, InitError> {
    let origin = format!("mounts[{index}] ({})", mount.destination().display());
    let options = mount.options().clone().unwrap_or_default();
    let parsed = parse_options(&options, &origin)?;
    let typ = mount.typ().as_deref().unwrap_or("");
    let source = mount
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned());
    let data = if parsed.data.is_empty() {
        None
    } else {
        Some(cstring(&parsed.data.join(","), &origin, "options")?)
    };
    let base = MountStep {
        kind: MountKind::Fs,
        dest: dest(mount.destination(), &origin)?,
        source: None,
        fstype: None,
        flags: parsed.flags,
        data,
        fallback_data: None,
        propagation: parsed.propagation,
        dest_is_file: false,
        sysfs_bind_fallback: false,
        origin: origin.clone(),
    };

    if let Some(recursive) = parsed.bind.or((typ == "bind").then_some(false)) {
        let Some(source) = source else {
            return Err(InitError::InvalidMount {
                origin,
                message: "a bind mount needs a source".into(),
            });
        };
        // A relative source is relative to the bundle, which is the rootfs's parent.
        let host = ctx.rootfs.parent().unwrap_or(Path::new("/")).join(&source);
        let meta = std::fs::metadata(&host).map_err(|e| InitError::InvalidMount {
            origin: origin.clone(),
            message: format!("source {}: {e}", host.display()),
        })?;
        return Ok(vec![MountStep {
            kind: MountKind::Bind { recursive },
            source: Some(cstring(&host.to_string_lossy(), &origin, "source")?),
            dest_is_file: !meta.is_dir(),
            ..base
        }]);
    }

    match typ {
        "cgroup" | "cgroup2" => return cgroup_steps(base, ctx),
        "" => {
            return Err(InitError::InvalidMount {
                origin,
                message: "type is missing".into(),
            })
        }
        _ => {}
    }
    let mut step = MountStep {
        source: Some(cstring(
            source.as_deref().unwrap_or(typ),
            &origin,
            "source",
        )?),
        fstype: Some(cstring(typ, &origin, "type")?),
        sysfs_bind_fallback: typ == "sysfs",
        ..base
    };
    if typ == "devpts" && parsed.data.iter().any(|d| d.starts_with("gid=")) {
        let without: Vec<_> = parsed
            .data
            .iter()
            .filter(|d| !d.starts_with("gid="))
            .cloned()
            .collect();
        step.fallback_data = Some(cstring(&without.join(","), &step.origin, "options")?);
    }
    Ok(vec![step])
}

/// A `cgroup` mount: on v2 a cgroup2 filesystem; on v1 a tmpfs holding one mount per hierarchy,
/// made read-only at the end when the spec asks for `ro`.
fn cgroup_steps(base: MountStep, ctx: &StepContext) -> Result<Vec<MountStep>, InitError> {
    let origin = base.origin.clone();
    let sub = |rel: &str| -> Result<PathInRoot, InitError> {
        let path = Path::new(&base.dest.display).join(rel);
        dest(&path, &origin)
    };
    match ctx.cgroups {
        CgroupMountSource::V2(host) => {
            if ctx.cgroup_ns {
                Ok(vec![MountStep {
                    source: Some(c"cgroup2".into()),
                    fstype: Some(c"cgroup2".into()),
                    data: None,
                    ..base
                }])
            } else {
                Ok(vec![MountStep {
                    kind: MountKind::Bind { recursive: false },
                    source: Some(cstring(&host.to_string_lossy(), &origin, "cgroup path")?),
                    data: None,
                    ..base
                }])
            }
        }
        CgroupMountSource::V1(hierarchies) => {
            let read_only = base.flags & libc::MS_RDONLY != 0;
            let mut steps = vec![MountStep {
                source: Some(c"tmpfs".into()),
                fstype: Some(c"tmpfs".into()),
                flags: base.flags & !libc::MS_RDONLY,
                data: Some(c"mode=755".into()),
                ..base.clone()
            }];
            for (name, options, host) in hierarchies {
                let step = if ctx.cgroup_ns && !ctx.user_ns {
                    MountStep {
                        dest: sub(name)?,
                        source: Some(c"cgroup".into()),
                        fstype: Some(c"cgroup".into()),
                        data: Some(cstring(options, &origin, "cgroup options")?),
                        ..base.clone()
                    }
                } else {
                    MountStep {
                        kind: MountKind::Bind { recursive: false },
                        dest: sub(name)?,
                        source: Some(cstring(&host.to_string_lossy(), &origin, "cgroup path")?),
                        data: None,
                        ..base.clone()
                    }
                };
                steps.push(step);
            }
            if read_only {
                steps.push(MountStep {
                    kind: MountKind::Remount,
                    data: None,
                    ..base
                });
            }
            Ok(steps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let p = parse_options(
            &opts(&[
                "nosuid",
                "noexec",
                "mode=755",
                "size=65536k",
                "rslave",
                "ro",
            ]),
            "m",
        )
        .unwrap();
        assert_eq!(p.flags, libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_RDONLY);
        assert_eq!(p.propagation, libc::MS_SLAVE | libc::MS_REC);
        assert_eq!(p.data, vec!["mode=755", "size=65536k"]);
        assert_eq!(p.bind, None);
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let p = parse_options(&opts(&["ro", "rw", "rbind"]), "m").unwrap();
        assert_eq!(p.flags & libc::MS_RDONLY, 0);
        assert_eq!(p.bind, Some(true));
    }

    #[test]
    fn unsupported_options_are_refused_by_name() {
        let err = parse_options(&opts(&["tmpcopyup"]), "mounts[2] (/x)")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mounts[2] (/x)") && err.contains("tmpcopyup"),
            "{err}"
        );
    }

    #[test]
    fn v1_cgroup_mount_becomes_tmpfs_plus_hierarchies_then_read_only() {
        let mount: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "ro"]
        }))
        .unwrap();
        let cgroups = CgroupMountSource::V1(vec![
            (
                "cpu".into(),
                "cpu".into(),
                "/sys/fs/cgroup/cpu/berth/x".into(),
            ),
            (
                "memory".into(),
                "memory".into(),
                "/sys/fs/cgroup/memory/berth/x".into(),
            ),
        ]);
        let ctx = StepContext {
            rootfs: Path::new("/b/rootfs"),
            cgroup_ns: true,
            user_ns: false,
            cgroups: &cgroups,
        };
        let steps = steps_for(&mount, 6, &ctx).unwrap();
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[0].fstype.as_deref(), Some(c"tmpfs"));
        assert_eq!(steps[0].flags & libc::MS_RDONLY, 0);
        assert_eq!(steps[1].dest.display, "/sys/fs/cgroup/cpu");
        assert_eq!(steps[1].data.as_deref(), Some(c"cpu"));
        assert_eq!(steps[3].kind, MountKind::Remount);
    }

    #[test]
    fn devpts_gets_a_fallback_without_gid() {
        let mount: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/dev/pts", "type": "devpts", "source": "devpts",
            "options": ["newinstance", "ptmxmode=0666", "gid=5"]
        }))
        .unwrap();
        let cgroups = CgroupMountSource::V2("/sys/fs/cgroup/x".into());
        let ctx = StepContext {
            rootfs: Path::new("/b/rootfs"),
            cgroup_ns: true,
            user_ns: false,
            cgroups: &cgroups,
        };
        let steps = steps_for(&mount, 0, &ctx).unwrap();
        assert_eq!(
            steps[0].data.as_deref(),
            Some(c"newinstance,ptmxmode=0666,gid=5")
        );
        assert_eq!(
            steps[0].fallback_data.as_deref(),
            Some(c"newinstance,ptmxmode=0666")
        );
    }
}
