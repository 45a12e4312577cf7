// SPDX-License-Identifier: GPL-2.0

//! The xpu link: the virtual NIC behind `ip link add NAME type xpu`.
//!
//! At this stage the device has no peer and no rings: it registers, comes up with its carrier
//! off (nothing to talk to), and drops and counts what it is asked to send. Pair mode (both
//! ends in one kernel) and the PCI transport give it a peer.

#![deny(unsafe_code)]

use kernel::prelude::*;

use crate::net::{
    device::Device,
    ops::{NetdevOps, TxResult},
    skb::SkBuff,
};

/// The xpu link kind's netdev operations.
pub(crate) struct Xpu;

/// Per-device state of an xpu link.
pub(crate) struct LinkState {}

impl NetdevOps for Xpu {
    type State = LinkState;

    fn init(_dev: &Device) -> Result<Pin<KBox<LinkState>>> {
        Ok(KBox::pin(LinkState {}, GFP_KERNEL)?)
    }

    fn open(dev: &Device, _state: &LinkState) -> Result {
        // No peer yet: the carrier stays off until a transport reports one.
        dev.carrier_off();
        Ok(())
    }

    fn stop(dev: &Device, _state: &LinkState) -> Result {
        dev.carrier_off();
        Ok(())
    }

    fn start_xmit(skb: SkBuff, dev: &Device, _state: &LinkState) -> TxResult {
        // Nowhere to send it: count the drop; dropping `skb` frees it.
        dev.tx_dropped_inc();
        drop(skb);
        TxResult::Ok
    }
}
