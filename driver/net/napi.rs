// SPDX-License-Identifier: GPL-2.0

//! [`Napi`]: a NAPI context of an xpu device, and packet delivery from it.

use core::ptr::NonNull;

use kernel::{bindings, error::code::EINVAL};

use super::{
    rxq::{Moderation, RxQueue},
    skb::DropReason,
    sys,
    window::Region,
};
use crate::datapath::meta::VnetHdr;

/// One of an xpu device's NAPI contexts (`xpu_priv::rxq[q].napi` in driver/xpu_shim.c), being
/// polled, with its queue's moderation.
///
/// # Invariants
///
/// `ptr` is a NAPI context added to a live xpu device, and a [`Napi`] only exists inside its
/// poll function. The core serialises polls until `napi_complete_done`; after it, another poll
/// may start on another CPU, so only calls that are safe concurrently (`schedule`,
/// `timer_start`, `moderation`) may follow it.
pub(crate) struct Napi<'a> {
    ptr: NonNull<bindings::napi_struct>,
    rxq: &'a RxQueue,
}

impl<'a> Napi<'a> {
    /// The context `ptr`, with the moderation `rxq` of its queue.
    ///
    /// # Safety
    ///
    /// `ptr` must be an xpu NAPI context being polled, for `'a`.
    pub(super) unsafe fn new(ptr: NonNull<bindings::napi_struct>, rxq: &'a RxQueue) -> Self {
        // INVARIANT: the caller guarantees it.
        Self { ptr, rxq }
    }

    fn as_raw(&self) -> *mut bindings::napi_struct {
        self.ptr.as_ptr()
    }

    /// Copies the packet in `data` into a new skb, applies the metadata `h` (validated by the
    /// kernel's virtio-net header code) and hands it to GRO.
    pub(crate) fn receive(&self, data: Region<'_>, h: &VnetHdr) -> Result<(), DropReason> {
        // SAFETY: the context is being polled (type invariant); `data` is inside a live window
        // (type invariant of `Region`); `h` is valid for the call.
        let skb = unsafe {
            sys::xpu_rx_skb(
                self.as_raw(),
                data.as_ptr().cast(),
                data.len(),
                sys::vnet_hdr_ptr(h),
            )
        };
        let skb = kernel::error::from_err_ptr(skb).map_err(|e| {
            if e == EINVAL {
                DropReason::BadMeta
            } else {
                DropReason::NoMem
            }
        })?;
        // SAFETY: `skb` is a new packet we own; GRO takes it.
        unsafe { sys::xpu_napi_gro_receive(self.as_raw(), skb) };
        Ok(())
    }

    /// `napi_complete_done`: the poll did `done` (< budget) packets. Returns whether NAPI is
    /// now off (so the driver must re-arm its notifications).
    pub(crate) fn complete_done(&self, done: u32) -> bool {
        // SAFETY: the context is being polled (type invariant).
        unsafe { sys::napi_complete_done(self.as_raw(), done as i32) }
    }

    /// Schedules another poll (work arrived while re-arming).
    pub(crate) fn schedule(&self) {
        // SAFETY: the context was added to a live device (type invariant).
        unsafe { sys::xpu_napi_schedule(self.as_raw()) }
    }

    /// The queue's doorbell moderation: `ethtool -C`, or what DIM chose.
    pub(crate) fn moderation(&self) -> Moderation {
        self.rxq.moderation()
    }

    /// Polls once more in `usecs` microseconds (the `rx-usecs` bound of a coalesced re-arm).
    pub(crate) fn timer_start(&self, usecs: u32) {
        self.rxq.timer_start(usecs);
    }

    /// adaptive-rx: hands DIM the queue's running totals (polls, packets, bytes). Only
    /// before `complete_done`: the queue's DIM state belongs to the poll that owns NAPI.
    pub(crate) fn dim_sample(&self, events: u16, packets: u64, bytes: u64) {
        self.rxq.dim_sample(events, packets, bytes);
    }
}
