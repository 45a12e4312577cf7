// SPDX-License-Identifier: GPL-2.0

//! [`SkBuff`]: a packet owned by the driver.

use core::{mem::ManuallyDrop, ptr::NonNull};

use kernel::{bindings, error::to_result, prelude::*};

use super::sys;
use crate::datapath::meta::VnetHdr;

/// Why the datapath dropped a packet (`enum xpu_drop` in driver/xpu_shim.h); each maps to an
/// `skb_drop_reason` for the drop monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum DropReason {
    /// The link is not up, or the pair is being deleted.
    LinkDown = 0,
    /// No room in the ring (the queue should have been stopped: a bug or a hostile peer).
    RingFull = 1,
    /// Larger than a descriptor can carry.
    TooBig = 2,
    /// Checksum or GSO metadata that cannot be expressed, or that fails validation.
    BadMeta = 3,
    /// No memory for the received packet.
    NoMem = 4,
}

/// A socket buffer the core handed to the driver (in `ndo_start_xmit`).
///
/// Dropping it frees the packet and counts it as a drop in the kernel's drop monitor, so a
/// packet the driver forgets is never leaked; [`SkBuff::consume`] frees a packet that was sent.
///
/// # Invariants
///
/// `self.0` points to a valid `sk_buff` whose reference is owned by this object.
pub(crate) struct SkBuff(NonNull<bindings::sk_buff>);

impl SkBuff {
    /// Takes ownership of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid `sk_buff` whose reference the caller transfers.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::sk_buff>) -> Self {
        // INVARIANT: the caller transfers a valid reference.
        Self(ptr)
    }

    /// Bytes in the packet (`skb->len`, linear part and fragments).
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: the skb is valid (type invariant).
        unsafe { sys::xpu_skb_len(self.0.as_ptr()) }
    }

    /// The TX queue the core picked for the packet.
    pub(crate) fn queue(&self) -> u32 {
        // SAFETY: the skb is valid (type invariant).
        unsafe { sys::xpu_skb_queue(self.0.as_ptr()) }
    }

    /// The packet's checksum and GSO metadata, as the kernel writes them in a virtio-net
    /// header.
    pub(crate) fn vnet_hdr(&self) -> Result<VnetHdr> {
        let mut h = VnetHdr::default();
        // SAFETY: the skb is valid (type invariant); `h` is a `struct virtio_net_hdr` (same
        // layout, asserted on both sides) that the helper writes.
        to_result(unsafe { sys::xpu_skb_vnet_hdr(self.0.as_ptr(), &mut h) })?;
        Ok(h)
    }

    /// Copies the first `len` bytes of the packet to `dst`.
    ///
    /// # Safety
    ///
    /// `dst..dst + len` must be valid for writes.
    pub(super) unsafe fn copy_to(&self, dst: *mut u8, len: u32) -> Result {
        // SAFETY: the skb is valid (type invariant); the caller guarantees `dst`.
        to_result(unsafe { sys::xpu_skb_copy_to(self.0.as_ptr(), dst.cast(), len) })
    }

    /// Gives the reference back to the caller of `ndo_start_xmit` (for `NETDEV_TX_BUSY`).
    pub(super) fn into_raw(self) -> *mut bindings::sk_buff {
        ManuallyDrop::new(self).0.as_ptr()
    }

    /// Frees a packet that was delivered (not a drop).
    pub(crate) fn consume(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: we own the reference (type invariant) and give it up here; `ManuallyDrop`
        // keeps `Drop` from freeing it again.
        unsafe { sys::xpu_skb_consume(this.0.as_ptr()) }
    }

    /// Drops the packet, telling the drop monitor why.
    pub(crate) fn drop_for(self, why: DropReason) {
        let this = ManuallyDrop::new(self);
        // SAFETY: as in `consume`.
        unsafe { sys::xpu_skb_drop(this.0.as_ptr(), why as u32) }
    }
}

impl core::ops::Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: we own the reference (type invariant) and give it up here.
        unsafe { sys::xpu_skb_drop(self.0.as_ptr(), DropReason::LinkDown as u32) }
    }
}

/// Whether the core has more packets for this queue right behind the current one
/// (`netdev_xmit_more`): the doorbell can wait for the last of them.
pub(crate) fn xmit_more() -> bool {
    // SAFETY: reads a per-CPU flag; meaningful in ndo_start_xmit, harmless anywhere.
    unsafe { sys::xpu_xmit_more() }
}
