// SPDX-License-Identifier: GPL-2.0

//! [`Half`]: one half of a split namespace as its network namespace holds it. It joins the
//! logic's half ([`SplitOps`]) to the kernel: the xpu link it is split over (held), the tap on
//! the namespace's loopback device and the edge's netfilter hooks (split_rx.rs's, which steer
//! packets across), the ephemeral range it replaced, and the work that sends snapshots and
//! notifications from process context.
//!
//! A namespace has at most one half, in its slot (xpu_split.c's `net_generic` entry): set and
//! cleared under RTNL, read under RCU by the packet paths. The half is freed after the slot is
//! cleared, the tap and hooks are gone and an RCU grace period has passed.

use core::{
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};

use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
    types::Opaque,
};

use super::{
    genl::Net,
    netfilter::Hooks,
    rtnl::{Rtnl, RtnlGuard},
    skb::SkBuff,
    split::{Refusal, SplitOps},
    split_nl, split_rx, sys,
};
use crate::port_sync::{ETH_P_XPU_LOCAL, ETH_P_XPU_SYNC};

/// One half of a split namespace, as the namespace holds it.
///
/// # Invariants
///
/// Once [`Half::attach`] published it (until [`Half::destroy`]): `net` is the live namespace
/// whose slot points at it; `dev` is `net`'s xpu link, held (`dev_hold`); `lo` is `net`'s
/// loopback device, whose rx_handler is [`split_rx::tap`] with this half as its data; `hooks`
/// is what [`Hooks::into_raw`] gave of this half's hooks, registered in `net`; `work` was
/// initialised with [`work_fn`] for the same `S` and `N`. The half does not move (it is pinned).
#[pin_data]
pub(super) struct Half<S, const N: usize> {
    pub(super) logic: Arc<S>,
    net: *mut bindings::net,
    pub(super) dev: *mut bindings::net_device,
    pub(super) lo: *mut bindings::net_device,
    /// Set once hooked, while the tap may already run (which reads nothing of it).
    hooks: AtomicPtr<[sys::nf_hook_ops; 2]>,
    saved_range: u32,
    /// What the work is to do: send our snapshot; send it and ask for the peer's; tell the
    /// monitor group that the split namespace changed.
    send: Atomic<bool>,
    ask: Atomic<bool>,
    notify: Atomic<bool>,
    #[pin]
    work: Opaque<bindings::work_struct>,
}

/// What [`Half::later`] asks of the work.
#[derive(Clone, Copy)]
pub(super) enum Later {
    /// Send our snapshot.
    Send,
    /// Send it, and ask for the peer's.
    Ask,
    /// Tell the monitor group the split namespace changed.
    Notify,
}

impl<S: SplitOps<N>, const N: usize> Half<S, N> {
    /// The half `net` is split into, for as long as RTNL is held: halves are freed under it,
    /// by callers that take the token mutably (netlink) or that hold no borrow (events).
    pub(super) fn of_net<'a>(net: Net, _rtnl: &'a Rtnl) -> Option<&'a Self> {
        // SAFETY: `net` is live; RTNL is held (the token).
        let h = unsafe { sys::xpu_split_half(net.as_ptr()) };
        // SAFETY: a half in the slot is live until destroyed under RTNL, which the token's
        // borrow excludes (see above).
        unsafe { h.cast::<Self>().as_ref() }
    }

    /// The half whose link is `dev`, for a packet `dev` received.
    ///
    /// # Safety
    ///
    /// `dev` is live; the caller is in an RCU read-side section (a receive path) for `'a`.
    pub(super) unsafe fn of_link<'a>(dev: *mut bindings::net_device) -> Option<&'a Self> {
        // SAFETY: `dev` is live (the function's contract), so is its namespace; the slot is
        // read under RCU.
        let h = unsafe { sys::xpu_split_half(sys::xpu_dev_net(dev)) };
        // SAFETY: a half read from the slot under RCU is freed only after a grace period
        // ([`Half::destroy`]).
        let h = unsafe { h.cast::<Self>().as_ref() }?;
        (h.dev == dev).then_some(h)
    }

    /// The ifindex of the half's link.
    pub(super) fn ifindex(&self) -> u32 {
        // SAFETY: `dev` is held (type invariant).
        u32::try_from(unsafe { sys::xpu_dev_ifindex(self.dev) }).unwrap_or(0)
    }

    /// Splits `net` over its xpu link `dev` with `logic`: taps lo, hooks the edge, applies the
    /// half's ephemeral range, and asks the peer for its snapshot. `net` has no half yet (the
    /// caller checked, under the same RTNL).
    ///
    /// # Safety
    ///
    /// `dev` is `net`'s xpu link, live (RTNL is held).
    pub(super) unsafe fn attach(
        net: Net,
        dev: *mut bindings::net_device,
        logic: Arc<S>,
        _rtnl: &mut Rtnl,
    ) -> Result<(), Refusal> {
        let (lo_port, hi_port) = logic.range();
        let net = net.as_ptr();
        // SAFETY: `net` is live.
        let (lo, saved_range) =
            unsafe { (sys::xpu_net_loopback(net), sys::xpu_net_port_range(net)) };
        let oom = Refusal {
            err: ENOMEM,
            msg: c"out of memory",
        };
        let half = KBox::pin_init(
            pin_init!(Self {
                logic,
                net,
                dev,
                lo,
                hooks: AtomicPtr::new(ptr::null_mut()),
                saved_range,
                send: Atomic::new(false),
                ask: Atomic::new(false),
                notify: Atomic::new(false),
                // SAFETY: `w` is the field's memory, initialised here once, before any use; the
                // name and the lock class key are static.
                work <- Opaque::ffi_init(|w| unsafe {
                    bindings::init_work_with_key(
                        w,
                        Some(work_fn::<S, N>),
                        false,
                        c"xpu_split_work".as_char_ptr(),
                        kernel::static_lock_class!().as_ptr(),
                    )
                }),
            }),
            GFP_KERNEL,
        )
        .map_err(|_| oom)?;
        // SAFETY: the half is never moved out of its box: it is freed as a box in `destroy`.
        let h = KBox::into_raw(unsafe { Pin::into_inner_unchecked(half) });

        // SAFETY: `lo` is live; `h` stays valid until `destroy` unregisters the handler.
        let err =
            unsafe { sys::netdev_rx_handler_register(lo, Some(split_rx::tap::<S, N>), h.cast()) };
        if err != 0 {
            // SAFETY: `h` came from `into_raw` above and nothing else holds it.
            drop(unsafe { KBox::from_raw(h) });
            return Err(Refusal {
                err: Error::from_errno(err),
                msg: c"another module taps this namespace's loopback device",
            });
        }
        // SAFETY: `net` is live; `h` stays valid until `destroy` unhooks.
        let hooks = unsafe { Hooks::register(net, Some(split_rx::edge_in::<S, N>), h.cast()) };
        let hooks = match hooks {
            Ok(hooks) => hooks.into_raw(),
            Err(err) => {
                // SAFETY: registered above; `h` is not published, so freeing it is ours.
                unsafe {
                    sys::netdev_rx_handler_unregister(lo);
                    drop(KBox::from_raw(h));
                }
                return Err(Refusal {
                    err,
                    msg: c"cannot hook this namespace's local input",
                });
            }
        };
        // SAFETY: `h` is valid until `destroy`.
        let half = unsafe { &*h };
        half.hooks.store(hooks, Ordering::Relaxed);
        // SAFETY: `dev` is live (RTNL is held), `net` too; `h` is complete and stays valid.
        unsafe {
            sys::xpu_dev_hold(dev);
            sys::xpu_net_set_port_range(net, u32::from(hi_port) << 16 | u32::from(lo_port));
            // INVARIANT: everything the type promises holds from here on.
            sys::xpu_split_set_half(net, h.cast());
        }
        half.later(Later::Ask);
        Ok(())
    }

    /// Unsplits `net`, saying goodbye to the peer; false if it was not split.
    pub(super) fn detach(net: Net, _rtnl: &mut Rtnl) -> bool {
        // SAFETY: `net` is live; RTNL is held (the token).
        let h = unsafe { sys::xpu_split_half(net.as_ptr()) };
        if h.is_null() {
            return false;
        }
        // SAFETY: the slot's half, under RTNL; the exclusive token means no borrow of it lives.
        unsafe { Self::destroy(h.cast(), true) };
        true
    }

    /// Unsplits: nothing is steered or delivered any more once it returns, and the half is
    /// freed. `bye` tells the peer (a half whose link is going away cannot).
    ///
    /// # Safety
    ///
    /// `this` is the half in its namespace's slot; RTNL is held; nothing borrows the half.
    unsafe fn destroy(this: *mut Self, bye: bool) {
        // SAFETY: valid per the function's contract.
        let h = unsafe { &*this };
        // SAFETY: stored once by `attach`, from `Hooks::into_raw`; taken back only here.
        let hooks = unsafe { Hooks::from_raw(h.hooks.load(Ordering::Relaxed)) };
        // The order: readers stop finding the half, the hooks and the tap go, the range comes
        // back, a grace period covers whatever still runs them or the receive handlers that
        // read the slot (and readers of the hook lists, before the hooks' ops are freed), then
        // the work, which nothing can queue any more, is cancelled.
        // SAFETY: the type invariants; RTNL is held.
        unsafe {
            sys::xpu_split_set_half(h.net, ptr::null_mut());
            hooks.unregister(h.net);
            sys::netdev_rx_handler_unregister(h.lo);
            sys::xpu_net_set_port_range(h.net, h.saved_range);
            sys::synchronize_net();
            hooks.free();
            bindings::cancel_work_sync(h.work.get());
        }
        if bye {
            h.send_snapshot(false, false);
        }
        h.notify_monitor(true);
        // SAFETY: held since `attach` (type invariant); nothing uses `dev` after this.
        unsafe { sys::xpu_dev_put(h.dev) };
        // SAFETY: `this` came from `KBox::into_raw` in `attach`, and no CPU can reach it now.
        drop(unsafe { KBox::from_raw(this) });
    }

    /// Has the work do `what`, in process context.
    pub(super) fn later(&self, what: Later) {
        let flag = match what {
            Later::Send => &self.send,
            Later::Ask => &self.ask,
            Later::Notify => &self.notify,
        };
        // Queueing orders the store before the work's run.
        flag.store(true, Relaxed);
        // SAFETY: `work` was initialised (type invariant) and lives until `destroy` cancels it.
        unsafe { sys::xpu_work_schedule(self.work.get()) };
    }

    /// Sends our snapshot (`split` false says goodbye; `ask` asks for the peer's). Process
    /// context.
    fn send_snapshot(&self, split: bool, ask: bool) {
        // SAFETY: `dev` is held (type invariant).
        // Without a carrier it would be dropped; the carrier's return sends one.
        if !unsafe { sys::xpu_dev_link_ok(self.dev) } {
            return;
        }
        // SAFETY: `dev` is held.
        let skb = unsafe {
            SkBuff::alloc(self.dev, S::MSG_LEN, |out| {
                self.logic.snapshot(out, split, ask)
            })
        };
        if let Ok(skb) = skb {
            // SAFETY: `dev` is held.
            unsafe { skb.send(self.dev, ETH_P_XPU_SYNC) };
        }
    }

    /// Sends `skb`, a packet of this half for a port the other half owns, across the link as
    /// a frame of `ETH_P_XPU_LOCAL`, and counts it.
    pub(super) fn cross(&self, skb: SkBuff) {
        // SAFETY: `dev` is held (type invariant).
        if unsafe { skb.send(self.dev, ETH_P_XPU_LOCAL) } {
            self.logic.count(false);
        }
    }

    fn notify_monitor(&self, deleted: bool) {
        // SAFETY: `net` is live while the half exists (type invariant).
        if let Some(net) = unsafe { Net::from_raw(self.net) } {
            split_nl::notify_split(net, &*self.logic, self.ifindex(), deleted);
        }
    }

    /// Logs `msg` about the link, rate-limited.
    pub(super) fn warn(&self, msg: &'static CStr) {
        // SAFETY: `dev` is held (type invariant); `msg` is a C string.
        unsafe { sys::xpu_dev_warn(self.dev, msg.as_char_ptr()) }
    }
}

/// The half's work: sends what [`Half::later`] asked for.
///
/// # Safety
///
/// `work` is the `work` field of a live [`Half`] of these `S` and `N`.
unsafe extern "C" fn work_fn<S: SplitOps<N>, const N: usize>(work: *mut bindings::work_struct) {
    // SAFETY: per the function's contract; `Opaque` is `repr(transparent)`.
    let h = unsafe {
        &*kernel::container_of!(work.cast::<Opaque<bindings::work_struct>>(), Half<S, N>, work)
    };
    let ask = h.ask.xchg(false, Relaxed);
    if h.send.xchg(false, Relaxed) || ask {
        h.send_snapshot(true, ask);
    }
    if h.notify.xchg(false, Relaxed) {
        h.notify_monitor(false);
    }
}

/// An xpu link's events (under RTNL): `gone` if it is being unregistered (deleted, or moved
/// to another namespace), else it went up or down or its carrier changed.
///
/// # Safety
///
/// `dev` is a live xpu link; RTNL is held.
pub(super) unsafe extern "C" fn dev_event<S: SplitOps<N>, const N: usize>(
    dev: *mut bindings::net_device,
    gone: bool,
) {
    // SAFETY: `dev` is live, so is its namespace; RTNL is held.
    let h = unsafe { sys::xpu_split_half(sys::xpu_dev_net(dev)) }.cast::<Half<S, N>>();
    // SAFETY: the slot's half is live under RTNL.
    let Some(half) = (unsafe { h.as_ref() }) else {
        return;
    };
    if half.dev != dev {
        return;
    }
    if gone {
        // SAFETY: the slot's half; RTNL is held; notifier callers hold no borrow of it.
        unsafe { Half::destroy(h, false) };
        return;
    }
    // SAFETY: `dev` is live.
    if unsafe { sys::xpu_dev_link_ok(dev) } {
        half.later(Later::Ask);
    } else if half.logic.peer_lost() {
        half.later(Later::Notify);
    }
}

/// A namespace going away: unsplit it, saying goodbye.
///
/// # Safety
///
/// `net` is a namespace being dismantled (pernet exit): live, in process context.
pub(super) unsafe extern "C" fn net_exit<S: SplitOps<N>, const N: usize>(net: *mut bindings::net) {
    // SAFETY: per the function's contract.
    let Some(net) = (unsafe { Net::from_raw(net) }) else {
        return;
    };
    let mut rtnl = RtnlGuard::lock();
    Half::<S, N>::detach(net, rtnl.held_mut());
}

/// The half as split_rx.rs's handlers get it back from their `void *`.
///
/// # Safety
///
/// `p` is a half's pointer handed to the tap or the hooks by [`Half::attach`], during the
/// handler's run (the half outlives it: [`Half::destroy`] unregisters them first).
pub(super) unsafe fn from_handler<'a, S: SplitOps<N>, const N: usize>(
    p: *mut c_void,
) -> Option<&'a Half<S, N>> {
    // SAFETY: per the function's contract.
    NonNull::new(p.cast::<Half<S, N>>()).map(|h| unsafe { h.as_ref() })
}
