// SPDX-License-Identifier: GPL-2.0
//! Model check of the ring notification protocol with `loom`: under every interleaving and
//! every weak-memory outcome loom allows, no wake-up is lost in either direction (the
//! consumer is always told about new descriptors, a stopped producer always about free slots),
//! and every packet arrives once, in order, with the contents the producer wrote.
//!
//! The check: a producer thread and a consumer thread (a NAPI poll run by the doorbell) race;
//! afterwards the main thread plays out the future sequentially, delivering only the
//! doorbells that were actually rung. If a wake-up was lost, that future stalls with packets
//! in the ring (or a producer stopped for good) and the test fails. Two deliberately broken
//! variants show the model does catch such bugs.

use loom::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering::*},
    Arc,
};
use xpu_uapi::ring::{consumer_arm, producer_arm, publish, release, Ring, RingWords};

/// Ring size and packets sent: enough to fill the ring, stop, and wrap.
const SIZE: u32 = 2;
const PACKETS: u32 = 4;
/// Context switches loom may force per execution. Three is the usual bound (the loom docs:
/// most concurrency bugs need two or three); unbounded, the search takes hours.
const PREEMPTIONS: usize = 3;

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Correct,
    /// `full_barrier` does nothing (release/acquire only): the store-buffer race.
    NoBarrier,
    /// The consumer arms its event index but does not look at the ring again.
    NoRecheck,
}

struct Shared {
    prod: AtomicU32,
    cons: AtomicU32,
    prod_event: AtomicU32,
    cons_event: AtomicU32,
    /// `smp_mb` modelled as a read-modify-write of one location: all barriers are totally
    /// ordered, so of two racing barrier pairs one always sees the other's earlier store.
    barrier: AtomicU32,
    /// Descriptor contents (a sequence number), relaxed: only the index protocol orders them.
    slots: Vec<AtomicU32>,
    /// Doorbell to the consumer (its interrupt, which schedules NAPI).
    rx_doorbell: AtomicBool,
    /// Doorbell to the producer (wakes its stopped TX queue).
    tx_doorbell: AtomicBool,
    variant: Variant,
}

impl RingWords for Shared {
    fn prod(&self) -> u32 {
        self.prod.load(Acquire)
    }
    fn set_prod(&self, v: u32) {
        self.prod.store(v, Release)
    }
    fn cons(&self) -> u32 {
        self.cons.load(Acquire)
    }
    fn set_cons(&self, v: u32) {
        self.cons.store(v, Release)
    }
    fn prod_event(&self) -> u32 {
        self.prod_event.load(Relaxed)
    }
    fn set_prod_event(&self, v: u32) {
        self.prod_event.store(v, Relaxed)
    }
    fn cons_event(&self) -> u32 {
        self.cons_event.load(Relaxed)
    }
    fn set_cons_event(&self, v: u32) {
        self.cons_event.store(v, Relaxed)
    }
    fn full_barrier(&self) {
        if self.variant != Variant::NoBarrier {
            self.barrier.fetch_add(0, AcqRel);
        }
    }
}

#[derive(Default)]
struct Producer {
    prod: u32,
    cons_seen: u32,
    stopped: bool,
}

#[derive(Default)]
struct Consumer {
    cons: u32,
    received: u32,
}

/// Rings a doorbell. A read-modify-write, not a store: loom 0.7.2 lets a later `swap` in
/// another thread miss a plain `store` (checked by hand: a store, a join, then a swap that
/// still reads the old value), which would report wake-ups lost by loom, not by us.
fn ring_doorbell(bell: &AtomicBool) {
    bell.swap(true, SeqCst);
}

fn ring() -> Ring {
    Ring::new(SIZE).expect("power of two")
}

/// Sends until all packets are out or the ring is full and stays full after arming.
fn produce(s: &Shared, p: &mut Producer) {
    let r = ring();
    p.stopped = false;
    while p.prod < PACKETS {
        if r.free(p.prod, p.cons_seen) == 0 {
            p.cons_seen = s.cons();
            if r.free(p.prod, p.cons_seen) == 0 {
                match producer_arm(s, &r, p.prod).expect("consumer index valid") {
                    Some(cons) => p.cons_seen = cons,
                    None => {
                        p.stopped = true;
                        return;
                    }
                }
            }
        }
        s.slots[r.slot(p.prod) as usize].store(p.prod, Relaxed);
        if publish(s, p.prod, p.prod.wrapping_add(1)) {
            ring_doorbell(&s.rx_doorbell);
        }
        p.prod = p.prod.wrapping_add(1);
    }
}

/// One NAPI poll: consume everything, release, re-arm; repeat while the re-check finds work.
fn consume(s: &Shared, c: &mut Consumer) {
    let r = ring();
    loop {
        let n = r.avail(s.prod(), c.cons).expect("producer index valid");
        for i in 0..n {
            let idx = c.cons.wrapping_add(i);
            let got = s.slots[r.slot(idx) as usize].load(Relaxed);
            assert_eq!(
                got, c.received,
                "descriptor {idx} read before it was written"
            );
            c.received += 1;
        }
        if n > 0 {
            if release(s, c.cons, c.cons.wrapping_add(n)) {
                ring_doorbell(&s.tx_doorbell);
            }
            c.cons = c.cons.wrapping_add(n);
        }
        let more = match s.variant {
            Variant::NoRecheck => {
                s.set_cons_event(c.cons);
                false
            }
            _ => consumer_arm(s, c.cons),
        };
        if !more {
            return;
        }
    }
}

fn check(variant: Variant) {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(PREEMPTIONS);
    model.check(move || {
        let s = Arc::new(Shared {
            prod: AtomicU32::new(0),
            cons: AtomicU32::new(0),
            prod_event: AtomicU32::new(0),
            // The consumer starts asleep, armed for the first descriptor.
            cons_event: AtomicU32::new(0),
            barrier: AtomicU32::new(0),
            slots: (0..SIZE).map(|_| AtomicU32::new(u32::MAX)).collect(),
            rx_doorbell: AtomicBool::new(false),
            tx_doorbell: AtomicBool::new(false),
            variant,
        });
        let sp = s.clone();
        let producer = loom::thread::spawn(move || {
            let mut p = Producer::default();
            produce(&sp, &mut p);
            p
        });
        // The consumer: a NAPI poll runs when (if) the doorbell has rung by now, and takes it.
        let mut c = Consumer::default();
        if s.rx_doorbell.swap(false, SeqCst) {
            consume(&s, &mut c);
        }
        let mut p = producer.join().expect("producer thread");

        // The future, sequentially: only doorbells that were rung get delivered.
        loop {
            if s.rx_doorbell.swap(false, SeqCst) {
                consume(&s, &mut c);
            } else if p.stopped && s.tx_doorbell.swap(false, SeqCst) {
                produce(&s, &mut p);
            } else {
                break;
            }
        }
        assert!(
            !p.stopped,
            "lost TX wake-up: producer stopped for good at {} (cons_seen {}, cons {}, consumer at {}, prod_event {})",
            p.prod,
            p.cons_seen,
            s.cons.load(SeqCst),
            c.cons,
            s.prod_event.load(SeqCst)
        );
        assert_eq!(c.received, PACKETS, "lost RX wake-up: packets left in the ring");
    });
}

#[test]
fn no_lost_wakeup() {
    check(Variant::Correct);
}

#[test]
#[should_panic(expected = "lost")]
fn model_catches_missing_barrier() {
    check(Variant::NoBarrier);
}

#[test]
#[should_panic(expected = "lost")]
fn model_catches_missing_recheck() {
    check(Variant::NoRecheck);
}
