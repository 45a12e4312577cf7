// SPDX-License-Identifier: GPL-2.0

//! The kernel's tick counter, for the datapath's coarse timeouts (how long a peer has left our
//! packets unread): a tick is precise enough there, and reading it is one load, where a clock
//! read would be a call per packet.

use kernel::time::msecs_to_jiffies;

/// `jiffies`, truncated to 32 bits: compare two readings with wrapping arithmetic.
pub(crate) fn ticks() -> u32 {
    // SAFETY: `jiffies` is a naturally aligned kernel global that the timer tick updates; a
    // volatile read of it is what C's `READ_ONCE(jiffies)` does.
    let now = unsafe { core::ptr::read_volatile(&raw const kernel::bindings::jiffies) };
    // CAST: the low 32 bits wrap every 49 days at HZ=1000, far beyond any timeout here.
    now as u32
}

/// `ms` milliseconds in ticks (at least one).
pub(crate) fn ms_to_ticks(ms: u32) -> u32 {
    // CAST: at most `ms` * HZ / 1000, which fits in 32 bits for any `ms` we use.
    (msecs_to_jiffies(ms) as u32).max(1)
}
