//! The spec turned into plain data (C strings, flags, fds) before the clone, so that the child
//! needs no allocation and no parsing.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use libc::{c_char, c_int, c_ulong, gid_t, uid_t};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, LinuxNamespaceType, Spec};

use super::mounts::{self, CgroupMountSource, MountKind, MountStep, StepContext};
use super::paths::PathInRoot;
use super::InitError;
use crate::caps;
use crate::seccomp::SeccompProgram;
use crate::spec::Bundle;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

#[derive(Debug)]
pub struct DeviceNode {
    pub path: PathInRoot,
    /// File type bits (S_IFCHR, …) and permissions.
    pub mode: libc::mode_t,
    pub dev: libc::dev_t,
    pub uid: uid_t,
    pub gid: gid_t,
    /// In a user namespace mknod is refused; the host's node is bind-mounted instead.
    pub host_path: CString,
}

#[derive(Debug)]
pub struct Rlimit {
    pub resource: c_int,
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// What the caller hands the child beside the spec.
pub struct PlanInputs<'a> {
    pub bundle: &'a Bundle,
    pub cgroups: CgroupMountSource,
    /// The container's stdin, stdout and stderr; -1 inherits ours.
    pub stdio: [c_int; 3],
    /// A connected unix socket to send the pty master over, or -1.
    pub console_socket: c_int,
    /// The state directory (O_PATH) and the name of the exec FIFO in it: the start gate.
    pub gate_dir: c_int,
    pub gate_name: CString,
    /// Where compiled seccomp programs are kept between containers, if anywhere.
    pub seccomp_cache: Option<&'a Path>,
}

pub struct InitPlan {
    pub clone_flags: u64,
    pub unshare_cgroup_ns: bool,
    pub join_namespaces: Vec<(OwnedFd, c_int)>,
    /// Written by the parent for a new user namespace.
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    pub rootfs: CString,
    pub root_propagation: c_ulong,
    pub mounts: Vec<MountStep>,
    pub devices: Vec<DeviceNode>,
    pub symlinks: Vec<(CString, PathInRoot)>,
    pub in_user_ns: bool,
    pub terminal: bool,
    /// `/dev/console`, where the pty slave is bound.
    pub console: PathInRoot,
    pub console_size: Option<(u16, u16)>,
    pub masked_paths: Vec<CString>,
    pub readonly_paths: Vec<CString>,
    pub root_readonly: bool,
    pub sysctls: Vec<(CString, CString)>,
    pub rlimits: Vec<Rlimit>,
    pub uid: uid_t,
    pub gid: gid_t,
    pub additional_gids: Vec<gid_t>,
    pub umask: libc::mode_t,
    pub caps: CapSets,
    pub last_cap: u32,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub seccomp: Option<SeccompProgram>,
    /// Without no_new_privs, the filter must go in while we still hold CAP_SYS_ADMIN.
    pub seccomp_before_user_switch: bool,
    pub cwd: CString,
    /// The same, to create it inside the rootfs when the image lacks it (as Docker does).
    pub cwd_in_root: PathInRoot,
    pub command: String,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub exec_candidates: Vec<CString>,
    pub stdio: [c_int; 3],
    pub console_socket: c_int,
    pub gate_dir: c_int,
    pub gate_name: CString,
}

impl InitPlan {
    pub fn build(inputs: PlanInputs) -> Result<InitPlan, InitError> {
        let bundle = inputs.bundle;
        let spec = &bundle.spec;
        let process = spec.process().as_ref().expect("checked by spec::load");
        let linux = spec.linux().as_ref().expect("checked by spec::load");
        let namespaces = linux.namespaces().clone().unwrap_or_default();

        let mut clone_flags = 0u64;
        let mut unshare_cgroup_ns = false;
        let mut join_namespaces = Vec::new();
        for ns in &namespaces {
            match (ns.path(), ns.typ()) {
                (None, LinuxNamespaceType::Cgroup) => unshare_cgroup_ns = true,
                (None, typ) => clone_flags |= typ as u64,
                (Some(path), typ) => join_namespaces.push((open_ns(path, typ)?, typ as c_int)),
            }
        }
        let in_user_ns = clone_flags & libc::CLONE_NEWUSER as u64 != 0;
        let id_map = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
            maps.as_ref().map(|maps| {
                maps.iter()
                    .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
                    .collect::<String>()
            })
        };
        let (uid_map, gid_map) = if in_user_ns {
            (id_map(linux.uid_mappings()), id_map(linux.gid_mappings()))
        } else {
            (None, None)
        };

        let ctx = StepContext {
            rootfs: &bundle.rootfs,
            cgroup_ns: unshare_cgroup_ns,
            user_ns: in_user_ns,
            cgroups: &inputs.cgroups,
        };
        let mut mount_steps = Vec::new();
        let spec_mounts = spec.mounts().clone().unwrap_or_default();
        for (i, m) in spec_mounts.iter().enumerate() {
            mount_steps.extend(mounts::steps_for(m, i, &ctx)?);
        }
        let dev_is_bound = mount_steps
            .iter()
            .any(|s| s.dest.display == "/dev" && matches!(s.kind, MountKind::Bind { .. }));
        let has_devpts = spec_mounts
            .iter()
            .any(|m| m.destination() == Path::new("/dev/pts"));
        let devices = if dev_is_bound {
            Vec::new()
        } else {
            device_nodes(linux.devices().as_deref())?
        };
        let symlinks = if dev_is_bound {
            Vec::new()
        } else {
            dev_symlinks(has_devpts)
        };

        let terminal = process.terminal().unwrap_or(false);
        if terminal && inputs.console_socket < 0 {
            return Err(invalid(
                "process.terminal",
                "a terminal needs a console socket (--console-socket)",
            ));
        }
        if terminal && !has_devpts {
            return Err(invalid(
                "process.terminal",
                "a terminal needs a devpts mount at /dev/pts",
            ));
        }

        let user = process.user();
        let caps = process_caps(process)?;
        let no_new_privileges = process.no_new_privileges().unwrap_or(false);
        let seccomp = match linux.seccomp() {
            Some(s) => Some(SeccompProgram::compile_cached(s, inputs.seccomp_cache)?),
            None => None,
        };

        let args = process.args().clone().unwrap_or_default();
        let env = process.env().clone().unwrap_or_default();
        let command = args[0].clone();

        Ok(InitPlan {
            clone_flags,
            unshare_cgroup_ns,
            join_namespaces,
            uid_map,
            gid_map,
            hostname: opt_cstring(spec.hostname().as_deref(), "hostname")?,
            domainname: opt_cstring(spec.domainname().as_deref(), "domainname")?,
            rootfs: path_cstring(&bundle.rootfs, "root.path")?,
            root_propagation: root_propagation(linux.rootfs_propagation().as_deref())?,
            mounts: mount_steps,
            devices,
            symlinks,
            in_user_ns,
            terminal,
            console: PathInRoot::new(Path::new("/dev/console")).expect("static path"),
            console_size: process
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16)),
            masked_paths: cstrings(
                linux.masked_paths().as_deref().unwrap_or_default(),
                "linux.maskedPaths",
            )?,
            readonly_paths: cstrings(
                linux.readonly_paths().as_deref().unwrap_or_default(),
                "linux.readonlyPaths",
            )?,
            root_readonly: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            sysctls: sysctls(spec)?,
            rlimits: rlimits(process.rlimits().as_deref().unwrap_or_default())?,
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask().unwrap_or(0o022) as libc::mode_t,
            caps: caps.unwrap_or_default(),
            last_cap: caps::last_cap(),
            no_new_privileges,
            oom_score_adj: process.oom_score_adj(),
            seccomp_before_user_switch: seccomp.is_some() && !no_new_privileges,
            seccomp,
            cwd: path_cstring(process.cwd(), "process.cwd")?,
            cwd_in_root: PathInRoot::new(process.cwd())
                .ok_or_else(|| invalid("process.cwd", "not a valid path"))?,
            exec_candidates: exec_candidates(&command, &env)?,
            command,
            argv: cstrings(&args, "process.args")?,
            envp: cstrings(&env, "process.env")?,
            stdio: inputs.stdio,
            console_socket: inputs.console_socket,
            gate_dir: inputs.gate_dir,
            gate_name: inputs.gate_name,
        })
    }

    /// NULL-terminated pointer arrays for execve; they borrow from the plan.
    pub fn exec_arrays(&self) -> (Vec<*const c_char>, Vec<*const c_char>) {
        let argv = self
            .argv
            .iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        let envp = self
            .envp
            .iter()
            .map(|e| e.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        (argv, envp)
    }
}

/// The process's capability sets as masks, checked; None when the spec names none.
pub(crate) fn process_caps(
    process: &oci_spec::runtime::Process,
) -> Result<Option<CapSets>, InitError> {
    let caps = process.capabilities().as_ref().map(|c| CapSets {
        bounding: c.bounding().as_ref().map(caps::mask).unwrap_or(0),
        effective: c.effective().as_ref().map(caps::mask).unwrap_or(0),
        permitted: c.permitted().as_ref().map(caps::mask).unwrap_or(0),
        inheritable: c.inheritable().as_ref().map(caps::mask).unwrap_or(0),
        // The kernel only raises an ambient capability that is both permitted and inheritable;
        // `runc spec` lists ambient ones without inheritable, and runc skips them too.
        ambient: c.ambient().as_ref().map(caps::mask).unwrap_or(0)
            & c.permitted().as_ref().map(caps::mask).unwrap_or(0)
            & c.inheritable().as_ref().map(caps::mask).unwrap_or(0),
    });
    if let Some(c) = &caps {
        check_capability_sets(c)?;
    }
    Ok(caps)
}

/// The kernel refuses (EPERM) an effective capability that is not permitted, and an
/// inheritable one outside the bounding set; say which instead.
fn check_capability_sets(c: &CapSets) -> Result<(), InitError> {
    let name = |mask: u64| {
        (0..64)
            .filter(|b| mask & (1 << b) != 0)
            .filter_map(caps::name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if c.effective & !c.permitted != 0 {
        let msg = format!(
            "{} not in process.capabilities.permitted",
            name(c.effective & !c.permitted)
        );
        return Err(invalid("process.capabilities.effective", &msg));
    }
    if c.inheritable & !c.bounding != 0 {
        let msg = format!(
            "{} not in process.capabilities.bounding",
            name(c.inheritable & !c.bounding)
        );
        return Err(invalid("process.capabilities.inheritable", &msg));
    }
    Ok(())
}

fn invalid(field: &str, message: &str) -> InitError {
    InitError::Invalid {
        field: field.to_string(),
        message: message.to_string(),
    }
}

fn opt_cstring(s: Option<&str>, field: &str) -> Result<Option<CString>, InitError> {
    s.filter(|s| !s.is_empty())
        .map(|s| CString::new(s).map_err(|_| invalid(field, "contains a NUL byte")))
        .transpose()
}

fn path_cstring(p: &Path, field: &str) -> Result<CString, InitError> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| invalid(field, "contains a NUL byte"))
}

fn cstrings<S: AsRef<str>>(items: &[S], field: &str) -> Result<Vec<CString>, InitError> {
    items
        .iter()
        .map(|s| CString::new(s.as_ref()).map_err(|_| invalid(field, "contains a NUL byte")))
        .collect()
}

fn open_ns(path: &Path, typ: LinuxNamespaceType) -> Result<OwnedFd, InitError> {
    let c = path_cstring(path, "linux.namespaces.path")?;
    // SAFETY: NUL-terminated path; the fd is owned by the OwnedFd.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(InitError::Invalid {
            field: format!("linux.namespaces ({typ} path {})", path.display()),
            message: std::io::Error::last_os_error().to_string(),
        });
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn root_propagation(value: Option<&str>) -> Result<c_ulong, InitError> {
    match value {
        None | Some("") => Ok(libc::MS_PRIVATE | libc::MS_REC),
        Some(v) => mounts::propagation_flags(v)
            .ok_or_else(|| invalid("linux.rootfsPropagation", &format!("unknown value {v:?}"))),
    }
}

fn sysctls(spec: &Spec) -> Result<Vec<(CString, CString)>, InitError> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (key, value) in map {
        if key.is_empty() || key.contains('/') || key.split('.').any(|p| p.is_empty() || p == "..")
        {
            return Err(invalid(
                &format!("linux.sysctl[{key:?}]"),
                "not a valid sysctl name",
            ));
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        out.push((
            CString::new(path).map_err(|_| invalid("linux.sysctl", "contains a NUL byte"))?,
            CString::new(value.as_str())
                .map_err(|_| invalid("linux.sysctl", "contains a NUL byte"))?,
        ));
    }
    Ok(out)
}

fn rlimit_resource(name: &str) -> Option<c_int> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    } as c_int)
}

/// True when this process holds `cap` in its effective set.
pub fn has_capability(cap: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|eff| eff & (1 << cap) != 0)
}

const CAP_SYS_RESOURCE: u32 = 24;

pub(crate) fn rlimits(list: &[oci_spec::runtime::PosixRlimit]) -> Result<Vec<Rlimit>, InitError> {
    let mut out = Vec::new();
    for r in list {
        let name = serde_json::to_string(&r.typ())
            .unwrap_or_default()
            .trim_matches('"')
            .to_string();
        let resource = rlimit_resource(&name)
            .ok_or_else(|| invalid("process.rlimits", &format!("unknown rlimit {name:?}")))?;
        if r.soft() > r.hard() {
            return Err(InitError::Rlimit {
                name,
                message: format!(
                    "soft limit {} is above the hard limit {}",
                    r.soft(),
                    r.hard()
                ),
            });
        }
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass.
        unsafe { libc::getrlimit(resource as _, &mut current) };
        if r.hard() > current.rlim_max && !has_capability(CAP_SYS_RESOURCE) {
            return Err(InitError::Rlimit {
                name,
                message: format!(
                    "hard limit {} is above the current hard limit {}, and raising it needs CAP_SYS_RESOURCE, which this process lacks",
                    r.hard(),
                    current.rlim_max
                ),
            });
        }
        out.push(Rlimit {
            resource,
            name,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    Ok(out)
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Every path execve may try for `command`, in the order of the container's $PATH.
pub(crate) fn exec_candidates(command: &str, env: &[String]) -> Result<Vec<CString>, InitError> {
    let to_c =
        |s: String| CString::new(s).map_err(|_| invalid("process.args[0]", "contains a NUL byte"));
    if command.contains('/') {
        return Ok(vec![to_c(command.to_string())?]);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|dir| if dir.is_empty() { "." } else { dir })
        .map(|dir| to_c(format!("{}/{command}", dir.trim_end_matches('/'))))
        .collect()
}

/// The devices every container gets, then the spec's own.
fn device_nodes(spec_devices: Option<&[LinuxDevice]>) -> Result<Vec<DeviceNode>, InitError> {
    let defaults: [(&str, u64, u64); 6] = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ];
    let spec_devices = spec_devices.unwrap_or_default();
    let mut out = Vec::new();
    for (name, major, minor) in defaults {
        let path = PathBuf::from("/dev").join(name);
        if spec_devices.iter().any(|d| d.path() == &path) {
            continue;
        }
        out.push(DeviceNode {
            path: PathInRoot::new(&path).expect("static path"),
            mode: libc::S_IFCHR | 0o666,
            dev: libc::makedev(major as u32, minor as u32),
            uid: 0,
            gid: 0,
            host_path: path_cstring(&path, "linux.devices")?,
        });
    }
    for (i, d) in spec_devices.iter().enumerate() {
        let field = format!("linux.devices[{i}]");
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(invalid(&field, "type \"a\" is not a device node type"))
            }
        };
        if !d.path().starts_with("/dev") {
            return Err(invalid(&field, "a device node must be under /dev"));
        }
        out.push(DeviceNode {
            path: PathInRoot::new(d.path()).ok_or_else(|| invalid(&field, "invalid path"))?,
            mode: kind | (d.file_mode().unwrap_or(0o666) & 0o7777),
            dev: libc::makedev(d.major() as u32, d.minor() as u32),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
            host_path: path_cstring(d.path(), &field)?,
        });
    }
    Ok(out)
}

fn dev_symlinks(has_devpts: bool) -> Vec<(CString, PathInRoot)> {
    let mut links = vec![
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("/proc/kcore", "/dev/core"),
    ];
    if has_devpts {
        links.push(("pts/ptmx", "/dev/ptmx"));
    }
    links
        .into_iter()
        .map(|(target, link)| {
            (
                CString::new(target).expect("static"),
                PathInRoot::new(Path::new(link)).expect("static"),
            )
        })
        .collect()
}

/// Raw fds a plan refers to but does not own.
pub fn raw(fd: &Option<OwnedFd>) -> c_int {
    fd.as_ref().map_or(-1, |f| f.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_the_container_path() {
        let env = vec!["PATH=/usr/bin:/bin".to_string()];
        let c = exec_candidates("ls", &env).unwrap();
        assert_eq!(
            c,
            vec![
                CString::new("/usr/bin/ls").unwrap(),
                CString::new("/bin/ls").unwrap()
            ]
        );
        let c = exec_candidates("./run.sh", &env).unwrap();
        assert_eq!(c, vec![CString::new("./run.sh").unwrap()]);
        let c = exec_candidates("sh", &[]).unwrap();
        assert_eq!(c.len(), 6);
    }

    #[test]
    fn an_rlimit_above_the_hard_limit_names_the_limit() {
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: writes into our struct.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) };
        if has_capability(CAP_SYS_RESOURCE) || current.rlim_max == libc::RLIM_INFINITY {
            // Where the limit can be raised there is nothing to refuse; the check is the other branch.
            return;
        }
        let limit: oci_spec::runtime::PosixRlimit = serde_json::from_value(serde_json::json!({
            "type": "RLIMIT_NOFILE", "soft": current.rlim_max + 1, "hard": current.rlim_max + 1
        }))
        .unwrap();
        let err = rlimits(&[limit]).unwrap_err().to_string();
        assert!(
            err.contains("RLIMIT_NOFILE") && err.contains("CAP_SYS_RESOURCE"),
            "{err}"
        );
    }

    #[test]
    fn soft_above_hard_is_refused() {
        let limit: oci_spec::runtime::PosixRlimit = serde_json::from_value(
            serde_json::json!({"type": "RLIMIT_NOFILE", "soft": 20, "hard": 10}),
        )
        .unwrap();
        assert!(rlimits(&[limit])
            .unwrap_err()
            .to_string()
            .contains("soft limit 20"));
    }

    #[test]
    fn bad_sysctl_names_are_refused() {
        let mut spec = Spec::default();
        let mut linux = spec.linux().clone().unwrap();
        linux.set_sysctl(Some([("net/../x".to_string(), "1".to_string())].into()));
        spec.set_linux(Some(linux));
        assert!(sysctls(&spec).is_err());
    }
}
