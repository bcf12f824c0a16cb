//! A small, synchronous NETLINK_ROUTE client: just enough rtnetlink to create and configure
//! links, addresses and routes.
//!
//! Why hand-rolled rather than the `rtnetlink` or `neli` crates: configuring a container's
//! interfaces has to happen on a thread that has `setns()`ed into the container's network
//! namespace (a netlink socket talks to the namespace it was opened in). A blocking socket
//! owned by that one short-lived thread is the natural fit; `rtnetlink` needs a tokio runtime
//! and a connection task per socket, which we would have to build and tear down on every such
//! thread. The handful of messages berth sends (NEWLINK/DELLINK/GETLINK, NEWADDR/GETADDR,
//! NEWROUTE/GETROUTE) fit in a few hundred lines with no further dependency, and every request
//! is one `send` and one or two `recv`s, which keeps a full container attach to a few ms.
//!
//! Every request asks for an acknowledgement, and the kernel's extended-ack message (when it
//! gives one) is carried in the error so failures read like `ip`'s.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// Message types and flags (linux/netlink.h, linux/rtnetlink.h). Spelled out here because not
// all of them are in the `libc` crate, and the values are ABI.
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_GETROUTE: u16 = 26;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
/// Set in an error message when extended-ack attributes follow the echoed header.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// Set in an error message when the kernel did not echo the whole request back.
const NLM_F_CAPPED: u16 = 0x100;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NLMSGERR_ATTR_MSG: u16 = 1;

const NLA_TYPE_MASK: u16 = 0x3fff;
const NLA_F_NESTED: u16 = 0x8000;
const HEADER_LEN: usize = 16;

/// Errors from the netlink socket itself or refusals from the kernel.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error("{}{}", io::Error::from_raw_os_error(*.errno),
        .message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kernel { errno: i32, message: Option<String> },
    #[error("malformed netlink reply: {0}")]
    Malformed(&'static str),
}

impl NetlinkError {
    /// The errno the kernel answered with, if this is a kernel refusal.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, NetlinkError>;

/// Rounds up to netlink's 4-byte alignment.
fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Builds one netlink message: header, fixed family header, then attributes (possibly nested).
pub(crate) struct Message {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Message {
    pub(crate) fn new(kind: u16, flags: u16) -> Message {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&[0u8; HEADER_LEN]);
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        Message {
            buf,
            nests: Vec::new(),
        }
    }

    /// Appends the fixed family header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`), padded.
    pub(crate) fn fixed(mut self, bytes: &[u8]) -> Message {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    fn pad(&mut self) {
        let len = align(self.buf.len());
        self.buf.resize(len, 0);
    }

    pub(crate) fn attr(mut self, kind: u16, value: &[u8]) -> Message {
        let len = (4 + value.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
        self
    }

    pub(crate) fn attr_u32(self, kind: u16, value: u32) -> Message {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// A NUL-terminated string attribute (interface names, link kinds).
    pub(crate) fn attr_str(self, kind: u16, value: &str) -> Message {
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        self.attr(kind, &bytes)
    }

    pub(crate) fn begin_nest(mut self, kind: u16) -> Message {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub(crate) fn end_nest(mut self) -> Message {
        let start = self.nests.pop().expect("end_nest without begin_nest");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        debug_assert!(self.nests.is_empty(), "unbalanced netlink nests");
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// Iterates over the attributes in `buf`, yielding (type without flags, payload).
pub(crate) fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        let payload = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((kind, payload))
    })
}

/// A NUL-terminated string attribute's value.
pub(crate) fn attr_string(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

pub(crate) fn attr_u32(payload: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?))
}

/// A NETLINK_ROUTE socket bound to the network namespace of the thread that opened it.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(NetlinkError::Socket(io::Error::last_os_error()));
        }
        // SAFETY: raw is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: zeroed sockaddr_nl is valid; pid 0 lets the kernel pick the port id.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: addr is a valid sockaddr_nl of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(NetlinkError::Socket(io::Error::last_os_error()));
        }
        // Best effort: extended acks give readable reasons, capped acks keep replies short.
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt with a valid int pointer and size.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    opt,
                    &one as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        Ok(Netlink {
            fd,
            seq: 0,
            buf: vec![0u8; 16 * 1024],
        })
    }

    /// Sends a request that changes something and waits for the kernel's acknowledgement.
    pub(crate) fn request(&mut self, msg: Message) -> Result<()> {
        self.transact(msg, NLM_F_ACK).map(|_| ())
    }

    /// Sends a request answered by one message (e.g. GETLINK by name) and returns its payload.
    pub(crate) fn get(&mut self, msg: Message) -> Result<Vec<u8>> {
        self.transact(msg, NLM_F_ACK)?
            .into_iter()
            .next()
            .ok_or(NetlinkError::Malformed("no reply to a get request"))
    }

    /// Sends a dump request and returns every message's payload (family header + attributes).
    pub(crate) fn dump(&mut self, msg: Message) -> Result<Vec<Vec<u8>>> {
        self.transact(msg, NLM_F_DUMP)
    }

    fn transact(&mut self, mut msg: Message, extra_flags: u16) -> Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let flags = u16::from_ne_bytes([msg.buf[6], msg.buf[7]]) | extra_flags;
        msg.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        let bytes = msg.finish(seq);
        // SAFETY: sending a fully built buffer on our socket (to the kernel: no address needed).
        let sent = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                bytes.as_ptr() as *const libc::c_void,
                bytes.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(NetlinkError::Socket(io::Error::last_os_error()));
        }
        let mut replies = Vec::new();
        loop {
            let n = self.recv()?;
            let mut off = 0;
            while off + HEADER_LEN <= n {
                let h = &self.buf[off..off + HEADER_LEN];
                let len = u32::from_ne_bytes(h[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes([h[4], h[5]]);
                let mflags = u16::from_ne_bytes([h[6], h[7]]);
                let mseq = u32::from_ne_bytes(h[8..12].try_into().unwrap());
                if len < HEADER_LEN || off + len > n {
                    return Err(NetlinkError::Malformed("truncated message"));
                }
                let payload = &self.buf[off + HEADER_LEN..off + len];
                off += align(len);
                if mseq != seq {
                    continue; // a late reply to an earlier, abandoned request
                }
                match kind {
                    NLMSG_ERROR => return parse_error(payload, mflags).map(|()| replies),
                    NLMSG_DONE => {
                        // A dump can end with an error code in the DONE payload.
                        if let Some(code) = payload.get(..4) {
                            let code = i32::from_ne_bytes(code.try_into().unwrap());
                            if code < 0 {
                                return Err(NetlinkError::Kernel {
                                    errno: -code,
                                    message: None,
                                });
                            }
                        }
                        return Ok(replies);
                    }
                    // Requests always ask for an ack and dumps end with DONE, so every other
                    // message is data to collect until one of those arrives.
                    _ => replies.push(payload.to_vec()),
                }
            }
        }
    }

    fn recv(&mut self) -> Result<usize> {
        // Peek first (MSG_TRUNC makes recv report the datagram's full size) so a reply larger
        // than the buffer, e.g. a dump of links with many attributes, grows it instead of
        // being cut off; then take the datagram for real.
        loop {
            let peeked = self.recv_flags(libc::MSG_PEEK | libc::MSG_TRUNC)?;
            if peeked > self.buf.len() {
                self.buf.resize(peeked.next_power_of_two(), 0);
                continue;
            }
            return self.recv_flags(0);
        }
    }

    fn recv_flags(&mut self, flags: libc::c_int) -> Result<usize> {
        loop {
            // SAFETY: receiving into our own buffer of the stated length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    flags,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(NetlinkError::Socket(err));
            }
            return Ok(n as usize);
        }
    }
}

/// Decodes an NLMSG_ERROR payload: `int error`, the echoed request header (or whole request
/// when not capped), then extended-ack attributes.
fn parse_error(payload: &[u8], flags: u16) -> Result<()> {
    let code = payload
        .get(..4)
        .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
        .ok_or(NetlinkError::Malformed("short error message"))?;
    if code == 0 {
        return Ok(());
    }
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 && payload.len() >= 4 + HEADER_LEN {
        let echoed_len = u32::from_ne_bytes(payload[4..8].try_into().unwrap()) as usize;
        let skip = if flags & NLM_F_CAPPED != 0 {
            HEADER_LEN
        } else {
            align(echoed_len)
        };
        if let Some(tlvs) = payload.get(4 + skip..) {
            message = attrs(tlvs)
                .find(|(k, _)| *k == NLMSGERR_ATTR_MSG)
                .map(|(_, v)| attr_string(v));
        }
    }
    Err(NetlinkError::Kernel {
        errno: -code,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout_is_aligned_and_nested_lengths_are_filled_in() {
        let msg = Message::new(RTM_NEWLINK, NLM_F_CREATE)
            .fixed(&[0u8; 16])
            .attr_str(3, "eth0")
            .begin_nest(18)
            .attr_str(1, "veth")
            .end_nest();
        let bytes = msg.finish(7);
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        let body = &bytes[HEADER_LEN + 16..];
        let found: Vec<_> = attrs(body).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(attr_string(found[0].1), "eth0");
        assert_eq!(found[1].0, 18);
        let inner: Vec<_> = attrs(found[1].1).collect();
        assert_eq!(inner, vec![(1u16, &b"veth\0"[..])]);
    }

    #[test]
    fn error_payload_carries_errno_and_extended_message() {
        let mut payload = (-17i32).to_ne_bytes().to_vec();
        payload.extend_from_slice(&[0u8; HEADER_LEN]);
        let msg = b"link exists\0";
        payload.extend_from_slice(&((4 + msg.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(msg);
        let err = parse_error(&payload, NLM_F_ACK_TLVS | NLM_F_CAPPED).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EEXIST));
        assert!(err.to_string().contains("link exists"), "{err}");
        assert!(parse_error(&0i32.to_ne_bytes(), 0).is_ok());
    }
}
