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
//! barrier removed shows that the model does catch such bugs. (The race and the check are
//! tests/common/loom_link.rs, which tests/loom_noncoherent.rs runs over a non-coherent window.)

mod common;

use std::{collections::HashMap, sync::Mutex};

use common::loom_link::{
    self,
    failure::{self, LOST_RX_WAKEUP, LOST_TX_WAKEUP},
    Model, Payload, BIG, COALESCED, SMALL, WINDOW,
};
use loom::sync::{
    atomic::{AtomicU32, Ordering::*},
    Arc,
};
use xpu_datapath::{mem::SharedMem, port::Moderation, shm::Desc};

/// Context switches loom may force per execution (`XPU_LOOM_PREEMPTIONS` for a longer run by
/// hand). The loom docs: most concurrency bugs need two or three. Four explores about 2,000
/// executions per scenario here, in a few seconds; five about 18,000, in about 50.
const PREEMPTIONS: usize = 4;

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

/// Runs the model; returns the executions (interleavings) it explored.
fn check(variant: Variant, lens: &'static [u32], moderation: Moderation) -> usize {
    let m = Model {
        lens,
        moderation,
        preemptions: PREEMPTIONS,
        // Each word is a loom access: three keep the state space small.
        payload: Payload::Ends,
    };
    loom_link::check(m, move |_| {
        let mem = Arc::new(LoomMem {
            size: WINDOW,
            words: Mutex::new(HashMap::new()),
            barrier: AtomicU32::new(0),
            variant,
        });
        // One window: both ends see the same words.
        [mem.clone(), mem]
    })
}

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
    assert!(check(Variant::Correct, SMALL, COALESCED) > 100);
}

/// Fails with a lost wake-up, in one direction or the other (the first loom finds).
#[test]
#[should_panic(expected = "lost wake-up")]
fn model_catches_missing_barrier() {
    failure::assert_names_only("lost wake-up", &[LOST_TX_WAKEUP, LOST_RX_WAKEUP]);
    check(Variant::NoBarrier, SMALL, Moderation::default());
}
