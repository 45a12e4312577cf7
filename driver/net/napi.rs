// SPDX-License-Identifier: GPL-2.0

//! [`Napi`]: a NAPI context of an xpu device, and packet delivery from it (through the
//! device's XDP program, if it has one).

use core::ptr::NonNull;

use kernel::{bindings, error::code::EINVAL};

use super::{
    rxq::{Moderation, RxQueue},
    skb::DropReason,
    sys,
    window::Region,
    xdp::XdpFrame,
};
use crate::datapath::{meta::VnetHdr, port::Delivered};

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

    /// Copies the packet in `data` out of the window, runs the device's XDP program on it if
    /// it has one, and hands what passes to GRO with the metadata `h` applied (validated by
    /// the kernel's virtio-net header code).
    pub(crate) fn receive(
        &self,
        data: Region<'_>,
        h: &VnetHdr,
    ) -> Result<Delivered<XdpFrame>, DropReason> {
        let mut tx = core::ptr::null_mut();
        // SAFETY: the context is being polled (type invariant); `data` is inside a live window
        // (type invariant of `Region`); `h` and `tx` are valid for the call.
        let ret = unsafe {
            sys::xpu_rx(
                self.as_raw(),
                data.as_ptr().cast(),
                data.len(),
                sys::vnet_hdr_ptr(h),
                &mut tx,
            )
        };
        let verdict = match u32::try_from(ret) {
            Ok(v) => v,
            Err(_) if ret == EINVAL.to_errno() => return Err(DropReason::BadMeta),
            Err(_) => return Err(DropReason::NoMem),
        };
        Ok(match verdict {
            sys::xpu_rx_verdict_XPU_RX_XDP_PASS => Delivered::XdpPass,
            sys::xpu_rx_verdict_XPU_RX_XDP_DROP => Delivered::XdpDrop,
            sys::xpu_rx_verdict_XPU_RX_XDP_REDIRECT => Delivered::XdpRedirect,
            sys::xpu_rx_verdict_XPU_RX_XDP_TX => match NonNull::new(tx) {
                // SAFETY: `xpu_rx` hands us the frame XDP_TX made of the packet.
                Some(tx) => Delivered::XdpTx(unsafe { XdpFrame::from_raw(tx) }),
                None => Delivered::XdpDrop,
            },
            sys::xpu_rx_verdict_XPU_RX_XDP_SKB_PASS => Delivered::XdpGeneric { passed: true },
            sys::xpu_rx_verdict_XPU_RX_XDP_SKB_CONSUMED => Delivered::XdpGeneric { passed: false },
            _ => Delivered::Up,
        })
    }

    /// Ends a poll whose XDP program redirected frames (`xdp_do_flush`).
    pub(crate) fn xdp_flush(&self) {
        // SAFETY: called from the poll that redirected (type invariant: inside a poll).
        unsafe { sys::xpu_xdp_flush() }
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
