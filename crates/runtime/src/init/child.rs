//! The container init between clone and exec. It runs in a forked copy of the parent, so it may
//! only make system calls and read the prepared [`InitPlan`]: no allocation, no locks, no panics.

use libc::{c_char, c_int, c_ulong};

use super::mounts::{MountKind, MountStep};
use super::plan::InitPlan;
use super::steps::{self, Shared, SharedFailure};
use super::sys::{self, FdPath};
use super::{Report, Step};

/// The child's ends of its two channels to the parent, and the parent's ends to close.
pub struct ChildChannels {
    /// Written by the child: a [`Report`] at the start gate or on failure (a stream socket, so a
    /// parent that has gone away gives EPIPE, not SIGPIPE).
    pub report: c_int,
    /// Read by the child: one byte once the parent has set up ids, cgroups and the OOM score.
    pub wait: c_int,
    pub parent_ends: [c_int; 2],
}

/// A failed step: which, at which index of its list, and errno.
#[derive(Clone, Copy)]
struct Failure(Step, u32, c_int);

type Res<T = ()> = Result<T, Failure>;

impl From<SharedFailure> for Failure {
    fn from(SharedFailure(step, index, errno): SharedFailure) -> Failure {
        let step = match step {
            Shared::Console => Step::Console,
            Shared::Capabilities => Step::Capabilities,
            Shared::Setgroups => Step::Setgroups,
            Shared::Setgid => Step::Setgid,
            Shared::Setuid => Step::Setuid,
            Shared::ExecLookup => Step::ExecLookup,
        };
        Failure(step, index, errno)
    }
}

fn check(rc: c_int, step: Step, index: usize) -> Res {
    if rc < 0 {
        Err(Failure(step, index as u32, sys::errno()))
    } else {
        Ok(())
    }
}

fn send_report(fd: c_int, report: Report) {
    let bytes = report.to_bytes();
    // SAFETY: sending from a stack buffer; MSG_NOSIGNAL avoids SIGPIPE if the parent is gone.
    unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
}

/// Runs the container init. Never returns: it execs the user's program or exits.
///
/// # Safety
/// Must be called in the child of a fork-like clone, with `argv`/`envp` built from `plan`.
pub unsafe fn run(
    plan: &InitPlan,
    argv: &[*const c_char],
    envp: &[*const c_char],
    ch: &ChildChannels,
) -> ! {
    for fd in ch.parent_ends {
        sys::close(fd);
    }
    let code = match prepare(plan, ch) {
        Ok(candidate) => {
            let path = plan.exec_candidates[candidate].as_ptr();
            libc::execve(path, argv.as_ptr(), envp.as_ptr());
            let errno = sys::errno();
            send_report(
                ch.report,
                Report {
                    kind: Report::FAILED,
                    step: Step::Exec as u32,
                    index: 0,
                    errno,
                },
            );
            if errno == libc::ENOENT {
                127
            } else {
                126
            }
        }
        Err(Failure(step, index, errno)) => {
            send_report(
                ch.report,
                Report {
                    kind: Report::FAILED,
                    step: step as u32,
                    index,
                    errno,
                },
            );
            match (step, errno) {
                (Step::ExecLookup, libc::ENOENT) => 127,
                (Step::ExecLookup, _) => 126,
                _ => 1,
            }
        }
    };
    libc::_exit(code)
}

/// Everything up to the exec; returns the index of the exec candidate to use.
unsafe fn prepare(plan: &InitPlan, ch: &ChildChannels) -> Res<usize> {
    reset_signals();
    libc::umask(0);
    for (i, (fd, nstype)) in plan.join_namespaces.iter().enumerate() {
        check(
            libc::setns(std::os::fd::AsRawFd::as_raw_fd(fd), *nstype),
            Step::SetNs,
            i,
        )?;
    }
    let mut byte = [0u8; 1];
    if sys::read_full(ch.wait, &mut byte) != 1 {
        return Err(Failure(Step::WaitParent, 0, libc::EPIPE));
    }
    sys::close(ch.wait);
    if plan.unshare_cgroup_ns {
        check(
            libc::unshare(libc::CLONE_NEWCGROUP),
            Step::UnshareCgroupNs,
            0,
        )?;
    }
    check(libc::setsid(), Step::Setsid, 0)?;
    if plan.in_user_ns {
        // Become the namespace's root where it is mapped, so files we create have a mapped owner.
        libc::setresgid(0, 0, 0);
        libc::setresuid(0, 0, 0);
    }
    if let Some(h) = &plan.hostname {
        check(
            libc::sethostname(h.as_ptr(), h.as_bytes().len()),
            Step::Hostname,
            0,
        )?;
    }
    if let Some(d) = &plan.domainname {
        check(
            libc::setdomainname(d.as_ptr(), d.as_bytes().len()),
            Step::Domainname,
            0,
        )?;
    }

    let root_fd = setup_rootfs(plan)?;
    // A missing working directory is made, as Docker does for WORKDIR; failing that (a read-only
    // image), the chdir below reports it.
    sys::close(plan.cwd_in_root.open_or_create(root_fd, false));
    if plan.terminal {
        setup_console(plan, root_fd)?;
    }
    pivot_root(root_fd)?;
    for (i, (path, value)) in plan.sysctls.iter().enumerate() {
        write_file(path.as_ptr(), value.as_bytes())
            .map_err(|e| Failure(Step::Sysctl, i as u32, e))?;
    }
    for (i, path) in plan.masked_paths.iter().enumerate() {
        mask_path(path.as_ptr()).map_err(|e| Failure(Step::MaskPath, i as u32, e))?;
    }
    for (i, path) in plan.readonly_paths.iter().enumerate() {
        readonly_path(path.as_ptr()).map_err(|e| Failure(Step::ReadonlyPath, i as u32, e))?;
    }
    if plan.root_readonly {
        let flags = locked_flags(c"/".as_ptr());
        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | flags,
                std::ptr::null(),
            ),
            Step::RootReadonly,
            0,
        )?;
    }
    if !plan.terminal {
        setup_stdio(&plan.stdio)?;
    }
    for (i, r) in plan.rlimits.iter().enumerate() {
        let limit = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        check(libc::setrlimit(r.resource as _, &limit), Step::Rlimit, i)?;
    }
    if let (true, Some(filter)) = (plan.seccomp_before_user_switch, &plan.seccomp) {
        filter.install().map_err(|e| Failure(Step::Seccomp, 0, e))?;
    }
    steps::switch_user(&steps::Credentials {
        uid: plan.uid,
        gid: plan.gid,
        additional_gids: &plan.additional_gids,
        in_user_ns: plan.in_user_ns,
        caps: plan.caps,
        last_cap: plan.last_cap,
    })?;
    check(libc::chdir(plan.cwd.as_ptr()), Step::Cwd, 0)?;
    let candidate = steps::find_executable(&plan.exec_candidates)?;
    if plan.no_new_privileges {
        check(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            Step::NoNewPrivileges,
            0,
        )?;
    }
    send_report(
        ch.report,
        Report {
            kind: Report::READY,
            ..Default::default()
        },
    );
    wait_at_gate(plan)?;
    if let (false, Some(filter)) = (plan.seccomp_before_user_switch, &plan.seccomp) {
        filter.install().map_err(|e| Failure(Step::Seccomp, 0, e))?;
    }
    libc::umask(plan.umask);
    Ok(candidate)
}

/// Ignored signals survive exec (Rust ignores SIGPIPE); the container starts with defaults and an
/// empty mask, as a freshly booted init would.
unsafe fn reset_signals() {
    for sig in 1..libc::SIGRTMIN() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
}

unsafe fn setup_rootfs(plan: &InitPlan) -> Res<c_int> {
    let null = std::ptr::null::<c_char>();
    check(
        libc::mount(
            null,
            c"/".as_ptr(),
            null,
            plan.root_propagation,
            std::ptr::null(),
        ),
        Step::RootPropagation,
        0,
    )?;
    let rootfs = plan.rootfs.as_ptr();
    check(
        libc::mount(
            rootfs,
            rootfs,
            null,
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ),
        Step::RootBind,
        0,
    )?;
    let root_fd = libc::open(rootfs, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
    check(root_fd, Step::OpenRoot, 0)?;
    for (i, step) in plan.mounts.iter().enumerate() {
        do_mount(root_fd, step, i)?;
    }
    for (i, dev) in plan.devices.iter().enumerate() {
        let res = if plan.in_user_ns {
            let fd = dev.path.open_or_create(root_fd, true);
            let rc = if fd < 0 {
                -1
            } else {
                libc::mount(
                    dev.host_path.as_ptr(),
                    FdPath::new(fd).as_ptr(),
                    null,
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            };
            let r = check(rc, Step::Device, i);
            sys::close(fd);
            r
        } else {
            make_node(root_fd, dev).map_err(|e| Failure(Step::Device, i as u32, e))
        };
        res?;
    }
    for (i, (target, link)) in plan.symlinks.iter().enumerate() {
        let parent = link.open_parent(root_fd);
        let name = link.name().map_or(null, |n| n.as_ptr());
        let rc = if parent < 0 {
            -1
        } else {
            libc::symlinkat(target.as_ptr(), parent, name)
        };
        let errno = sys::errno();
        sys::close(parent);
        if rc < 0 && errno != libc::EEXIST {
            return Err(Failure(Step::Symlink, i as u32, errno));
        }
    }
    Ok(root_fd)
}

unsafe fn make_node(root_fd: c_int, dev: &super::plan::DeviceNode) -> Result<(), c_int> {
    let parent = dev.path.open_parent(root_fd);
    if parent < 0 {
        return Err(sys::errno());
    }
    let name = dev.path.name().map_or(std::ptr::null(), |n| n.as_ptr());
    let mut rc = libc::mknodat(parent, name, dev.mode, dev.dev);
    if rc < 0 && sys::errno() == libc::EEXIST {
        rc = 0;
    }
    if rc == 0 {
        rc = libc::fchownat(parent, name, dev.uid, dev.gid, libc::AT_SYMLINK_NOFOLLOW);
    }
    let errno = sys::errno();
    sys::close(parent);
    if rc < 0 {
        Err(errno)
    } else {
        Ok(())
    }
}

/// Flags a remount must keep: in a user namespace, dropping them is refused.
unsafe fn locked_flags(path: *const c_char) -> c_ulong {
    let mut st: libc::statvfs = std::mem::zeroed();
    if libc::statvfs(path, &mut st) != 0 {
        return 0;
    }
    let mut flags = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    flags
}

unsafe fn do_mount(root_fd: c_int, m: &MountStep, index: usize) -> Res {
    let null = std::ptr::null::<c_char>();
    let ptr = |c: &Option<std::ffi::CString>| c.as_ref().map_or(null, |c| c.as_ptr());
    let target_fd = m.dest.open_or_create(root_fd, m.dest_is_file);
    check(target_fd, Step::MountTarget, index)?;
    let target = FdPath::new(target_fd);
    let remount_flags = libc::MS_RDONLY
        | libc::MS_NOSUID
        | libc::MS_NODEV
        | libc::MS_NOEXEC
        | libc::MS_NOATIME
        | libc::MS_NODIRATIME
        | libc::MS_RELATIME
        | libc::MS_STRICTATIME;
    let rc = match m.kind {
        MountKind::Fs => {
            let mut rc = libc::mount(
                ptr(&m.source),
                target.as_ptr(),
                ptr(&m.fstype),
                m.flags,
                ptr(&m.data).cast(),
            );
            if rc < 0 && sys::errno() == libc::EINVAL && m.fallback_data.is_some() {
                rc = libc::mount(
                    ptr(&m.source),
                    target.as_ptr(),
                    ptr(&m.fstype),
                    m.flags,
                    ptr(&m.fallback_data).cast(),
                );
            }
            if rc < 0 && m.sysfs_bind_fallback && matches!(sys::errno(), libc::EPERM | libc::EBUSY)
            {
                rc = libc::mount(
                    c"/sys".as_ptr(),
                    target.as_ptr(),
                    null,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                );
                if rc == 0 && m.flags & remount_flags != 0 {
                    rc = remount(root_fd, m, m.flags & remount_flags);
                }
            }
            rc
        }
        MountKind::Bind { recursive } => {
            let rec = if recursive { libc::MS_REC } else { 0 };
            let mut rc = libc::mount(
                ptr(&m.source),
                target.as_ptr(),
                null,
                libc::MS_BIND | rec,
                std::ptr::null(),
            );
            if rc == 0 && m.flags & remount_flags != 0 {
                rc = remount(root_fd, m, m.flags & remount_flags);
            }
            rc
        }
        MountKind::Remount => remount(root_fd, m, m.flags & remount_flags),
    };
    let errno = sys::errno();
    sys::close(target_fd);
    if rc < 0 {
        let step = if m.kind == MountKind::Remount {
            Step::MountRemount
        } else {
            Step::Mount
        };
        return Err(Failure(step, index as u32, errno));
    }
    if m.propagation != 0 {
        let fd = m.dest.open(root_fd);
        let rc = if fd < 0 {
            -1
        } else {
            libc::mount(
                null,
                FdPath::new(fd).as_ptr(),
                null,
                m.propagation,
                std::ptr::null(),
            )
        };
        let errno = sys::errno();
        sys::close(fd);
        if rc < 0 {
            return Err(Failure(Step::MountPropagation, index as u32, errno));
        }
    }
    Ok(())
}

/// Bind-remounts what is now mounted at the step's destination with `flags`.
unsafe fn remount(root_fd: c_int, m: &MountStep, flags: c_ulong) -> c_int {
    let fd = m.dest.open(root_fd);
    if fd < 0 {
        return -1;
    }
    let path = FdPath::new(fd);
    let keep = locked_flags(path.as_ptr());
    let rc = libc::mount(
        std::ptr::null(),
        path.as_ptr(),
        std::ptr::null(),
        libc::MS_BIND | libc::MS_REMOUNT | flags | keep,
        std::ptr::null(),
    );
    let errno = sys::errno();
    sys::close(fd);
    *libc::__errno_location() = errno;
    rc
}

/// Opens a pty in the container's own devpts, sends the master to the console socket and makes
/// the slave our controlling terminal, stdio and /dev/console.
unsafe fn setup_console(plan: &InitPlan, root_fd: c_int) -> Res {
    let master = sys::openat2(
        root_fd,
        c"dev/pts/ptmx".as_ptr(),
        libc::O_RDWR | libc::O_NOCTTY,
        sys::RESOLVE_IN_ROOT,
    );
    let slave = steps::hand_over_pty(master, plan.console_size, plan.console_socket)?;
    let fd = plan.console.open_or_create(root_fd, true);
    check(fd, Step::Console, 6)?;
    let rc = libc::mount(
        FdPath::new(slave).as_ptr(),
        FdPath::new(fd).as_ptr(),
        std::ptr::null(),
        libc::MS_BIND,
        std::ptr::null(),
    );
    sys::close(fd);
    check(rc, Step::Console, 7)?;
    if slave > 2 {
        sys::close(slave);
    }
    Ok(())
}

unsafe fn pivot_root(root_fd: c_int) -> Res {
    let dot = c".".as_ptr();
    let null = std::ptr::null::<c_char>();
    check(libc::fchdir(root_fd), Step::PivotRoot, 0)?;
    check(
        libc::syscall(libc::SYS_pivot_root, dot, dot) as c_int,
        Step::PivotRoot,
        1,
    )?;
    // The old root is stacked under the new one; keep its unmount from reaching the host.
    check(
        libc::mount(
            null,
            dot,
            null,
            libc::MS_SLAVE | libc::MS_REC,
            std::ptr::null(),
        ),
        Step::PivotRoot,
        2,
    )?;
    check(libc::umount2(dot, libc::MNT_DETACH), Step::PivotRoot, 3)?;
    check(libc::chdir(c"/".as_ptr()), Step::PivotRoot, 4)?;
    sys::close(root_fd);
    Ok(())
}

unsafe fn write_file(path: *const c_char, value: &[u8]) -> Result<(), c_int> {
    let fd = libc::open(path, libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return Err(sys::errno());
    }
    let ok = sys::write_all(fd, value);
    let errno = sys::errno();
    sys::close(fd);
    if ok {
        Ok(())
    } else {
        Err(errno)
    }
}

/// Hides a path: /dev/null over a file, an empty read-only tmpfs over a directory.
unsafe fn mask_path(path: *const c_char) -> Result<(), c_int> {
    let mut st: libc::stat = std::mem::zeroed();
    if libc::stat(path, &mut st) != 0 {
        return match sys::errno() {
            libc::ENOENT | libc::ENOTDIR => Ok(()),
            e => Err(e),
        };
    }
    let rc = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        libc::mount(
            c"tmpfs".as_ptr(),
            path,
            c"tmpfs".as_ptr(),
            libc::MS_RDONLY,
            c"size=0".as_ptr().cast(),
        )
    } else {
        libc::mount(
            c"/dev/null".as_ptr(),
            path,
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        Err(sys::errno())
    } else {
        Ok(())
    }
}

unsafe fn readonly_path(path: *const c_char) -> Result<(), c_int> {
    let null = std::ptr::null::<c_char>();
    if libc::mount(
        path,
        path,
        null,
        libc::MS_BIND | libc::MS_REC,
        std::ptr::null(),
    ) != 0
    {
        return match sys::errno() {
            libc::ENOENT | libc::ENOTDIR => Ok(()),
            e => Err(e),
        };
    }
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked_flags(path);
    if libc::mount(null, path, null, flags, std::ptr::null()) != 0 {
        return Err(sys::errno());
    }
    Ok(())
}

/// Puts the requested fds on 0, 1 and 2, moving them out of the way first so that one target
/// can't clobber another source.
unsafe fn setup_stdio(stdio: &[c_int; 3]) -> Res {
    let mut moved = [-1; 3];
    for (i, fd) in stdio.iter().enumerate() {
        if *fd >= 0 {
            moved[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3);
            check(moved[i], Step::Stdio, i)?;
        }
    }
    for (i, fd) in moved.iter().enumerate() {
        if *fd >= 0 {
            check(libc::dup2(*fd, i as c_int), Step::Stdio, i)?;
            sys::close(*fd);
        }
    }
    Ok(())
}

/// Blocks until `start` opens the exec FIFO, then tells it we are going.
unsafe fn wait_at_gate(plan: &InitPlan) -> Res {
    let fd = loop {
        let fd = libc::openat(
            plan.gate_dir,
            plan.gate_name.as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
        if fd >= 0 || sys::errno() != libc::EINTR {
            break fd;
        }
    };
    check(fd, Step::StartGate, 0)?;
    let ok = sys::write_all(fd, b"0");
    let errno = sys::errno();
    sys::close(fd);
    sys::close(plan.gate_dir);
    if !ok {
        return Err(Failure(Step::StartGate, 1, errno));
    }
    Ok(())
}
