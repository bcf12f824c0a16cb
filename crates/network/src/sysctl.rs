//! The few kernel switches bridge networking needs, written through /proc/sys.
//!
//! `/proc/sys/net` shows the network namespace of the thread that opens it, so calls made from
//! [`crate::netns::NetNs::run`] act on that namespace.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("setting {path} to {value}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("invalid interface name {0:?} for a sysctl")]
    BadInterface(String),
}

pub type Result<T> = std::result::Result<T, SysctlError>;

/// A /proc/sys tree (the real one, or a directory standing in for it in tests).
#[derive(Debug, Clone)]
pub struct Sysctl {
    root: PathBuf,
}

impl Default for Sysctl {
    fn default() -> Sysctl {
        Sysctl::at("/proc/sys")
    }
}

impl Sysctl {
    pub fn at(root: impl Into<PathBuf>) -> Sysctl {
        Sysctl { root: root.into() }
    }

    /// Reads a value by its path components (`["net", "ipv4", "ip_forward"]`), trimmed.
    /// Components rather than a dotted key because interface names may contain dots.
    pub fn get(&self, parts: &[&str]) -> Result<String> {
        let path = self.path(parts);
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|source| SysctlError::Read { path, source })
    }

    /// Writes a value unless it already holds it (writes to some keys have side effects).
    pub fn set(&self, parts: &[&str], value: &str) -> Result<()> {
        if self.get(parts).ok().as_deref() == Some(value) {
            return Ok(());
        }
        let path = self.path(parts);
        std::fs::write(&path, value).map_err(|source| SysctlError::Write {
            path,
            value: value.to_string(),
            source,
        })
    }

    fn path(&self, parts: &[&str]) -> PathBuf {
        parts.iter().fold(self.root.clone(), |p, c| p.join(c))
    }

    /// `net.ipv4.ip_forward=1`: the host routes between bridges and the outside.
    pub fn enable_ip_forward(&self) -> Result<()> {
        self.set(&["net", "ipv4", "ip_forward"], "1")
    }

    /// `net.ipv4.conf.<ifname>.route_localnet=1`: lets packets to 127.0.0.1 be DNATed out of
    /// this interface, which publishing ports on the host's loopback needs.
    pub fn enable_route_localnet(&self, ifname: &str) -> Result<()> {
        check_ifname(ifname)?;
        self.set(&["net", "ipv4", "conf", ifname, "route_localnet"], "1")
    }
}

/// Turns on hairpin mode on bridge port `port` (a container's veth host end), so the bridge may
/// send a frame back out of the port it came in on. A container reaching its own published port
/// needs it when `br_netfilter` is loaded (dockerd loads it): the DNAT then happens while the
/// frame is being bridged, and its new destination is behind its own port.
pub fn enable_hairpin(port: &str) -> Result<()> {
    check_ifname(port)?;
    let path = Path::new("/sys/class/net")
        .join(port)
        .join("brport/hairpin_mode");
    std::fs::write(&path, "1").map_err(|source| SysctlError::Write {
        path,
        value: "1".to_string(),
        source,
    })
}

fn check_ifname(name: &str) -> Result<()> {
    if crate::link::validate_ifname(name).is_err() || Path::new(name).components().count() != 1 {
        return Err(SysctlError::BadInterface(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("net/ipv4/conf/br.10");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(dir.path().join("net/ipv4/ip_forward"), "0\n").unwrap();
        std::fs::write(conf.join("route_localnet"), "0\n").unwrap();
        dir
    }

    #[test]
    fn enabling_writes_one_and_reads_back() {
        let dir = fake_tree();
        let s = Sysctl::at(dir.path());
        s.enable_ip_forward().unwrap();
        assert_eq!(s.get(&["net", "ipv4", "ip_forward"]).unwrap(), "1");
        s.enable_route_localnet("br.10").unwrap();
        assert_eq!(
            s.get(&["net", "ipv4", "conf", "br.10", "route_localnet"])
                .unwrap(),
            "1"
        );
    }

    #[test]
    fn interface_names_cannot_escape_the_conf_directory() {
        let dir = fake_tree();
        let s = Sysctl::at(dir.path());
        for bad in ["..", "a/b", "", "toolongname12345"] {
            assert!(
                matches!(
                    s.enable_route_localnet(bad),
                    Err(SysctlError::BadInterface(_))
                ),
                "{bad:?}"
            );
        }
        let err = s.enable_route_localnet("missing0").unwrap_err();
        assert!(err.to_string().contains("missing0/route_localnet"), "{err}");
    }
}
