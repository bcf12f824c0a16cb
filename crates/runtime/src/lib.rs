//! berth's container runtime: an OCI bundle (config.json + rootfs) becomes a process isolated by
//! namespaces and limited by cgroups.
//!
//! [`OciRuntime`] is the one interface the rest of berth sees. [`builtin::Builtin`] implements it
//! in-process; [`external::External`] drives an OCI runtime binary such as runc.

pub mod api;
pub mod builtin;
pub mod console;
pub mod error;
pub mod exec;
pub mod external;
pub mod fsutil;
pub mod seccomp;
pub mod shim;

pub use api::{CreateOptions, OciRuntime, State, Status};
pub use error::RuntimeError;
pub mod caps;
pub mod init;
pub mod os;
pub mod spec;

impl RuntimeError {
    /// The exit status `docker run` uses for this failure, where it has one (127, 126).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            RuntimeError::Init(e) => e.exit_code(),
            _ => None,
        }
    }
}
