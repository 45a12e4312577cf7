// SPDX-License-Identifier: GPL-2.0

//! [`SkBuff`]: a packet owned by the driver.

use core::ptr::NonNull;

use kernel::bindings;

use super::sys;

/// A socket buffer the core handed to the driver (in `ndo_start_xmit`).
///
/// Dropping it frees the packet and counts it as a drop in the kernel's drop monitor, so a
/// packet the driver forgets is never leaked.
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
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: we own the reference (type invariant) and give it up here.
        unsafe { sys::xpu_skb_drop(self.0.as_ptr()) }
    }
}
