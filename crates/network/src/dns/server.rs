//! The listeners: UDP and TCP on each configured address, answering from the name table of one
//! network and forwarding everything else.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

use super::codec::{
    truncate_for_udp, Header, Message, Name, Question, Rcode, ReplyBuilder, CLASS_ANY, CLASS_IN,
    TYPE_A, TYPE_ANY, TYPE_AXFR, TYPE_IXFR, TYPE_PTR,
};
use super::forward::forward;
use super::names::NameTable;

/// TTL of local answers, Docker's value.
pub const LOCAL_TTL: u32 = 600;
/// The UDP payload size the server announces in its own EDNS0 record (the DNS flag day value).
const EDNS_UDP_SIZE: u16 = 1232;
/// Queries in flight per UDP listener; past it new datagrams are dropped (clients retry).
const MAX_UDP_INFLIGHT: usize = 256;
/// Open TCP connections per listener; past it new ones are closed at once.
const MAX_TCP_CONNECTIONS: usize = 64;
/// A TCP connection idle this long is closed (RFC 7766 suggests seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum DnsError {
    #[error("no listen address given for network {0}")]
    NoListenAddress(String),
    #[error("binding DNS {proto} listener on {addr}: {source}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What one network's server does.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The network whose names this server answers (its part of the [`NameTable`]).
    pub network: String,
    /// Where to listen, UDP and TCP alike: the network's gateway on port 53 in berth. Port 0
    /// picks a free port, the same one for UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// Upstream resolvers, tried in order. Empty for an `--internal` network: unknown names
    /// then get SERVFAIL and nothing leaves the host.
    pub upstreams: Vec<SocketAddr>,
    /// How long to wait for one upstream (per transport) before trying the next.
    pub upstream_timeout: Duration,
}

impl DnsConfig {
    /// A config with a 2-second upstream timeout.
    pub fn new(network: &str, listen: Vec<SocketAddr>, upstreams: Vec<SocketAddr>) -> DnsConfig {
        DnsConfig {
            network: network.to_string(),
            listen,
            upstreams,
            upstream_timeout: Duration::from_secs(2),
        }
    }
}

/// A running server. Dropping it stops the listeners (in the background); [`DnsServer::stop`]
/// stops them and returns once their sockets are closed.
pub struct DnsServer {
    addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds every listen address (UDP and TCP) and starts serving. Must run inside a tokio
    /// runtime. Nothing is left listening if one address fails.
    pub async fn start(config: DnsConfig, table: Arc<NameTable>) -> Result<DnsServer, DnsError> {
        if config.listen.is_empty() {
            return Err(DnsError::NoListenAddress(config.network));
        }
        let mut bound = Vec::new();
        for &addr in &config.listen {
            bound.push(bind_pair(addr)?);
        }
        let resolver = Arc::new(Resolver { table, config });
        let (shutdown, watcher) = watch::channel(false);
        let mut addrs = Vec::new();
        let mut tasks = Vec::new();
        for (udp, tcp, addr) in bound {
            addrs.push(addr);
            tasks.push(tokio::spawn(serve_udp(
                Arc::new(udp),
                resolver.clone(),
                watcher.clone(),
            )));
            tasks.push(tokio::spawn(serve_tcp(
                tcp,
                resolver.clone(),
                watcher.clone(),
            )));
        }
        Ok(DnsServer {
            addrs,
            shutdown,
            tasks,
        })
    }

    /// The addresses actually listened on (with the ports picked for port 0), UDP and TCP.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops answering, waits for in-flight queries to be cancelled and closes the sockets.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Binds UDP and TCP on `addr`; for port 0, on one port free for both.
fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr), DnsError> {
    let udp_err = |source| DnsError::Bind {
        proto: "UDP",
        addr,
        source,
    };
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let std_udp = std::net::UdpSocket::bind(addr).map_err(udp_err)?;
        let local = std_udp.local_addr().map_err(udp_err)?;
        match bind_tcp(local) {
            Ok(tcp) => {
                std_udp.set_nonblocking(true).map_err(udp_err)?;
                let udp = UdpSocket::from_std(std_udp).map_err(udp_err)?;
                return Ok((udp, tcp, local));
            }
            // Port 0: UDP's free port may be taken for TCP; draw another.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => {
                return Err(DnsError::Bind {
                    proto: "TCP",
                    addr: local,
                    source: e,
                })
            }
        }
    }
    let source = last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrInUse));
    Err(DnsError::Bind {
        proto: "TCP",
        addr,
        source,
    })
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // A restarted berthd must get its port back while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn serve_udp(
    sock: Arc<UdpSocket>,
    resolver: Arc<Resolver>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut inflight = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        while inflight.try_join_next().is_some() {}
        let (n, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            received = sock.recv_from(&mut buf) => match received {
                Ok(r) => r,
                // Transient (e.g. a queued ICMP error): the socket is still good.
                Err(_) => continue,
            },
        };
        if inflight.len() >= MAX_UDP_INFLIGHT {
            continue;
        }
        let packet = buf[..n].to_vec();
        let (sock, resolver) = (sock.clone(), resolver.clone());
        inflight.spawn(async move {
            if let Some(reply) = resolver.handle(&packet, true).await {
                let _ = sock.send_to(&reply, peer).await;
            }
        });
    }
    inflight.shutdown().await;
}

async fn serve_tcp(
    listener: TcpListener,
    resolver: Arc<Resolver>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of descriptors, most likely: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if connections.len() < MAX_TCP_CONNECTIONS {
            connections.spawn(serve_connection(stream, resolver.clone()));
        }
    }
    connections.shutdown().await;
}

/// Answers length-prefixed queries on one connection, in order, until it closes or idles.
async fn serve_connection(mut stream: TcpStream, resolver: Arc<Resolver>) {
    loop {
        let mut len = [0u8; 2];
        if !matches!(
            timeout(TCP_IDLE, stream.read_exact(&mut len)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(
            timeout(TCP_IDLE, stream.read_exact(&mut packet)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let Some(reply) = resolver.handle(&packet, false).await else {
            continue;
        };
        let reply = truncate_for_udp(&reply, usize::from(u16::MAX));
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        if !matches!(
            timeout(TCP_IDLE, stream.write_all(&framed)).await,
            Ok(Ok(_))
        ) {
            return;
        }
    }
}

/// Answers one network's queries.
struct Resolver {
    table: Arc<NameTable>,
    config: DnsConfig,
}

impl Resolver {
    /// The reply to `packet`, or `None` when nothing should be sent back (not even a header to
    /// answer, or a response sent to us, which answering could turn into a loop).
    async fn handle(&self, packet: &[u8], over_udp: bool) -> Option<Vec<u8>> {
        let header = Header::parse(packet).ok()?;
        if header.is_response() {
            return None;
        }
        if header.opcode() != 0 {
            return Some(ReplyBuilder::new(&header, None, Rcode::NotImp).finish());
        }
        let Ok(query) = Message::parse(packet) else {
            return Some(ReplyBuilder::new(&header, None, Rcode::FormErr).finish());
        };
        let [question] = query.questions.as_slice() else {
            return Some(ReplyBuilder::new(&header, None, Rcode::FormErr).finish());
        };
        let reply = self.answer(packet, &query, question).await;
        if over_udp {
            let reply = truncate_for_udp(&reply, query.udp_payload_limit());
            return (!reply.is_empty()).then_some(reply);
        }
        Some(reply)
    }

    async fn answer(&self, packet: &[u8], query: &Message, question: &Question) -> Vec<u8> {
        let reply = |rcode| ReplyBuilder::new(&query.header, Some(question), rcode).finish();
        // Zone transfers and other classes (CHAOS version probes…) are not this server's business.
        if matches!(question.qtype, TYPE_AXFR | TYPE_IXFR)
            || !matches!(question.qclass, CLASS_IN | CLASS_ANY)
        {
            return reply(Rcode::Refused);
        }
        if let Some(local) = self.answer_locally(query, question) {
            return local;
        }
        let timeout = self.config.upstream_timeout;
        match forward(packet, question, &self.config.upstreams, timeout).await {
            Some(upstream) => upstream,
            None => reply(Rcode::ServFail),
        }
    }

    /// An answer from the name table, or `None` when the name is not one of this network's.
    fn answer_locally(&self, query: &Message, question: &Question) -> Option<Vec<u8>> {
        let key = question.name.lookup_key()?;
        let network = &self.config.network;
        let mut builder =
            ReplyBuilder::new(&query.header, Some(question), Rcode::NoError).authoritative();
        if question.qtype == TYPE_PTR {
            let target = self.table.reverse(network, reverse_ipv4(&key)?)?;
            // Registered names were normalized, so this only fails for an over-long network name.
            builder = builder.answer_ptr(&Name::from_dotted(&target).ok()?, LOCAL_TTL);
        } else {
            let mut ips = self.table.lookup(network, &key);
            if ips.is_empty() {
                return None;
            }
            // Spread clients over the containers sharing an alias, as Docker's shuffle does.
            let offset = (query.header.id as usize) % ips.len();
            ips.rotate_left(offset);
            // The name exists: AAAA and other types get NOERROR with no answers (IPv4-only).
            if matches!(question.qtype, TYPE_A | TYPE_ANY) {
                for ip in ips {
                    builder = builder.answer_a(ip, LOCAL_TTL);
                }
            }
        }
        if query.has_edns() {
            builder = builder.edns(EDNS_UDP_SIZE);
        }
        Some(builder.finish())
    }
}

/// `4.3.2.1.in-addr.arpa` → 1.2.3.4.
fn reverse_ipv4(key: &str) -> Option<Ipv4Addr> {
    let octets = key.strip_suffix(".in-addr.arpa")?;
    let mut parts = octets.split('.').map(|p| p.parse::<u8>().ok());
    let (d, c, b, a) = (
        parts.next()??,
        parts.next()??,
        parts.next()??,
        parts.next()??,
    );
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::new(a, b, c, d))
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
