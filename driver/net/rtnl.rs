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
