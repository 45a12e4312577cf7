// SPDX-License-Identifier: GPL-2.0

//! [`SkBuff`]: a packet owned by the driver.

use core::{mem::ManuallyDrop, ptr::NonNull};

use kernel::{bindings, error::to_result, prelude::*};

use super::sys;
use crate::datapath::meta::VnetHdr;

/// Why the datapath dropped a packet; each is an `skb_drop_reason` for the drop monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The link is not up, or the pair is being deleted.
    LinkDown,
    /// No room in the ring (the queue should have been stopped: a bug or a hostile peer).
    RingFull,
    /// Larger than a descriptor can carry.
    TooBig,
    /// Checksum or GSO metadata that cannot be expressed, or that fails validation.
    BadMeta,
    /// No memory for the received packet.
    NoMem,
    /// From the other half of a split namespace, but not this half's to take.
    NotOurs,
}

impl DropReason {
    fn kernel(self) -> bindings::skb_drop_reason {
        match self {
            Self::LinkDown => bindings::skb_drop_reason_SKB_DROP_REASON_DEV_READY,
            Self::RingFull => bindings::skb_drop_reason_SKB_DROP_REASON_FULL_RING,
            Self::TooBig => bindings::skb_drop_reason_SKB_DROP_REASON_PKT_TOO_BIG,
            Self::BadMeta => bindings::skb_drop_reason_SKB_DROP_REASON_DEV_HDR,
            Self::NoMem => bindings::skb_drop_reason_SKB_DROP_REASON_NOMEM,
            Self::NotOurs => bindings::skb_drop_reason_SKB_DROP_REASON_NOT_SPECIFIED,
        }
    }
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

    /// Runs `f` on `ptr`, a packet the caller only borrows (it is neither freed nor counted).
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid `sk_buff` that stays so, and unchanged, while `f` runs.
    pub(super) unsafe fn with_borrowed<R>(
        ptr: *mut bindings::sk_buff,
        f: impl FnOnce(&SkBuff) -> R,
    ) -> Option<R> {
        // INVARIANT: valid for the call (the function's contract); `ManuallyDrop` keeps the
        // reference, which is not ours, from being put.
        let skb = core::mem::ManuallyDrop::new(Self(NonNull::new(ptr)?));
        Some(f(&skb))
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
        let hp = core::ptr::from_mut(&mut h).cast::<sys::virtio_net_hdr>();
        // SAFETY: the skb is valid (type invariant); `hp` points to `h`, a `struct
        // virtio_net_hdr` (same layout, asserted in sys.rs) that the helper writes.
        to_result(unsafe { sys::xpu_skb_vnet_hdr(self.0.as_ptr(), hp) })?;
        Ok(h)
    }

    /// Copies the first `len` bytes of the packet to `dst`.
    ///
    /// # Safety
    ///
    /// `dst..dst + len` must be valid for writes.
    pub(super) unsafe fn copy_to(&self, dst: *mut u8, len: u32) -> Result {
        let len = i32::try_from(len)?;
        // SAFETY: the skb is valid (type invariant); the caller guarantees `dst`; `len` is not
        // negative, and more than the packet has is refused (EFAULT).
        to_result(unsafe { sys::skb_copy_bits(self.0.as_ptr(), 0, dst.cast(), len) })
    }

    /// A new frame of `len` bytes to send on `dev`, its bytes written by `fill`.
    ///
    /// # Safety
    ///
    /// `dev` is a live `net_device`.
    pub(super) unsafe fn alloc(
        dev: *mut bindings::net_device,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result,
    ) -> Result<Self> {
        let mut data = core::ptr::null_mut();
        // SAFETY: `dev` is live (the function's contract); `data` is valid for writes.
        let skb = unsafe { sys::xpu_skb_alloc(dev, u32::try_from(len)?, &mut data) };
        // INVARIANT: a new skb, whose one reference is ours.
        let skb = Self(NonNull::new(skb).ok_or(ENOMEM)?);
        // SAFETY: `xpu_skb_alloc` put `len` bytes at `data`, ours alone until the frame is sent.
        let bytes = unsafe { core::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
        fill(bytes)?;
        Ok(skb)
    }

    /// `skb->protocol`, in host order.
    pub(crate) fn protocol(&self) -> u16 {
        // SAFETY: the skb is valid (type invariant).
        unsafe { sys::xpu_skb_protocol(self.0.as_ptr()) }
    }

    /// The packet's first bytes, up to `buf.len()` of them: in place where they are linear,
    /// else copied to `buf`. `None` only if the helper fails, which it does not for a length
    /// within the packet.
    pub(crate) fn header<'a>(&'a self, buf: &'a mut [u8]) -> Option<&'a [u8]> {
        let len = buf
            .len()
            .min(usize::try_from(self.len()).unwrap_or(usize::MAX));
        let len32 = u32::try_from(len).ok()?;
        // SAFETY: the skb is valid (type invariant); `buf` has room for `len` bytes.
        let p = unsafe { sys::xpu_skb_header(self.0.as_ptr(), len32, buf.as_mut_ptr().cast()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` is `len` bytes of the packet's data or of `buf`; the packet is not changed
        // while `&self` is borrowed (changes take `&mut self` or `self`), nor is `buf`.
        Some(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) })
    }

    /// A packet of our own to change: this one, or a copy if others hold it too (`None`: no
    /// memory for the copy; the packet is gone).
    pub(crate) fn unshare(self) -> Option<Self> {
        let this = ManuallyDrop::new(self);
        // SAFETY: we own the reference (type invariant) and hand it over.
        let skb = unsafe { sys::xpu_skb_unshare(this.0.as_ptr()) };
        // INVARIANT: `skb_share_check` returns an skb whose one reference is ours, or NULL.
        NonNull::new(skb).map(Self)
    }

    /// Whether a socket of this host already took the packet (`skb->sk`: early demux, TPROXY).
    pub(crate) fn has_socket(&self) -> bool {
        // SAFETY: the skb is valid (type invariant).
        unsafe { sys::xpu_skb_has_sock(self.0.as_ptr()) }
    }

    /// The packet starts at its network header (a received frame whose link header is pulled).
    pub(crate) fn reset_network_header(&mut self) {
        // SAFETY: the skb is valid and ours to change (type invariant, `&mut`).
        unsafe { sys::xpu_skb_reset_network_header(self.0.as_ptr()) }
    }

    /// Makes the first `len` bytes linear; false if the packet is shorter, or no memory.
    pub(crate) fn may_pull(&mut self, len: usize) -> bool {
        let Ok(len) = u32::try_from(len) else {
            return false;
        };
        // SAFETY: the skb is valid and ours to change (type invariant, `&mut`).
        unsafe { sys::xpu_skb_may_pull(self.0.as_ptr(), len) }
    }

    /// The whole packet as one slice (made linear first); `None` if it cannot be.
    pub(crate) fn linear(&mut self) -> Option<&[u8]> {
        let len = usize::try_from(self.len()).ok()?;
        // SAFETY: the skb is valid and ours to change (type invariant, `&mut`).
        let p = unsafe { sys::xpu_skb_linear(self.0.as_ptr()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: a linear skb has its `len` bytes at `data`, unchanged while borrowed.
        Some(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) })
    }

    /// Clears a receive checksum, which means nothing once the packet is sent on.
    pub(crate) fn forward_csum(&mut self) {
        // SAFETY: the skb is valid and ours to change (type invariant, `&mut`).
        unsafe { sys::xpu_skb_forward_csum(self.0.as_ptr()) }
    }

    /// Confirms the packet's conntrack entry, as the last LOCAL_IN hook would; false: the
    /// packet is to be dropped.
    pub(crate) fn ct_confirm(&mut self) -> bool {
        // SAFETY: the skb is valid (type invariant), in a netfilter hook (the caller's).
        unsafe { sys::xpu_skb_ct_confirm(self.0.as_ptr()) }
    }

    /// Sends the packet, which starts at its network header, on `dev` as an Ethernet frame of
    /// `ethertype`; true if the device took it.
    ///
    /// # Safety
    ///
    /// `dev` is a live `net_device`.
    pub(super) unsafe fn send(self, dev: *mut bindings::net_device, ethertype: u16) -> bool {
        let this = ManuallyDrop::new(self);
        // SAFETY: we hand over our reference (type invariant); `dev` is live (contract).
        unsafe { sys::xpu_skb_send(this.0.as_ptr(), dev, ethertype) }
    }

    /// Hands the packet, of ethertype `proto`, to the stack as received on `via`, with
    /// `route` (its destination, for delivery through lo) or routed as it comes in; true if
    /// the backlog took it.
    ///
    /// # Safety
    ///
    /// `via` is a live `net_device`.
    pub(super) unsafe fn deliver(
        self,
        via: *mut bindings::net_device,
        proto: u16,
        route: Option<Route>,
    ) -> bool {
        let this = ManuallyDrop::new(self);
        let dst = route.map_or(core::ptr::null_mut(), Route::into_raw);
        // SAFETY: we hand over our reference (type invariant) and the route's; `via` is live.
        unsafe { sys::xpu_skb_deliver(this.0.as_ptr(), via, proto, dst) }
    }

    /// Gives the reference back to the caller of `ndo_start_xmit` (for `NETDEV_TX_BUSY`).
    pub(super) fn into_raw(self) -> *mut bindings::sk_buff {
        ManuallyDrop::new(self).0.as_ptr()
    }

    /// Frees a packet that was delivered (not a drop: the drop monitor stays quiet), from any
    /// context (`dev_consume_skb_any`).
    pub(crate) fn consume(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: we own the reference (type invariant) and give it up here; `ManuallyDrop`
        // keeps `Drop` from freeing it again.
        unsafe {
            sys::dev_kfree_skb_any_reason(this.0.as_ptr(), bindings::skb_drop_reason_SKB_CONSUMED)
        }
    }

    /// Drops the packet, telling the drop monitor why.
    pub(crate) fn drop_for(self, why: DropReason) {
        let this = ManuallyDrop::new(self);
        // SAFETY: as in `consume`.
        unsafe {
            bindings::sk_skb_reason_drop(core::ptr::null_mut(), this.0.as_ptr(), why.kernel())
        }
    }
}

impl core::ops::Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: we own the reference (type invariant) and give it up here.
        unsafe {
            bindings::sk_skb_reason_drop(
                core::ptr::null_mut(),
                self.0.as_ptr(),
                DropReason::LinkDown.kernel(),
            )
        }
    }
}

/// A route (`struct dst_entry`) whose reference we hold.
///
/// # Invariants
///
/// `self.0` is a `dst_entry` whose reference this object owns.
pub(crate) struct Route(NonNull<bindings::dst_entry>);

impl Route {
    /// Takes the reference of `dst`, if not null.
    ///
    /// # Safety
    ///
    /// `dst` is null or a `dst_entry` whose reference the caller transfers.
    pub(super) unsafe fn from_raw(dst: *mut bindings::dst_entry) -> Option<Self> {
        // INVARIANT: per the function's contract.
        NonNull::new(dst).map(Self)
    }

    fn into_raw(self) -> *mut bindings::dst_entry {
        ManuallyDrop::new(self).0.as_ptr()
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        // SAFETY: we own the reference (type invariant) and give it up here.
        unsafe { sys::dst_release(self.0.as_ptr()) }
    }
}

/// Whether the core has more packets for this queue right behind the current one
/// (`netdev_xmit_more`): the doorbell can wait for the last of them.
pub(crate) fn xmit_more() -> bool {
    // SAFETY: reads a per-CPU flag; meaningful in ndo_start_xmit, harmless anywhere.
    unsafe { sys::xpu_xmit_more() }
}
