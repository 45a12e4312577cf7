// SPDX-License-Identifier: GPL-2.0

//! [`Conn`]: the datapath of one end of a link, TX into this end's rings and NAPI RX out of
//! the peer's.
//!
//! Both ends run this same code over one shared window (uapi/src/shm.rs has the layout,
//! uapi/src/ring.rs the index arithmetic and the notification protocol, uapi/src/data.rs where
//! packet data goes). Per queue and direction there is one single-producer single-consumer
//! ring: the producer is `ndo_start_xmit` under the TX queue lock, the consumer the peer's NAPI
//! poll. A packet is copied twice: by the producer into its own half (the peer cannot reach
//! the sender's skb), and by the consumer out of that half into a fresh skb.
//!
//! Nothing read from the peer's half is trusted: indices go through [`Ring::avail`] and
//! [`Ring::completed`], descriptors through [`Layout::check_desc`], metadata through the
//! kernel's virtio-net header validation. A violation is counted and the packet dropped. Our
//! own words are written, never trusted on read: on ivshmem the peer can write our half too.
//!
//! This end's private state of each ring (its own copies of the indices, where its packets
//! start) is in core atomics, relaxed: each ring has one writer (the TX queue lock, or the
//! poll that owns NAPI), and `reset` runs only while neither does.

use core::{
    ops::Deref,
    sync::atomic::{
        AtomicBool, AtomicU32,
        Ordering::{Acquire, Relaxed, Release},
    },
};

use super::{
    data::DataArea,
    mem::{self, HeaderAt, SharedMem, Words},
    meta,
    port::{Clock, Delivered, DropReason, Mode, Moderation, Poller, Port, TxPacket},
    ring::{self, Ring, RingWords, Room},
    rss::{self, HashType, PeerRss, Rss, RssConfig},
    shm::{
        self, Layout, SideHeader, SideState, FEATURE_NONCOHERENT, FEATURE_RSS, MAX_QUEUES,
        MIN_RING_SIZE, RSS_OFF,
    },
    stats::{Counter, RxStats, TxStats},
    toeplitz,
};

/// The largest packet a descriptor carries: a 64 KiB GSO packet, or a 65535-byte MTU frame
/// with its Ethernet and VLAN headers (driver/xpu_shim.c caps TSO at 64 KiB).
pub const MAX_PACKET: u32 = 65_536 + 64;

/// The Ethernet header: the least a received packet must hold.
pub const ETH_HLEN: u32 = 14;

/// Offset of [`SideHeader::state`] in a header.
pub const STATE_OFF: u32 = 16;
const _: () = assert!(core::mem::offset_of!(SideHeader, state) == STATE_OFF as usize);
/// Offset of [`SideHeader::peer_generation`] in a header.
const PEER_GENERATION_OFF: u32 = 24;
const _: () =
    assert!(core::mem::offset_of!(SideHeader, peer_generation) == PEER_GENERATION_OFF as usize);
/// Bytes of a descriptor.
// CAST: 16.
const DESC_BYTES: u32 = core::mem::size_of::<shm::Desc>() as u32;
/// Offset of [`SideHeader::features`]' low word in a header.
const FEATURES_OFF: u32 = 8;
const _: () = assert!(core::mem::offset_of!(SideHeader, features) == FEATURES_OFF as usize);

/// Why a [`Conn`] could not be set up (the driver maps each to an errno).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The layout does not fit the window, or the side is neither 0 nor 1.
    Layout,
    /// The storage is smaller than [`storage_words`].
    Slots,
}

/// Where a [`Conn`] is and how it signals.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The window's layout (both ends have the same).
    pub layout: Layout,
    /// Which half is ours: 0 (the host, or a pair's first end) or 1.
    pub side: u32,
    /// How the ends signal each other.
    pub mode: Mode,
    /// [`Mode::Doorbell`]: how long (in [`Clock`] ticks) the peer may leave our packets unread,
    /// against its own event index, before we ring it anyway.
    pub overdue_ticks: u32,
    /// The link's number this end publishes ([`SideHeader::link_id`]): the host side's, drawn
    /// when its function is probed and kept through resets; zero on the DPU side, which reads
    /// the host's, and in a pair.
    pub link_id: u32,
}

/// Words of storage a [`Conn`] over `layout` needs: the tables of our RSS key and of the
/// peer's ([`toeplitz::TABLE_WORDS`] each), then where each packet in flight starts, one per
/// descriptor of each TX ring.
pub fn storage_words(layout: &Layout) -> usize {
    STARTS_AT + usize::from(layout.num_queues()) * layout.ring_size() as usize
}

/// Where the packet starts are in a [`Conn`]'s storage, past the two tables.
const STARTS_AT: usize = 2 * toeplitz::TABLE_WORDS;

/// This end's private state of one of its TX rings: its own copies of the indices, so that
/// nothing the peer writes can make it reuse a buffer early.
struct TxRing {
    /// Descriptors written.
    prod: AtomicU32,
    /// Descriptors made visible to the peer (and doorbell decided).
    published: AtomicU32,
    /// The peer's consumer index as last validated.
    cons: AtomicU32,
    /// The depth the peer asks for on this ring, as last read and bounded.
    peer_depth: AtomicU32,
    /// End of the newest packet in the data area.
    head: AtomicU32,
    /// [`Mode::Doorbell`]: the consumer index at the last suppressed doorbell, and since when
    /// (in ticks) the peer has left packets unread without moving it ([`Conn::overdue`]).
    seen_cons: AtomicU32,
    waiting_since: AtomicU32,
}

/// This end's private state of one of the peer's TX rings (our RX).
struct RxRing {
    /// Descriptors consumed.
    cons: AtomicU32,
}

/// Both directions of one queue.
struct Queue {
    tx: TxRing,
    rx: RxRing,
}

impl Queue {
    const fn new() -> Self {
        Self {
            tx: TxRing {
                prod: AtomicU32::new(0),
                published: AtomicU32::new(0),
                cons: AtomicU32::new(0),
                peer_depth: AtomicU32::new(0),
                head: AtomicU32::new(0),
                seen_cons: AtomicU32::new(0),
                waiting_since: AtomicU32::new(0),
            },
            rx: RxRing {
                cons: AtomicU32::new(0),
            },
        }
    }
}

/// One end of a connected link over the window `M`: where its rings are and their private
/// state. `S` is its storage ([`storage_words`] of it, zeroed), out of the struct, which is
/// built on the stack.
pub struct Conn<M, C, S> {
    mode: Mode,
    /// Whether the rings are in use: always in pair mode; in PCI mode, while the handshake
    /// says so (transmit drops, poll ignores the rings, otherwise).
    live: AtomicBool,
    mem: M,
    clock: C,
    layout: Layout,
    ring: Ring,
    area: DataArea,
    /// Offset of this end's half in the window.
    own: u32,
    /// Offset of the peer's half.
    peer: u32,
    queues: [Queue; MAX_QUEUES as usize],
    /// The table of our RSS key, for the receive hash ([`toeplitz::fill_table`], zero for
    /// the zero key), and of the peer's, for [`PeerRss`]; then where each in-flight packet
    /// starts in its queue's data area, by queue and ring slot: the oldest one is the tail of
    /// the byte ring.
    words: S,
    overdue_ticks: u32,
    /// [`Config::link_id`].
    link_id: u32,
    /// Most descriptors in flight on each of our TX rings (`ethtool -G tx`), and the most we
    /// ask the peer to keep in flight on each of its rings (`ethtool -G rx`, published in our
    /// consumer lines): both within the ring's size, which the layout fixes.
    tx_depth: AtomicU32,
    rx_depth: AtomicU32,
    /// This end's receive-side scaling, as `ethtool -X` set it (published in our half for the
    /// peer to send by), and whether it was set (`reset` publishes it again).
    rss: Rss,
    rss_set: AtomicBool,
    /// The peer's, as we last read it, to send by.
    peer_rss: PeerRss,
}

/// `ethtool -G`'s sizes out of range: below [`MIN_RING_SIZE`] or above the ring's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadDepth {
    /// The range a depth must be in.
    pub min: u32,
    /// See `min`.
    pub max: u32,
}

impl<M, C, S> Conn<M, C, S>
where
    M: Deref,
    M::Target: SharedMem,
    C: Clock,
    S: Deref<Target = [AtomicU32]>,
{
    /// The end `cfg.side` of a link over `mem`; publishes this end's header with
    /// `generation` and `mtu`, in state `Up` for [`Mode::Pair`] (live at once), `Ready` for
    /// [`Mode::Doorbell`] (live when the handshake says so).
    pub fn new(
        mem: M,
        clock: C,
        words: S,
        cfg: Config,
        generation: u32,
        mtu: u32,
    ) -> Result<Self, Error> {
        let layout = cfg.layout;
        let ring = Ring::new(layout.ring_size()).ok_or(Error::Layout)?;
        let area = DataArea::new(layout.data_size()).ok_or(Error::Layout)?;
        let half = layout.half_size();
        if u64::from(half) * 2 > mem.size() {
            return Err(Error::Layout);
        }
        let (own, peer) = match cfg.side {
            0 => (0, half),
            1 => (half, 0),
            _ => return Err(Error::Layout),
        };
        if words.len() < storage_words(&layout) {
            return Err(Error::Slots);
        }
        let conn = Self {
            mode: cfg.mode,
            live: AtomicBool::new(false),
            mem,
            clock,
            layout,
            ring,
            area,
            own,
            peer,
            queues: [const { Queue::new() }; MAX_QUEUES as usize],
            words,
            overdue_ticks: cfg.overdue_ticks,
            link_id: cfg.link_id,
            tx_depth: AtomicU32::new(ring.size()),
            rx_depth: AtomicU32::new(ring.size()),
            rss: Rss::new(),
            rss_set: AtomicBool::new(false),
            peer_rss: PeerRss::new(),
        };
        conn.reset(generation, mtu)?;
        if cfg.mode == Mode::Pair {
            // Pair mode has no handshake: both ends are live from the start (`reset` left
            // the rings unused, as PCI mode wants until its handshake connects).
            conn.set_state(SideState::Up);
            conn.set_live(true);
        }
        Ok(conn)
    }

    /// Starts over: forgets every packet in flight both ways, zeroes this end's index words
    /// and publishes its header in state `Ready` with `generation`. Only while nothing else
    /// runs on the rings: TX queues stopped, NAPI off, and not live for a grace period
    /// (frames redirected to the device come whatever its queues' state).
    pub fn reset(&self, generation: u32, mtu: u32) -> Result<(), Error> {
        self.live.store(false, Relaxed);
        // Our header says Down while our words are being zeroed.
        self.set_state(SideState::Down);
        for q in self.queues.iter() {
            let t = &q.tx;
            for w in [&t.prod, &t.published, &t.cons, &t.head, &t.seen_cons] {
                w.store(0, Relaxed);
            }
            // Until the peer's consumer line is read: what it would ask if it asked nothing.
            t.peer_depth.store(self.ring.size(), Relaxed);
            q.rx.cons.store(0, Relaxed);
        }
        let rx_depth = self.rx_depth.load(Relaxed);
        for q in 0..self.num_queues() {
            let (Some(p), Some(c)) = (self.layout.producer_off(q), self.layout.consumer_off(q))
            else {
                return Err(Error::Layout);
            };
            for off in [p, p + 4, c, c + 4] {
                self.mem
                    .store_shared(self.own + off, 0)
                    .ok_or(Error::Layout)?;
            }
            // The depth we ask for outlives a reset, as an ethtool setting does.
            self.mem
                .store_shared(self.own + c + 8, rx_depth)
                .ok_or(Error::Layout)?;
        }
        // The peer may be starting over too: its next RSS block may reuse a sequence word.
        self.peer_rss.forget();
        // Ours outlives a reset, as an ethtool setting does; whatever the peer wrote over it in
        // our half is put right.
        if self.rss_set.load(Relaxed) {
            rss::publish(&*self.mem, self.own + RSS_OFF as u32, &self.rss.get());
        }
        let header = self
            .layout
            .header(self.features(), generation, mtu, self.link_id);
        // The zeroed words are visible before the header that says Ready.
        self.mem.full_barrier();
        let at = HeaderAt::new(&*self.mem, self.own).ok_or(Error::Layout)?;
        shm::publish_header(&at, &header);
        Ok(())
    }

    /// Publishes this end's state.
    pub fn set_state(&self, state: SideState) {
        let _ = self
            .mem
            .store_release_shared(self.own + STATE_OFF, state as u32);
    }

    /// Publishes that this end is `Up`, connected to the peer's `generation`.
    pub fn set_up(&self, generation: u32) {
        let _ = self
            .mem
            .store_shared(self.own + PEER_GENERATION_OFF, generation);
        self.set_state(SideState::Up);
    }

    /// Starts or stops using the rings (PCI mode's handshake).
    pub fn set_live(&self, live: bool) {
        self.live.store(live, Release);
    }

    /// The ring depths in force: what we ask the peer to keep in flight on its rings (rx), and
    /// the most we keep in flight on ours (tx), each at most the ring's size.
    pub fn depths(&self) -> (u32, u32) {
        (self.rx_depth.load(Relaxed), self.tx_depth.load(Relaxed))
    }

    /// `ethtool -G`: sets the depths given, live (nothing in flight is lost; a ring shrunk
    /// below what it holds drains to the new depth before it takes more). The peer sees our
    /// rx depth in our consumer lines at its next reclaim: at once for its stack's packets,
    /// which reclaim before each; XDP frames reclaim only when the ring looks full, so up to
    /// one old depth of them may still come. Neither is set if one is out of range. A larger tx depth can make room on a stopped queue: the caller wakes the
    /// queues, whose next transmit finds the room or stops again.
    pub fn set_depths(&self, rx: Option<u32>, tx: Option<u32>) -> Result<(), BadDepth> {
        let bad = BadDepth {
            min: MIN_RING_SIZE,
            max: self.ring.size(),
        };
        if [rx, tx]
            .iter()
            .flatten()
            .any(|d| !(bad.min..=bad.max).contains(d))
        {
            return Err(bad);
        }
        if let Some(tx) = tx {
            self.tx_depth.store(tx, Relaxed);
        }
        if let Some(rx) = rx {
            self.rx_depth.store(rx, Relaxed);
            for q in 0..self.num_queues() {
                if let Some(w) = self.rx_words(q) {
                    w.set_depth(rx);
                }
            }
        }
        Ok(())
    }

    /// This end's RSS configuration.
    pub fn rss(&self) -> RssConfig {
        self.rss.get()
    }

    /// Sets this end's RSS configuration and publishes it for the peer, which sends each flow
    /// on the ring it gives from then on (one writer: the caller serialises).
    pub fn set_rss(&self, cfg: &RssConfig) {
        self.rss.set(cfg);
        toeplitz::fill_table(&cfg.key, self.rss_table());
        self.rss_set.store(true, Relaxed);
        // CAST: the block is in the header's page, inside the half.
        rss::publish(&*self.mem, self.own.wrapping_add(RSS_OFF as u32), cfg);
    }

    /// The hash of a received frame (its first bytes, [`rss::FLOW_HEADER_MAX`] are enough)
    /// with our own configuration, for `skb->hash`.
    pub fn rx_hash(&self, frame: &[u8]) -> Option<(u32, HashType)> {
        self.rss.hash_by_table(self.rss_table(), frame)
    }

    /// The table of our RSS key.
    fn rss_table(&self) -> &[AtomicU32] {
        self.words.get(..toeplitz::TABLE_WORDS).unwrap_or(&[])
    }

    /// The table of the peer's, as [`PeerRss`] last took it.
    fn peer_rss_table(&self) -> &[AtomicU32] {
        self.words
            .get(toeplitz::TABLE_WORDS..STARTS_AT)
            .unwrap_or(&[])
    }

    /// The ring the peer's RSS configuration gives the frame `frame` starts, if the peer
    /// publishes one; below our queue count, but still to be bounded by the caller's own
    /// queues in use.
    pub fn tx_ring(&self, frame: &[u8]) -> Option<u16> {
        // The peer's features word, read alone: a torn or stale view only steers a packet.
        let features = self.mem.load_shared(self.peer.wrapping_add(FEATURES_OFF))?;
        if u64::from(features) & FEATURE_RSS == 0 {
            return None;
        }
        self.peer_rss.pick(
            &*self.mem,
            self.peer.wrapping_add(RSS_OFF as u32),
            frame,
            self.num_queues(),
            self.peer_rss_table(),
            self.clock.ticks(),
        )
    }

    /// The link's number ([`SideHeader::link_id`]): ours if we publish one, else the peer's,
    /// from its header while it is `Ready` or `Up` and speaks our major version (in another,
    /// word 7 may be something else). Untrusted: it picks nothing for the datapath, and those
    /// who pick a link by it (xpu-cni) refuse two links of one number. `None` while neither
    /// end has one.
    pub fn link_id(&self) -> Option<u32> {
        if self.link_id != 0 {
            return Some(self.link_id);
        }
        let h = self.peer_header()?;
        let alive = matches!(
            SideState::from_raw(h.state),
            Some(SideState::Ready | SideState::Up)
        );
        let ours = h.magic == shm::MAGIC && h.version >> 16 == shm::VERSION >> 16;
        (ours && alive && h.link_id != 0).then_some(h.link_id)
    }

    /// A copy of the peer's header, to validate.
    pub fn peer_header(&self) -> Option<SideHeader> {
        mem::read_header(&*self.mem, self.peer)
    }

    /// The features our header announces.
    fn features(&self) -> u64 {
        let flushes = if self.mem.flushes() {
            FEATURE_NONCOHERENT
        } else {
            0
        };
        FEATURE_RSS | flushes
    }

    /// Whether the peer whose header is `h` takes the medium as we do: both flush (the
    /// medium is not coherent between the ends) or neither. A link whose ends differ must stay
    /// down: the end that flushes reads only what is written back, which the other never does.
    pub fn agrees(&self, h: &SideHeader) -> bool {
        (h.features & FEATURE_NONCOHERENT != 0) == self.mem.flushes()
    }

    /// This end's layout (the peer must have the same).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Size of the whole window.
    pub fn window_size(&self) -> u64 {
        self.mem.size()
    }

    /// Queues (rings per direction).
    pub fn num_queues(&self) -> u16 {
        self.layout.num_queues()
    }

    /// The window.
    pub fn mem(&self) -> &M::Target {
        &self.mem
    }

    /// Counts a protocol violation by the peer, and tells the port (in PCI mode the
    /// handshake looks at the count and resets the link if they keep coming).
    fn violation(&self, port: &impl Port, counter: &Counter) {
        counter.inc();
        port.violation();
    }

    fn words(&self, prod_half: u32, cons_half: u32, q: u16) -> Option<Words<'_, M::Target>> {
        let p = prod_half.checked_add(self.layout.producer_off(q)?)?;
        let c = cons_half.checked_add(self.layout.consumer_off(q)?)?;
        Words::new(&*self.mem, p, c)
    }

    /// Our TX ring `q`: producer words in our half, consumer words in the peer's.
    fn tx_words(&self, q: u16) -> Option<Words<'_, M::Target>> {
        self.words(self.own, self.peer, q)
    }

    /// The peer's TX ring `q`, which we consume.
    fn rx_words(&self, q: u16) -> Option<Words<'_, M::Target>> {
        self.words(self.peer, self.own, q)
    }

    /// Our private state of queue `q`, if we have such a queue.
    fn queue(&self, q: u16) -> Option<&Queue> {
        if q < self.num_queues() {
            self.queues.get(usize::from(q))
        } else {
            None
        }
    }

    fn start(&self, q: u16, idx: u32) -> Option<&AtomicU32> {
        let i = usize::from(q) * self.ring.size() as usize + self.ring.slot(idx) as usize;
        self.words.get(STARTS_AT + i)
    }

    /// Takes in the peer's consumer line: its index, if it is one a correct peer can produce,
    /// and the depth it asks for, bounded by the ring (0 asks for the whole ring).
    fn reclaim(&self, tx: &TxRing, w: &Words<'_, M::Target>) -> Result<(), ring::BadIndex> {
        let depth = match w.depth() {
            0 => self.ring.size(),
            d => d.min(self.ring.size()),
        };
        tx.peer_depth.store(depth, Relaxed);
        let cons = w.cons();
        self.ring
            .completed(cons, tx.cons.load(Relaxed), tx.published.load(Relaxed))?;
        tx.cons.store(cons, Relaxed);
        Ok(())
    }

    /// Most descriptors TX ring `tx` may have in flight: our depth and the peer's, the
    /// smaller.
    fn depth(&self, tx: &TxRing) -> u32 {
        self.tx_depth.load(Relaxed).min(tx.peer_depth.load(Relaxed))
    }

    /// Where a packet of `len` bytes would go in TX queue `q`'s data area, if there is a
    /// free descriptor within the ring's depth, and room.
    fn place(&self, q: u16, tx: &TxRing, len: u32) -> Option<u32> {
        let (prod, cons) = (tx.prod.load(Relaxed), tx.cons.load(Relaxed));
        // `cons` was validated against `prod`, so the difference is what is in flight.
        if self.ring.free(prod, cons) == 0 || prod.wrapping_sub(cons) >= self.depth(tx) {
            return None;
        }
        let tail = if prod == cons {
            None
        } else {
            Some(self.start(q, cons)?.load(Relaxed))
        };
        self.area.place(tx.head.load(Relaxed), tail, len)
    }

    /// The largest packet this queue may have to take.
    fn max_len(&self) -> u32 {
        MAX_PACKET.min(self.area.size())
    }

    /// Whether the next packet, whatever its size, is sure to fit.
    fn has_room(&self, q: u16, tx: &TxRing) -> bool {
        self.place(q, tx, self.max_len()).is_some()
    }

    /// Copies `pkt` into TX ring `q`. Returns the reason if it was dropped.
    fn enqueue<P: TxPacket<M::Target>>(
        &self,
        q: u16,
        tx: &TxRing,
        st: &TxStats,
        pkt: P,
    ) -> Result<(), DropReason> {
        let len = pkt.size();
        if len > MAX_PACKET || len > self.area.size() {
            st.drop_too_big.inc();
            pkt.drop_for(DropReason::TooBig);
            return Err(DropReason::TooBig);
        }
        let Some(meta) = pkt.vnet_hdr().as_ref().and_then(meta::desc_meta) else {
            st.drop_bad_meta.inc();
            pkt.drop_for(DropReason::BadMeta);
            return Err(DropReason::BadMeta);
        };
        let prod = tx.prod.load(Relaxed);
        let placed = self.place(q, tx, len).and_then(|off| {
            let data = self.layout.data_area_off(q)?.checked_add(off)?;
            let desc = self.layout.desc_off(q, prod)?;
            Some((off, data, desc))
        });
        let Some((off, data, desc)) = placed else {
            // The queue stops before the ring fills; only a peer that stopped consuming, or
            // moved its index wrongly, gets us here.
            st.drop_ring_full.inc();
            pkt.drop_for(DropReason::RingFull);
            return Err(DropReason::RingFull);
        };
        let d = shm::Desc {
            off: data,
            len,
            ..meta
        };
        // Offsets inside our half: the layout keeps every region below `half_size`. Both reach
        // the medium before the producer index that publishes them (`kick`).
        let written = pkt
            .copy_to(&*self.mem, self.own + data)
            .and_then(|()| self.mem.write_desc(self.own + desc, &d))
            .map(|()| {
                self.mem.writeback(self.own + data, len);
                self.mem.writeback(self.own + desc, DESC_BYTES);
            });
        let start = self.start(q, prod);
        let (Some(()), Some(start), Some(footprint)) = (written, start, DataArea::footprint(len))
        else {
            st.drop_bad_meta.inc();
            pkt.drop_for(DropReason::BadMeta);
            return Err(DropReason::BadMeta);
        };
        start.store(off, Relaxed);
        tx.head.store(off + footprint, Relaxed);
        tx.prod.store(prod.wrapping_add(1), Relaxed);
        st.packets.inc();
        st.bytes.add(len.into());
        pkt.consume();
        Ok(())
    }

    /// Publishes what was written to TX ring `q` and rings the peer if it asked for it.
    fn kick(&self, port: &impl Port, q: u16, tx: &TxRing, w: &impl RingWords, st: &TxStats) {
        let (old, new) = (tx.published.load(Relaxed), tx.prod.load(Relaxed));
        if old == new {
            return;
        }
        tx.published.store(new, Relaxed);
        let asked = ring::publish(w, old, new);
        if asked || self.overdue(tx, old) {
            if port.notify_peer(q) {
                st.doorbells.inc();
                if !asked {
                    st.overdue.inc();
                }
            }
        } else {
            st.suppressed.inc();
        }
    }

    /// [`Mode::Doorbell`], when the peer's event index says not to ring it: whether it has
    /// nonetheless left our packets unread for `overdue_ticks`. The event index is the peer's
    /// to write, so a wrong one (a confused peer, or one whose half was scribbled on) would
    /// otherwise hold our packets, and its own receive path, until the ring fills, which a
    /// trickle of traffic never does. So we ring anyway, at most once per period; a correct
    /// peer polls once more. Costs a tick read per suppressed doorbell.
    fn overdue(&self, tx: &TxRing, old: u32) -> bool {
        if self.mode != Mode::Doorbell {
            return false;
        }
        let (cons, now) = (tx.cons.load(Relaxed), self.clock.ticks());
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

    /// Stopped with packets in flight: if the peer's event lies ahead, at or past everything
    /// we have published, no publish of ours reaches it (it coalesces further ahead than our tx
    /// depth, or our data area, lets us go), and only its timer would move the ring: ring it
    /// now. An event behind its index is no request (a peer that polls, busy polling among
    /// them, leaves it there): no doorbell then, as `kick` sends none.
    fn ring_if_unreachable(
        &self,
        port: &impl Port,
        q: u16,
        tx: &TxRing,
        w: &Words<'_, M::Target>,
        st: &TxStats,
    ) {
        let (cons, published) = (tx.cons.load(Relaxed), tx.published.load(Relaxed));
        let event = w.cons_event();
        let (in_flight, ahead) = (published.wrapping_sub(cons), event.wrapping_sub(cons));
        if in_flight > 0 && (in_flight..self.ring.size()).contains(&ahead) && port.notify_peer(q) {
            st.doorbells.inc();
        }
    }

    /// Stops TX queue `q` until a packet of `need` bytes fits, unless it fits already. The
    /// consumer wakes the queue when its index passes the event we set (half of what is in
    /// flight); `ring::producer_stop` re-arms while it passed without freeing enough bytes.
    /// Returns whether there is room now (the queue is running again).
    fn stop_until_room(
        &self,
        port: &impl Port,
        q: u16,
        tx: &TxRing,
        w: &Words<'_, M::Target>,
        st: &TxStats,
        need: u32,
    ) -> bool {
        port.txq_stop(q);
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
                port.txq_start(q);
                true
            }
            Ok(false) => {
                self.ring_if_unreachable(port, q, tx, w, st);
                false
            }
            Err(ring::BadIndex) => {
                self.violation(port, &st.peer_errors);
                false
            }
        }
    }

    /// `ndo_start_xmit` for TX queue `q`. Gives the packet back if the ring has no room for it
    /// (the queue is then stopped, and the core retries after the wake-up).
    pub fn transmit<P: TxPacket<M::Target>>(
        &self,
        port: &impl Port,
        q: u16,
        st: &TxStats,
        pkt: P,
    ) -> Result<(), P> {
        let (Some(queue), Some(w), true) =
            (self.queue(q), self.tx_words(q), self.live.load(Acquire))
        else {
            st.drop_link_down.inc();
            pkt.drop_for(DropReason::LinkDown);
            return Ok(());
        };
        let tx = &queue.tx;
        if self.reclaim(tx, &w).is_err() {
            // Keep the last good index: we only ever reuse what the peer really released.
            self.violation(port, &st.peer_errors);
        }
        let len = pkt.size();
        if len <= self.max_len() && self.place(q, tx, len).is_none() {
            // The queue normally stops before this: after a wake-up for too little room, or
            // an ethtool -L, a packet can still find the ring full. Never send descriptors
            // the peer cannot see, and keep the packet for later.
            self.kick(port, q, tx, &w, st);
            if !self.stop_until_room(port, q, tx, &w, st, len) {
                return Err(pkt);
            }
        }
        // A drop is counted where it happens; the queue state below applies either way.
        let _ = self.enqueue(q, tx, st, pkt);
        let room = self.has_room(q, tx);
        // Batch the doorbell over a burst, but never stop with descriptors unpublished: the
        // peer would never see them, and never wake us.
        if !room || !port.xmit_more() {
            self.kick(port, q, tx, &w, st);
        }
        if !room {
            self.stop_until_room(port, q, tx, &w, st, self.max_len());
        }
        Ok(())
    }

    /// Writes an XDP frame to TX ring `q` (XDP_TX from a poll of this end, or a frame
    /// redirected to the device), under the queue's lock ([`Port::tx_locked`]), without
    /// publishing it: [`Conn::flush_frames`] does, once per batch. The queue is the stack's to
    /// stop and start, so a frame that finds no room (or the link down) is not waited for but
    /// given back, counted, for the caller to free, as XDP drivers do.
    pub fn transmit_frame<P: TxPacket<M::Target>>(
        &self,
        port: &impl Port,
        q: u16,
        st: &TxStats,
        pkt: P,
    ) -> Result<(), P> {
        let (Some(queue), Some(w), true) =
            (self.queue(q), self.tx_words(q), self.live.load(Acquire))
        else {
            st.xdp_xmit_err.inc();
            return Err(pkt);
        };
        let tx = &queue.tx;
        if self.place(q, tx, pkt.size()).is_none() {
            if self.reclaim(tx, &w).is_err() {
                self.violation(port, &st.peer_errors);
            }
            if self.place(q, tx, pkt.size()).is_none() {
                st.xdp_xmit_err.inc();
                return Err(pkt);
            }
        }
        // Only metadata the frame cannot have, or a window that moved under us, fails from
        // here: counted as drops where they happen.
        if self.enqueue(q, tx, st, pkt).is_ok() {
            st.xdp_xmit.inc();
        }
        Ok(())
    }

    /// `ndo_xdp_xmit` on TX ring `q`: under the queue's lock, takes `frames` in order until
    /// one cannot be sent, which goes to `give_back` (the rest are not drawn: their sender
    /// frees them), then publishes what it took with one doorbell. Returns how many it took.
    pub fn transmit_frames<P: TxPacket<M::Target>>(
        &self,
        port: &impl Port,
        q: u16,
        st: &TxStats,
        frames: &mut dyn Iterator<Item = P>,
        give_back: impl FnOnce(P),
    ) -> u32 {
        port.tx_locked(q, || {
            let mut sent = 0;
            for frame in frames {
                if let Err(frame) = self.transmit_frame(port, q, st, frame) {
                    give_back(frame);
                    break;
                }
                sent += 1;
            }
            self.flush_frames(port, q, st);
            sent
        })
    }

    /// Publishes the XDP frames written to TX ring `q` and rings the peer if it asked for it,
    /// under the queue's lock.
    pub fn flush_frames(&self, port: &impl Port, q: u16, st: &TxStats) {
        if let (Some(queue), Some(w)) = (self.queue(q), self.tx_words(q)) {
            self.kick(port, q, &queue.tx, &w, st);
        }
    }

    /// Receives descriptor `idx` of the peer's ring `q`; a frame its XDP program sends back goes
    /// to our TX ring `q` (`tx`), unpublished. Returns what became of it, if it was received.
    fn receive_one<N: Poller<M::Target>>(
        &self,
        port: &impl Port,
        napi: &N,
        q: u16,
        idx: u32,
        st: &RxStats,
        tx: &TxStats,
    ) -> Option<Delivered<()>> {
        let d = self.layout.desc_off(q, idx).and_then(|off| {
            let at = self.peer.checked_add(off)?;
            self.mem.invalidate(at, DESC_BYTES);
            self.mem.read_desc(at)
        });
        let at = d.as_ref().and_then(|d| {
            // Nothing shorter than an Ethernet header, or longer than a sender may send.
            if d.len < ETH_HLEN || d.len > MAX_PACKET {
                return None;
            }
            // Inside the peer's data area of `q`, so inside its half.
            self.peer.checked_add(self.layout.check_desc(q, d)?)
        });
        let (Some(d), Some(at)) = (d, at) else {
            self.violation(port, &st.peer_errors);
            return None;
        };
        // Metadata no sender of ours writes is refused before the packet is even copied.
        let Some(h) = meta::vnet_hdr(&d) else {
            st.drop_bad_meta.inc();
            return None;
        };
        // What the peer wrote, not what this end's cache held of it from the ring's last lap.
        self.mem.invalidate(at, d.len);
        let delivered = match napi.receive(&*self.mem, at, d.len, &h) {
            Ok(delivered) => delivered,
            Err(why) => {
                match why {
                    DropReason::BadMeta => st.drop_bad_meta.inc(),
                    _ => st.drop_nomem.inc(),
                }
                return None;
            }
        };
        st.packets.inc();
        st.bytes.add(d.len.into());
        Some(match delivered {
            Delivered::Up => Delivered::Up,
            Delivered::XdpPass => {
                st.xdp_pass.inc();
                Delivered::XdpPass
            }
            Delivered::XdpDrop => {
                st.xdp_drop.inc();
                Delivered::XdpDrop
            }
            Delivered::XdpRedirect => {
                st.xdp_redirect.inc();
                Delivered::XdpRedirect
            }
            Delivered::XdpGeneric { passed } => {
                st.xdp_generic.inc();
                if passed {
                    st.xdp_pass.inc();
                }
                Delivered::XdpGeneric { passed }
            }
            Delivered::XdpTx(frame) => {
                st.xdp_tx.inc();
                // A frame that finds no room is freed here, counted in `xdp_xmit_err`.
                if let Err(frame) = port.tx_locked(q, || self.transmit_frame(port, q, tx, frame)) {
                    frame.drop_for(DropReason::RingFull);
                }
                Delivered::XdpTx(())
            }
        })
    }

    /// How far past `cons` a poll that did `done` packets asks for its doorbell, under
    /// moderation `m`: at once without coalescing (or after an empty poll), `rx-frames`
    /// packets on with it (half a ring for 0), never more than half of the depth we ask the
    /// peer to keep to (a sender stopped at it would otherwise never get there).
    fn rearm_ahead(&self, done: u32, m: &Moderation) -> u32 {
        let half = self.ring.size().min(self.rx_depth.load(Relaxed)) / 2;
        match m.frames {
            _ if done == 0 || m.usecs == 0 => 0,
            0 => half,
            f => (f - 1).min(half),
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
    fn rearm<N: Poller<M::Target>>(
        &self,
        napi: &N,
        w: &impl RingWords,
        cons: u32,
        done: u32,
        m: &Moderation,
    ) {
        let ahead = self.rearm_ahead(done, m);
        let prod = ring::consumer_arm_at(w, cons.wrapping_add(ahead));
        match self.ring.avail(prod, cons) {
            Ok(n) if n > ahead => napi.schedule(),
            Ok(_) if ahead > 0 => napi.timer_start(m.usecs),
            // A bad index is counted by the next poll, which a doorbell or the timer starts.
            Ok(_) | Err(_) => {}
        }
    }

    /// NAPI poll of RX queue `q`; what its XDP program sends back goes out on our TX ring `q`,
    /// counted in `tx`.
    pub fn poll<N: Poller<M::Target>>(
        &self,
        port: &impl Port,
        napi: &N,
        q: u16,
        st: &RxStats,
        tx: &TxStats,
        budget: u32,
    ) -> u32 {
        st.polls.inc();
        let (Some(queue), Some(w), true) =
            (self.queue(q), self.rx_words(q), self.live.load(Acquire))
        else {
            napi.complete_done(0);
            return 0;
        };
        let rx = &queue.rx;
        if self.mode == Mode::Doorbell {
            // The peer's doorbell for this queue also means room in our TX ring.
            port.txq_wake(q);
        }
        let mut cons = rx.cons.load(Relaxed);
        let mut done = 0;
        let (mut xdp_tx, mut xdp_redirect) = (false, false);
        while done < budget {
            let avail = match self.ring.avail(w.prod(), cons) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => {
                    self.violation(port, &st.peer_errors);
                    break;
                }
            };
            let first = cons;
            for _ in 0..avail.min(budget - done) {
                match self.receive_one(port, napi, q, cons, st, tx) {
                    Some(Delivered::XdpTx(())) => xdp_tx = true,
                    Some(Delivered::XdpRedirect) => xdp_redirect = true,
                    _ => {}
                }
                cons = cons.wrapping_add(1);
                done += 1;
            }
            // Hand the buffers back as soon as they are copied, so a stopped sender restarts
            // while we are still polling.
            rx.cons.store(cons, Relaxed);
            if ring::release(&w, first, cons) {
                port.wake_peer(q);
                st.wakes.inc();
            }
        }
        // XDP's batches end with the poll's work, and before NAPI may move to another CPU:
        // the frames sent back are published with one doorbell, the redirected flushed.
        if xdp_tx {
            port.tx_locked(q, || self.flush_frames(port, q, tx));
        }
        if xdp_redirect {
            napi.xdp_flush();
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
