//! The embedded DNS server of user-defined networks.
//!
//! One [`DnsServer`] per network listens (UDP and TCP) on the network's gateway address, which
//! containers' resolv.conf names. It answers A (and PTR) queries for the names registered on its
//! network in the shared [`NameTable`] (container names, short ids, `--network-alias`es), with
//! TTL 600 and case-insensitively, and forwards every other query to the host's upstream
//! resolvers (see [`ResolvConf`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), berth_network::dns::DnsError> {
//! use std::sync::Arc;
//! use berth_network::dns::{DnsConfig, DnsServer, NameTable, ResolvConf};
//!
//! let table = Arc::new(NameTable::new());
//! let upstreams = ResolvConf::read("/etc/resolv.conf".as_ref()).map(|c| c.nameservers).unwrap_or_default();
//! let config = DnsConfig::new("mynet", vec!["10.201.0.1:53".parse().unwrap()], upstreams);
//! let server = DnsServer::start(config, table.clone()).await?;
//! table.register("mynet", &["web", "0123456789ab"], "10.201.0.2".parse().unwrap());
//! // … containers come and go …
//! server.stop().await;
//! # Ok(()) }
//! ```

pub mod codec;
#[cfg(test)]
mod codec_tests;
mod forward;
mod names;
pub mod resolvconf;
mod server;

pub use names::NameTable;
pub use resolvconf::{ResolvConf, ResolvConfError};
pub use server::{DnsConfig, DnsError, DnsServer, LOCAL_TTL};
