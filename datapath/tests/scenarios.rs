// SPDX-License-Identifier: GPL-2.0
//! The datapath's timing-dependent paths, one scenario each, on the real code: overdue
//! doorbells (a peer whose event index says not to ring it), the coalesced re-arm offsets of
//! `ethtool -C`, and `reset`.

mod common;

use rstest::rstest;
use xpu_datapath::{
    mem,
    port::{DropReason, Mode, Moderation},
    shm::SideState,
};

use common::{
    sim::{Link, Op, World},
    Fate,
};

fn send(link: &mut Link<'_>, side: usize, len: u32) {
    link.step(&Op::Send {
        side,
        q: 0,
        len,
        more: false,
    });
}

/// Side 1's event index for side 0's ring 0: "ring me when your producer index passes this".
fn cons_event_off(w: &World) -> u32 {
    w.layout.half_size() + w.layout.consumer_off(0).expect("queue 0") + 4
}

/// A peer whose event index is wrong (far ahead) is rung anyway once it has left our packets
/// unread for the overdue period (100 ticks in the tests), then at most once per period; in
/// pair mode, where the peer is this kernel, never.
#[rstest]
#[case::doorbell(Mode::Doorbell, 1)]
#[case::pair(Mode::Pair, 0)]
fn overdue_doorbell(#[case] mode: Mode, #[case] overdue: u64) {
    let w = World::new(1, 16, common::pair_buf(16), mode);
    let mut link = Link::new(&w);
    w.mem.poke(cons_event_off(&w), 1000);
    let tx = &w.stats[0].tx[0];
    for (t, len) in [(0, 100), (50, 200), (150, 300), (160, 400)] {
        w.clock.0.set(t);
        send(&mut link, 0, len);
    }
    assert_eq!(tx.overdue.get(), overdue);
    assert_eq!(tx.doorbells.get(), overdue);
    assert_eq!(tx.suppressed.get(), 4 - overdue);
    // The rung peer finds every packet.
    link.drain();
    assert_eq!(w.received[1].borrow()[0].len(), 4 * overdue as usize);
}

/// After a poll that found `n` packets, the consumer asks for its doorbell `ahead` packets
/// on, and arms the timer if that leaves packets to it: at once without coalescing or after
/// an empty poll; `rx-frames - 1` on, at most half the ring (16 here); half the ring for
/// `rx-frames 0`.
#[rstest]
#[case::off(0, 0, 3, 0)]
#[case::frames(50, 4, 3, 3)]
#[case::one_frame(50, 1, 3, 0)]
#[case::half_ring(50, 0, 3, 8)]
#[case::capped(50, 20, 3, 8)]
#[case::empty_poll(50, 4, 0, 0)]
fn coalesced_rearm(#[case] usecs: u32, #[case] frames: u32, #[case] n: u32, #[case] ahead: u32) {
    let w = World::new(1, 16, common::pair_buf(16), Mode::Pair);
    let mut link = Link::new(&w);
    for _ in 0..n {
        send(&mut link, 0, 100);
    }
    w.devs[1].moderation.set(Moderation {
        usecs,
        frames,
        adaptive: false,
    });
    w.devs[1].napi_scheduled[0].set(true);
    assert_eq!(link.poll(1, 0, 64), n);
    assert_eq!(w.mem.peek(cons_event_off(&w)), n + ahead);
    assert_eq!(w.devs[1].timer[0].get().is_some(), ahead > 0);
    // Fewer packets than `ahead` ring no doorbell; the timer picks them up.
    let doorbells = w.stats[0].tx[0].doorbells.get();
    for _ in 0..ahead.min(2) {
        send(&mut link, 0, 100);
    }
    assert_eq!(w.stats[0].tx[0].doorbells.get(), doorbells);
    link.drain();
    assert_eq!(w.received[1].borrow()[0].len() as u32, n + ahead.min(2));
    link.check();
}

/// `reset` forgets what was in flight, zeroes our index words, publishes `Ready` with the new
/// generation, and leaves the rings unused until the handshake makes them live again; then
/// both ends start over from index 0.
#[test]
fn reset_starts_over() {
    let w = World::new(1, 8, common::pair_buf(8), Mode::Doorbell);
    let mut link = Link::new(&w);
    for len in [100, 200, 300] {
        send(&mut link, 0, len);
    }
    let prod_off = w.layout.producer_off(0).expect("queue 0");
    assert_eq!(w.mem.peek(prod_off), 3);
    for end in &link.ends {
        end.reset(2, 9000).expect("reset");
    }
    assert_eq!(w.mem.peek(prod_off), 0);
    let h = mem::read_header(&w.mem, 0).expect("a header");
    assert_eq!(
        (h.state, h.generation, h.mtu),
        (SideState::Ready as u32, 2, 9000)
    );
    send(&mut link, 0, 400);
    assert_eq!(
        w.logs[0].borrow().last(),
        Some(&Fate::Dropped {
            q: 0,
            seq: 3,
            why: DropReason::LinkDown
        })
    );
    for end in &link.ends {
        end.set_live(true);
        end.set_up(2);
    }
    for len in [500, 600] {
        send(&mut link, 0, len);
    }
    link.drain();
    let got: Vec<u32> = w.received[1].borrow()[0].iter().map(|&(t, _)| t).collect();
    assert_eq!(got, [common::tag(0, 4), common::tag(0, 5)]);
    assert_eq!(
        w.stats[0].tx[0].peer_errors.get() + w.stats[1].rx[0].peer_errors.get(),
        0
    );
}
