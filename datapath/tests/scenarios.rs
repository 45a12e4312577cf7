// SPDX-License-Identifier: GPL-2.0
//! The datapath's timing-dependent paths, one scenario each, on the real code: overdue
//! doorbells (a peer whose event index says not to ring it), the coalesced re-arm offsets of
//! `ethtool -C`, `reset`, and an XDP program's verdicts.

mod common;

use rstest::rstest;
use xpu_datapath::{
    conn::BadDepth,
    mem,
    port::{DropReason, Mode, Moderation},
    shm::{self, SideState},
};

use std::cell::RefCell;

use common::{
    sim::{Link, Op, World},
    Fate, Pkt, XdpAct,
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

/// A sender stopped at its tx depth below where a coalescing receiver asked for its doorbell
/// rings it anyway (else only the receiver's timer would move the ring); a receiver asks at
/// most half its own rx depth ahead.
#[rstest]
#[case::sender_depth(64, 8, 32)]
#[case::receiver_depth(16, 64, 8)]
fn coalescing_within_depth(#[case] rx: u32, #[case] tx: u32, #[case] ahead: u32) {
    let w = World::new(1, 64, common::pair_buf(64), Mode::Pair);
    let mut link = Link::new(&w);
    link.ends[1].set_depths(Some(rx), None).expect("rx depth");
    link.ends[0].set_depths(None, Some(tx)).expect("tx depth");
    w.devs[1].moderation.set(Moderation {
        usecs: 1000,
        frames: 0,
        adaptive: false,
    });
    send(&mut link, 0, 100);
    w.devs[1].napi_scheduled[0].set(true);
    assert_eq!(link.poll(1, 0, 64), 1);
    assert_eq!(w.mem.peek(cons_event_off(&w)), 1 + ahead);
    // Only a doorbell may start the next poll now.
    assert!(w.devs[1].timer[0].take().is_some());
    w.devs[1].napi_scheduled[0].set(false);
    for _ in 0..70 {
        send(&mut link, 0, 100);
    }
    assert!(
        w.devs[0].stopped[0].get(),
        "the sender did not stop at the depth"
    );
    assert!(
        w.devs[1].napi_scheduled[0].get(),
        "a sender stopped short of the receiver's event did not ring it"
    );
    link.drain();
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

/// The link's number is the host end's: both ends give it while the host end is there, the
/// DPU end from the host's header, which only the host writes; a DPU end that writes one in
/// its own half changes nothing, and an end whose peer is gone has none to give.
#[test]
fn link_number_from_the_host_end() {
    let w = World::new(1, 8, common::pair_buf(8), Mode::Doorbell);
    let link = Link::new(&w);
    let half = w.layout.half_size();
    assert_eq!(link.ends[0].link_id(), Some(common::TEST_LINK_ID));
    assert_eq!(link.ends[1].link_id(), Some(common::TEST_LINK_ID));
    let dpu = mem::read_header(&w.mem, half).expect("the DPU end's header");
    assert_eq!(dpu.link_id, 0);
    w.mem.poke(half + 4 * shm::LINK_ID_WORD as u32, 0xbad);
    assert_eq!(link.ends[0].link_id(), Some(common::TEST_LINK_ID));
    assert_eq!(link.ends[1].link_id(), Some(common::TEST_LINK_ID));
    // A host that publishes none (older than minor 3), or speaks another major version (whose
    // word 7 may be anything), gives the DPU end none.
    w.mem.poke(4 * shm::LINK_ID_WORD as u32, 0);
    assert_eq!(link.ends[1].link_id(), None);
    w.mem
        .poke(4 * shm::LINK_ID_WORD as u32, common::TEST_LINK_ID);
    w.mem.poke(4, shm::VERSION + (1 << 16));
    assert_eq!(link.ends[1].link_id(), None);
    w.mem.poke(4, shm::VERSION);
    link.ends[0].set_state(SideState::Down);
    assert_eq!(link.ends[1].link_id(), None);
    link.ends[0].set_state(SideState::Ready);
    assert_eq!(link.ends[1].link_id(), Some(common::TEST_LINK_ID));
}

/// An XDP program on side 1 gives every packet one verdict: the stack gets the passed ones
/// only; the dropped and redirected are counted and gone (a poll that redirected flushes);
/// the sent back go out on side 1's TX ring of the same queue, under its lock, one doorbell
/// per poll, and side 0 receives them, tags intact and in order. Every packet is counted as
/// received, whatever its verdict.
#[rstest]
#[case::pass(XdpAct::Pass)]
#[case::drop(XdpAct::Drop)]
#[case::redirect(XdpAct::Redirect)]
#[case::tx(XdpAct::Tx)]
#[case::skb_pass(XdpAct::SkbPass)]
#[case::skb_consumed(XdpAct::SkbConsumed)]
fn xdp_verdicts(#[case] act: XdpAct, #[values(Mode::Pair, Mode::Doorbell)] mode: Mode) {
    let w = World::new(1, 16, common::pair_buf(16), mode);
    let mut link = Link::new(&w);
    w.devs[1].xdp.set(Some(act));
    for len in [100, 1500, 60, 9000, 200] {
        send(&mut link, 0, len);
    }
    link.drain();
    let (rx, tx) = (&w.stats[1].rx[0], &w.stats[1].tx[0]);
    assert_eq!(rx.packets.get(), 5);
    let verdicts = [
        rx.xdp_pass.get(),
        rx.xdp_drop.get(),
        rx.xdp_redirect.get(),
        rx.xdp_tx.get(),
        rx.xdp_generic.get(),
    ];
    let want = match act {
        XdpAct::Pass => [5, 0, 0, 0, 0],
        XdpAct::Drop => [0, 5, 0, 0, 0],
        XdpAct::Redirect => [0, 0, 5, 0, 0],
        XdpAct::Tx => [0, 0, 0, 5, 0],
        XdpAct::SkbPass => [5, 0, 0, 0, 5],
        XdpAct::SkbConsumed => [0, 0, 0, 0, 5],
    };
    assert_eq!(verdicts, want);
    assert_eq!(rx.dropped(), 0, "a verdict is not a loss");
    let sent: Vec<u32> = (0..5).map(|seq| common::tag(0, seq)).collect();
    let got = |side: usize| -> Vec<u32> {
        w.received[side].borrow()[0]
            .iter()
            .map(|&(t, _)| t)
            .collect()
    };
    assert_eq!(
        got(1),
        if matches!(act, XdpAct::Pass | XdpAct::SkbPass) {
            sent.clone()
        } else {
            vec![]
        }
    );
    assert_eq!(w.devs[1].xdp_flushes.get() > 0, act == XdpAct::Redirect);
    if act == XdpAct::Tx {
        assert_eq!(got(0), sent);
        assert_eq!(
            (tx.xdp_xmit.get(), tx.packets.get(), tx.dropped()),
            (5, 5, 0)
        );
        assert!(tx.doorbells.get() + tx.suppressed.get() <= w.stats[1].rx[0].polls.get());
        assert!(w.devs[1]
            .bounced
            .borrow()
            .iter()
            .all(|f| matches!(f, Fate::Sent { .. })));
    } else {
        assert_eq!(w.devs[1].tx_locks.get(), 0);
        assert_eq!(tx.packets.get(), 0);
    }
    no_faults(&w);
}

/// XDP_TX never stops the queue, which is the stack's: frames that find side 1's TX ring
/// full (side 0 is not reading) are given back and freed, counted in `xdp_xmit_err` and as
/// TX drops; the rest arrive once side 0 reads.
#[test]
fn xdp_tx_full_ring() {
    let w = World::new(1, 16, common::pair_buf(16), Mode::Pair);
    let mut link = Link::new(&w);
    w.devs[1].xdp.set(Some(XdpAct::Tx));
    for round in 0..2 {
        for _ in 0..16 {
            send(&mut link, 0, 100);
        }
        w.devs[1].napi_scheduled[0].set(true);
        assert_eq!(link.poll(1, 0, 64), 16, "round {round}");
    }
    let tx = &w.stats[1].tx[0];
    assert_eq!(w.stats[1].rx[0].xdp_tx.get(), 32);
    assert_eq!((tx.xdp_xmit.get(), tx.xdp_xmit_err.get()), (16, 16));
    assert_eq!(tx.dropped(), 16);
    assert_eq!(
        tx.drop_ring_full.get(),
        0,
        "a full ring is no protocol fault here"
    );
    assert!(!w.devs[1].stopped[0].get(), "XDP stopped the stack's queue");
    let bounced = w.devs[1].bounced.borrow();
    let freed = bounced
        .iter()
        .filter(|f| {
            matches!(
                f,
                Fate::Dropped {
                    why: DropReason::RingFull,
                    ..
                }
            )
        })
        .count();
    assert_eq!((bounced.len(), freed), (32, 16));
    drop(bounced);
    link.drain();
    assert_eq!(w.received[0].borrow()[0].len(), 16);
    no_faults(&w);
}

/// `ndo_xdp_xmit`: frames are taken in order under one hold of the queue's lock until one
/// finds the ring full; that one is given back, the rest are never drawn (their sender frees
/// them); what was taken is published with one doorbell and arrives in order.
#[test]
fn xdp_xmit_takes_until_full() {
    let w = World::new(1, 16, common::pair_buf(16), Mode::Pair);
    let mut link = Link::new(&w);
    let log = RefCell::new(Vec::new());
    let mut frames = (0..20).map(|seq| Pkt {
        q: 0,
        seq,
        len: 100,
        bad_meta: false,
        log: &log,
    });
    let mut given_back = Vec::new();
    let sent = link.ends[0].transmit_frames(
        &link.port(0),
        0,
        &w.stats[0].tx[0],
        &mut frames,
        |f: Pkt<'_>| given_back.push(f.seq),
    );
    assert_eq!((sent, given_back), (16, vec![16]));
    assert_eq!(frames.count(), 3, "frames drawn past the one given back");
    let tx = &w.stats[0].tx[0];
    assert_eq!((tx.xdp_xmit.get(), tx.xdp_xmit_err.get()), (16, 1));
    assert_eq!((w.devs[0].tx_locks.get(), tx.doorbells.get()), (1, 1));
    assert!(!w.devs[0].stopped[0].get(), "XDP stopped the stack's queue");
    link.drain();
    let got: Vec<u32> = w.received[1].borrow()[0].iter().map(|&(t, _)| t).collect();
    assert_eq!(
        got,
        (0..16).map(|seq| common::tag(0, seq)).collect::<Vec<_>>()
    );
    no_faults(&w);
}

/// `ethtool -G`: a ring's depth is the smaller of its sender's tx depth and its receiver's rx
/// depth, which the receiver publishes in its consumer lines. The sender stops there and goes
/// on as the receiver reads; depths change live, a stopped queue included, with nothing lost;
/// a depth out of range is refused and changes nothing; a peer's depth word is bounded (0, or
/// more than the ring, asks for the whole ring); a reset keeps the depth we ask for.
#[rstest]
fn ring_depths(#[values(Mode::Pair, Mode::Doorbell)] mode: Mode) {
    let w = World::new(1, 64, common::pair_buf(64), mode);
    let mut link = Link::new(&w);
    let sent = |w: &World| w.stats[0].tx[0].packets.get();
    let burst = |link: &mut Link<'_>, n: u32| {
        for _ in 0..n {
            send(link, 0, 100);
        }
    };
    assert_eq!(link.ends[0].depths(), (64, 64));

    link.ends[0].set_depths(None, Some(8)).expect("tx 8");
    burst(&mut link, 20);
    assert_eq!(sent(&w), 8, "in flight past our tx depth");
    assert!(w.devs[0].stopped[0].get(), "the queue runs at its depth");
    link.drain();
    link.check();

    link.ends[0].set_depths(None, Some(64)).expect("tx 64");
    link.ends[1].set_depths(Some(16), None).expect("rx 16");
    burst(&mut link, 40);
    assert_eq!(sent(&w), 20 + 16, "in flight past the receiver's rx depth");
    // Raised while the sender is stopped: it goes on at the receiver's next wake-up.
    link.ends[1].set_depths(Some(64), None).expect("rx 64");
    link.drain();
    link.check();

    let bad = Err(BadDepth { min: 8, max: 64 });
    assert_eq!(link.ends[1].set_depths(Some(4), None), bad);
    assert_eq!(link.ends[1].set_depths(Some(32), Some(65)), bad);
    assert_eq!(
        link.ends[1].depths(),
        (64, 64),
        "a refused change took effect"
    );

    // A peer's word as written: 0 means the whole ring, 1 is kept to, and a word past the
    // ring does no harm.
    let depth_off = cons_event_off(&w) + 4;
    for (word, depth) in [(0, 64), (1, 1), (u32::MAX, 64)] {
        w.mem.poke(depth_off, word);
        let before = sent(&w);
        burst(&mut link, 70);
        assert_eq!(sent(&w) - before, depth, "peer depth word {word:#x}");
        link.drain();
    }
    link.check();

    link.ends[1].set_depths(Some(32), None).expect("rx 32");
    w.mem.poke(depth_off, 0);
    link.ends[1].reset(2, 1500).expect("reset");
    assert_eq!(
        w.mem.peek(depth_off),
        32,
        "a reset forgot the depth we ask for"
    );
}

/// What `Link::check` asks besides delivery (which XDP changes): no access out of the window
/// or the peer's data area, no violation seen.
fn no_faults(w: &World) {
    assert_eq!(w.mem.oob.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(w.out_of_area.get(), 0);
    assert_eq!(w.devs[0].violations.get() + w.devs[1].violations.get(), 0);
}
