//! berth's container runtime: an OCI bundle (config.json + rootfs) becomes a process isolated by
//! namespaces and limited by cgroups.
//!
//! [`OciRuntime`] is the one interface the rest of berth sees. [`builtin::Builtin`] implements it
//! in-process; [`external::External`] drives an OCI runtime binary such as runc.

pub mod api;
pub mod error;
pub mod external;
pub mod seccomp;

pub use api::{CreateOptions, OciRuntime, State, Status};
pub use error::RuntimeError;
