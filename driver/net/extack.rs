// SPDX-License-Identifier: GPL-2.0

//! [`Refusal`]: a request turned down, and how netlink tells the user why (the extack).

use kernel::{bindings, ffi::c_int, prelude::*};

use super::{genl::Attr, sys};

/// A request refused: the errno and the extack message.
pub(crate) struct Refusal {
    pub(crate) err: Error,
    pub(crate) msg: &'static CStr,
}

impl Refusal {
    /// Puts the message in `extack` and returns the negative errno, for a C op to return.
    ///
    /// # Safety
    ///
    /// `extack` is null or the live extack of the request being handled.
    pub(super) unsafe fn report(&self, extack: *mut bindings::netlink_ext_ack) -> c_int {
        // SAFETY: per the function's contract.
        unsafe { self.report_at(extack, None) }
    }

    /// As [`Refusal::report`], pointing at `attr`, the attribute at fault, if any.
    ///
    /// # Safety
    ///
    /// `extack` is null or the live extack of the request being handled, whose attribute
    /// `attr` is.
    pub(super) unsafe fn report_at(
        &self,
        extack: *mut bindings::netlink_ext_ack,
        attr: Option<&Attr<'_>>,
    ) -> c_int {
        let attr = attr.map_or(core::ptr::null(), Attr::as_ptr);
        // SAFETY: `extack` is null or live, `attr` null or the request's (function safety
        // requirement); the message is static, as the extack keeps a pointer to it.
        unsafe { sys::xpu_extack(extack, attr, self.msg.as_char_ptr()) };
        self.err.to_errno()
    }
}
