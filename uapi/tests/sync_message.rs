// SPDX-License-Identifier: GPL-2.0
//! The port-ownership snapshot: what one half encodes, the other decodes the same; and nothing
//! a hostile peer sends is taken unless every field is valid.

use proptest::prelude::*;
use rstest::rstest;
use xpu_uapi::sync::*;

const ADDR6: [u8; 16] = [0xfd, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];

fn message(split: bool, reply: bool, half: Half, range: (u16, u16), ports: &[u16]) -> Vec<u8> {
    let mut m = vec![0u8; LEN];
    encode_header(
        &mut m,
        split,
        reply,
        half,
        range,
        [10, 0, 0, 7],
        Some(ADDR6),
        7,
        41,
    )
    .expect("LEN bytes");
    for &p in ports {
        m[HEADER_LEN + usize::from(p) / 8] |= 1 << (p % 8);
    }
    m
}

#[test]
fn round_trip() {
    let m = message(true, true, Half::Dpu, (49152, 60999), &[1, 80, 8080, 65535]);
    let s = Snapshot::decode(&m).unwrap();
    assert!(s.split && s.reply);
    assert_eq!(
        (s.half, s.port_min, s.port_max, s.seq),
        (Half::Dpu, 49152, 60999, 41)
    );
    assert_eq!((s.addr, s.addr6, s.epoch), ([10, 0, 0, 7], Some(ADDR6), 7));
    for p in [1, 80, 8080, 65535] {
        assert!(s.owns(p), "port {p}");
    }
    assert!(!s.owns(0) && !s.owns(81) && !s.owns(8081));
}

#[rstest]
#[case::short(LEN - 1, None, SyncError::Length)]
#[case::long(LEN + 1, None, SyncError::Length)]
#[case::magic(LEN, Some((0, 0x00)), SyncError::Magic)]
#[case::version_1(LEN, Some((4, 1)), SyncError::Version)]
#[case::version_3(LEN, Some((4, 3)), SyncError::Version)]
#[case::flags(LEN, Some((6, 0x05)), SyncError::Flags)]
#[case::half(LEN, Some((8, 2)), SyncError::Half)]
#[case::reserved(LEN, Some((9, 1)), SyncError::Reserved)]
#[case::reserved2(LEN, Some((15, 1)), SyncError::Reserved)]
#[case::range_low(LEN, Some((11, 0x01)), SyncError::Range)]
fn bad_messages_are_refused(
    #[case] len: usize,
    #[case] poke: Option<(usize, u8)>,
    #[case] want: SyncError,
) {
    let mut m = message(true, false, Half::Host, (32768, 49151), &[80]);
    m.resize(len, 0);
    if let Some((at, v)) = poke {
        m[at] = v;
    }
    assert_eq!(Snapshot::decode(&m), Err(want));
}

#[test]
fn no_ipv6_address_is_all_zero() {
    let mut m = vec![0u8; LEN];
    encode_header(
        &mut m,
        true,
        false,
        Half::Host,
        (32768, 49151),
        [10, 0, 0, 7],
        None,
        1,
        1,
    )
    .expect("LEN bytes");
    assert_eq!(&m[28..44], &[0; 16]);
    assert_eq!(Snapshot::decode(&m).map(|s| s.addr6), Ok(None));
}

#[test]
fn inverted_range_is_refused() {
    let m = message(true, false, Half::Host, (50000, 40000), &[]);
    assert_eq!(Snapshot::decode(&m), Err(SyncError::Range));
}

#[test]
fn unsplit_message_carries_no_ports() {
    let m = message(false, false, Half::Host, (32768, 49151), &[]);
    assert!(!Snapshot::decode(&m).unwrap().split);
    let m = message(false, false, Half::Host, (32768, 49151), &[80]);
    assert_eq!(Snapshot::decode(&m), Err(SyncError::Reserved));
}

#[rstest]
#[case(1, 0, true)]
#[case(0, 1, false)]
#[case(0, u32::MAX, true)]
#[case(5, 5, false)]
fn sequence_numbers_wrap(#[case] a: u32, #[case] b: u32, #[case] after: bool) {
    assert_eq!(seq_after(a, b), after);
}

#[test]
fn default_ranges_are_disjoint() {
    assert!(!ranges_overlap(
        Half::Host.default_range(),
        Half::Dpu.default_range()
    ));
    assert!(ranges_overlap((1024, 2000), (2000, 3000)));
}

proptest! {
    /// `range_bits` marks exactly the ports of the word inside the range.
    #[test]
    fn range_bits_is_exact(word in 0usize..1024, lo in any::<u16>(), hi in any::<u16>()) {
        let first = word * 64;
        let bits = range_bits(first, lo, hi);
        for b in 0..64 {
            let p = first + b;
            let inside = usize::from(lo) <= p && p <= usize::from(hi);
            prop_assert_eq!(bits & (1 << b) != 0, inside, "port {}", p);
        }
    }

    /// Random bytes never make decode panic, and what it accepts is within bounds.
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..LEN + 8)) {
        if let Ok(s) = Snapshot::decode(&bytes) {
            prop_assert!(s.port_min >= MIN_EPHEMERAL && s.port_min <= s.port_max);
        }
    }

    /// A valid message with random ports and fields decodes to what was encoded.
    #[test]
    fn any_valid_message_round_trips(ports in proptest::collection::vec(any::<u16>(), 0..64),
                                      lo in MIN_EPHEMERAL..=u16::MAX, span in any::<u16>(), dpu in any::<bool>()) {
        let hi = lo.saturating_add(span);
        let half = if dpu { Half::Dpu } else { Half::Host };
        let m = message(true, false, half, (lo, hi), &ports);
        let s = Snapshot::decode(&m).unwrap();
        prop_assert_eq!((s.half, s.port_min, s.port_max), (half, lo, hi));
        for p in ports {
            prop_assert!(s.owns(p));
        }
    }
}
