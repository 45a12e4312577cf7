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

use core::fmt;

use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, SetOnce,
    },
};

use crate::{
    datapath::{
        rss::{HashType, RssConfig},
        stats::{RxStats, TxStats},
    },
    handshake::{Handshake, Status, Transport},
    link_uapi::{attr, role, DEFAULT_QUEUES, DEFAULT_RING_SIZE},
    net::{
        device::{online_cpus, rss_key, Device},
        ethtool::StatSink,
        extack::Refusal,
        napi::Napi,
        ops::{NetdevOps, QueueStats, TxResult, XpuStats},
        rtnl::{LinkData, Rtnl},
        rxq::Moderation,
        skb::{DropReason, SkBuff},
        xdp::XdpFrame,
    },
    pair,
    queue::{Conn, Signal},
    shm::{MAX_QUEUES, MAX_RING_SIZE, MIN_RING_SIZE, VERSION},
};

/// The xpu link kind's netdev operations.
pub(crate) struct Xpu;

const QUEUES: usize = MAX_QUEUES as usize;

/// No coalescing by default: a doorbell for every packet that finds the peer idle.
const COALESCE_DEFAULT: Moderation = Moderation {
    usecs: 0,
    frames: 1,
    adaptive: false,
};

/// Most `rx-usecs` that `ethtool -C` accepts: coalescing is for batching, not for parking
/// packets.
const COALESCE_MAX_USECS: u32 = 10_000;

// The refusals' messages below name the limits.
const _: () = assert!(
    COALESCE_MAX_USECS == 10_000 && MAX_QUEUES == 16 && MIN_RING_SIZE == 8 && MAX_RING_SIZE == 4096
);

/// RSS until `ethtool -X`: the host's key, the buckets spread over `queues` in turn.
fn default_rss(queues: u16) -> RssConfig {
    RssConfig::new(rss_key(), u8::try_from(queues).unwrap_or(u8::MAX))
}

/// A setting refused: EINVAL, and why.
fn refusal(msg: &'static CStr) -> Refusal {
    Refusal { err: EINVAL, msg }
}

/// Per-device state of an xpu link.
pub(crate) struct LinkState {
    /// Descriptors per ring; set at creation.
    ring_size: Atomic<u32>,
    /// `ethtool -C` for every RX queue (DIM may change a queue's own values when adaptive):
    /// usecs, frames and adaptive (0 or 1). Written under RTNL only.
    coalesce: [Atomic<u32>; 3],
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
        rtnl: &Rtnl,
    ) -> Result {
        dev.set_queues(transport.layout.num_queues().into(), rtnl)?;
        let t = transport.clone();
        let conn = Conn::new(
            t.window.clone(),
            t.layout,
            t.side,
            dev.mtu(),
            Signal::Doorbell(t.doorbell.clone()),
            t.generation,
            t.link_id,
        )?;
        conn.set_rss(&default_rss(transport.layout.num_queues()));
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
        match state.pci.as_ref() {
            None => role::PAIR,
            Some(t) if t.side == 0 => role::HOST,
            Some(_) => role::DPU,
        }
    }

    fn link_status(state: &LinkState) -> (u32, &'static str) {
        let s: Status = state.handshake.status();
        (s.link_state(), s.describe())
    }

    fn link_id(state: &LinkState) -> Option<u32> {
        state.pci.as_ref()?;
        state.conn.as_ref()?.link_id()
    }

    fn init(_dev: &Device, _rtnl: &Rtnl) -> Result<Pin<KBox<LinkState>>> {
        let m = COALESCE_DEFAULT;
        Ok(KBox::pin(
            LinkState {
                ring_size: Atomic::new(0),
                coalesce: [
                    Atomic::new(m.usecs),
                    Atomic::new(m.frames),
                    Atomic::new(m.adaptive.into()),
                ],
                conn: SetOnce::new(),
                pci: SetOnce::new(),
                handshake: Handshake::new(),
                tx_stats: [const { TxStats::new() }; QUEUES],
                rx_stats: [const { RxStats::new() }; QUEUES],
            },
            GFP_KERNEL,
        )?)
    }

    fn validate(data: &LinkData<'_>) -> Result<(), (u16, Refusal)> {
        if let Some(q) = data.u32(attr::QUEUES) {
            if q < 1 || q > MAX_QUEUES.into() {
                return Err((attr::QUEUES, refusal(c"queue count must be 1 to 16")));
            }
        }
        if let Some(r) = data.u32(attr::RING_SIZE) {
            if !r.is_power_of_two() || !(MIN_RING_SIZE..=MAX_RING_SIZE).contains(&r) {
                let msg = c"ring size must be a power of two from 8 to 4096";
                return Err((attr::RING_SIZE, refusal(msg)));
            }
        }
        Ok(())
    }

    /// Both ends use the same queue count and ring size.
    fn pair_attach(
        dev: &Device,
        state: &LinkState,
        peer: &Device,
        peer_state: &LinkState,
        data: &LinkData<'_>,
        rtnl: &Rtnl,
    ) -> Result<(), Refusal> {
        let ends = [(dev, state), (peer, peer_state)];
        // The default fits what numtxqueues/numrxqueues allocated, if given.
        let queues = data.u32(attr::QUEUES).unwrap_or_else(|| {
            let q = online_cpus().min(DEFAULT_QUEUES);
            ends.iter().fold(q, |q, (d, _)| q.min(d.alloc_queues()))
        });
        let ring_size = data.u32(attr::RING_SIZE).unwrap_or(DEFAULT_RING_SIZE);
        for (d, st) in ends {
            if queues > d.alloc_queues() {
                return Err(refusal(
                    c"more queues than numtxqueues/numrxqueues allocate",
                ));
            }
            d.set_queues(queues, rtnl).map_err(|err| Refusal {
                err,
                msg: c"cannot set the queue count",
            })?;
            st.ring_size.store(ring_size, Relaxed);
        }
        let no_memory = |err| Refusal {
            err,
            msg: c"cannot allocate the pair's shared memory",
        };
        let queues = u16::try_from(queues).map_err(|_| no_memory(EINVAL))?;
        let (a, b) = pair::connect(queues, ring_size, dev.mtu()).map_err(no_memory)?;
        for c in [&a, &b] {
            c.set_rss(&default_rss(queues));
        }
        if !state.conn.populate(a) || !peer_state.conn.populate(b) {
            return Err(no_memory(EBUSY));
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

    fn poll(dev: &Device, state: &LinkState, napi: &Napi<'_>, q: u16, budget: u32) -> u32 {
        let qi = usize::from(q);
        match (
            state.conn.as_ref(),
            state.rx_stats.get(qi),
            state.tx_stats.get(qi),
        ) {
            (Some(conn), Some(rx), Some(tx)) => conn.poll(dev, napi, q, rx, tx, budget),
            _ => {
                napi.complete_done(0);
                0
            }
        }
    }

    fn xdp_xmit(
        dev: &Device,
        state: &LinkState,
        q: u16,
        frames: &mut dyn Iterator<Item = XdpFrame>,
    ) -> u32 {
        match (state.conn.as_ref(), state.tx_stats.get(usize::from(q))) {
            (Some(conn), Some(st)) => conn.xdp_xmit(dev, q, st, frames),
            // Not connected: the sender frees them all.
            _ => 0,
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

    fn queue_stats(state: &LinkState, q: u16) -> QueueStats {
        let (Some(rx), Some(tx)) = (
            state.rx_stats.get(usize::from(q)),
            state.tx_stats.get(usize::from(q)),
        ) else {
            return QueueStats::default();
        };
        QueueStats {
            rx_packets: rx.packets.get(),
            rx_bytes: rx.bytes.get(),
            rx_alloc_fail: rx.drop_nomem.get(),
            tx_packets: tx.packets.get(),
            tx_bytes: tx.bytes.get(),
            tx_stops: tx.stops.get(),
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

    fn set_queues(dev: &Device, state: &LinkState, n: u32, rtnl: &Rtnl) -> Result {
        dev.set_queues(n, rtnl)?;
        // The default table follows the queue count; one the administrator set is kept (the
        // ethtool core refuses a count that would leave it pointing past the queues).
        if let (Some(conn), false) = (state.conn.as_ref(), dev.rxfh_configured(rtnl)) {
            let mut cfg = conn.rss();
            cfg.spread(u8::try_from(n).unwrap_or(u8::MAX));
            conn.set_rss(&cfg);
        }
        // A queue that stopped on a full ring before -L took it away waits for a wake-up
        // that went to nobody: let every queue look at its ring again (xmit stops it if
        // still full).
        if dev.is_running() {
            dev.txq_wake_all();
        }
        Ok(())
    }

    fn rss(state: &LinkState) -> Option<RssConfig> {
        state.conn.as_ref().map(|c| c.rss())
    }

    /// Published at once in our half: the peer sends each flow by it from its next packet.
    fn set_rss(
        _dev: &Device,
        state: &LinkState,
        cfg: &RssConfig,
        _rtnl: &Rtnl,
    ) -> Result<(), Refusal> {
        let conn = state.conn.as_ref().ok_or(Refusal {
            err: ENODEV,
            msg: c"the link has no datapath yet",
        })?;
        conn.set_rss(cfg);
        Ok(())
    }

    /// The ring the peer's RSS gives the frame, within our queues in use; with one queue,
    /// that one, unhashed.
    fn tx_queue(dev: &Device, state: &LinkState, frame: &[u8]) -> Option<u16> {
        let conn = state.conn.as_ref()?;
        let n = u16::try_from(dev.real_num_queues()).ok()?;
        if n <= 1 {
            return Some(0);
        }
        conn.tx_ring(frame).map(|r| r % n)
    }

    fn rx_hash(state: &LinkState, frame: &[u8]) -> Option<(u32, HashType)> {
        state.conn.as_ref()?.rx_hash(frame)
    }

    fn coalesce(state: &LinkState) -> Moderation {
        let [usecs, frames, adaptive] = &state.coalesce;
        Moderation {
            usecs: usecs.load(Relaxed),
            frames: frames.load(Relaxed),
            adaptive: adaptive.load(Relaxed) != 0,
        }
    }

    /// rx-usecs and rx-frames shape when the peer rings our doorbell (driver/queue.rs): after
    /// traffic, ask for it only every rx-frames packets, and poll once after rx-usecs anyway.
    fn set_coalesce(
        dev: &Device,
        state: &LinkState,
        m: Moderation,
        rtnl: &Rtnl,
    ) -> Result<(), Refusal> {
        if m.usecs > COALESCE_MAX_USECS {
            return Err(refusal(c"rx-usecs must be at most 10000"));
        }
        if m.frames > MAX_RING_SIZE {
            return Err(refusal(c"rx-frames must be at most 4096"));
        }
        let [usecs, frames, adaptive] = &state.coalesce;
        usecs.store(m.usecs, Relaxed);
        frames.store(m.frames, Relaxed);
        adaptive.store(m.adaptive.into(), Relaxed);
        dev.set_rx_moderation(&m, rtnl);
        Ok(())
    }

    const NAME: &'static str = "xpu";

    /// PCI mode: the window protocol stands in for firmware.
    fn firmware(state: &LinkState, out: &mut dyn fmt::Write) -> fmt::Result {
        match Self::port_name(state) {
            Some(role) => write!(
                out,
                "shm {}.{} role {role}",
                VERSION >> 16,
                VERSION & 0xffff
            ),
            None => Ok(()),
        }
    }

    /// PCI mode: `ip -d link` shows the device's side as its port name.
    fn port_name(state: &LinkState) -> Option<&'static str> {
        match Self::role(state) {
            role::HOST => Some("host"),
            role::DPU => Some("dpu"),
            _ => None,
        }
    }

    fn ring_size(state: &LinkState) -> u32 {
        state.ring_size.load(Relaxed)
    }

    fn ring_depths(state: &LinkState) -> (u32, u32) {
        state.conn.as_ref().map_or((0, 0), |c| c.depths())
    }

    /// How much of each ring is used, live: tx bounds what we keep in flight on our rings, rx
    /// what we ask the other end to keep on its rings (in pair mode the other device's TX; in
    /// PCI mode the other kernel's, through the window, with nothing renegotiated).
    fn set_ring_depths(
        dev: &Device,
        state: &LinkState,
        rx: u32,
        tx: u32,
        _rtnl: &Rtnl,
    ) -> Result<(), Refusal> {
        let conn = state
            .conn
            .as_ref()
            .ok_or_else(|| refusal(c"the link has no rings yet"))?;
        conn.set_depths(Some(rx), Some(tx)).map_err(|_| {
            refusal(c"ring sizes are from 8 to the link's ring size (ethtool -g's maximum)")
        })?;
        // A larger tx depth can make room on a queue stopped at the old one, whose wake-up
        // would come only with the peer's next reads: let every queue look again.
        if dev.is_running() {
            dev.txq_wake_all();
        }
        Ok(())
    }
}
