// SPDX-License-Identifier: GPL-2.0

//! [`LinkKind`]: the `xpu` rtnetlink link kind (`ip link add NAME type xpu`), the
//! configuration a new link comes with ([`LinkData`]), and the RTNL lock.

use core::marker::PhantomData;

use kernel::{bindings, error::to_result, prelude::*};

use super::{genl::Attr, sys};
use crate::link_uapi::attr;

/// A new link's `IFLA_INFO_DATA`, parsed by rtnetlink with the kind's policy: what `ip link
/// add NAME type xpu ...` asked for.
///
/// # Invariants
///
/// `data` is null (no `IFLA_INFO_DATA`) or has `attr::MAX + 1` entries, each null or an
/// attribute of the request, valid for `'a`.
pub(crate) struct LinkData<'a> {
    data: *const *mut bindings::nlattr,
    _request: PhantomData<&'a ()>,
}

impl<'a> LinkData<'a> {
    /// # Safety
    ///
    /// `data` is the `data` argument of a `rtnl_link_ops` op of the xpu kind (whose `maxtype`
    /// is `attr::MAX`), valid for `'a`.
    pub(super) unsafe fn from_raw(data: *const *mut bindings::nlattr) -> Self {
        // INVARIANT: per the function's contract.
        Self {
            data,
            _request: PhantomData,
        }
    }

    /// Attribute `t` (an `IFLA_XPU_*`), if given.
    pub(crate) fn attr(&self, t: u16) -> Option<Attr<'a>> {
        if self.data.is_null() || t > attr::MAX {
            return None;
        }
        // SAFETY: `data` has `attr::MAX + 1` entries (type invariant) and `t <= attr::MAX`.
        let nla = unsafe { *self.data.add(usize::from(t)) };
        // SAFETY: null or an attribute of the request, valid for `'a` (type invariant).
        unsafe { Attr::from_raw(nla) }
    }

    /// The value of `t`, a `u32` attribute (the policy checked its length), if given.
    pub(crate) fn u32(&self, t: u16) -> Option<u32> {
        self.attr(t)?.u32()
    }
}

/// Proof that the caller holds RTNL, the lock under which the core runs `ndo_open`,
/// `ndo_stop` and link changes; only the trampolines of such ops create one.
pub(crate) struct Rtnl(());

impl Rtnl {
    /// # Safety
    ///
    /// The caller must hold RTNL for as long as the token lives.
    pub(super) unsafe fn assume_held() -> Self {
        Self(())
    }
}

/// RTNL, held from [`RtnlGuard::lock`] until the guard is dropped: for the family's requests
/// (driver/net/split_nl.rs), whose handlers the genetlink core calls without it.
pub(crate) struct RtnlGuard(Rtnl);

impl RtnlGuard {
    pub(crate) fn lock() -> Self {
        // SAFETY: process context (a netlink request); RTNL is not held by this task.
        unsafe { sys::rtnl_lock() };
        // SAFETY: taken just above, released only in `drop`, after the token is gone.
        Self(unsafe { Rtnl::assume_held() })
    }

    /// The proof that RTNL is held, for as long as the guard lives.
    pub(crate) fn held(&self) -> &Rtnl {
        &self.0
    }

    /// The same proof, exclusive: for what frees objects that others borrow under RTNL.
    pub(crate) fn held_mut(&mut self) -> &mut Rtnl {
        &mut self.0
    }
}

impl Drop for RtnlGuard {
    fn drop(&mut self) {
        // SAFETY: taken in `lock`.
        unsafe { sys::rtnl_unlock() }
    }
}

/// The registered `xpu` link kind.
///
/// Dropping it deletes every xpu link in every network namespace and unregisters the kind, so
/// the module can unload while links exist (as veth and netkit do).
pub(crate) struct LinkKind(());

impl LinkKind {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: `xpu_link_register` has no preconditions; the ops table it registers is a
        // static of this module, unregistered in `drop` before the module goes away.
        to_result(unsafe { sys::xpu_link_register() })?;
        Ok(Self(()))
    }
}

impl Drop for LinkKind {
    fn drop(&mut self) {
        // SAFETY: the kind was registered in `register` (an object exists only then).
        unsafe { sys::xpu_link_unregister() }
    }
}
