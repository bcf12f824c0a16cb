//! Drives the real runc (Debian's /usr/sbin/runc) through `External`. Needs root.
//!
//! The test process is a child subreaper, so the container inits that `runc create` leaves behind
//! become its children and can be reaped with waitpid. Every container is force-deleted by a guard,
//! and its cgroup is `/<id>` (the id carries "berth") so leakcheck sees leftovers.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_runtime::external::External;
use berth_runtime::{CreateOptions, OciRuntime, RuntimeError, Status};
use berth_testutil::{require_root, unique_name, Bundle};
use oci_spec::runtime::LinuxNamespaceType;

const RUNC: &str = "/usr/sbin/runc";

/// One container under test; dropping it force-deletes the container, then removes the bundle and
/// runc's state root.
struct Container {
    rt: External,
    id: String,
    bundle: Bundle,
    _root: tempfile::TempDir,
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Err(e) = self.rt.delete(&self.id, true) {
            eprintln!("cleanup: deleting {}: {e}", self.id);
        }
    }
}

fn container(prefix: &str, args: &[&str]) -> Container {
    require_root();
    assert!(
        Path::new(RUNC).is_file(),
        "{RUNC} is required by this test: apt-get install runc"
    );
    // SAFETY: prctl with these arguments has no memory effects.
    let ret = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(
        ret,
        0,
        "PR_SET_CHILD_SUBREAPER: {}",
        std::io::Error::last_os_error()
    );
    let id = unique_name(prefix);
    let mut bundle = Bundle::busybox(args);
    let cgroup = PathBuf::from(format!("/{id}"));
    bundle.edit(|spec| {
        let mut linux = spec.linux().clone().unwrap();
        linux.set_cgroups_path(Some(cgroup));
        spec.set_linux(Some(linux));
    });
    let root = tempfile::Builder::new()
        .prefix("berth-runc-root-")
        .tempdir()
        .unwrap();
    Container {
        rt: External::new(RUNC, root.path()),
        id,
        bundle,
        _root: root,
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Waits for `pid` (a child of ours thanks to the subreaper bit) and returns its raw status.
fn wait(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(
        ret,
        pid,
        "waitpid {pid}: {}",
        std::io::Error::last_os_error()
    );
    status
}

fn start_sleeper(c: &Container) -> i32 {
    let pid =
        c.rt.create(&c.id, c.bundle.path(), CreateOptions::default())
            .unwrap();
    c.rt.start(&c.id).unwrap();
    assert_eq!(c.rt.state(&c.id).unwrap().status, Status::Running);
    pid
}

#[test]
fn create_start_wait_delete() {
    let c = container("ext-life", &["sh", "-c", "echo hi; exit 7"]);
    let (out, out_w) = pipe();
    let opts = CreateOptions {
        stdout: Some(out_w),
        ..Default::default()
    };
    let pid = c.rt.create(&c.id, c.bundle.path(), opts).unwrap();
    assert!(pid > 0);

    let state = c.rt.state(&c.id).unwrap();
    assert_eq!(state.status, Status::Created);
    assert_eq!(state.pid, pid);
    assert_eq!(state.id, c.id);
    assert_eq!(state.bundle, c.bundle.path());

    c.rt.start(&c.id).unwrap();
    let mut output = String::new();
    std::fs::File::from(out)
        .read_to_string(&mut output)
        .unwrap();
    assert_eq!(output, "hi\n");
    let status = wait(pid);
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 7);

    assert_eq!(c.rt.state(&c.id).unwrap().status, Status::Stopped);
    c.rt.delete(&c.id, false).unwrap();
    match c.rt.state(&c.id) {
        Err(RuntimeError::NotFound(id)) => assert_eq!(id, c.id),
        other => panic!("state after delete: {other:?}"),
    }
}

#[test]
fn sigterm_kills_the_init() {
    let mut c = container("ext-kill", &["sleep", "100"]);
    // In its own pid namespace, sleep would be an init without a SIGTERM handler, which the kernel
    // shields from the signal; in the host's it dies of it, the 128+15 a shell reports.
    c.bundle.edit(|spec| {
        let mut linux = spec.linux().clone().unwrap();
        let namespaces = linux.namespaces().clone().unwrap_or_default();
        let kept = namespaces
            .into_iter()
            .filter(|n| n.typ() != LinuxNamespaceType::Pid);
        linux.set_namespaces(Some(kept.collect()));
        spec.set_linux(Some(linux));
    });
    let pid = start_sleeper(&c);
    c.rt.kill(&c.id, libc::SIGTERM, false).unwrap();
    let status = wait(pid);
    assert!(libc::WIFSIGNALED(status), "status {status:#x}");
    assert_eq!(libc::WTERMSIG(status), libc::SIGTERM);
    assert_eq!(c.rt.state(&c.id).unwrap().status, Status::Stopped);
    c.rt.delete(&c.id, false).unwrap();
}

#[test]
fn pause_and_resume() {
    let c = container("ext-pause", &["sleep", "100"]);
    let pid = start_sleeper(&c);
    c.rt.pause(&c.id).unwrap();
    assert_eq!(c.rt.state(&c.id).unwrap().status, Status::Paused);
    c.rt.resume(&c.id).unwrap();
    assert_eq!(c.rt.state(&c.id).unwrap().status, Status::Running);
    c.rt.kill(&c.id, libc::SIGKILL, true).unwrap();
    let status = wait(pid);
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
}

#[test]
fn errors_carry_runcs_message() {
    let c = container("ext-twice", &["sleep", "100"]);
    let (_err_r, err_w) = pipe();
    let pid =
        c.rt.create(&c.id, c.bundle.path(), CreateOptions::default())
            .unwrap();
    let opts = CreateOptions {
        stderr: Some(err_w),
        ..Default::default()
    };
    let err =
        c.rt.create(&c.id, c.bundle.path(), opts)
            .unwrap_err()
            .to_string();
    assert_eq!(
        err,
        format!(
            "runc create {}: container with given ID already exists",
            c.id
        )
    );

    // Resuming a container that is not paused is refused with runc's own words.
    let err = c.rt.resume(&c.id).unwrap_err().to_string();
    assert!(err.starts_with(&format!("runc resume {}: ", c.id)), "{err}");
    assert!(err.contains("not paused"), "{err}");

    c.rt.delete(&c.id, true).unwrap();
    let status = wait(pid);
    assert!(libc::WIFSIGNALED(status), "status {status:#x}");
    assert!(matches!(
        c.rt.kill(&c.id, libc::SIGKILL, false),
        Err(RuntimeError::NotFound(_))
    ));
}

#[test]
fn an_unknown_binary_is_named() {
    let root = tempfile::tempdir().unwrap();
    let bundle = tempfile::tempdir().unwrap();
    let rt = External::new("/usr/bin/nope", root.path());
    let err = rt
        .create("berth-nope", bundle.path(), CreateOptions::default())
        .unwrap_err();
    assert_eq!(err.to_string(), "external runtime /usr/bin/nope not found");
    let err = rt.state("berth-nope").unwrap_err();
    assert_eq!(err.to_string(), "external runtime /usr/bin/nope not found");
}
