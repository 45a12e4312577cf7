// SPDX-License-Identifier: GPL-2.0

//! [`LinkKind`]: the `xpu` rtnetlink link kind (`ip link add NAME type xpu`).

use kernel::{error::to_result, prelude::*};

use super::sys;

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
