// SPDX-License-Identifier: GPL-2.0
//! A producer's own index words are written, never trusted on read. On ivshmem the peer can
//! write our half of the window as well as its own, so what we read back from our event index
//! is whatever it last wrote there. `producer_stop` (what the driver's TX path runs when a
//! packet does not fit) must decide from the event it armed, not from that word: if it stays
//! stopped, the event it armed must still be ahead of the consumer, or no correct consumer
//! will ever wake the queue.

use std::cell::Cell;

use proptest::prelude::*;
use xpu_uapi::ring::{producer_stop, BadIndex, Ring, RingWords, Room};

/// The producer's view of one ring: the consumer index moves as the schedule says, and our own
/// event index reads back as a peer's scribble.
struct Scribbled {
    cons: Cell<u32>,
    /// The last event index the producer stored.
    armed: Cell<Option<u32>>,
    /// What a read of our event index gives.
    scribble: u32,
}

impl RingWords for Scribbled {
    fn prod(&self) -> u32 {
        unreachable!("the producer does not read its own producer index")
    }
    fn set_prod(&self, _: u32) {
        unreachable!("producer_stop publishes nothing")
    }
    fn cons(&self) -> u32 {
        self.cons.get()
    }
    fn set_cons(&self, _: u32) {
        unreachable!("the producer does not write the consumer's index")
    }
    fn prod_event(&self) -> u32 {
        self.scribble
    }
    fn set_prod_event(&self, v: u32) {
        self.armed.set(Some(v));
    }
    fn cons_event(&self) -> u32 {
        0
    }
    fn set_cons_event(&self, _: u32) {
        unreachable!("the producer does not write the consumer's event index")
    }
    fn full_barrier(&self) {}
}

/// Runs `producer_stop` for a producer at `prod` whose consumer starts at `prod - used` and,
/// each time the producer counts its room, has moved on by the next step of `moves` (never
/// past `prod`). Room in bytes is short until the ring is empty. Returns the result, the
/// consumer index at the end, and the last event armed.
fn run(size: u32, prod: u32, used: u32, moves: &[u32], scribble: u32) -> (bool, u32, Option<u32>) {
    let ring = Ring::new(size).expect("a power of two");
    let w = Scribbled {
        cons: Cell::new(prod.wrapping_sub(used)),
        armed: Cell::new(None),
        scribble,
    };
    let mut step = moves.iter();
    let room = || -> Result<Room, BadIndex> {
        let left = ring.used(prod, w.cons.get());
        let by = step.next().copied().unwrap_or(0).min(left);
        w.cons.set(w.cons.get().wrapping_add(by));
        if w.cons.get() == prod {
            Ok(Room::Fits)
        } else {
            Ok(Room::Short { cons: w.cons.get() })
        }
    };
    let fits = producer_stop(&w, &ring, prod, room).expect("a correct consumer's indices");
    (fits, w.cons.get(), w.armed.get())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn stopped_only_with_an_event_still_ahead(
        size in (1u32..=6).prop_map(|s| 1u32 << s),
        prod in any::<u32>(),
        used_frac in 1u32..=64,
        moves in proptest::collection::vec(0u32..=8, 0..12),
        scribble_off in any::<u32>(),
        scribble_ahead in any::<bool>(),
    ) {
        let used = (size * used_frac / 64).max(1);
        // Half the time the scribble sits just ahead of where the consumer ends up (it reads
        // as "still armed"), half the time anywhere.
        let (_, end, _) = run(size, prod, used, &moves, 0);
        let scribble = if scribble_ahead { end.wrapping_add(scribble_off % size) } else { scribble_off };
        let (fits, cons, armed) = run(size, prod, used, &moves, scribble);
        if !fits {
            let left = prod.wrapping_sub(cons);
            let event = armed.expect("stopped without arming");
            prop_assert!(left > 0, "stopped on an empty ring");
            prop_assert!(
                event.wrapping_sub(cons) < left,
                "stopped with event {} armed, which the consumer at {} has passed (prod {}): no wake-up will come",
                event, cons, prod
            );
        }
    }
}

/// The case the property found against the code that read the word back: the consumer passed
/// the first event (4) before it saw it, and the scribble says it has not.
#[test]
fn scribbled_event_does_not_keep_a_passed_event() {
    let (fits, cons, armed) = run(8, 8, 8, &[5], 6);
    assert!(!fits);
    assert_eq!(cons, 5);
    assert_eq!(
        armed,
        Some(6),
        "the producer did not arm again past the consumer"
    );
}
