// SPDX-License-Identifier: GPL-2.0

//! [`DevPriv`]: what an xpu device's private area points to (`xpu_priv::rs`): the logic's state
//! and what the wrapper layer keeps per device for it: each RX queue's moderation
//! ([`RxQueue`]) and the control work, which runs [`super::ops::NetdevOps::control`] in
//! process context under RTNL. C keeps the NAPI contexts (with each one's IRQ and how many are
//! enabled) and pair mode's peer pointer.

use kernel::{bindings, prelude::*, types::Opaque};

use super::{rxq::RxQueue, sys};
use crate::shm::MAX_QUEUES;

/// What every device has, whatever its logic's state: the part [`super::device::Device`]
/// reaches without knowing the state's type (it comes first in [`DevPriv`], which is
/// `repr(C)`).
///
/// # Invariants
///
/// `ctrl` was initialised with a work function for `dev`, the device whose private area points
/// here, which outlives this. The work is queued only for a registered PCI-mode device, whose
/// owner (`PciNetdev`) disables it before unregistering the device; the queues are quiesced
/// before this is dropped.
#[pin_data]
#[repr(C)]
pub(super) struct Common {
    #[pin]
    rxq: [RxQueue; MAX_QUEUES as usize],
    #[pin]
    ctrl: Opaque<bindings::work_struct>,
    dev: *mut bindings::net_device,
}

/// A device's private state: [`Common`] first, then the logic's.
#[pin_data(PinnedDrop)]
#[repr(C)]
pub(super) struct DevPriv<S> {
    #[pin]
    pub(super) common: Common,
    pub(super) state: Pin<KBox<S>>,
}

impl<S> DevPriv<S> {
    /// The private state of `dev`, with the logic's `state` and the control work `ctrl`.
    ///
    /// # Safety
    ///
    /// `dev` is a live xpu device past `ndo_init`'s C part (its NAPI contexts exist), which
    /// will own the result, and `ctrl` a work function that may run for it.
    pub(super) unsafe fn new(
        dev: *mut bindings::net_device,
        state: Pin<KBox<S>>,
        ctrl: unsafe extern "C" fn(*mut bindings::work_struct),
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            common <- pin_init!(Common {
                rxq <- pin_init::pin_init_array_from_fn(|q| {
                    // CAST: `q` < MAX_QUEUES, a u16.
                    // SAFETY: the device's NAPI context `q` exists for the device's lifetime,
                    // and the device quiesces the queues before freeing this (`Common`'s
                    // invariant).
                    unsafe { RxQueue::new(sys::xpu_dev_napi(dev, q as u32)) }
                }),
                // SAFETY: `w` is the field's memory, initialised here once, before any use; the
                // name is static and the lock class key too (one class for every device's
                // control work, apart from other works: it takes RTNL).
                ctrl <- Opaque::ffi_init(|w| unsafe {
                    bindings::init_work_with_key(
                        w,
                        Some(ctrl),
                        false,
                        c"xpu_ctrl_work".as_char_ptr(),
                        kernel::static_lock_class!().as_ptr(),
                    )
                }),
                dev,
            }),
            state,
        })
    }
}

impl Common {
    /// The device this belongs to.
    pub(super) fn dev(&self) -> *mut bindings::net_device {
        self.dev
    }

    /// RX queue `q`'s moderation.
    pub(super) fn rxq(&self, q: u16) -> Option<&RxQueue> {
        self.rxq.get(usize::from(q))
    }

    /// Every RX queue's moderation.
    pub(super) fn rx_queues(&self) -> &[RxQueue] {
        &self.rxq
    }

    /// Queues the control work (any context); a no-op once [`Common::ctrl_disable`] ran.
    /// Returns whether it was queued now.
    pub(super) fn ctrl_schedule(&self) -> bool {
        // SAFETY: the work was initialised (type invariant) and outlives every caller.
        unsafe { sys::xpu_work_schedule(self.ctrl.get()) }
    }

    /// The control work's identity: its address, as its function receives it.
    pub(super) fn ctrl_id(&self) -> usize {
        self.ctrl.get() as usize
    }

    /// Waits for a control work in progress and makes every later [`Common::ctrl_schedule`]
    /// a no-op. Process context, without RTNL (the work takes it).
    pub(super) fn ctrl_disable(&self) {
        // SAFETY: the work was initialised (type invariant).
        unsafe { bindings::disable_work_sync(self.ctrl.get()) };
    }

    /// The work's owner, from the work.
    ///
    /// # Safety
    ///
    /// `work` is the `ctrl` of a live [`Common`].
    pub(super) unsafe fn from_ctrl<'a>(work: *mut bindings::work_struct) -> &'a Self {
        // SAFETY: `work` is the `ctrl` field of a live `Common` (function safety requirement).
        unsafe {
            &*kernel::container_of!(work.cast::<Opaque<bindings::work_struct>>(), Common, ctrl)
        }
    }
}

#[pinned_drop]
impl<S> PinnedDrop for DevPriv<S> {
    fn drop(self: Pin<&mut Self>) {
        // Nothing may run on the queues or the work once they are freed: the device is
        // unregistered (its NAPIs disabled, so no poll starts a timer or DIM), and PCI mode
        // disabled the control work before unregistering (`PciNetdev`'s drop); this waits
        // for the rest.
        for q in self.common.rx_queues() {
            q.quiesce();
        }
    }
}
