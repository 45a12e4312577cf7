// SPDX-License-Identifier: GPL-2.0
//! The byte-ring placement of packet data: packets in flight never overlap, never leave the
//! area, and a drained area always has room for any packet that fits in it (so a producer that
//! stops until there is room for its largest packet cannot stall for good).

use std::collections::VecDeque;

use proptest::prelude::*;
use rstest::rstest;
use xpu_uapi::{data::DataArea, shm::CACHE_LINE};

/// A producer's view of its data area: the packets in flight, oldest first.
#[derive(Default)]
struct Producer {
    head: u32,
    in_flight: VecDeque<(u32, u32)>,
}

impl Producer {
    fn tail(&self) -> Option<u32> {
        self.in_flight.front().map(|&(off, _)| off)
    }

    fn send(&mut self, area: &DataArea, len: u32) -> Option<u32> {
        let off = area.place(self.head, self.tail(), len)?;
        self.head = off + DataArea::footprint(len).expect("placed, so it has a footprint");
        self.in_flight.push_back((off, len));
        Some(off)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Send(u32),
    Complete(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (1u32..70_000).prop_map(Op::Send),
            2 => (1usize..8).prop_map(Op::Complete),
        ],
        1..400,
    )
}

proptest! {
    /// Under any sequence of sends and in-order completions, placed packets are inside the
    /// area, cache-line aligned, and disjoint from every packet still in flight.
    #[test]
    fn placed_packets_are_disjoint(lines in 1u32..8192, ops in ops()) {
        let area = DataArea::new(lines * CACHE_LINE as u32).unwrap();
        let mut p = Producer::default();
        for op in ops {
            match op {
                Op::Send(len) => {
                    let Some(off) = p.send(&area, len) else { continue };
                    prop_assert_eq!(off % CACHE_LINE as u32, 0);
                    prop_assert!(u64::from(off) + u64::from(len) <= u64::from(area.size()));
                    let new = p.in_flight.back().copied().unwrap();
                    for &(o, l) in p.in_flight.iter().take(p.in_flight.len() - 1) {
                        let (a, b) = (o, o + DataArea::footprint(l).unwrap());
                        let (c, d) = (new.0, new.0 + DataArea::footprint(new.1).unwrap());
                        prop_assert!(b <= c || d <= a, "[{a},{b}) overlaps [{c},{d})");
                    }
                }
                Op::Complete(n) => {
                    for _ in 0..n {
                        p.in_flight.pop_front();
                    }
                }
            }
        }
        // Drained, the area takes any packet that fits in it at all.
        p.in_flight.clear();
        prop_assert_eq!(p.send(&area, area.size()), Some(0));
    }
}

#[rstest]
#[case::empty_starts_at_zero(4096, 1000, None, 100, Some(0))]
#[case::after_head(4096, 128, Some(0), 100, Some(128))]
#[case::exactly_to_end(4096, 4032, Some(64), 64, Some(4032))]
#[case::wraps_to_zero(4096, 4032, Some(128), 100, Some(0))]
#[case::wrap_blocked_by_tail(4096, 4032, Some(64), 100, None)]
#[case::wrapped_gap(4096, 128, Some(1024), 896, Some(128))]
#[case::wrapped_gap_too_small(4096, 128, Some(1024), 897, None)]
#[case::full(4096, 1024, Some(1024), 1, None)]
#[case::zero_len(4096, 0, None, 0, None)]
#[case::bigger_than_area(4096, 0, None, 4097, None)]
#[case::len_overflow(4096, 0, None, u32::MAX, None)]
#[case::bad_head(4096, 5000, Some(0), 1, None)]
fn placement(
    #[case] size: u32,
    #[case] head: u32,
    #[case] tail: Option<u32>,
    #[case] len: u32,
    #[case] want: Option<u32>,
) {
    let area = DataArea::new(size).unwrap();
    assert_eq!(area.place(head, tail, len), want);
}

#[test]
fn area_size_must_be_whole_cache_lines() {
    assert!(DataArea::new(0).is_none());
    assert!(DataArea::new(100).is_none());
    assert!(DataArea::new(128).is_some());
}
