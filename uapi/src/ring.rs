// SPDX-License-Identifier: GPL-2.0

//! Index arithmetic of xpu's single-producer single-consumer rings, and the event-index rule
//! that decides when a doorbell is needed.
//!
//! Indices are free-running `u32` counters (they wrap; the slot is `idx & (size - 1)`), so
//! "full" and "empty" are never ambiguous: `prod - cons` is the number of descriptors in
//! flight, in `0..=size`. Every index read from the peer is untrusted: [`Ring::avail`] and
//! [`Ring::completed`] reject values a correct peer can never produce.

/// A ring's geometry.
///
/// # Invariants
///
/// `size` is a power of two, at least 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    size: u32,
}

/// An index read from the peer that no correct peer can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadIndex;

impl Ring {
    /// A ring of `size` descriptors; `None` unless `size` is a power of two, at least 2.
    pub const fn new(size: u32) -> Option<Self> {
        if size.is_power_of_two() && size >= 2 {
            Some(Self { size })
        } else {
            None
        }
    }

    /// Number of descriptors.
    pub const fn size(&self) -> u32 {
        self.size
    }

    /// Slot of a free-running index.
    pub const fn slot(&self, idx: u32) -> u32 {
        idx & (self.size - 1)
    }

    /// Descriptors in flight, given indices this side trusts (its own and validated ones).
    pub const fn used(&self, prod: u32, cons: u32) -> u32 {
        prod.wrapping_sub(cons)
    }

    /// Free slots for the producer, given its own `prod` and a validated `cons`.
    pub const fn free(&self, prod: u32, cons: u32) -> u32 {
        self.size.saturating_sub(self.used(prod, cons))
    }

    /// Consumer side: validates the producer index `prod` read from the peer against our own
    /// `cons`, and returns how many descriptors are ready. A correct producer is never more
    /// than `size` ahead and never behind.
    pub const fn avail(&self, prod: u32, cons: u32) -> Result<u32, BadIndex> {
        let n = prod.wrapping_sub(cons);
        if n <= self.size {
            Ok(n)
        } else {
            Err(BadIndex)
        }
    }

    /// Producer side: validates the consumer index `cons` read from the peer, given the last
    /// value we accepted (`last_cons`) and our own `prod`. A correct consumer only moves forward
    /// and never passes the producer. Returns how many descriptors it completed since
    /// `last_cons`.
    pub const fn completed(&self, cons: u32, last_cons: u32, prod: u32) -> Result<u32, BadIndex> {
        let done = cons.wrapping_sub(last_cons);
        if done <= prod.wrapping_sub(last_cons) {
            Ok(done)
        } else {
            Err(BadIndex)
        }
    }
}

/// The event-index rule (virtio's `vring_need_event`): after moving an index from `old` to
/// `new`, notify the other side iff it asked to be told when the index passes `event`, i.e.
/// iff `event` is in `[old, new)` modulo 2^32.
pub const fn need_event(event: u32, new: u32, old: u32) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// The four shared words of one ring, as the notification protocol sees them.
///
/// `prod` and `prod_event` live in the producer's half (see [`crate::shm::RingProducer`]);
/// `cons` and `cons_event` in the consumer's (see [`crate::shm::RingConsumer`]). Each side
/// stores only its own two. The datapath implements this over the shared window
/// (datapath/src/mem.rs), whose loom test checks the protocol, as the driver runs it, under
/// every interleaving.
pub trait RingWords {
    /// Reads the producer index (acquire: the descriptors before it are visible).
    fn prod(&self) -> u32;
    /// Publishes the producer index (release: the descriptors before it are written).
    fn set_prod(&self, v: u32);
    /// Reads the consumer index (acquire: the buffers before it are free).
    fn cons(&self) -> u32;
    /// Publishes the consumer index (release: we are done with the buffers before it).
    fn set_cons(&self, v: u32);
    /// Reads the producer's event index ("tell me when `cons` passes this").
    fn prod_event(&self) -> u32;
    /// Sets the producer's event index.
    fn set_prod_event(&self, v: u32);
    /// Reads the consumer's event index ("tell me when `prod` passes this").
    fn cons_event(&self) -> u32;
    /// Sets the consumer's event index.
    fn set_cons_event(&self, v: u32);
    /// A full barrier (`smp_mb`): orders the store before it against the load after it.
    fn full_barrier(&self);
}

/// Producer: descriptors `[old, new)` are written; publish them. Returns whether the consumer
/// asked to be notified (ring its doorbell, or schedule its NAPI).
pub fn publish<W: RingWords>(w: &W, old: u32, new: u32) -> bool {
    w.set_prod(new);
    // The consumer stores `cons_event` and then re-reads `prod`; we store `prod` and then read
    // `cons_event`. With a full barrier on both sides, at least one of us sees the other's
    // store, so either we notify or the consumer finds the work itself.
    w.full_barrier();
    need_event(w.cons_event(), new, old)
}

/// Consumer, about to sleep after consuming everything up to `cons`: ask to be notified of
/// the next descriptor, then look once more. Returns `true` if there is work after all (keep
/// polling: a notification may never come for it).
pub fn consumer_arm<W: RingWords>(w: &W, cons: u32) -> bool {
    consumer_arm_at(w, cons) != cons
}

/// Consumer, about to sleep: ask to be notified when the producer index passes `event` (the
/// consumer index to be told of the next descriptor at once, or further on to coalesce), then
/// return the producer index as it is after the barrier. Whatever lies between the consumer
/// index and `event` is the caller's to pick up without a notification (a timer).
pub fn consumer_arm_at<W: RingWords>(w: &W, event: u32) -> u32 {
    w.set_cons_event(event);
    w.full_barrier();
    w.prod()
}

/// Consumer: descriptors `[old, new)` are consumed; free their buffers. Returns whether the
/// producer asked to be notified (it stopped on a full ring: wake its queue).
pub fn release<W: RingWords>(w: &W, old: u32, new: u32) -> bool {
    w.set_cons(new);
    // Pairs with the barrier in `producer_arm`, as in `publish`/`consumer_arm`.
    w.full_barrier();
    need_event(w.prod_event(), new, old)
}

/// Producer, whose ring is full at its index `prod`: ask to be notified when the consumer
/// has freed half of what is in flight, then look once more. Returns the consumer index if
/// there is room after all (do not stop: the notification may never come).
pub fn producer_arm<W: RingWords>(w: &W, ring: &Ring, prod: u32) -> Result<Option<u32>, BadIndex> {
    Ok(arm_producer(w, ring, prod)?.1)
}

/// [`producer_arm`], also returning the event index it set: the producer's own copy of it.
fn arm_producer<W: RingWords>(
    w: &W,
    ring: &Ring,
    prod: u32,
) -> Result<(u32, Option<u32>), BadIndex> {
    let cons = w.cons();
    let used = ring.avail(prod, cons)?;
    // Any event in [cons, prod) is eventually passed by a consumer that drains the ring.
    let event = cons.wrapping_add(used / 2);
    w.set_prod_event(event);
    w.full_barrier();
    let cons = w.cons();
    ring.avail(prod, cons)?;
    Ok((event, (ring.free(prod, cons) > 0).then_some(cons)))
}

/// What the producer found when it looked for room for its next packet, for
/// [`producer_stop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    /// The packet fits now.
    Fits,
    /// It does not; the consumer index, validated, is `cons`.
    Short {
        /// The consumer index the room was counted from.
        cons: u32,
    },
}

/// Producer, stopped at its published index `prod` because its next packet does not fit:
/// arms the event index and looks again with `room` (which takes in the consumer index and
/// counts the room, in descriptors and bytes). Returns `Ok(true)` if the packet fits after
/// all (restart), `Ok(false)` to stay stopped until the consumer's wake-up.
///
/// Room is counted in bytes but the event in descriptors, so the consumer may pass the event,
/// before it saw it, without freeing enough: then we arm again, further on. Whether it passed
/// is judged by the event we set, our own copy: the word in the window is in our half, but on
/// a shared BAR the peer can write there too, and what we read back from it proves nothing.
/// Each round needs the consumer to have moved past the last event, so the rounds are bounded
/// by the ring size; the bound only guards against a broken peer.
pub fn producer_stop<W: RingWords>(
    w: &W,
    ring: &Ring,
    prod: u32,
    mut room: impl FnMut() -> Result<Room, BadIndex>,
) -> Result<bool, BadIndex> {
    for _ in 0..=ring.size() {
        let (event, _) = arm_producer(w, ring, prod)?;
        let cons = match room()? {
            Room::Fits => return Ok(true),
            Room::Short { cons } => cons,
        };
        // Still armed if the consumer has not reached the event yet: its release will see it
        // and wake us.
        let used = ring.used(prod, cons);
        if used > 0 && event.wrapping_sub(cons) < used {
            return Ok(false);
        }
    }
    Ok(false)
}
