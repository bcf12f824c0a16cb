//! Root tests: real network namespaces, a real bridge, veth pairs and traffic between them.
//! Every host object is uniquely named with "berth" in it and removed by a guard, even when a
//! test fails half-way.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_network::bridge::{ensure_bridge, remove_bridge, BridgeConfig, BridgeError};
use berth_network::ipam::{host_routes, Ipam, Subnet, SubnetPool};
use berth_network::link::{self, get_link};
use berth_network::netns::{NetNs, NetnsError};
use berth_network::sysctl::Sysctl;
use berth_network::veth::{self, AttachRequest, VethError};

/// `berth-<tag><6 hex>`: unique per process and call, ≤ 15 bytes, found by leakcheck.
fn unique(tag: char) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) * 40_503)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
    format!("berth-{tag}{:06x}", n & 0xff_ffff)
}

/// A 64-hex container id whose first 13 characters (the host end's name) are unique.
fn container_id() -> String {
    let tag = unique('c');
    let hex = &tag["berth-c".len()..];
    format!("{hex}{}", "e".repeat(64 - hex.len()))
}

/// Removes whatever a test made, in reverse dependency order, whether it passed or not.
struct Cleanup {
    dir: tempfile::TempDir,
    links: Vec<String>,
    bridges: Vec<String>,
}

impl Cleanup {
    fn new() -> Cleanup {
        berth_testutil::require_root();
        Cleanup {
            dir: tempfile::Builder::new()
                .prefix("berth-netns-")
                .tempdir()
                .unwrap(),
            links: Vec::new(),
            bridges: Vec::new(),
        }
    }

    fn netns_dir(&self) -> PathBuf {
        self.dir.path().join("netns")
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(mut nl) = link::open() {
            for l in &self.links {
                let _ = link::delete_link(&mut nl, l);
            }
            for b in &self.bridges {
                let _ = link::delete_link(&mut nl, b);
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.netns_dir()) {
            for e in entries.flatten() {
                let _ = berth_network::netns::remove_path(&e.path());
            }
        }
    }
}

fn mounted_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

fn my_netns() -> PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

/// A free /24 from `pool` that the host does not route yet (tests in parallel use different
/// pools, so they cannot pick the same one).
fn free_subnet(pool_base: &str) -> Subnet {
    let dir = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(dir.path()).unwrap();
    let pool = SubnetPool {
        base: pool_base.parse().unwrap(),
        size: 24,
    };
    let routes = host_routes(Path::new("/proc/net/route")).unwrap();
    ipam.add_network_from_pool("t", &pool, &routes)
        .unwrap()
        .subnet
}

#[test]
fn netns_is_created_entered_and_deleted_without_leaving_a_mount() {
    let guard = Cleanup::new();
    let name = unique('n');
    let ns = NetNs::create(&guard.netns_dir(), &name).unwrap();
    assert_eq!(ns.path(), guard.netns_dir().join(&name));
    assert_eq!(mounted_under(guard.dir.path()).len(), 1);

    let again = NetNs::create(&guard.netns_dir(), &name).unwrap_err();
    assert!(matches!(again, NetnsError::Exists(_)), "{again}");

    let outside = my_netns();
    let inside = ns.run(my_netns).unwrap();
    assert_ne!(inside, outside, "run() must execute in the namespace");
    assert_eq!(my_netns(), outside, "the caller's thread never moves");
    // A fresh namespace has only a loopback device, and it is down.
    let links = ns
        .run(|| link::list_links(&mut link::open().unwrap()).unwrap())
        .unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].name, "lo");
    assert!(!links[0].up);

    // sysctls written from inside affect that namespace only.
    let forward = ns
        .run(|| {
            let s = Sysctl::default();
            s.enable_ip_forward().unwrap();
            s.get(&["net", "ipv4", "ip_forward"]).unwrap()
        })
        .unwrap();
    assert_eq!(forward, "1");

    // Opening by path gives the same namespace.
    let reopened = NetNs::open(ns.path()).unwrap();
    assert_eq!(reopened.run(my_netns).unwrap(), inside);
    drop(reopened);
    let plain = guard.dir.path().join("plain");
    std::fs::write(&plain, b"").unwrap();
    let err = NetNs::open(&plain).unwrap_err();
    assert!(matches!(err, NetnsError::NotANamespace(_)), "{err}");

    let path = ns.path().to_path_buf();
    assert_eq!(
        berth_network::netns::list_pinned(&guard.netns_dir()).unwrap(),
        vec![path.clone()]
    );
    ns.delete().unwrap();
    assert!(berth_network::netns::list_pinned(&guard.netns_dir())
        .unwrap()
        .is_empty());
    assert!(!path.exists());
    assert!(mounted_under(guard.dir.path()).is_empty());
    // Removing what is already gone is fine (a reconcile may run twice).
    berth_network::netns::remove_path(&path).unwrap();
}

#[test]
fn bridge_is_made_once_adopted_after_and_non_bridges_are_refused() {
    let mut guard = Cleanup::new();
    let mut nl = link::open().unwrap();
    let name = unique('b');
    guard.bridges.push(name.clone());
    let subnet = free_subnet("10.251.0.0/16");
    let cfg = BridgeConfig {
        name: name.clone(),
        gateway: subnet.first_host(),
        prefix: 24,
        mtu: 1500,
    };
    let made = ensure_bridge(&mut nl, &cfg).unwrap();
    assert_eq!(made.kind, "bridge");
    assert!(made.up);
    assert_eq!(made.mtu, 1500);
    let addrs = link::ipv4_addresses(&mut nl, made.index).unwrap();
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    assert_eq!(addrs[0].addr, subnet.first_host());

    // Again, with a new MTU: same device, one address, MTU changed.
    let adopted = ensure_bridge(
        &mut nl,
        &BridgeConfig {
            mtu: 1400,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert_eq!(adopted.index, made.index);
    assert_eq!(adopted.mtu, 1400);
    assert_eq!(link::ipv4_addresses(&mut nl, made.index).unwrap().len(), 1);

    Sysctl::default().enable_route_localnet(&name).unwrap();
    assert_eq!(
        Sysctl::default()
            .get(&["net", "ipv4", "conf", &name, "route_localnet"])
            .unwrap(),
        "1"
    );

    // Another kind of device under a bridge's name is refused, not adopted or deleted.
    let ip = berth_testutil::require_tool("ip", "iproute2");
    let other = unique('d');
    guard.links.push(other.clone());
    let st = std::process::Command::new(ip)
        .args([
            "link",
            "add",
            &other,
            "type",
            "veth",
            "peer",
            "name",
            &unique('p'),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let err = ensure_bridge(
        &mut nl,
        &BridgeConfig {
            name: other.clone(),
            ..cfg.clone()
        },
    )
    .unwrap_err();
    assert!(matches!(err, BridgeError::NotABridge { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("interface {other} exists but is a veth device, not a bridge")
    );
    assert!(remove_bridge(&mut nl, &other).is_err());
    assert!(get_link(&mut nl, &other).unwrap().is_some());

    assert!(remove_bridge(&mut nl, &name).unwrap());
    assert!(!remove_bridge(&mut nl, &name).unwrap());
    assert!(get_link(&mut nl, &name).unwrap().is_none());
}

fn echo_once(listener: TcpListener) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    })
}

fn ping_pong(to: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"hello")?;
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf)?;
    assert_eq!(&buf, b"hello");
    Ok(())
}

#[test]
fn two_containers_on_a_bridge_talk_to_each_other_and_to_the_host_then_leave_nothing() {
    let mut guard = Cleanup::new();
    let mut nl = link::open().unwrap();
    let bridge = unique('b');
    guard.bridges.push(bridge.clone());
    let subnet = free_subnet("10.250.0.0/16");
    let gateway = subnet.first_host();
    ensure_bridge(
        &mut nl,
        &BridgeConfig {
            name: bridge.clone(),
            gateway,
            prefix: 24,
            mtu: 1500,
        },
    )
    .unwrap();

    // IPAM hands out the two addresses, as the daemon will.
    let leases = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(leases.path()).unwrap();
    ipam.add_network("t", subnet, None).unwrap();

    let mut attached = Vec::new();
    let mut namespaces = Vec::new();
    for _ in 0..2 {
        let id = container_id();
        guard.links.push(veth::host_ifname(&id, 0).unwrap());
        let ip = ipam.allocate("t", &id, None).unwrap();
        let start = Instant::now();
        let ns = NetNs::create(&guard.netns_dir(), &id).unwrap();
        let made_ns = start.elapsed();
        let att = veth::attach(
            &mut nl,
            &AttachRequest {
                container_id: &id,
                index: 0,
                bridge: &bridge,
                netns: &ns,
                ip,
                prefix: 24,
                gateway,
                mtu: 1500,
            },
        )
        .unwrap();
        let total = start.elapsed();
        eprintln!("netns create {made_ns:?}, netns + veth attach {total:?}");
        // A few ms in practice; the bound is loose because the test machine is shared.
        assert!(total < Duration::from_millis(250), "attach took {total:?}");
        assert_eq!(att.ip, ip);
        assert_eq!(att.gateway, gateway);
        assert_eq!(att.host_ifname, veth::host_ifname(&id, 0).unwrap());
        let o = ip.octets();
        assert_eq!(
            att.mac_string(),
            format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
        );
        attached.push(att);
        namespaces.push(ns);
    }

    // Host side: each bv… end is an up port of the bridge.
    let br = get_link(&mut nl, &bridge).unwrap().unwrap();
    for att in &attached {
        let host = get_link(&mut nl, &att.host_ifname).unwrap().unwrap();
        assert_eq!(host.kind, "veth");
        assert_eq!(host.master, Some(br.index));
        assert!(host.up);
    }
    let ends = veth::list_host_ends(&mut nl).unwrap();
    for att in &attached {
        assert!(ends.contains(&att.host_ifname), "{ends:?}");
    }

    // Container side: eth0 with the MAC, MTU and address, lo up, default route via gateway.
    let (inside_eth0, inside_lo, addrs, routes) = namespaces[0]
        .run(|| {
            let mut nl = link::open().unwrap();
            let eth0 = get_link(&mut nl, "eth0").unwrap().unwrap();
            let lo = get_link(&mut nl, "lo").unwrap().unwrap();
            let addrs = link::ipv4_addresses(&mut nl, eth0.index).unwrap();
            let routes = link::ipv4_routes(&mut nl).unwrap();
            (eth0, lo, addrs, routes)
        })
        .unwrap();
    assert!(inside_eth0.up && inside_lo.up);
    assert_eq!(inside_eth0.mac, Some(attached[0].mac));
    assert_eq!(inside_eth0.mtu, 1500);
    assert_eq!(addrs.len(), 1);
    assert_eq!((addrs[0].addr, addrs[0].prefix), (attached[0].ip, 24));
    assert!(
        routes.iter().any(|r| r.prefix == 0
            && r.gateway == Some(gateway)
            && r.oif == Some(inside_eth0.index)),
        "{routes:?}"
    );

    // Traffic: container 1 → container 0, host → container 0, container 0 → host.
    let listener = namespaces[0]
        .run(|| TcpListener::bind("0.0.0.0:0").unwrap())
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = echo_once(listener);
    let to_c0 = SocketAddr::from((attached[0].ip, port));
    namespaces[1].run(|| ping_pong(to_c0)).unwrap().unwrap();
    server.join().unwrap();

    let listener = namespaces[0]
        .run(|| TcpListener::bind("0.0.0.0:0").unwrap())
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = echo_once(listener);
    ping_pong(SocketAddr::from((attached[0].ip, port))).unwrap();
    server.join().unwrap();

    let host_listener = TcpListener::bind((gateway, 0)).unwrap();
    let to_host = host_listener.local_addr().unwrap();
    let server = echo_once(host_listener);
    namespaces[0].run(|| ping_pong(to_host)).unwrap().unwrap();
    server.join().unwrap();

    // Plugging the same container in twice, or into a bridge that is not there, is refused.
    let twice = veth::attach(
        &mut nl,
        &AttachRequest {
            container_id: &format!("{}ffff", attached[0].host_ifname.trim_start_matches("bv")),
            index: 0,
            bridge: &bridge,
            netns: &namespaces[1],
            ip: Ipv4Addr::from(u32::from(gateway) + 100),
            prefix: 24,
            gateway,
            mtu: 1500,
        },
    )
    .unwrap_err();
    assert_eq!(
        twice.to_string().split(':').next(),
        Some(format!("creating veth pair {}", attached[0].host_ifname).as_str()),
        "{twice}"
    );
    assert_eq!(twice.errno(), Some(libc::EEXIST));
    let missing = unique('m');
    let err = veth::attach(
        &mut nl,
        &AttachRequest {
            container_id: "0123456789abcdef",
            index: 0,
            bridge: &missing,
            netns: &namespaces[1],
            ip: Ipv4Addr::from(u32::from(gateway) + 101),
            prefix: 24,
            gateway,
            mtu: 1500,
        },
    )
    .unwrap_err();
    assert_eq!(err.to_string(), format!("bridge {missing} does not exist"));

    // A failed attach leaves nothing: the gateway is off-link, so the route cannot be added.
    let bad_id = container_id();
    guard.links.push(veth::host_ifname(&bad_id, 0).unwrap());
    let bad_ns = NetNs::create(&guard.netns_dir(), &bad_id).unwrap();
    let err = veth::attach(
        &mut nl,
        &AttachRequest {
            container_id: &bad_id,
            index: 0,
            bridge: &bridge,
            netns: &bad_ns,
            ip: Ipv4Addr::new(192, 0, 2, 10),
            prefix: 30,
            gateway: Ipv4Addr::new(198, 51, 100, 1),
            mtu: 1500,
        },
    )
    .unwrap_err();
    assert!(matches!(err, VethError::Inside { .. }), "{err}");
    assert!(err.to_string().contains("adding default route"), "{err}");
    assert!(get_link(&mut nl, &veth::host_ifname(&bad_id, 0).unwrap())
        .unwrap()
        .is_none());
    bad_ns.delete().unwrap();

    // Teardown: detach the first by its host end; delete the second's namespace, which takes
    // its pair with it (the kernel does that asynchronously, so wait a little).
    assert!(veth::detach(&mut nl, &attached[0].host_ifname).unwrap());
    assert!(!veth::detach(&mut nl, &attached[0].host_ifname).unwrap());
    let eth0_left = namespaces[0]
        .run(|| get_link(&mut link::open().unwrap(), "eth0").unwrap())
        .unwrap();
    assert!(eth0_left.is_none(), "deleting the host end deletes eth0");
    let second_end = attached[1].host_ifname.clone();
    for ns in namespaces {
        ns.delete().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while get_link(&mut nl, &second_end).unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "{second_end} outlived its namespace"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(remove_bridge(&mut nl, &bridge).unwrap());
    assert!(get_link(&mut nl, &bridge).unwrap().is_none());
    assert!(mounted_under(guard.dir.path()).is_empty());
    assert_eq!(
        std::fs::read_dir(guard.netns_dir()).unwrap().count(),
        0,
        "no namespace files left"
    );
}
