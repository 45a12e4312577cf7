// SPDX-License-Identifier: GPL-2.0

//! [`Device`]: a `struct net_device` of the xpu link kind.

use kernel::{
    bindings,
    cpu::{nr_cpu_ids, CpuId},
    cpumask::CpumaskVar,
    error::to_result,
    ffi::c_void,
    prelude::*,
    sync::atomic::Relaxed,
    types::Opaque,
};

use super::{dev_priv::Common, inject, rtnl::Rtnl, rxq::Moderation, sys};
use crate::shm::RSS_KEY_SIZE;

/// The host's RSS key (random, one per boot, as every NIC driver seeds its own from it).
pub(crate) fn rss_key() -> [u8; RSS_KEY_SIZE] {
    let mut key = [0; RSS_KEY_SIZE];
    // SAFETY: `key` is writable for its length.
    unsafe { sys::netdev_rss_key_fill(key.as_mut_ptr().cast(), key.len()) };
    key
}

/// CPUs online now.
pub(crate) fn online_cpus() -> u32 {
    // SAFETY: no preconditions; a read of the kernel's count.
    unsafe { sys::xpu_num_online_cpus() }
}

/// A network device created by xpu's `rtnl_link_ops` (pair mode) or by its PCI driver.
///
/// # Invariants
///
/// The wrapped `net_device` is alive for the lifetime of the reference, and it was allocated
/// by the C shim (`xpu_link_ops` or `xpu_pci_netdev_create`), so its private area is a
/// `struct xpu_priv` (driver/xpu_shim.c).
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

    /// What the wrapper layer keeps for the device: its queues' moderation and its control
    /// work (none before `ndo_init` put the private state in place, or after it was freed).
    fn common(&self) -> Option<&Common> {
        let ptr = self.private();
        // SAFETY: `ops::dev_init` stored a `DevPriv`, which is `repr(C)` with its `Common`
        // first, and `ops::dev_free` frees it only after the last op has returned; so a
        // non-null pointer is a live `Common` for as long as the device is borrowed.
        unsafe { ptr.cast::<Common>().as_ref() }
    }

    pub(super) fn set_private(&self, ptr: *mut c_void) {
        // SAFETY: as in `private`; the core serialises ndo_init and priv_destructor, the only
        // callers, against every other op of this device.
        unsafe { sys::xpu_priv_set_rs(self.as_raw(), ptr) }
    }

    /// Whether every NAPI of the device busy-polls in a thread of its own (ethtool's
    /// `busy-poll` flag).
    pub(crate) fn busy_poll(&self) -> bool {
        // SAFETY: the device is alive (type invariant).
        unsafe { sys::xpu_dev_busy_poll(self.as_raw()) }
    }

    /// Turns threaded busy polling of every NAPI of the device on or off.
    pub(crate) fn set_busy_poll(&self, on: bool) -> Result {
        // SAFETY: the device is alive (type invariant); the helper takes the device's lock.
        to_result(unsafe { sys::xpu_dev_set_busy_poll(self.as_raw(), on) })
    }

    /// The other end of the pair, unless the pair is being deleted.
    pub(crate) fn peer<'a>(&'a self, _rtnl: &'a Rtnl) -> Option<&'a Device> {
        // SAFETY: the device is alive (type invariant); RTNL is held (the token proves it),
        // which is what `rtnl_dereference` in `xpu_dev_peer_rtnl` requires.
        let peer = unsafe { sys::xpu_dev_peer_rtnl(self.as_raw()) };
        if peer.is_null() {
            return None;
        }
        // SAFETY: the peer is an xpu device (pairs are made by `rtnl::newlink` only). This device
        // holds a reference on it until `xpu_dellink` clears the pointer, which happens under
        // RTNL, which the caller holds for `'a`.
        Some(unsafe { Device::from_raw(peer) })
    }

    /// Whether the administrator set the device up (`IFF_UP`).
    pub(crate) fn is_up(&self) -> bool {
        // SAFETY: the device is alive (type invariant).
        unsafe { sys::netif_get_flags(self.as_raw()) & bindings::net_device_flags_IFF_UP != 0 }
    }

    pub(crate) fn carrier_on(&self) {
        // SAFETY: the device is alive (type invariant); `netif_carrier_on` may be called from
        // any context.
        unsafe { sys::netif_carrier_on(self.as_raw()) }
    }

    /// Counts a packet dropped before the datapath could (no state yet), in the core's
    /// `tx_dropped`.
    pub(crate) fn tx_dropped_inc(&self) {
        // SAFETY: the device is alive (type invariant); the core counter is per-CPU and safe
        // from any context.
        unsafe { sys::xpu_dev_drop_inc(self.as_raw(), true) }
    }

    /// The MTU.
    pub(crate) fn mtu(&self) -> u32 {
        // SAFETY: the device is alive (type invariant); a plain load.
        unsafe { sys::xpu_dev_mtu(self.as_raw()) }
    }

    /// Queues in use (TX and RX alike).
    pub(crate) fn real_num_queues(&self) -> u32 {
        // SAFETY: the device is alive (type invariant); a plain load.
        unsafe { sys::xpu_dev_real_num_queues(self.as_raw()) }
    }

    /// Uses `n` of the device's queues, TX and RX alike (`ethtool -L`, or a new pair's count),
    /// each CPU sending on queue `cpu % n` (its XPS map).
    pub(crate) fn set_queues(&self, n: u32, _rtnl: &Rtnl) -> Result {
        // SAFETY: the device is alive (type invariant); RTNL is held (the token proves it), as
        // `netif_set_real_num_queues` requires, which refuses an `n` above the allocation.
        to_result(unsafe { sys::netif_set_real_num_queues(self.as_raw(), n, n) })?;
        self.set_xps(n);
        Ok(())
    }

    /// CPU `i` transmits on queue `i % n`, as virtio-net sets it up: no flow hash per packet (a
    /// UDP socket without a cached route hashes every one: in a small-packet ping-pong, about a
    /// quarter of what xpu cost over veth), and one CPU's packets stay in order on one ring.
    /// The user can change it in sysfs. Best effort: without a map the core hashes, as before.
    fn set_xps(&self, n: u32) {
        let Ok(mut mask) = CpumaskVar::new_zero(GFP_KERNEL) else {
            return;
        };
        for q in 0..n.min(u16::MAX.into()) {
            for id in (0..nr_cpu_ids()).filter_map(CpuId::from_u32) {
                if id.as_u32() % n == q {
                    mask.set(id);
                } else {
                    mask.clear(id);
                }
            }
            // SAFETY: the device is alive (type invariant), `q` is one of its `n` queues
            // (RTNL, held by the caller, keeps the count); the mask is valid for the call.
            // CAST: `q < u16::MAX`.
            unsafe { sys::netif_set_xps_queue(self.as_raw(), mask.as_raw(), q as u16) };
        }
    }

    /// Whether the administrator set the RSS indirection table (`ethtool -X`), which the
    /// driver then keeps when the queue count changes (else it spreads the default anew).
    pub(crate) fn rxfh_configured(&self, _rtnl: &Rtnl) -> bool {
        // SAFETY: the device is alive (type invariant); RTNL, held by the caller, orders this
        // against the ethtool core's writes.
        unsafe { sys::netif_is_rxfh_configured(self.as_raw()) }
    }

    /// The most queues the device can use (what it was allocated, TX and RX alike).
    pub(crate) fn alloc_queues(&self) -> u32 {
        // SAFETY: the device is alive (type invariant); plain loads of fields fixed at
        // allocation.
        unsafe { sys::xpu_dev_alloc_queues(self.as_raw()) }
    }

    /// Whether the device is open (`netif_running`).
    pub(crate) fn is_running(&self) -> bool {
        // SAFETY: the device is alive (type invariant); a bit test.
        unsafe { sys::xpu_dev_running(self.as_raw()) }
    }

    /// Sets every RX queue's doorbell moderation (with adaptive-rx off, it waits for a DIM
    /// update in flight, which must not overwrite `m`). RTNL serialises the writers.
    pub(crate) fn set_rx_moderation(&self, m: &Moderation, _rtnl: &Rtnl) {
        for q in self.common().map_or(&[][..], Common::rx_queues) {
            q.set(m);
        }
    }

    /// Enables NAPI on the first `n` RX queues, and polls each once (for what came while
    /// down).
    pub(crate) fn napi_enable(&self, n: u16, _rtnl: &Rtnl) {
        // SAFETY: the device is alive (type invariant); RTNL serialises this against
        // `napi_disable`, the other writer of the NAPI state (ndo_open/ndo_stop); the helper
        // caps `n` at the contexts that exist.
        unsafe { sys::xpu_napi_enable(self.as_raw(), n.into()) }
    }

    /// Disables NAPI (waits for a running poll to finish), then stops what a poll starts:
    /// the queues' timers and DIM's work.
    pub(crate) fn napi_disable(&self, _rtnl: &Rtnl) {
        // SAFETY: as in `napi_enable`.
        let n = unsafe { sys::xpu_napi_disable(self.as_raw()) };
        if n == 0 {
            return;
        }
        // One grace period for the NAPIs' deletion (readers of the NAPI list, busy pollers),
        // which also waits for a poll that completed NAPI but was still re-arming (softirq):
        // after it, nothing starts a queue's timer or DIM's work.
        // SAFETY: process context (RTNL is held).
        unsafe { sys::synchronize_net() };
        let queues = self.common().map_or(&[][..], Common::rx_queues);
        for q in queues.iter().take(n as usize) {
            q.quiesce();
        }
    }

    /// Pair mode's doorbell: schedules the peer's NAPI for queue `q`. Returns whether there
    /// was a peer to ring.
    pub(crate) fn peer_napi_schedule(&self, q: u16) -> bool {
        // SAFETY: the device is alive (type invariant); the helper reads the peer under RCU.
        unsafe { sys::xpu_peer_napi_schedule(self.as_raw(), q.into()) }
    }

    /// Pair mode's "room again" doorbell: wakes the peer's TX queue `q` if it is stopped.
    pub(crate) fn peer_txq_wake(&self, q: u16) {
        // SAFETY: the device is alive (type invariant); the helper reads the peer under RCU
        // and checks `q` against its queue count.
        unsafe { sys::xpu_peer_txq_wake(self.as_raw(), q.into()) }
    }

    /// Runs `f` holding TX queue `q`'s lock (`__netif_tx_lock`, which `ndo_start_xmit`
    /// holds). Only with BH off (a NAPI poll, `ndo_xdp_xmit`), and not holding it already.
    pub(crate) fn txq_locked<R>(&self, q: u16, f: impl FnOnce() -> R) -> R {
        // SAFETY: the device is alive (type invariant); the helper maps `q` to a queue the
        // device has; callers run with BH off and do not hold the lock.
        unsafe { sys::xpu_txq_lock(self.as_raw(), q.into()) };
        let r = f();
        // SAFETY: taken above, on the same queue.
        unsafe { sys::xpu_txq_unlock(self.as_raw(), q.into()) };
        r
    }

    /// Stops TX queue `q` (the ring has no room for another packet).
    pub(crate) fn txq_stop(&self, q: u16) {
        // SAFETY: the device is alive (type invariant); the helper checks `q` against the
        // queues the device has.
        unsafe { sys::xpu_txq_stop(self.as_raw(), q.into()) }
    }

    /// Wakes every TX queue (each then looks at its ring again).
    pub(crate) fn txq_wake_all(&self) {
        // SAFETY: the device is alive (type invariant); waking a queue is safe from any
        // context.
        unsafe { sys::xpu_txq_wake_all(self.as_raw()) }
    }

    /// Restarts TX queue `q` from ndo_start_xmit (room appeared while stopping).
    pub(crate) fn txq_start(&self, q: u16) {
        // SAFETY: as in `txq_stop`.
        unsafe { sys::xpu_txq_start(self.as_raw(), q.into()) }
    }

    pub(crate) fn carrier_off(&self) {
        // SAFETY: the device is alive (type invariant); `netif_carrier_off` may be called
        // from any context.
        unsafe { sys::netif_carrier_off(self.as_raw()) }
    }

    /// PCI mode: wakes TX queue `q` if it is stopped (a doorbell may mean room in its ring).
    pub(crate) fn txq_wake(&self, q: u16) {
        // SAFETY: the device is alive (type invariant); the helper checks `q`.
        unsafe { sys::xpu_txq_wake(self.as_raw(), q.into()) }
    }

    /// Stops every TX queue and waits for a running `ndo_start_xmit` to return.
    pub(crate) fn txq_disable_all(&self, _rtnl: &Rtnl) {
        // SAFETY: the device is alive (type invariant).
        unsafe { sys::xpu_txq_disable_all(self.as_raw()) }
    }

    /// Waits for a grace period of the networking stack (`synchronize_net`): what ran under
    /// RCU or with BH off before it, an `ndo_xdp_xmit` among them, has finished.
    pub(crate) fn synchronize_net(&self, _rtnl: &Rtnl) {
        // SAFETY: process context (RTNL is held).
        unsafe { sys::synchronize_net() };
    }

    /// PCI mode: runs the handshake (`NetdevOps::control`) soon, in process context.
    pub(crate) fn control_schedule(&self) -> bool {
        self.common().is_some_and(Common::ctrl_schedule)
    }

    /// A test's fault (`inject::CTRL_LATE`): queues the control work, which sleeps before it
    /// starts, if it may still be queued.
    pub(super) fn control_schedule_late(&self) {
        if let Some(c) = self.common() {
            inject::CTRL_DELAY.store(c.ctrl_id(), Relaxed);
            if !c.ctrl_schedule() {
                inject::CTRL_DELAY.store(0, Relaxed);
            }
        }
    }

    /// Waits for the control work to finish and keeps it from running again. Without RTNL.
    pub(super) fn control_disable(&self) {
        if let Some(c) = self.common() {
            c.ctrl_disable();
        }
    }
}
