//! berthd: serves the Docker Engine API on a unix socket and runs containers through
//! berth-shim. It never forks: every container process is spawned through the shim binary.

#![recursion_limit = "256"]

pub mod api;
pub mod config;
pub mod detach;
pub mod engine;
pub mod error;
pub mod events;
pub mod filters;
pub mod logs;
pub mod names;
pub mod network;
pub mod server;
pub mod spec;
pub mod stream;
pub mod timefmt;
