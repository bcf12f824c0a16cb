//! Root tests of the nft table with real traffic. Each test builds its own little world with
//! `ip`: a bridge with a "container" netns behind a veth, an "outside" netns connected to the
//! host by its own veth, and its own nft table, all removed by a guard even on failure.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use berth_network::nft::{rules, DesiredState, NatTable, NetworkRules};
use berth_network::ports::{PortError, PortRequest, Protocol, Publisher};
use berth_network::sysctl::{enable_hairpin, Sysctl};
use berth_testutil::{require_root, require_tool};

const TIMEOUT: Duration = Duration::from_secs(2);

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn nft(args: &[&str]) -> (bool, String) {
    let out = Command::new("nft").args(args).output().expect("run nft");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Runs `f` on a new thread that has joined network namespace `ns` (only that thread moves).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on a valid namespace fd; it changes only the calling thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// A TCP or UDP server in a netns that answers each client with the address it sees the client
/// come from; stopped (and its sockets closed, so the netns can go away) on drop.
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(ns: &str, proto: Protocol, port: u16) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = in_netns(ns, move || {
            let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
            match proto {
                Protocol::Tcp => {
                    let listener = TcpListener::bind(addr).expect("bind server");
                    listener.set_nonblocking(true).unwrap();
                    ready_tx.send(()).unwrap();
                    while !flag.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((mut conn, peer)) => {
                                let _ = conn.write_all(peer.ip().to_string().as_bytes());
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                }
                Protocol::Udp => {
                    let socket = UdpSocket::bind(addr).expect("bind server");
                    socket
                        .set_read_timeout(Some(Duration::from_millis(20)))
                        .unwrap();
                    ready_tx.send(()).unwrap();
                    let mut buf = [0u8; 64];
                    while !flag.load(Ordering::Relaxed) {
                        if let Ok((_, peer)) = socket.recv_from(&mut buf) {
                            let _ = socket.send_to(peer.ip().to_string().as_bytes(), peer);
                        }
                    }
                }
            }
        });
        ready_rx
            .recv_timeout(TIMEOUT)
            .expect("server did not start");
        Server {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects (from netns `ns`, or the host) and returns the client address the server saw.
fn ask(ns: Option<&str>, proto: Protocol, ip: Ipv4Addr, port: u16) -> std::io::Result<String> {
    let query = move || -> std::io::Result<String> {
        let addr = SocketAddr::V4(SocketAddrV4::new(ip, port));
        let mut answer = String::new();
        match proto {
            Protocol::Tcp => {
                let mut conn = TcpStream::connect_timeout(&addr, TIMEOUT)?;
                conn.set_read_timeout(Some(TIMEOUT))?;
                conn.read_to_string(&mut answer)?;
            }
            Protocol::Udp => {
                let socket = UdpSocket::bind("0.0.0.0:0")?;
                socket.set_read_timeout(Some(TIMEOUT))?;
                socket.send_to(b"?", addr)?;
                let mut buf = [0u8; 64];
                let (n, _) = socket.recv_from(&mut buf)?;
                answer = String::from_utf8_lossy(&buf[..n]).to_string();
            }
        }
        Ok(answer)
    };
    match ns {
        Some(ns) => in_netns(ns, query).join().expect("client thread"),
        None => query(),
    }
}

/// The test's world. Addresses: bridge 10.<240+a>.<b>.1/24 with the container at .2; the host
/// end of the outside link 10.<248+a>.<b>.1/30 and the outside netns at .2.
struct Lab {
    table: NatTable,
    bridge: String,
    container_ns: String,
    outside_ns: String,
    outside_link: String,
    net: NetworkRules,
    bridge_ip: Ipv4Addr,
    container_ip: Ipv4Addr,
    host_ip: Ipv4Addr,
    outside_ip: Ipv4Addr,
    servers: Vec<Server>,
}

impl Lab {
    fn new(internal: bool) -> Lab {
        require_root();
        require_tool("nft", "nftables");
        require_tool("ip", "iproute2");
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = (std::process::id().wrapping_mul(16) + NEXT.fetch_add(1, Ordering::Relaxed))
            & 0xff_ffff;
        let hex = format!("{id:06x}");
        let (a, b) = (((id >> 8) % 8) as u8, (id & 0xff) as u8);
        let lab = Lab {
            table: NatTable::new(&format!("berth_t{hex}")).unwrap(),
            bridge: format!("berth-t{hex}"),
            container_ns: format!("berth-t{hex}-c"),
            outside_ns: format!("berth-t{hex}-o"),
            outside_link: format!("bv{hex}o"),
            net: NetworkRules {
                name: format!("net{hex}"),
                bridge: format!("berth-t{hex}"),
                subnet: Ipv4Addr::new(10, 240 + a, b, 0),
                prefix_len: 24,
                internal,
            },
            bridge_ip: Ipv4Addr::new(10, 240 + a, b, 1),
            container_ip: Ipv4Addr::new(10, 240 + a, b, 2),
            host_ip: Ipv4Addr::new(10, 248 + a, b, 1),
            outside_ip: Ipv4Addr::new(10, 248 + a, b, 2),
            servers: Vec::new(),
        };
        // From here on, Drop cleans up whatever part of the setup was done.
        let (br, cns, ons) = (&lab.bridge, &lab.container_ns, &lab.outside_ns);
        let (veth_c, peer_c, peer_o) = (
            format!("bv{hex}c"),
            format!("bv{hex}p"),
            format!("bv{hex}q"),
        );
        let cidr = |addr: Ipv4Addr, len: u8| format!("{addr}/{len}");
        ip(&["link", "add", br, "type", "bridge"]);
        ip(&["addr", "add", &cidr(lab.bridge_ip, 24), "dev", br]);
        ip(&["link", "set", br, "up"]);
        ip(&["netns", "add", cns]);
        ip(&[
            "link", "add", &veth_c, "type", "veth", "peer", "name", &peer_c, "netns", cns,
        ]);
        ip(&["link", "set", &veth_c, "master", br, "up"]);
        ip(&[
            "-n",
            cns,
            "addr",
            "add",
            &cidr(lab.container_ip, 24),
            "dev",
            &peer_c,
        ]);
        ip(&["-n", cns, "link", "set", &peer_c, "up"]);
        ip(&["-n", cns, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            cns,
            "route",
            "add",
            "default",
            "via",
            &lab.bridge_ip.to_string(),
        ]);
        ip(&["netns", "add", ons]);
        ip(&[
            "link",
            "add",
            &lab.outside_link,
            "type",
            "veth",
            "peer",
            "name",
            &peer_o,
            "netns",
            ons,
        ]);
        ip(&[
            "addr",
            "add",
            &cidr(lab.host_ip, 30),
            "dev",
            &lab.outside_link,
        ]);
        ip(&["link", "set", &lab.outside_link, "up"]);
        ip(&[
            "-n",
            ons,
            "addr",
            "add",
            &cidr(lab.outside_ip, 30),
            "dev",
            &peer_o,
        ]);
        ip(&["-n", ons, "link", "set", &peer_o, "up"]);
        ip(&["-n", ons, "link", "set", "lo", "up"]);
        Sysctl::default().enable_ip_forward().unwrap();
        Sysctl::default().enable_route_localnet(br).unwrap();
        enable_hairpin(&veth_c).unwrap();
        lab.table.ensure().unwrap();
        lab
    }

    /// Lets the outside netns route to the containers' subnet through the host, as a router on
    /// the same LAN could.
    fn route_outside_to_containers(&self) {
        let subnet = format!("{}/{}", self.net.subnet, self.net.prefix_len);
        ip(&[
            "-n",
            &self.outside_ns,
            "route",
            "add",
            &subnet,
            "via",
            &self.host_ip.to_string(),
        ]);
    }

    fn serve(&mut self, ns: &str, proto: Protocol, port: u16) {
        self.servers.push(Server::start(ns, proto, port));
    }

    fn tagged(&self, tag: &str) -> usize {
        self.table
            .rule_comments()
            .unwrap()
            .iter()
            .filter(|c| *c == tag)
            .count()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Servers first: their sockets keep a netns (and its veth) alive past `ip netns del`.
        self.servers.clear();
        for ns in [&self.container_ns, &self.outside_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.outside_link])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let _ = self.table.delete();
    }
}

fn tcp(host_ip: Ipv4Addr, host_port: u16, container_port: u16) -> PortRequest {
    PortRequest {
        proto: Protocol::Tcp,
        host_ip,
        host_port,
        container_port,
    }
}

#[test]
fn published_ports_reach_the_container_from_everywhere() {
    let mut lab = Lab::new(false);
    lab.table.add_network(&lab.net).unwrap();
    let cns = lab.container_ns.clone();
    lab.serve(&cns, Protocol::Tcp, 8080);
    lab.serve(&cns, Protocol::Udp, 8081);
    let publisher = Publisher::new(NatTable::new(lab.table.name()).unwrap());
    let any = Ipv4Addr::UNSPECIFIED;
    let udp = PortRequest {
        proto: Protocol::Udp,
        host_ip: any,
        host_port: 0,
        container_port: 8081,
    };
    let published = publisher
        .publish("c1", lab.container_ip, &[tcp(any, 0, 8080), udp])
        .unwrap();
    let (tport, uport) = (published[0].host_port, published[1].host_port);
    assert!(
        tport != 0 && uport != 0,
        "ephemeral ports resolved: {published:?}"
    );
    let (bridge_ip, host_ip, outside_ip) = (
        lab.bridge_ip.to_string(),
        lab.host_ip.to_string(),
        lab.outside_ip.to_string(),
    );
    let ons = lab.outside_ns.clone();

    // The host over 127.0.0.1: DNAT in output, then masqueraded to the bridge's address.
    assert_eq!(
        ask(None, Protocol::Tcp, Ipv4Addr::LOCALHOST, tport).unwrap(),
        bridge_ip
    );
    // The host over its own address: no SNAT needed, the container answers via its gateway.
    assert_eq!(
        ask(None, Protocol::Tcp, lab.host_ip, tport).unwrap(),
        host_ip
    );
    // Another machine (the outside netns): the container sees its real address.
    assert_eq!(
        ask(Some(&ons), Protocol::Tcp, lab.host_ip, tport).unwrap(),
        outside_ip
    );
    assert_eq!(
        ask(Some(&ons), Protocol::Udp, lab.host_ip, uport).unwrap(),
        outside_ip
    );
    // Hairpin: the container reaching its own published port through the host.
    assert_eq!(
        ask(Some(&cns), Protocol::Tcp, lab.host_ip, tport).unwrap(),
        bridge_ip
    );

    // A port published on 127.0.0.1 only is reachable there, and not from outside.
    let local = publisher
        .publish("c2", lab.container_ip, &[tcp(Ipv4Addr::LOCALHOST, 0, 8080)])
        .unwrap();
    let lport = local[0].host_port;
    assert_eq!(
        ask(None, Protocol::Tcp, Ipv4Addr::LOCALHOST, lport).unwrap(),
        bridge_ip
    );
    assert!(ask(Some(&ons), Protocol::Tcp, lab.host_ip, lport).is_err());

    // Rebuilding the table from the desired state keeps everything working.
    let desired = DesiredState {
        networks: vec![lab.net.clone()],
        ports: publisher.published(),
    };
    lab.table.reconcile(&desired).unwrap();
    assert_eq!(
        ask(Some(&ons), Protocol::Tcp, lab.host_ip, tport).unwrap(),
        outside_ip
    );
    assert_eq!(
        ask(None, Protocol::Tcp, Ipv4Addr::LOCALHOST, lport).unwrap(),
        bridge_ip
    );

    // Unpublishing removes exactly c1's rules, and the port stops answering.
    publisher.unpublish("c1").unwrap();
    assert_eq!(lab.tagged(&rules::ports_tag("c1")), 0);
    assert_eq!(lab.tagged(&rules::ports_tag("c2")), 1);
    assert!(ask(Some(&ons), Protocol::Tcp, lab.host_ip, tport).is_err());
    publisher.unpublish("c2").unwrap();
    let (_, listing) = nft(&["list", "table", "ip", lab.table.name()]);
    assert!(!listing.contains("dnat to"), "dnat rules left:\n{listing}");
}

#[test]
fn containers_reach_outside_through_masquerade() {
    let mut lab = Lab::new(false);
    lab.table.add_network(&lab.net).unwrap();
    let ons = lab.outside_ns.clone();
    lab.serve(&ons, Protocol::Tcp, 9000);
    let cns = lab.container_ns.clone();
    // The outside has no route back to the containers: only masquerade makes this work.
    assert_eq!(
        ask(Some(&cns), Protocol::Tcp, lab.outside_ip, 9000).unwrap(),
        lab.host_ip.to_string()
    );
    lab.table.remove_network(&lab.net.name).unwrap();
    assert_eq!(lab.tagged(&rules::network_tag(&lab.net.name)), 0);
    assert!(ask(Some(&cns), Protocol::Tcp, lab.outside_ip, 9000).is_err());
}

#[test]
fn unpublished_container_addresses_are_not_reachable_from_outside() {
    let mut lab = Lab::new(false);
    lab.table.add_network(&lab.net).unwrap();
    lab.route_outside_to_containers();
    let cns = lab.container_ns.clone();
    lab.serve(&cns, Protocol::Tcp, 8080);
    let ons = lab.outside_ns.clone();
    assert!(ask(Some(&ons), Protocol::Tcp, lab.container_ip, 8080).is_err());
    // Without the network's rules the same connection goes through: the drop was the cause.
    lab.table.remove_network(&lab.net.name).unwrap();
    assert_eq!(
        ask(Some(&ons), Protocol::Tcp, lab.container_ip, 8080).unwrap(),
        lab.outside_ip.to_string()
    );
}

#[test]
fn internal_network_has_no_way_out() {
    let mut lab = Lab::new(true);
    lab.table.add_network(&lab.net).unwrap();
    // Give the outside a route back, so that only the table stands in the way.
    lab.route_outside_to_containers();
    let ons = lab.outside_ns.clone();
    lab.serve(&ons, Protocol::Tcp, 9000);
    let cns = lab.container_ns.clone();
    lab.serve(&cns, Protocol::Tcp, 8080);
    assert!(ask(Some(&cns), Protocol::Tcp, lab.outside_ip, 9000).is_err());
    assert!(ask(Some(&ons), Protocol::Tcp, lab.container_ip, 8080).is_err());
    let (_, listing) = nft(&["list", "table", "ip", lab.table.name()]);
    assert!(
        !listing.contains("masquerade"),
        "internal network masqueraded:\n{listing}"
    );
    lab.table.remove_network(&lab.net.name).unwrap();
    // Not masqueraded: the outside sees the container's own address once the drops are gone.
    assert_eq!(
        ask(Some(&cns), Protocol::Tcp, lab.outside_ip, 9000).unwrap(),
        lab.container_ip.to_string()
    );
}

#[test]
fn port_conflicts_are_refused_and_leave_nothing_behind() {
    let lab = Lab::new(false);
    lab.table.add_network(&lab.net).unwrap();
    let publisher = Publisher::new(NatTable::new(lab.table.name()).unwrap());
    let any = Ipv4Addr::UNSPECIFIED;
    let first = publisher
        .publish("a", lab.container_ip, &[tcp(any, 0, 80)])
        .unwrap();
    let port = first[0].host_port;

    // Nothing else on the host can take a published port.
    assert!(TcpListener::bind((any, port)).is_err());

    // A second container asking for it is refused, in Docker's words, and releases the free
    // port it had reserved before hitting the conflict.
    let free = TcpListener::bind((any, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = publisher
        .publish(
            "b",
            lab.bridge_ip,
            &[tcp(any, free, 81), tcp(any, port, 80)],
        )
        .unwrap_err();
    assert!(matches!(err, PortError::Allocated { .. }));
    assert_eq!(
        err.to_string(),
        format!("Bind for 0.0.0.0:{port} failed: port is already allocated")
    );
    assert_eq!(lab.tagged(&rules::ports_tag("b")), 0);
    assert_eq!(lab.tagged(&rules::ports_tag("a")), 1);
    drop(TcpListener::bind((any, free)).expect("the refused publish released its other port"));

    // A port some other program already listens on is refused too.
    let other = TcpListener::bind((any, 0)).unwrap();
    let taken = other.local_addr().unwrap().port();
    let err = publisher
        .publish("c", lab.bridge_ip, &[tcp(any, taken, 80)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Bind for 0.0.0.0:{taken} failed: port is already allocated")
    );

    // Unpublishing releases the port.
    publisher.unpublish("a").unwrap();
    drop(TcpListener::bind((any, port)).expect("port released after unpublish"));
}

#[test]
fn reconcile_rebuilds_exactly_and_delete_leaves_nothing() {
    require_root();
    require_tool("nft", "nftables");
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "berth_r{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    struct Cleanup(NatTable);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = self.0.delete();
        }
    }
    let table = Cleanup(NatTable::new(&name).unwrap());
    let table = &table.0;
    let net = NetworkRules {
        name: "n1".into(),
        bridge: "berth-r-none".into(),
        subnet: Ipv4Addr::new(10, 239, 1, 7), // host bits are ignored
        prefix_len: 24,
        internal: false,
    };
    table.ensure().unwrap();
    table.ensure().unwrap();
    table.add_network(&net).unwrap();
    let per_network = table.rule_comments().unwrap().len();
    // Adding the same network again replaces its rules instead of duplicating them.
    table.add_network(&net).unwrap();
    assert_eq!(table.rule_comments().unwrap().len(), per_network);
    let (_, listing) = nft(&["list", "table", "ip", &name]);
    assert!(listing.contains("10.239.1.0/24"), "{listing}");
    assert_eq!(listing.matches("jump ports").count(), 2, "{listing}");

    // What a crash might leave: a duplicate rule and rules of a container that is gone.
    let (ok, out) = nft(&[
        "add",
        "rule",
        "ip",
        &name,
        "postrouting",
        "masquerade",
        "comment",
        "\"berth net n1\"",
    ]);
    assert!(ok, "{out}");
    let stale = vec![berth_network::nft::PortRule {
        proto: Protocol::Udp,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port: 5353,
        container_ip: Ipv4Addr::new(10, 239, 1, 9),
        container_port: 53,
    }];
    table.add_ports("gone", &stale).unwrap();
    let kept = vec![berth_network::nft::PortRule {
        host_port: 8080,
        container_port: 80,
        proto: Protocol::Tcp,
        ..stale[0]
    }];
    table.add_ports("kept", &kept).unwrap();

    let desired = DesiredState {
        networks: vec![net.clone()],
        ports: vec![("kept".into(), kept)],
    };
    table.reconcile(&desired).unwrap();
    let comments = table.rule_comments().unwrap();
    assert_eq!(
        comments
            .iter()
            .filter(|c| **c == rules::network_tag("n1"))
            .count(),
        per_network
    );
    assert_eq!(
        comments
            .iter()
            .filter(|c| **c == rules::ports_tag("kept"))
            .count(),
        1
    );
    assert_eq!(
        comments
            .iter()
            .filter(|c| **c == rules::ports_tag("gone"))
            .count(),
        0
    );
    let (_, listing) = nft(&["list", "table", "ip", &name]);
    assert!(listing.contains("dnat to 10.239.1.9:80"), "{listing}");
    assert_eq!(listing.matches("jump ports").count(), 2, "{listing}");

    table.delete().unwrap();
    table.delete().unwrap();
    let (ok, _) = nft(&["list", "table", "ip", &name]);
    assert!(!ok, "table still listed after delete");
    let (_, ruleset) = nft(&["list", "ruleset"]);
    assert!(!ruleset.contains(&name), "{ruleset}");
    assert!(table.rule_comments().unwrap().is_empty());
}
