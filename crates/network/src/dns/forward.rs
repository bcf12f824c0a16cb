//! Forwarding queries the server cannot answer to the upstream resolvers.
//!
//! Each upstream gets the client's query under a fresh random id over UDP; an answer is accepted
//! only from that server, with that id and the same question (so an off-path host cannot slip a
//! forged reply in), and a truncated one is fetched again over TCP. A server that times out,
//! refuses the connection, or answers SERVFAIL/REFUSED makes the next one be tried.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

use super::codec::{parse_head, Question, Rcode};

/// Sends `query` (which asks `question`) to each of `upstreams` in turn, each given `timeout`
/// per transport, and returns the first usable reply with the client's id put back. `None`
/// when no upstream gave one.
pub(crate) async fn forward(
    query: &[u8],
    question: &Question,
    upstreams: &[SocketAddr],
    timeout: Duration,
) -> Option<Vec<u8>> {
    let client_id = [query[0], query[1]];
    for &server in upstreams {
        let id = random_id();
        let mut outgoing = query.to_vec();
        outgoing[..2].copy_from_slice(&id.to_be_bytes());
        let reply = match exchange_udp(server, &outgoing, id, question, timeout).await {
            Some(reply) if is_truncated(&reply) => {
                exchange_tcp(server, &outgoing, id, question, timeout).await
            }
            other => other,
        };
        let Some(mut reply) = reply else { continue };
        let rcode = reply[3] & 0xf;
        if rcode == Rcode::ServFail as u8 || rcode == Rcode::Refused as u8 {
            continue;
        }
        reply[..2].copy_from_slice(&client_id);
        return Some(reply);
    }
    None
}

fn is_truncated(reply: &[u8]) -> bool {
    reply[2] & 0x02 != 0
}

/// Whether `reply` answers our query: our id, the response bit, and the same question (an
/// error reply may omit the question).
fn answers(reply: &[u8], id: u16, question: &Question) -> bool {
    let Ok((header, echoed)) = parse_head(reply) else {
        return false;
    };
    if header.id != id || !header.is_response() {
        return false;
    }
    match echoed {
        Some(q) => {
            q.qtype == question.qtype
                && q.qclass == question.qclass
                && q.name.eq_ignore_case(&question.name)
        }
        None => header.rcode() != Rcode::NoError as u8,
    }
}

async fn exchange_udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    question: &Question,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let deadline = Instant::now() + timeout;
    let sock = UdpSocket::bind(local).await.ok()?;
    // Connected, so the kernel only hands us datagrams from `server` and reports ICMP
    // unreachable as an error, which moves on to the next server at once.
    sock.connect(server).await.ok()?;
    sock.send(query).await.ok()?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = timeout_at(deadline, sock.recv(&mut buf)).await.ok()?.ok()?;
        if answers(&buf[..n], id, question) {
            buf.truncate(n);
            return Some(buf);
        }
    }
}

async fn exchange_tcp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    question: &Question,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let exchange = async {
        let mut stream = TcpStream::connect(server).await?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
        framed.extend_from_slice(query);
        stream.write_all(&framed).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = timeout_at(deadline, exchange).await.ok()?.ok()?;
    answers(&reply, id, question).then_some(reply)
}

/// A query id from the kernel's random pool: predictable ids would let an off-path host forge
/// upstream answers.
fn random_id() -> u16 {
    let mut id = [0u8; 2];
    // SAFETY: the buffer is valid for 2 bytes. getrandom(2) never blocks once the pool is
    // initialised, and at worst (an error) leaves the bytes as they were.
    unsafe { libc::getrandom(id.as_mut_ptr().cast(), id.len(), 0) };
    u16::from_ne_bytes(id)
}
