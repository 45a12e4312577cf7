// SPDX-License-Identifier: GPL-2.0
//! A seeded hostile-peer fuzzer against the real datapath. Our end (side 0, doorbell mode:
//! the peer is another kernel) polls and transmits while the peer writes whatever it likes:
//! producer indices near ours and far off, descriptors with offsets and lengths inside, at
//! the edges of and outside its data area, random words anywhere in its half, and, as it can
//! on ivshmem, in ours (our event and index words, our descriptors).
//!
//! After every step: no access went outside the window, our writes stayed in our half, no
//! packet was read outside the peer's data area for its queue, a poll consumed exactly what a
//! valid producer index offered (up to its budget) and counted every descriptor it refused, an
//! impossible producer index was refused and counted, and nothing panicked (overflow checks
//! are on in test builds).
//!
//! A case is one step: a peer action followed by ours. `XPU_FUZZ_CASES` (default 2,000,000, about 4 s in a debug build)
//! and `XPU_FUZZ_SEED` set a longer or another run: `XPU_FUZZ_CASES=50000000 cargo test
//! --release -p xpu-datapath --test hostile_peer -- --nocapture`.

mod common;

use std::{cell::RefCell, collections::VecDeque, sync::atomic::Ordering::Relaxed};

use xpu_datapath::{
    conn::MAX_PACKET,
    port::Mode,
    ring::Ring,
    shm::{Layout, GSO_F_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, MAX_QUEUES},
};

use common::{Dev, Fate, Mem, Pkt, Received, Rng, Stats, TestClock, TestNapi, TestPort, XdpAct};

/// Steps per sequence: each sequence starts from a fresh link.
const STEPS: u64 = 1000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the fuzzer saw, for the report.
#[derive(Default, Debug)]
struct Tally {
    steps: u64,
    polls: u64,
    received: u64,
    refused_descs: u64,
    /// Descriptors taken whose checksum or GSO metadata no sender writes: dropped, counted.
    bad_meta: u64,
    refused_indices: u64,
    transmits: u64,
    /// Packets an XDP program sent back out (XDP_TX), and those that found our ring full.
    bounced: u64,
    bounce_failed: u64,
}

/// A value the peer might write for a length or an offset: near the edges that matter, or
/// anything.
fn edgy(rng: &mut Rng, edges: &[u32]) -> u32 {
    match rng.below(4) {
        0 => rng.next() as u32,
        _ => {
            let e = edges[rng.below(edges.len() as u32) as usize];
            e.wrapping_add(rng.below(5)).wrapping_sub(2)
        }
    }
}

fn sequence(seed: u64, tally: &mut Tally) {
    let mut rng = Rng(seed);
    let queues = 1 + rng.below(2) as u16;
    let ring_size = [8, 16][rng.below(2) as usize];
    let buf = if rng.chance(8) {
        common::pair_buf(ring_size)
    } else {
        common::SMALL_BUF
    };
    let layout = common::layout(queues, ring_size, buf);
    let ring = Ring::new(ring_size).expect("a power of two");
    let half = layout.half_size();
    let mut mem = Mem::new(2 * u64::from(half));
    mem.writer_half = Some((0, half));
    let clock = TestClock::default();
    let conn = common::conn(&mem, &clock, layout, 0, Mode::Doorbell);
    let (dev, peer_dev) = (Dev::default(), Dev::default());
    // A quarter of the sequences run an XDP program that sends every packet back: our TX
    // ring then fills from the poll, against the peer's consumer index.
    if rng.chance(4) {
        dev.xdp.set(Some(XdpAct::Tx));
    }
    let port = TestPort {
        me: &dev,
        peer: &peer_dev,
        mode: Mode::Doorbell,
    };
    let stats = Stats::default();
    let log = RefCell::new(Vec::<Fate>::new());
    let received: Received = RefCell::new(vec![VecDeque::new(); usize::from(MAX_QUEUES)]);
    let out_of_area = std::cell::Cell::new(0);
    // Our view of how far we consumed each of the peer's rings: what our polls returned.
    let mut cons = vec![0u32; usize::from(queues)];

    let peer_prod = |q: u16| half + layout.producer_off(q).expect("queue");
    let peer_desc = |q: u16, idx: u32| half + layout.desc_off(q, idx).expect("queue");
    let data_lo = |q: u16| half + layout.data_area_off(q).expect("queue");

    for _ in 0..STEPS {
        let q = rng.below(u32::from(queues)) as u16;
        let qi = usize::from(q);
        // The peer's move.
        match rng.below(8) {
            0..=2 => {
                // Publish descriptors, mostly plausible ones.
                let n = rng.below(ring_size + 1);
                let lo = data_lo(q) - half;
                let size = layout.data_size();
                for i in 0..n {
                    let idx = cons[qi].wrapping_add(i);
                    let (off, len) = if rng.chance(2) {
                        // A packet a correct peer could send.
                        (
                            lo + 64 * rng.below(size / 64 / 2),
                            14 + rng.below(size / 2 - 14),
                        )
                    } else {
                        (
                            edgy(&mut rng, &[lo, lo + size / 2, lo + size, 0, half]),
                            edgy(&mut rng, &[14, 64, 1500, size, MAX_PACKET, 0]),
                        )
                    };
                    let d = peer_desc(q, idx);
                    mem.poke(d, off);
                    mem.poke(d + 4, len);
                    // gso_size, gso_type and flags: half of them what a sender of ours writes.
                    let meta = if rng.chance(2) {
                        let gso = [GSO_NONE, GSO_TCPV4, GSO_TCPV6 | GSO_F_ECN, GSO_UDP_L4];
                        let gso = gso[rng.below(4) as usize];
                        let flags = rng.below(4);
                        rng.below(1 << 16) | u32::from(gso) << 16 | flags << 24
                    } else {
                        rng.next() as u32
                    };
                    mem.poke(d + 12, meta);
                }
                let prod = match rng.below(4) {
                    0 => rng.next() as u32,
                    _ => cons[qi].wrapping_add(rng.below(ring_size + 3)),
                };
                mem.poke(peer_prod(q), prod);
            }
            3 => {
                // Any word of its half.
                let off = half + 4 * rng.below(half / 4);
                mem.poke(off, rng.next() as u32);
            }
            4 => {
                // Any word of ours, mostly our index and event words.
                let off = match rng.below(3) {
                    0 => 4 * rng.below(half / 4),
                    1 => layout.producer_off(q).expect("queue") + 4 * rng.below(2),
                    _ => layout.desc_off(q, rng.next() as u32).expect("queue") + 4 * rng.below(4),
                };
                mem.poke(off, rng.next() as u32);
            }
            5 => {
                // Our TX ring's consumer words, which live in its half: its index and event,
                // and the depth it asks for (at the edges: none, one, more than the ring).
                let c = half + layout.consumer_off(q).expect("queue");
                match rng.below(3) {
                    2 => {
                        let depth = [0, 1, ring_size + 1, u32::MAX][rng.below(4) as usize];
                        mem.poke(c + 8, depth);
                    }
                    w => mem.poke(c + 4 * w, rng.next() as u32 % (2 * ring_size)),
                }
            }
            6 => clock.0.set(clock.0.get().wrapping_add(rng.below(200))),
            _ => {}
        }
        // Ours.
        if rng.chance(2) {
            let budget = 1 + rng.below(64);
            let prod = mem.peek(peer_prod(q));
            let (errors, got) = (stats.rx[qi].peer_errors.get(), received.borrow()[qi].len());
            let bad_before = stats.rx[qi].drop_bad_meta.get();
            let bounced_before = stats.rx[qi].xdp_tx.get();
            dev.napi_scheduled[qi].set(true);
            let napi = TestNapi {
                dev: &dev,
                q,
                lo: data_lo(q),
                hi: data_lo(q) + layout.data_size(),
                received: &received,
                out_of_area: &out_of_area,
            };
            let done = conn.poll(&port, &napi, q, &stats.rx[qi], &stats.tx[qi], budget);
            let refused = stats.rx[qi].peer_errors.get() - errors;
            let bad = stats.rx[qi].drop_bad_meta.get() - bad_before;
            let got = (received.borrow()[qi].len() - got) as u64
                + (stats.rx[qi].xdp_tx.get() - bounced_before);
            match ring.avail(prod, cons[qi]) {
                Ok(n) => {
                    assert_eq!(
                        done,
                        n.min(budget),
                        "seed {seed}: consumed what was offered"
                    );
                    assert_eq!(
                        got + refused + bad,
                        u64::from(done),
                        "seed {seed}: each descriptor received, refused or dropped for its metadata"
                    );
                    tally.refused_descs += refused;
                    tally.bad_meta += bad;
                }
                Err(_) => {
                    assert_eq!(
                        (done, refused),
                        (0, 1),
                        "seed {seed}: an impossible index refused, counted"
                    );
                    tally.refused_indices += 1;
                }
            }
            tally.polls += 1;
            tally.received += got;
            cons[qi] = cons[qi].wrapping_add(done);
        } else if !dev.stopped[qi].get() {
            let len = edgy(&mut rng, &[14, 1500, layout.data_size(), MAX_PACKET]);
            let pkt = Pkt {
                q,
                seq: 0,
                len,
                bad_meta: rng.chance(50),
                log: &log,
            };
            dev.xmit_more.set(rng.chance(3));
            if conn.transmit(&port, q, &stats.tx[qi], pkt).is_err() {
                assert!(
                    dev.stopped[qi].get(),
                    "seed {seed}: given back with the queue running"
                );
            }
            tally.transmits += 1;
        }
        assert_eq!(
            mem.oob.load(Relaxed),
            0,
            "seed {seed}: an access outside the window"
        );
        assert_eq!(
            mem.foreign_writes.load(Relaxed),
            0,
            "seed {seed}: a write outside our half"
        );
        assert_eq!(
            out_of_area.get(),
            0,
            "seed {seed}: a read outside the peer's data area"
        );
        log.borrow_mut().clear();
        tally.steps += 1;
    }
    tally.bounced += stats.tx.iter().map(|t| t.xdp_xmit.get()).sum::<u64>();
    tally.bounce_failed += stats.tx.iter().map(|t| t.xdp_xmit_err.get()).sum::<u64>();
    let _: &Layout = conn.layout();
}

#[test]
fn hostile_peer_never_gets_past_the_checks() {
    let cases = env("XPU_FUZZ_CASES", 2_000_000);
    let seed = env("XPU_FUZZ_SEED", 0x7870_7531);
    let mut tally = Tally::default();
    let mut s = 0;
    while tally.steps < cases {
        sequence(seed.wrapping_add(s), &mut tally);
        s += 1;
    }
    eprintln!("hostile peer: seed {seed:#x}, {} sequences, {tally:?}", s);
    // The schedule must actually reach the interesting paths.
    assert!(tally.received > 0 && tally.refused_descs > 0 && tally.refused_indices > 0);
    assert!(
        tally.bad_meta > 0,
        "the peer's metadata was never refused: {tally:?}"
    );
    assert!(
        tally.bounced > 0 && tally.bounce_failed > 0,
        "XDP_TX never sent, or never found the ring full: {tally:?}"
    );
}
