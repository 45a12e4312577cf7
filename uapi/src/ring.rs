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
