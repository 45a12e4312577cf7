// SPDX-License-Identifier: GPL-2.0
//! Model check of the real datapath with `loom`: side 0's `Conn::transmit` and side 1's
//! `Conn::poll`, the code the kernel runs, race over a window of loom atomics. Under every
//! interleaving and every weak-memory outcome loom allows (within the preemption bound), no
//! wake-up is lost in either direction (the consumer is always told about new descriptors, a
//! stopped producer always about room), and every packet arrives once, in order, whole.
//!
//! The check: a producer thread sends until its packets are out or its queue stops; the
//! consumer (a NAPI poll, on the main thread) runs if the doorbell has rung by then. After the
//! join the main thread plays out the future sequentially, delivering only the doorbells,
//! wake-ups and timers that were actually raised. If one was lost, that future stalls with
//! packets in the ring or a queue stopped for good, and the test fails. A variant with the
//! barrier removed shows that the model does catch such bugs.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU32 as StdU32, Ordering as StdOrdering},
        Mutex,
    },
};

use loom::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering::*},
    Arc,
};
use xpu_datapath::{
    conn::{start_slots, Config, Conn},
    mem::SharedMem,
    meta::VnetHdr,
    port::{Clock, Delivered, DropReason, Mode, Moderation, Poller, Port, TxPacket},
    shm::{Desc, Layout},
    stats::{RxStats, TxStats},
};

/// Context switches loom may force per execution (`XPU_LOOM_PREEMPTIONS` for a longer run by
/// hand). The loom docs: most concurrency bugs need two or three. Four explores about 2,000
/// executions per scenario here, in a few seconds; five about 18,000, in about 50.
fn preemptions() -> usize {
    std::env::var("XPU_LOOM_PREEMPTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Correct,
    /// `full_barrier` does nothing (release/acquire only): the store-buffer race.
    NoBarrier,
}

/// A window whose every word is a loom atomic, made on first use (a window is mostly words
/// nobody touches).
struct LoomMem {
    size: u64,
    words: Mutex<HashMap<u32, std::sync::Arc<AtomicU32>>>,
    /// `smp_mb` modelled as a read-modify-write of one location: all barriers are totally
    /// ordered, so of two racing barrier pairs one always sees the other's earlier store.
    barrier: AtomicU32,
    variant: Variant,
}

impl LoomMem {
    fn word(&self, off: u32) -> Option<std::sync::Arc<AtomicU32>> {
        if off % 4 != 0 || u64::from(off) + 4 > self.size {
            return None;
        }
        // The lock (and the std `Arc`) are not loom's: finding the word is no scheduling
        // point, the access is.
        let mut words = self.words.lock().expect("not poisoned");
        Some(
            words
                .entry(off)
                .or_insert_with(|| std::sync::Arc::new(AtomicU32::new(0)))
                .clone(),
        )
    }
}

impl SharedMem for LoomMem {
    fn size(&self) -> u64 {
        self.size
    }
    fn load(&self, off: u32) -> Option<u32> {
        Some(self.word(off)?.load(Relaxed))
    }
    fn load_acquire(&self, off: u32) -> Option<u32> {
        Some(self.word(off)?.load(Acquire))
    }
    fn store(&self, off: u32, v: u32) -> Option<()> {
        self.word(off)?.store(v, Relaxed);
        Some(())
    }
    fn store_release(&self, off: u32, v: u32) -> Option<()> {
        self.word(off)?.store(v, Release);
        Some(())
    }
    fn full_barrier(&self) {
        if self.variant != Variant::NoBarrier {
            self.barrier.fetch_add(0, AcqRel);
        }
    }
    fn read_barrier(&self) {
        self.barrier.fetch_add(0, AcqRel);
    }
    fn write_barrier(&self) {
        self.barrier.fetch_add(0, AcqRel);
    }
    fn read_desc(&self, off: u32) -> Option<Desc> {
        Some(Desc {
            off: self.load(off)?,
            len: self.load(off.checked_add(4)?)?,
            ..Desc::default()
        })
    }
    fn write_desc(&self, off: u32, d: &Desc) -> Option<()> {
        // The metadata words stay zero in this model: two words per descriptor keep the
        // state space small, and they are ordered like the other two.
        self.store(off, d.off)?;
        self.store(off.checked_add(4)?, d.len)
    }
}

/// No time passes in the model (overdue doorbells are a timeout, not a race).
struct NoClock;

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
        panic!("the producer saw a protocol violation");
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
        panic!("the consumer saw a protocol violation");
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
}

impl Poller<LoomMem> for Napi<'_> {
    type Frame = Pkt;

    fn receive(
        &self,
        mem: &LoomMem,
        off: u32,
        len: u32,
        _h: &VnetHdr,
    ) -> Result<Delivered<Pkt>, DropReason> {
        let n = self.received.load(StdOrdering::Relaxed);
        let tag = mem.load(off).expect("inside");
        let stored = mem.load(off + 4).expect("inside");
        let last = mem.load(off + len - 4).expect("inside");
        assert_eq!(
            (tag, stored, last, len),
            (n, self.lens[n as usize], n, self.lens[n as usize]),
            "packet {n} read before it was written, or torn"
        );
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

/// Packet `seq`: its number in its first and last words, its length in the second.
struct Pkt {
    seq: u32,
    len: u32,
}

impl TxPacket<LoomMem> for Pkt {
    fn size(&self) -> u32 {
        self.len
    }
    fn vnet_hdr(&self) -> Option<VnetHdr> {
        Some(VnetHdr::default())
    }
    fn copy_to(&self, mem: &LoomMem, off: u32) -> Option<()> {
        mem.store(off, self.seq)?;
        mem.store(off + 4, self.len)?;
        mem.store(off + self.len - 4, self.seq)
    }
    fn consume(self) {}
    fn drop_for(self, why: DropReason) {
        panic!("packet {} dropped: {why:?}", self.seq);
    }
}

type LoomConn = Conn<Arc<LoomMem>, NoClock, Vec<std::sync::atomic::AtomicU32>>;

fn end(mem: &Arc<LoomMem>, layout: Layout, side: u32) -> LoomConn {
    let starts = (0..start_slots(&layout)).map(|_| StdU32::new(0)).collect();
    let cfg = Config {
        layout,
        side,
        mode: Mode::Pair,
        overdue_ticks: 1,
    };
    Conn::new(mem.clone(), NoClock, starts, cfg, 1, 1500).expect("a valid layout")
}

/// The producer: sends from packet `*next` on until all are out or the queue stops.
fn produce(
    c: &LoomConn,
    s: &Signals,
    st: &TxStats,
    lens: &[u32],
    next: &mut u32,
    held: &mut Option<Pkt>,
) {
    while !s.tx_stopped.load(SeqCst) {
        let pkt = match held.take() {
            Some(p) => p,
            None if (*next as usize) < lens.len() => {
                let p = Pkt {
                    seq: *next,
                    len: lens[*next as usize],
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

/// Runs the model; returns the executions (interleavings) it explored.
fn check(variant: Variant, lens: &'static [u32], moderation: Moderation) -> usize {
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = executions.clone();
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(preemptions());
    model.check(move || {
        counted.fetch_add(1, StdOrdering::Relaxed);
        // 8 descriptors of 2 KiB: a 16 KiB data area, so a packet of more than 8 KiB stops
        // the queue until the ring is empty (a byte-room stop).
        let layout = Layout::new(64 * 1024, 1, 8, 2048).expect("a valid layout");
        let mem = Arc::new(LoomMem {
            size: 64 * 1024,
            words: Mutex::new(HashMap::new()),
            barrier: AtomicU32::new(0),
            variant,
        });
        let (tx, rx) = (Arc::new(end(&mem, layout, 0)), end(&mem, layout, 1));
        let signals = Arc::new(Signals::default());
        let tx_stats = Arc::new(TxStats::new());
        let (s, c, st) = (signals.clone(), tx.clone(), tx_stats.clone());
        let producer = loom::thread::spawn(move || {
            let (mut next, mut held) = (0, None);
            produce(&c, &s, &st, lens, &mut next, &mut held);
            (next, held)
        });
        let received = StdU32::new(0);
        let napi = Napi {
            signals: &signals,
            moderation,
            received: &received,
            lens,
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
                && (held.is_some() || (next as usize) < lens.len())
            {
                produce(&tx, &signals, &tx_stats, lens, &mut next, &mut held);
            } else {
                break;
            }
        }
        assert!(
            held.is_none() && next as usize == lens.len(),
            "lost TX wake-up: the queue stopped for good at packet {next}"
        );
        assert_eq!(
            received.load(StdOrdering::Relaxed) as usize,
            lens.len(),
            "lost RX wake-up: packets left in the ring"
        );
    });
    let n = executions.load(StdOrdering::Relaxed);
    eprintln!("loom: {n} executions");
    n
}

/// Packets of more than half the data area: each stops the queue for room in bytes.
const BIG: &[u32] = &[9000, 9000, 9000];
/// Small packets: no stops, the doorbell decided by the event index.
const SMALL: &[u32] = &[64, 64, 64];

#[test]
fn no_lost_wakeup_byte_stops() {
    assert!(check(Variant::Correct, BIG, Moderation::default()) > 100);
}

#[test]
fn no_lost_wakeup_small_packets() {
    assert!(check(Variant::Correct, SMALL, Moderation::default()) > 100);
}

/// Coalesced re-arm (`rx-frames 2 rx-usecs 10`): the event index is set ahead, and the timer
/// must pick up what it passes over.
#[test]
fn no_lost_wakeup_coalesced() {
    let m = Moderation {
        usecs: 10,
        frames: 2,
        adaptive: false,
    };
    assert!(check(Variant::Correct, SMALL, m) > 100);
}

#[test]
#[should_panic(expected = "lost")]
fn model_catches_missing_barrier() {
    check(Variant::NoBarrier, SMALL, Moderation::default());
}
