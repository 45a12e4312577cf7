// SPDX-License-Identifier: GPL-2.0

//! [`Device`]: a `struct net_device` of the xpu link kind.

use kernel::{bindings, ffi::c_void, types::Opaque};

use super::{rtnl::Rtnl, sys};

/// A network device created by xpu's `rtnl_link_ops`.
///
/// # Invariants
///
/// The wrapped `net_device` is alive for the lifetime of the reference, and it was allocated
/// through `xpu_link_ops`, so its private area is a `struct xpu_priv` (driver/xpu_shim.c).
#[repr(transparent)]
pub(crate) struct Device(Opaque<bindings::net_device>);

impl Device {
    /// Borrows a C `net_device` as a [`Device`].
    ///
    /// # Safety
    ///
    /// `ptr` must point to a `net_device` allocated through `xpu_link_ops` that stays alive
    /// for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::net_device) -> &'a Self {
        // SAFETY: `Device` is `repr(transparent)` over `Opaque<net_device>`, which has the
        // layout of `net_device`; the caller guarantees that `ptr` is valid for `'a` and is an
        // xpu device, which is the type invariant.
        unsafe { &*ptr.cast::<Self>() }
    }

    #[inline]
    pub(super) fn as_raw(&self) -> *mut bindings::net_device {
        self.0.get()
    }

    /// The pointer stored in the private area by [`Device::set_private`], or null.
    pub(super) fn private(&self) -> *mut c_void {
        // SAFETY: by the type invariant the device is alive and its private area is a
        // `struct xpu_priv`, which is what `xpu_priv_rs` reads.
        unsafe { sys::xpu_priv_rs(self.as_raw()) }
    }

    pub(super) fn set_private(&self, ptr: *mut c_void) {
        // SAFETY: as in `private`; the core serialises ndo_init and priv_destructor, the only
        // callers, against every other op of this device.
        unsafe { sys::xpu_priv_set_rs(self.as_raw(), ptr) }
    }

    /// The other end of the pair, unless the pair is being deleted.
    pub(crate) fn peer<'a>(&'a self, _rtnl: &'a Rtnl) -> Option<&'a Device> {
        // SAFETY: the device is alive (type invariant); RTNL is held (the token proves it),
        // which is what `rtnl_dereference` in `xpu_dev_peer_rtnl` requires.
        let peer = unsafe { sys::xpu_dev_peer_rtnl(self.as_raw()) };
        if peer.is_null() {
            return None;
        }
        // SAFETY: the peer is an xpu device (pairs are made by `xpu_newlink` only). This device
        // holds a reference on it until `xpu_dellink` clears the pointer, which happens under
        // RTNL, which the caller holds for `'a`.
        Some(unsafe { Device::from_raw(peer) })
    }

    /// Whether the administrator set the device up (`IFF_UP`).
    pub(crate) fn is_up(&self) -> bool {
        // SAFETY: the device is alive (type invariant); reading its flags is a plain load.
        unsafe { sys::xpu_dev_is_up(self.as_raw()) }
    }

    pub(crate) fn carrier_on(&self) {
        // SAFETY: the device is alive (type invariant); `netif_carrier_on` may be called from
        // any context.
        unsafe { sys::xpu_dev_carrier_on(self.as_raw()) }
    }

    /// Counts a packet dropped on transmit (`tx_dropped` in `ip -s link`).
    pub(crate) fn tx_dropped_inc(&self) {
        // SAFETY: the device is alive (type invariant); the core counter is per-CPU and safe
        // from any context.
        unsafe { sys::xpu_dev_tx_dropped_inc(self.as_raw()) }
    }

    pub(crate) fn carrier_off(&self) {
        // SAFETY: the device is alive (type invariant); `netif_carrier_off` may be called
        // from any context.
        unsafe { sys::xpu_dev_carrier_off(self.as_raw()) }
    }
}
