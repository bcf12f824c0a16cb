//! berth's default seccomp profile, equivalent in effect to Docker's: an allow-list (anything
//! else fails with EPERM), some syscalls allowed only with certain arguments, and rules that
//! apply only with certain capabilities, on certain architectures or from a kernel version on.
//! The conditions are resolved when the spec is built, against the container's final
//! capabilities, so the runtime receives a plain OCI profile.
//!
//! A profile given with `--security-opt seccomp=FILE` (the docker CLI sends the file's content)
//! may use Docker's extended format (`archMap`, `includes`/`excludes`, `name`); it is resolved
//! the same way by [`load_profile`].

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Map, Value};

use super::SpecError;

/// Allowed for every container.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// When a rule applies. Empty lists impose nothing.
#[derive(Clone, Copy)]
struct Cond {
    /// All of these capabilities (includes) / any of them (excludes).
    caps: &'static [&'static str],
    /// Go architecture names, as Docker's profile writes them.
    arches: &'static [&'static str],
    /// (major, minor) of the first kernel the rule applies to.
    min_kernel: Option<(u32, u32)>,
}

const ALWAYS: Cond = Cond {
    caps: &[],
    arches: &[],
    min_kernel: None,
};

const fn caps(caps: &'static [&'static str]) -> Cond {
    Cond {
        caps,
        arches: &[],
        min_kernel: None,
    }
}

const fn arches(arches: &'static [&'static str]) -> Cond {
    Cond {
        caps: &[],
        arches,
        min_kernel: None,
    }
}

#[derive(Clone, Copy)]
enum Action {
    Allow,
    Errno(u32),
}

/// One argument test: (index, value, valueTwo, op).
type Arg = (u32, u64, u64, &'static str);

struct Rule {
    names: &'static [&'static str],
    action: Action,
    args: &'static [Arg],
    includes: Cond,
    excludes: Cond,
}

const fn allow(names: &'static [&'static str], includes: Cond) -> Rule {
    Rule {
        names,
        action: Action::Allow,
        args: &[],
        includes,
        excludes: ALWAYS,
    }
}

const fn allow_args(names: &'static [&'static str], args: &'static [Arg]) -> Rule {
    Rule {
        names,
        action: Action::Allow,
        args,
        includes: ALWAYS,
        excludes: ALWAYS,
    }
}

const ENOSYS: u32 = libc::ENOSYS as u32;
const AF_ALG: u64 = libc::AF_ALG as u64;
const AF_VSOCK: u64 = libc::AF_VSOCK as u64;
/// clone(2) flags that create namespaces: without CAP_SYS_ADMIN, clone must not carry them.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// Docker's rules after the plain allow-list.
const RULES: &[Rule] = &[
    Rule {
        names: &["process_vm_readv", "process_vm_writev", "ptrace"],
        action: Action::Allow,
        args: &[],
        includes: Cond {
            caps: &[],
            arches: &[],
            min_kernel: Some((4, 8)),
        },
        excludes: ALWAYS,
    },
    // socket(2) for every family but AF_ALG and AF_VSOCK.
    allow_args(&["socket"], &[(0, AF_ALG, 0, "SCMP_CMP_LT")]),
    allow_args(&["socket"], &[(0, AF_ALG + 1, 0, "SCMP_CMP_EQ")]),
    allow_args(&["socket"], &[(0, AF_VSOCK, 0, "SCMP_CMP_GT")]),
    // personality(2): PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26, and the query.
    allow_args(&["personality"], &[(0, 0x0, 0, "SCMP_CMP_EQ")]),
    allow_args(&["personality"], &[(0, 0x0008, 0, "SCMP_CMP_EQ")]),
    allow_args(&["personality"], &[(0, 0x20000, 0, "SCMP_CMP_EQ")]),
    allow_args(&["personality"], &[(0, 0x20008, 0, "SCMP_CMP_EQ")]),
    allow_args(&["personality"], &[(0, 0xffff_ffff, 0, "SCMP_CMP_EQ")]),
    allow(&["sync_file_range2", "swapcontext"], arches(&["ppc64le"])),
    allow(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        arches(&["arm", "arm64"]),
    ),
    allow(&["arch_prctl"], arches(&["amd64", "x32"])),
    allow(&["modify_ldt"], arches(&["amd64", "x32", "x86"])),
    allow(
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        arches(&["s390", "s390x"]),
    ),
    allow(
        &["riscv_flush_icache", "riscv_hwprobe"],
        arches(&["riscv64"]),
    ),
    allow(&["open_by_handle_at"], caps(&["CAP_DAC_READ_SEARCH"])),
    allow(
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
        caps(&["CAP_SYS_ADMIN"]),
    ),
    // Without CAP_SYS_ADMIN: clone without namespace flags (the flags are argument 1 on s390).
    Rule {
        names: &["clone"],
        action: Action::Allow,
        args: &[(0, CLONE_NAMESPACE_FLAGS, 0, "SCMP_CMP_MASKED_EQ")],
        includes: ALWAYS,
        excludes: Cond {
            caps: &["CAP_SYS_ADMIN"],
            arches: &["s390", "s390x"],
            min_kernel: None,
        },
    },
    Rule {
        names: &["clone"],
        action: Action::Allow,
        args: &[(1, CLONE_NAMESPACE_FLAGS, 0, "SCMP_CMP_MASKED_EQ")],
        includes: arches(&["s390", "s390x"]),
        excludes: caps(&["CAP_SYS_ADMIN"]),
    },
    // clone3's flags live in memory seccomp can't read: ENOSYS makes libcs fall back to clone.
    Rule {
        names: &["clone3"],
        action: Action::Errno(ENOSYS),
        args: &[],
        includes: ALWAYS,
        excludes: caps(&["CAP_SYS_ADMIN"]),
    },
    allow(&["reboot"], caps(&["CAP_SYS_BOOT"])),
    allow(&["chroot"], caps(&["CAP_SYS_CHROOT"])),
    allow(
        &["delete_module", "init_module", "finit_module"],
        caps(&["CAP_SYS_MODULE"]),
    ),
    allow(&["acct"], caps(&["CAP_SYS_PACCT"])),
    allow(
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        caps(&["CAP_SYS_PTRACE"]),
    ),
    allow(&["iopl", "ioperm"], caps(&["CAP_SYS_RAWIO"])),
    allow(
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        caps(&["CAP_SYS_TIME"]),
    ),
    allow(&["vhangup"], caps(&["CAP_SYS_TTY_CONFIG"])),
    allow(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        caps(&["CAP_SYS_NICE"]),
    ),
    allow(&["syslog"], caps(&["CAP_SYSLOG"])),
    allow(&["bpf"], caps(&["CAP_BPF"])),
    allow(&["perf_event_open"], caps(&["CAP_PERFMON"])),
];

/// This machine's architecture as Go (and so Docker's profile) names it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The filter's architectures: the native one and those whose binaries it also runs.
fn native_architectures() -> Vec<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "aarch64" => vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "s390x" => vec!["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
        "riscv64" => vec!["SCMP_ARCH_RISCV64"],
        "powerpc64" => vec!["SCMP_ARCH_PPC64LE"],
        _ => vec![],
    }
}

/// The running kernel's (major, minor).
fn kernel_version() -> (u32, u32) {
    // SAFETY: uname fills the zeroed struct we own.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return (0, 0);
    }
    // SAFETY: the kernel NUL-terminates release.
    let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) }.to_string_lossy();
    parse_kernel(&release).unwrap_or((0, 0))
}

fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    Some((
        parts.next()?.parse().ok()?,
        parts.next().unwrap_or("0").parse().unwrap_or(0),
    ))
}

/// Whether a condition holds: `all` for includes (every cap, the arch listed, kernel new
/// enough), otherwise for excludes (any cap held, the arch listed, kernel new enough).
fn holds(
    caps: &[&str],
    arches: &[&str],
    min_kernel: Option<(u32, u32)>,
    held: &[String],
    all: bool,
) -> bool {
    let has = |c: &&str| held.iter().any(|h| h == c);
    let caps_ok = if all {
        caps.iter().all(has)
    } else {
        caps.iter().any(has)
    };
    let arch_ok = arches.contains(&go_arch());
    let kernel_ok = min_kernel.is_some_and(|k| kernel_version() >= k);
    if all {
        caps_ok && (arches.is_empty() || arch_ok) && (min_kernel.is_none() || kernel_ok)
    } else {
        caps_ok || arch_ok || kernel_ok
    }
}

/// Docker's default profile for a container holding `caps` (its bounding set).
pub fn default_seccomp(caps: &[String]) -> LinuxSeccomp {
    let mut syscalls = vec![json!({ "names": ALLOWED, "action": "SCMP_ACT_ALLOW" })];
    for rule in RULES {
        let inc = rule.includes;
        let exc = rule.excludes;
        if !holds(inc.caps, inc.arches, inc.min_kernel, caps, true)
            || holds(exc.caps, exc.arches, exc.min_kernel, caps, false)
        {
            continue;
        }
        let mut v = json!({ "names": rule.names });
        match rule.action {
            Action::Allow => v["action"] = json!("SCMP_ACT_ALLOW"),
            Action::Errno(errno) => {
                v["action"] = json!("SCMP_ACT_ERRNO");
                v["errnoRet"] = json!(errno);
            }
        }
        if !rule.args.is_empty() {
            v["args"] = rule
                .args
                .iter()
                .map(|(index, value, value_two, op)| {
                    json!({ "index": index, "value": value, "valueTwo": value_two, "op": op })
                })
                .collect();
        }
        syscalls.push(v);
    }
    serde_json::from_value(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "architectures": native_architectures(),
        "syscalls": syscalls,
    }))
    .expect("the default seccomp profile is valid")
}

fn profile_error(what: impl std::fmt::Display) -> SpecError {
    SpecError::Invalid(format!("invalid seccomp profile: {what}"))
}

fn strings(v: Option<&Value>, field: &str) -> Result<Vec<String>, SpecError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| profile_error(format!("{field}: not a string")))
            })
            .collect(),
        Some(_) => Err(profile_error(format!("{field}: not an array"))),
    }
}

/// Whether a rule's `includes` (all = true) or `excludes` filter holds.
fn filter_holds(
    filter: Option<&Value>,
    caps: &[String],
    all: bool,
    field: &str,
) -> Result<bool, SpecError> {
    let Some(filter) = filter.filter(|f| !f.is_null()) else {
        return Ok(all);
    };
    let cap_list = strings(filter.get("caps"), &format!("{field}.caps"))?;
    let arch_list = strings(filter.get("arches"), &format!("{field}.arches"))?;
    let min_kernel = match filter.get("minKernel") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_kernel(s).ok_or_else(|| {
            profile_error(format!("{field}.minKernel: {s:?} is not a kernel version"))
        })?),
        Some(_) => return Err(profile_error(format!("{field}.minKernel: not a string"))),
    };
    let c: Vec<&str> = cap_list.iter().map(String::as_str).collect();
    let a: Vec<&str> = arch_list.iter().map(String::as_str).collect();
    Ok(holds(&c, &a, min_kernel, caps, all))
}

/// A profile's JSON (OCI's `linux.seccomp` or Docker's extended format) resolved for a container
/// holding `caps`, checked the way the runtime will read it.
pub fn load_profile(text: &str, caps: &[String]) -> Result<LinuxSeccomp, SpecError> {
    let v: Value = serde_json::from_str(text).map_err(profile_error)?;
    let Value::Object(obj) = v else {
        return Err(profile_error("not a JSON object"));
    };
    let mut out = Map::new();
    for (k, val) in &obj {
        match k.as_str() {
            "defaultAction" | "defaultErrnoRet" | "architectures" | "flags" | "listenerPath"
            | "listenerMetadata" => {
                out.insert(k.clone(), val.clone());
            }
            "archMap" | "syscalls" | "comment" => {}
            other => return Err(profile_error(format!("unknown field {other:?}"))),
        }
    }
    if let Some(map) = obj.get("archMap").filter(|m| !m.is_null()) {
        if obj.get("architectures").is_some_and(|a| !a.is_null()) {
            return Err(profile_error("use either 'architectures' or 'archMap'"));
        }
        let native = native_architectures();
        let mut arches = Vec::new();
        for entry in map
            .as_array()
            .ok_or_else(|| profile_error("archMap: not an array"))?
        {
            let arch = entry
                .get("architecture")
                .and_then(Value::as_str)
                .unwrap_or("");
            if native.first() == Some(&arch) {
                arches.push(arch.to_string());
                arches.extend(strings(
                    entry.get("subArchitectures"),
                    "archMap.subArchitectures",
                )?);
            }
        }
        out.insert("architectures".into(), json!(arches));
    }
    let mut syscalls = Vec::new();
    let rules = match obj.get("syscalls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(r)) => r.clone(),
        Some(_) => return Err(profile_error("syscalls: not an array")),
    };
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("syscalls[{i}]");
        let Value::Object(rule) = rule else {
            return Err(profile_error(format!("{field}: not an object")));
        };
        if !filter_holds(
            rule.get("includes"),
            caps,
            true,
            &format!("{field}.includes"),
        )? || filter_holds(
            rule.get("excludes"),
            caps,
            false,
            &format!("{field}.excludes"),
        )? {
            continue;
        }
        let mut names = strings(rule.get("names"), &format!("{field}.names"))?;
        if let Some(name) = rule
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            if !names.is_empty() {
                return Err(profile_error(format!(
                    "{field}: use either 'name' or 'names'"
                )));
            }
            names.push(name.to_string());
        }
        let mut r = Map::new();
        r.insert("names".into(), json!(names));
        for (k, val) in rule {
            match k.as_str() {
                "action" | "args" | "errnoRet" => {
                    r.insert(k.clone(), val.clone());
                }
                "names" | "name" | "includes" | "excludes" | "comment" => {}
                other => return Err(profile_error(format!("{field}: unknown field {other:?}"))),
            }
        }
        syscalls.push(Value::Object(r));
    }
    out.insert("syscalls".into(), Value::Array(syscalls));
    berth_runtime::seccomp::parse_json(&Value::Object(out)).map_err(profile_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &LinuxSeccomp, name: &str) -> bool {
        p.syscalls().iter().flatten().any(|s| {
            s.args().as_ref().is_none_or(|a| a.is_empty())
                && serde_json::to_value(s.action()).unwrap() == "SCMP_ACT_ALLOW"
                && s.names().iter().any(|n| n == name)
        })
    }

    fn names_of(caps: &[&str]) -> Vec<String> {
        caps.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn the_default_denies_with_eperm_on_this_arch() {
        let p = default_seccomp(&[]);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                v["architectures"],
                json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
            );
            assert!(allowed(&p, "arch_prctl") && allowed(&p, "modify_ldt"));
        }
        if cfg!(target_arch = "aarch64") {
            assert_eq!(
                v["architectures"],
                json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
            );
        }
        assert!(allowed(&p, "read") && allowed(&p, "ptrace"));
        assert!(!allowed(&p, "riscv_hwprobe") && !allowed(&p, "s390_runtime_instr"));
    }

    #[test]
    fn capabilities_unlock_their_syscalls() {
        let plain = default_seccomp(&names_of(&["CAP_CHOWN"]));
        for name in [
            "mount",
            "unshare",
            "setns",
            "clone",
            "reboot",
            "init_module",
            "settimeofday",
            "kcmp",
            "open_by_handle_at",
        ] {
            assert!(
                !allowed(&plain, name),
                "{name} allowed without its capability"
            );
        }
        let v = serde_json::to_value(&plain).unwrap();
        let rules = v["syscalls"].as_array().unwrap();
        // clone only without namespace flags, clone3 says ENOSYS.
        let clone = rules
            .iter()
            .find(|r| r["names"] == json!(["clone"]))
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], 0x7E02_0000u64);
        let clone3 = rules
            .iter()
            .find(|r| r["names"] == json!(["clone3"]))
            .unwrap();
        assert_eq!(
            (clone3["action"].clone(), clone3["errnoRet"].clone()),
            (json!("SCMP_ACT_ERRNO"), json!(38))
        );
        // socket: everything but AF_ALG (38) and AF_VSOCK (40).
        let socket: Vec<_> = rules
            .iter()
            .filter(|r| r["names"] == json!(["socket"]))
            .map(|r| r["args"][0].clone())
            .collect();
        assert_eq!(socket.len(), 3);
        assert!(
            socket.contains(&json!({"index": 0, "value": 38, "valueTwo": 0, "op": "SCMP_CMP_LT"}))
        );
        assert!(
            socket.contains(&json!({"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_GT"}))
        );

        let admin = default_seccomp(&names_of(&[
            "CAP_SYS_ADMIN",
            "CAP_SYS_MODULE",
            "CAP_SYS_TIME",
            "CAP_SYS_PTRACE",
            "CAP_DAC_READ_SEARCH",
            "CAP_SYS_BOOT",
        ]));
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "init_module",
            "settimeofday",
            "kcmp",
            "open_by_handle_at",
            "reboot",
        ] {
            assert!(
                allowed(&admin, name),
                "{name} not allowed with its capability"
            );
        }
        let v = serde_json::to_value(&admin).unwrap();
        assert!(!v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "SCMP_ACT_ERRNO"));
    }

    #[test]
    fn the_profile_compiles_with_libseccomp() {
        berth_runtime::seccomp::SeccompProgram::compile(&default_seccomp(&[])).unwrap();
        let all: Vec<String> = (0..64)
            .filter_map(berth_runtime::caps::name)
            .map(str::to_string)
            .collect();
        berth_runtime::seccomp::SeccompProgram::compile(&default_seccomp(&all)).unwrap();
    }

    #[test]
    fn dockers_extended_format_is_resolved() {
        let text = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "io"},
                {"name": "chmod", "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}}
            ]
        }"#;
        let p = load_profile(text, &names_of(&["CAP_CHOWN"])).unwrap();
        assert!(allowed(&p, "read") && allowed(&p, "chmod") && allowed(&p, "ptrace"));
        assert!(!allowed(&p, "mount"));
        assert_eq!(
            serde_json::to_value(&p).unwrap()["architectures"]
                .as_array()
                .unwrap()
                .len(),
            native_architectures().len()
        );
        let p = load_profile(text, &names_of(&["CAP_SYS_ADMIN"])).unwrap();
        assert!(allowed(&p, "mount"));
        assert!(!serde_json::to_value(&p).unwrap()["syscalls"]
            .to_string()
            .contains("clone3"));

        // A plain OCI profile passes through; bad ones are named.
        let p = load_profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#, &[]).unwrap();
        assert_eq!(p.syscalls().as_ref().unwrap().len(), 1);
        let e = load_profile(r#"{"defaultAction":"SCMP_ACT_FOO"}"#, &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid seccomp profile") && e.contains("SCMP_ACT_FOO"),
            "{e}"
        );
        assert!(load_profile("not json", &[]).is_err());
        assert!(load_profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","bogus":1}"#, &[]).is_err());
    }
}
