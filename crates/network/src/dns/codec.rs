//! A minimal DNS wire codec (RFC 1035, plus the EDNS0 OPT pseudo-record of RFC 6891).
//!
//! It decodes whole messages, with every read bounds-checked, so hostile packets end in a
//! [`CodecError`] and never a panic, and it encodes the few shapes the embedded server sends:
//! local answers (A, PTR), empty NOERROR answers, error replies and truncated replies.
//! Compression pointers are followed only backwards, so a pointer loop cannot exist.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_IXFR: u16 = 251;
pub const TYPE_AXFR: u16 = 252;
pub const TYPE_ANY: u16 = 255;
pub const CLASS_IN: u16 = 1;
pub const CLASS_ANY: u16 = 255;

/// Size of the fixed header.
pub const HEADER_LEN: usize = 12;
/// The UDP payload limit for a client that does not announce one with EDNS0 (RFC 1035 §4.2.1).
pub const CLASSIC_UDP_LIMIT: usize = 512;
/// Longest encoded name (RFC 1035 §2.3.4).
const MAX_NAME_LEN: usize = 255;
const MAX_LABEL_LEN: usize = 63;

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;

/// Why bytes are not a DNS message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("message truncated at byte {0}")]
    Truncated(usize),
    #[error("compression pointer at byte {0} does not point backwards")]
    BadPointer(usize),
    #[error("unsupported label type at byte {0}")]
    BadLabelType(usize),
    #[error("domain name longer than 255 bytes")]
    NameTooLong,
    #[error("label longer than 63 bytes")]
    LabelTooLong,
    #[error("resource data of type {rtype} is malformed")]
    BadRdata { rtype: u16 },
}

/// Response codes the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

/// The fixed 12-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(buf: &[u8]) -> Result<Header, CodecError> {
        if buf.len() < HEADER_LEN {
            return Err(CodecError::Truncated(buf.len()));
        }
        let w = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        Ok(Header {
            id: w(0),
            flags: w(2),
            qdcount: w(4),
            ancount: w(6),
            nscount: w(8),
            arcount: w(10),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        for w in [
            self.id,
            self.flags,
            self.qdcount,
            self.ancount,
            self.nscount,
            self.arcount,
        ] {
            out.extend_from_slice(&w.to_be_bytes());
        }
    }

    pub fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    pub fn truncated(&self) -> bool {
        self.flags & FLAG_TC != 0
    }
    pub fn authoritative(&self) -> bool {
        self.flags & FLAG_AA != 0
    }
    pub fn recursion_desired(&self) -> bool {
        self.flags & FLAG_RD != 0
    }
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// A domain name as its labels, bytes kept as received (case included).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Name {
    pub labels: Vec<Vec<u8>>,
}

impl Name {
    /// Builds a name from dotted text; a trailing dot is optional. Empty labels are refused.
    pub fn from_dotted(text: &str) -> Result<Name, CodecError> {
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        let mut labels = Vec::new();
        if !trimmed.is_empty() {
            for label in trimmed.split('.') {
                if label.is_empty() || label.len() > MAX_LABEL_LEN {
                    return Err(CodecError::LabelTooLong);
                }
                labels.push(label.as_bytes().to_vec());
            }
        }
        let name = Name { labels };
        if name.wire_len() > MAX_NAME_LEN {
            return Err(CodecError::NameTooLong);
        }
        Ok(name)
    }

    /// Lowercase dotted form without the trailing dot, for table look-ups. `None` when a label
    /// holds bytes no registered name can contain (dots, non-ASCII, control bytes).
    pub fn lookup_key(&self) -> Option<String> {
        let mut key = String::new();
        for (i, label) in self.labels.iter().enumerate() {
            if i > 0 {
                key.push('.');
            }
            for &b in label {
                if !b.is_ascii_graphic() || b == b'.' {
                    return None;
                }
                key.push(b.to_ascii_lowercase() as char);
            }
        }
        Some(key)
    }

    /// Same name, ignoring ASCII case (RFC 4343).
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.labels.len() == other.labels.len()
            && self
                .labels
                .iter()
                .zip(&other.labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    fn wire_len(&self) -> usize {
        self.labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1
    }

    /// Uncompressed wire form.
    pub fn write(&self, out: &mut Vec<u8>) {
        for label in &self.labels {
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
    }
}

/// One entry of the question section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// Decoded resource data for the types the server and its tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// PTR, CNAME and NS: a single name.
    Name(Name),
    Other(Vec<u8>),
}

/// One resource record. For OPT, `class` is the sender's UDP payload size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: RData,
}

/// A whole decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

impl Message {
    pub fn parse(buf: &[u8]) -> Result<Message, CodecError> {
        let header = Header::parse(buf)?;
        let mut r = Reader {
            buf,
            pos: HEADER_LEN,
        };
        let mut questions = Vec::new();
        for _ in 0..header.qdcount {
            questions.push(r.question()?);
        }
        let mut sections: [Vec<Record>; 3] = Default::default();
        for (section, count) in
            sections
                .iter_mut()
                .zip([header.ancount, header.nscount, header.arcount])
        {
            for _ in 0..count {
                section.push(r.record()?);
            }
        }
        let [answers, authority, additional] = sections;
        Ok(Message {
            header,
            questions,
            answers,
            authority,
            additional,
        })
    }

    /// The UDP payload size the sender accepts: its EDNS0 OPT value (never below 512), or 512.
    pub fn udp_payload_limit(&self) -> usize {
        self.additional
            .iter()
            .find(|r| r.rtype == TYPE_OPT)
            .map_or(CLASSIC_UDP_LIMIT, |opt| {
                usize::from(opt.class).max(CLASSIC_UDP_LIMIT)
            })
    }

    pub fn has_edns(&self) -> bool {
        self.additional.iter().any(|r| r.rtype == TYPE_OPT)
    }
}

/// Decodes the header and the first question only: enough to check an upstream's answer
/// against the query without decoding records the server just passes through.
pub fn parse_head(buf: &[u8]) -> Result<(Header, Option<Question>), CodecError> {
    let header = Header::parse(buf)?;
    if header.qdcount == 0 {
        return Ok((header, None));
    }
    let mut r = Reader {
        buf,
        pos: HEADER_LEN,
    };
    Ok((header, Some(r.question()?)))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(CodecError::Truncated(self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// Reads a possibly compressed name at the cursor and moves past it.
    fn name(&mut self) -> Result<Name, CodecError> {
        let (name, end) = read_name(self.buf, self.pos)?;
        self.pos = end;
        Ok(name)
    }

    fn question(&mut self) -> Result<Question, CodecError> {
        let name = self.name()?;
        Ok(Question {
            name,
            qtype: self.u16()?,
            qclass: self.u16()?,
        })
    }

    fn record(&mut self) -> Result<Record, CodecError> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let rdlen = usize::from(self.u16()?);
        let start = self.pos;
        let raw = self.take(rdlen)?;
        let bad = CodecError::BadRdata { rtype };
        let rdata = match rtype {
            TYPE_A => RData::A(Ipv4Addr::from(<[u8; 4]>::try_from(raw).map_err(|_| bad)?)),
            TYPE_AAAA => RData::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(raw).map_err(|_| bad)?)),
            TYPE_PTR | TYPE_CNAME | TYPE_NS => {
                // The name may point back into the message, so decode it in place; it must end
                // exactly where the record's data does.
                let (target, end) = read_name(self.buf, start)?;
                if end != start + rdlen {
                    return Err(bad);
                }
                RData::Name(target)
            }
            _ => RData::Other(raw.to_vec()),
        };
        Ok(Record {
            name,
            rtype,
            class,
            ttl,
            rdata,
        })
    }
}

/// Decodes the name starting at `pos`; returns it and the offset just past its encoding at `pos`.
fn read_name(buf: &[u8], mut pos: usize) -> Result<(Name, usize), CodecError> {
    let mut labels = Vec::new();
    let mut wire_len = 1;
    // Where the cursor resumes: after the first pointer, or after the terminating zero.
    let mut end = None;
    // Pointers must go strictly backwards from the lowest offset seen, which bounds the walk.
    let mut floor = pos;
    loop {
        let len = *buf.get(pos).ok_or(CodecError::Truncated(pos))?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let after = pos + 1;
                    return Ok((Name { labels }, end.unwrap_or(after)));
                }
                let len = usize::from(len);
                let label = buf
                    .get(pos + 1..pos + 1 + len)
                    .ok_or(CodecError::Truncated(pos))?;
                wire_len += len + 1;
                if wire_len > MAX_NAME_LEN {
                    return Err(CodecError::NameTooLong);
                }
                labels.push(label.to_vec());
                pos += 1 + len;
            }
            0xc0 => {
                let low = *buf.get(pos + 1).ok_or(CodecError::Truncated(pos))?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if target >= floor {
                    return Err(CodecError::BadPointer(pos));
                }
                end.get_or_insert(pos + 2);
                floor = target;
                pos = target;
            }
            _ => return Err(CodecError::BadLabelType(pos)),
        }
    }
}

/// Builds replies to a query. Answers always name the question, so their owner names are the
/// two-byte pointer to the question at offset 12.
pub struct ReplyBuilder {
    out: Vec<u8>,
    header: Header,
}

impl ReplyBuilder {
    /// Starts a reply echoing `query`'s id, opcode, RD bit and (if given) its question.
    pub fn new(query: &Header, question: Option<&Question>, rcode: Rcode) -> ReplyBuilder {
        let flags = FLAG_QR
            | (query.flags & (0xf << 11))
            | (query.flags & FLAG_RD)
            | FLAG_RA
            | rcode as u16;
        let header = Header {
            id: query.id,
            flags,
            qdcount: u16::from(question.is_some()),
            ..Header::default()
        };
        let mut out = Vec::with_capacity(128);
        header.write(&mut out);
        if let Some(q) = question {
            q.name.write(&mut out);
            out.extend_from_slice(&q.qtype.to_be_bytes());
            out.extend_from_slice(&q.qclass.to_be_bytes());
        }
        ReplyBuilder { out, header }
    }

    /// Marks the reply as authoritative (the server owns the names it answers locally).
    pub fn authoritative(mut self) -> Self {
        self.header.flags |= FLAG_AA;
        self
    }

    fn record_head(&mut self, rtype: u16, class: u16, ttl: u32) {
        self.out.extend_from_slice(&[0xc0, HEADER_LEN as u8]);
        self.out.extend_from_slice(&rtype.to_be_bytes());
        self.out.extend_from_slice(&class.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
    }

    /// Appends an A record owned by the question's name.
    pub fn answer_a(mut self, ip: Ipv4Addr, ttl: u32) -> Self {
        self.record_head(TYPE_A, CLASS_IN, ttl);
        self.out.extend_from_slice(&4u16.to_be_bytes());
        self.out.extend_from_slice(&ip.octets());
        self.header.ancount += 1;
        self
    }

    /// Appends a PTR record owned by the question's name.
    pub fn answer_ptr(mut self, target: &Name, ttl: u32) -> Self {
        self.record_head(TYPE_PTR, CLASS_IN, ttl);
        let mut rdata = Vec::new();
        target.write(&mut rdata);
        self.out
            .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.out.extend_from_slice(&rdata);
        self.header.ancount += 1;
        self
    }

    /// Appends an EDNS0 OPT record announcing `udp_size`.
    pub fn edns(mut self, udp_size: u16) -> Self {
        self.out.push(0); // root name
        self.out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        self.out.extend_from_slice(&udp_size.to_be_bytes());
        self.out.extend_from_slice(&0u32.to_be_bytes());
        self.out.extend_from_slice(&0u16.to_be_bytes());
        self.header.arcount += 1;
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        let mut head = Vec::with_capacity(HEADER_LEN);
        self.header.write(&mut head);
        self.out[..HEADER_LEN].copy_from_slice(&head);
        self.out
    }
}

/// Builds a query (for the server's tests and for anyone probing it).
pub fn build_query(id: u16, name: &Name, qtype: u16, recursion_desired: bool) -> Vec<u8> {
    let header = Header {
        id,
        flags: if recursion_desired { FLAG_RD } else { 0 },
        qdcount: 1,
        ..Header::default()
    };
    let mut out = Vec::with_capacity(HEADER_LEN + name.wire_len() + 4);
    header.write(&mut out);
    name.write(&mut out);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// Cuts a reply that does not fit a UDP client down to its header and question with TC set,
/// so the client retries over TCP (RFC 1035 §4.2.1, RFC 7766).
pub fn truncate_for_udp(reply: &[u8], limit: usize) -> Vec<u8> {
    if reply.len() <= limit {
        return reply.to_vec();
    }
    // A reply whose question does not decode keeps only its header; one without even a header
    // cannot be answered at all (empty result: send nothing).
    let (header, question) = match parse_head(reply) {
        Ok(head) => head,
        Err(_) => match Header::parse(reply) {
            Ok(header) => (header, None),
            Err(_) => return Vec::new(),
        },
    };
    let mut h = Header {
        qdcount: u16::from(question.is_some()),
        ancount: 0,
        nscount: 0,
        arcount: 0,
        ..header
    };
    h.flags |= FLAG_TC;
    let mut out = Vec::new();
    h.write(&mut out);
    if let Some(q) = question {
        q.name.write(&mut out);
        out.extend_from_slice(&q.qtype.to_be_bytes());
        out.extend_from_slice(&q.qclass.to_be_bytes());
    }
    out
}
