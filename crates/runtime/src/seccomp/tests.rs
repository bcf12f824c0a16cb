//! Unit tests: programs are checked by running them in a small cBPF interpreter.
use super::*;
use serde_json::json;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_LOG: u32 = 0x7ffc_0000;

fn profile(value: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(value).unwrap()
}

fn compile(value: serde_json::Value) -> SeccompProgram {
    SeccompProgram::compile(&profile(value)).unwrap()
}

fn compile_err(value: serde_json::Value) -> String {
    SeccompProgram::compile_json(&value)
        .unwrap_err()
        .to_string()
}

/// Runs the classic-BPF program on a `struct seccomp_data` the way the kernel would, for the
/// subset of instructions libseccomp emits.
fn run(prog: &SeccompProgram, arch: u32, nr: i32, args: [u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for a in args {
        data.extend_from_slice(&a.to_ne_bytes());
    }
    let insns = prog.instructions();
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let i = insns[pc];
        pc += 1;
        let class = i.code & 0x07;
        match class {
            0x00 => {
                assert_eq!(i.code, 0x20, "only BPF_LD|BPF_W|BPF_ABS is expected");
                let k = i.k as usize;
                acc = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
            }
            0x04 => {
                assert_eq!(i.code & 0xf0, 0x50, "only BPF_ALU|BPF_AND is expected");
                acc &= i.k;
            }
            0x05 => {
                let taken = match i.code & 0xf0 {
                    0x00 => {
                        pc += i.k as usize;
                        continue;
                    }
                    0x10 => acc == i.k,
                    0x20 => acc > i.k,
                    0x30 => acc >= i.k,
                    0x40 => acc & i.k != 0,
                    op => panic!("unexpected jump op {op:#x}"),
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            0x06 => return i.k,
            _ => panic!("unexpected instruction {:#x}", i.code),
        }
    }
}

fn nr(name: &str) -> i32 {
    ScmpSyscall::from_name(name).unwrap().as_raw_syscall()
}

#[test]
fn listed_syscalls_get_their_action_and_others_the_default() {
    let prog = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
        ]
    }));
    let arch = AUDIT_ARCH_X86_64;
    assert_eq!(
        run(&prog, arch, nr("mkdirat"), [0; 6]),
        RET_ERRNO | libc::EPERM as u32
    );
    assert_eq!(
        run(&prog, arch, nr("mkdir"), [0; 6]),
        RET_ERRNO | libc::EPERM as u32
    );
    assert_eq!(run(&prog, arch, nr("chroot"), [0; 6]), RET_ERRNO | 38);
    assert_eq!(run(&prog, arch, nr("reboot"), [0; 6]), RET_KILL_PROCESS);
    assert_eq!(run(&prog, arch, nr("getpid"), [0; 6]), RET_LOG);
    assert_eq!(run(&prog, arch, nr("rmdir"), [0; 6]), RET_ALLOW);
    assert_eq!(prog.flags(), 0);
    assert!(prog.skipped_syscalls().is_empty());
}

#[test]
fn default_errno_ret_and_foreign_architectures() {
    let prog = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 6,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["read", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr("read"), [0; 6]), RET_ALLOW);
    assert_eq!(
        run(&prog, AUDIT_ARCH_X86_64, nr("write"), [0; 6]),
        RET_ERRNO | 6
    );
    // read is syscall 3 on i386: the x86 section of the program must allow it.
    assert_eq!(run(&prog, AUDIT_ARCH_I386, 3, [0; 6]), RET_ALLOW);
    assert_eq!(run(&prog, AUDIT_ARCH_I386, 4, [0; 6]), RET_ERRNO | 6);
    // An architecture that is not in the filter is killed.
    let ret = run(&prog, 0xc000_00b7, nr("read"), [0; 6]);
    assert!(
        ret != RET_ALLOW && ret & 0xffff_0000 != RET_ERRNO,
        "{ret:#x}"
    );
}

#[test]
fn args_are_anded_and_masked_eq_uses_value_as_mask() {
    let prog = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 2, "value": 0o007, "valueTwo": 0o005, "op": "SCMP_CMP_MASKED_EQ"},
                {"index": 0, "value": 100, "op": "SCMP_CMP_GT"}
            ]},
        ]
    }));
    let a = AUDIT_ARCH_X86_64;
    let mkdirat = nr("mkdirat");
    let denied = RET_ERRNO | libc::EPERM as u32;
    assert_eq!(run(&prog, a, mkdirat, [101, 0, 0o755, 0, 0, 0]), denied);
    assert_eq!(run(&prog, a, mkdirat, [101, 0, 0o777, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run(&prog, a, mkdirat, [100, 0, 0o755, 0, 0, 0]), RET_ALLOW);
}

#[test]
fn args_on_the_same_index_are_ored() {
    let prog = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}
        ]}]
    }));
    let p = nr("personality");
    let denied = RET_ERRNO | libc::EPERM as u32;
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, p, [8, 0, 0, 0, 0, 0]), denied);
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, p, [9, 0, 0, 0, 0, 0]), denied);
    assert_eq!(
        run(&prog, AUDIT_ARCH_X86_64, p, [10, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
}

#[test]
fn unknown_names_and_rules_equal_to_the_default_are_skipped() {
    let prog = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["no_such_syscall_berth", "read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write"], "action": "SCMP_ACT_ERRNO"}
        ]
    }));
    assert_eq!(prog.skipped_syscalls(), ["no_such_syscall_berth"]);
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr("read"), [0; 6]), RET_ALLOW);
    assert_eq!(
        run(&prog, AUDIT_ARCH_X86_64, nr("write"), [0; 6]),
        RET_ERRNO | libc::EPERM as u32
    );
}

#[test]
fn flags_are_mapped() {
    let prog = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                  "SECCOMP_FILTER_FLAG_TSYNC"]
    }));
    assert_eq!(
        prog.flags(),
        libc::SECCOMP_FILTER_FLAG_LOG
            | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            | libc::SECCOMP_FILTER_FLAG_TSYNC
    );
}

#[test]
fn unknown_strings_name_their_field() {
    let read = json!({"names": ["read"], "action": "SCMP_ACT_ALLOW"});
    let rules =
        |last| json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [read, read, read, last]});
    let cases = [
        (
            rules(json!({"names": ["read"], "action": "SCMP_ACT_FOO"})),
            r#"linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO""#,
        ),
        (
            rules(json!({"names": ["read"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SORTA"}]})),
            r#"linux.seccomp.syscalls[3].args[0].op: unknown operator "SCMP_CMP_SORTA""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOPE"}),
            r#"linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]}),
            r#"linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_SHINY"]}),
            r#"linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_SHINY""#,
        ),
    ];
    for (profile, expected) in cases {
        assert_eq!(compile_err(profile), expected);
    }
}

/// Asserts that compiling `value` fails with a message starting with `prefix`.
fn assert_refused(value: serde_json::Value, prefix: &str) {
    let err = compile_err(value);
    assert!(
        err.starts_with(prefix),
        "{err:?} should start with {prefix:?}"
    );
}

fn with_rule(rule: serde_json::Value) -> serde_json::Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
}

#[test]
fn notify_and_listeners_are_refused() {
    let notify = json!({"names": ["mount"], "action": "SCMP_ACT_NOTIFY"});
    let err = compile_err(with_rule(notify));
    assert!(err.ends_with("is not supported yet"), "{err}");
    assert!(err.starts_with("linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY"));
    assert_refused(
        json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY",
    );
    assert_refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}),
        "linux.seccomp.listenerPath: a seccomp agent (/run/agent.sock) is not supported",
    );
    assert_refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}),
        "linux.seccomp.listenerMetadata: a seccomp agent is not supported",
    );
    assert_refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}),
        "linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    );
}

#[test]
fn invalid_values_are_refused() {
    assert_refused(
        with_rule(json!({"names": ["read"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]})),
        "linux.seccomp.syscalls[0].args[0].index: 6 is above 5",
    );
    assert_refused(
        with_rule(json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000})),
        "linux.seccomp.syscalls[0].errnoRet: 70000 does not fit",
    );
    assert_refused(
        with_rule(json!({"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1})),
        "linux.seccomp.syscalls[0].errnoRet: only meaningful",
    );
    assert_refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
        "linux.seccomp.defaultErrnoRet: only meaningful",
    );
    assert_refused(
        with_rule(json!({"names": [], "action": "SCMP_ACT_ERRNO"})),
        "linux.seccomp.syscalls[0].names: no syscall names",
    );
    assert_refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": "read"}),
        "linux.seccomp.syscalls: not an array",
    );
    assert_refused(
        json!({"syscalls": []}),
        "linux.seccomp: missing field `defaultAction`",
    );
}

#[test]
fn a_profile_too_long_for_the_kernel_is_refused() {
    let rules: Vec<_> = (0..5000)
        .map(|i| {
            json!({"names": ["ioctl"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": i, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let err = SeccompProgram::compile(&profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}),
    ))
    .unwrap_err();
    assert!(
        matches!(err, SeccompError::TooLong(n) if n > MAX_INSTRUCTIONS),
        "{err}"
    );
}
