// SPDX-License-Identifier: GPL-2.0

//! The datapath of one end of a link, as the driver holds it: the library's
//! [`conn::Conn`] (datapath/src/conn.rs, tested in userspace) over a window, with the port
//! of its signalling mode.
//!
//! Pair mode signals by scheduling the peer's NAPI directly; PCI mode rings the other kernel's
//! MSI-X vectors through the fabric ([`Signal`]). The rest is the same code.

#![deny(unsafe_code)]

use core::{ops::Deref, sync::atomic::AtomicU32};

use kernel::{alloc::KVVec, prelude::*, sync::Arc};

use crate::{
    datapath::{
        conn::{self, Config},
        mem,
        port::Mode,
        stats::{RxStats, TxStats},
    },
    net::{
        clock,
        datapath::{Jiffies, PairPort, PciPort},
        device::Device,
        napi::Napi,
        pci::Doorbell,
        skb::SkBuff,
        window::Window,
        xdp::XdpFrame,
    },
    shm::{Layout, SideHeader},
};

pub(crate) use conn::{MAX_PACKET, STATE_OFF};

/// How long a PCI peer may leave our packets unread, against its own event index, before we
/// ring it anyway: well within the TX watchdog's 5 s, which catches a peer that stopped
/// reading a full ring.
const OVERDUE_MS: u32 = 1000;

/// How one end tells the other that a ring needs attention.
pub(crate) enum Signal {
    /// Pair mode: both ends in one kernel; schedule the peer's NAPI, wake its queue.
    Pair,
    /// PCI mode: ring the other kernel's vector `1 + q` for queue `q`, for packets and for
    /// room alike (the vector's handler does both).
    Doorbell(Arc<Doorbell>),
}

/// The library's datapath over a kernel window.
type Datapath = conn::Conn<Arc<Window>, Jiffies, KVVec<AtomicU32>>;

/// One end of a connected link. Derefs to the library's [`conn::Conn`] for everything but the
/// two entry points, which need the port of the signalling mode.
pub(crate) struct Conn {
    dp: Datapath,
    signal: Signal,
}

impl Conn {
    /// The end `side` (0 or 1) of a link over `window` laid out as `layout`; publishes this
    /// end's header, in state `Up` for pair mode (`signal`), `Ready` for PCI mode, with the
    /// link's number `link_id` (the host side's; zero for none).
    pub(crate) fn new(
        window: Arc<Window>,
        layout: Layout,
        side: u32,
        mtu: u32,
        signal: Signal,
        generation: u32,
        link_id: u32,
    ) -> Result<Self> {
        let words = conn::storage_words(&layout);
        let mut storage = KVVec::with_capacity(words, GFP_KERNEL)?;
        for _ in 0..words {
            storage.push(AtomicU32::new(0), GFP_KERNEL)?;
        }
        let mode = match signal {
            Signal::Pair => Mode::Pair,
            Signal::Doorbell(_) => Mode::Doorbell,
        };
        let cfg = Config {
            layout,
            side,
            mode,
            overdue_ticks: clock::ms_to_ticks(OVERDUE_MS),
            link_id,
        };
        let dp =
            conn::Conn::new(window, Jiffies, storage, cfg, generation, mtu).map_err(|_| EINVAL)?;
        Ok(Self { dp, signal })
    }

    /// `ndo_start_xmit` for TX queue `q`. Gives the packet back if the ring has no room for it
    /// (the queue is then stopped, and the core retries after the wake-up).
    pub(crate) fn transmit(
        &self,
        dev: &Device,
        q: u16,
        st: &TxStats,
        skb: SkBuff,
    ) -> Result<(), SkBuff> {
        match &self.signal {
            Signal::Pair => self.dp.transmit(&PairPort(dev), q, st, skb),
            Signal::Doorbell(doorbell) => self.dp.transmit(&PciPort { dev, doorbell }, q, st, skb),
        }
    }

    /// NAPI poll of RX queue `q`; what its XDP program sends back goes out on TX ring `q`
    /// (counted in `tx`).
    pub(crate) fn poll(
        &self,
        dev: &Device,
        napi: &Napi<'_>,
        q: u16,
        st: &RxStats,
        tx: &TxStats,
        budget: u32,
    ) -> u32 {
        match &self.signal {
            Signal::Pair => self.dp.poll(&PairPort(dev), napi, q, st, tx, budget),
            Signal::Doorbell(doorbell) => {
                self.dp
                    .poll(&PciPort { dev, doorbell }, napi, q, st, tx, budget)
            }
        }
    }

    /// `ndo_xdp_xmit` on TX queue `q`: takes `frames` until one finds no room, then publishes
    /// them with one doorbell. Returns how many it took; their sender frees the others.
    pub(crate) fn xdp_xmit(
        &self,
        dev: &Device,
        q: u16,
        st: &TxStats,
        frames: &mut dyn Iterator<Item = XdpFrame>,
    ) -> u32 {
        match &self.signal {
            Signal::Pair => self
                .dp
                .transmit_frames(&PairPort(dev), q, st, frames, XdpFrame::leave),
            Signal::Doorbell(doorbell) => {
                self.dp
                    .transmit_frames(&PciPort { dev, doorbell }, q, st, frames, XdpFrame::leave)
            }
        }
    }
}

impl Deref for Conn {
    type Target = Datapath;

    fn deref(&self) -> &Datapath {
        &self.dp
    }
}

/// A copy of the side header at `off` (the peer's, or ours from an earlier load of the
/// module: validate it).
pub(crate) fn read_header(window: &Window, off: u32) -> Option<SideHeader> {
    mem::read_header(window, off)
}
