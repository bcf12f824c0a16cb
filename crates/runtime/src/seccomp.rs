//! `linux.seccomp` compiled to a BPF program before the clone.

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {}
