// SPDX-License-Identifier: GPL-2.0

//! [`XdpFrame`]: a frame an XDP program sends out of an xpu device: XDP_TX from the device's
//! own poll, or a frame redirected to it (`ndo_xdp_xmit`).

use core::{mem::ManuallyDrop, ptr::NonNull};

use super::sys;

/// An `xdp_frame` the driver sends.
///
/// Dropping it returns the frame to its memory model; [`XdpFrame::leave`] leaves it to a
/// sender that frees it itself.
///
/// # Invariants
///
/// `self.0` points to a valid `xdp_frame` owned by this object.
pub(crate) struct XdpFrame(NonNull<sys::xdp_frame>);

impl XdpFrame {
    /// Takes ownership of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid `xdp_frame` whose ownership the caller transfers.
    pub(super) unsafe fn from_raw(ptr: NonNull<sys::xdp_frame>) -> Self {
        // INVARIANT: the caller transfers a valid frame.
        Self(ptr)
    }

    /// Leaves the frame to its sender, which frees it (`ndo_xdp_xmit`'s caller frees the
    /// frames the driver did not take).
    pub(crate) fn leave(self) {
        let _ = ManuallyDrop::new(self);
    }

    /// The frame's bytes, or `None` for a multi-buffer frame (xpu announces no
    /// `NETDEV_XDP_ACT_NDO_XMIT_SG` and makes none, so none should come).
    pub(crate) fn data(&self) -> Option<&[u8]> {
        let mut len = 0;
        // SAFETY: the frame is valid (type invariant); `len` is valid for writes.
        let data = unsafe { sys::xpu_xdp_frame_data(self.0.as_ptr(), &mut len) };
        if data.is_null() {
            return None;
        }
        // SAFETY: a single-buffer frame's `len` bytes at `data` are valid while we own it, and
        // nobody writes them meanwhile.
        Some(unsafe { core::slice::from_raw_parts(data.cast::<u8>(), len as usize) })
    }
}

impl Drop for XdpFrame {
    fn drop(&mut self) {
        // SAFETY: the frame is valid and ours (type invariant); it is not used after this.
        unsafe { sys::xpu_xdp_frame_free(self.0.as_ptr()) }
    }
}
