//! berth: a docker-compatible command line client for berthd, talking only the Docker Engine
//! API. Synchronous on purpose (no async runtime): it starts fast and its streams are a few
//! threads copying bytes.

pub mod args;
pub mod client;
pub mod cmd;
pub mod error;
pub mod http;
pub mod stream;
pub mod table;
pub mod template;
pub mod units;
pub mod value;

pub use cmd::run;
