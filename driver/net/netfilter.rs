// SPDX-License-Identifier: GPL-2.0

//! [`Hooks`]: a pair of netfilter hooks, IPv4 and IPv6, at `LOCAL_IN` of one network namespace,
//! right after the filter table's (so after its PREROUTING, NAT included, and its INPUT
//! filter).

use kernel::{bindings, ffi::c_void, prelude::*};

use super::sys;

/// The registered hooks' ops.
///
/// # Invariants
///
/// `ops` came from `KBox::into_raw` and was registered in `net` by [`Hooks::register`] (or is
/// null, without netfilter); it is freed only by [`Hooks::free`].
pub(crate) struct Hooks {
    ops: *mut [sys::nf_hook_ops; 2],
}

impl Hooks {
    /// Hooks `fn_` with `priv_` at `LOCAL_IN` of `net`, for IPv4 and IPv6.
    ///
    /// # Safety
    ///
    /// `net` is live; `priv_` stays valid for `fn_` until a grace period after
    /// [`Hooks::unregister`] (runs that started before it may still be running).
    #[cfg(CONFIG_NETFILTER)]
    pub(crate) unsafe fn register(
        net: *mut bindings::net,
        fn_: sys::nf_hookfn,
        priv_: *mut c_void,
    ) -> Result<Self> {
        let hook = |pf: u32, priority: i32| {
            // SAFETY: an all-zero `nf_hook_ops` is an empty one, as C's initialisers leave it.
            let mut ops: sys::nf_hook_ops = unsafe { core::mem::zeroed() };
            ops.hook = fn_;
            ops.priv_ = priv_;
            // CAST: `NFPROTO_*` values are below 16.
            ops.pf = pf as u8;
            ops.hooknum = sys::nf_inet_hooks_NF_INET_LOCAL_IN;
            ops.priority = priority + 1;
            ops
        };
        let v4 = hook(
            bindings::NFPROTO_IPV4,
            sys::nf_ip_hook_priorities_NF_IP_PRI_FILTER,
        );
        let v6 = hook(
            bindings::NFPROTO_IPV6,
            sys::nf_ip6_hook_priorities_NF_IP6_PRI_FILTER,
        );
        let ops = KBox::into_raw(KBox::new([v4, v6], GFP_KERNEL)?);
        // SAFETY: `net` is live; `ops` holds two hooks, valid until `free`.
        let err = unsafe { sys::nf_register_net_hooks(net, ops.cast(), 2) };
        if err != 0 {
            // SAFETY: a hook dump may have seen the one registered first; after the grace
            // period nothing does, and `ops` is ours again.
            unsafe {
                sys::synchronize_net();
                drop(KBox::from_raw(ops));
            }
            return Err(Error::from_errno(err));
        }
        // INVARIANT: from `KBox::into_raw`, registered in `net`.
        Ok(Self { ops })
    }

    /// Without netfilter in the kernel, nothing is hooked (and nothing needs to be: no rule can
    /// take a packet).
    ///
    /// # Safety
    ///
    /// None needed; `unsafe` as the other configuration's.
    #[cfg(not(CONFIG_NETFILTER))]
    pub(crate) unsafe fn register(
        _net: *mut bindings::net,
        _fn: sys::nf_hookfn,
        _priv: *mut c_void,
    ) -> Result<Self> {
        Ok(Self {
            ops: core::ptr::null_mut(),
        })
    }

    /// Takes the hooks out of `net`'s hook lists. Runs that started may still be running, and
    /// a hook dump may still read the ops: [`Hooks::free`] them after a grace period.
    ///
    /// # Safety
    ///
    /// `net` is the namespace the hooks were registered in, live.
    pub(crate) unsafe fn unregister(&self, net: *mut bindings::net) {
        #[cfg(CONFIG_NETFILTER)]
        if !self.ops.is_null() {
            // SAFETY: registered in `net` (type invariant and the function's contract).
            unsafe { sys::nf_unregister_net_hooks(net, self.ops.cast(), 2) };
        }
        #[cfg(not(CONFIG_NETFILTER))]
        let _ = net;
    }

    /// Frees the ops.
    ///
    /// # Safety
    ///
    /// The hooks were unregistered, and a grace period passed since.
    pub(crate) unsafe fn free(self) {
        if !self.ops.is_null() {
            // SAFETY: from `KBox::into_raw` (type invariant); nothing reads them any more.
            drop(unsafe { KBox::from_raw(self.ops) });
        }
    }

    /// The ops, to keep where only a pointer fits; [`Hooks::from_raw`] takes them back.
    pub(crate) fn into_raw(self) -> *mut [sys::nf_hook_ops; 2] {
        self.ops
    }

    /// # Safety
    ///
    /// `ops` came from [`Hooks::into_raw`], and this is its only `from_raw`.
    pub(crate) unsafe fn from_raw(ops: *mut [sys::nf_hook_ops; 2]) -> Self {
        // INVARIANT: as when `into_raw` took them (the function's contract).
        Self { ops }
    }

    /// The hook state's receiving device (`state->in`, which `LOCAL_IN` always sets).
    ///
    /// # Safety
    ///
    /// `state` is the state netfilter passed to a hook that is running.
    pub(crate) unsafe fn in_dev(state: *const sys::nf_hook_state) -> *mut bindings::net_device {
        // SAFETY: valid for the hook's run (the function's contract).
        unsafe { (*state).in_ }
    }
}
