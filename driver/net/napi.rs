// SPDX-License-Identifier: GPL-2.0

//! [`Napi`]: a NAPI context of an xpu device, and packet delivery from it.

use kernel::{bindings, types::Opaque};

use super::{
    skb::DropReason,
    sys::{self, XpuModer},
    window::Region,
};
use crate::datapath::meta::VnetHdr;

/// One of an xpu device's NAPI contexts (`xpu_priv::napi[q]` in driver/xpu_shim.c).
///
/// # Invariants
///
/// The wrapped `napi_struct` was added with `netif_napi_add` to a live xpu device, and the
/// reference is only handed out inside its poll function. The core serialises polls until
/// `napi_complete_done`; after it, another poll may start on another CPU, so only calls that
/// are safe concurrently (`schedule`, `timer_start`, `moderation`) may follow it.
#[repr(transparent)]
pub(crate) struct Napi(Opaque<bindings::napi_struct>);

impl Napi {
    /// Borrows a C `napi_struct` as a [`Napi`].
    ///
    /// # Safety
    ///
    /// `ptr` must be an xpu NAPI context being polled, for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::napi_struct) -> &'a Self {
        // SAFETY: `Napi` is `repr(transparent)` over `Opaque<napi_struct>`; the caller
        // guarantees the rest of the type invariant.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn as_raw(&self) -> *mut bindings::napi_struct {
        self.0.get()
    }

    /// Copies the packet in `data` into a new skb, applies the metadata `h` (validated by the
    /// kernel's virtio-net header code) and hands it to GRO.
    pub(crate) fn receive(&self, data: Region<'_>, h: &VnetHdr) -> Result<(), DropReason> {
        let mut why = 0u32;
        // SAFETY: the context is being polled (type invariant); `data` is inside a live window
        // (type invariant of `Region`); `h` and `why` are valid for the call.
        let skb = unsafe {
            sys::xpu_rx_skb(
                self.as_raw(),
                data.as_ptr().cast(),
                data.len(),
                sys::vnet_hdr_ptr(h),
                &mut why,
            )
        };
        if skb.is_null() {
            return Err(if why == DropReason::BadMeta as u32 {
                DropReason::BadMeta
            } else {
                DropReason::NoMem
            });
        }
        // SAFETY: `skb` is a new packet we own; GRO takes it.
        unsafe { sys::xpu_napi_gro_receive(self.as_raw(), skb) };
        Ok(())
    }

    /// `napi_complete_done`: the poll did `done` (< budget) packets. Returns whether NAPI is
    /// now off (so the driver must re-arm its notifications).
    pub(crate) fn complete_done(&self, done: u32) -> bool {
        // SAFETY: the context is being polled (type invariant).
        unsafe { sys::xpu_napi_complete_done(self.as_raw(), done as i32) }
    }

    /// Schedules another poll (work arrived while re-arming).
    pub(crate) fn schedule(&self) {
        // SAFETY: the context was added to a live device (type invariant).
        unsafe { sys::xpu_napi_schedule(self.as_raw()) }
    }

    /// The queue's doorbell moderation: `ethtool -C`, or what DIM chose.
    pub(crate) fn moderation(&self) -> XpuModer {
        let mut m = XpuModer::default();
        // SAFETY: the context belongs to a live xpu device (type invariant); `m` is valid.
        unsafe { sys::xpu_rx_moderation(self.as_raw(), &mut m) };
        m
    }

    /// Polls once more in `usecs` microseconds (the `rx-usecs` bound of a coalesced re-arm).
    pub(crate) fn timer_start(&self, usecs: u32) {
        // SAFETY: the context belongs to a live xpu device (type invariant), whose ndo_stop
        // cancels the timer after disabling NAPI.
        unsafe { sys::xpu_rx_timer_start(self.as_raw(), usecs) }
    }

    /// adaptive-rx: hands DIM the queue's running totals (polls, packets, bytes). Only
    /// before `complete_done`: the queue's DIM state belongs to the poll that owns NAPI.
    pub(crate) fn dim_sample(&self, events: u16, packets: u64, bytes: u64) {
        // SAFETY: the context belongs to a live xpu device (type invariant); DIM's work is
        // cancelled by ndo_stop after NAPI is disabled; polls of one context do not overlap
        // before `napi_complete_done`, which is when the driver calls this.
        unsafe { sys::xpu_rx_dim_sample(self.as_raw(), events, packets, bytes) }
    }
}
