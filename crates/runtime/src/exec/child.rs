//! The exec'd process between fork and exec: system calls on the prepared [`ExecPlan`] only,
//! no allocation, no locks, no panics.

use libc::{c_char, c_int};

use super::ExecPlan;
use crate::init::steps::{self, Shared, SharedFailure};
use crate::init::{sys, InitError, Report};

/// The child's steps; a failure report names one (in `Report::step`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStep {
    Cgroup = 1,
    OomScoreAdj,
    SetNs,
    Setsid,
    Console,
    Rlimit,
    Seccomp,
    Capabilities,
    Setgroups,
    Setgid,
    Setuid,
    Cwd,
    ExecLookup,
    NoNewPrivileges,
    Exec,
}

const STEPS: [ExecStep; 15] = [
    ExecStep::Cgroup,
    ExecStep::OomScoreAdj,
    ExecStep::SetNs,
    ExecStep::Setsid,
    ExecStep::Console,
    ExecStep::Rlimit,
    ExecStep::Seccomp,
    ExecStep::Capabilities,
    ExecStep::Setgroups,
    ExecStep::Setgid,
    ExecStep::Setuid,
    ExecStep::Cwd,
    ExecStep::ExecLookup,
    ExecStep::NoNewPrivileges,
    ExecStep::Exec,
];

#[derive(Clone, Copy)]
struct Failure(ExecStep, u32, c_int);

type Res<T = ()> = Result<T, Failure>;

impl From<SharedFailure> for Failure {
    fn from(SharedFailure(step, index, errno): SharedFailure) -> Failure {
        let step = match step {
            Shared::Console => ExecStep::Console,
            Shared::Capabilities => ExecStep::Capabilities,
            Shared::Setgroups => ExecStep::Setgroups,
            Shared::Setgid => ExecStep::Setgid,
            Shared::Setuid => ExecStep::Setuid,
            Shared::ExecLookup => ExecStep::ExecLookup,
        };
        Failure(step, index, errno)
    }
}

fn check(rc: c_int, step: ExecStep, index: usize) -> Res {
    if rc < 0 {
        Err(Failure(step, index as u32, sys::errno()))
    } else {
        Ok(())
    }
}

fn send_report(fd: c_int, step: ExecStep, index: u32, errno: c_int) {
    let bytes = Report {
        kind: Report::FAILED,
        step: step as u32,
        index,
        errno,
    }
    .to_bytes();
    // SAFETY: a stack buffer; MSG_NOSIGNAL: a parent that is gone gives EPIPE, not SIGPIPE.
    unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
}

/// Turns the child's failure report into an error naming what failed.
pub(super) fn describe(plan: &ExecPlan, r: Report) -> InitError {
    let source = std::io::Error::from_raw_os_error(r.errno);
    let i = r.index as usize;
    let what = match STEPS.iter().copied().find(|s| *s as u32 == r.step) {
        Some(ExecStep::ExecLookup) | Some(ExecStep::Exec) => {
            let command = plan.command.clone();
            return if r.errno == libc::ENOENT {
                InitError::NotFound { command }
            } else {
                InitError::NotExecutable { command }
            };
        }
        Some(ExecStep::Rlimit) => {
            return InitError::Rlimit {
                name: plan.rlimits.get(i).map_or("?".into(), |l| l.name.clone()),
                message: source.to_string(),
            }
        }
        Some(ExecStep::Cgroup) => "join the container's cgroup".to_string(),
        Some(ExecStep::SetNs) => format!("join the container's namespace #{i}"),
        Some(ExecStep::Cwd) => format!("chdir to process.cwd {:?}", plan.cwd),
        Some(ExecStep::Setuid) => format!("switch to uid {}", plan.uid),
        Some(ExecStep::Setgid) => format!("switch to gid {}", plan.gid),
        Some(ExecStep::Setgroups) => format!("set additional gids {:?}", plan.additional_gids),
        Some(other) => format!("{other:?} (#{i})"),
        None => format!("unknown step {}", r.step),
    };
    InitError::Step {
        what: format!("exec: {what}"),
        source,
    }
}

/// Runs the exec'd process. Never returns: it execs or exits (127 for a missing command, 126
/// for one that can't be run, 1 for anything else), reporting the failure on `report`.
///
/// # Safety
/// Must be called in the child of a fork, with `argv`/`envp` built from `plan`.
pub(super) unsafe fn run(
    plan: &ExecPlan,
    argv: &[*const c_char],
    envp: &[*const c_char],
    report: c_int,
    parent_end: c_int,
) -> ! {
    sys::close(parent_end);
    let code = match prepare(plan) {
        Ok(candidate) => {
            libc::execve(
                plan.exec_candidates[candidate].as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
            );
            let errno = sys::errno();
            send_report(report, ExecStep::Exec, 0, errno);
            if errno == libc::ENOENT {
                127
            } else {
                126
            }
        }
        Err(Failure(step, index, errno)) => {
            send_report(report, step, index, errno);
            match (step, errno) {
                (ExecStep::ExecLookup, libc::ENOENT) => 127,
                (ExecStep::ExecLookup, _) => 126,
                _ => 1,
            }
        }
    };
    libc::_exit(code)
}

unsafe fn prepare(plan: &ExecPlan) -> Res<usize> {
    // The parent blocks the signals it forwards; the process starts with defaults.
    for sig in 1..libc::SIGRTMIN() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());

    // The cgroup first, while /sys/fs/cgroup is still the host's: "0" moves the writer.
    for (i, fd) in plan.cgroup_procs.iter().enumerate() {
        let fd = std::os::fd::AsRawFd::as_raw_fd(fd);
        if !sys::write_all(fd, b"0") {
            return Err(Failure(ExecStep::Cgroup, i as u32, sys::errno()));
        }
        sys::close(fd);
    }
    if let Some(score) = &plan.oom_score_adj {
        let fd = libc::open(
            c"/proc/self/oom_score_adj".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
        check(fd, ExecStep::OomScoreAdj, 0)?;
        let ok = sys::write_all(fd, score.as_bytes());
        let errno = sys::errno();
        sys::close(fd);
        if !ok {
            return Err(Failure(ExecStep::OomScoreAdj, 0, errno));
        }
    }
    for (i, (fd, nstype)) in plan.namespaces.iter().enumerate() {
        check(
            libc::setns(std::os::fd::AsRawFd::as_raw_fd(fd), *nstype),
            ExecStep::SetNs,
            i,
        )?;
    }
    if plan.terminal {
        check(libc::setsid(), ExecStep::Setsid, 0)?;
        setup_console(plan)?;
    }
    for (i, r) in plan.rlimits.iter().enumerate() {
        let limit = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        check(
            libc::setrlimit(r.resource as _, &limit),
            ExecStep::Rlimit,
            i,
        )?;
    }
    if let (true, Some(filter)) = (plan.seccomp_before_user_switch, &plan.seccomp) {
        filter
            .install()
            .map_err(|e| Failure(ExecStep::Seccomp, 0, e))?;
    }
    steps::switch_user(&steps::Credentials {
        uid: plan.uid,
        gid: plan.gid,
        additional_gids: &plan.additional_gids,
        in_user_ns: plan.joins_user_ns,
        caps: plan.caps,
        last_cap: plan.last_cap,
    })?;
    check(libc::chdir(plan.cwd.as_ptr()), ExecStep::Cwd, 0)?;
    let candidate = steps::find_executable(&plan.exec_candidates)?;
    if plan.no_new_privileges {
        check(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            ExecStep::NoNewPrivileges,
            0,
        )?;
    }
    if let (false, Some(filter)) = (plan.seccomp_before_user_switch, &plan.seccomp) {
        filter
            .install()
            .map_err(|e| Failure(ExecStep::Seccomp, 1, e))?;
    }
    libc::umask(plan.umask);
    Ok(candidate)
}

/// A pty from the container's devpts: the master goes to the console socket, the slave becomes
/// our controlling terminal and stdio.
unsafe fn setup_console(plan: &ExecPlan) -> Res {
    let master = libc::open(
        c"/dev/pts/ptmx".as_ptr(),
        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
    );
    let slave = steps::hand_over_pty(master, plan.console_size, plan.console_socket)?;
    if slave > 2 {
        sys::close(slave);
    }
    Ok(())
}
