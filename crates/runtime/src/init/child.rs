//! The container init between clone and exec. It runs in a forked copy of the parent, so it may
//! only make system calls and read the prepared [`InitPlan`]: no allocation, no locks, no panics.

use libc::{c_char, c_int, c_ulong};

use super::mounts::{MountKind, MountStep};
use super::plan::InitPlan;
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
    switch_user(plan)?;
    check(libc::chdir(plan.cwd.as_ptr()), Step::Cwd, 0)?;
    let candidate = find_executable(plan)?;
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

const TIOCGPTPEER: c_ulong = 0x5441;

/// Opens a pty in the container's own devpts, sends the master to the console socket and makes
/// the slave our controlling terminal, stdio and /dev/console.
unsafe fn setup_console(plan: &InitPlan, root_fd: c_int) -> Res {
    let master = sys::openat2(
        root_fd,
        c"dev/pts/ptmx".as_ptr(),
        libc::O_RDWR | libc::O_NOCTTY,
        sys::RESOLVE_IN_ROOT,
    );
    check(master, Step::Console, 0)?;
    let unlock: c_int = 0;
    check(
        libc::ioctl(master, libc::TIOCSPTLCK, &unlock),
        Step::Console,
        1,
    )?;
    let slave = libc::ioctl(
        master,
        TIOCGPTPEER,
        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
    );
    check(slave, Step::Console, 2)?;
    if let Some((rows, cols)) = plan.console_size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        libc::ioctl(slave, libc::TIOCSWINSZ, &ws);
    }
    check(send_fd(plan.console_socket, master), Step::Console, 3)?;
    sys::close(master);
    sys::close(plan.console_socket);
    check(libc::ioctl(slave, libc::TIOCSCTTY, 0), Step::Console, 4)?;
    for target in 0..3 {
        check(libc::dup2(slave, target), Step::Console, 5)?;
    }
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
    sys::close(slave);
    Ok(())
}

/// Sends `fd` with SCM_RIGHTS over the unix socket `sock`.
unsafe fn send_fd(sock: c_int, fd: c_int) -> c_int {
    let name = b"/dev/ptmx";
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut _,
        iov_len: name.len(),
    };
    let mut control = [0u64; 4];
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) as usize;
    let cmsg = libc::CMSG_FIRSTHDR(&msg);
    (*cmsg).cmsg_level = libc::SOL_SOCKET;
    (*cmsg).cmsg_type = libc::SCM_RIGHTS;
    (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as usize;
    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>(), fd);
    libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) as c_int
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

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

unsafe fn switch_user(plan: &InitPlan) -> Res {
    let caps = plan.caps;
    check(
        libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0),
        Step::Capabilities,
        0,
    )?;
    for cap in 0..=plan.last_cap {
        if caps.bounding & (1u64 << cap) == 0 {
            check(
                libc::prctl(libc::PR_CAPBSET_DROP, cap as c_ulong, 0, 0, 0),
                Step::Capabilities,
                1,
            )?;
        }
    }
    let groups = &plan.additional_gids;
    if !(plan.in_user_ns && groups.is_empty()) {
        check(
            libc::setgroups(groups.len(), groups.as_ptr()),
            Step::Setgroups,
            0,
        )?;
    }
    check(
        libc::setresgid(plan.gid, plan.gid, plan.gid),
        Step::Setgid,
        0,
    )?;
    check(
        libc::setresuid(plan.uid, plan.uid, plan.uid),
        Step::Setuid,
        0,
    )?;
    check(
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0),
        Step::Capabilities,
        2,
    )?;
    let header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let half = |mask: u64, high: bool| {
        if high {
            (mask >> 32) as u32
        } else {
            mask as u32
        }
    };
    let data = [false, true].map(|high| CapData {
        effective: half(caps.effective, high),
        permitted: half(caps.permitted, high),
        inheritable: half(caps.inheritable, high),
    });
    check(
        libc::syscall(libc::SYS_capset, &header, data.as_ptr()) as c_int,
        Step::Capabilities,
        3,
    )?;
    check(
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ),
        Step::Capabilities,
        4,
    )?;
    for cap in 0..=plan.last_cap {
        if caps.ambient & (1u64 << cap) != 0 {
            check(
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    cap as c_ulong,
                    0,
                    0,
                ),
                Step::Capabilities,
                5,
            )?;
        }
    }
    Ok(())
}

/// The first candidate that is an executable regular file; ENOENT when none exists, EACCES when
/// one exists but can't be executed.
unsafe fn find_executable(plan: &InitPlan) -> Res<usize> {
    let mut seen_unexecutable = false;
    for (i, candidate) in plan.exec_candidates.iter().enumerate() {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(candidate.as_ptr(), &mut st) != 0 {
            continue;
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFREG
            && libc::faccessat(
                libc::AT_FDCWD,
                candidate.as_ptr(),
                libc::X_OK,
                libc::AT_EACCESS,
            ) == 0
        {
            return Ok(i);
        }
        seen_unexecutable = true;
    }
    let errno = if seen_unexecutable {
        libc::EACCES
    } else {
        libc::ENOENT
    };
    Err(Failure(Step::ExecLookup, 0, errno))
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
