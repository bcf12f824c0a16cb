//! The embedded DNS server seen from a client: real UDP and TCP sockets on loopback, names
//! registered live, and fake upstream resolvers started by each test (no internet needed).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_network::dns::codec::{
    build_query, Header, Message, Name, RData, Rcode, ReplyBuilder, TYPE_A, TYPE_AAAA, TYPE_ANY,
    TYPE_OPT, TYPE_PTR,
};
use berth_network::dns::{DnsConfig, DnsServer, NameTable, LOCAL_TTL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WEB: Ipv4Addr = Ipv4Addr::new(10, 201, 7, 2);
const DB: Ipv4Addr = Ipv4Addr::new(10, 201, 7, 3);
const UPSTREAM_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 55);

fn loopback0() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start(
    network: &str,
    table: &Arc<NameTable>,
    upstreams: Vec<SocketAddr>,
) -> (DnsServer, SocketAddr) {
    let mut config = DnsConfig::new(network, vec![loopback0()], upstreams);
    config.upstream_timeout = Duration::from_millis(300);
    let server = DnsServer::start(config, table.clone())
        .await
        .expect("start DNS server");
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// A query with an EDNS0 OPT record announcing `udp_size`.
fn edns_query(id: u16, name: &str, qtype: u16, udp_size: u16) -> Vec<u8> {
    let mut q = build_query(id, &Name::from_dotted(name).unwrap(), qtype, true);
    q[11] = 1; // arcount
    q.push(0);
    q.extend_from_slice(&TYPE_OPT.to_be_bytes());
    q.extend_from_slice(&udp_size.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    q
}

fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    build_query(id, &Name::from_dotted(name).unwrap(), qtype, true)
}

/// Sends `packet` and waits a second for the reply, `attempts` times: UDP may drop a datagram
/// on a loaded machine, and real stub resolvers retry the same way.
async fn udp_exchange(server: SocketAddr, packet: &[u8], attempts: usize) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind(loopback0()).await.unwrap();
    let mut buf = vec![0u8; 65535];
    for _ in 0..attempts {
        sock.send_to(packet, server).await.unwrap();
        if let Ok(received) = timeout(Duration::from_secs(1), sock.recv_from(&mut buf)).await {
            let (n, from) = received.unwrap();
            assert_eq!(from, server, "reply comes from the address queried");
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

async fn udp(server: SocketAddr, packet: &[u8]) -> Message {
    let reply = udp_exchange(server, packet, 3)
        .await
        .expect("no UDP reply in 3 tries");
    Message::parse(&reply).expect("reply decodes")
}

async fn tcp(server: SocketAddr, packet: &[u8]) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    stream
        .write_all(&(packet.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(packet).await.unwrap();
    let reply = timeout(Duration::from_secs(3), read_framed(&mut stream))
        .await
        .expect("TCP reply within 3s");
    Message::parse(&reply.expect("TCP reply")).expect("reply decodes")
}

async fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers
        .iter()
        .map(|r| match r.rdata {
            RData::A(ip) => ip,
            ref other => panic!("not an A record: {other:?}"),
        })
        .collect()
}

/// How a fake upstream resolver behaves.
#[derive(Clone, Copy)]
enum Upstream {
    /// A queries: `UPSTREAM_ANSWER`, except NXDOMAIN for names starting with "nx"; other types
    /// NXDOMAIN.
    Answers,
    /// Over UDP: an empty truncated reply; over TCP: `count` A records.
    TruncatesUdp { count: u8 },
    /// Reads queries and never answers.
    Silent,
    /// SERVFAIL for everything.
    Fails,
}

/// A fake upstream on 127.0.0.1, UDP and TCP on one port, counting what it is asked.
struct FakeUpstream {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    names: Arc<Mutex<Vec<String>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

fn upstream_reply(packet: &[u8], behaviour: Upstream, over_tcp: bool) -> Option<Vec<u8>> {
    let msg = Message::parse(packet).ok()?;
    let q = msg.questions.first()?;
    let reply = match behaviour {
        Upstream::Silent => return None,
        Upstream::Fails => ReplyBuilder::new(&msg.header, Some(q), Rcode::ServFail).finish(),
        Upstream::Answers if q.qtype != TYPE_A || q.name.lookup_key()?.starts_with("nx") => {
            ReplyBuilder::new(&msg.header, Some(q), Rcode::NxDomain).finish()
        }
        Upstream::Answers => ReplyBuilder::new(&msg.header, Some(q), Rcode::NoError)
            .answer_a(UPSTREAM_ANSWER, 30)
            .finish(),
        Upstream::TruncatesUdp { .. } if !over_tcp => {
            let mut r = ReplyBuilder::new(&msg.header, Some(q), Rcode::NoError).finish();
            r[2] |= 0x02;
            r
        }
        Upstream::TruncatesUdp { count } => {
            let mut b = ReplyBuilder::new(&msg.header, Some(q), Rcode::NoError);
            for i in 0..count {
                b = b.answer_a(Ipv4Addr::new(198, 51, 100, i), 30);
            }
            b.finish()
        }
    };
    Some(reply)
}

impl FakeUpstream {
    async fn start(behaviour: Upstream) -> FakeUpstream {
        let (udp, tcp) = loop {
            let udp = std::net::UdpSocket::bind(loopback0()).unwrap();
            if let Ok(tcp) = std::net::TcpListener::bind(udp.local_addr().unwrap()) {
                break (udp, tcp);
            }
        };
        udp.set_nonblocking(true).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let addr = udp.local_addr().unwrap();
        let (udp, tcp) = (
            UdpSocket::from_std(udp).unwrap(),
            TcpListener::from_std(tcp).unwrap(),
        );
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let names = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (udp_queries.clone(), names.clone());
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
                count.fetch_add(1, Ordering::SeqCst);
                if let Ok(msg) = Message::parse(&buf[..n]) {
                    let name = msg.questions[0].name.lookup_key().unwrap_or_default();
                    seen.lock().unwrap().push(name);
                }
                if let Some(reply) = upstream_reply(&buf[..n], behaviour, false) {
                    udp.send_to(&reply, peer).await.unwrap();
                }
            }
        });
        let count = tcp_queries.clone();
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    while let Ok(packet) = read_framed(&mut stream).await {
                        count.fetch_add(1, Ordering::SeqCst);
                        let Some(reply) = upstream_reply(&packet, behaviour, true) else {
                            continue;
                        };
                        stream
                            .write_all(&(reply.len() as u16).to_be_bytes())
                            .await
                            .unwrap();
                        stream.write_all(&reply).await.unwrap();
                    }
                });
            }
        });
        FakeUpstream {
            addr,
            udp_queries,
            tcp_queries,
            names,
            tasks: vec![udp_task, tcp_task],
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_names_resolve_over_udp_and_tcp() {
    let table = Arc::new(NameTable::new());
    table.register("berth-dns-names", &["web", "0123456789ab", "frontend"], WEB);
    table.register("berth-dns-names", &["db", "fedcba987654", "frontend"], DB);
    let upstream = FakeUpstream::start(Upstream::Answers).await;
    let (server, addr) = start("berth-dns-names", &table, vec![upstream.addr]).await;

    for name in ["web", "WEB", "Web.", "0123456789AB", "web.berth-dns-names"] {
        for reply in [
            udp(addr, &query(7, name, TYPE_A)).await,
            tcp(addr, &query(7, name, TYPE_A)).await,
        ] {
            assert_eq!(reply.header.id, 7);
            assert!(
                reply.header.is_response() && reply.header.authoritative(),
                "{name}"
            );
            assert_eq!(reply.header.rcode(), Rcode::NoError as u8, "{name}");
            assert_eq!(a_records(&reply), [WEB], "{name}");
            assert_eq!(reply.answers[0].ttl, LOCAL_TTL);
            assert!(reply.answers[0]
                .name
                .eq_ignore_case(&Name::from_dotted(name).unwrap()));
        }
    }
    // An alias shared by two containers resolves to both.
    let mut both = a_records(&udp(addr, &query(8, "frontend", TYPE_A)).await);
    both.sort();
    assert_eq!(both, [WEB, DB]);
    // ANY gives the A records; AAAA of a known name is NOERROR with no answers (IPv4-only).
    assert_eq!(a_records(&udp(addr, &query(9, "db", TYPE_ANY)).await), [DB]);
    let aaaa = udp(addr, &query(10, "db", TYPE_AAAA)).await;
    assert_eq!(
        (aaaa.header.rcode(), aaaa.answers.len()),
        (Rcode::NoError as u8, 0)
    );
    // PTR for a registered address names the container on its network.
    let ptr = udp(addr, &query(11, "2.7.201.10.in-addr.arpa.", TYPE_PTR)).await;
    assert_eq!(ptr.answers.len(), 1);
    assert_eq!(
        ptr.answers[0].rdata,
        RData::Name(Name::from_dotted("web.berth-dns-names").unwrap())
    );
    // An EDNS query gets an EDNS reply.
    assert!(udp(addr, &edns_query(12, "web", TYPE_A, 1232))
        .await
        .has_edns());
    assert_eq!(
        upstream.udp_queries.load(Ordering::SeqCst),
        0,
        "local names are never forwarded"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_follow_register_and_unregister_live() {
    let table = Arc::new(NameTable::new());
    let upstream = FakeUpstream::start(Upstream::Answers).await;
    let (server, addr) = start("berth-dns-live", &table, vec![upstream.addr]).await;
    // Unknown here, so the upstream decides: NXDOMAIN.
    assert_eq!(
        udp(addr, &query(1, "nxcontainer", TYPE_A))
            .await
            .header
            .rcode(),
        Rcode::NxDomain as u8
    );
    table.register("berth-dns-live", &["nxcontainer"], WEB);
    assert_eq!(
        a_records(&udp(addr, &query(2, "nxcontainer", TYPE_A)).await),
        [WEB]
    );
    table.unregister("berth-dns-live", WEB);
    assert_eq!(
        udp(addr, &query(3, "nxcontainer", TYPE_A))
            .await
            .header
            .rcode(),
        Rcode::NxDomain as u8
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_does_not_resolve_another_networks_names() {
    let table = Arc::new(NameTable::new());
    table.register("berth-dns-a", &["nx-only-on-a"], WEB);
    table.register("berth-dns-b", &["nx-only-on-b"], DB);
    let upstream = FakeUpstream::start(Upstream::Answers).await;
    let (server_a, a) = start("berth-dns-a", &table, vec![upstream.addr]).await;
    let (server_b, b) = start("berth-dns-b", &table, vec![upstream.addr]).await;
    assert_eq!(
        a_records(&udp(a, &query(1, "nx-only-on-a", TYPE_A)).await),
        [WEB]
    );
    assert_eq!(
        a_records(&udp(b, &query(2, "nx-only-on-b", TYPE_A)).await),
        [DB]
    );
    assert_eq!(
        udp(b, &query(3, "nx-only-on-a", TYPE_A))
            .await
            .header
            .rcode(),
        Rcode::NxDomain as u8
    );
    assert_eq!(
        tcp(a, &query(4, "nx-only-on-b", TYPE_A))
            .await
            .header
            .rcode(),
        Rcode::NxDomain as u8
    );
    let ptr = udp(b, &query(5, "2.7.201.10.in-addr.arpa", TYPE_PTR)).await;
    assert!(
        ptr.answers.is_empty(),
        "B's listener must not name A's container"
    );
    assert_eq!(
        ptr.header.rcode(),
        Rcode::NxDomain as u8,
        "B forwarded the PTR query"
    );
    server_a.stop().await;
    server_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_names_are_forwarded_with_the_clients_id() {
    let table = Arc::new(NameTable::new());
    let upstream = FakeUpstream::start(Upstream::Answers).await;
    let (server, addr) = start("berth-dns-fwd", &table, vec![upstream.addr]).await;
    let reply = udp(addr, &query(0x4242, "Example.COM", TYPE_A)).await;
    assert_eq!(reply.header.id, 0x4242);
    assert_eq!(a_records(&reply), [UPSTREAM_ANSWER]);
    assert_eq!(
        reply.answers[0].ttl, 30,
        "upstream answers pass through unchanged"
    );
    let reply = tcp(addr, &query(0x4343, "example.org", TYPE_A)).await;
    assert_eq!(
        (reply.header.id, a_records(&reply)),
        (0x4343, vec![UPSTREAM_ANSWER])
    );
    assert_eq!(
        *upstream.names.lock().unwrap(),
        ["example.com", "example.org"]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_upstream_answers_are_fetched_over_tcp() {
    let table = Arc::new(NameTable::new());
    let upstream = FakeUpstream::start(Upstream::TruncatesUdp { count: 100 }).await;
    let (server, addr) = start("berth-dns-tc", &table, vec![upstream.addr]).await;
    // 100 A records (about 1.6 KB) reach a TCP client whole…
    let reply = tcp(addr, &query(1, "big.example", TYPE_A)).await;
    assert!(!reply.header.truncated());
    assert_eq!(reply.answers.len(), 100);
    // …and a UDP client that allows 4096 bytes with EDNS0…
    let reply = udp(addr, &edns_query(2, "big.example", TYPE_A, 4096)).await;
    assert_eq!((reply.header.id, reply.answers.len()), (2, 100));
    // …but a classic 512-byte UDP client is told to retry over TCP.
    let reply = udp(addr, &query(3, "big.example", TYPE_A)).await;
    assert!(reply.header.truncated());
    assert_eq!((reply.header.id, reply.answers.len()), (3, 0));
    assert_eq!(upstream.udp_queries.load(Ordering::SeqCst), 3);
    assert_eq!(upstream.tcp_queries.load(Ordering::SeqCst), 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_or_failing_upstreams_give_servfail_and_the_next_one_is_tried() {
    let table = Arc::new(NameTable::new());
    let silent = FakeUpstream::start(Upstream::Silent).await;
    let failing = FakeUpstream::start(Upstream::Fails).await;
    let good = FakeUpstream::start(Upstream::Answers).await;

    let (server, addr) = start("berth-dns-dead", &table, vec![silent.addr, failing.addr]).await;
    let started = Instant::now();
    let reply = udp(addr, &query(1, "example.com", TYPE_A)).await;
    assert_eq!(
        (reply.header.id, reply.header.rcode()),
        (1, Rcode::ServFail as u8)
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(silent.udp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(
        failing.udp_queries.load(Ordering::SeqCst),
        1,
        "the next server is tried after a timeout"
    );
    server.stop().await;

    let (server, addr) = start(
        "berth-dns-dead",
        &table,
        vec![silent.addr, failing.addr, good.addr],
    )
    .await;
    assert_eq!(
        a_records(&udp(addr, &query(2, "example.com", TYPE_A)).await),
        [UPSTREAM_ANSWER]
    );
    server.stop().await;

    // No upstreams at all (an --internal network): SERVFAIL at once, nothing leaves.
    let (server, addr) = start("berth-dns-dead", &table, vec![]).await;
    assert_eq!(
        tcp(addr, &query(3, "example.com", TYPE_A))
            .await
            .header
            .rcode(),
        Rcode::ServFail as u8
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_packets_get_errors_or_silence_and_the_server_lives_on() {
    let table = Arc::new(NameTable::new());
    table.register("berth-dns-hostile", &["web"], WEB);
    let (server, addr) = start("berth-dns-hostile", &table, vec![]).await;

    // A header whose question is cut short: FORMERR with the query's id.
    let q = query(0x0bad, "web", TYPE_A);
    let reply = udp_exchange(addr, &q[..q.len() - 3], 3)
        .await
        .expect("FORMERR reply");
    let h = Header::parse(&reply).unwrap();
    assert_eq!((h.id, h.rcode()), (0x0bad, Rcode::FormErr as u8));
    // Shorter than a header: nothing to answer.
    assert_eq!(udp_exchange(addr, &[0xff; 5], 1).await, None);

    // A flood of random datagrams and TCP garbage.
    let sock = UdpSocket::bind(loopback0()).await.unwrap();
    let mut seed = 0x1234_5678_9abc_def0u64;
    for _ in 0..2_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 600) as usize;
        let packet: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
        let _ = sock.send_to(&packet, addr).await;
    }
    for garbage in [
        &[0xffu8, 0xff, 1, 2, 3][..],
        &[0, 3, 1, 2, 3],
        &[0, 0],
        &[7],
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        drop(stream);
    }
    assert_eq!(a_records(&udp(addr, &query(1, "web", TYPE_A)).await), [WEB]);
    assert_eq!(a_records(&tcp(addr, &query(2, "web", TYPE_A)).await), [WEB]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_closes_the_sockets() {
    let table = Arc::new(NameTable::new());
    table.register("berth-dns-stop", &["web"], WEB);
    let (server, addr) = start("berth-dns-stop", &table, vec![]).await;
    // An idle TCP connection must not keep anything open past stop.
    let idle = TcpStream::connect(addr).await.unwrap();
    assert_eq!(a_records(&udp(addr, &query(1, "web", TYPE_A)).await), [WEB]);
    server.stop().await;
    std::net::UdpSocket::bind(addr).expect("UDP port free after stop");
    std::net::TcpListener::bind(addr).expect("TCP port free after stop");
    drop(idle);
    // And a new server can take the same address.
    let mut config = DnsConfig::new("berth-dns-stop", vec![addr], vec![]);
    config.upstream_timeout = Duration::from_millis(100);
    let again = DnsServer::start(config, table.clone())
        .await
        .expect("restart on the same port");
    assert_eq!(a_records(&udp(addr, &query(2, "web", TYPE_A)).await), [WEB]);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_fails_cleanly_on_a_taken_port_or_no_address() {
    let table = Arc::new(NameTable::new());
    let (server, addr) = start("berth-dns-busy", &table, vec![]).await;
    let err = DnsServer::start(DnsConfig::new("other", vec![addr], vec![]), table.clone())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let err = DnsServer::start(DnsConfig::new("none", vec![], vec![]), table.clone())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("no listen address"), "{err}");
    server.stop().await;
}

/// Port 53 itself, as berth uses it, on a loopback address of this test's own (needs root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listens_on_port_53() {
    berth_testutil::require_root();
    let pid = std::process::id();
    let ip = Ipv4Addr::new(127, 53, (pid >> 8) as u8, pid as u8);
    let table = Arc::new(NameTable::new());
    table.register("berth-dns-53", &["web"], WEB);
    let config = DnsConfig::new("berth-dns-53", vec![SocketAddr::from((ip, 53))], vec![]);
    let server = DnsServer::start(config, table).await.expect("bind port 53");
    assert_eq!(server.local_addrs(), [SocketAddr::from((ip, 53))]);
    let addr = server.local_addrs()[0];
    assert_eq!(a_records(&udp(addr, &query(1, "web", TYPE_A)).await), [WEB]);
    assert_eq!(a_records(&tcp(addr, &query(2, "web", TYPE_A)).await), [WEB]);
    server.stop().await;
}

/// An independent client (busybox's nslookup, not this crate's codec) resolves container names,
/// PTR and forwarded names through the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_nslookup_resolves_through_the_server() {
    let busybox = berth_testutil::require_tool("busybox", "busybox-static");
    let table = Arc::new(NameTable::new());
    table.register("berth-dns-bb", &["web", "0123456789ab"], WEB);
    let upstream = FakeUpstream::start(Upstream::Answers).await;
    let (server, addr) = start("berth-dns-bb", &table, vec![upstream.addr]).await;
    let nslookup = |args: Vec<String>| {
        let busybox = busybox.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(&busybox)
                .arg("nslookup")
                .args(&args)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.success(), text)
        })
    };
    let server_arg = addr.to_string();
    for name in ["web.", "0123456789AB.", "example.com"] {
        let (ok, out) = nslookup(vec!["-type=a".into(), name.into(), server_arg.clone()])
            .await
            .unwrap();
        let want = if name == "example.com" {
            UPSTREAM_ANSWER
        } else {
            WEB
        };
        assert!(
            ok && out.contains(&format!("Address: {want}")),
            "nslookup {name}:\n{out}"
        );
    }
    let (ok, out) = nslookup(vec![WEB.to_string(), server_arg.clone()])
        .await
        .unwrap();
    assert!(
        ok && out.contains("web.berth-dns-bb"),
        "nslookup {WEB}:\n{out}"
    );
    server.stop().await;
}
