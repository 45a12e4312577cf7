// SPDX-License-Identifier: GPL-2.0

//! Per-queue counters: what `ip -s link` sums and `ethtool -S` lists.
//!
//! Each counter has one writer (a TX queue's counters are written under its queue lock, an RX
//! queue's by its NAPI poll), so an increment is a plain load and store, not a locked
//! read-modify-write; readers may see a value that is one update old, as with any NIC.

#![deny(unsafe_code)]

use kernel::sync::atomic::{Atomic, Relaxed};

/// A monotonic counter with a single writer.
pub(crate) struct Counter(Atomic<u64>);

impl Counter {
    pub(crate) const fn new() -> Self {
        Self(Atomic::new(0))
    }

    /// Adds `n`. Only the counter's one writer may call this.
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub(crate) fn inc(&self) {
        self.add(1);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Counters of one TX queue.
pub(crate) struct TxStats {
    pub(crate) packets: Counter,
    pub(crate) bytes: Counter,
    /// Doorbells rung (the peer asked to be told).
    pub(crate) doorbells: Counter,
    /// Doorbells suppressed (the peer was already polling).
    pub(crate) suppressed: Counter,
    /// Doorbells the peer did not ask for, rung because it had left packets unread too long
    /// (PCI mode; counted in `doorbells` too).
    pub(crate) overdue: Counter,
    /// Times the queue stopped on a full ring.
    pub(crate) stops: Counter,
    pub(crate) drop_too_big: Counter,
    pub(crate) drop_bad_meta: Counter,
    pub(crate) drop_ring_full: Counter,
    /// Dropped because the link was not connected (PCI mode, during a handshake).
    pub(crate) drop_link_down: Counter,
    /// Impossible consumer indices read from the peer.
    pub(crate) peer_errors: Counter,
}

impl TxStats {
    pub(crate) const fn new() -> Self {
        Self {
            packets: Counter::new(),
            bytes: Counter::new(),
            doorbells: Counter::new(),
            suppressed: Counter::new(),
            overdue: Counter::new(),
            stops: Counter::new(),
            drop_too_big: Counter::new(),
            drop_bad_meta: Counter::new(),
            drop_ring_full: Counter::new(),
            drop_link_down: Counter::new(),
            peer_errors: Counter::new(),
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.drop_too_big.get()
            + self.drop_bad_meta.get()
            + self.drop_ring_full.get()
            + self.drop_link_down.get()
    }

    /// Names for `ethtool -S`, in the order of [`Self::values`].
    pub(crate) const NAMES: [&'static str; 11] = [
        "packets",
        "bytes",
        "doorbells",
        "doorbells_suppressed",
        "doorbells_overdue",
        "ring_full_stops",
        "drop_too_big",
        "drop_bad_meta",
        "drop_ring_full",
        "drop_link_down",
        "peer_errors",
    ];

    pub(crate) fn values(&self) -> [u64; 11] {
        [
            self.packets.get(),
            self.bytes.get(),
            self.doorbells.get(),
            self.suppressed.get(),
            self.overdue.get(),
            self.stops.get(),
            self.drop_too_big.get(),
            self.drop_bad_meta.get(),
            self.drop_ring_full.get(),
            self.drop_link_down.get(),
            self.peer_errors.get(),
        ]
    }
}

/// Counters of one RX queue.
pub(crate) struct RxStats {
    pub(crate) packets: Counter,
    pub(crate) bytes: Counter,
    /// NAPI polls.
    pub(crate) polls: Counter,
    /// Wake-ups sent to the peer's stopped TX queue.
    pub(crate) wakes: Counter,
    pub(crate) drop_nomem: Counter,
    pub(crate) drop_bad_meta: Counter,
    /// Descriptors or indices from the peer that fail validation.
    pub(crate) peer_errors: Counter,
}

impl RxStats {
    pub(crate) const fn new() -> Self {
        Self {
            packets: Counter::new(),
            bytes: Counter::new(),
            polls: Counter::new(),
            wakes: Counter::new(),
            drop_nomem: Counter::new(),
            drop_bad_meta: Counter::new(),
            peer_errors: Counter::new(),
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.drop_nomem.get() + self.drop_bad_meta.get()
    }

    /// Names for `ethtool -S`, in the order of [`Self::values`].
    pub(crate) const NAMES: [&'static str; 7] = [
        "packets",
        "bytes",
        "napi_polls",
        "tx_wakes",
        "drop_nomem",
        "drop_bad_meta",
        "peer_errors",
    ];

    pub(crate) fn values(&self) -> [u64; 7] {
        [
            self.packets.get(),
            self.bytes.get(),
            self.polls.get(),
            self.wakes.get(),
            self.drop_nomem.get(),
            self.drop_bad_meta.get(),
            self.peer_errors.get(),
        ]
    }
}
