// SPDX-License-Identifier: GPL-2.0

//! [`RxQueue`]: what moderates an RX queue's doorbells: the values in force (`ethtool -C`'s, or
//! DIM's choice with `adaptive-rx`), the `rx-usecs` timer that polls once after a coalesced
//! re-arm, and the kernel's DIM. The queue's NAPI context stays in C's private area (opaque to
//! Rust in 7.3); the timer schedules it through its pointer.

use kernel::{
    bindings,
    ffi::c_int,
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
    types::Opaque,
};

use super::sys;

/// An RX queue's doorbell moderation: `rx-usecs`, `rx-frames`, `adaptive-rx`.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Moderation {
    pub(crate) usecs: u32,
    pub(crate) frames: u32,
    pub(crate) adaptive: bool,
}

/// One RX queue's moderation.
///
/// # Invariants
///
/// `timer` was set up with [`timer_fired`] and `dim`'s work with [`dim_work`], both in place
/// (the queue is pinned); `napi` is the queue's NAPI context in the private area of the device
/// that owns this queue, which outlives it.
#[pin_data]
pub(crate) struct RxQueue {
    #[pin]
    timer: Opaque<bindings::hrtimer>,
    #[pin]
    dim: Opaque<sys::dim>,
    napi: *mut bindings::napi_struct,
    usecs: Atomic<u32>,
    frames: Atomic<u32>,
    adaptive: Atomic<u32>,
}

impl RxQueue {
    /// The moderation of the queue whose NAPI context is `napi`.
    ///
    /// # Safety
    ///
    /// `napi` must be a NAPI context of the device that will own the queue, valid until the
    /// queue is dropped, and the owner must [`RxQueue::quiesce`] it before dropping it.
    pub(super) unsafe fn new(napi: *mut bindings::napi_struct) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `t` points to the timer's place in the pinned queue, where it stays.
            timer <- Opaque::ffi_init(|t| unsafe {
                bindings::hrtimer_setup(
                    t,
                    Some(timer_fired),
                    bindings::CLOCK_MONOTONIC as c_int,
                    bindings::hrtimer_mode_HRTIMER_MODE_REL_SOFT,
                )
            }),
            // SAFETY: `d` points to DIM's place in the pinned queue, valid for writes; a zeroed
            // `struct dim` is DIM's initial state (DIM_START_MEASURE, profile 0).
            dim <- Opaque::ffi_init(|d: *mut sys::dim| unsafe {
                d.write_bytes(0, 1);
                (*d).mode = sys::dim_cq_period_mode_DIM_CQ_PERIOD_MODE_START_FROM_EQE as u8;
                bindings::init_work_with_key(
                    &raw mut (*d).work,
                    Some(dim_work),
                    false,
                    c"xpu_dim_work".as_char_ptr(),
                    kernel::static_lock_class!().as_ptr(),
                );
            }),
            napi,
            usecs: Atomic::new(0),
            frames: Atomic::new(0),
            adaptive: Atomic::new(0),
        })
    }

    /// The moderation in force.
    pub(crate) fn moderation(&self) -> Moderation {
        Moderation {
            usecs: self.usecs.load(Relaxed),
            frames: self.frames.load(Relaxed),
            adaptive: self.adaptive.load(Relaxed) != 0,
        }
    }

    /// `ethtool -C`: puts `m` in force. Process context (it may wait for DIM's work).
    pub(super) fn set(&self, m: &Moderation) {
        self.adaptive.store(m.adaptive.into(), Relaxed);
        if !m.adaptive {
            // A DIM update in flight must not overwrite the new values; once cancelled, DIM
            // starts measuring afresh, for when adaptive-rx is back.
            self.dim_stop();
        }
        self.usecs.store(m.usecs, Relaxed);
        self.frames.store(m.frames, Relaxed);
    }

    /// Polls once more in `usecs` microseconds (the `rx-usecs` bound of a coalesced re-arm).
    pub(crate) fn timer_start(&self, usecs: u32) {
        // SAFETY: the timer was set up (type invariant); its owner cancels it before it goes.
        unsafe {
            bindings::hrtimer_start_range_ns(
                self.timer.get(),
                i64::from(usecs) * 1000,
                0,
                bindings::hrtimer_mode_HRTIMER_MODE_REL_SOFT,
            )
        }
    }

    /// adaptive-rx: hands DIM the queue's running totals (polls, packets, bytes). Only from the
    /// poll that owns NAPI (before `napi_complete_done`): DIM's state is that poll's.
    pub(crate) fn dim_sample(&self, events: u16, packets: u64, bytes: u64) {
        // As dim_update_sample(): DIM keeps 32-bit counters and works with their differences.
        let sample = sys::dim_sample {
            // SAFETY: no preconditions.
            time: unsafe { bindings::ktime_get() },
            pkt_ctr: packets as u32,
            byte_ctr: bytes as u32,
            event_ctr: events,
            comp_ctr: 0,
        };
        // SAFETY: DIM was set up (type invariant); the poll serialises its users, and its work
        // is cancelled by `quiesce` before the queue goes.
        unsafe { sys::net_dim(self.dim.get(), &sample) }
    }

    /// Cancels DIM's work (waiting for a run in progress) and has DIM measure afresh. A work
    /// cancelled before it ran leaves DIM waiting for it (DIM_APPLY_NEW_PROFILE), and
    /// `net_dim()` would ignore the queue from then on.
    fn dim_stop(&self) {
        let dim = self.dim.get();
        // SAFETY: DIM's work was set up (type invariant); process context.
        unsafe { bindings::cancel_work_sync(&raw mut (*dim).work) };
        // A poll may still be in `net_dim()` when adaptive-rx was just turned off (it read the
        // flag before): a work it queues sees the flag off and only resets the state again.
        // SAFETY: a byte of the pinned queue; no work runs (cancelled above); one volatile
        // store, as the C drivers' WRITE_ONCE.
        unsafe { (&raw mut (*dim).state).write_volatile(sys::dim_state_DIM_START_MEASURE as u8) };
    }

    /// Stops what a poll starts (the timer, DIM's work), once polls have stopped: at
    /// `ndo_stop`, and before the queue goes.
    pub(super) fn quiesce(&self) {
        // SAFETY: the timer was set up (type invariant); process context.
        unsafe { bindings::hrtimer_cancel(self.timer.get()) };
        self.dim_stop();
    }
}

/// The `rx-usecs` timer fired (softirq): poll the queue once.
///
/// # Safety
///
/// `timer` is the `timer` of a live [`RxQueue`] (the kernel calls this for timers set up by
/// [`RxQueue::new`] only).
unsafe extern "C" fn timer_fired(timer: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
    // SAFETY: `timer` is the field of a live queue (function safety requirement).
    let q = unsafe {
        &*kernel::container_of!(timer.cast::<Opaque<bindings::hrtimer>>(), RxQueue, timer)
    };
    // SAFETY: `napi` is the queue's NAPI context, alive as long as the queue (type invariant).
    unsafe { sys::xpu_napi_schedule(q.napi) };
    bindings::hrtimer_restart::HRTIMER_NORESTART
}

/// DIM chose a new profile (process context): put its values in force, unless the
/// administrator turned adaptive-rx off meanwhile.
///
/// # Safety
///
/// `work` is the work of the `dim` of a live [`RxQueue`] (set up by [`RxQueue::new`] only).
unsafe extern "C" fn dim_work(work: *mut bindings::work_struct) {
    // SAFETY: `work` is DIM's work (function safety requirement).
    let dim = unsafe { kernel::container_of!(work, sys::dim, work) };
    // SAFETY: and DIM is the field of a live queue.
    let q = unsafe { &*kernel::container_of!(dim.cast::<Opaque<sys::dim>>(), RxQueue, dim) };
    // SAFETY: DIM is set up; its work runs alone with its state (net_dim() waits for it).
    let m = unsafe { sys::net_dim_get_rx_moderation((*dim).mode, (*dim).profile_ix.into()) };
    if q.adaptive.load(Relaxed) != 0 {
        q.usecs.store(m.usec.into(), Relaxed);
        q.frames.store(m.pkts.into(), Relaxed);
    }
    // SAFETY: as above: the work owns DIM's state until it says so here.
    unsafe { (*dim).state = sys::dim_state_DIM_START_MEASURE as u8 };
}
