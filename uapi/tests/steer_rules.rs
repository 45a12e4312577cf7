// SPDX-License-Identifier: GPL-2.0
//! The split namespace's steering decisions (uapi/src/steer.rs), as the module runs them: each
//! rule on its own, then the two halves together over random ownership, where what one half
//! sends across the other must take, and what one half keeps the other must never be sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rstest::rstest;
use xpu_uapi::steer::{valid_v4, valid_v6, Arrival, Flow, Pod};

const POD: Pod = Pod {
    v4: Ipv4Addr::new(10, 78, 0, 5),
    v6: Some(Ipv6Addr::new(0xfd00, 0x78, 0, 0, 0, 0, 0, 5)),
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("a test address")
}

fn flow(src: &str, dst: &str, dport: u16) -> Flow {
    Flow {
        src: ip(src),
        dst: ip(dst),
        dport,
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
        let f = Flow { src, dst, dport: port };
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
