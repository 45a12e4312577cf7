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
    /// XDP frames sent: XDP_TX from this end's poll, and frames redirected to the device
    /// (counted in `packets` too).
    pub xdp_xmit: Counter,
    /// XDP frames that found no room, or the link down (freed by their sender).
    pub xdp_xmit_err: Counter,
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
            xdp_xmit: Counter::new(),
            xdp_xmit_err: Counter::new(),
        }
    }

    pub fn dropped(&self) -> u64 {
        self.drop_too_big.get()
            + self.drop_bad_meta.get()
            + self.drop_ring_full.get()
            + self.drop_link_down.get()
            + self.xdp_xmit_err.get()
    }

    /// Names for `ethtool -S`, in the order of [`Self::values`].
    pub const NAMES: [&'static str; 13] = [
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
        "xdp_xmit",
        "xdp_xmit_err",
    ];

    pub fn values(&self) -> [u64; 13] {
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
            self.xdp_xmit.get(),
            self.xdp_xmit_err.get(),
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
    /// The XDP program's verdicts (of the packets counted in `packets`): passed to the
    /// stack, dropped (XDP_ABORTED too), sent back out on this end, redirected.
    pub xdp_pass: Counter,
    pub xdp_drop: Counter,
    pub xdp_tx: Counter,
    pub xdp_redirect: Counter,
    /// Packets the program ran on as skbs, too large for a native frame (the passed ones
    /// are counted in `xdp_pass` too).
    pub xdp_generic: Counter,
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
            xdp_pass: Counter::new(),
            xdp_drop: Counter::new(),
            xdp_tx: Counter::new(),
            xdp_redirect: Counter::new(),
            xdp_generic: Counter::new(),
        }
    }

    /// Packets lost on the way in (the program's XDP_DROP is a decision, not a loss: it has
    /// its own counter, as in mlx5 and ice).
    pub fn dropped(&self) -> u64 {
        self.drop_nomem.get() + self.drop_bad_meta.get()
    }

    /// Names for `ethtool -S`, in the order of [`Self::values`].
    pub const NAMES: [&'static str; 12] = [
        "packets",
        "bytes",
        "napi_polls",
        "tx_wakes",
        "drop_nomem",
        "drop_bad_meta",
        "peer_errors",
        "xdp_pass",
        "xdp_drop",
        "xdp_tx",
        "xdp_redirect",
        "xdp_generic",
    ];

    pub fn values(&self) -> [u64; 12] {
        [
            self.packets.get(),
            self.bytes.get(),
            self.polls.get(),
            self.wakes.get(),
            self.drop_nomem.get(),
            self.drop_bad_meta.get(),
            self.peer_errors.get(),
            self.xdp_pass.get(),
            self.xdp_drop.get(),
            self.xdp_tx.get(),
            self.xdp_redirect.get(),
            self.xdp_generic.get(),
        ]
    }
}
