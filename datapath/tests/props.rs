// SPDX-License-Identifier: GPL-2.0
//! Property tests of the real datapath: random schedules of transmits, polls, timers, clock
//! ticks, `ethtool -C` and `ethtool -G` on both ends of a link, with random packet sizes up to
//! a whole data area (so byte-room stops and the re-arm rounds of `producer_stop` happen all
//! the time), random queue counts, ring sizes and depths, data areas of pair mode's size or the
//! smallest (a stop after every packet), in pair and doorbell mode. After the schedule the
//! link runs until it is quiet; then per queue nothing was lost, duplicated, reordered or torn,
//! the byte and packet counters of both ends agree, and no queue stayed stopped with packets
//! waiting (a lost wake-up).
//!
//! `PROPTEST_CASES` sets the number of cases (256 by default).

mod common;

use proptest::prelude::*;
use xpu_datapath::port::{Mode, Moderation};

use common::sim::{Link, Op, World};

fn len() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 14u32..200,
        3 => 200u32..9_000,
        2 => 9_000u32..=66_000,
        // Exactly a small data area (8, 16, 32 x 2 KiB), or one byte too big for it; the
        // largest packet, or one byte too big.
        1 => prop::sample::select(vec![16_384u32, 16_385, 32_768, 32_769, 65_536, 65_600, 65_601]),
    ]
}

fn moderation() -> impl Strategy<Value = Moderation> {
    (prop_oneof![Just(0u32), 1u32..100], 0u32..20, any::<bool>()).prop_map(
        |(usecs, frames, adaptive)| Moderation {
            usecs,
            frames,
            adaptive,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    let side = 0usize..2;
    let q = 0u16..3;
    prop_oneof![
        8 => (side.clone(), q.clone(), len(), any::<bool>())
            .prop_map(|(side, q, len, more)| Op::Send { side, q, len, more }),
        6 => (side.clone(), q.clone(), 1u32..80).prop_map(|(side, q, budget)| Op::Poll { side, q, budget }),
        2 => (side.clone(), q).prop_map(|(side, q)| Op::Timer { side, q }),
        1 => (0u32..300).prop_map(Op::Tick),
        1 => (side.clone(), moderation()).prop_map(|(side, m)| Op::Moderate { side, m }),
        1 => (side, 8u32..=32, 8u32..=32).prop_map(|(side, rx, tx)| Op::Depths { side, rx, tx }),
    ]
}

fn run(mode: Mode, queues: u16, ring: u32, small: bool, ops: &[Op]) {
    run_on(World::new, mode, queues, ring, small, ops);
}

fn run_on(
    world: impl FnOnce(u16, u32, u32, Mode) -> World,
    mode: Mode,
    queues: u16,
    ring: u32,
    small: bool,
    ops: &[Op],
) {
    let buf = if small {
        common::SMALL_BUF
    } else {
        common::pair_buf(ring)
    };
    let world = world(queues, ring, buf, mode);
    let mut link = Link::new(&world);
    for op in ops {
        link.step(op);
    }
    link.drain();
    link.check();
}

proptest! {
    #[test]
    fn pair_link_loses_nothing(
        queues in 1u16..=3,
        ring in prop::sample::select(vec![8u32, 16, 32]),
        small in any::<bool>(),
        ops in prop::collection::vec(op(), 0..300),
    ) {
        run(Mode::Pair, queues, ring, small, &ops);
    }

    #[test]
    fn doorbell_link_loses_nothing(
        queues in 1u16..=3,
        ring in prop::sample::select(vec![8u32, 16, 32]),
        small in any::<bool>(),
        ops in prop::collection::vec(op(), 0..300),
    ) {
        run(Mode::Doorbell, queues, ring, small, &ops);
    }

    /// On a medium that is not coherent between the ends (CXL memory shared without hardware coherence), whose ends write
    /// back and invalidate: each end's cache serves stale lines unless it does
    /// (tests/coherence.rs shows that it then loses packets).
    #[test]
    fn noncoherent_link_loses_nothing(
        doorbell in any::<bool>(),
        queues in 1u16..=3,
        ring in prop::sample::select(vec![8u32, 16, 32]),
        small in any::<bool>(),
        ops in prop::collection::vec(op(), 0..300),
    ) {
        let mode = if doorbell { Mode::Doorbell } else { Mode::Pair };
        let world = |q, r, b, m| World::noncoherent(q, r, b, m, true);
        run_on(world, mode, queues, ring, small, &ops);
    }
}
