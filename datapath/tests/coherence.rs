// SPDX-License-Identifier: GPL-2.0
//! The datapath on a medium that is not coherent between the ends (a CXL 2.0 memory pool
//! shared by two hosts): each end's cache serves the lines it holds, however stale, until it
//! invalidates them, and keeps its writes until it writes them back (tests/common's `Mem`).
//! With the datapath's write-backs and invalidations every packet arrives whole
//! (tests/props.rs runs random schedules so); without them the model loses packets, so the
//! passing runs are not the model's doing. The cost is counted in cache lines per packet.

mod common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rstest::rstest;
use xpu_datapath::port::Mode;

use common::sim::{Link, Op, World};

fn send_both_ways(link: &mut Link<'_>, n: u32, len: u32) {
    for i in 0..n {
        for side in 0..2 {
            link.step(&Op::Send {
                side,
                q: 0,
                len,
                more: false,
            });
        }
        if i % 4 == 3 {
            link.drain();
        }
    }
    link.drain();
}

/// Packets that arrived whole at `side`, on queue 0.
fn received(w: &World, side: usize) -> usize {
    w.received[side].borrow()[0]
        .iter()
        .filter(|&&(t, _)| t != u32::MAX)
        .count()
}

#[rstest]
fn flushes_deliver_everything(
    #[values(Mode::Pair, Mode::Doorbell)] mode: Mode,
    #[values(60, 1500, 9000)] len: u32,
) {
    let w = World::noncoherent(1, 16, common::pair_buf(16), mode, true);
    let mut link = Link::new(&w);
    send_both_ways(&mut link, 40, len);
    link.check();
    assert_eq!(received(&w, 0), 40);
    assert_eq!(received(&w, 1), 40);
}

/// The same link whose ends neither write back nor invalidate: the peer never sees a
/// producer index move (or sees it and then stale descriptors and data), so packets are lost
/// or torn.
#[rstest]
fn without_flushes_packets_are_lost(#[values(Mode::Pair, Mode::Doorbell)] mode: Mode) {
    let w = World::noncoherent(1, 16, common::pair_buf(16), mode, false);
    let mut link = Link::new(&w);
    send_both_ways(&mut link, 40, 1500);
    let whole = received(&w, 0) + received(&w, 1);
    assert!(
        whole < 80,
        "a non-coherent medium without flushes delivered all {whole}"
    );
}

/// What the flushes cost, in cache lines per packet one way: the sender writes back the
/// packet's data lines, its descriptor and its producer index (and its event index, when it
/// asks to be told of completions), the receiver invalidates the same and writes back its own
/// indices. Each side's count is the data's lines and at most 8 more. Printed for the README
/// (`cargo test -p xpu-datapath --test coherence -- --nocapture`).
#[rstest]
fn lines_per_packet(#[values(64, 1500, 9000)] len: u32) {
    let w = World::noncoherent(1, 64, common::pair_buf(64), Mode::Doorbell, true);
    let mut link = Link::new(&w);
    let n = 200;
    fn cache(m: &common::Mem) -> &common::Cache {
        m.cache().expect("a non-coherent medium")
    }
    let count = |c: &AtomicU64| c.load(Relaxed);
    // Setting the link up (headers, RSS blocks) is not the packets' cost.
    let base = [&w.mem, &w.mem1].map(|m| {
        let c = cache(m);
        (count(&c.writeback_lines), count(&c.invalidate_lines))
    });
    for _ in 0..n {
        link.step(&Op::Send {
            side: 0,
            q: 0,
            len,
            more: false,
        });
        link.drain();
    }
    link.check();
    let per = |lines: u64| lines as f64 / f64::from(n);
    let (tx, rx) = (cache(&w.mem), cache(&w.mem1));
    let side = [
        (
            per(count(&tx.writeback_lines) - base[0].0),
            per(count(&tx.invalidate_lines) - base[0].1),
        ),
        (
            per(count(&rx.writeback_lines) - base[1].0),
            per(count(&rx.invalidate_lines) - base[1].1),
        ),
    ];
    println!(
        "{len}-byte packets, per packet: the sender writes back {:.1} lines and invalidates \
         {:.1}, the receiver writes back {:.1} and invalidates {:.1}",
        side[0].0, side[0].1, side[1].0, side[1].1
    );
    let data = f64::from(len.div_ceil(64));
    for (what, v) in [
        ("sender's write-backs", side[0].0),
        ("receiver's invalidations", side[1].1),
    ] {
        assert!(
            (data..=data + 8.0).contains(&v),
            "{len}-byte packets: {v:.1} lines of {what} per packet, not {data} to {}",
            data + 8.0
        );
    }
}
