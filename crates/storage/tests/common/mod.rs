//! Helpers shared by the storage crate's integration tests (`mod common;` in a test file).
#![allow(dead_code)]

#[allow(unused_imports)]
pub use berth_testutil::loopfs::{FsKind, LoopFs};
