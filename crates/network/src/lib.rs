//! Container networking for berth (DESIGN.md's `network` crate): bridge networks on the host
//! (`berth0` for the default one), veth pairs (host ends `bv…`) moved into each container's
//! network namespace, address management with persisted leases, NAT and published ports in the
//! nftables table `berth`, and an embedded DNS server for user-defined networks.
//!
//! Everything berth creates on the host carries its name, so a leak check can find it.

pub mod bridge;
pub mod dns;
pub mod ipam;
pub mod link;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod ports;
pub mod sysctl;
pub mod veth;
