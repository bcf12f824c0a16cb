//! cgroup v1 and v2 behind one trait (see crate docs once written).
