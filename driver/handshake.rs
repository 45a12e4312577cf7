// SPDX-License-Identifier: GPL-2.0

//! PCI mode's handshake: how two kernels that share a window agree to use it, and notice when
//! the other goes away (uapi/src/shm.rs has the header it runs on).
//!
//! Each side publishes its header in its own half: `Ready` with a fresh generation after every
//! reset, `Up` once it has seen the other side alive. A side connects (goes `Up`, starts using
//! the rings) when it sees the other `Ready`, or `Up` for our current generation, with a
//! layout equal to its own; it remembers the generation it saw, and publishes it next to its
//! `Up`. The carrier comes on once both are `Up` for each other's current generation. A side that sees
//! the other's generation change, or its state leave `Ready`/`Up`, was talking to an
//! incarnation that is gone: it resets (zeroes its indices, bumps its own generation, goes
//! `Ready`), which makes the other side reset too if it had not already, and both start over
//! from empty rings. Every change is followed by a control doorbell (vector 0) to the other
//! side, which runs this again. A side whose module unloads says `Down`; when its VM dies, the
//! fabric daemon says it (dpu-fw/fabric). So no timer and no heartbeat are needed: an idle link
//! costs nothing.
//!
//! Runs under RTNL (from the control doorbell's work, `ndo_open` and `ndo_stop`), so it has
//! one caller at a time; only `Handshake::peek`, which can just drop the carrier, runs without.

#![deny(unsafe_code)]

use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed, Release},
        Arc,
    },
};

use crate::{
    net::{device::Device, pci::Doorbell, rtnl::Rtnl, window::Window},
    queue::Conn,
    shm::{Layout, LayoutError, SideState},
};

/// Protocol violations by the peer (bad indices, bad descriptors), counted since we
/// connected, after which we stop trusting its rings and start over: each one is dropped and
/// counted, but a peer that keeps writing garbage is broken or hostile, and a reset is what
/// brings a merely confused one back.
pub(crate) const VIOLATIONS_BEFORE_RESET: u64 = 16;

/// The window and doorbells of a PCI function: what the PCI driver hands its netdev.
pub(crate) struct Transport {
    pub(crate) window: Arc<Window>,
    pub(crate) doorbell: Arc<Doorbell>,
    /// Which half is ours: 0 for the host, 1 for the DPU.
    pub(crate) side: u32,
    /// The layout both sides must have.
    pub(crate) layout: Layout,
    /// The generation to start from: one past what our half held (from a previous load of
    /// the module), so the other side sees a restart.
    pub(crate) generation: u32,
    /// The link's number that this side publishes: the host side's, drawn at probe (never
    /// zero); zero on the DPU side, which reads the host's.
    pub(crate) link_id: u32,
    /// The PCI function is going away: the handshake stays out of the way.
    pub(crate) leaving: Atomic<bool>,
}

impl Transport {
    /// "host" or "dpu".
    pub(crate) fn role_name(&self) -> &'static str {
        if self.side == 0 {
            "host"
        } else {
            "dpu"
        }
    }

    /// Offset of our half.
    pub(crate) fn own_half(&self) -> u32 {
        self.side * self.layout.half_size()
    }

    /// The device is going away (module unload, unbind): say so first, so the other side
    /// drops its carrier now rather than when we are done tearing down.
    pub(crate) fn leave(&self) {
        self.leaving.store(true, Relaxed);
        let off = self.own_half() + crate::queue::STATE_OFF;
        if let Some(state) = self.window.word(off) {
            state.store(SideState::Down as u32, Release);
            // To the medium before the doorbell, on one that is not coherent (datapath::mem).
            self.window.writeback(off, 4);
        }
        self.doorbell.ring(0);
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Where the handshake is, for `ip -d link` (IFLA_XPU_LINK_STATE and IFLA_XPU_STATUS).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Status {
    /// The device is down.
    AdminDown = 0,
    /// The other side has not initialised its half, or has left.
    Waiting,
    /// We are up; the other side has not seen us yet.
    Connecting,
    Connected,
    /// The other side speaks another major version of the protocol.
    VersionMismatch,
    /// The other side has another queue count, ring size or buffer size.
    ConfigMismatch,
    /// The other side's header is inconsistent (or hostile).
    BadHeader,
    /// One side takes the medium as coherent between the hosts, the other not (it writes
    /// back and invalidates): the one that does would never see the other's writes.
    MediumMismatch,
}

impl Status {
    fn from_raw(v: u32) -> Self {
        match v {
            1 => Self::Waiting,
            2 => Self::Connecting,
            3 => Self::Connected,
            4 => Self::VersionMismatch,
            5 => Self::ConfigMismatch,
            6 => Self::BadHeader,
            7 => Self::MediumMismatch,
            _ => Self::AdminDown,
        }
    }

    /// `enum xpu_link_state` of uapi/linux/xpu.h.
    pub(crate) fn link_state(self) -> u32 {
        match self {
            Self::Connected => 1,
            Self::VersionMismatch
            | Self::ConfigMismatch
            | Self::BadHeader
            | Self::MediumMismatch => 2,
            _ => 0,
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::AdminDown => "device down",
            Self::Waiting => "waiting for the peer",
            Self::Connecting => "waiting for the peer to come up",
            Self::Connected => "connected",
            Self::VersionMismatch => "peer speaks another protocol version",
            Self::ConfigMismatch => "peer has another queue count, ring size or buffer size",
            Self::BadHeader => "peer's header is inconsistent",
            Self::MediumMismatch => {
                "peer takes the medium's coherence otherwise (cxl_coherent differs)"
            }
        }
    }
}

/// What the handshake remembers (written under RTNL only).
pub(crate) struct Handshake {
    /// Our current generation.
    generation: Atomic<u32>,
    /// The peer's generation we connected to.
    peer_generation: Atomic<u32>,
    /// Whether our header says `Up` (we use the rings).
    up: Atomic<bool>,
    status: Atomic<u32>,
    /// The peer's violations counted when we connected.
    violations_at_connect: Atomic<u64>,
    /// Resets because of violations, for `ethtool -S`.
    resets: Atomic<u64>,
    /// The TX watchdog saw a queue stopped too long: the peer stopped consuming (or its
    /// indices were corrupted into plausible values that no check can tell from a slow peer).
    stalled: Atomic<bool>,
}

/// What we see of the other side.
enum Peer {
    /// Not there: no valid header, or a state other than `Ready`/`Up`.
    Absent,
    /// `up`: the other side is `Up` for our current generation (it is using the rings).
    /// `stale`: it is `Up` for an older generation of ours: it has not seen our restart yet,
    /// and will restart itself when it does.
    Alive {
        generation: u32,
        up: bool,
        stale: bool,
    },
    Mismatch(Status),
}

impl Handshake {
    pub(crate) const fn new() -> Self {
        Self {
            generation: Atomic::new(0),
            peer_generation: Atomic::new(0),
            up: Atomic::new(false),
            status: Atomic::new(Status::AdminDown as u32),
            violations_at_connect: Atomic::new(0),
            resets: Atomic::new(0),
            stalled: Atomic::new(false),
        }
    }

    /// `ndo_tx_timeout`: a TX queue made no progress for the watchdog's time; the next
    /// [`Self::step`] resets the link.
    pub(crate) fn tx_stalled(&self) {
        self.stalled.store(true, Relaxed);
    }

    /// Link resets because the peer kept violating the protocol.
    pub(crate) fn violation_resets(&self) -> u64 {
        self.resets.load(Relaxed)
    }

    pub(crate) fn set_generation(&self, generation: u32) {
        self.generation.store(generation, Relaxed);
    }

    pub(crate) fn status(&self) -> Status {
        Status::from_raw(self.status.load(Relaxed))
    }

    fn set_status(&self, t: &Transport, status: Status, peer: Option<&Layout>) {
        if self.status() == status {
            return;
        }
        self.status.store(status as u32, Relaxed);
        let side = t.role_name();
        match (status, peer) {
            (Status::ConfigMismatch, Some(p)) => pr_warn!(
                "xpu ({side} side): peer has {} queues of {} descriptors ({} bytes per buffer), we have {} of {} ({}): link stays down\n",
                p.num_queues(),
                p.ring_size(),
                p.buf_size(),
                t.layout.num_queues(),
                t.layout.ring_size(),
                t.layout.buf_size()
            ),
            (Status::MediumMismatch, _) => pr_warn!(
                "xpu ({side} side): {}; we {}: link stays down\n",
                status.describe(),
                if t.window.flushes() {
                    "write back and invalidate (cxl_coherent=0)"
                } else {
                    "take it as coherent"
                }
            ),
            (Status::VersionMismatch | Status::BadHeader, _) => {
                pr_warn!("xpu ({side} side): {}: link stays down\n", status.describe())
            }
            (Status::Connected, _) => pr_info!("xpu ({side} side): connected\n"),
            _ => {}
        }
    }

    /// Looks at the other side's header (untrusted: a copy, validated).
    fn peer(&self, conn: &Conn) -> (Peer, Option<Layout>) {
        let Some(h) = conn.peer_header() else {
            return (Peer::Absent, None);
        };
        let ours = h.peer_generation == self.generation.load(Relaxed);
        let (up, stale) = match SideState::from_raw(h.state) {
            Some(SideState::Ready) => (false, false),
            Some(SideState::Up) => (ours, !ours),
            _ => return (Peer::Absent, None),
        };
        match Layout::from_header(&h, conn.window_size()) {
            Err(LayoutError::Magic) => (Peer::Absent, None),
            Err(LayoutError::Version) => (Peer::Mismatch(Status::VersionMismatch), None),
            Err(_) => (Peer::Mismatch(Status::BadHeader), None),
            Ok(l) if l != *conn.layout() => (Peer::Mismatch(Status::ConfigMismatch), Some(l)),
            Ok(_) if !conn.agrees(&h) => (Peer::Mismatch(Status::MediumMismatch), None),
            Ok(_) => (
                Peer::Alive {
                    generation: h.generation,
                    up,
                    stale,
                },
                None,
            ),
        }
    }

    /// From the control doorbell's hard IRQ, without RTNL: if we are connected and the peer
    /// we connected to is no longer up, drop the carrier now (the stack stops sending); `step`
    /// does the rest under RTNL.
    pub(crate) fn peek(&self, dev: &Device, conn: &Conn) {
        if !self.up.load(Relaxed) {
            return;
        }
        match self.peer(conn).0 {
            Peer::Alive {
                generation,
                up: true,
                ..
            } if generation == self.peer_generation.load(Relaxed) => {}
            _ => dev.carrier_off(),
        }
    }

    /// Runs the handshake one step: called whenever something may have changed. `admin_up`:
    /// the device is up, or being opened (`ndo_open` runs before the core marks it up).
    /// `violations`: the peer's protocol violations counted so far.
    pub(crate) fn step(
        &self,
        dev: &Device,
        conn: &Conn,
        t: &Transport,
        rtnl: &Rtnl,
        admin_up: bool,
        violations: u64,
    ) {
        // Leaving: our half says Down, and must keep saying it.
        if t.leaving.load(Relaxed) {
            return;
        }
        if !admin_up {
            self.set_status(t, Status::AdminDown, None);
            return;
        }
        if self.stalled.xchg(false, Relaxed) && self.up.load(Relaxed) {
            let side = t.role_name();
            pr_warn!("xpu ({side} side): a TX queue stalled: resetting the link\n");
            self.restart(dev, conn, t, rtnl, true);
        }
        let since = violations.wrapping_sub(self.violations_at_connect.load(Relaxed));
        if self.up.load(Relaxed) && since >= VIOLATIONS_BEFORE_RESET {
            let side = t.role_name();
            pr_warn!(
                "xpu ({side} side): the peer violated the ring protocol {since} times: resetting the link\n"
            );
            self.resets.store(self.resets.load(Relaxed) + 1, Relaxed);
            self.restart(dev, conn, t, rtnl, true);
        }
        if self.up.load(Relaxed) {
            match self.peer(conn).0 {
                Peer::Alive { generation, up, .. }
                    if generation == self.peer_generation.load(Relaxed) =>
                {
                    if up {
                        dev.carrier_on();
                        self.set_status(t, Status::Connected, None);
                    } else {
                        self.set_status(t, Status::Connecting, None);
                    }
                    return;
                }
                // The incarnation we talked to is gone.
                _ => self.restart(dev, conn, t, rtnl, true),
            }
        }
        match self.peer(conn) {
            (Peer::Absent, _) => self.set_status(t, Status::Waiting, None),
            (Peer::Mismatch(s), layout) => self.set_status(t, s, layout.as_ref()),
            // It restarts when it sees our header, and rings us then.
            (Peer::Alive { stale: true, .. }, _) => self.set_status(t, Status::Connecting, None),
            (Peer::Alive { generation, up, .. }, _) => {
                self.violations_at_connect.store(violations, Relaxed);
                self.peer_generation.store(generation, Relaxed);
                self.up.store(true, Relaxed);
                conn.set_live(true);
                conn.set_up(generation);
                t.doorbell.ring(0);
                // Look at every ring once: doorbells that came before we were live were
                // ignored; and let TX queues stopped before the reset try again.
                dev.napi_disable(rtnl);
                dev.napi_enable(conn.num_queues(), rtnl);
                dev.txq_wake_all();
                if up {
                    dev.carrier_on();
                    self.set_status(t, Status::Connected, None);
                } else {
                    self.set_status(t, Status::Connecting, None);
                }
            }
        }
    }

    /// Stops using the rings and starts over with empty ones and a new generation. `running`:
    /// the device is up, so its TX queues and NAPI must be quiesced around the reset.
    pub(crate) fn restart(
        &self,
        dev: &Device,
        conn: &Conn,
        t: &Transport,
        rtnl: &Rtnl,
        running: bool,
    ) {
        dev.carrier_off();
        if running {
            dev.txq_disable_all(rtnl);
            dev.napi_disable(rtnl);
        }
        self.up.store(false, Relaxed);
        let generation = self.generation.load(Relaxed).wrapping_add(1);
        self.generation.store(generation, Relaxed);
        // Frames redirected to the device (ndo_xdp_xmit) come whether its queues run or not:
        // once the rings are not live they are refused, and a grace period waits out those
        // already being written.
        conn.set_live(false);
        dev.synchronize_net(rtnl);
        if conn.reset(generation, dev.mtu()).is_err() {
            pr_err!("xpu: cannot reset the window\n");
        }
        if running {
            dev.napi_enable(conn.num_queues(), rtnl);
        }
        t.doorbell.ring(0);
    }

    /// `ndo_stop`: the device goes down (NAPI and TX are stopped already); the other side
    /// sees a restart and waits for us.
    pub(crate) fn stop(&self, dev: &Device, conn: &Conn, t: &Transport, rtnl: &Rtnl) {
        if t.leaving.load(Relaxed) {
            // Our half says Down already; just stop using the rings.
            self.up.store(false, Relaxed);
            conn.set_live(false);
        } else if self.up.load(Relaxed) {
            self.restart(dev, conn, t, rtnl, false);
        }
        self.set_status(t, Status::AdminDown, None);
    }
}
