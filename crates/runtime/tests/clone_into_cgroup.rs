//! clone3's CLONE_INTO_CGROUP, the cgroup v2 path that spares the cgroup.procs write, against
//! the host's real cgroup2 mount (on this hybrid machine, /sys/fs/cgroup/unified).

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use berth_cgroups::{CgroupManager, HostLayout, V2Manager};
use berth_runtime::init::sys;
use berth_testutil::{require_root, unique_name};

fn cgroup2_mount() -> PathBuf {
    match berth_cgroups::host_layout().unwrap() {
        HostLayout::Unified { mount_point } => mount_point,
        HostLayout::V1 {
            unified: Some(p), ..
        } => p,
        HostLayout::V1 { unified: None, .. } => {
            panic!("no cgroup2 mount on this host: mount -t cgroup2 none /sys/fs/cgroup/unified")
        }
    }
}

#[test]
fn the_child_starts_inside_the_v2_cgroup() {
    require_root();
    let name = unique_name("v2clone");
    let cg = V2Manager::new(cgroup2_mount(), std::slice::from_ref(&name));
    struct Remove<'a>(&'a V2Manager);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = self.0.remove();
        }
    }
    cg.create().unwrap();
    let _remove = Remove(&cg);
    let fd = cg.clone_into_fd().unwrap().expect("v2 gives a cgroup fd");
    let mut pipe = [0; 2];
    // SAFETY: pipe2 fills the array.
    assert_eq!(
        unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) },
        0
    );

    // SAFETY: fork semantics; the child only makes system calls on stack buffers, then exits.
    let pid = unsafe { sys::clone3(0, Some(fd.as_raw_fd())) };
    if pid == 0 {
        unsafe {
            let mut buf = [0u8; 512];
            let f = libc::open(c"/proc/self/cgroup".as_ptr(), libc::O_RDONLY);
            let n = libc::read(f, buf.as_mut_ptr().cast(), buf.len());
            libc::write(pipe[1], buf.as_ptr().cast(), n.max(0) as usize);
            libc::_exit(0);
        }
    }
    assert!(pid > 0, "clone3: {}", std::io::Error::last_os_error());
    sys::close(pipe[1]);
    let mut out = [0u8; 512];
    let n = sys::read_full(pipe[0], &mut out);
    sys::close(pipe[0]);
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    let text = String::from_utf8_lossy(&out[..n.max(0) as usize]).into_owned();
    assert!(
        text.lines().any(|l| l == format!("0::/{name}")),
        "child's cgroups:\n{text}"
    );
}
