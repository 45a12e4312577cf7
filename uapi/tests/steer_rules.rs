// SPDX-License-Identifier: GPL-2.0
//! The split namespace's steering decisions (uapi/src/steer.rs), as the module runs them: each
//! rule on its own, then the two halves together over random ownership, where what one half
//! sends across the other must take, and what one half keeps the other must never be sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rstest::rstest;
use xpu_uapi::steer::{ip_lengths, read_flow, valid_v4, valid_v6, Arrival, Flow, Pod, HEADERS_MAX};

const POD: Pod = Pod {
    v4: Ipv4Addr::new(10, 78, 0, 5),
    v6: Some(Ipv6Addr::new(0xfd00, 0x78, 0, 0, 0, 0, 0, 5)),
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("a test address")
}

fn flow(src: &str, dst: &str, port: u16) -> Flow {
    Flow {
        src: ip(src),
        dst: ip(dst),
        port,
    }
}

#[rstest]
#[case::loopback4("127.0.0.1", true)]
#[case::loopback4_net("127.1.2.3", true)]
#[case::pod4("10.78.0.5", true)]
#[case::loopback6("::1", true)]
#[case::pod6("fd00:78::5", true)]
#[case::other4("10.78.0.6", false)]
#[case::other6("fd00:78::6", false)]
#[case::mapped_loopback("::ffff:127.0.0.1", false)]
#[case::passthrough6("::6", false)]
fn the_tap_steers_shared_addresses_only(#[case] dst: &str, #[case] shared: bool) {
    assert_eq!(POD.tap(ip(dst), 8080, |_| true), shared);
    // The port decides too: a port the other half does not own stays.
    assert!(!POD.tap(ip(dst), 8080, |_| false));
}

#[test]
fn a_pod_without_ipv6_shares_only_v6_loopback() {
    let pod = Pod { v6: None, ..POD };
    assert!(pod.tap(ip("::1"), 80, |_| true));
    assert!(!pod.tap(ip("fd00:78::5"), 80, |_| true));
    assert!(!pod.tap(ip("::"), 80, |_| true));
}

#[rstest]
#[case::pod4("10.78.0.5", true)]
#[case::pod6("fd00:78::5", true)]
#[case::loopback4("127.0.0.1", false)]
#[case::loopback6("::1", false)]
#[case::other("10.78.0.9", false)]
fn the_edge_takes_the_pod_address_only(#[case] dst: &str, #[case] taken: bool) {
    assert_eq!(POD.edge(ip(dst), 8080, |_| true), taken);
}

#[rstest]
// From inside the pod: delivered as loopback would.
#[case::loopback("127.0.0.1", "127.0.0.1", true, Arrival::Loopback)]
#[case::pod_from_pod("10.78.0.5", "10.78.0.5", true, Arrival::Loopback)]
#[case::v6_loopback("::1", "::1", true, Arrival::Loopback)]
// From outside the pod, through the edge: only for the pod's address.
#[case::outside_to_pod("203.0.113.9", "10.78.0.5", false, Arrival::Link)]
#[case::outside_to_pod6("2001:db8::9", "fd00:78::5", false, Arrival::Link)]
#[case::outside_to_loopback("203.0.113.9", "127.0.0.1", false, Arrival::Drop)]
#[case::outside_to_v6_loopback("2001:db8::9", "::1", false, Arrival::Drop)]
// Not an address the halves share, whoever sends it.
#[case::stranger("127.0.0.1", "10.78.0.99", true, Arrival::Drop)]
#[case::stranger6("2001:db8::9", "fd00:78::99", false, Arrival::Drop)]
fn arrivals(#[case] src: &str, #[case] dst: &str, #[case] local: bool, #[case] want: Arrival) {
    assert_eq!(POD.arrival(&flow(src, dst, 8080), local, |_| true), want);
    // A port that is not this half's is refused, whatever else holds.
    assert_eq!(
        POD.arrival(&flow(src, dst, 8080), local, |_| false),
        Arrival::Drop
    );
}

#[rstest]
#[case("10.78.0.5", true)]
#[case("0.0.0.0", false)]
#[case("127.0.0.5", false)]
#[case("224.0.0.1", false)]
#[case("240.0.0.1", false)]
#[case("255.255.255.255", false)]
fn pod_v4_addresses(#[case] a: Ipv4Addr, #[case] ok: bool) {
    assert_eq!(valid_v4(a), ok);
}

#[rstest]
#[case("fd00:78::5", true)]
#[case("2001:db8::5", true)]
#[case("::", false)]
#[case("::1", false)]
#[case("fe80::5", false)]
#[case("ff02::1", false)]
#[case("::ffff:10.78.0.5", false)]
fn pod_v6_addresses(#[case] a: Ipv6Addr, #[case] ok: bool) {
    assert_eq!(valid_v6(a), ok);
}

/// Two halves as the module runs them: each owns some ports and an ephemeral range; a packet
/// one half's tap steers for a port, the other accepts (claimed there, or its range).
struct Half {
    own: Vec<bool>,
    range: (u16, u16),
}

impl Half {
    fn owns(&self, p: u16) -> bool {
        self.own[usize::from(p)] || (self.range.0..=self.range.1).contains(&p)
    }
    fn claims(&self, p: u16) -> bool {
        self.own[usize::from(p)]
    }
}

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        Just(ip("127.0.0.1")),
        Just(ip("::1")),
        Just(ip("10.78.0.5")),
        Just(ip("fd00:78::5")),
        Just(ip("10.78.0.6")),
        Just(ip("203.0.113.9")),
        Just(ip("2001:db8::9")),
    ]
}

proptest! {
    #[test]
    fn what_one_half_steers_the_other_takes(
        own in proptest::collection::vec(0u8..3, 64),
        src in addr(),
        dst in addr(),
        port in 0u16..64,
    ) {
        // Ports 0..64, each the host's (1), the DPU's (2) or nobody's (0); host ephemeral
        // 48..56, DPU 56..64.
        let host = Half { own: own.iter().map(|&o| o == 1).collect(), range: (48, 55) };
        let dpu = Half { own: own.iter().map(|&o| o == 2).collect(), range: (56, 63) };
        let f = Flow { src, dst, port };
        // Steering as splitns.rs does: not ours, and the other half's.
        for (from, to) in [(&host, &dpu), (&dpu, &host)] {
            let steer = |p| !from.claims(p) && to.owns(p);
            if POD.tap(dst, port, steer) {
                // A packet from inside the pod (its source is local there, so here too: the
                // halves share the addresses) reaches the other half's lo.
                let src_local = src.is_loopback() || POD.is_pod(src);
                if src_local {
                    prop_assert_eq!(POD.arrival(&f, true, |p| to.owns(p)), Arrival::Loopback);
                }
            } else if POD.is_shared(dst) && to.owns(port) && !from.claims(port) {
                prop_assert!(false, "the tap kept a packet the other half owns: {:?}", f);
            }
            if POD.edge(dst, port, steer) {
                prop_assert_eq!(POD.arrival(&f, false, |p| to.owns(p)), Arrival::Link);
            }
            // What the sending half claims never crosses.
            if from.claims(port) {
                prop_assert!(!POD.tap(dst, port, steer) && !POD.edge(dst, port, steer));
            }
        }
    }
}

// --- reading the headers: packets built as the kernel sends them

const TCP: u8 = 6;
const UDP: u8 = 17;

/// An IPv4 header (`options` 32-bit words of options, a fragment field), then `payload`.
fn ipv4(proto: u8, src: &str, dst: &str, options: usize, frag: u16, payload: &[u8]) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (ip(src), ip(dst)) else {
        panic!("IPv4 addresses")
    };
    let len = 20 + 4 * options;
    let mut p = vec![0u8; len];
    p[0] = 0x40 | (len / 4) as u8;
    p[2..4].copy_from_slice(&((len + payload.len()) as u16).to_be_bytes());
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&s.octets());
    p[16..20].copy_from_slice(&d.octets());
    p.extend_from_slice(payload);
    p
}

fn ipv6(next: u8, src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (ip(src), ip(dst)) else {
        panic!("IPv6 addresses")
    };
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[6] = next;
    p[7] = 64;
    p[8..24].copy_from_slice(&s.octets());
    p[24..40].copy_from_slice(&d.octets());
    p.extend_from_slice(payload);
    p
}

/// A TCP or UDP header's first bytes: the ports, then some of the rest.
fn ports(sport: u16, dport: u16) -> Vec<u8> {
    let mut p = sport.to_be_bytes().to_vec();
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0; 16]);
    p
}

/// An ICMP or ICMPv6 message of `kind` (type, code) about `about`, truncated as errors are.
fn icmp(kind: (u8, u8), about: &[u8]) -> Vec<u8> {
    let mut p = vec![kind.0, kind.1, 0, 0, 0, 0, 0x05, 0x00];
    p.extend_from_slice(&about[..about.len().min(576 - 28)]);
    p
}

#[rstest]
#[case::tcp4(ipv4(TCP, "10.9.0.1", "10.78.0.5", 0, 0x4000, &ports(40000, 8080)), Some(flow("10.9.0.1", "10.78.0.5", 8080)))]
#[case::udp4_options(ipv4(UDP, "127.0.0.1", "127.0.0.1", 10, 0, &ports(40000, 53)), Some(flow("127.0.0.1", "127.0.0.1", 53)))]
#[case::tcp6(ipv6(TCP, "::1", "::1", &ports(40000, 8080)), Some(flow("::1", "::1", 8080)))]
#[case::udp6(ipv6(UDP, "2001:db8::7", "fd00:78::5", &ports(53, 40000)), Some(flow("2001:db8::7", "fd00:78::5", 40000)))]
#[case::first_fragment4(ipv4(UDP, "10.9.0.1", "10.78.0.5", 0, 0x2000, &ports(1, 2)), None)]
#[case::later_fragment4(ipv4(UDP, "10.9.0.1", "10.78.0.5", 0, 0x0010, &ports(1, 2)), None)]
#[case::sctp4(ipv4(132, "10.9.0.1", "10.78.0.5", 0, 0, &ports(1, 2)), None)]
#[case::ipv6_extension_header(ipv6(0, "::1", "::1", &ports(1, 2)), None)]
#[case::echo4(ipv4(1, "10.9.0.1", "10.78.0.5", 0, 0, &icmp((8, 0), &[0; 8])), None)]
#[case::echo6(ipv6(58, "::1", "::1", &icmp((128, 0), &[0; 8])), None)]
#[case::truncated_ports(ipv4(TCP, "10.9.0.1", "10.78.0.5", 0, 0, &[0x1f, 0x90, 0x1f]), None)]
#[case::truncated_header(ipv4(TCP, "10.9.0.1", "10.78.0.5", 0, 0, &[])[..19].to_vec(), None)]
#[case::short_ihl({ let mut p = ipv4(TCP, "10.9.0.1", "10.78.0.5", 0, 0, &ports(1, 2)); p[0] = 0x44; p }, None)]
#[case::not_ip(vec![0x20; 64], None)]
#[case::empty(vec![], None)]
fn headers(#[case] pkt: Vec<u8>, #[case] want: Option<Flow>) {
    assert_eq!(read_flow(&pkt), want);
}

/// ICMP errors: for the port of the socket that sent the packet they are about.
#[rstest]
// A router beyond the edge: "fragmentation needed" for the pod's UDP from 40000.
#[case::frag_needed(ipv4(1, "10.79.0.1", "10.78.0.5", 0, 0,
    &icmp((3, 4), &ipv4(UDP, "10.78.0.5", "198.51.100.7", 0, 0x4000, &ports(40000, 53)))),
    Some(flow("10.79.0.1", "10.78.0.5", 40000)))]
// The other half: "port unreachable" on localhost, with options in the packet it is about.
#[case::port_unreachable_options(ipv4(1, "127.0.0.1", "127.0.0.1", 0, 0,
    &icmp((3, 3), &ipv4(UDP, "127.0.0.1", "127.0.0.1", 10, 0, &ports(40001, 5353)))),
    Some(flow("127.0.0.1", "127.0.0.1", 40001)))]
#[case::time_exceeded(ipv4(1, "10.79.0.1", "10.78.0.5", 10, 0,
    &icmp((11, 0), &ipv4(TCP, "10.78.0.5", "198.51.100.7", 10, 0, &ports(40002, 443)))),
    Some(flow("10.79.0.1", "10.78.0.5", 40002)))]
#[case::packet_too_big(ipv6(58, "fd00:79::1", "fd00:78::5",
    &icmp((2, 0), &ipv6(TCP, "fd00:78::5", "2001:db8::7", &ports(40003, 443)))),
    Some(flow("fd00:79::1", "fd00:78::5", 40003)))]
#[case::unreachable6(ipv6(58, "::1", "::1",
    &icmp((1, 4), &ipv6(UDP, "::1", "::1", &ports(40004, 53)))),
    Some(flow("::1", "::1", 40004)))]
// About a packet the error's destination did not send: nobody's.
#[case::about_another_sender(ipv4(1, "10.79.0.1", "10.78.0.5", 0, 0,
    &icmp((3, 4), &ipv4(UDP, "10.78.0.6", "198.51.100.7", 0, 0, &ports(40000, 53)))), None)]
#[case::about_icmp(ipv4(1, "10.79.0.1", "10.78.0.5", 0, 0,
    &icmp((3, 4), &ipv4(1, "10.78.0.5", "198.51.100.7", 0, 0, &[8, 0, 0, 0]))), None)]
// About a fragment: only the first has the ports.
#[case::about_a_first_fragment(ipv4(1, "10.79.0.1", "10.78.0.5", 0, 0,
    &icmp((11, 1), &ipv4(UDP, "10.78.0.5", "198.51.100.7", 0, 0x2000, &ports(40000, 53)))),
    Some(flow("10.79.0.1", "10.78.0.5", 40000)))]
#[case::about_a_later_fragment(ipv4(1, "10.79.0.1", "10.78.0.5", 0, 0,
    &icmp((3, 4), &ipv4(UDP, "10.78.0.5", "198.51.100.7", 0, 0x0020, &ports(40000, 53)))), None)]
// ICMPv6's types in ICMP, and an IPv6 packet inside ICMP: neither is an error of its family.
#[case::v6_type_in_icmp(ipv4(1, "10.79.0.1", "10.78.0.5", 0, 0,
    &icmp((2, 0), &ipv4(UDP, "10.78.0.5", "198.51.100.7", 0, 0, &ports(40000, 53)))), None)]
#[case::v6_inside_icmp(ipv4(1, "10.79.0.1", "10.78.0.5", 0, 0,
    &icmp((3, 4), &ipv6(UDP, "fd00:78::5", "2001:db8::7", &ports(40000, 53)))), None)]
#[case::truncated_inner(ipv4(1, "10.79.0.1", "10.78.0.5", 0, 0,
    &icmp((3, 4), &ipv4(UDP, "10.78.0.5", "198.51.100.7", 0, 0, &[0x9c]))), None)]
fn icmp_errors(#[case] pkt: Vec<u8>, #[case] want: Option<Flow>) {
    assert_eq!(read_flow(&pkt), want);
}

/// The most the C side has to hand over: the longest headers an error can have.
#[test]
fn headers_max_covers_the_longest_error() {
    let inner = ipv4(UDP, "10.78.0.5", "198.51.100.7", 10, 0, &ports(40000, 53));
    let pkt = ipv4(1, "10.79.0.1", "10.78.0.5", 10, 0, &icmp((3, 4), &inner));
    assert_eq!(
        read_flow(&pkt[..HEADERS_MAX]),
        Some(flow("10.79.0.1", "10.78.0.5", 40000))
    );
    assert_eq!(read_flow(&pkt[..HEADERS_MAX - 1]), None);
}

/// What a half checks a packet from the other half against: the header whole, the packet no
/// longer than its frame.
#[rstest]
#[case::tcp4(ipv4(TCP, "10.9.0.1", "10.78.0.5", 0, 0, &ports(1, 2)), Some((20, 40)))]
#[case::options4(ipv4(UDP, "127.0.0.1", "127.0.0.1", 10, 0, &ports(1, 2)), Some((60, 80)))]
#[case::tcp6(ipv6(TCP, "::1", "::1", &ports(1, 2)), Some((40, 60)))]
#[case::ihl_below_20({ let mut p = ipv4(TCP, "10.9.0.1", "10.78.0.5", 0, 0, &ports(1, 2)); p[0] = 0x44; p }, None)]
#[case::total_below_ihl({ let mut p = ipv4(TCP, "10.9.0.1", "10.78.0.5", 2, 0, &[]); p[2..4].copy_from_slice(&20u16.to_be_bytes()); p }, None)]
#[case::states_more_than_sent({ let mut p = ipv4(TCP, "10.9.0.1", "10.78.0.5", 0, 0, &ports(1, 2)); p[2..4].copy_from_slice(&9000u16.to_be_bytes()); p }, Some((20, 9000)))]
#[case::truncated6(ipv6(TCP, "::1", "::1", &[])[..5].to_vec(), None)]
#[case::not_ip(vec![0x20; 64], None)]
#[case::empty(vec![], None)]
fn stated_lengths(#[case] pkt: Vec<u8>, #[case] want: Option<(usize, usize)>) {
    assert_eq!(ip_lengths(&pkt), want);
}

proptest! {
    /// Whatever the other half or the wire sends, reading never panics, and a flow read from
    /// a prefix is the flow of the whole packet (no field is read past what was handed over).
    #[test]
    fn reading_any_bytes_is_safe(pkt in prop::collection::vec(any::<u8>(), 0..200), cut in 0usize..200) {
        let whole = read_flow(&pkt);
        if let Some(f) = read_flow(&pkt[..cut.min(pkt.len())]) {
            prop_assert_eq!(Some(f), whole);
        }
    }

    /// Random valid TCP and UDP headers read back as built.
    #[test]
    fn built_headers_read_back(v6 in any::<bool>(), udp in any::<bool>(), sport in any::<u16>(),
                               dport in any::<u16>(), options in 0usize..11) {
        let proto = if udp { UDP } else { TCP };
        let pkt = if v6 {
            ipv6(proto, "fd00:78::9", "fd00:78::5", &ports(sport, dport))
        } else {
            ipv4(proto, "10.78.0.9", "10.78.0.5", options, 0x4000, &ports(sport, dport))
        };
        let want = if v6 { flow("fd00:78::9", "fd00:78::5", dport) } else {
            flow("10.78.0.9", "10.78.0.5", dport)
        };
        prop_assert_eq!(read_flow(&pkt), Some(want));
    }
}
