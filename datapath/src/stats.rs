// SPDX-License-Identifier: GPL-2.0

//! Per-queue counters: what `ip -s link` sums and `ethtool -S` lists.
//!
//! Each counter has one writer (a TX queue's counters are written under its queue lock, an RX
//! queue's by its NAPI poll), so an increment is a plain load and store, not a locked
//! read-modify-write; readers may see a value that is one update old, as with any NIC.

#![deny(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A monotonic counter with a single writer.
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds `n`. Only the counter's one writer may call this.
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters of one TX queue.
pub struct TxStats {
    pub packets: Counter,
    pub bytes: Counter,
    /// Doorbells rung (the peer asked to be told).
    pub doorbells: Counter,
    /// Doorbells suppressed (the peer was already polling).
    pub suppressed: Counter,
    /// Doorbells the peer did not ask for, rung because it had left packets unread too long
    /// (PCI mode; counted in `doorbells` too).
    pub overdue: Counter,
    /// Times the queue stopped on a full ring.
    pub stops: Counter,
    pub drop_too_big: Counter,
    pub drop_bad_meta: Counter,
    pub drop_ring_full: Counter,
    /// Dropped because the link was not connected (PCI mode, during a handshake).
    pub drop_link_down: Counter,
    /// Impossible consumer indices read from the peer.
    pub peer_errors: Counter,
}

impl Default for TxStats {
    fn default() -> Self {
        Self::new()
    }
}

impl TxStats {
    pub const fn new() -> Self {
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

    pub fn dropped(&self) -> u64 {
        self.drop_too_big.get()
            + self.drop_bad_meta.get()
            + self.drop_ring_full.get()
            + self.drop_link_down.get()
    }

    /// Names for `ethtool -S`, in the order of [`Self::values`].
    pub const NAMES: [&'static str; 11] = [
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

    pub fn values(&self) -> [u64; 11] {
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
pub struct RxStats {
    pub packets: Counter,
    pub bytes: Counter,
    /// NAPI polls.
    pub polls: Counter,
    /// Wake-ups sent to the peer's stopped TX queue.
    pub wakes: Counter,
    pub drop_nomem: Counter,
    pub drop_bad_meta: Counter,
    /// Descriptors or indices from the peer that fail validation.
    pub peer_errors: Counter,
}

impl Default for RxStats {
    fn default() -> Self {
        Self::new()
    }
}

impl RxStats {
    pub const fn new() -> Self {
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

    pub fn dropped(&self) -> u64 {
        self.drop_nomem.get() + self.drop_bad_meta.get()
    }

    /// Names for `ethtool -S`, in the order of [`Self::values`].
    pub const NAMES: [&'static str; 7] = [
        "packets",
        "bytes",
        "napi_polls",
        "tx_wakes",
        "drop_nomem",
        "drop_bad_meta",
        "peer_errors",
    ];

    pub fn values(&self) -> [u64; 7] {
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
