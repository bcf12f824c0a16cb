#!/usr/bin/env python3
"""How long moving a process into a fresh cgroup takes on this kernel: the median of a few
`cgroup.procs` writes, each after a pause that lets the kernel's cgroup migration lock fall back
to its reader-fast mode.

Every container start of every engine makes such a move (runc, containerd and berth on cgroup v1;
on v2 berth clones straight into the cgroup). A kernel in its default mode waits out an RCU grace
period at the first move after a pause (8-15 ms was measured on the development machine); one
where any cgroup hierarchy was ever mounted with `favordynmods` answers in well under a
millisecond. bench/run.sh prints this beside its numbers, so that results from machines in
different modes are not compared as if they were alike.

Usage: bench/cgroup_attach.py [CGROUP_DIR]   (root; default: a temp cgroup under the v1 cpu
hierarchy, or under the cgroup2 root when there is no v1 cpu hierarchy)
"""
import os
import statistics
import sys
import time


def default_base():
    for candidate in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(candidate, "cgroup.procs")):
            return os.path.join(candidate, f"berth-bench-attach-{os.getpid()}")
    sys.exit("cgroup_attach: no cgroup hierarchy found under /sys/fs/cgroup")


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else default_base()
    os.mkdir(base)
    times = []
    try:
        for i in range(9):
            time.sleep(0.05)
            child = os.fork()
            if child == 0:
                time.sleep(5)
                os._exit(0)
            group = os.path.join(base, f"c{i}")
            os.mkdir(group)
            start = time.perf_counter()
            with open(os.path.join(group, "cgroup.procs"), "w") as f:
                f.write(str(child))
            times.append((time.perf_counter() - start) * 1000)
            os.kill(child, 9)
            os.waitpid(child, 0)
            os.rmdir(group)
    finally:
        for name in os.listdir(base) if os.path.isdir(base) else []:
            path = os.path.join(base, name)
            if os.path.isdir(path):
                os.rmdir(path)
        os.rmdir(base)
    print(f"{statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
