// SPDX-License-Identifier: GPL-2.0

//! The datapath of one end of a link: TX into this end's rings, NAPI RX out of the peer's.
//!
//! Both ends run this same code over one shared window (uapi/src/shm.rs has the layout,
//! uapi/src/ring.rs the index arithmetic and the notification protocol, uapi/src/data.rs where
//! packet data goes). Per queue and direction there is one single-producer single-consumer
//! ring: the producer is `ndo_start_xmit` under the TX queue lock, the consumer the peer's NAPI
//! poll. A packet is copied twice: by the producer into its own half (the peer cannot reach
//! the sender's skb), and by the consumer out of that half into a fresh skb.
//!
//! Pair mode signals by scheduling the peer's NAPI directly; PCI mode rings the other kernel's
//! MSI-X vectors through the fabric ([`Signal`]). The rest is the same code.
//!
//! Nothing read from the peer's half is trusted: indices go through [`Ring::avail`] and
//! [`Ring::completed`], descriptors through [`Layout::check_desc`], metadata through the
//! kernel's virtio-net header validation. A violation is counted and the packet dropped.

#![deny(unsafe_code)]

use kernel::{
    alloc::KVVec,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        barrier::{smp_mb, Full, Read, Write},
        Arc,
    },
};

use crate::{
    data::DataArea,
    net::{
        clock,
        device::Device,
        napi::Napi,
        pci::Doorbell,
        skb::{self, DropReason, SkBuff},
        sys::XpuModer,
        window::Window,
    },
    ring::{self, Ring, RingWords, Room},
    shm::{self, Desc, HeaderWords, Layout, SideHeader, SideState, HEADER_WORDS},
    stats::{Counter, RxStats, TxStats},
};

/// The largest packet a descriptor carries: a 64 KiB GSO packet, or a 65535-byte MTU frame
/// with its Ethernet and VLAN headers (driver/xpu_shim.c caps TSO at 64 KiB).
pub(crate) const MAX_PACKET: u32 = 65_536 + 64;

/// The Ethernet header: the least a received packet must hold.
const ETH_HLEN: u32 = 14;

/// How long a PCI peer may leave our packets unread, against its own event index, before we
/// ring it anyway ([`Conn::overdue`]): well within the TX watchdog's 5 s, which catches a
/// peer that stopped reading a full ring.
const OVERDUE_MS: u32 = 1000;

/// The four index words of one ring, inside the window.
struct Words<'a> {
    prod: &'a Atomic<u32>,
    prod_event: &'a Atomic<u32>,
    cons: &'a Atomic<u32>,
    cons_event: &'a Atomic<u32>,
}

impl RingWords for Words<'_> {
    fn prod(&self) -> u32 {
        self.prod.load(Acquire)
    }
    fn set_prod(&self, v: u32) {
        self.prod.store(v, Release);
    }
    fn cons(&self) -> u32 {
        self.cons.load(Acquire)
    }
    fn set_cons(&self, v: u32) {
        self.cons.store(v, Release);
    }
    fn prod_event(&self) -> u32 {
        self.prod_event.load(Relaxed)
    }
    fn set_prod_event(&self, v: u32) {
        self.prod_event.store(v, Relaxed);
    }
    fn cons_event(&self) -> u32 {
        self.cons_event.load(Relaxed)
    }
    fn set_cons_event(&self, v: u32) {
        self.cons_event.store(v, Relaxed);
    }
    fn full_barrier(&self) {
        smp_mb(Full);
    }
}

/// A side header in the window, for `shm::publish_header` and `shm::read_header`: its words
/// are atomics, as index words are, so the seqlock-style protocol is what orders them, and a
/// copy can no longer tear between the state and the generation (also read from hard IRQ).
struct HeaderAt<'a> {
    window: &'a Window,
    off: u32,
}

impl<'a> HeaderAt<'a> {
    /// The header at `off`, if all of it is inside the window.
    fn new(window: &'a Window, off: u32) -> Option<Self> {
        // CAST: a header is 16 words.
        let last = off.checked_add(4 * (HEADER_WORDS as u32 - 1))?;
        window.word(off)?;
        window.word(last)?;
        Some(Self { window, off })
    }

    fn word(&self, i: usize) -> Option<&Atomic<u32>> {
        // CAST: `i < HEADER_WORDS`, and `new` checked that the last word's offset fits.
        self.window.word(self.off.wrapping_add(4 * i as u32))
    }
}

impl HeaderWords for HeaderAt<'_> {
    fn load(&self, i: usize) -> u32 {
        self.word(i).map_or(0, |w| w.load(Relaxed))
    }
    fn store(&self, i: usize, v: u32) {
        if let Some(w) = self.word(i) {
            w.store(v, Relaxed);
        }
    }
    fn load_acquire(&self, i: usize) -> u32 {
        self.word(i).map_or(0, |w| w.load(Acquire))
    }
    fn store_release(&self, i: usize, v: u32) {
        if let Some(w) = self.word(i) {
            w.store(v, Release);
        }
    }
    fn write_barrier(&self) {
        smp_mb(Write);
    }
    fn read_barrier(&self) {
        smp_mb(Read);
    }
}

/// A copy of the side header at `off` (the peer's, or ours from an earlier load of the
/// module: validate it).
pub(crate) fn read_header(window: &Window, off: u32) -> Option<SideHeader> {
    shm::read_header(&HeaderAt::new(window, off)?)
}

/// This end's private state of one of its TX rings: its own copies of the indices, so that
/// nothing the peer writes can make it reuse a buffer early.
struct TxRing {
    /// Descriptors written.
    prod: Atomic<u32>,
    /// Descriptors made visible to the peer (and doorbell decided).
    published: Atomic<u32>,
    /// The peer's consumer index as last validated.
    cons: Atomic<u32>,
    /// End of the newest packet in the data area.
    head: Atomic<u32>,
    /// PCI mode: the consumer index at the last suppressed doorbell, and since when (in
    /// ticks) the peer has left packets unread without moving it ([`Conn::overdue`]).
    seen_cons: Atomic<u32>,
    waiting_since: Atomic<u32>,
}

/// This end's private state of one of the peer's TX rings (our RX).
struct RxRing {
    /// Descriptors consumed.
    cons: Atomic<u32>,
}

/// How one end tells the other that a ring needs attention.
pub(crate) enum Signal {
    /// Pair mode: both ends in one kernel; schedule the peer's NAPI, wake its queue.
    Pair,
    /// PCI mode: ring the other kernel's vector `1 + q` for queue `q`, for packets and for
    /// room alike (the vector's handler does both).
    Doorbell(Arc<Doorbell>),
}

/// Offset of [`SideHeader::state`] in a header.
pub(crate) const STATE_OFF: u32 = 16;
const _: () = assert!(core::mem::offset_of!(SideHeader, state) == STATE_OFF as usize);
/// Offset of [`SideHeader::peer_generation`] in a header.
const PEER_GENERATION_OFF: u32 = 24;
const _: () =
    assert!(core::mem::offset_of!(SideHeader, peer_generation) == PEER_GENERATION_OFF as usize);

/// One end of a connected link: where its rings are and their private state.
pub(crate) struct Conn {
    signal: Signal,
    /// Whether the rings are in use: always in pair mode; in PCI mode, while the handshake
    /// says so (`ndo_start_xmit` drops, NAPI ignores the rings, otherwise).
    live: Atomic<bool>,
    window: Arc<Window>,
    layout: Layout,
    ring: Ring,
    area: DataArea,
    /// Offset of this end's half in the window.
    own: u32,
    /// Offset of the peer's half.
    peer: u32,
    tx: KVVec<TxRing>,
    rx: KVVec<RxRing>,
    /// Where each in-flight packet starts in its queue's data area, by queue and ring slot:
    /// the oldest one is the tail of the byte ring.
    starts: KVVec<Atomic<u32>>,
    /// How long (in ticks) a PCI peer may leave our packets unread before we ring it although
    /// its event index said not to ([`Conn::overdue`]).
    overdue_ticks: u32,
}

impl Conn {
    /// The end `side` (0 or 1) of a link over `window` laid out as `layout`; publishes this
    /// end's header, in state `Up` for pair mode (`signal`), `Ready` for PCI mode.
    pub(crate) fn new(
        window: Arc<Window>,
        layout: Layout,
        side: u32,
        mtu: u32,
        signal: Signal,
        generation: u32,
    ) -> Result<Self> {
        let ring = Ring::new(layout.ring_size()).ok_or(EINVAL)?;
        let area = DataArea::new(layout.data_size()).ok_or(EINVAL)?;
        let half = layout.half_size();
        let (own, peer) = if side == 0 { (0, half) } else { (half, 0) };
        let queues = usize::from(layout.num_queues());

        let mut tx = KVVec::with_capacity(queues, GFP_KERNEL)?;
        let mut rx = KVVec::with_capacity(queues, GFP_KERNEL)?;
        for _ in 0..queues {
            tx.push(
                TxRing {
                    prod: Atomic::new(0),
                    published: Atomic::new(0),
                    cons: Atomic::new(0),
                    head: Atomic::new(0),
                    seen_cons: Atomic::new(0),
                    waiting_since: Atomic::new(0),
                },
                GFP_KERNEL,
            )?;
            rx.push(
                RxRing {
                    cons: Atomic::new(0),
                },
                GFP_KERNEL,
            )?;
        }
        let slots = queues * layout.ring_size() as usize;
        let mut starts = KVVec::with_capacity(slots, GFP_KERNEL)?;
        for _ in 0..slots {
            starts.push(Atomic::new(0), GFP_KERNEL)?;
        }

        let pair = matches!(signal, Signal::Pair);
        let conn = Self {
            signal,
            live: Atomic::new(false),
            window,
            layout,
            ring,
            area,
            own,
            peer,
            tx,
            rx,
            starts,
            overdue_ticks: clock::ms_to_ticks(OVERDUE_MS),
        };
        conn.reset(generation, mtu)?;
        if pair {
            // Pair mode has no handshake: both ends are live from the start (`reset` left
            // the rings unused, as PCI mode wants until its handshake connects).
            conn.set_state(SideState::Up);
            conn.set_live(true);
        }
        Ok(conn)
    }

    /// Starts over: forgets every packet in flight both ways, zeroes this end's index words
    /// and publishes its header in state `Ready` with `generation`. Only while nothing else
    /// runs on the rings (TX queues disabled, NAPI off).
    pub(crate) fn reset(&self, generation: u32, mtu: u32) -> Result {
        self.live.store(false, Relaxed);
        // Our header says Down while our words are being zeroed.
        self.set_state(SideState::Down);
        for t in self.tx.iter() {
            t.prod.store(0, Relaxed);
            t.published.store(0, Relaxed);
            t.cons.store(0, Relaxed);
            t.head.store(0, Relaxed);
            t.seen_cons.store(0, Relaxed);
        }
        for r in self.rx.iter() {
            r.cons.store(0, Relaxed);
        }
        for q in 0..self.num_queues() {
            let (Some(p), Some(c)) = (self.layout.producer_off(q), self.layout.consumer_off(q))
            else {
                return Err(EINVAL);
            };
            for off in [p, p + 4, c, c + 4] {
                self.window
                    .word(self.own + off)
                    .ok_or(EINVAL)?
                    .store(0, Relaxed);
            }
        }
        let header = self.layout.header(0, generation, mtu);
        // The zeroed words are visible before the header that says Ready.
        smp_mb(Full);
        let at = HeaderAt::new(&self.window, self.own).ok_or(EINVAL)?;
        shm::publish_header(&at, &header);
        Ok(())
    }

    /// Publishes this end's state.
    pub(crate) fn set_state(&self, state: SideState) {
        if let Some(w) = self.window.word(self.own + STATE_OFF) {
            w.store(state as u32, Release);
        }
    }

    /// Publishes that this end is `Up`, connected to the peer's `generation`.
    pub(crate) fn set_up(&self, generation: u32) {
        if let Some(w) = self.window.word(self.own + PEER_GENERATION_OFF) {
            w.store(generation, Relaxed);
        }
        self.set_state(SideState::Up);
    }

    /// Starts or stops using the rings (PCI mode's handshake).
    pub(crate) fn set_live(&self, live: bool) {
        self.live.store(live, Release);
    }

    /// A copy of the peer's header, to validate.
    pub(crate) fn peer_header(&self) -> Option<SideHeader> {
        read_header(&self.window, self.peer)
    }

    /// This end's layout (the peer must have the same).
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Size of the whole window.
    pub(crate) fn window_size(&self) -> u64 {
        self.window.size() as u64
    }

    /// Queues (rings per direction).
    pub(crate) fn num_queues(&self) -> u16 {
        self.layout.num_queues()
    }

    /// Counts a protocol violation by the peer. In PCI mode the handshake looks at the count
    /// and resets the link if they keep coming (`handshake::VIOLATIONS_BEFORE_RESET`).
    fn violation(&self, dev: &Device, counter: &Counter) {
        counter.inc();
        if let Signal::Doorbell(_) = self.signal {
            dev.control_schedule();
        }
    }

    fn words(&self, prod_half: u32, cons_half: u32, q: u16) -> Option<Words<'_>> {
        let p = prod_half.checked_add(self.layout.producer_off(q)?)?;
        let c = cons_half.checked_add(self.layout.consumer_off(q)?)?;
        Some(Words {
            prod: self.window.word(p)?,
            prod_event: self.window.word(p.checked_add(4)?)?,
            cons: self.window.word(c)?,
            cons_event: self.window.word(c.checked_add(4)?)?,
        })
    }

    /// Our TX ring `q`: producer words in our half, consumer words in the peer's.
    fn tx_words(&self, q: u16) -> Option<Words<'_>> {
        self.words(self.own, self.peer, q)
    }

    /// The peer's TX ring `q`, which we consume.
    fn rx_words(&self, q: u16) -> Option<Words<'_>> {
        self.words(self.peer, self.own, q)
    }

    fn start(&self, q: u16, idx: u32) -> Option<&Atomic<u32>> {
        let i = usize::from(q) * self.ring.size() as usize + self.ring.slot(idx) as usize;
        self.starts.get(i)
    }

    /// Takes in the peer's consumer index, if it is one a correct peer can produce.
    fn reclaim(&self, tx: &TxRing, w: &Words<'_>) -> Result<(), ring::BadIndex> {
        let cons = w.cons();
        self.ring
            .completed(cons, tx.cons.load(Relaxed), tx.published.load(Relaxed))?;
        tx.cons.store(cons, Relaxed);
        Ok(())
    }

    /// Where a packet of `len` bytes would go in TX queue `q`'s data area, if there is a
    /// free descriptor and room.
    fn place(&self, q: u16, tx: &TxRing, len: u32) -> Option<u32> {
        let (prod, cons) = (tx.prod.load(Relaxed), tx.cons.load(Relaxed));
        if self.ring.free(prod, cons) == 0 {
            return None;
        }
        let tail = if prod == cons {
            None
        } else {
            Some(self.start(q, cons)?.load(Relaxed))
        };
        self.area.place(tx.head.load(Relaxed), tail, len)
    }

    /// Whether the next packet, whatever its size, is sure to fit.
    fn has_room(&self, q: u16, tx: &TxRing) -> bool {
        self.place(q, tx, MAX_PACKET.min(self.area.size()))
            .is_some()
    }

    /// Copies `skb` into TX ring `q`. Returns the reason if it was dropped.
    fn enqueue(&self, q: u16, tx: &TxRing, st: &TxStats, skb: SkBuff) -> Result<(), DropReason> {
        let len = skb.len();
        if len > MAX_PACKET || len > self.area.size() {
            st.drop_too_big.inc();
            skb.drop_for(DropReason::TooBig);
            return Err(DropReason::TooBig);
        }
        let Ok(meta) = skb.tx_meta() else {
            st.drop_bad_meta.inc();
            skb.drop_for(DropReason::BadMeta);
            return Err(DropReason::BadMeta);
        };
        let prod = tx.prod.load(Relaxed);
        let placed = self.place(q, tx, len).and_then(|off| {
            let pkt = self.layout.data_area_off(q)?.checked_add(off)?;
            let desc = self.layout.desc_off(q, prod)?;
            Some((off, pkt, desc))
        });
        let Some((off, pkt, desc)) = placed else {
            // The queue stops before the ring fills; only a peer that stopped consuming, or
            // moved its index wrongly, gets us here.
            st.drop_ring_full.inc();
            skb.drop_for(DropReason::RingFull);
            return Err(DropReason::RingFull);
        };
        let d = Desc {
            off: pkt,
            len,
            ..meta
        };
        let written = self
            .window
            .copy_from_skb(self.own + pkt, &skb, len)
            .and_then(|()| self.window.write_desc(self.own + desc, &d));
        let start = self.start(q, prod);
        let (Ok(()), Some(start), Some(footprint)) = (written, start, DataArea::footprint(len))
        else {
            st.drop_bad_meta.inc();
            skb.drop_for(DropReason::BadMeta);
            return Err(DropReason::BadMeta);
        };
        start.store(off, Relaxed);
        tx.head.store(off + footprint, Relaxed);
        tx.prod.store(prod.wrapping_add(1), Relaxed);
        st.packets.inc();
        st.bytes.add(len.into());
        skb.consume();
        Ok(())
    }

    /// Publishes what was written to TX ring `q` and rings the peer if it asked for it.
    fn kick(&self, dev: &Device, q: u16, tx: &TxRing, w: &Words<'_>, st: &TxStats) {
        let (old, new) = (tx.published.load(Relaxed), tx.prod.load(Relaxed));
        if old == new {
            return;
        }
        tx.published.store(new, Relaxed);
        let asked = ring::publish(w, old, new);
        if asked || self.overdue(tx, old) {
            let rung = match &self.signal {
                Signal::Pair => dev.peer_napi_schedule(q),
                Signal::Doorbell(d) => d.ring(q + 1),
            };
            if rung {
                st.doorbells.inc();
                if !asked {
                    st.overdue.inc();
                }
            }
        } else {
            st.suppressed.inc();
        }
    }

    /// PCI mode, when the peer's event index says not to ring it: whether it has nonetheless
    /// left our packets unread for [`OVERDUE_MS`]. The event index is the peer's to write, so a
    /// wrong one (a confused peer, or one whose half was scribbled on) would otherwise hold our
    /// packets, and its own receive path, until the ring fills, which a trickle of traffic
    /// never does. So we ring anyway, at most once per period; a correct peer polls once more.
    /// Costs a tick read per suppressed doorbell.
    fn overdue(&self, tx: &TxRing, old: u32) -> bool {
        let Signal::Doorbell(_) = self.signal else {
            return false;
        };
        let (cons, now) = (tx.cons.load(Relaxed), clock::ticks());
        if cons != tx.seen_cons.load(Relaxed) || cons == old {
            // The peer moved, or had read everything before these packets: the wait starts now.
            tx.seen_cons.store(cons, Relaxed);
            tx.waiting_since.store(now, Relaxed);
            return false;
        }
        if now.wrapping_sub(tx.waiting_since.load(Relaxed)) < self.overdue_ticks {
            return false;
        }
        tx.waiting_since.store(now, Relaxed);
        true
    }

    /// Stops TX queue `q` until a packet of `need` bytes fits, unless it fits already. The
    /// consumer wakes the queue when its index passes the event we set (half of what is in
    /// flight); `ring::producer_stop` re-arms while it passed without freeing enough bytes.
    /// Returns whether there is room now (the queue is running again).
    fn stop_until_room(
        &self,
        dev: &Device,
        q: u16,
        tx: &TxRing,
        w: &Words<'_>,
        st: &TxStats,
        need: u32,
    ) -> bool {
        dev.txq_stop(q);
        st.stops.inc();
        let prod = tx.published.load(Relaxed);
        let room = || {
            self.reclaim(tx, w)?;
            Ok(if self.place(q, tx, need).is_some() {
                Room::Fits
            } else {
                Room::Short {
                    cons: tx.cons.load(Relaxed),
                }
            })
        };
        match ring::producer_stop(w, &self.ring, prod, room) {
            Ok(true) => {
                dev.txq_start(q);
                true
            }
            Ok(false) => false,
            Err(ring::BadIndex) => {
                self.violation(dev, &st.peer_errors);
                false
            }
        }
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
        let (Some(tx), Some(w), true) = (
            self.tx.get(usize::from(q)),
            self.tx_words(q),
            self.live.load(Acquire),
        ) else {
            st.drop_link_down.inc();
            skb.drop_for(DropReason::LinkDown);
            return Ok(());
        };
        if self.reclaim(tx, &w).is_err() {
            // Keep the last good index: we only ever reuse what the peer really released.
            self.violation(dev, &st.peer_errors);
        }
        let len = skb.len();
        if len <= MAX_PACKET.min(self.area.size()) && self.place(q, tx, len).is_none() {
            // The queue normally stops before this: after a wake-up for too little room, or
            // an ethtool -L, a packet can still find the ring full. Never send descriptors
            // the peer cannot see, and keep the packet for later.
            self.kick(dev, q, tx, &w, st);
            if !self.stop_until_room(dev, q, tx, &w, st, len) {
                return Err(skb);
            }
        }
        // A drop is counted where it happens; the queue state below applies either way.
        let _ = self.enqueue(q, tx, st, skb);
        let room = self.has_room(q, tx);
        // Batch the doorbell over a burst, but never stop with descriptors unpublished: the
        // peer would never see them, and never wake us.
        if !room || !skb::xmit_more() {
            self.kick(dev, q, tx, &w, st);
        }
        if !room {
            self.stop_until_room(dev, q, tx, &w, st, MAX_PACKET.min(self.area.size()));
        }
        Ok(())
    }

    /// Receives descriptor `idx` of the peer's ring `q`.
    fn receive_one(&self, dev: &Device, napi: &Napi, q: u16, idx: u32, st: &RxStats) {
        let d = self
            .layout
            .desc_off(q, idx)
            .and_then(|off| self.window.read_desc(self.peer.checked_add(off)?));
        let region = d.as_ref().and_then(|d| {
            // Nothing shorter than an Ethernet header, or longer than a sender may send.
            if d.len < ETH_HLEN || d.len > MAX_PACKET {
                return None;
            }
            let off = self.layout.check_desc(q, d)?;
            self.window.region(self.peer.checked_add(off)?, d.len)
        });
        let (Some(d), Some(region)) = (d, region) else {
            self.violation(dev, &st.peer_errors);
            return;
        };
        match napi.receive(region, &d) {
            Ok(()) => {
                st.packets.inc();
                st.bytes.add(d.len.into());
            }
            Err(DropReason::BadMeta) => st.drop_bad_meta.inc(),
            Err(_) => st.drop_nomem.inc(),
        }
    }

    /// NAPI is off: ask the peer for a doorbell, then look once more (uapi/src/ring.rs,
    /// checked by loom), so that a descriptor published meanwhile is not left without one.
    ///
    /// With coalescing (`ethtool -C rx-usecs N rx-frames M`, or adaptive-rx), a poll that found
    /// packets asks for the doorbell only `M` packets on, and bounds the wait with one timer
    /// of `N` µs: under load, a doorbell per `M` packets; after the last packet, one timer;
    /// on an idle link, nothing at all.
    ///
    /// NAPI is released here, so a doorbell may start the next poll on another CPU: nothing
    /// below writes the queue's counters (they have one writer, the poll that owns NAPI).
    fn rearm(&self, napi: &Napi, w: &Words<'_>, cons: u32, done: u32, m: &XpuModer) {
        let half = self.ring.size() / 2;
        let ahead = match m.frames {
            _ if done == 0 || m.usecs == 0 => 0,
            0 => half,
            f => (f - 1).min(half),
        };
        let prod = ring::consumer_arm_at(w, cons.wrapping_add(ahead));
        match self.ring.avail(prod, cons) {
            Ok(n) if n > ahead => napi.schedule(),
            Ok(_) if ahead > 0 => napi.timer_start(m.usecs),
            // A bad index is counted by the next poll, which a doorbell or the timer starts.
            Ok(_) | Err(_) => {}
        }
    }

    /// NAPI poll of RX queue `q`.
    pub(crate) fn poll(&self, dev: &Device, napi: &Napi, q: u16, st: &RxStats, budget: u32) -> u32 {
        st.polls.inc();
        let (Some(rx), Some(w), true) = (
            self.rx.get(usize::from(q)),
            self.rx_words(q),
            self.live.load(Acquire),
        ) else {
            napi.complete_done(0);
            return 0;
        };
        if let Signal::Doorbell(_) = self.signal {
            // The peer's doorbell for this queue also means room in our TX ring.
            dev.txq_wake(q);
        }
        let mut cons = rx.cons.load(Relaxed);
        let mut done = 0;
        while done < budget {
            let avail = match self.ring.avail(w.prod(), cons) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => {
                    self.violation(dev, &st.peer_errors);
                    break;
                }
            };
            let first = cons;
            for _ in 0..avail.min(budget - done) {
                self.receive_one(dev, napi, q, cons, st);
                cons = cons.wrapping_add(1);
                done += 1;
            }
            // Hand the buffers back as soon as they are copied, so a stopped sender restarts
            // while we are still polling.
            rx.cons.store(cons, Relaxed);
            if ring::release(&w, first, cons) {
                match &self.signal {
                    Signal::Pair => dev.peer_txq_wake(q),
                    Signal::Doorbell(d) => {
                        d.ring(q + 1);
                    }
                }
                st.wakes.inc();
            }
        }
        if done < budget {
            let m = napi.moderation();
            if m.adaptive {
                // CAST: DIM compares event counts modulo 2^16.
                napi.dim_sample(st.polls.get() as u16, st.packets.get(), st.bytes.get());
            }
            if napi.complete_done(done) {
                self.rearm(napi, &w, cons, done, &m);
            }
        }
        done
    }
}
