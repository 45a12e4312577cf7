// SPDX-License-Identifier: GPL-2.0

//! The xpu link: the virtual NIC behind `ip link add NAME type xpu`.
//!
//! In pair mode (both ends in one kernel, like veth) `ip link add` creates the device and its
//! peer; deleting either deletes both, and the carrier is on only while both ends are up.
//! The datapath is not there yet: the device drops and counts what it is asked to send.

#![deny(unsafe_code)]

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

use crate::net::{
    device::Device,
    ops::{NetdevOps, TxResult},
    rtnl::Rtnl,
    skb::SkBuff,
};

/// The xpu link kind's netdev operations.
pub(crate) struct Xpu;

/// Per-device state of an xpu link.
pub(crate) struct LinkState {
    /// Descriptors per ring; set at creation, later by `ethtool -G`.
    ring_size: Atomic<u32>,
}

impl NetdevOps for Xpu {
    type State = LinkState;

    fn init(_dev: &Device) -> Result<Pin<KBox<LinkState>>> {
        Ok(KBox::pin(
            LinkState {
                ring_size: Atomic::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn open(dev: &Device, _state: &LinkState, rtnl: &Rtnl) -> Result {
        // The pair is being deleted: nothing to talk to.
        let peer = dev.peer(rtnl).ok_or(ENOTCONN)?;
        if peer.is_up() {
            dev.carrier_on();
            peer.carrier_on();
        }
        Ok(())
    }

    fn stop(dev: &Device, _state: &LinkState, rtnl: &Rtnl) -> Result {
        dev.carrier_off();
        if let Some(peer) = dev.peer(rtnl) {
            peer.carrier_off();
        }
        Ok(())
    }

    fn start_xmit(skb: SkBuff, dev: &Device, _state: &LinkState) -> TxResult {
        // Nowhere to send it: count the drop; dropping `skb` frees it.
        dev.tx_dropped_inc();
        drop(skb);
        TxResult::Ok
    }

    fn ring_size(state: &LinkState) -> u32 {
        state.ring_size.load(Relaxed)
    }

    fn set_ring_size(state: &LinkState, ring_size: u32) {
        state.ring_size.store(ring_size, Relaxed);
    }
}
