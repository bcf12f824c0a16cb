//! `linux.seccomp` compiled to a BPF program before the clone.
//!
//! The runtime's rule is "between clone and exec: system calls only, no allocation", so the work is
//! split in two:
//!
//! - [`SeccompProgram::compile`] runs in the parent. It feeds the OCI profile to libseccomp, exports
//!   the resulting classic-BPF program and keeps it as a `Vec<libc::sock_filter>`, together with the
//!   `SECCOMP_FILTER_FLAG_*` bits the profile asked for.
//! - [`SeccompProgram::install`] runs in the child. It only borrows that data and makes the
//!   `seccomp(2)` system call (or `prctl(2)` on kernels without it), so it is async-signal-safe.
//!
//! Mapping choices, matching what runc does with the same profile:
//!
//! - a syscall name libseccomp cannot resolve on this architecture is skipped (Docker's default
//!   profile lists syscalls of every architecture and kernel version); the skipped names are kept
//!   in [`SeccompProgram::skipped_syscalls`] for diagnostics;
//! - a rule whose action equals the default action is skipped (it would change nothing, and
//!   libseccomp refuses it);
//! - the native architecture is always in the filter, `architectures` adds more;
//! - `args` of one entry are AND-ed into one rule, unless two of them name the same argument
//!   index, in which case each becomes a rule of its own (OR), since one rule cannot test the same
//!   argument twice;
//! - for `SCMP_CMP_MASKED_EQ`, `value` is the mask and `valueTwo` the value compared with;
//! - `errnoRet`/`defaultErrnoRet` default to `EPERM`.
//!
//! Refused rather than ignored: `SCMP_ACT_NOTIFY`, `listenerPath`, `listenerMetadata` and the
//! `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` flag (there is no seccomp agent support yet), an
//! architecture or flag this libseccomp or berth cannot handle, an argument index above 5, an errno
//! that does not fit 16 bits, an `errnoRet` on an action that returns no errno.
//!
//! Not done: runc's patching of the program so that syscalls newer than the profile get `ENOSYS`
//! instead of the default action.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The kernel refuses classic-BPF programs longer than this (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = libc::BPF_MAXINSNS as usize;

/// Highest syscall argument index a seccomp filter can test.
const MAX_ARG_INDEX: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A string the profile format does not know, e.g. `"SCMP_ACT_FOO"`.
    #[error("{field}: unknown {kind} {value:?}")]
    Unknown {
        field: String,
        kind: &'static str,
        value: String,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{field}: {what} is not supported yet")]
    Unsupported { field: String, what: String },
    #[error("{field}: libseccomp refused {what}: {source}")]
    Libseccomp {
        field: String,
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("linux.seccomp: exporting the bpf program: {0}")]
    Export(#[source] std::io::Error),
    #[error(
        "linux.seccomp: the compiled bpf program has {0} instructions, the kernel accepts at most {MAX_INSTRUCTIONS}"
    )]
    TooLong(usize),
}

/// A seccomp filter compiled to classic BPF, ready to be installed with [`SeccompProgram::install`].
pub struct SeccompProgram {
    filter: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    skipped: Vec<String>,
}

impl fmt::Debug for SeccompProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeccompProgram")
            .field("instructions", &self.filter.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl SeccompProgram {
    /// Parses a raw `linux.seccomp` JSON object and compiles it.
    ///
    /// Unlike deserializing the whole spec with serde, every unknown string is reported with its
    /// field, e.g. `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
    pub fn compile_json(value: &serde_json::Value) -> Result<Self, SeccompError> {
        Self::compile(&parse_json(value)?)
    }

    /// Compiles an OCI seccomp profile with libseccomp. Runs in the parent, before the clone.
    pub fn compile(seccomp: &LinuxSeccomp) -> Result<Self, SeccompError> {
        if let Some(path) = seccomp.listener_path() {
            return Err(SeccompError::Unsupported {
                field: "linux.seccomp.listenerPath".into(),
                what: format!("a seccomp agent ({})", path.display()),
            });
        }
        if seccomp.listener_metadata().is_some() {
            return Err(SeccompError::Unsupported {
                field: "linux.seccomp.listenerMetadata".into(),
                what: "a seccomp agent".into(),
            });
        }
        let flags = filter_flags(seccomp.flags().as_deref().unwrap_or_default())?;
        let default_action = action(
            "linux.seccomp.defaultAction",
            "linux.seccomp.defaultErrnoRet",
            seccomp.default_action(),
            seccomp.default_errno_ret(),
        )?;
        let mut ctx =
            ScmpFilterContext::new(default_action).map_err(|source| SeccompError::Libseccomp {
                field: "linux.seccomp.defaultAction".into(),
                what: format!("default action {}", name(&seccomp.default_action())),
                source,
            })?;
        for (i, arch) in seccomp.architectures().iter().flatten().enumerate() {
            let field = format!("linux.seccomp.architectures[{i}]");
            ctx.add_arch(scmp_arch(*arch))
                .map_err(|source| SeccompError::Libseccomp {
                    field,
                    what: format!("architecture {}", name(arch)),
                    source,
                })?;
        }

        let mut skipped = Vec::new();
        for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
            let field = format!("linux.seccomp.syscalls[{i}]");
            let act = action(
                &format!("{field}.action"),
                &format!("{field}.errnoRet"),
                rule.action(),
                rule.errno_ret(),
            )?;
            let conditions = rule_conditions(&field, rule.args().as_deref().unwrap_or_default())?;
            if rule.names().is_empty() {
                return Err(SeccompError::Invalid {
                    field: format!("{field}.names"),
                    reason: "no syscall names".into(),
                });
            }
            if act == default_action {
                continue;
            }
            for syscall_name in rule.names() {
                let Ok(syscall) = ScmpSyscall::from_name(syscall_name) else {
                    skipped.push(syscall_name.clone());
                    continue;
                };
                for condition in &conditions {
                    ctx.add_rule_conditional(act, syscall, condition)
                        .map_err(|source| SeccompError::Libseccomp {
                            field: field.clone(),
                            what: format!("the rule for {syscall_name:?}"),
                            source,
                        })?;
                }
            }
        }

        let filter = export(&ctx)?;
        Ok(SeccompProgram {
            filter,
            flags,
            skipped,
        })
    }

    /// The compiled program.
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.filter
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits `install` passes to `seccomp(2)`.
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// Syscall names of the profile that libseccomp does not know on this architecture.
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// Installs the filter on the calling thread (and, with `SECCOMP_FILTER_FLAG_TSYNC`, on all
    /// threads of the process). Returns the errno on failure.
    ///
    /// Async-signal-safe: no allocation, no locks, only the `seccomp(2)` (or, for a flag-less
    /// program on a kernel without it, `prctl(PR_SET_SECCOMP)`) system call on data owned by
    /// `self`, so it may run between clone/fork and exec.
    ///
    /// The caller must have set `prctl(PR_SET_NO_NEW_PRIVS, 1)` or hold `CAP_SYS_ADMIN` in its user
    /// namespace, otherwise the kernel answers `EACCES`. With TSYNC, a thread that cannot be
    /// synchronized makes this return `ESRCH`.
    pub fn install(&self) -> Result<(), i32> {
        let prog = libc::sock_fprog {
            // compile() guarantees len <= MAX_INSTRUCTIONS, which fits u16.
            len: self.filter.len() as libc::c_ushort,
            filter: self.filter.as_ptr().cast_mut(),
        };
        let prog_ptr: *const libc::sock_fprog = &prog;
        // SAFETY: prog points to self.filter, which outlives the call; the kernel copies it.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                self.flags,
                prog_ptr,
            )
        };
        if ret == 0 {
            return Ok(());
        }
        if ret > 0 {
            // With TSYNC the kernel returns the id of a thread it could not synchronize.
            return Err(libc::ESRCH);
        }
        let errno = last_errno();
        if errno != libc::ENOSYS || self.flags != 0 {
            return Err(errno);
        }
        // SAFETY: as above; PR_SET_SECCOMP takes the mode and a pointer to the program.
        let ret = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                prog_ptr,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if ret == 0 {
            Ok(())
        } else {
            Err(last_errno())
        }
    }
}

/// Validates a raw `linux.seccomp` JSON object field by field, then deserializes it.
pub fn parse_json(value: &serde_json::Value) -> Result<LinuxSeccomp, SeccompError> {
    const ROOT: &str = "linux.seccomp";
    let obj = value.as_object().ok_or_else(|| SeccompError::Invalid {
        field: ROOT.into(),
        reason: "not a JSON object".into(),
    })?;
    check_enum::<LinuxSeccompAction>(
        &format!("{ROOT}.defaultAction"),
        "action",
        obj.get("defaultAction"),
    )?;
    let archs = array(&format!("{ROOT}.architectures"), obj.get("architectures"))?;
    for (i, item) in archs.iter().enumerate() {
        let field = format!("{ROOT}.architectures[{i}]");
        check_enum::<Arch>(&field, "architecture", Some(item))?;
    }
    for (i, item) in array(&format!("{ROOT}.flags"), obj.get("flags"))?
        .iter()
        .enumerate()
    {
        check_enum::<LinuxSeccompFilterFlag>(&format!("{ROOT}.flags[{i}]"), "flag", Some(item))?;
    }
    for (i, rule) in array(&format!("{ROOT}.syscalls"), obj.get("syscalls"))?
        .iter()
        .enumerate()
    {
        let field = format!("{ROOT}.syscalls[{i}]");
        check_enum::<LinuxSeccompAction>(&format!("{field}.action"), "action", rule.get("action"))?;
        for (j, arg) in array(&format!("{field}.args"), rule.get("args"))?
            .iter()
            .enumerate()
        {
            check_enum::<LinuxSeccompOperator>(
                &format!("{field}.args[{j}].op"),
                "operator",
                arg.get("op"),
            )?;
        }
    }
    serde_json::from_value(value.clone()).map_err(|e| SeccompError::Invalid {
        field: ROOT.into(),
        reason: e.to_string(),
    })
}

fn array<'a>(
    field: &str,
    value: Option<&'a serde_json::Value>,
) -> Result<&'a [serde_json::Value], SeccompError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(&[]),
        Some(serde_json::Value::Array(items)) => Ok(items),
        Some(_) => Err(SeccompError::Invalid {
            field: field.into(),
            reason: "not an array".into(),
        }),
    }
}

fn check_enum<T: DeserializeOwned>(
    field: &str,
    kind: &'static str,
    value: Option<&serde_json::Value>,
) -> Result<(), SeccompError> {
    let Some(value) = value else {
        // Absent optional fields take their default; required ones fail in the final parse.
        return Ok(());
    };
    let Some(s) = value.as_str() else {
        return Err(SeccompError::Invalid {
            field: field.into(),
            reason: "not a string".into(),
        });
    };
    serde_json::from_value::<T>(value.clone())
        .map(|_| ())
        .map_err(|_| SeccompError::Unknown {
            field: field.into(),
            kind,
            value: s.into(),
        })
}

/// The profile spelling of an enum value (`SCMP_ACT_ALLOW`, `SCMP_ARCH_X86_64`…).
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".into(),
    }
}

fn errno_value(field: &str, errno: Option<u32>) -> Result<i32, SeccompError> {
    match errno {
        None => Ok(libc::EPERM),
        Some(n) if n <= u32::from(u16::MAX) => Ok(n as i32),
        Some(n) => Err(SeccompError::Invalid {
            field: field.into(),
            reason: format!("{n} does not fit the 16 bits seccomp returns"),
        }),
    }
}

fn action(
    field: &str,
    errno_field: &str,
    action: LinuxSeccompAction,
    errno: Option<u32>,
) -> Result<ScmpAction, SeccompError> {
    let takes_errno = matches!(
        action,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    );
    if errno.is_some() && !takes_errno {
        return Err(SeccompError::Invalid {
            field: errno_field.into(),
            reason: format!(
                "only meaningful with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {}",
                name(&action)
            ),
        });
    }
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno_value(errno_field, errno)?),
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(errno_value(errno_field, errno)? as u16)
        }
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Unsupported {
                field: field.into(),
                what: "SCMP_ACT_NOTIFY (seccomp agents)".into(),
            })
        }
    })
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> Result<libc::c_ulong, SeccompError> {
    let mut bits = 0;
    for (i, flag) in flags.iter().enumerate() {
        bits |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(SeccompError::Unsupported {
                    field: format!("linux.seccomp.flags[{i}]"),
                    what: "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (seccomp agents)".into(),
                })
            }
        };
    }
    Ok(bits)
}

/// The argument conditions of one profile entry, as the list of rules to add per syscall.
fn rule_conditions(
    field: &str,
    args: &[LinuxSeccompArg],
) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let mut compares = Vec::with_capacity(args.len());
    let mut seen = HashSet::new();
    let mut repeated = false;
    for (j, arg) in args.iter().enumerate() {
        if arg.index() > MAX_ARG_INDEX {
            return Err(SeccompError::Invalid {
                field: format!("{field}.args[{j}].index"),
                reason: format!(
                    "{} is above {MAX_ARG_INDEX}, the last syscall argument",
                    arg.index()
                ),
            });
        }
        repeated |= !seen.insert(arg.index());
        let (op, datum) = match arg.op() {
            LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
            LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
            LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
            LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
            LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
            LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
            LinuxSeccompOperator::ScmpCmpMaskedEq => (
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            ),
        };
        compares.push(ScmpArgCompare::new(arg.index() as u32, op, datum));
    }
    Ok(if repeated {
        compares.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![compares]
    })
}

/// Exports the filter into a memfd and decodes the `sock_filter` array.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    // SAFETY: the name is a valid C string; memfd_create has no other preconditions.
    let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(SeccompError::Export(std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just created and is owned by nobody else.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file).map_err(|e| {
        SeccompError::Export(std::io::Error::other(format!("libseccomp export_bpf: {e}")))
    })?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .map_err(SeccompError::Export)?;
    file.read_to_end(&mut bytes).map_err(SeccompError::Export)?;
    let filter = decode(&bytes)?;
    if filter.len() > MAX_INSTRUCTIONS {
        return Err(SeccompError::TooLong(filter.len()));
    }
    Ok(filter)
}

fn decode(bytes: &[u8]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    const SIZE: usize = std::mem::size_of::<libc::sock_filter>();
    let chunks = bytes.chunks_exact(SIZE);
    if bytes.is_empty() || !chunks.remainder().is_empty() {
        return Err(SeccompError::Export(std::io::Error::other(format!(
            "libseccomp exported {} bytes, not a whole number of {SIZE}-byte instructions",
            bytes.len()
        ))));
    }
    Ok(chunks
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

fn last_errno() -> i32 {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

mod cache;

#[cfg(test)]
mod tests;
