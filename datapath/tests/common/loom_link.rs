// SPDX-License-Identifier: GPL-2.0
//! The race that tests/loom.rs and tests/loom_noncoherent.rs model check, over a window each
//! of them supplies: side 0's `Conn::transmit` against side 1's `Conn::poll`, then the
//! sequential play-out after the join that finds a lost wake-up (tests/loom.rs describes the
//! check). Only the medium differs between them: one window of loom atomics, or a cache per
//! end over one.

use std::{
    collections::BTreeSet,
    sync::atomic::{AtomicU32 as StdU32, AtomicUsize as StdUsize, Ordering as StdOrdering},
};

use loom::sync::{
    atomic::{AtomicBool, Ordering::SeqCst},
    Arc,
};
use xpu_datapath::{
    conn::{storage_words, Config, Conn},
    mem::SharedMem,
    meta::VnetHdr,
    port::{Clock, Delivered, DropReason, Mode, Moderation, Poller, Port, TxPacket},
    shm::Layout,
    stats::{RxStats, TxStats},
};

/// Bytes of the window (the smallest there is).
pub const WINDOW: u64 = 64 * 1024;

/// The scenarios both models check. Packets of more than half the data area: each stops the
/// queue for room in bytes (141 lines each, over caches).
pub const BIG: &[u32] = &[9000, 9000, 9000];
/// Small packets: one line each (the queue stops after each all the same, see the layout
/// below).
pub const SMALL: &[u32] = &[64, 64, 64];
/// Coalesced re-arm (`rx-frames 2 rx-usecs 10`): the event index is set ahead, and the timer
/// must pick up what it passes over.
pub const COALESCED: Moderation = Moderation {
    usecs: 10,
    frames: 2,
    adaptive: false,
};

/// What to model check.
pub struct Model {
    /// The lengths of the packets side 0 sends, in order (whole words).
    pub lens: &'static [u32],
    /// Side 1's doorbell moderation.
    pub moderation: Moderation,
    /// Context switches loom may force per execution, unless `XPU_LOOM_PREEMPTIONS` says (for
    /// a longer run by hand). The loom docs: most concurrency bugs need two or three.
    pub preemptions: usize,
    /// Where a packet carries its payload: in every word, or in its first, second and last
    /// only (where each word written or read is a loom access, and costs states).
    pub payload: Payload,
}

/// The words of a packet that carry its payload: written by the sender, checked by the
/// receiver.
#[derive(Clone, Copy)]
pub enum Payload {
    /// The first, second and last words (those of them the packet has: one of 4 bytes has
    /// only its first).
    Ends,
    /// Every word.
    Whole,
}

impl Payload {
    /// The words of a packet of `len` bytes that carry the payload, each once, in order, and
    /// all inside the packet.
    fn words(self, len: u32) -> Vec<u32> {
        let n = len / 4;
        match self {
            Payload::Ends => {
                let ends = [0, 1, n.wrapping_sub(1)].into_iter().filter(|&i| i < n);
                ends.collect::<BTreeSet<_>>().into_iter().collect()
            }
            Payload::Whole => (0..n).collect(),
        }
    }
}

/// Word `i` of packet `seq`: different in every word of every packet, and not 0 (what a
/// window holds before anything is written), so a stale, torn or misplaced word shows.
fn payload(seq: u32, i: u32) -> u32 {
    (seq << 16 | i) ^ 0xa5a5_a5a5
}

/// The panic texts of the check, one per cause of failure, for the tests that expect one.
/// `#[should_panic(expected = ...)]` takes a literal and matches any substring, so no text
/// here contains another's, and each test checks that its literal names one cause only.
pub mod failure {
    /// A packet's payload is not the one sent: a word read before its write-back landed
    /// (stale), or torn.
    pub const STALE_PAYLOAD: &str = "stale payload";
    /// A packet arrived with a length not sent, or more packets than were sent.
    pub const WRONG_PACKET: &str = "wrong packet";
    /// The producer's `Port::violation`: it read a consumer index the protocol does not allow
    /// (the peer is correct, so it read one stale).
    pub const PRODUCER_VIOLATION: &str = "protocol violation seen by the producer";
    /// The consumer's `Port::violation`: it read a descriptor or a producer index the protocol
    /// does not allow (read stale, as above).
    pub const CONSUMER_VIOLATION: &str = "protocol violation seen by the consumer";
    /// The producer's queue stopped for good: its wake-up was lost.
    pub const LOST_TX_WAKEUP: &str = "lost wake-up (TX)";
    /// Packets were left in the ring with nothing raised to poll them: a doorbell was lost.
    pub const LOST_RX_WAKEUP: &str = "lost wake-up (RX)";
    /// The sender dropped a packet.
    pub const DROPPED: &str = "packet dropped";
    /// All of them.
    pub const ALL: [&str; 7] = [
        STALE_PAYLOAD,
        WRONG_PACKET,
        PRODUCER_VIOLATION,
        CONSUMER_VIOLATION,
        LOST_TX_WAKEUP,
        LOST_RX_WAKEUP,
        DROPPED,
    ];

    /// Checks that `expected` (a test's `should_panic` literal) is part of the texts of
    /// `causes` (in the order of [`ALL`]) and of no other. Its own panic quotes none of them,
    /// so that the test it guards fails.
    pub fn assert_names_only(expected: &str, causes: &[&str]) {
        let matched: Vec<&str> = ALL.into_iter().filter(|t| t.contains(expected)).collect();
        assert!(
            matched == causes,
            "a should_panic text names another cause than the test's, or not the test's"
        );
    }
}

/// No time passes in the model (overdue doorbells are a timeout, not a race).
pub struct NoClock;

impl Clock for NoClock {
    fn ticks(&self) -> u32 {
        0
    }
}

/// The signals between the ends: each a read-modify-write, not a store. loom 0.7.2 lets a
/// later `swap` in another thread miss a plain `store` (checked by hand: a store, a join, then
/// a swap that still reads the old value), which would report wake-ups lost by loom, not by
/// us.
#[derive(Default)]
struct Signals {
    /// Side 1's NAPI is scheduled (its doorbell rang, or the poll rescheduled itself).
    rx_scheduled: AtomicBool,
    /// Side 1's coalescing timer is armed.
    rx_timer: AtomicBool,
    /// Side 0's TX queue is stopped.
    tx_stopped: AtomicBool,
}

struct TxPort<'a>(&'a Signals);

impl Port for TxPort<'_> {
    fn txq_stop(&self, _q: u16) {
        self.0.tx_stopped.swap(true, SeqCst);
    }
    fn txq_start(&self, _q: u16) {
        self.0.tx_stopped.swap(false, SeqCst);
    }
    fn txq_wake(&self, _q: u16) {
        self.0.tx_stopped.swap(false, SeqCst);
    }
    fn xmit_more(&self) -> bool {
        false
    }
    fn notify_peer(&self, _q: u16) -> bool {
        self.0.rx_scheduled.swap(true, SeqCst);
        true
    }
    fn wake_peer(&self, _q: u16) {
        unreachable!("side 1 sends nothing");
    }
    fn violation(&self) {
        // The peer is correct: what broke the protocol was read stale.
        panic!(
            "{}: a consumer index read stale",
            failure::PRODUCER_VIOLATION
        );
    }
    fn tx_locked<R>(&self, _q: u16, f: impl FnOnce() -> R) -> R {
        f()
    }
}

struct RxPort<'a>(&'a Signals);

impl Port for RxPort<'_> {
    fn txq_stop(&self, _q: u16) {}
    fn txq_start(&self, _q: u16) {}
    fn txq_wake(&self, _q: u16) {}
    fn xmit_more(&self) -> bool {
        false
    }
    fn notify_peer(&self, _q: u16) -> bool {
        unreachable!("side 1 sends nothing");
    }
    fn wake_peer(&self, _q: u16) {
        // Pair mode: wakes side 0's stopped queue.
        self.0.tx_stopped.swap(false, SeqCst);
    }
    fn violation(&self) {
        panic!(
            "{}: a descriptor or a producer index read stale",
            failure::CONSUMER_VIOLATION
        );
    }
    fn tx_locked<R>(&self, _q: u16, _f: impl FnOnce() -> R) -> R {
        unreachable!("side 1 has no XDP program");
    }
}

/// Side 1's NAPI context: checks each packet against the one expected next.
struct Napi<'a> {
    signals: &'a Signals,
    moderation: Moderation,
    received: &'a StdU32,
    lens: &'static [u32],
    payload: Payload,
}

impl<M: SharedMem> Poller<M> for Napi<'_> {
    type Frame = Pkt;

    fn receive(
        &self,
        mem: &M,
        off: u32,
        len: u32,
        _h: &VnetHdr,
    ) -> Result<Delivered<Pkt>, DropReason> {
        let n = self.received.load(StdOrdering::Relaxed);
        let sent = self.lens.get(n as usize).copied();
        assert_eq!(
            Some(len),
            sent,
            "{}: packet {n} not of the length sent, or never sent",
            failure::WRONG_PACKET
        );
        for i in self.payload.words(len) {
            assert_eq!(
                mem.load(off + 4 * i).expect("inside"),
                payload(n, i),
                "{}: packet {n} read before it was written back, or torn, at word {i}",
                failure::STALE_PAYLOAD
            );
        }
        self.received.store(n + 1, StdOrdering::Relaxed);
        Ok(Delivered::Up)
    }
    fn xdp_flush(&self) {
        unreachable!("side 1 has no XDP program");
    }
    fn complete_done(&self, _done: u32) -> bool {
        true
    }
    fn schedule(&self) {
        self.signals.rx_scheduled.swap(true, SeqCst);
    }
    fn moderation(&self) -> Moderation {
        self.moderation
    }
    fn timer_start(&self, _usecs: u32) {
        self.signals.rx_timer.swap(true, SeqCst);
    }
    fn dim_sample(&self, _events: u16, _packets: u64, _bytes: u64) {}
}

/// Packet `seq` of `len` bytes, its payload (see [`payload`]) in the words `payload` names.
struct Pkt {
    seq: u32,
    len: u32,
    payload: Payload,
}

impl<M: SharedMem> TxPacket<M> for Pkt {
    fn size(&self) -> u32 {
        self.len
    }
    fn vnet_hdr(&self) -> Option<VnetHdr> {
        Some(VnetHdr::default())
    }
    fn copy_to(&self, mem: &M, off: u32) -> Option<()> {
        for i in self.payload.words(self.len) {
            mem.store(off + 4 * i, payload(self.seq, i))?;
        }
        Some(())
    }
    fn consume(self) {}
    fn drop_for(self, why: DropReason) {
        panic!("{}: packet {}, {why:?}", failure::DROPPED, self.seq);
    }
}

type LoomConn<M> = Conn<Arc<M>, NoClock, Vec<StdU32>>;

fn end<M: SharedMem>(mem: Arc<M>, layout: Layout, side: u32) -> LoomConn<M> {
    let storage = (0..storage_words(&layout))
        .map(|_| StdU32::new(0))
        .collect();
    let cfg = Config {
        layout,
        side,
        mode: Mode::Pair,
        overdue_ticks: 1,
        link_id: 0,
    };
    Conn::new(mem, NoClock, storage, cfg, 1, 1500).expect("a valid layout")
}

/// The producer: sends from packet `*next` on until all are out or the queue stops.
fn produce<M: SharedMem>(
    c: &LoomConn<M>,
    s: &Signals,
    st: &TxStats,
    m: &Model,
    next: &mut u32,
    held: &mut Option<Pkt>,
) {
    while !s.tx_stopped.load(SeqCst) {
        let pkt = match held.take() {
            Some(p) => p,
            None if (*next as usize) < m.lens.len() => {
                let p = Pkt {
                    seq: *next,
                    len: m.lens[*next as usize],
                    payload: m.payload,
                };
                *next += 1;
                p
            }
            None => return,
        };
        if let Err(p) = c.transmit(&TxPort(s), 0, st, pkt) {
            *held = Some(p);
        }
    }
}

/// Runs the model over the windows `window` makes (side 0's view, then side 1's) for the
/// layout it is given; returns the executions (interleavings) it explored.
pub fn check<M, W>(m: Model, window: W) -> usize
where
    M: SharedMem + Send + Sync + 'static,
    W: Fn(&Layout) -> [Arc<M>; 2] + Send + Sync + 'static,
{
    assert!(m.lens.iter().all(|l| l % 4 == 0), "whole words only");
    let executions = std::sync::Arc::new(StdUsize::new(0));
    let counted = executions.clone();
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(
        std::env::var("XPU_LOOM_PREEMPTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(m.preemptions),
    );
    // Each access to a loom atomic is a branch: a medium that writes back a 9000-byte packet
    // line by line makes hundreds per packet.
    model.max_branches = 10_000;
    let m = std::sync::Arc::new(m);
    model.check(move || {
        counted.fetch_add(1, StdOrdering::Relaxed);
        // 8 descriptors of 2 KiB: a 16 KiB data area, no bigger than the largest packet the
        // queue must keep room for, so every packet, whatever its size, stops the queue until
        // the ring is empty (a byte-room stop).
        let layout = Layout::new(WINDOW, 1, 8, 2048).expect("a valid layout");
        let [mem0, mem1] = window(&layout);
        let (tx, rx) = (Arc::new(end(mem0, layout, 0)), end(mem1, layout, 1));
        let signals = Arc::new(Signals::default());
        let tx_stats = Arc::new(TxStats::new());
        let (s, c, st, pm) = (signals.clone(), tx.clone(), tx_stats.clone(), m.clone());
        let producer = loom::thread::spawn(move || {
            let (mut next, mut held) = (0, None);
            produce(&c, &s, &st, &pm, &mut next, &mut held);
            (next, held)
        });
        let received = StdU32::new(0);
        let napi = Napi {
            signals: &signals,
            moderation: m.moderation,
            received: &received,
            lens: m.lens,
            payload: m.payload,
        };
        let rx_stats = RxStats::new();
        let rx_tx_stats = TxStats::new();
        let poll = || rx.poll(&RxPort(&signals), &napi, 0, &rx_stats, &rx_tx_stats, 64);
        if signals.rx_scheduled.swap(false, SeqCst) {
            poll();
        }
        let (mut next, mut held) = producer.join().expect("producer thread");

        // The future, sequentially: only what was raised gets delivered.
        loop {
            if signals.rx_scheduled.swap(false, SeqCst) {
                poll();
            } else if signals.rx_timer.swap(false, SeqCst) {
                signals.rx_scheduled.swap(true, SeqCst);
            } else if !signals.tx_stopped.load(SeqCst)
                && (held.is_some() || (next as usize) < m.lens.len())
            {
                produce(&tx, &signals, &tx_stats, &m, &mut next, &mut held);
            } else {
                break;
            }
        }
        assert!(
            held.is_none() && next as usize == m.lens.len(),
            "{}: the queue stopped for good at packet {next}",
            failure::LOST_TX_WAKEUP
        );
        assert_eq!(
            received.load(StdOrdering::Relaxed) as usize,
            m.lens.len(),
            "{}: packets left in the ring",
            failure::LOST_RX_WAKEUP
        );
    });
    let n = executions.load(StdOrdering::Relaxed);
    eprintln!("loom: {n} executions");
    n
}
