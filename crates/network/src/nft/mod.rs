//! NAT, forwarding and published ports in one nftables table of family `ip`, driven through
//! nft's JSON interface (the `nftables` crate runs `nft -j -f -`; one call is one atomic
//! transaction).
//!
//! Layout of the table (berth's is named `berth`; tests use their own names):
//!
//! | chain         | kind                              | holds                                      |
//! |---------------|-----------------------------------|--------------------------------------------|
//! | `prerouting`  | nat, hook prerouting, prio -100   | `fib daddr type local jump ports`          |
//! | `output`      | nat, hook output, prio -100       | the same, for the host's own connections   |
//! | `ports`       | regular                           | one DNAT rule per published port           |
//! | `postrouting` | nat, hook postrouting, prio 100   | masquerade rules of each network           |
//! | `forward`     | filter, hook forward, prio 0      | accept/drop rules of each network          |
//!
//! Each network's rules and each container's port rules carry a comment naming their owner, and
//! are added and removed as a unit in one transaction ([`rules::network_tag`],
//! [`rules::ports_tag`]).
//!
//! Publishing to the host itself over 127.0.0.1 works without a proxy process: the output chain
//! DNATs the connection, and two things let it leave through the bridge and come back:
//! `route_localnet=1` on the bridge (the kernel otherwise refuses to route a loopback source out
//! of a non-loopback interface; [`crate::sysctl::Sysctl::enable_route_localnet`]) and a masquerade of 127.0.0.0/8
//! sources going out of the bridge (so the container answers the bridge's address).
//!
//! IPv4 only: the table is of family `ip`, and IPv6 host addresses are refused.

pub mod rules;

use std::net::Ipv4Addr;
use std::sync::Mutex;

use nftables::batch::Batch;
use nftables::helper::{self, NftablesError};
use nftables::schema::{FlushObject, NfCmd, NfListObject, Nftables};
use serde_json::Value;

use crate::ports::Protocol;

/// Errors of the nft module.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// nft refused the transaction (nothing of it was applied: transactions are atomic).
    #[error("nft failed on table {table} while {action}: {stderr}")]
    Failed {
        table: String,
        action: &'static str,
        stderr: String,
    },
    /// The nft binary could not be run or answered something unreadable.
    #[error("running nft for table {table}: {source}")]
    Nft {
        table: String,
        #[source]
        source: NftablesError,
    },
    #[error("nft's listing of table {table} is not what was expected: {detail}")]
    Listing { table: String, detail: String },
    #[error("invalid nft table name {0:?}: use letters, digits, '_' and '-' (at most 64 bytes)")]
    TableName(String),
    #[error("invalid prefix length /{0} for an IPv4 subnet")]
    PrefixLength(u8),
}

/// What one network needs from the table.
///
/// A normal network gets: masquerade of `subnet` going out of any interface but `bridge`;
/// hairpin masquerade (a container reaching a published port comes back through the bridge);
/// masquerade of 127.0.0.0/8 sources going to the bridge (published ports over 127.0.0.1);
/// forward accept of the bridge's outgoing traffic; and into the bridge only replies
/// (established or related), DNATed traffic to published ports and its own containers'
/// traffic, so neither other hosts nor other networks' containers reach it directly.
///
/// An `internal` network gets no masquerade and a drop of everything forwarded into or out of
/// its bridge, so its containers only reach each other (and the bridge's own address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    /// Network name; identifies the rules (in their comment) for exact removal.
    pub name: String,
    /// Host bridge device, e.g. `berth0`.
    pub bridge: String,
    /// Subnet address (host bits are ignored) and prefix length.
    pub subnet: Ipv4Addr,
    pub prefix_len: u8,
    pub internal: bool,
}

/// One published port, resolved: `host_ip:host_port/proto → container_ip:container_port`.
/// `host_ip` 0.0.0.0 means every address of the host (127.0.0.1 included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PortRule {
    pub proto: Protocol,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// The complete contents berth wants in its table: what [`NatTable::reconcile`] rebuilds.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    pub networks: Vec<NetworkRules>,
    /// Port rules by owner (container id).
    pub ports: Vec<(String, Vec<PortRule>)>,
}

/// One nftables table of family `ip`, managed by berth.
///
/// Operations on one `NatTable` are serialized (a removal lists the table and then deletes by
/// handle; two of them interleaved could delete the same rule twice).
#[derive(Debug)]
pub struct NatTable {
    name: String,
    lock: Mutex<()>,
}

impl NatTable {
    /// A handle on table `ip <name>`; nothing is created until [`NatTable::ensure`].
    pub fn new(name: &str) -> Result<Self, NftError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && name.as_bytes()[0].is_ascii_alphabetic();
        if !valid {
            return Err(NftError::TableName(name.to_string()));
        }
        Ok(NatTable {
            name: name.to_string(),
            lock: Mutex::new(()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the table and its chains if missing and (re)writes the fixed rules of the
    /// prerouting and output chains; rules of networks and ports already there are kept.
    /// Idempotent.
    pub fn ensure(&self) -> Result<(), NftError> {
        let _guard = self.lock();
        let mut batch = Batch::new();
        batch.add(rules::table(&self.name));
        for chain in rules::chains(&self.name) {
            batch.add(chain);
        }
        for chain in [rules::PREROUTING, rules::OUTPUT] {
            if let NfListObject::Chain(c) = rules::chain_ref(&self.name, chain) {
                batch.add_cmd(NfCmd::Flush(FlushObject::Chain(c)));
            }
        }
        for rule in rules::skeleton_rules(&self.name) {
            batch.add(rule);
        }
        self.apply(batch.to_nftables(), "creating the table")
    }

    /// Deletes the whole table (all networks and ports with it). Deleting a missing table is
    /// not an error.
    pub fn delete(&self) -> Result<(), NftError> {
        let _guard = self.lock();
        let mut batch = Batch::new();
        // `add` first so that the delete has something to delete: one transaction either way.
        batch.add(rules::table(&self.name));
        batch.delete(rules::table(&self.name));
        self.apply(batch.to_nftables(), "deleting the table")
    }

    /// Adds the rules of one network (see [`NetworkRules`]) in one transaction. The table must
    /// exist ([`NatTable::ensure`]). Adding a network whose rules are already there replaces
    /// them (no duplicates).
    pub fn add_network(&self, net: &NetworkRules) -> Result<(), NftError> {
        let net = normalized(net)?;
        let _guard = self.lock();
        let mut batch = Batch::new();
        for obj in self.deletions(&rules::network_tag(&net.name))? {
            batch.delete(obj);
        }
        for rule in rules::network_rules(&self.name, &net) {
            batch.add(rule);
        }
        self.apply(batch.to_nftables(), "adding a network's rules")
    }

    /// Removes exactly the rules of network `name`; a network without rules is not an error.
    pub fn remove_network(&self, name: &str) -> Result<(), NftError> {
        let _guard = self.lock();
        self.remove_tagged(&rules::network_tag(name), "removing a network's rules")
    }

    /// Adds the DNAT rules of `owner`'s published ports in one transaction, replacing any the
    /// owner already had. This does not reserve the host ports: [`crate::ports::Publisher`]
    /// does both.
    pub fn add_ports(&self, owner: &str, ports: &[PortRule]) -> Result<(), NftError> {
        let _guard = self.lock();
        let mut batch = Batch::new();
        for obj in self.deletions(&rules::ports_tag(owner))? {
            batch.delete(obj);
        }
        for rule in rules::port_rules(&self.name, owner, ports) {
            batch.add(rule);
        }
        self.apply(batch.to_nftables(), "adding published ports")
    }

    /// Adds `owner`'s port rules without first looking for ones it already has: one nft call
    /// instead of two, for the `run` hot path. Rules of the same owner left by a crash are not
    /// replaced, but [`NatTable::remove_ports`] still removes them all (it removes by owner).
    pub fn append_ports(&self, owner: &str, ports: &[PortRule]) -> Result<(), NftError> {
        let _guard = self.lock();
        let mut batch = Batch::new();
        for rule in rules::port_rules(&self.name, owner, ports) {
            batch.add(rule);
        }
        self.apply(batch.to_nftables(), "adding published ports")
    }

    /// Removes exactly `owner`'s port rules; an owner without rules is not an error.
    pub fn remove_ports(&self, owner: &str) -> Result<(), NftError> {
        let _guard = self.lock();
        self.remove_tagged(&rules::ports_tag(owner), "removing published ports")
    }

    /// Rebuilds the table from scratch to hold exactly `desired`, in one transaction: whatever
    /// a crash left behind (stale or duplicated rules) is gone, and if nft refuses, the old
    /// table stays as it was.
    pub fn reconcile(&self, desired: &DesiredState) -> Result<(), NftError> {
        let networks = desired
            .networks
            .iter()
            .map(normalized)
            .collect::<Result<Vec<_>, _>>()?;
        let _guard = self.lock();
        let mut batch = Batch::new();
        batch.add(rules::table(&self.name));
        batch.delete(rules::table(&self.name));
        batch.add(rules::table(&self.name));
        for chain in rules::chains(&self.name) {
            batch.add(chain);
        }
        for rule in rules::skeleton_rules(&self.name) {
            batch.add(rule);
        }
        for net in &networks {
            for rule in rules::network_rules(&self.name, net) {
                batch.add(rule);
            }
        }
        for (owner, ports) in &desired.ports {
            for rule in rules::port_rules(&self.name, owner, ports) {
                batch.add(rule);
            }
        }
        self.apply(batch.to_nftables(), "rebuilding the table")
    }

    /// The comments of the rules now in the table, one per rule, in chain order (a test and
    /// debugging aid; [`rules::network_tag`] and [`rules::ports_tag`] tell whose they are).
    /// A missing table has none.
    pub fn rule_comments(&self) -> Result<Vec<String>, NftError> {
        let _guard = self.lock();
        Ok(self
            .listed_rules()?
            .into_iter()
            .filter_map(|r| r.comment)
            .collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding the lock leaves nothing inconsistent here: the kernel's table
        // is the state, and every transaction is atomic.
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remove_tagged(&self, tag: &str, action: &'static str) -> Result<(), NftError> {
        let deletions = self.deletions(tag)?;
        if deletions.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        for obj in deletions {
            batch.delete(obj);
        }
        self.apply(batch.to_nftables(), action)
    }

    /// Rule references (by handle) of every rule commented `tag`.
    fn deletions(&self, tag: &str) -> Result<Vec<NfListObject<'static>>, NftError> {
        Ok(self
            .listed_rules()?
            .into_iter()
            .filter(|r| r.comment.as_deref() == Some(tag))
            .map(|r| rules::rule_handle(&self.name, r.chain, r.handle))
            .collect())
    }

    /// The rules of the table as nft lists them. Read as plain JSON, not the crate's typed
    /// schema: only chain, handle and comment matter here, and a rule written by someone else
    /// with an expression the crate does not model must not make the listing fail.
    fn listed_rules(&self) -> Result<Vec<ListedRule>, NftError> {
        let args = ["list", "table", "ip", self.name.as_str()];
        let out = match helper::get_current_ruleset_raw(helper::DEFAULT_NFT, args) {
            Ok(out) => out,
            Err(NftablesError::NftFailed { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(self.nft_error(e, "listing the table")),
        };
        let listing_error = |detail: String| NftError::Listing {
            table: self.name.clone(),
            detail,
        };
        let json: Value = serde_json::from_str(&out).map_err(|e| listing_error(e.to_string()))?;
        let objects = json["nftables"]
            .as_array()
            .ok_or_else(|| listing_error("no \"nftables\" array".into()))?;
        let mut found = Vec::new();
        for rule in objects.iter().filter_map(|o| o.get("rule")) {
            let chain = rule["chain"].as_str();
            let handle = rule["handle"].as_u64().and_then(|h| u32::try_from(h).ok());
            let (Some(chain), Some(handle)) = (chain, handle) else {
                return Err(listing_error(format!(
                    "rule without chain or handle: {rule}"
                )));
            };
            found.push(ListedRule {
                chain: chain.to_string(),
                handle,
                comment: rule["comment"].as_str().map(str::to_string),
            });
        }
        Ok(found)
    }

    fn apply(&self, nftables: Nftables<'_>, action: &'static str) -> Result<(), NftError> {
        helper::apply_ruleset(&nftables).map_err(|e| self.nft_error(e, action))
    }

    fn nft_error(&self, e: NftablesError, action: &'static str) -> NftError {
        match e {
            NftablesError::NftFailed { stderr, .. } => NftError::Failed {
                table: self.name.clone(),
                action,
                stderr: stderr.trim().to_string(),
            },
            source => NftError::Nft {
                table: self.name.clone(),
                source,
            },
        }
    }
}

struct ListedRule {
    chain: String,
    handle: u32,
    comment: Option<String>,
}

/// `net` with the subnet's host bits cleared (nft wants a network address in a prefix).
fn normalized(net: &NetworkRules) -> Result<NetworkRules, NftError> {
    if net.prefix_len > 32 {
        return Err(NftError::PrefixLength(net.prefix_len));
    }
    let mask = u32::MAX
        .checked_shl(32 - u32::from(net.prefix_len))
        .unwrap_or(0);
    Ok(NetworkRules {
        subnet: Ipv4Addr::from(u32::from(net.subnet) & mask),
        ..net.clone()
    })
}
