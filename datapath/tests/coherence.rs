// SPDX-License-Identifier: GPL-2.0
//! The datapath on a medium that is not coherent between the ends (CXL memory that two
//! hosts share without hardware coherence): each end's cache serves the lines it holds,
//! however stale, until it invalidates them, and keeps its writes until it writes them back (tests/common's `Mem`;
//! each end's cache starts with every line of the window, so anything the peer writes later
//! is stale until invalidated). With the datapath's write-backs and invalidations every packet
//! arrives whole (tests/props.rs runs random schedules so); with them missing in any one
//! region of the ring, the link breaks, so each is needed and the passing runs are their doing.
//! The cost is counted in cache lines per packet.

mod common;

use std::{
    ops::Range,
    panic::{self, AssertUnwindSafe},
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use rstest::rstest;
use xpu_datapath::{
    port::Mode,
    rss::RssConfig,
    shm::{FEATURE_NONCOHERENT, FEATURE_RSS, RSS_KEY_SIZE},
};

use common::sim::{Link, Op, World};

fn send(link: &mut Link<'_>, side: usize, q: u16, len: u32) {
    link.step(&Op::Send {
        side,
        q,
        len,
        more: false,
    });
}

/// `n` packets each way on queue 0, the link drained every 4.
fn send_both_ways(link: &mut Link<'_>, n: u32, len: u32) {
    for i in 0..n {
        for side in 0..2 {
            send(link, side, 0, len);
        }
        if i % 4 == 3 {
            link.drain();
        }
    }
    link.drain();
}

/// Packets received at `side` on queue 0 that are the ones sent, in order and whole, before
/// the first that is not.
fn received_in_order(w: &World, side: usize) -> usize {
    w.received[side].borrow()[0]
        .iter()
        .zip(0..)
        .take_while(|&(&(t, _), k)| t == common::tag(0, k))
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
    assert_eq!(received_in_order(&w, 0), 40);
    assert_eq!(received_in_order(&w, 1), 40);
}

/// A region of the window, in both halves, whose flushes each end leaves out.
#[derive(Clone, Copy, Debug)]
enum Region {
    /// Nothing: the flushes as the datapath does them (the control).
    None,
    /// Everything: no flush at all.
    All,
    /// The producer line (`prod`, `prod_event`) of queue 0's ring.
    Producer,
    /// The consumer line (`cons`, `cons_event`, `depth`).
    Consumer,
    /// The descriptors.
    Descriptors,
    /// The packet data.
    Data,
}

fn blind(w: &World, region: Region) -> Vec<Range<u32>> {
    let l = &w.layout;
    let (prod, cons, data) = (
        l.producer_off(0).expect("queue 0"),
        l.consumer_off(0).expect("queue 0"),
        l.data_area_off(0).expect("queue 0"),
    );
    let desc = l.desc_off(0, 0).expect("slot 0");
    let within: Range<u32> = match region {
        Region::None => return Vec::new(),
        Region::All => 0..l.half_size(),
        Region::Producer => prod..prod + 64,
        Region::Consumer => cons..cons + 64,
        Region::Descriptors => desc..desc + 16 * l.ring_size(),
        Region::Data => data..data + l.data_size(),
    };
    [0, l.half_size()]
        .map(|h| within.start + h..within.end + h)
        .to_vec()
}

/// Without the flushes of any one region, packets are lost, torn or stale, or the link
/// stalls: each of the datapath's write-backs and invalidations is needed. The control run
/// (`Region::None`) goes through.
#[rstest]
fn each_region_needs_its_flushes(
    #[values(Mode::Pair, Mode::Doorbell)] mode: Mode,
    #[values(
        Region::None,
        Region::All,
        Region::Producer,
        Region::Consumer,
        Region::Descriptors,
        Region::Data
    )]
    region: Region,
) {
    let w = World::noncoherent(1, 8, common::SMALL_BUF, mode, true);
    for m in [&w.mem, &w.mem1] {
        *m.cache()
            .expect("a non-coherent medium")
            .blind
            .lock()
            .expect("blind lock") = blind(&w, region);
    }
    // Three laps of the ring each way, so that stale lines of an earlier lap can show.
    let run = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut link = Link::new(&w);
        send_both_ways(&mut link, 24, 200);
        link.check();
        received_in_order(&w, 0).min(received_in_order(&w, 1))
    }));
    match (region, run) {
        (Region::None, Ok(n)) => assert_eq!(n, 24),
        (Region::None, Err(_)) => panic!("the link failed with every flush in place"),
        (_, Ok(n)) => panic!("{region:?} without flushes: the link still delivered {n} of 24"),
        (_, Err(_)) => {}
    }
}

/// What the flushes cost, in cache lines per packet one way (an index word's line at each
/// read and write of it): the sender writes back the packet's data lines, its descriptor and
/// its producer line, and invalidates the consumer line at its 3 reads for completions; the
/// receiver invalidates the descriptor, the data and the producer line at its 4 reads, and
/// writes back its consumer line twice (`cons`, and the event index before it sleeps).
/// Printed for the README (`cargo test -p xpu-datapath --test coherence -- --nocapture`).
#[rstest]
fn lines_per_packet(#[values(64, 1500, 9000)] len: u32) {
    fn cache(m: &common::Mem) -> &common::Cache {
        m.cache().expect("a non-coherent medium")
    }
    fn counts(m: &common::Mem) -> [u64; 2] {
        let c = cache(m);
        [&c.writeback_lines, &c.invalidate_lines].map(|a: &AtomicU64| a.load(Relaxed))
    }
    let w = World::noncoherent(1, 64, common::pair_buf(64), Mode::Doorbell, true);
    let mut link = Link::new(&w);
    let n = 200;
    // Setting the link up (headers, RSS blocks) is not the packets' cost.
    let base = [counts(&w.mem), counts(&w.mem1)];
    for _ in 0..n {
        send(&mut link, 0, 0, len);
        link.drain();
    }
    link.check();
    let [tx, rx] = [(&w.mem, base[0]), (&w.mem1, base[1])].map(|(m, b)| {
        let c = counts(m);
        // To a tenth: a few lines over the whole run are the first packet's (the ring's
        // first event index), not each packet's.
        [0, 1].map(|i| ((c[i] - b[i]) as f64 / f64::from(n) * 10.0).round() / 10.0)
    });
    println!(
        "{len}-byte packets, per packet: the sender writes back {:.1} lines and invalidates \
         {:.1}, the receiver writes back {:.1} and invalidates {:.1}",
        tx[0], tx[1], rx[0], rx[1]
    );
    let data = f64::from(len.div_ceil(64));
    assert_eq!(
        tx,
        [data + 2.0, 3.0],
        "the sender's lines per {len}-byte packet"
    );
    assert_eq!(
        rx,
        [2.0, data + 5.0],
        "the receiver's lines per {len}-byte packet"
    );
}

/// The RSS table a receiver publishes reaches the sender, and so does its next one: each end
/// steers by the peer's table as it is now, not as its cache held it.
#[test]
fn rss_table_reaches_the_sender() {
    let w = World::noncoherent(2, 16, common::pair_buf(16), Mode::Doorbell, true);
    let link = Link::new(&w);
    // A frame that is not IP hashes nowhere and goes where bucket 0 does.
    let frame = [0u8; 64];
    for q in [1u8, 0, 1] {
        let cfg = RssConfig {
            indir: [q; 128],
            ..RssConfig::new([7; RSS_KEY_SIZE], 2)
        };
        link.ends[1].set_rss(&cfg);
        assert_eq!(link.ends[0].tx_ring(&frame), Some(u16::from(q)));
    }
}

/// A reset is seen by the peer: its header's generation, and its state.
#[test]
fn peer_sees_a_reset() {
    let w = World::noncoherent(1, 16, common::pair_buf(16), Mode::Doorbell, true);
    let link = Link::new(&w);
    for generation in [7, 8] {
        link.ends[1].reset(generation, 1500).expect("a reset");
        let h = link.ends[0].peer_header().expect("a header");
        assert_eq!(h.generation, generation);
        link.ends[1].set_up(3);
        let h = link.ends[0].peer_header().expect("a header");
        assert_eq!((h.state, h.peer_generation), (2, 3));
    }
}

/// Each end's header says whether it flushes ([`FEATURE_NONCOHERENT`]), and an end agrees only
/// with a peer that says as it does: with one that does not, the link must stay down.
#[rstest]
fn headers_say_whether_the_ends_flush(#[values(false, true)] flushes: bool) {
    let buf = common::pair_buf(16);
    let w = if flushes {
        World::noncoherent(1, 16, buf, Mode::Doorbell, true)
    } else {
        World::new(1, 16, buf, Mode::Doorbell)
    };
    let link = Link::new(&w);
    link.ends[1].reset(1, 1500).expect("a reset");
    let h = link.ends[0].peer_header().expect("a header");
    assert_eq!(h.features & FEATURE_NONCOHERENT != 0, flushes);
    assert_ne!(h.features & FEATURE_RSS, 0, "the other features are kept");
    assert!(link.ends[0].agrees(&h));
    let mut other = h;
    other.features ^= FEATURE_NONCOHERENT;
    assert!(!link.ends[0].agrees(&other));
}
