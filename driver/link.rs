// SPDX-License-Identifier: GPL-2.0

//! The xpu link: the virtual NIC behind `ip link add NAME type xpu`.
//!
//! In pair mode (both ends in one kernel, like veth) `ip link add` creates the device and its
//! peer, and `pair::connect` gives them one shared window; deleting either deletes both. The
//! carrier is on only while both ends are up. In PCI mode (`pci_link`) the device comes with its
//! PCI function, the other end is another kernel, and `handshake` decides the carrier.
//! Packets cross through the rings of `queue::Conn`; this file is the glue between them and
//! the netdev ops.

#![deny(unsafe_code)]

use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, SetOnce,
    },
};

use crate::{
    datapath::stats::{RxStats, TxStats},
    handshake::{Handshake, Status, Transport},
    net::{
        device::Device,
        ethtool::StatSink,
        napi::Napi,
        ops::{NetdevOps, TxResult},
        rtnl::Rtnl,
        skb::{DropReason, SkBuff},
        sys::XpuStats,
    },
    pair,
    queue::{Conn, Signal},
    shm::MAX_QUEUES,
};

/// The xpu link kind's netdev operations.
pub(crate) struct Xpu;

const QUEUES: usize = MAX_QUEUES as usize;

/// Per-device state of an xpu link.
pub(crate) struct LinkState {
    /// Descriptors per ring; set at creation.
    ring_size: Atomic<u32>,
    /// The datapath, once the pair is connected or the PCI transport attached (at creation,
    /// under RTNL, before the device can be opened).
    conn: SetOnce<Conn>,
    /// PCI mode: the window and doorbells, and the handshake over them.
    pci: SetOnce<Arc<Transport>>,
    handshake: Handshake,
    /// Per-queue counters; they live as long as the device, so they survive down/up.
    tx_stats: [TxStats; QUEUES],
    rx_stats: [RxStats; QUEUES],
}

impl LinkState {
    /// The peer's protocol violations, all queues and directions.
    fn violations(&self) -> u64 {
        let tx: u64 = self.tx_stats.iter().map(|s| s.peer_errors.get()).sum();
        let rx: u64 = self.rx_stats.iter().map(|s| s.peer_errors.get()).sum();
        tx.wrapping_add(rx)
    }
}

impl NetdevOps for Xpu {
    type State = LinkState;
    type Transport = Transport;

    fn pci_attach(
        dev: &Device,
        state: &LinkState,
        transport: &Arc<Transport>,
        _rtnl: &Rtnl,
    ) -> Result {
        let t = transport.clone();
        let conn = Conn::new(
            t.window.clone(),
            t.layout,
            t.side,
            dev.mtu(),
            Signal::Doorbell(t.doorbell.clone()),
            t.generation,
        )?;
        state.handshake.set_generation(t.generation);
        state.ring_size.store(t.layout.ring_size(), Relaxed);
        if !state.conn.populate(conn) || !state.pci.populate(t) {
            return Err(EBUSY);
        }
        Ok(())
    }

    fn control(dev: &Device, state: &LinkState, rtnl: &Rtnl) {
        if let (Some(conn), Some(t)) = (state.conn.as_ref(), state.pci.as_ref()) {
            state
                .handshake
                .step(dev, conn, t, rtnl, dev.is_up(), state.violations());
        }
    }

    fn tx_timeout(state: &LinkState) {
        state.handshake.tx_stalled();
    }

    fn control_peek(dev: &Device, state: &LinkState) {
        if let Some(conn) = state.conn.as_ref() {
            state.handshake.peek(dev, conn);
        }
    }

    fn role(state: &LinkState) -> u32 {
        // `enum xpu_link_role`: pair, host, dpu.
        state.pci.as_ref().map_or(0, |t| 1 + t.side)
    }

    fn link_status(state: &LinkState) -> (u32, &'static str) {
        let s: Status = state.handshake.status();
        (s.link_state(), s.describe())
    }

    fn init(_dev: &Device) -> Result<Pin<KBox<LinkState>>> {
        Ok(KBox::pin(
            LinkState {
                ring_size: Atomic::new(0),
                conn: SetOnce::new(),
                pci: SetOnce::new(),
                handshake: Handshake::new(),
                tx_stats: [const { TxStats::new() }; QUEUES],
                rx_stats: [const { RxStats::new() }; QUEUES],
            },
            GFP_KERNEL,
        )?)
    }

    fn pair_attach(
        dev: &Device,
        state: &LinkState,
        _peer: &Device,
        peer_state: &LinkState,
        _rtnl: &Rtnl,
    ) -> Result {
        let queues = u16::try_from(dev.real_num_queues())?;
        let (a, b) = pair::connect(queues, state.ring_size.load(Relaxed), dev.mtu())?;
        if !state.conn.populate(a) || !peer_state.conn.populate(b) {
            return Err(EBUSY);
        }
        Ok(())
    }

    fn open(dev: &Device, state: &LinkState, rtnl: &Rtnl) -> Result {
        if let (Some(conn), Some(t)) = (state.conn.as_ref(), state.pci.as_ref()) {
            dev.napi_enable(conn.num_queues(), rtnl);
            dev.txq_wake_all();
            // Connect if the other side is there.
            state
                .handshake
                .step(dev, conn, t, rtnl, true, state.violations());
            return Ok(());
        }
        // The pair is being deleted: nothing to talk to.
        let peer = dev.peer(rtnl).ok_or(ENOTCONN)?;
        let Some(conn) = state.conn.as_ref() else {
            return Err(ENOTCONN);
        };
        dev.napi_enable(conn.num_queues(), rtnl);
        // A queue stopped before the device went down may have missed its wake-up (its
        // consumer drained while we were down, or ethtool -L took it away meanwhile): let each
        // look at its ring again; one still full stops again, armed.
        dev.txq_wake_all();
        if peer.is_up() {
            dev.carrier_on();
            peer.carrier_on();
        }
        Ok(())
    }

    fn stop(dev: &Device, state: &LinkState, rtnl: &Rtnl) -> Result {
        if let (Some(conn), Some(t)) = (state.conn.as_ref(), state.pci.as_ref()) {
            dev.carrier_off();
            dev.napi_disable(rtnl);
            state.handshake.stop(dev, conn, t, rtnl);
            return Ok(());
        }
        dev.carrier_off();
        if let Some(peer) = dev.peer(rtnl) {
            peer.carrier_off();
        }
        dev.napi_disable(rtnl);
        Ok(())
    }

    fn start_xmit(skb: SkBuff, dev: &Device, state: &LinkState) -> TxResult {
        let q = skb.queue();
        let st = usize::try_from(q).ok().and_then(|q| state.tx_stats.get(q));
        match (state.conn.as_ref(), u16::try_from(q), st) {
            (Some(conn), Ok(q), Some(st)) if q < conn.num_queues() => {
                if let Err(skb) = conn.transmit(dev, q, st, skb) {
                    return TxResult::Busy(skb);
                }
            }
            _ => {
                dev.tx_dropped_inc();
                skb.drop_for(DropReason::LinkDown);
            }
        }
        TxResult::Ok
    }

    fn poll(dev: &Device, state: &LinkState, napi: &Napi, q: u16, budget: u32) -> u32 {
        match (state.conn.as_ref(), state.rx_stats.get(usize::from(q))) {
            (Some(conn), Some(st)) => conn.poll(dev, napi, q, st, budget),
            _ => {
                napi.complete_done(0);
                0
            }
        }
    }

    fn stats(state: &LinkState, s: &mut XpuStats) {
        for t in &state.tx_stats {
            s.tx_packets += t.packets.get();
            s.tx_bytes += t.bytes.get();
            s.tx_dropped += t.dropped();
        }
        for r in &state.rx_stats {
            s.rx_packets += r.packets.get();
            s.rx_bytes += r.bytes.get();
            s.rx_dropped += r.dropped();
            s.rx_errors += r.peer_errors.get();
        }
    }

    fn ethtool_stats(state: &LinkState, sink: &mut StatSink<'_>) {
        let queues = usize::from(state.conn.as_ref().map_or(0, |c| c.num_queues()));
        for (q, r) in state.rx_stats.iter().enumerate().take(queues) {
            for (name, v) in RxStats::NAMES.iter().zip(r.values()) {
                sink.stat(format_args!("rx{q}_{name}"), v);
            }
        }
        for (q, t) in state.tx_stats.iter().enumerate().take(queues) {
            for (name, v) in TxStats::NAMES.iter().zip(t.values()) {
                sink.stat(format_args!("tx{q}_{name}"), v);
            }
        }
        if state.pci.as_ref().is_some() {
            sink.stat(
                format_args!("link_resets_by_violations"),
                state.handshake.violation_resets(),
            );
        }
    }

    fn max_queues(state: &LinkState) -> u32 {
        state.conn.as_ref().map_or(0, |c| c.num_queues().into())
    }

    fn ring_size(state: &LinkState) -> u32 {
        state.ring_size.load(Relaxed)
    }

    fn set_ring_size(state: &LinkState, ring_size: u32) {
        state.ring_size.store(ring_size, Relaxed);
    }
}
