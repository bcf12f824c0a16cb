//! berth's own runtime: [`OciRuntime`] implemented in-process with clone3 and the init in
//! [`crate::init`]. State lives in `<root>/<id>/state.json`; the exec FIFO beside it is the start
//! gate, so `create` and `start` may run in different processes, as with runc.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_cgroups::{CgroupManager, CgroupVersion, FreezerState};
use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResources};
use serde::{Deserialize, Serialize};

use crate::api::{CreateOptions, OciRuntime, State, Status};
use crate::error::RuntimeError;
use crate::fsutil::{proc_stat, write_atomic_volatile};
use crate::init::child::{self, ChildChannels};
use crate::init::plan::raw;
use crate::init::{sys, CgroupMountSource, InitError, InitPlan, PlanInputs, Report, Step};
use crate::spec;

pub const DEFAULT_ROOT: &str = "/run/berth-runtime";
const STATE_FILE: &str = "state.json";
const EXEC_FIFO: &str = "exec.fifo";

/// What berth-runtime remembers of a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    id: String,
    pid: i32,
    /// The init's start time, so a recycled PID is never mistaken for it.
    pid_start: u64,
    bundle: PathBuf,
    cgroups_path: PathBuf,
    created: u64,
    #[serde(default)]
    annotations: HashMap<String, String>,
    oci_version: String,
}

pub struct Builtin {
    root: PathBuf,
    /// Report sockets of inits we created, read by `start` to learn whether the exec worked.
    pending: Mutex<HashMap<String, OwnedFd>>,
}

impl Builtin {
    pub fn new(root: impl Into<PathBuf>) -> Builtin {
        Builtin {
            root: root.into(),
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn load(&self, id: &str) -> Result<Saved, RuntimeError> {
        validate_id(id)?;
        let path = self.dir(id).join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound(id.into()))
            }
            Err(e) => return Err(RuntimeError::io("read", path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    fn status_of(&self, saved: &Saved) -> Status {
        if !init_alive(saved) {
            return Status::Stopped;
        }
        if self.dir(&saved.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        match berth_cgroups::open(&saved.cgroups_path).and_then(|cg| cg.freezer_state()) {
            Ok(FreezerState::Frozen) => Status::Paused,
            _ => Status::Running,
        }
    }

    /// The container's cgroup, as recorded.
    pub fn cgroup(&self, id: &str) -> Result<Box<dyn CgroupManager>, RuntimeError> {
        let saved = self.load(id)?;
        Ok(berth_cgroups::open(&saved.cgroups_path)?)
    }

    /// The init, bundle and cgroup of a running container, for [`crate::exec`].
    pub(crate) fn exec_target(&self, id: &str) -> Result<crate::exec::Target, RuntimeError> {
        let saved = self.load(id)?;
        let status = self.status_of(&saved);
        if status != Status::Running {
            return Err(RuntimeError::WrongStatus {
                id: id.into(),
                status,
                wanted: "not running: cannot exec in it",
            });
        }
        Ok(crate::exec::Target {
            pid: saved.pid,
            bundle: saved.bundle,
            cgroups_path: saved.cgroups_path,
        })
    }

    /// Where compiled seccomp programs are kept (shared with `create`).
    pub(crate) fn seccomp_cache(&self) -> PathBuf {
        self.root.join(".seccomp")
    }
}

fn validate_id(id: &str) -> Result<(), RuntimeError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.into()))
    }
}

fn init_alive(saved: &Saved) -> bool {
    saved.pid > 0
        && matches!(proc_stat(saved.pid), Some((state, start)) if start == saved.pid_start && state != 'Z' && state != 'X')
}

/// Undoes a half-made container when `create` fails.
struct CreateGuard<'a> {
    dir: &'a Path,
    cgroup: Option<&'a dyn CgroupManager>,
    pid: Option<i32>,
}

impl Drop for CreateGuard<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            // SAFETY: our own child; reaping it here is the only wait on it.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some(cg) = self.cgroup {
            let _ = cg.remove();
        }
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How the container's cgroup looks on the host, for a `cgroup` mount inside it.
fn cgroup_mount_source(
    cg: &dyn CgroupManager,
    cgroups_path: &Path,
) -> Result<CgroupMountSource, RuntimeError> {
    if cg.version() == CgroupVersion::V2 {
        return Ok(CgroupMountSource::V2(
            cg.paths().into_iter().next().unwrap_or_default(),
        ));
    }
    let levels = berth_cgroups::parse_cgroups_path(cgroups_path)?;
    let hierarchies = match berth_cgroups::host_layout()? {
        berth_cgroups::HostLayout::V1 { hierarchies, .. } => hierarchies,
        berth_cgroups::HostLayout::Unified { .. } => Vec::new(),
    };
    Ok(CgroupMountSource::V1(
        hierarchies
            .into_iter()
            .map(|h| {
                let host = levels.iter().fold(h.mount_point.clone(), |p, l| p.join(l));
                (h.dir_name.clone(), h.options(), host)
            })
            .collect(),
    ))
}

impl OciRuntime for Builtin {
    fn create(
        &self,
        id: &str,
        bundle_dir: &Path,
        opts: CreateOptions,
    ) -> Result<i32, RuntimeError> {
        validate_id(id)?;
        let bundle = spec::load(bundle_dir)?;
        let linux = bundle.spec.linux().as_ref().expect("checked by spec::load");
        let cgroups_path = linux
            .cgroups_path()
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("/berth/{id}")));

        let cg = berth_cgroups::open(&cgroups_path)?;
        std::fs::create_dir_all(&self.root)
            .map_err(|e| RuntimeError::io("create", &self.root, e))?;
        let dir = self.dir(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::AlreadyExists(id.into()))
            }
            Err(e) => return Err(RuntimeError::io("create", dir, e)),
        }
        let mut guard = CreateGuard {
            dir: &dir,
            cgroup: None,
            pid: None,
        };

        guard.cgroup = Some(cg.as_ref());
        cg.create()?;
        if let Some(resources) = linux.resources() {
            cg.apply(&with_default_devices(resources))?;
        }

        let fifo = dir.join(EXEC_FIFO);
        let fifo_c = CString::new(fifo.as_os_str().as_encoded_bytes())
            .map_err(|_| RuntimeError::InvalidId(id.into()))?;
        // The init opens the FIFO after switching to the container's user, who may be anyone:
        // the FIFO is writable by all and the directory searchable (as runc does).
        // SAFETY: NUL-terminated paths.
        let made = unsafe {
            libc::mkfifo(fifo_c.as_ptr(), 0o622) == 0 && libc::chmod(fifo_c.as_ptr(), 0o622) == 0
        };
        if !made {
            return Err(RuntimeError::io(
                "mkfifo",
                fifo,
                std::io::Error::last_os_error(),
            ));
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| RuntimeError::io("chmod", &dir, e))?;
        let dir_c =
            CString::new(dir.as_os_str().as_encoded_bytes()).expect("no NUL in a validated id");
        // SAFETY: NUL-terminated path; the fd is owned below.
        let gate_dir = unsafe {
            libc::open(
                dir_c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if gate_dir < 0 {
            return Err(RuntimeError::io(
                "open",
                &dir,
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: fresh fd.
        let gate_dir = unsafe { OwnedFd::from_raw_fd(gate_dir) };

        let console = match &opts.console_socket {
            Some(path) => Some(
                crate::os::short_socket_path(path)
                    .and_then(|(_dir, short)| UnixStream::connect(short))
                    .map_err(|e| RuntimeError::io("connect to console socket", path, e))?,
            ),
            None => None,
        };
        let (report_parent, report_child) =
            UnixStream::pair().map_err(|e| RuntimeError::io("socketpair", &dir, e))?;
        let (wait_r, wait_w) = crate::os::pipe().map_err(|e| RuntimeError::io("pipe2", &dir, e))?;

        let plan = InitPlan::build(PlanInputs {
            bundle: &bundle,
            cgroups: cgroup_mount_source(cg.as_ref(), &cgroups_path)?,
            stdio: [raw(&opts.stdin), raw(&opts.stdout), raw(&opts.stderr)],
            console_socket: console.as_ref().map_or(-1, |c| c.as_raw_fd()),
            gate_dir: gate_dir.as_raw_fd(),
            gate_name: CString::new(EXEC_FIFO).expect("static"),
            seccomp_cache: Some(&self.root.join(".seccomp")),
        })?;
        let (argv, envp) = plan.exec_arrays();
        let clone_fd = cg.clone_into_fd()?;

        let channels = ChildChannels {
            report: report_child.as_raw_fd(),
            wait: wait_r.as_raw_fd(),
            parent_ends: [report_parent.as_raw_fd(), wait_w.as_raw_fd()],
        };
        // SAFETY: fork semantics; the child runs only `child::run`, which never returns.
        let pid =
            unsafe { sys::clone3(plan.clone_flags, clone_fd.as_ref().map(|f| f.as_raw_fd())) };
        if pid == 0 {
            // SAFETY: we are the child of a fork-like clone.
            unsafe { child::run(&plan, &argv, &envp, &channels) }
        }
        if pid < 0 {
            return Err(InitError::sys("clone3").into());
        }
        let pid = pid as i32;
        guard.pid = Some(pid);
        drop((report_child, wait_r, console, clone_fd));

        self.setup_from_parent(pid, &plan, cg.as_ref())?;
        sys::write_all(wait_w.as_raw_fd(), b"1");
        drop(wait_w);
        await_report(&report_parent, &plan, pid, &mut guard)?;

        let pid_start = proc_stat(pid).map(|(_, s)| s).unwrap_or(0);
        let saved = Saved {
            id: id.into(),
            pid,
            pid_start,
            bundle: bundle.dir.clone(),
            cgroups_path,
            created: now_secs(),
            annotations: bundle.spec.annotations().clone().unwrap_or_default(),
            oci_version: bundle.spec.version().clone(),
        };
        let json = serde_json::to_vec_pretty(&saved).expect("state serialises");
        write_atomic_volatile(&dir.join(STATE_FILE), &json)
            .map_err(|e| RuntimeError::io("write", dir.join(STATE_FILE), e))?;
        if let Some(pid_file) = &opts.pid_file {
            write_atomic_volatile(pid_file, pid.to_string().as_bytes())
                .map_err(|e| RuntimeError::io("write", pid_file, e))?;
        }
        std::mem::forget(guard);
        self.pending
            .lock()
            .expect("pending lock")
            .insert(id.into(), report_parent.into());
        Ok(pid)
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        let saved = self.load(id)?;
        let status = self.status_of(&saved);
        if status != Status::Created {
            return Err(RuntimeError::WrongStatus {
                id: id.into(),
                status,
                wanted: "not created: cannot start it",
            });
        }
        let fifo = self.dir(id).join(EXEC_FIFO);
        open_gate(&fifo, &saved)?;
        let _ = std::fs::remove_file(&fifo);
        let report = self.pending.lock().expect("pending lock").remove(id);
        if let Some(report) = report {
            let mut buf = [0u8; Report::SIZE];
            if sys::read_full(report.as_raw_fd(), &mut buf) == Report::SIZE as isize {
                let r = Report::from_bytes(&buf);
                return Err(exec_error(&saved, r).into());
            }
        }
        Ok(())
    }

    fn state(&self, id: &str) -> Result<State, RuntimeError> {
        let saved = self.load(id)?;
        let status = self.status_of(&saved);
        Ok(State {
            oci_version: saved.oci_version.clone(),
            id: saved.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                saved.pid
            },
            bundle: saved.bundle.clone(),
            annotations: saved.annotations.clone(),
        })
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let saved = self.load(id)?;
        let status = self.status_of(&saved);
        if status == Status::Stopped {
            return Err(RuntimeError::WrongStatus {
                id: id.into(),
                status,
                wanted: "not running",
            });
        }
        if all {
            berth_cgroups::open(&saved.cgroups_path)?.kill_all(signal)?;
            return Ok(());
        }
        // SAFETY: plain kill(2); the start-time check above guards against PID reuse.
        if unsafe { libc::kill(saved.pid, signal) } != 0 {
            return Err(RuntimeError::io(
                "kill",
                format!("pid {}", saved.pid),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        let saved = self.load(id)?;
        let status = self.status_of(&saved);
        if status != Status::Running {
            return Err(RuntimeError::WrongStatus {
                id: id.into(),
                status,
                wanted: "not running",
            });
        }
        Ok(berth_cgroups::open(&saved.cgroups_path)?.freeze()?)
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        let saved = self.load(id)?;
        let status = self.status_of(&saved);
        if status != Status::Paused {
            return Err(RuntimeError::WrongStatus {
                id: id.into(),
                status,
                wanted: "not paused",
            });
        }
        Ok(berth_cgroups::open(&saved.cgroups_path)?.thaw()?)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let saved = self.load(id)?;
        let status = self.status_of(&saved);
        let cg = berth_cgroups::open(&saved.cgroups_path)?;
        match status {
            Status::Stopped => {}
            Status::Created => stop_all(cg.as_ref(), &saved)?,
            Status::Running | Status::Paused | Status::Creating if force => {
                stop_all(cg.as_ref(), &saved)?
            }
            _ => {
                return Err(RuntimeError::WrongStatus {
                    id: id.into(),
                    status,
                    wanted: "still running: stop it first or force the delete",
                })
            }
        }
        // Processes that outlived the init (it was not a pid namespace's init) go too.
        if !cg.pids().unwrap_or_default().is_empty() {
            stop_all(cg.as_ref(), &saved)?;
        }
        cg.remove()?;
        self.pending.lock().expect("pending lock").remove(id);
        let dir = self.dir(id);
        std::fs::remove_dir_all(&dir).map_err(|e| RuntimeError::io("remove", dir, e))
    }
}

impl Builtin {
    /// What the parent does while the child waits: id maps, cgroup membership, OOM score.
    fn setup_from_parent(
        &self,
        pid: i32,
        plan: &InitPlan,
        cg: &dyn CgroupManager,
    ) -> Result<(), RuntimeError> {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        if let Some(map) = &plan.uid_map {
            std::fs::write(proc.join("uid_map"), map)
                .map_err(|e| RuntimeError::io("write", proc.join("uid_map"), e))?;
        }
        if let Some(map) = &plan.gid_map {
            std::fs::write(proc.join("gid_map"), map)
                .map_err(|e| RuntimeError::io("write", proc.join("gid_map"), e))?;
        }
        if cg.version() == CgroupVersion::V1 {
            cg.add_process(pid)?;
        }
        if let Some(score) = plan.oom_score_adj {
            std::fs::write(proc.join("oom_score_adj"), score.to_string()).map_err(|e| {
                let hint = if score < 0 {
                    " (lowering it needs CAP_SYS_RESOURCE)"
                } else {
                    ""
                };
                InitError::Invalid {
                    field: format!("process.oomScoreAdj {score}"),
                    message: format!("{e}{hint}"),
                }
            })?;
        }
        Ok(())
    }
}

/// The spec's device rules followed by allow rules for the nodes every container gets (the
/// defaults created in /dev, /dev/console and the pty devices), which the init must be able to
/// create and the process to open even under a deny-all rule.
fn with_default_devices(resources: &LinuxResources) -> LinuxResources {
    let Some(rules) = resources.devices() else {
        return resources.clone();
    };
    let allow = |typ, major, minor: Option<i64>| {
        let rule = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .major(major)
            .access("rwm");
        // An absent minor is the wildcard ("c 136:* rwm").
        let rule = match minor {
            Some(m) => rule.minor(m),
            None => rule,
        };
        rule.build().expect("all fields set")
    };
    let mut rules = rules.clone();
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(allow(LinuxDeviceType::C, major, Some(minor)));
    }
    rules.push(allow(LinuxDeviceType::C, 136, None));
    let mut out = resources.clone();
    out.set_devices(Some(rules));
    out
}

/// Reads the child's first report: READY, a failure, or EOF if it died.
fn await_report(
    report: &UnixStream,
    plan: &InitPlan,
    pid: i32,
    guard: &mut CreateGuard,
) -> Result<(), RuntimeError> {
    let mut buf = [0u8; Report::SIZE];
    let n = sys::read_full(report.as_raw_fd(), &mut buf);
    if n == Report::SIZE as isize {
        let r = Report::from_bytes(&buf);
        if r.kind == Report::READY {
            return Ok(());
        }
        return Err(describe_failure(plan, r).into());
    }
    let mut status = 0;
    // SAFETY: our child; reaping it so the guard doesn't wait again.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    guard.pid = None;
    Err(InitError::Vanished(status).into())
}

fn errno_error(errno: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno)
}

/// Turns a child's failure report into an error naming the step and the spec object.
fn describe_failure(plan: &InitPlan, r: Report) -> InitError {
    let i = r.index as usize;
    let source = errno_error(r.errno);
    let step = Step::from_u32(r.step);
    let what = match step {
        Some(Step::ExecLookup) | Some(Step::Exec) => {
            return if r.errno == libc::ENOENT {
                InitError::NotFound {
                    command: plan.command.clone(),
                }
            } else {
                InitError::NotExecutable {
                    command: plan.command.clone(),
                }
            }
        }
        Some(Step::Rlimit) => {
            let name = plan.rlimits.get(i).map_or("?".into(), |l| l.name.clone());
            return InitError::Rlimit {
                name,
                message: source.to_string(),
            };
        }
        Some(
            s @ (Step::Mount | Step::MountTarget | Step::MountRemount | Step::MountPropagation),
        ) => {
            let m = plan.mounts.get(i);
            let origin = m.map_or("?".into(), |m| m.origin.clone());
            let verb = match s {
                Step::MountTarget => "prepare the destination of",
                Step::MountRemount => "remount",
                Step::MountPropagation => "set propagation of",
                _ => "mount",
            };
            format!("{verb} {origin}")
        }
        Some(Step::Device) => format!(
            "create device {}",
            plan.devices.get(i).map_or("?", |d| &d.path.display)
        ),
        Some(Step::Sysctl) => format!("set sysctl {:?}", plan.sysctls.get(i).map(|s| &s.0)),
        Some(Step::MaskPath) => format!("mask {:?}", plan.masked_paths.get(i)),
        Some(Step::ReadonlyPath) => format!("make {:?} read-only", plan.readonly_paths.get(i)),
        Some(Step::Cwd) => format!("chdir to process.cwd {:?}", plan.cwd),
        Some(Step::Setuid) => format!("switch to uid {}", plan.uid),
        Some(Step::Setgid) => format!("switch to gid {}", plan.gid),
        Some(Step::Setgroups) => format!("set additional gids {:?}", plan.additional_gids),
        Some(Step::SetNs) => format!("join namespace #{i} of linux.namespaces"),
        Some(other) => format!("{other:?} (#{i})"),
        None => format!("unknown step {}", r.step),
    };
    InitError::Step { what, source }
}

fn exec_error(saved: &Saved, r: Report) -> InitError {
    let command = spec::load(&saved.bundle)
        .ok()
        .and_then(|b| {
            b.spec
                .process()
                .as_ref()
                .and_then(|p| p.args().as_ref().map(|a| a[0].clone()))
        })
        .unwrap_or_default();
    match r.errno {
        libc::ENOENT => InitError::NotFound { command },
        _ => InitError::NotExecutable { command },
    }
}

/// Opens the exec FIFO for reading and takes the init's byte: that releases it to exec.
fn open_gate(fifo: &Path, saved: &Saved) -> Result<(), RuntimeError> {
    let c = CString::new(fifo.as_os_str().as_encoded_bytes()).expect("no NUL");
    // SAFETY: NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(RuntimeError::io(
            "open",
            fifo,
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: fresh fd.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 50) };
        let mut byte = [0u8; 1];
        // SAFETY: reading into a stack buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
        if n == 1 {
            return Ok(());
        }
        if !init_alive(saved) {
            return Err(RuntimeError::WrongStatus {
                id: saved.id.clone(),
                status: Status::Stopped,
                wanted: "gone: its init exited before start",
            });
        }
    }
}

/// SIGKILLs everything in the container and waits until the init is gone.
fn stop_all(cg: &dyn CgroupManager, saved: &Saved) -> Result<(), RuntimeError> {
    cg.kill_all(libc::SIGKILL)?;
    if saved.pid > 0 && init_alive(saved) {
        // SAFETY: the start-time check guards against PID reuse.
        unsafe { libc::kill(saved.pid, libc::SIGKILL) };
    }
    if cg.freezer_state().ok() == Some(FreezerState::Frozen) {
        cg.thaw()?;
    }
    wait_gone(saved.pid, saved.pid_start, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cg.pids().unwrap_or_default().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Waits for a process that may not be our child to exit (a pidfd becomes readable).
fn wait_gone(pid: i32, start: u64, timeout: Duration) {
    if pid <= 0 {
        return;
    }
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
    if fd >= 0 {
        // SAFETY: fresh fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if matches!(proc_stat(pid), Some((_, s)) if s == start) {
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
        }
    }
}
