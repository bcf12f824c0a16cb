//! `exec`: a new process in a running container, as `runc exec` (without `--detach`) starts one.
//!
//! Everything is prepared here, before the fork: the namespace files of the container's init, the
//! `cgroup.procs` files of its cgroup, the seccomp program, C strings for the exec. The parent
//! joins the init's PID namespace (which only affects its children), forks, and the child
//! ([`child`]) joins the cgroup and the other namespaces (user first, mount last), sets up its
//! identity and execs. The parent forwards signals and returns the child's exit status.

mod child;

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use libc::{c_int, gid_t, uid_t};
use oci_spec::runtime::Process;

use crate::builtin::Builtin;
use crate::caps;
use crate::error::RuntimeError;
use crate::init::plan::{self, CapSets, Rlimit};
use crate::init::{sys, InitError, Report};
use crate::os;
use crate::seccomp::SeccompProgram;

/// What `exec` needs of a running container (see [`Builtin::exec_target`]).
pub struct Target {
    pub pid: i32,
    pub bundle: PathBuf,
    pub cgroups_path: PathBuf,
}

#[derive(Debug, Default, Clone)]
pub struct ExecOptions {
    /// A connected unix socket's path to send the pty master to (required with a terminal).
    pub console_socket: Option<PathBuf>,
    /// Where to write the process's host PID once it has exec'd.
    pub pid_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("process.{0} is not supported by berth-runtime exec")]
    Unsupported(&'static str),
    #[error("invalid process file {path}: {message}")]
    BadProcess { path: PathBuf, message: String },
    #[error("process.terminal needs a console socket (--console-socket)")]
    NoConsoleSocket,
    #[error("process.args must name a command")]
    NoArgs,
    #[error("exec: {what}: {source}")]
    Step {
        what: String,
        source: std::io::Error,
    },
}

impl From<ExecError> for RuntimeError {
    fn from(e: ExecError) -> Self {
        RuntimeError::Init(InitError::Invalid {
            field: "exec".into(),
            message: e.to_string(),
        })
    }
}

/// Reads an OCI `process` object from `path` ("-" is not accepted: the file is the contract).
pub fn load_process(path: &Path) -> Result<Process, ExecError> {
    let bad = |message: String| ExecError::BadProcess {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map_err(|e| bad(e.to_string()))
}

/// The plain data the child works from: nothing is allocated after the fork.
pub(crate) struct ExecPlan {
    pub cgroup_procs: Vec<OwnedFd>,
    pub oom_score_adj: Option<CString>,
    /// The init's namespaces that differ from ours, user first and mount last.
    pub namespaces: Vec<(OwnedFd, c_int)>,
    pub joins_user_ns: bool,
    pub terminal: bool,
    pub console_socket: c_int,
    pub console_size: Option<(u16, u16)>,
    pub rlimits: Vec<Rlimit>,
    pub uid: uid_t,
    pub gid: gid_t,
    pub additional_gids: Vec<gid_t>,
    pub umask: libc::mode_t,
    pub caps: CapSets,
    pub last_cap: u32,
    pub no_new_privileges: bool,
    pub seccomp: Option<SeccompProgram>,
    pub seccomp_before_user_switch: bool,
    pub cwd: CString,
    pub command: String,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub exec_candidates: Vec<CString>,
}

/// Namespaces joined by the child, in order: the user namespace first (it grants the
/// capabilities for the others), the mount namespace last (after it, host paths are gone).
const CHILD_NAMESPACES: [(&str, c_int); 6] = [
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

/// The init's namespace `name` if it is not already ours (joining one's own user namespace is
/// refused with EINVAL).
fn foreign_ns(pid: i32, name: &str) -> Result<Option<OwnedFd>, ExecError> {
    let theirs = format!("/proc/{pid}/ns/{name}");
    let step = |e| ExecError::Step {
        what: format!("open {theirs}"),
        source: e,
    };
    let their_meta = match std::fs::metadata(&theirs) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(step(e)),
    };
    let ours = std::fs::metadata(format!("/proc/self/ns/{name}")).map_err(step)?;
    if (ours.dev(), ours.ino()) == (their_meta.dev(), their_meta.ino()) {
        return Ok(None);
    }
    let file = std::fs::File::open(&theirs).map_err(step)?;
    Ok(Some(file.into()))
}

fn reject_unsupported(p: &Process) -> Result<(), ExecError> {
    if p.apparmor_profile()
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(ExecError::Unsupported("apparmorProfile"));
    }
    if p.selinux_label().as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(ExecError::Unsupported("selinuxLabel"));
    }
    if p.scheduler().is_some() {
        return Err(ExecError::Unsupported("scheduler"));
    }
    if p.io_priority().is_some() {
        return Err(ExecError::Unsupported("ioPriority"));
    }
    if p.exec_cpu_affinity().is_some() {
        return Err(ExecError::Unsupported("execCPUAffinity"));
    }
    if p.command_line().is_some() {
        return Err(ExecError::Unsupported("commandLine"));
    }
    Ok(())
}

impl ExecPlan {
    fn build(
        target: &Target,
        process: &Process,
        console_socket: c_int,
        seccomp_cache: &Path,
    ) -> Result<ExecPlan, RuntimeError> {
        reject_unsupported(process)?;
        let args = process.args().clone().unwrap_or_default();
        let Some(command) = args.first().cloned() else {
            return Err(ExecError::NoArgs.into());
        };
        let terminal = process.terminal().unwrap_or(false);
        if terminal && console_socket < 0 {
            return Err(ExecError::NoConsoleSocket.into());
        }
        let bundle = crate::spec::load(&target.bundle)?;
        let seccomp = match bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
        {
            Some(s) => Some(SeccompProgram::compile_cached(s, Some(seccomp_cache))?),
            None => None,
        };

        let cg = berth_cgroups::open(&target.cgroups_path)?;
        let mut cgroup_procs = Vec::new();
        for dir in cg.paths() {
            let path = dir.join("cgroup.procs");
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| RuntimeError::io("open", &path, e))?;
            cgroup_procs.push(OwnedFd::from(file));
        }

        let mut namespaces = Vec::new();
        for (name, flag) in CHILD_NAMESPACES {
            if let Some(fd) = foreign_ns(target.pid, name)? {
                namespaces.push((fd, flag));
            }
        }
        let joins_user_ns = namespaces.iter().any(|(_, f)| *f == libc::CLONE_NEWUSER);

        let caps = plan::process_caps(process)?;
        let no_new_privileges = process.no_new_privileges().unwrap_or(false);
        let user = process.user();
        let env = process.env().clone().unwrap_or_default();
        let cstrings = |items: &[String], field: &str| -> Result<Vec<CString>, RuntimeError> {
            items
                .iter()
                .map(|s| {
                    CString::new(s.as_str()).map_err(|_| {
                        RuntimeError::Init(InitError::Invalid {
                            field: field.into(),
                            message: "contains a NUL byte".into(),
                        })
                    })
                })
                .collect()
        };
        let cwd = process.cwd().as_os_str().as_encoded_bytes().to_vec();
        Ok(ExecPlan {
            cgroup_procs,
            oom_score_adj: process
                .oom_score_adj()
                .map(|n| CString::new(n.to_string()).expect("digits")),
            namespaces,
            joins_user_ns,
            terminal,
            console_socket,
            console_size: process
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16)),
            rlimits: plan::rlimits(process.rlimits().as_deref().unwrap_or_default())?,
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask().unwrap_or(0o022) as libc::mode_t,
            caps: caps.unwrap_or_default(),
            last_cap: caps::last_cap(),
            no_new_privileges,
            seccomp_before_user_switch: seccomp.is_some() && !no_new_privileges,
            seccomp,
            cwd: CString::new(cwd).map_err(|_| {
                RuntimeError::Init(InitError::Invalid {
                    field: "process.cwd".into(),
                    message: "contains a NUL byte".into(),
                })
            })?,
            exec_candidates: plan::exec_candidates(&command, &env)?,
            command,
            argv: cstrings(&args, "process.args")?,
            envp: cstrings(&env, "process.env")?,
        })
    }
}

/// The signals the parent passes on to the process instead of dying of them.
const FORWARDED: [c_int; 7] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// Runs `process` in container `id` and waits for it: returns its exit status (128+signal when a
/// signal killed it). The caller must be single-threaded: the PID namespace join and the
/// signal mask apply to the whole process.
pub fn exec(
    rt: &Builtin,
    id: &str,
    process: &Process,
    opts: &ExecOptions,
) -> Result<i32, RuntimeError> {
    let target = rt.exec_target(id)?;
    let console = match &opts.console_socket {
        Some(path) => Some(
            os::short_socket_path(path)
                .and_then(|(_dir, short)| UnixStream::connect(short))
                .map_err(|e| RuntimeError::io("connect to console socket", path, e))?,
        ),
        None => None,
    };
    let plan = ExecPlan::build(
        &target,
        process,
        console.as_ref().map_or(-1, |c| c.as_raw_fd()),
        &rt.seccomp_cache(),
    )?;
    let pid_ns = foreign_ns(target.pid, "pid")?;
    let (argv, envp) = exec_arrays(&plan);

    let mut handled = FORWARDED.to_vec();
    handled.push(libc::SIGCHLD);
    let signals = os::block_signals(&handled).map_err(|e| RuntimeError::io("signalfd", "", e))?;
    let (report_parent, report_child) =
        UnixStream::pair().map_err(|e| RuntimeError::io("socketpair", "", e))?;

    if let Some(ns) = &pid_ns {
        // Only our children enter it; this process keeps its own PID namespace.
        // SAFETY: a namespace fd we opened.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
            return Err(ExecError::Step {
                what: "join the container's pid namespace".into(),
                source: std::io::Error::last_os_error(),
            }
            .into());
        }
    }
    // SAFETY: the child runs only `child::run`, which makes system calls on prepared data and
    // never returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: we are the child of the fork above.
        unsafe {
            child::run(
                &plan,
                &argv,
                &envp,
                report_child.as_raw_fd(),
                report_parent.as_raw_fd(),
            )
        }
    }
    if pid < 0 {
        return Err(InitError::sys("fork").into());
    }
    drop((report_child, console));

    let mut buf = [0u8; Report::SIZE];
    if sys::read_full(report_parent.as_raw_fd(), &mut buf) == Report::SIZE as isize {
        // SAFETY: our child, which exits right after reporting.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        return Err(child::describe(&plan, Report::from_bytes(&buf)).into());
    }
    if let Some(pid_file) = &opts.pid_file {
        crate::fsutil::write_atomic_volatile(pid_file, pid.to_string().as_bytes())
            .map_err(|e| RuntimeError::io("write", pid_file, e))?;
    }
    Ok(os::wait_forwarding(pid, &signals))
}

fn exec_arrays(plan: &ExecPlan) -> (Vec<*const libc::c_char>, Vec<*const libc::c_char>) {
    let arr = |v: &[CString]| {
        v.iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null()])
            .collect()
    };
    (arr(&plan.argv), arr(&plan.envp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(v: serde_json::Value) -> Process {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn unsupported_fields_are_named() {
        let p = process(serde_json::json!({
            "cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0},
            "apparmorProfile": "docker-default"
        }));
        assert_eq!(
            reject_unsupported(&p).unwrap_err().to_string(),
            "process.apparmorProfile is not supported by berth-runtime exec"
        );
        let p =
            process(serde_json::json!({"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}}));
        assert!(reject_unsupported(&p).is_ok());
    }

    #[test]
    fn own_namespaces_are_not_joined() {
        let me = std::process::id() as i32;
        for (name, _) in CHILD_NAMESPACES {
            assert!(foreign_ns(me, name).unwrap().is_none(), "{name}");
        }
    }

    #[test]
    fn a_bad_process_file_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(
            &path,
            br#"{"cwd": "/", "args": "sh", "user": {"uid": 0, "gid": 0}}"#,
        )
        .unwrap();
        let err = load_process(&path).unwrap_err().to_string();
        assert!(err.contains("args"), "{err}");
    }
}
