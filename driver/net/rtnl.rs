// SPDX-License-Identifier: GPL-2.0

//! [`LinkKind`]: the `xpu` rtnetlink link kind (`ip link add NAME type xpu`).

use kernel::{error::to_result, prelude::*};

use super::sys;

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
