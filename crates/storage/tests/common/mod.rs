//! Helpers shared by the storage crate's integration tests (`mod common;` in a test file).
#![allow(dead_code)]

pub mod loopfs;

#[allow(unused_imports)]
pub use loopfs::{FsKind, LoopFs};
