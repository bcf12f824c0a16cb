use super::*;
use crate::dns::codec::{build_query, RData, TYPE_AAAA};
use crate::dns::codec_tests::XorShift;

fn resolver() -> Resolver {
    let table = Arc::new(NameTable::new());
    table.register(
        "net1",
        &["web", "abcdef012345"],
        Ipv4Addr::new(10, 201, 0, 2),
    );
    // No upstreams: nothing here leaves the process.
    Resolver {
        table,
        config: DnsConfig::new("net1", vec![], vec![]),
    }
}

fn query(name: &str, qtype: u16) -> Vec<u8> {
    build_query(0x1234, &Name::from_dotted(name).unwrap(), qtype, true)
}

#[tokio::test]
async fn local_a_aaaa_and_ptr() {
    let r = resolver();
    let reply = Message::parse(&r.handle(&query("WEB.", TYPE_A), true).await.unwrap()).unwrap();
    assert_eq!(reply.header.id, 0x1234);
    assert_eq!(reply.header.rcode(), 0);
    assert_eq!(reply.answers.len(), 1);
    assert_eq!(
        reply.answers[0].rdata,
        RData::A(Ipv4Addr::new(10, 201, 0, 2))
    );
    assert_eq!(reply.answers[0].ttl, LOCAL_TTL);

    let reply = Message::parse(&r.handle(&query("web", TYPE_AAAA), true).await.unwrap()).unwrap();
    assert_eq!((reply.header.rcode(), reply.answers.len()), (0, 0));

    let reply = Message::parse(
        &r.handle(&query("2.0.201.10.in-addr.arpa", TYPE_PTR), true)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        reply.answers[0].rdata,
        RData::Name(Name::from_dotted("web.net1").unwrap())
    );
}

#[tokio::test]
async fn unknown_name_without_upstreams_is_servfail() {
    let reply = resolver()
        .handle(&query("example.com", TYPE_A), true)
        .await
        .unwrap();
    assert_eq!(
        Header::parse(&reply).unwrap().rcode(),
        Rcode::ServFail as u8
    );
}

#[tokio::test]
async fn bad_queries_get_error_codes_or_silence() {
    let r = resolver();
    // Too short for a header: nothing to answer with.
    assert_eq!(r.handle(&[1, 2, 3], true).await, None);
    // A response sent to us is ignored.
    let mut resp = query("web", TYPE_A);
    resp[2] |= 0x80;
    assert_eq!(r.handle(&resp, true).await, None);
    // Opcode STATUS (2) is not implemented.
    let mut status = query("web", TYPE_A);
    status[2] |= 2 << 3;
    let h = Header::parse(&r.handle(&status, true).await.unwrap()).unwrap();
    assert_eq!((h.id, h.rcode()), (0x1234, Rcode::NotImp as u8));
    // A question cut short, and two questions: FORMERR.
    let q = query("web", TYPE_A);
    let h = Header::parse(&r.handle(&q[..q.len() - 1], true).await.unwrap()).unwrap();
    assert_eq!(h.rcode(), Rcode::FormErr as u8);
    let mut none = query("web", TYPE_A);
    none[5] = 0;
    let h = Header::parse(&r.handle(&none[..12], true).await.unwrap()).unwrap();
    assert_eq!(h.rcode(), Rcode::FormErr as u8, "no question");
    let mut two = query("web", TYPE_A);
    two.extend_from_slice(&q[12..]);
    two[5] = 2;
    let h = Header::parse(&r.handle(&two, true).await.unwrap()).unwrap();
    assert_eq!(h.rcode(), Rcode::FormErr as u8, "two questions");
    // Zone transfers and the CHAOS class are refused.
    let h = Header::parse(&r.handle(&query("web", TYPE_AXFR), false).await.unwrap()).unwrap();
    assert_eq!(h.rcode(), Rcode::Refused as u8);
    let mut chaos = query("version.bind", 16);
    let n = chaos.len();
    chaos[n - 1] = 3;
    let h = Header::parse(&r.handle(&chaos, true).await.unwrap()).unwrap();
    assert_eq!(h.rcode(), Rcode::Refused as u8);
}

#[tokio::test]
async fn random_packets_never_panic() {
    let r = resolver();
    let mut rng = XorShift(0xdead_beef_cafe_f00d);
    for i in 0..5_000 {
        let len = (rng.next() % 200) as usize;
        let mut packet = rng.bytes(len);
        if packet.len() >= 12 && i % 2 == 0 {
            packet[2] &= 0x07; // a query with opcode 0, so parsing goes past the header
            packet[4] = 0;
            packet[5] = 1;
        }
        if let Some(reply) = r.handle(&packet, i % 3 == 0).await {
            assert!(reply.len() >= 12);
            assert_eq!(reply[..2], packet[..2], "reply keeps the query id");
        }
    }
}

#[test]
fn reverse_names() {
    assert_eq!(
        reverse_ipv4("4.3.2.1.in-addr.arpa"),
        Some(Ipv4Addr::new(1, 2, 3, 4))
    );
    assert_eq!(reverse_ipv4("3.2.1.in-addr.arpa"), None);
    assert_eq!(reverse_ipv4("5.4.3.2.1.in-addr.arpa"), None);
    assert_eq!(reverse_ipv4("256.3.2.1.in-addr.arpa"), None);
    assert_eq!(reverse_ipv4("4.3.2.1.ip6.arpa"), None);
}
