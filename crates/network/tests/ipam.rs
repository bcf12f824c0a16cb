//! IPAM behaviour as the daemon relies on it: no root needed, leases in a temp dir.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use berth_network::ipam::{host_routes, Ipam, IpamError, Subnet, SubnetPool};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn subnet(s: &str) -> Subnet {
    s.parse().unwrap()
}

#[test]
fn a_small_subnet_hands_out_every_host_address_once_then_says_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(dir.path()).unwrap();
    // /29: .0 network, .1 gateway, .7 broadcast, so .2 to .6 are for containers.
    ipam.add_network("net1", subnet("10.9.0.0/29"), None)
        .unwrap();
    let got: Vec<Ipv4Addr> = (0..5)
        .map(|i| ipam.allocate("net1", &format!("c{i}"), None).unwrap())
        .collect();
    assert_eq!(
        got,
        ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"].map(ip)
    );
    let err = ipam.allocate("net1", "c5", None).unwrap_err();
    assert!(matches!(err, IpamError::Exhausted(..)), "{err}");
    assert!(
        err.to_string().contains("no available IPv4 addresses"),
        "{err}"
    );

    // A released address is the only one left, so it comes back.
    assert!(ipam.release("net1", ip("10.9.0.4")).unwrap());
    assert!(!ipam.release("net1", ip("10.9.0.4")).unwrap());
    assert_eq!(ipam.allocate("net1", "c6", None).unwrap(), ip("10.9.0.4"));
}

#[test]
fn released_addresses_are_not_reused_while_others_are_free() {
    let dir = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(dir.path()).unwrap();
    ipam.add_network("n", subnet("10.9.1.0/24"), None).unwrap();
    let a = ipam.allocate("n", "a", None).unwrap();
    ipam.release("n", a).unwrap();
    let b = ipam.allocate("n", "b", None).unwrap();
    assert_ne!(a, b);
    assert_eq!(b, ip("10.9.1.3"));
}

#[test]
fn an_explicit_address_is_granted_once_and_refused_when_taken_reserved_or_outside() {
    let dir = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(dir.path()).unwrap();
    ipam.add_network("n", subnet("10.9.2.0/24"), Some(ip("10.9.2.254")))
        .unwrap();
    assert_eq!(
        ipam.allocate("n", "a", Some(ip("10.9.2.50"))).unwrap(),
        ip("10.9.2.50")
    );
    let taken = ipam.allocate("n", "b", Some(ip("10.9.2.50"))).unwrap_err();
    assert!(matches!(taken, IpamError::InUse(_)), "{taken}");
    assert_eq!(taken.to_string(), "address already in use: 10.9.2.50");
    let outside = ipam.allocate("n", "b", Some(ip("10.9.3.5"))).unwrap_err();
    assert!(matches!(outside, IpamError::OutOfSubnet(_)), "{outside}");
    for reserved in ["10.9.2.0", "10.9.2.255", "10.9.2.254"] {
        let err = ipam.allocate("n", "b", Some(ip(reserved))).unwrap_err();
        assert!(matches!(err, IpamError::Reserved(..)), "{reserved}: {err}");
    }
    // With a custom gateway, .1 is an ordinary address and comes first.
    assert_eq!(ipam.allocate("n", "c", None).unwrap(), ip("10.9.2.1"));
}

#[test]
fn leases_survive_a_restart_and_are_never_handed_out_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = BTreeSet::new();
    {
        let mut ipam = Ipam::open(dir.path()).unwrap();
        ipam.add_network("persist", subnet("10.9.4.0/28"), None)
            .unwrap();
        for i in 0..5 {
            first.insert(ipam.allocate("persist", &format!("c{i}"), None).unwrap());
        }
        ipam.allocate("persist", "fixed", Some(ip("10.9.4.14")))
            .unwrap();
    }
    // "Restart": a new Ipam over the same directory, plus a temp file a crash left behind.
    std::fs::write(dir.path().join(".tmp-persist.json"), b"{half a file").unwrap();
    let mut ipam = Ipam::open(dir.path()).unwrap();
    assert!(!dir.path().join(".tmp-persist.json").exists());
    let pool = ipam.network("persist").unwrap().clone();
    assert_eq!(pool.subnet, subnet("10.9.4.0/28"));
    assert_eq!(pool.gateway, ip("10.9.4.1"));
    assert_eq!(pool.leases.len(), 6);
    assert_eq!(pool.leases[&ip("10.9.4.14")], "fixed");

    // The rest of the /28 (.2 to .14 minus what is leased) and then nothing more.
    let mut after = BTreeSet::new();
    while let Ok(a) = ipam.allocate("persist", "later", None) {
        assert!(!first.contains(&a), "{a} handed out twice");
        assert!(after.insert(a), "{a} handed out twice");
    }
    assert_eq!(first.len() + after.len() + 1, 13);
    assert!(!after.contains(&ip("10.9.4.14")));

    // release_owner frees exactly that owner's leases, and that is on disk too.
    assert_eq!(
        ipam.release_owner("persist", "fixed").unwrap(),
        vec![ip("10.9.4.14")]
    );
    drop(ipam);
    let ipam = Ipam::open(dir.path()).unwrap();
    assert!(!ipam
        .network("persist")
        .unwrap()
        .leases
        .contains_key(&ip("10.9.4.14")));
}

#[test]
fn a_corrupt_lease_file_is_an_error_not_an_empty_pool() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.json"), b"{not json").unwrap();
    let err = Ipam::open(dir.path()).unwrap_err();
    assert!(matches!(err, IpamError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("broken.json"), "{err}");
}

#[test]
fn pool_subnets_skip_existing_networks_and_host_routes() {
    let dir = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(dir.path()).unwrap();
    let pool = SubnetPool::default();
    // Taken by hand, and the host already routes 10.201.1.0/25 and 10.201.2.128/26.
    ipam.add_network("manual", subnet("10.201.0.0/24"), None)
        .unwrap();
    let routes = [subnet("10.201.1.0/25"), subnet("10.201.2.128/26")];
    let a = ipam.add_network_from_pool("a", &pool, &routes).unwrap();
    assert_eq!(a.subnet, subnet("10.201.3.0/24"));
    assert_eq!(a.gateway, ip("10.201.3.1"));
    let b = ipam.add_network_from_pool("b", &pool, &routes).unwrap();
    assert_eq!(b.subnet, subnet("10.201.4.0/24"));

    // Removing a network gives its subnet back to the pool.
    ipam.remove_network("a").unwrap();
    assert!(!dir.path().join("a.json").exists());
    let c = ipam.add_network_from_pool("c", &pool, &routes).unwrap();
    assert_eq!(c.subnet, subnet("10.201.3.0/24"));

    // A whole /16 route leaves nothing.
    let err = ipam
        .add_network_from_pool("d", &pool, &[subnet("10.201.0.0/16")])
        .unwrap_err();
    assert!(matches!(err, IpamError::PoolExhausted(..)), "{err}");
}

#[test]
fn explicit_subnets_must_not_overlap_and_gateways_must_be_inside() {
    let dir = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(dir.path()).unwrap();
    ipam.add_network("bridge", subnet("10.200.0.0/16"), None)
        .unwrap();
    let err = ipam
        .add_network("x", subnet("10.200.5.0/24"), None)
        .unwrap_err();
    assert!(matches!(err, IpamError::Overlap(..)), "{err}");
    assert!(err.to_string().starts_with("pool overlaps"), "{err}");
    let err = ipam
        .add_network("x", subnet("10.202.0.0/24"), Some(ip("10.203.0.1")))
        .unwrap_err();
    assert!(matches!(err, IpamError::BadGateway(..)), "{err}");
    let err = ipam
        .add_network("x", subnet("10.202.0.0/31"), None)
        .unwrap_err();
    assert!(matches!(err, IpamError::SubnetTooSmall(_)), "{err}");
    let err = ipam
        .add_network("../evil", subnet("10.202.0.0/24"), None)
        .unwrap_err();
    assert!(matches!(err, IpamError::BadNetworkId(_)), "{err}");
    let err = ipam.add_network("bridge", subnet("10.204.0.0/24"), None);
    assert!(matches!(err, Err(IpamError::NetworkExists(_))));
    let err = ipam.allocate("nope", "c", None).unwrap_err();
    assert!(matches!(err, IpamError::NoSuchNetwork(_)), "{err}");
}

#[test]
fn subnets_parse_like_docker_and_reject_garbage() {
    assert_eq!(subnet("10.1.2.3/16").to_string(), "10.1.0.0/16");
    assert!(subnet("10.1.0.0/16").overlaps(&subnet("10.1.200.0/24")));
    assert!(!subnet("10.1.0.0/16").overlaps(&subnet("10.2.0.0/24")));
    for bad in ["10.1.0.0", "10.1.0.0/33", "x/8", "10.1.0.0/-1", ""] {
        assert!(bad.parse::<Subnet>().is_err(), "{bad}");
    }
}

#[test]
fn host_routes_are_read_from_proc_net_route_format_without_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("route");
    // Destination and Mask as the kernel prints them: the network-order u32, in hex.
    let to_hex = |a: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(a));
    let text = format!(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
         eth0\t{}\t00000000\t0001\t0\t0\t0\t{}\t0\t0\t0\n\
         docker0\t{}\t00000000\t0001\t0\t0\t0\t{}\t0\t0\t0\n",
        to_hex([192, 168, 2, 0]),
        to_hex([255, 255, 255, 0]),
        to_hex([172, 17, 0, 0]),
        to_hex([255, 255, 0, 0]),
    );
    std::fs::write(&file, text).unwrap();
    assert_eq!(
        host_routes(&file).unwrap(),
        vec![subnet("192.168.2.0/24"), subnet("172.17.0.0/16")]
    );
    // The real file parses too (whatever the host has).
    host_routes(std::path::Path::new("/proc/net/route")).unwrap();
}
