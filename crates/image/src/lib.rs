//! Images over the layer store: content-addressed (the image ID is the sha256 of the config),
//! versioned by tag and digest, portable as docker-archive and OCI layout tars.

pub mod archive;
pub mod changes;
pub mod config;
pub mod content;
pub mod error;
pub mod ops;
pub mod reference;
pub mod store;

pub use berth_storage::layer::Digest;
pub use config::{ContainerConfig, History, ImageConfig, RootFs};
pub use content::ContentStore;
pub use error::ImageError;
pub use reference::Reference;
pub use store::{Image, ImageStore, ImageUser, Removed};

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
