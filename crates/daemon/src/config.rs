//! berthd's settings: dockerd's flags, and the same keys in a JSON config file
//! (`/etc/berth/daemon.json` by default). As dockerd does, a setting given both ways is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";
/// The runtime built into berth-shim.
pub const BUILTIN_RUNTIME: &str = "berth";

#[derive(Debug, Parser)]
#[command(
    name = "berthd",
    version,
    about = "berth's daemon: the Docker Engine API on a unix socket"
)]
pub struct Flags {
    /// Socket to listen on: unix://PATH, or fd:// for the socket systemd passes.
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root of persistent state (images, layers, containers).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root of runtime state (shim and runtime state, the default socket).
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Storage driver: overlay (overlay2), btrfs or vfs. Default: the best that works here.
    #[arg(short = 's', long)]
    pub storage_driver: Option<String>,
    /// Runtime for containers that name none: "berth" (built in) or a name from --add-runtime.
    #[arg(long)]
    pub default_runtime: Option<String>,
    /// An OCI runtime binary, as NAME=PATH (e.g. runc=/usr/sbin/runc).
    #[arg(long = "add-runtime")]
    pub add_runtimes: Vec<String>,
    /// debug, info, warn or error.
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// JSON file with the same settings.
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// Group that owns the socket (default "berth" when that group exists).
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// The cgroup under which containers' cgroups are made (default /berth).
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Host bridge of the default `bridge` network (default berth0). Its nftables table is
    /// `berth` for berth0, `berth_<NAME>` otherwise.
    #[arg(short = 'b', long)]
    pub bridge: Option<String>,
    /// The default bridge's address and prefix, e.g. 10.200.0.1/16 (the default).
    #[arg(long)]
    pub bip: Option<String>,
    /// Where user-defined networks get their subnets: base=CIDR,size=PREFIX (default
    /// base=10.201.0.0/16,size=24). May be given more than once.
    #[arg(long = "default-address-pool")]
    pub default_address_pools: Vec<String>,
    /// MTU of container interfaces (default 1500).
    #[arg(long)]
    pub mtu: Option<u32>,
}

/// The config file's keys, spelled as dockerd's daemon.json spells them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    hosts: Option<Vec<String>>,
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    storage_driver: Option<String>,
    default_runtime: Option<String>,
    runtimes: Option<BTreeMap<String, FileRuntime>>,
    log_level: Option<String>,
    group: Option<String>,
    cgroup_parent: Option<String>,
    bridge: Option<String>,
    bip: Option<String>,
    default_address_pools: Option<Vec<FilePool>>,
    mtu: Option<u32>,
}

/// One `default-address-pools` entry of daemon.json, as dockerd spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePool {
    base: String,
    size: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRuntime {
    path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The socket path; with `-H fd://` the socket systemd passed (this path is then only
    /// reported).
    pub socket: PathBuf,
    pub socket_activated: bool,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub storage_driver: Option<String>,
    pub default_runtime: String,
    /// External runtimes by name; the builtin one is not listed.
    pub runtimes: BTreeMap<String, PathBuf>,
    pub log_level: String,
    pub group: Option<String>,
    /// Absolute cgroup path containers' cgroups go under.
    pub cgroup_parent: String,
    pub network: NetworkConfig,
}

/// How the daemon's networks are set up on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The default network's host bridge.
    pub bridge: String,
    /// The nftables table (family ip) holding every network's rules.
    pub nft_table: String,
    /// The default bridge's gateway address and subnet.
    pub bridge_gateway: std::net::Ipv4Addr,
    pub bridge_subnet: berth_network::ipam::Subnet,
    /// Subnets for user-defined networks, tried in order.
    pub pools: Vec<berth_network::ipam::SubnetPool>,
    pub mtu: u32,
}

pub const DEFAULT_BRIDGE: &str = "berth0";
const DEFAULT_NFT_TABLE: &str = "berth";

impl NetworkConfig {
    fn build(
        bridge: Option<String>,
        bip: Option<String>,
        pools: Vec<(String, u8)>,
        mtu: Option<u32>,
    ) -> Result<NetworkConfig, ConfigError> {
        use berth_network::ipam::{Subnet, SubnetPool};
        let bridge = bridge.unwrap_or_else(|| DEFAULT_BRIDGE.to_string());
        berth_network::link::validate_ifname(&bridge)
            .map_err(|e| ConfigError::Network(format!("--bridge {bridge:?}: {e}")))?;
        let nft_table = if bridge == DEFAULT_BRIDGE {
            DEFAULT_NFT_TABLE.to_string()
        } else {
            format!("{DEFAULT_NFT_TABLE}_{}", bridge.replace(['.', ':'], "_"))
        };
        let (bridge_gateway, bridge_subnet) = match bip {
            None => {
                let subnet = berth_network::ipam::default_bridge_subnet();
                (subnet.first_host(), subnet)
            }
            Some(bip) => {
                let bad = || {
                    ConfigError::Network(format!(
                    "invalid --bip {bip:?}: expected the bridge's address and prefix, e.g. 10.200.0.1/16"
                ))
                };
                let (addr, prefix) = bip.split_once('/').ok_or_else(bad)?;
                let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
                let prefix: u8 = prefix.parse().map_err(|_| bad())?;
                let subnet = Subnet::new(addr, prefix).map_err(|_| bad())?;
                if !subnet.is_host(addr) || prefix > 30 {
                    return Err(bad());
                }
                (addr, subnet)
            }
        };
        let mut parsed = Vec::new();
        for (base, size) in pools {
            let subnet: Subnet = base.parse().map_err(|e| {
                ConfigError::Network(format!("invalid default address pool base {base:?}: {e}"))
            })?;
            if size < subnet.prefix() || size > 30 {
                return Err(ConfigError::Network(format!(
                    "invalid default address pool: size {size} must be between the base's prefix /{} and 30",
                    subnet.prefix()
                )));
            }
            parsed.push(SubnetPool { base: subnet, size });
        }
        if parsed.is_empty() {
            parsed.push(SubnetPool::default());
        }
        let mtu = mtu.unwrap_or(1500);
        if !(68..=65535).contains(&mtu) {
            return Err(ConfigError::Network(format!(
                "invalid --mtu {mtu}: it must be between 68 and 65535"
            )));
        }
        Ok(NetworkConfig {
            bridge,
            nft_table,
            bridge_gateway,
            bridge_subnet,
            pools: parsed,
            mtu,
        })
    }
}

/// `base=10.201.0.0/16,size=24`, dockerd's --default-address-pool syntax.
fn parse_pool_flag(s: &str) -> Result<(String, u8), ConfigError> {
    let bad = || {
        ConfigError::Network(format!(
            "invalid --default-address-pool {s:?}: expected base=CIDR,size=PREFIX"
        ))
    };
    let (mut base, mut size) = (None, None);
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("base", v)) => base = Some(v.to_string()),
            Some(("size", v)) => size = Some(v.parse::<u8>().map_err(|_| bad())?),
            _ => return Err(bad()),
        }
    }
    Ok((base.ok_or_else(bad)?, size.ok_or_else(bad)?))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(
        "the following directives are specified both as a flag and in the configuration file: {0}"
    )]
    Both(String),
    #[error("invalid host {0:?}: berthd listens on unix://PATH or fd:// (systemd)")]
    Host(String),
    #[error("berthd listens on one socket; got {0}")]
    ManyHosts(usize),
    #[error("invalid --add-runtime {0:?}: expected NAME=PATH")]
    Runtime(String),
    #[error("runtime name {0:?} is reserved for the built-in runtime")]
    ReservedRuntime(String),
    #[error("default runtime {0:?} is not configured; add it with --add-runtime {0}=PATH")]
    UnknownDefaultRuntime(String),
    #[error("invalid log level {0:?}: use debug, info, warn or error")]
    LogLevel(String),
    #[error("{0}")]
    Network(String),
}

impl DaemonConfig {
    /// Combines the flags with the config file (the one named, or the default one if present).
    pub fn from_flags(flags: Flags) -> Result<DaemonConfig, ConfigError> {
        let (file, path) = match &flags.config_file {
            Some(path) => (Some(read_file(path)?), path.clone()),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => (
                Some(read_file(Path::new(DEFAULT_CONFIG_FILE))?),
                PathBuf::from(DEFAULT_CONFIG_FILE),
            ),
            None => (None, PathBuf::new()),
        };
        let _ = path;
        let file = file.unwrap_or_default();
        let mut both = Vec::new();
        fn pick<T>(
            flag: Option<T>,
            file: Option<T>,
            name: &str,
            both: &mut Vec<String>,
        ) -> Option<T> {
            if flag.is_some() && file.is_some() {
                both.push(name.to_string());
            }
            flag.or(file)
        }
        let hosts = pick(
            (!flags.hosts.is_empty()).then_some(flags.hosts),
            file.hosts,
            "hosts",
            &mut both,
        );
        let data_root = pick(flags.data_root, file.data_root, "data-root", &mut both);
        let exec_root = pick(flags.exec_root, file.exec_root, "exec-root", &mut both);
        let storage_driver = pick(
            flags.storage_driver,
            file.storage_driver,
            "storage-driver",
            &mut both,
        );
        let default_runtime = pick(
            flags.default_runtime,
            file.default_runtime,
            "default-runtime",
            &mut both,
        );
        let log_level = pick(flags.log_level, file.log_level, "log-level", &mut both);
        let group = pick(flags.group, file.group, "group", &mut both);
        let cgroup_parent = pick(
            flags.cgroup_parent,
            file.cgroup_parent,
            "cgroup-parent",
            &mut both,
        );
        let bridge = pick(flags.bridge, file.bridge, "bridge", &mut both);
        let bip = pick(flags.bip, file.bip, "bip", &mut both);
        let mtu = pick(flags.mtu, file.mtu, "mtu", &mut both);
        let flag_pools = (!flags.default_address_pools.is_empty())
            .then(|| {
                flags
                    .default_address_pools
                    .iter()
                    .map(|p| parse_pool_flag(p))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let file_pools = file
            .default_address_pools
            .map(|pools| pools.into_iter().map(|p| (p.base, p.size)).collect());
        let pools = pick(flag_pools, file_pools, "default-address-pools", &mut both);
        if !both.is_empty() {
            return Err(ConfigError::Both(both.join(", ")));
        }
        let network = NetworkConfig::build(bridge, bip, pools.unwrap_or_default(), mtu)?;

        let mut runtimes = BTreeMap::new();
        for (name, rt) in file.runtimes.unwrap_or_default() {
            runtimes.insert(name, rt.path);
        }
        for spec in flags.add_runtimes {
            let (name, path) = spec
                .split_once('=')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .ok_or_else(|| ConfigError::Runtime(spec.clone()))?;
            runtimes.insert(name.to_string(), PathBuf::from(path));
        }
        if runtimes.contains_key(BUILTIN_RUNTIME) {
            return Err(ConfigError::ReservedRuntime(BUILTIN_RUNTIME.into()));
        }
        let default_runtime = default_runtime.unwrap_or_else(|| BUILTIN_RUNTIME.to_string());
        if default_runtime != BUILTIN_RUNTIME && !runtimes.contains_key(&default_runtime) {
            return Err(ConfigError::UnknownDefaultRuntime(default_runtime));
        }

        let exec_root = exec_root.unwrap_or_else(|| PathBuf::from(DEFAULT_EXEC_ROOT));
        let (socket, socket_activated) = match hosts.as_deref() {
            None | Some([]) => (PathBuf::from(DEFAULT_SOCKET), false),
            Some([fd]) if fd == "fd://" => (PathBuf::from(DEFAULT_SOCKET), true),
            Some([one]) => (parse_host(one)?, false),
            Some(many) => return Err(ConfigError::ManyHosts(many.len())),
        };
        let log_level = log_level.unwrap_or_else(|| "info".into());
        if !matches!(
            log_level.as_str(),
            "debug" | "info" | "warn" | "error" | "trace"
        ) {
            return Err(ConfigError::LogLevel(log_level));
        }
        Ok(DaemonConfig {
            socket,
            socket_activated,
            data_root: data_root.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_ROOT)),
            exec_root,
            storage_driver,
            default_runtime,
            runtimes,
            log_level,
            group,
            cgroup_parent: cgroup_parent
                .map(|p| format!("/{}", p.trim_matches('/')))
                .unwrap_or_else(|| "/berth".into()),
            network,
        })
    }

    /// The binary of a named runtime: None for the builtin one.
    pub fn runtime_path(&self, name: &str) -> Option<Option<&Path>> {
        if name == BUILTIN_RUNTIME {
            return Some(None);
        }
        self.runtimes.get(name).map(|p| Some(p.as_path()))
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let err = |message: String| ConfigError::File {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))
}

fn parse_host(host: &str) -> Result<PathBuf, ConfigError> {
    match host.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => Err(ConfigError::Host(host.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::parse_from(std::iter::once("berthd").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_and_flags() {
        let c = DaemonConfig::from_flags(flags(&["--config-file", "/dev/null"]));
        // /dev/null is not JSON: named as the config file's error.
        assert!(c.unwrap_err().to_string().contains("/dev/null"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.json");
        std::fs::write(
            &file,
            r#"{"data-root": "/x", "runtimes": {"runc": {"path": "/usr/sbin/runc"}}}"#,
        )
        .unwrap();
        let c = DaemonConfig::from_flags(flags(&[
            "--config-file",
            file.to_str().unwrap(),
            "-H",
            "unix:///tmp/b.sock",
            "--default-runtime",
            "runc",
        ]))
        .unwrap();
        assert_eq!(c.data_root, PathBuf::from("/x"));
        assert_eq!(c.socket, PathBuf::from("/tmp/b.sock"));
        assert_eq!(
            c.runtime_path("runc"),
            Some(Some(Path::new("/usr/sbin/runc")))
        );
        assert_eq!(c.runtime_path("berth"), Some(None));
        assert_eq!(c.runtime_path("crun"), None);
        assert_eq!(c.network.bridge, "berth0");
        assert_eq!(c.network.nft_table, "berth");
        assert_eq!(c.network.bridge_subnet.to_string(), "10.200.0.0/16");
        assert_eq!(c.network.bridge_gateway.to_string(), "10.200.0.1");
        let c = DaemonConfig::from_flags(flags(&[
            "--config-file",
            file.to_str().unwrap(),
            "--bridge",
            "berth-t1",
            "--bip",
            "10.210.3.1/24",
            "--default-address-pool",
            "base=10.250.0.0/22,size=26",
        ]))
        .unwrap();
        assert_eq!(c.network.nft_table, "berth_berth-t1");
        assert_eq!(c.network.bridge_subnet.to_string(), "10.210.3.0/24");
        assert_eq!(c.network.pools[0].size, 26);
    }

    #[test]
    fn conflicts_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.json");
        std::fs::write(&file, r#"{"data-root": "/x"}"#).unwrap();
        let f = file.to_str().unwrap();
        let e = DaemonConfig::from_flags(flags(&["--config-file", f, "--data-root", "/y"]));
        assert!(e.unwrap_err().to_string().contains("data-root"));
        std::fs::write(&file, r#"{"bogus": 1}"#).unwrap();
        let e = DaemonConfig::from_flags(flags(&["--config-file", f]));
        assert!(e.unwrap_err().to_string().contains("bogus"));
        std::fs::write(&file, "{}").unwrap();
        for (args, needle) in [
            (&["-H", "tcp://0.0.0.0:2375"][..], "tcp://"),
            (&["--add-runtime", "runc"], "NAME=PATH"),
            (&["--default-runtime", "crun"], "crun"),
            (&["--log-level", "loud"], "loud"),
            (&["--bip", "10.0.0.0/8"], "--bip"),
            (&["--bip", "10.1.2.3"], "--bip"),
            (&["--bridge", "a-very-long-bridge-name"], "--bridge"),
            (&["--default-address-pool", "base=10.9.0.0/16"], "base=CIDR"),
            (
                &["--default-address-pool", "base=10.9.0.0/16,size=8"],
                "size 8",
            ),
        ] {
            let mut a = vec!["--config-file", f];
            a.extend_from_slice(args);
            let e = DaemonConfig::from_flags(flags(&a)).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
