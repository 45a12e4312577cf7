// SPDX-License-Identifier: GPL-2.0
//! Property tests of the ring index arithmetic, including across the u32 wrap.

use proptest::prelude::*;
use rstest::rstest;
use xpu_uapi::ring::{need_event, BadIndex, Ring};

fn ring_sizes() -> impl Strategy<Value = u32> {
    (1u32..=12).prop_map(|s| 1 << s)
}

proptest! {
    /// Whatever the absolute values, in-flight counts up to `size` are accepted and counted
    /// exactly, on both sides.
    #[test]
    fn in_flight_is_exact(size in ring_sizes(), cons in any::<u32>(), n in 0u32..=4096) {
        let r = Ring::new(size).unwrap();
        let n = n % (size + 1);
        let prod = cons.wrapping_add(n);
        prop_assert_eq!(r.used(prod, cons), n);
        prop_assert_eq!(r.free(prod, cons), size - n);
        prop_assert_eq!(r.avail(prod, cons), Ok(n));
        prop_assert_eq!(r.completed(prod, cons, prod), Ok(n));
    }

    /// A producer index more than `size` ahead of the consumer, or behind it, is refused.
    #[test]
    fn impossible_producer_index_is_refused(size in ring_sizes(), cons in any::<u32>(), k in 1u32..u32::MAX / 2) {
        let r = Ring::new(size).unwrap();
        prop_assert_eq!(r.avail(cons.wrapping_add(size).wrapping_add(k), cons), Err(BadIndex));
        prop_assert_eq!(r.avail(cons.wrapping_sub(k), cons), Err(BadIndex));
    }

    /// A consumer index that moves backwards or passes the producer is refused.
    #[test]
    fn impossible_consumer_index_is_refused(size in ring_sizes(), last in any::<u32>(), inflight in 0u32..4096, k in 1u32..u32::MAX / 2) {
        let r = Ring::new(size).unwrap();
        let prod = last.wrapping_add(inflight % (size + 1));
        prop_assert_eq!(r.completed(prod.wrapping_add(k), last, prod), Err(BadIndex));
        prop_assert_eq!(r.completed(last.wrapping_sub(k), last, prod), Err(BadIndex));
    }

    /// Slots repeat with period `size` and stay in range.
    #[test]
    fn slots_wrap(size in ring_sizes(), idx in any::<u32>()) {
        let r = Ring::new(size).unwrap();
        prop_assert!(r.slot(idx) < size);
        prop_assert_eq!(r.slot(idx), r.slot(idx.wrapping_add(size)));
    }

    /// `need_event` is exactly "event lies in [old, new)" (mod 2^32), checked against a
    /// brute-force walk over the moved range.
    #[test]
    fn need_event_matches_walk(old in any::<u32>(), step in 0u32..64, off in 0u32..80) {
        let new = old.wrapping_add(step);
        let event = old.wrapping_add(off).wrapping_sub(8);
        let walked = (0..step).any(|i| old.wrapping_add(i) == event);
        prop_assert_eq!(need_event(event, new, old), walked);
    }
}

#[rstest]
#[case(0, false)]
#[case(1, false)]
#[case(2, true)]
#[case(3, false)]
#[case(4, true)]
#[case(6, false)]
#[case(1 << 31, true)]
#[case(u32::MAX, false)]
fn only_powers_of_two_from_2(#[case] size: u32, #[case] ok: bool) {
    assert_eq!(Ring::new(size).is_some(), ok);
}

#[rstest]
#[case::moved_past(5, 10, 0, true)]
#[case::moved_to(10, 10, 0, false)]
#[case::at_old(0, 10, 0, true)]
#[case::before_old(u32::MAX, 10, 0, false)]
#[case::no_move(3, 3, 3, false)]
#[case::across_wrap(u32::MAX, 2, u32::MAX - 2, true)]
fn need_event_cases(#[case] event: u32, #[case] new: u32, #[case] old: u32, #[case] want: bool) {
    assert_eq!(need_event(event, new, old), want);
}
