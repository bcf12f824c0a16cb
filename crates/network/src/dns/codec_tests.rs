//! Codec unit tests, including fuzz-ish hostile input.

use std::net::Ipv4Addr;

use super::codec::*;

/// A deterministic xorshift generator: reproducible "fuzz" input without a dependency.
pub(crate) struct XorShift(pub u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn name(s: &str) -> Name {
    Name::from_dotted(s).unwrap()
}

#[test]
fn query_round_trips() {
    let q = build_query(0xbeef, &name("Web.Example."), TYPE_A, true);
    let msg = Message::parse(&q).unwrap();
    assert_eq!(msg.header.id, 0xbeef);
    assert!(!msg.header.is_response());
    assert!(msg.header.recursion_desired());
    assert_eq!(msg.questions.len(), 1);
    assert_eq!(msg.questions[0].qtype, TYPE_A);
    assert_eq!(msg.questions[0].qclass, CLASS_IN);
    assert_eq!(
        msg.questions[0].name.lookup_key().as_deref(),
        Some("web.example")
    );
    assert_eq!(msg.udp_payload_limit(), CLASSIC_UDP_LIMIT);
}

#[test]
fn reply_with_a_ptr_and_edns_decodes() {
    let query = Message::parse(&build_query(7, &name("db"), TYPE_A, true)).unwrap();
    let reply = ReplyBuilder::new(&query.header, query.questions.first(), Rcode::NoError)
        .authoritative()
        .answer_a(Ipv4Addr::new(10, 201, 0, 2), 600)
        .answer_a(Ipv4Addr::new(10, 201, 0, 3), 600)
        .answer_ptr(&name("db.net1"), 600)
        .edns(1232)
        .finish();
    let msg = Message::parse(&reply).unwrap();
    assert!(msg.header.is_response());
    assert!(msg.header.authoritative());
    assert!(msg.header.recursion_desired());
    assert_eq!(msg.header.rcode(), 0);
    assert_eq!(msg.answers.len(), 3);
    assert_eq!(msg.answers[0].rdata, RData::A(Ipv4Addr::new(10, 201, 0, 2)));
    assert_eq!(msg.answers[0].ttl, 600);
    assert!(msg.answers[0].name.eq_ignore_case(&name("DB")));
    assert_eq!(msg.answers[2].rdata, RData::Name(name("db.net1")));
    assert_eq!(msg.udp_payload_limit(), 1232);
    assert!(msg.has_edns());
}

#[test]
fn error_reply_keeps_id_and_opcode() {
    let header = Header {
        id: 99,
        flags: 2 << 11,
        qdcount: 1,
        ..Header::default()
    };
    let reply = ReplyBuilder::new(&header, None, Rcode::NotImp).finish();
    let h = Header::parse(&reply).unwrap();
    assert_eq!(
        (h.id, h.opcode(), h.rcode(), h.qdcount),
        (99, 2, Rcode::NotImp as u8, 0)
    );
}

#[test]
fn compressed_names_decode() {
    // Header, question "a.b", answer owned by a pointer to "b" (offset 14) with a CNAME whose
    // target is "x" followed by a pointer to the question name.
    let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(&[1, b'a', 1, b'b', 0, 0, 1, 0, 1]);
    m.extend_from_slice(&[0xc0, 14, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'x', 0xc0, 12]);
    let msg = Message::parse(&m).unwrap();
    assert_eq!(msg.answers[0].name, name("b"));
    assert_eq!(msg.answers[0].rdata, RData::Name(name("x.a.b")));
}

#[test]
fn pointer_loops_and_forward_pointers_are_refused() {
    let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]); // points at itself
    assert_eq!(Message::parse(&m), Err(CodecError::BadPointer(12)));
    let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[0xc0, 20, 0, 1, 0, 1, 0, 0, 1, b'a', 0]); // points forwards
    assert_eq!(Message::parse(&m), Err(CodecError::BadPointer(12)));
    // Two labels pointing at each other: the second jump is not below the first target.
    let mut m = vec![0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[1, b'a', 0xc0, 16, 0, 1, 0, 1, 1, b'b', 0xc0, 12, 0, 1, 0, 1]);
    assert!(Message::parse(&m).is_err());
}

#[test]
fn bad_names_are_refused() {
    let long = "a".repeat(64);
    assert_eq!(Name::from_dotted(&long), Err(CodecError::LabelTooLong));
    assert_eq!(Name::from_dotted("a..b"), Err(CodecError::LabelTooLong));
    let too_long = vec!["abcdefghij"; 25].join(".");
    assert_eq!(Name::from_dotted(&too_long), Err(CodecError::NameTooLong));
    // Label type 0x40 (extended labels) is obsolete.
    let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[0x41, b'a', 0, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&m), Err(CodecError::BadLabelType(12)));
    // A wire name over 255 bytes made of many short labels.
    let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for _ in 0..130 {
        m.extend_from_slice(&[1, b'a']);
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&m), Err(CodecError::NameTooLong));
}

#[test]
fn malformed_rdata_is_refused() {
    let mut m = vec![0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 3, 1, 2, 3]); // A with 3 bytes
    assert_eq!(
        Message::parse(&m),
        Err(CodecError::BadRdata { rtype: TYPE_A })
    );
}

#[test]
fn lookup_key_rejects_unmatchable_labels() {
    let n = Name {
        labels: vec![b"we.b".to_vec()],
    };
    assert_eq!(n.lookup_key(), None);
    let n = Name {
        labels: vec![vec![0xff, b'a']],
    };
    assert_eq!(n.lookup_key(), None);
    assert_eq!(Name::default().lookup_key().as_deref(), Some(""));
}

#[test]
fn truncation_keeps_header_and_question() {
    let query = Message::parse(&build_query(5, &name("many"), TYPE_A, true)).unwrap();
    let mut b = ReplyBuilder::new(&query.header, query.questions.first(), Rcode::NoError);
    for i in 0..60 {
        b = b.answer_a(Ipv4Addr::new(10, 0, 0, i), 600);
    }
    let big = b.finish();
    assert!(big.len() > CLASSIC_UDP_LIMIT);
    let cut = truncate_for_udp(&big, CLASSIC_UDP_LIMIT);
    let msg = Message::parse(&cut).unwrap();
    assert!(msg.header.truncated());
    assert_eq!(msg.header.id, 5);
    assert_eq!(msg.answers.len(), 0);
    assert_eq!(msg.questions, query.questions);
    assert_eq!(truncate_for_udp(&big, 4096), big);
    assert!(truncate_for_udp(&big[..5], 3).is_empty());
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = (rng.next() % 300) as usize;
        let mut buf = rng.bytes(len);
        // Plausible counts make the parser go deeper than the header more often.
        if buf.len() >= HEADER_LEN {
            buf[4] = 0;
            buf[5] = (rng.next() % 3) as u8;
            buf[6] = 0;
            buf[7] = (rng.next() % 3) as u8;
        }
        let _ = Message::parse(&buf);
        let _ = parse_head(&buf);
        let _ = truncate_for_udp(&buf, 64);
    }
}

#[test]
fn every_truncation_and_byte_flip_of_a_valid_reply_is_handled() {
    let query = Message::parse(&build_query(1, &name("svc.net"), TYPE_PTR, true)).unwrap();
    let reply = ReplyBuilder::new(&query.header, query.questions.first(), Rcode::NoError)
        .answer_ptr(&name("svc.net"), 600)
        .answer_a(Ipv4Addr::new(1, 2, 3, 4), 1)
        .edns(4096)
        .finish();
    for cut in 0..reply.len() {
        assert!(
            Message::parse(&reply[..cut]).is_err(),
            "prefix of {cut} bytes decoded"
        );
    }
    let mut rng = XorShift(42);
    for _ in 0..20_000 {
        let mut m = reply.clone();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % m.len();
            m[i] = rng.next() as u8;
        }
        let _ = Message::parse(&m);
        let _ = parse_head(&m);
    }
}
