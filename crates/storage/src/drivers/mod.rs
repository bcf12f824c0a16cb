//! The storage drivers.
pub mod btrfs;
pub mod copy;
pub mod overlay;
pub mod vfs;
