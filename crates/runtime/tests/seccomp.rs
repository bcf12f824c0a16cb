//! Installs compiled seccomp programs in forked children and checks what the kernel does.
//!
//! The child only makes system calls on data prepared before the fork (as the runtime's child does
//! between clone and exec) and reports through its exit code. Needs no root: the child sets
//! no_new_privs before installing.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_runtime::seccomp::SeccompProgram;
use serde_json::json;

/// Exit codes the child uses to say which step went wrong.
const INSTALL_FAILED: i32 = 90;

fn program(profile: serde_json::Value) -> SeccompProgram {
    SeccompProgram::compile(&serde_json::from_value(profile).unwrap()).unwrap()
}

fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// The raw syscall's result: Ok or the errno it failed with.
fn check(ret: libc::c_long) -> Result<(), i32> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

fn mkdirat(path: &CString, mode: libc::mode_t) -> Result<(), i32> {
    // SAFETY: path is a valid C string that outlives the call.
    check(unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), mode) })
}

fn mkdir(path: &CString) -> Result<(), i32> {
    // SAFETY: as above.
    check(unsafe { libc::syscall(libc::SYS_mkdir, path.as_ptr(), 0o755 as libc::mode_t) })
}

fn symlink(target: &CString, link: &CString) -> Result<(), i32> {
    // SAFETY: as above.
    check(unsafe {
        libc::syscall(
            libc::SYS_symlinkat,
            target.as_ptr(),
            libc::AT_FDCWD,
            link.as_ptr(),
        )
    })
}

/// Forks; the child sets no_new_privs, installs `prog` (unless `None`), runs `body` and exits with
/// its code. Returns that code.
fn in_child(prog: Option<&SeccompProgram>, body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only makes system calls on memory prepared before the fork, then _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: prctl and _exit are async-signal-safe.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(INSTALL_FAILED);
            }
            if let Some(prog) = prog {
                if let Err(e) = prog.install() {
                    libc::_exit(INSTALL_FAILED + e.min(9));
                }
            }
            libc::_exit(body());
        }
    }
    let mut status = 0;
    // SAFETY: pid is our child.
    let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(ret, pid, "waitpid: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status),
        "child did not exit normally: status {status:#x}"
    );
    libc::WEXITSTATUS(status)
}

/// mkdirat and mkdir must fail with `expected`, symlinkat (not in the profile) must work.
fn deny_mkdir_body(dir: &Path, expected: i32) -> impl FnOnce() -> i32 {
    let (a, b, c) = (
        cpath(&dir.join("a")),
        cpath(&dir.join("b")),
        cpath(&dir.join("c")),
    );
    let target = CString::new("a").unwrap();
    move || {
        if mkdirat(&a, 0o755) != Err(expected) {
            return 1;
        }
        if mkdir(&b) != Err(expected) {
            return 2;
        }
        if symlink(&target, &c).is_err() {
            return 3;
        }
        0
    }
}

#[test]
fn listed_syscalls_are_denied_with_eperm_and_others_work() {
    let prog = program(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]
    }));
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        in_child(Some(&prog), deny_mkdir_body(dir.path(), libc::EPERM)),
        0
    );
    assert!(!dir.path().join("a").exists() && !dir.path().join("b").exists());
    assert!(
        dir.path().join("c").symlink_metadata().is_ok(),
        "symlinkat should have worked"
    );

    // Control: the same child without the filter does create the directory.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(in_child(None, deny_mkdir_body(dir.path(), libc::EPERM)), 1);
    assert!(dir.path().join("a").is_dir());
}

#[test]
fn a_custom_errno_ret_is_returned() {
    let prog = program(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [
            {"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}
        ]
    }));
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        in_child(Some(&prog), deny_mkdir_body(dir.path(), libc::EXDEV)),
        0
    );
    assert!(!dir.path().join("a").exists());
}

#[test]
fn an_allow_list_denies_everything_else_with_the_default_errno() {
    let prog = program(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::ENXIO,
        "syscalls": [{"names": ["exit_group", "exit", "mkdirat"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let dir = tempfile::tempdir().unwrap();
    let allowed = cpath(&dir.path().join("allowed"));
    let code = in_child(Some(&prog), move || {
        // SAFETY: getppid has no arguments.
        if check(unsafe { libc::syscall(libc::SYS_getppid) }) != Err(libc::ENXIO) {
            return 1;
        }
        if mkdirat(&allowed, 0o700).is_err() {
            return 2;
        }
        0
    });
    assert_eq!(code, 0);
    assert!(dir.path().join("allowed").is_dir());
}

#[test]
fn argument_conditions_select_the_calls_denied() {
    // Deny mkdirat only when the mode grants write to "other": (mode & 0o002) == 0o002.
    let prog = program(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 2, "value": 0o002, "valueTwo": 0o002, "op": "SCMP_CMP_MASKED_EQ"}
        ]}]
    }));
    let dir = tempfile::tempdir().unwrap();
    let (open, private) = (
        cpath(&dir.path().join("open")),
        cpath(&dir.path().join("private")),
    );
    let code = in_child(Some(&prog), move || {
        if mkdirat(&open, 0o777) != Err(libc::EPERM) {
            return 1;
        }
        if mkdirat(&private, 0o700).is_err() {
            return 2;
        }
        0
    });
    assert_eq!(code, 0);
    assert!(!dir.path().join("open").exists());
    assert!(dir.path().join("private").is_dir());
}

#[test]
fn a_denied_action_can_kill_the_process() {
    let prog = program(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]
    }));
    let dir = tempfile::tempdir().unwrap();
    let path = cpath(&dir.path().join("x"));
    // SAFETY: as in in_child; the child dies in mkdirat or exits 1.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if prog.install().is_err() {
                libc::_exit(INSTALL_FAILED);
            }
            let _ = mkdirat(&path, 0o755);
            libc::_exit(1);
        }
    }
    let mut status = 0;
    // SAFETY: pid is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFSIGNALED(status), "status {status:#x}");
    assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
    assert!(!dir.path().join("x").exists());
}
