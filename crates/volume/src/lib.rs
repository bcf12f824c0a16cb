//! berth's volumes: the local driver's named volumes, the mount specs a container asks for, and
//! copy-up of image content into a fresh volume.
//!
//! - [`store`]: `<data-root>/volumes/<name>/_data` plus a metadata file per volume; driver
//!   options (`type`/`device`/`o`) become a mount of `_data`, counted so it happens once.
//! - [`spec`]: HostConfig.Binds, HostConfig.Mounts, HostConfig.Tmpfs, Config.Volumes, the image's
//!   VOLUME list and `--volumes-from` normalized into one [`spec::MountPoint`] list, validated
//!   with Docker's messages, and turned into OCI mount entries.
//! - [`copyup`]: fills an empty volume with what the image had at its destination.
//!
//! Nothing here knows about containers or HTTP: the daemon says who uses what.

pub mod copyup;
pub mod error;
mod localmount;
mod names;
pub mod spec;
pub mod store;
mod tmpfs;

pub use error::{ErrorKind, VolumeError};
pub use names::{generate_name, validate_name};
pub use spec::{MountKind, MountPoint, OciMount, Propagation, SpecInput};
pub use store::{Volume, VolumeStore};
pub use tmpfs::merge as merge_tmpfs_options;

pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

/// The label Docker puts on anonymous volumes; `volume prune` without `all` removes only these.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
