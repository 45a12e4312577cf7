// SPDX-License-Identifier: GPL-2.0

//! The shared-memory window: what each end of an xpu link writes, and where.
//!
//! The window (a PCIe BAR, a CXL region, or kernel memory in pair mode) is split in two halves.
//! Half 0 belongs to side 0 (the host), half 1 to side 1 (the DPU). **Each side writes only its
//! own half** and only reads the other (the NTB and ivshmem-v2 rule): a write across the link
//! is a posted write, a read is a round trip, and a single writer per cache line needs no
//! cross-side atomics. A half is laid out as:
//!
//! ```text
//! 0         SideHeader                        one page: identity, configuration, state
//! ring_off  num_queues x { RingProducer,      this side's TX rings: producer index and the
//!                          ring_size x Desc } producer's event index, then descriptors
//! cons_off  num_queues x RingConsumer         this side's consumer state for the PEER's rings
//! data_off  num_queues x ring_size x buf_size packet data behind this side's descriptors
//! ```
//!
//! Each queue's packet data is one area of `ring_size * buf_size` bytes that its producer
//! fills in order, as a byte ring (see [`crate::data`]): a packet is contiguous, anywhere in the
//! area, so a 64 KiB GSO packet crosses in one descriptor while small packets take little room.
//!
//! Every field is little-endian. Offsets in a [`SideHeader`] are informative only: a reader
//! recomputes the layout from the configuration with [`Layout::new`] and refuses a header
//! whose offsets disagree, so a peer cannot point us outside the window.

use core::mem::size_of;

/// `"XPU1"` as a little-endian `u32`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"XPU1");
/// Protocol version: major in the high 16 bits. Sides with different majors do not talk; a
/// minor adds what an older peer ignores. Minor 1: the consumer's depth word
/// ([`RingConsumer::depth`]), which a peer of minor 0 neither writes (0: the whole ring) nor
/// keeps to. Minor 2: the receive-side scaling block ([`RssBlock`], announced by
/// [`FEATURE_RSS`]), which a sender of minor 1 ignores (its packets go to the ring of the TX
/// queue its stack chose, as before). Minor 3: the link's number ([`SideHeader::link_id`]),
/// which a side of minor 2 writes as zero (no number) and does not read.
pub const VERSION: u32 = (1 << 16) | 3;
/// [`SideHeader::features`]: the side publishes an [`RssBlock`], and wants its peer to send
/// each flow on the ring the block's hash and indirection table choose.
pub const FEATURE_RSS: u64 = 1 << 0;
/// [`SideHeader::features`]: the side takes the medium as not coherent between the sides (CXL
/// memory that two hosts share without hardware coherence): it writes back the lines it
/// publishes and invalidates the peer's before it reads them. The sides must agree: one that
/// flushes reads the other's writes only once they are written back, so a side that does not
/// flush would lose what it sends, and the link stays down while they differ. Without the bit (every side
/// before it, ivshmem, CXL with cross-host coherence), the medium is coherent. A side older
/// than the bit does not look at it: facing one that flushes, it waits for a peer that never
/// comes up, and only the newer side says why.
pub const FEATURE_NONCOHERENT: u64 = 1 << 1;
/// Size of a cache line, the unit of alignment between fields with different writers.
pub const CACHE_LINE: usize = 64;
/// Bytes reserved for the [`SideHeader`] at the start of each half.
pub const SIDE_HEADER_SPACE: usize = 4096;
/// Most queues a link can have (one MSI-X vector each, plus one for control).
pub const MAX_QUEUES: u16 = 16;
/// Smallest and largest ring, in descriptors (powers of two).
pub const MIN_RING_SIZE: u32 = 8;
/// See [`MIN_RING_SIZE`].
pub const MAX_RING_SIZE: u32 = 4096;
/// Smallest average data per descriptor: a full 1500-byte frame with its Ethernet header,
/// rounded up.
pub const MIN_BUF_SIZE: u32 = 2048;
/// Largest average data per descriptor: a 64 KiB GSO packet plus headroom.
pub const MAX_BUF_SIZE: u32 = 128 * 1024;
/// Smallest window: one page of header per half and the smallest rings.
pub const MIN_WINDOW_SIZE: u64 = 64 * 1024;
/// Largest window: offsets inside a half are `u32`.
pub const MAX_WINDOW_SIZE: u64 = 1 << 32;

/// The window that `len` bytes of shared memory hold: the largest power of two not above `len`
/// or [`MAX_WINDOW_SIZE`], if that is at least [`MIN_WINDOW_SIZE`]. A CXL region's window is
/// its first such bytes, so that every party (`xpuctl cxl window`, the fabric's `--cxl`)
/// derives the same halves from the region's size.
pub fn window_within(len: u64) -> Option<u64> {
    let n = len.min(MAX_WINDOW_SIZE);
    (n >= MIN_WINDOW_SIZE).then(|| 1 << n.ilog2())
}

/// Lifecycle of one side, in [`SideHeader::state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum SideState {
    /// Not initialised, or gone: the peer must not use anything in this half.
    Down = 0,
    /// Configuration published, rings reset, waiting for the peer.
    Ready = 1,
    /// Running: rings are live.
    Up = 2,
    /// Tearing down after an error; the peer stops and waits for `Ready` again.
    Resetting = 3,
}

impl SideState {
    /// Decodes a state word read from the window; `None` for a value no side writes.
    pub fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Down),
            1 => Some(Self::Ready),
            2 => Some(Self::Up),
            3 => Some(Self::Resetting),
            _ => None,
        }
    }
}

/// Start of each half; written only by the half's owner.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideHeader {
    /// [`MAGIC`] once the side has initialised its half.
    pub magic: u32,
    /// [`VERSION`] of the protocol the side speaks.
    pub version: u32,
    /// Feature bits the side offers; the link uses the intersection.
    pub features: u64,
    /// A [`SideState`].
    pub state: u32,
    /// Bumped every time the side (re)initialises, so the peer notices a restart.
    pub generation: u32,
    /// The peer's generation this side connected to (in state `Up`): a side that sees the
    /// other `Up` for an older generation of its own knows the other has not caught up yet.
    pub peer_generation: u32,
    /// The link's number, the same at both ends: drawn at random by the host side when its
    /// function is probed (kept through resets) and published in its header, where the DPU
    /// side reads it (and writes zero in its own). It tells which of a node's links joins
    /// which (a pod's two halves take the two ends of one link); zero: none (a side of minor
    /// 2, or the DPU side).
    pub link_id: u32,
    /// Number of TX rings in this half (and of RX rings the side consumes in the other).
    pub num_queues: u16,
    /// Reserved, zero.
    pub reserved: u16,
    /// Descriptors per ring, a power of two.
    pub ring_size: u32,
    /// Average bytes of packet data per descriptor (the data area of a queue is
    /// `ring_size * buf_size`).
    pub buf_size: u32,
    /// The side's MTU, for diagnostics (the link uses the smaller).
    pub mtu: u32,
    /// Offset of the rings from the start of the half.
    pub ring_off: u32,
    /// Offset of the consumer blocks from the start of the half.
    pub cons_off: u32,
    /// Offset of the packet buffers from the start of the half.
    pub data_off: u32,
    /// Size of the half in bytes.
    pub half_size: u32,
}

/// Words (`u32`, little-endian) in a [`SideHeader`].
pub const HEADER_WORDS: usize = size_of::<SideHeader>() / 4;
/// Index of [`SideHeader::state`] among the header's words.
pub const STATE_WORD: usize = 4;
/// Index of [`SideHeader::generation`] among the header's words.
pub const GENERATION_WORD: usize = 5;
/// Index of [`SideHeader::peer_generation`] among the header's words.
pub const PEER_GENERATION_WORD: usize = 6;
/// Index of [`SideHeader::link_id`] among the header's words.
pub const LINK_ID_WORD: usize = 7;
/// How many times [`read_header`] looks again at a header that changed while it was copied.
pub const HEADER_READ_TRIES: usize = 4;

impl SideHeader {
    /// The header as the words of the window, in order.
    pub fn to_words(self) -> [u32; HEADER_WORDS] {
        // CAST: the 64-bit field is two words, low first (little-endian); the two 16-bit
        // fields share one, `num_queues` in the low half.
        [
            self.magic,
            self.version,
            self.features as u32,
            (self.features >> 32) as u32,
            self.state,
            self.generation,
            self.peer_generation,
            self.link_id,
            u32::from(self.num_queues) | u32::from(self.reserved) << 16,
            self.ring_size,
            self.buf_size,
            self.mtu,
            self.ring_off,
            self.cons_off,
            self.data_off,
            self.half_size,
        ]
    }

    /// The header from the words of the window ([`Self::to_words`] reversed).
    pub fn from_words(w: &[u32; HEADER_WORDS]) -> Self {
        // CAST: see `to_words`.
        Self {
            magic: w[0],
            version: w[1],
            features: u64::from(w[2]) | u64::from(w[3]) << 32,
            state: w[STATE_WORD],
            generation: w[GENERATION_WORD],
            peer_generation: w[PEER_GENERATION_WORD],
            link_id: w[LINK_ID_WORD],
            num_queues: w[8] as u16,
            reserved: (w[8] >> 16) as u16,
            ring_size: w[9],
            buf_size: w[10],
            mtu: w[11],
            ring_off: w[12],
            cons_off: w[13],
            data_off: w[14],
            half_size: w[15],
        }
    }
}

/// The words of one side header in the window, for [`publish_header`] and [`read_header`].
/// The kernel implements this over the shared window; the tests over a model that runs the
/// writer between the reader's accesses.
pub trait HeaderWords {
    /// Reads word `i` (relaxed: ordered by the barriers and the state word).
    fn load(&self, i: usize) -> u32;
    /// Writes word `i` (relaxed).
    fn store(&self, i: usize, v: u32);
    /// Reads word `i` with acquire.
    fn load_acquire(&self, i: usize) -> u32;
    /// Writes word `i` with release.
    fn store_release(&self, i: usize, v: u32);
    /// Orders the stores before it against the stores after it (`smp_wmb`).
    fn write_barrier(&self);
    /// Orders the loads before it against the loads after it (`smp_rmb`).
    fn read_barrier(&self);
}

/// Publishes `h` as this side's header, seqlock-style, with the state word as the sequence:
/// the state goes `Down` first (a reader ignores a `Down` side's other fields), then the other
/// fields, then the generation and the state with release. A reader that saw any of the new
/// fields sees the state change when it looks again, so it never takes a new state with an old
/// generation (an incarnation that is gone) or a mix of two configurations. One writer: the
/// side that owns the half.
pub fn publish_header<W: HeaderWords>(w: &W, h: &SideHeader) {
    let words = h.to_words();
    w.store_release(STATE_WORD, SideState::Down as u32);
    w.write_barrier();
    for (i, &v) in words.iter().enumerate() {
        if i != STATE_WORD && i != GENERATION_WORD {
            w.store(i, v);
        }
    }
    w.store_release(GENERATION_WORD, h.generation);
    w.store_release(STATE_WORD, h.state);
}

/// Copies the other side's header: the state and the generation with acquire, the rest, then
/// both again; a copy during which they changed is taken again ([`HEADER_READ_TRIES`] times;
/// then `None`, as for a side that is not there: its next change rings us anyway). Safe from
/// hard IRQ: it only loads, a bounded number of times. The copy is still the peer's, to
/// validate.
pub fn read_header<W: HeaderWords>(w: &W) -> Option<SideHeader> {
    for _ in 0..HEADER_READ_TRIES {
        // The writer stores the generation before the state, both with release: a new state
        // read here comes with its generation.
        let state = w.load_acquire(STATE_WORD);
        let generation = w.load_acquire(GENERATION_WORD);
        let mut words = [0; HEADER_WORDS];
        for (i, v) in words.iter_mut().enumerate() {
            *v = w.load(i);
        }
        w.read_barrier();
        // State first, with acquire: the writer's final state comes after its generation.
        if w.load_acquire(STATE_WORD) == state && w.load(GENERATION_WORD) == generation {
            words[STATE_WORD] = state;
            words[GENERATION_WORD] = generation;
            return Some(SideHeader::from_words(&words));
        }
    }
    None
}

/// The producer's cache line of a ring, in the producer's half.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingProducer {
    /// Free-running count of descriptors published.
    pub prod: u32,
    /// The producer wants a doorbell when the consumer's index passes this value (to restart
    /// a stopped TX queue).
    pub prod_event: u32,
}

/// The consumer's cache line for a ring, in the consumer's half.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingConsumer {
    /// Free-running count of descriptors consumed; their buffers may be reused.
    pub cons: u32,
    /// The consumer wants a doorbell when the producer's index passes this value.
    pub cons_event: u32,
    /// The most descriptors the consumer wants in flight on this ring (its `ethtool -G rx`),
    /// at most the ring's size; 0 means the ring's size. The producer keeps within it and
    /// within its own `tx` depth, so either end can shrink a ring's use live, with nothing
    /// renegotiated: the layout keeps its size.
    pub depth: u32,
}

/// Bytes of a Toeplitz hash key ([`RssBlock::key`]; `ethtool -x`'s key).
pub const RSS_KEY_SIZE: usize = 40;
/// Entries of an indirection table ([`RssBlock::indir`]; `ethtool -x`'s table).
pub const RSS_INDIR_SIZE: usize = 128;
/// Offset of the [`RssBlock`] in its side's half: after the [`SideHeader`], in the header's
/// page, on a cache line of its own.
pub const RSS_OFF: usize = 2 * CACHE_LINE;
/// [`RssBlock::fields`]: the flows whose fields it chooses, each a nibble at `4 * flow`.
pub const RSS_FLOW_TCP4: u32 = 0;
/// See [`RSS_FLOW_TCP4`].
pub const RSS_FLOW_UDP4: u32 = 1;
/// See [`RSS_FLOW_TCP4`].
pub const RSS_FLOW_TCP6: u32 = 2;
/// See [`RSS_FLOW_TCP4`].
pub const RSS_FLOW_UDP6: u32 = 3;
/// A flow's nibble in [`RssBlock::fields`]: its source address is hashed.
pub const RSS_F_SRC_ADDR: u32 = 1 << 0;
/// The destination address is hashed.
pub const RSS_F_DST_ADDR: u32 = 1 << 1;
/// The source port is hashed.
pub const RSS_F_SRC_PORT: u32 = 1 << 2;
/// The destination port is hashed.
pub const RSS_F_DST_PORT: u32 = 1 << 3;
/// Every field of a flow.
pub const RSS_F_ALL: u32 = 0xf;
/// Every field of every flow (what a side publishes until `ethtool -N rx-flow-hash`).
pub const RSS_FIELDS_ALL: u32 = 0xffff;

/// Receive-side scaling, as the receiver configured it (`ethtool -X`, `-N rx-flow-hash`):
/// written by the receiver in its own half, read by the sender, which picks the ring of each
/// packet as a NIC's RSS picks an RX queue: the Toeplitz hash of the flow's addresses (and
/// ports, per `fields`) with `key`, then `indir[hash % RSS_INDIR_SIZE]`; a packet that is not
/// IP, or has no field to hash, as hash 0. Published seqlock-style: `seq` is odd while the
/// writer changes the rest, and 0 until the first publication. The sender keeps the last
/// consistent block it read, and takes it as advice: a ring past its own queues is reduced
/// modulo their count.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssBlock {
    /// Even when stable, odd while being written; bumped by 2 per publication.
    pub seq: u32,
    /// Which fields each TCP and UDP flow hashes (`RSS_F_*` in the nibble of its `RSS_FLOW_*`);
    /// other IP packets, and fragments, hash their addresses.
    pub fields: u32,
    /// The Toeplitz key.
    pub key: [u8; RSS_KEY_SIZE],
    /// The ring of each hash bucket.
    pub indir: [u8; RSS_INDIR_SIZE],
}

/// Words of an [`RssBlock`]: `seq`, `fields`, the key's, the table's.
pub const RSS_WORDS: usize = size_of::<RssBlock>() / 4;
/// Index of the key's first word among an [`RssBlock`]'s words.
pub const RSS_KEY_WORD: usize = 2;
/// Index of the table's first word among an [`RssBlock`]'s words.
pub const RSS_INDIR_WORD: usize = RSS_KEY_WORD + RSS_KEY_SIZE / 4;

/// One packet in a ring.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    /// Offset of the packet from the start of the producer's half.
    pub off: u32,
    /// Length of the packet in bytes.
    pub len: u32,
    /// For [`DESC_F_CSUM_PARTIAL`]: where checksumming starts, from the packet start.
    pub csum_start: u16,
    /// For [`DESC_F_CSUM_PARTIAL`]: where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
    /// GSO segment size, or 0.
    pub gso_size: u16,
    /// One of the `GSO_*` values, with [`GSO_F_ECN`] or-ed in for ECN TCP.
    pub gso_type: u8,
    /// `DESC_F_*` bits.
    pub flags: u8,
}

/// The checksum is to be completed by the receiver (CHECKSUM_PARTIAL crossed the link).
pub const DESC_F_CSUM_PARTIAL: u8 = 1 << 0;
/// The checksum was verified by the sender (CHECKSUM_UNNECESSARY on the receiver).
pub const DESC_F_DATA_VALID: u8 = 1 << 1;
/// Not a GSO packet.
pub const GSO_NONE: u8 = 0;
/// TCP over IPv4.
pub const GSO_TCPV4: u8 = 1;
/// TCP over IPv6.
pub const GSO_TCPV6: u8 = 2;
/// UDP segmentation (UDP_L4).
pub const GSO_UDP_L4: u8 = 3;
/// Or-ed into a TCP `gso_type`: the segments carry ECN (CWR set on the first only).
pub const GSO_F_ECN: u8 = 0x80;

const _: () = assert!(
    cfg!(target_endian = "little"),
    "the window is little-endian"
);
const _: () = assert!(size_of::<SideHeader>() == 64);
const _: () = assert!(size_of::<RingProducer>() == CACHE_LINE);
const _: () = assert!(size_of::<RingConsumer>() == CACHE_LINE);
const _: () = assert!(size_of::<Desc>() == 16);
const _: () = assert!(size_of::<RssBlock>() == 176 && RSS_INDIR_WORD == 12);
const _: () = assert!(RSS_OFF >= size_of::<SideHeader>() && RSS_OFF % CACHE_LINE == 0);
const _: () = assert!(RSS_OFF + size_of::<RssBlock>() <= SIDE_HEADER_SPACE);
const _: () = assert!(RSS_INDIR_SIZE.is_power_of_two() && MAX_QUEUES as usize <= 256);

/// Why a configuration or a header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The window size is not a power of two in `MIN_WINDOW_SIZE..=MAX_WINDOW_SIZE`.
    WindowSize,
    /// The queue count is 0 or above [`MAX_QUEUES`].
    QueueCount,
    /// The ring size is not a power of two in `MIN_RING_SIZE..=MAX_RING_SIZE`.
    RingSize,
    /// The buffer size is not a multiple of [`CACHE_LINE`] in `MIN_BUF_SIZE..=MAX_BUF_SIZE`.
    BufSize,
    /// Rings and buffers do not fit in half the window.
    TooBig,
    /// The header's magic is wrong: the half is not initialised (or not xpu).
    Magic,
    /// The header's major version differs from ours.
    Version,
    /// The header's offsets or sizes disagree with its own configuration.
    Inconsistent,
}

/// Where everything is in a half, derived from the configuration.
///
/// # Invariants
///
/// Every region lies inside the half: `data_off + data_len <= half_size`, and the regions are
/// in the order of the module documentation, cache-line aligned, not overlapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    num_queues: u16,
    ring_size: u32,
    buf_size: u32,
    half_size: u32,
    ring_off: u32,
    cons_off: u32,
    data_off: u32,
}

const fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

impl Layout {
    /// Bytes of one ring: the producer line and the descriptors.
    const fn ring_bytes(ring_size: u32) -> u64 {
        align_up(
            (size_of::<RingProducer>() + ring_size as usize * size_of::<Desc>()) as u64,
            CACHE_LINE as u64,
        )
    }

    /// Lays out a half for `num_queues` rings of `ring_size` descriptors with `buf_size`-byte
    /// buffers, in a window of `window_size` bytes.
    pub fn new(
        window_size: u64,
        num_queues: u16,
        ring_size: u32,
        buf_size: u32,
    ) -> Result<Self, LayoutError> {
        if !window_size.is_power_of_two()
            || !(MIN_WINDOW_SIZE..=MAX_WINDOW_SIZE).contains(&window_size)
        {
            return Err(LayoutError::WindowSize);
        }
        if num_queues == 0 || num_queues > MAX_QUEUES {
            return Err(LayoutError::QueueCount);
        }
        if !ring_size.is_power_of_two() || !(MIN_RING_SIZE..=MAX_RING_SIZE).contains(&ring_size) {
            return Err(LayoutError::RingSize);
        }
        if buf_size % CACHE_LINE as u32 != 0 || !(MIN_BUF_SIZE..=MAX_BUF_SIZE).contains(&buf_size) {
            return Err(LayoutError::BufSize);
        }
        let half = window_size / 2;
        let q = u64::from(num_queues);
        let ring_off = SIDE_HEADER_SPACE as u64;
        let cons_off = ring_off + q * Self::ring_bytes(ring_size);
        let data_off = align_up(cons_off + q * CACHE_LINE as u64, CACHE_LINE as u64);
        let data_len = q * u64::from(ring_size) * u64::from(buf_size);
        if data_off + data_len > half {
            return Err(LayoutError::TooBig);
        }
        // CAST: everything is below `half`, which is at most 2^31 (MAX_WINDOW_SIZE / 2).
        Ok(Self {
            num_queues,
            ring_size,
            buf_size,
            half_size: half as u32,
            ring_off: ring_off as u32,
            cons_off: cons_off as u32,
            data_off: data_off as u32,
        })
    }

    /// Validates a peer's header (untrusted input) against the window it lives in.
    pub fn from_header(h: &SideHeader, window_size: u64) -> Result<Self, LayoutError> {
        if h.magic != MAGIC {
            return Err(LayoutError::Magic);
        }
        if h.version >> 16 != VERSION >> 16 {
            return Err(LayoutError::Version);
        }
        let l = Self::new(window_size, h.num_queues, h.ring_size, h.buf_size)?;
        if (h.ring_off, h.cons_off, h.data_off, h.half_size)
            != (l.ring_off, l.cons_off, l.data_off, l.half_size)
        {
            return Err(LayoutError::Inconsistent);
        }
        Ok(l)
    }

    /// A header describing this layout, for the owner of a half to publish.
    pub fn header(&self, features: u64, generation: u32, mtu: u32, link_id: u32) -> SideHeader {
        SideHeader {
            magic: MAGIC,
            version: VERSION,
            features,
            state: SideState::Ready as u32,
            generation,
            peer_generation: 0,
            link_id,
            num_queues: self.num_queues,
            reserved: 0,
            ring_size: self.ring_size,
            buf_size: self.buf_size,
            mtu,
            ring_off: self.ring_off,
            cons_off: self.cons_off,
            data_off: self.data_off,
            half_size: self.half_size,
        }
    }

    /// Number of queues (rings per direction).
    pub fn num_queues(&self) -> u16 {
        self.num_queues
    }

    /// Descriptors per ring.
    pub fn ring_size(&self) -> u32 {
        self.ring_size
    }

    /// Average bytes of packet data per descriptor.
    pub fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// Bytes of queue `q`'s data area.
    pub fn data_size(&self) -> u32 {
        self.ring_size * self.buf_size
    }

    /// Size of a half.
    pub fn half_size(&self) -> u32 {
        self.half_size
    }

    /// Offset of queue `q`'s [`RingProducer`] in its producer's half.
    pub fn producer_off(&self, q: u16) -> Option<u32> {
        (q < self.num_queues)
            .then(|| self.ring_off + u32::from(q) * Self::ring_bytes(self.ring_size) as u32)
    }

    /// Offset of descriptor `idx` (a free-running index, wrapped here) of queue `q`.
    pub fn desc_off(&self, q: u16, idx: u32) -> Option<u32> {
        let slot = idx & (self.ring_size - 1);
        // CAST: a `Desc` is 16 bytes; `slot` < 4096, so this stays below `cons_off`.
        self.producer_off(q)
            .map(|p| p + size_of::<RingProducer>() as u32 + slot * size_of::<Desc>() as u32)
    }

    /// Offset of queue `q`'s [`RingConsumer`] in its consumer's half.
    pub fn consumer_off(&self, q: u16) -> Option<u32> {
        (q < self.num_queues).then(|| self.cons_off + u32::from(q) * CACHE_LINE as u32)
    }

    /// Offset of queue `q`'s data area in its producer's half.
    pub fn data_area_off(&self, q: u16) -> Option<u32> {
        (q < self.num_queues).then(|| self.data_off + u32::from(q) * self.data_size())
    }

    /// Checks a descriptor read from the peer's ring (untrusted): its packet must be non-empty
    /// and lie inside the data area of queue `q`. Returns the packet's offset in the half.
    pub fn check_desc(&self, q: u16, d: &Desc) -> Option<u32> {
        let first = self.data_area_off(q)?;
        let (off, len) = (d.off, d.len);
        if off < first || len == 0 {
            return None;
        }
        // No overflow: the room left in the area is computed, not `off + len`.
        let room = self.data_size().checked_sub(off - first)?;
        (len <= room).then_some(off)
    }
}
