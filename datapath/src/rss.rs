// SPDX-License-Identifier: GPL-2.0

//! Receive-side scaling across the link: the receiver's configuration ([`Rss`]), what a flow
//! hashes ([`flow_input`]; the hash is [`toeplitz`]'s), and its publication in the window
//! ([`publish`], [`PeerRss`]).
//!
//! A NIC hashes each packet it receives and queues it by the hash. On xpu the ring a packet
//! arrives on is the one its sender wrote it to, so the sender does the NIC's part with the
//! receiver's configuration, which the receiver publishes in its half ([`RssBlock`]): each
//! flow lands on the RX queue the receiver's `ethtool -X` table gives it. The receiver hashes
//! again, with its own copy of its key, for the packet's `skb->hash`: it takes nothing from
//! the peer for it, and a sender that steers wrongly only spreads its own packets badly. Both
//! hash by a table of the key ([`Rss::hash_by_table`]).

use core::sync::atomic::{
    AtomicU32,
    Ordering::{Acquire, Relaxed, Release},
};

use super::{
    mem::SharedMem,
    shm::{
        RssBlock, RSS_FIELDS_ALL, RSS_FLOW_TCP4, RSS_FLOW_TCP6, RSS_FLOW_UDP4, RSS_FLOW_UDP6,
        RSS_F_ALL, RSS_F_DST_ADDR, RSS_F_DST_PORT, RSS_F_SRC_ADDR, RSS_F_SRC_PORT, RSS_INDIR_SIZE,
        RSS_INDIR_WORD, RSS_KEY_SIZE, RSS_KEY_WORD, RSS_WORDS,
    },
    toeplitz::{self, INPUT_MAX},
};

/// Bytes of a frame that [`flow_input`] may read: an Ethernet header with one VLAN tag, an
/// IPv4 header with options (or an IPv6 one) and the ports.
pub const FLOW_HEADER_MAX: usize = 18 + 60 + 4;

/// What a hash covers: the kernel's `enum pkt_hash_types` (L3 or L4) for an skb, and, for an
/// XDP program's `bpf_xdp_metadata_rx_hash()`, `enum xdp_rss_hash_type` (which also names the
/// IP version and the transport, and for an L3 hash whether the IP header's length varies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashType {
    /// The addresses of an IPv4 packet (`v6` false) or an IPv6 one. `dynhdr`: an IPv4 header
    /// with options, or an IPv6 one followed by extension headers (the kernel's
    /// `XDP_RSS_TYPE_L3_IPV4_OPT` and `_L3_IPV6_EX`).
    L3 { v6: bool, dynhdr: bool },
    /// The addresses and the ports of a TCP packet (`udp` false) or a UDP one. Past IPv6's
    /// extension headers the ports are not looked for; IPv4's options do not change the type
    /// (the kernel names no L4 type with them, and NICs report `XDP_RSS_TYPE_L4_IPV4_TCP`).
    L4 { v6: bool, udp: bool },
}

impl HashType {
    /// Whether the ports are hashed too.
    pub fn is_l4(self) -> bool {
        matches!(self, HashType::L4 { .. })
    }
}

/// A flow's hash input: source address, destination address, then (L4) source and
/// destination ports, in network order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowInput {
    buf: [u8; INPUT_MAX],
    len: usize,
    ty: HashType,
}

impl FlowInput {
    /// The bytes to hash.
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// What they cover.
    pub fn hash_type(&self) -> HashType {
        self.ty
    }
}

/// IP protocol numbers.
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// IPv6's extension headers that may follow its fixed header (the kernel's `ipv6_ext_hdr()`
/// but "no next header", which has no length): hop-by-hop options, routing, fragment,
/// authentication, destination options.
const IPV6_EXT_HEADERS: [u8; 5] = [0, 43, 44, 51, 60];

/// The fields a TCP or UDP flow hashes: its nibble of `fields`.
pub fn flow_fields(fields: u32, flow: u32) -> u32 {
    fields.checked_shr(4 * flow).unwrap_or(0) & RSS_F_ALL
}

/// The hash input of the Ethernet frame that `frame` starts (its first [`FLOW_HEADER_MAX`]
/// bytes are enough), with the fields `fields` chooses for its flow: `None` for a frame that is
/// not IP, or a flow that hashes no field. IPv4 fragments, IPv6 packets with extension headers
/// and other protocols hash their addresses, as a NIC's RSS does.
pub fn flow_input(frame: &[u8], fields: u32) -> Option<FlowInput> {
    let (parts, ty) = flow_parts(frame, fields)?;
    let mut input = FlowInput {
        buf: [0; INPUT_MAX],
        len: 0,
        ty,
    };
    for part in parts {
        input
            .buf
            .get_mut(input.len..input.len + part.len())?
            .copy_from_slice(part);
        input.len += part.len();
    }
    Some(input)
}

/// The hash of [`flow_input`]'s bytes by `table` ([`toeplitz::fill_table`]), and what it
/// covers: each field hashed where it lies in the frame, not copied first (this runs for
/// every packet, on both ends).
pub fn flow_hash(frame: &[u8], fields: u32, table: &[AtomicU32]) -> Option<(u32, HashType)> {
    let (parts, ty) = flow_parts(frame, fields)?;
    let (mut hash, mut at) = (0, 0);
    for part in parts {
        hash ^= toeplitz::hash_by_table_at(table, at, part);
        at += part.len();
    }
    Some((hash, ty))
}

/// The fields of [`flow_input`], in its order (empty: not hashed), and what they cover.
fn flow_parts(frame: &[u8], fields: u32) -> Option<([&[u8]; 4], HashType)> {
    let be16 = |b: &[u8], at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
    let (mut proto, mut l3) = (be16(frame, 12)?, 14);
    if proto == 0x8100 || proto == 0x88a8 {
        proto = be16(frame, 16)?;
        l3 = 18;
    }
    let ip = frame.get(l3..)?;
    let (src, dst, l4_proto, l4_off, dynhdr) = match proto {
        0x0800 => {
            let ihl = usize::from(*ip.first()? & 0xf) * 4;
            if *ip.first()? >> 4 != 4 || ihl < 20 {
                return None;
            }
            // More fragments, or an offset: the ports are not in every fragment.
            let fragment = be16(ip, 6)? & 0x3fff != 0;
            let p = if fragment { 0 } else { *ip.get(9)? };
            (ip.get(12..16)?, ip.get(16..20)?, p, ihl, ihl > 20)
        }
        0x86dd => {
            if *ip.first()? >> 4 != 6 {
                return None;
            }
            let next = *ip.get(6)?;
            let ext = IPV6_EXT_HEADERS.contains(&next);
            (ip.get(8..24)?, ip.get(24..40)?, next, 40, ext)
        }
        _ => return None,
    };
    let v6 = proto == 0x86dd;
    let flow = match (l4_proto, v6) {
        (IPPROTO_TCP, false) => Some(RSS_FLOW_TCP4),
        (IPPROTO_UDP, false) => Some(RSS_FLOW_UDP4),
        (IPPROTO_TCP, true) => Some(RSS_FLOW_TCP6),
        (IPPROTO_UDP, true) => Some(RSS_FLOW_UDP6),
        _ => None,
    };
    let mut chosen = flow.map_or(RSS_F_SRC_ADDR | RSS_F_DST_ADDR, |f| flow_fields(fields, f));
    // A truncated L4 header hashes the addresses only.
    let ports = ip.get(l4_off..l4_off + 4);
    if ports.is_none() {
        chosen &= RSS_F_SRC_ADDR | RSS_F_DST_ADDR;
    }
    let parts: [(u32, Option<&[u8]>); 4] = [
        (RSS_F_SRC_ADDR, Some(src)),
        (RSS_F_DST_ADDR, Some(dst)),
        (RSS_F_SRC_PORT, ports.and_then(|p| p.get(..2))),
        (RSS_F_DST_PORT, ports.and_then(|p| p.get(2..))),
    ];
    // Ports are chosen for TCP and UDP flows only.
    let ty = if chosen & (RSS_F_SRC_PORT | RSS_F_DST_PORT) != 0 {
        HashType::L4 {
            v6,
            udp: l4_proto == IPPROTO_UDP,
        }
    } else {
        HashType::L3 { v6, dynhdr }
    };
    let mut chosen_parts: [&[u8]; 4] = [&[]; 4];
    for ((bit, part), out) in parts.into_iter().zip(chosen_parts.iter_mut()) {
        if let (true, Some(part)) = (chosen & bit != 0, part) {
            *out = part;
        }
    }
    chosen_parts
        .iter()
        .any(|p| !p.is_empty())
        .then_some((chosen_parts, ty))
}

/// A receiver's RSS configuration, as a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssConfig {
    /// The fields each TCP and UDP flow hashes ([`RssBlock::fields`]).
    pub fields: u32,
    /// The Toeplitz key.
    pub key: [u8; RSS_KEY_SIZE],
    /// The RX queue of each hash bucket.
    pub indir: [u8; RSS_INDIR_SIZE],
}

impl RssConfig {
    /// `key`, every field hashed for every flow, and the table spreading the buckets
    /// over `queues` RX queues in turn (the kernel's `ethtool_rxfh_indir_default`).
    pub fn new(key: [u8; RSS_KEY_SIZE], queues: u8) -> Self {
        let mut cfg = Self {
            fields: RSS_FIELDS_ALL,
            key,
            indir: [0; RSS_INDIR_SIZE],
        };
        cfg.spread(queues);
        cfg
    }

    /// Sets the table to spread the buckets over `queues` RX queues in turn.
    pub fn spread(&mut self, queues: u8) {
        let n = queues.max(1);
        for (i, e) in (0u8..).zip(self.indir.iter_mut()) {
            *e = i % n;
        }
    }

    /// The queue of hash `hash`.
    pub fn queue(&self, hash: u32) -> u8 {
        // CAST: the table's size is a power of two far below `u32::MAX`.
        self.indir[(hash as usize) % RSS_INDIR_SIZE]
    }

    /// The hash of the frame that `frame` starts, and what it covers; `None` for a frame
    /// it cannot hash.
    pub fn hash(&self, frame: &[u8]) -> Option<(u32, HashType)> {
        let input = flow_input(frame, self.fields)?;
        Some((toeplitz::hash(&self.key, input.bytes()), input.hash_type()))
    }

    fn words(&self) -> [u32; RSS_WORDS] {
        let mut w = [0; RSS_WORDS];
        w[1] = self.fields;
        for (i, c) in self.key.chunks_exact(4).enumerate() {
            w[RSS_KEY_WORD + i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        for (i, c) in self.indir.chunks_exact(4).enumerate() {
            w[RSS_INDIR_WORD + i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        w
    }
}

/// This end's own RSS configuration, read by its receive path (lock-free: a packet that
/// races a change may be hashed with a mix of the old and the new key, as on a NIC being
/// reprogrammed; nothing else depends on it) and written under RTNL.
pub struct Rss {
    words: [AtomicU32; RSS_WORDS],
}

impl Default for Rss {
    fn default() -> Self {
        Self::new()
    }
}

impl Rss {
    /// A zero configuration (every flow to queue 0), until [`Rss::set`].
    pub const fn new() -> Self {
        Self {
            words: [const { AtomicU32::new(0) }; RSS_WORDS],
        }
    }

    /// The key, from its words.
    fn key(&self) -> [u8; RSS_KEY_SIZE] {
        let mut key = [0; RSS_KEY_SIZE];
        for (i, c) in key.chunks_exact_mut(4).enumerate() {
            c.copy_from_slice(&self.words[RSS_KEY_WORD + i].load(Relaxed).to_le_bytes());
        }
        key
    }

    /// The configuration.
    pub fn get(&self) -> RssConfig {
        let mut cfg = RssConfig {
            fields: self.words[1].load(Relaxed),
            key: self.key(),
            indir: [0; RSS_INDIR_SIZE],
        };
        for (i, c) in cfg.indir.chunks_exact_mut(4).enumerate() {
            c.copy_from_slice(&self.words[RSS_INDIR_WORD + i].load(Relaxed).to_le_bytes());
        }
        cfg
    }

    /// Sets it (one writer: RTNL).
    pub fn set(&self, cfg: &RssConfig) {
        self.store_words(&cfg.words());
    }

    /// Sets it from a block's words (all but the sequence word).
    fn store_words(&self, words: &[u32; RSS_WORDS]) {
        for (a, &v) in self.words.iter().zip(words.iter()).skip(1) {
            a.store(v, Relaxed);
        }
    }

    /// The hash of the frame that `frame` starts, with this configuration's fields and the
    /// table [`toeplitz::fill_table`] made of its key.
    pub fn hash_by_table(&self, table: &[AtomicU32], frame: &[u8]) -> Option<(u32, HashType)> {
        flow_hash(frame, self.words[1].load(Relaxed), table)
    }

    /// The queue of hash `hash` (one entry of the table read).
    fn queue(&self, hash: u32) -> u8 {
        // CAST: the bucket is below the table's size.
        let bucket = (hash as usize) % RSS_INDIR_SIZE;
        self.words[RSS_INDIR_WORD + bucket / 4]
            .load(Relaxed)
            .to_le_bytes()[bucket % 4]
    }
}

/// Writes `cfg` as the [`RssBlock`] at `off` (this side's own, one writer), seqlock-style: the
/// sequence word odd, the rest, the sequence word even again with release.
pub fn publish<M: SharedMem + ?Sized>(mem: &M, off: u32, cfg: &RssConfig) {
    let seq = mem.load(off).unwrap_or(0);
    let odd = seq.wrapping_add(1) | 1;
    let _ = mem.store_release_shared(off, odd);
    mem.write_barrier();
    for (i, v) in (0u32..).zip(cfg.words()).skip(1) {
        let _ = mem.store(off.wrapping_add(4 * i), v);
    }
    mem.writeback(off, BLOCK_BYTES);
    // Never 0, which says "not published".
    let even = odd.wrapping_add(1).max(2);
    let _ = mem.store_release_shared(off, even);
}

/// Bytes of an [`RssBlock`].
// CAST: 176.
const BLOCK_BYTES: u32 = 4 * RSS_WORDS as u32;

/// The sender's copy of the peer's [`RssBlock`]: the last consistent one it read, tagged with
/// its sequence word, so that a packet costs one load of the window (the sequence word) while
/// the block does not change, and a packet sent while the peer rewrites it goes by the last
/// table rather than by the stack's choice, which would split its flow over two rings. The
/// table of the block's key ([`toeplitz::fill_table`]) is the caller's storage, passed in.
///
/// A block with a new key costs a table (about 14000 instructions): a peer that kept
/// publishing new keys would make every packet we send pay for one. So a new key is taken at
/// most once a clock tick (the first block after a [`PeerRss::forget`] at once); meanwhile
/// the last block taken stays in use. A block that changes only the indirection table or the
/// fields is taken at once, as before.
///
/// Two senders may refresh it at once: a copy mixed from two consistent blocks, as two senders
/// racing could make, only steers some packets by a mix of two of the peer's tables until the
/// next refresh. Advice, like everything the peer publishes.
pub struct PeerRss {
    /// The cached block's sequence word; 0: none cached.
    seq: AtomicU32,
    /// When (in clock ticks) the table was last rebuilt.
    keyed_at: AtomicU32,
    copy: Rss,
}

impl Default for PeerRss {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerRss {
    /// Nothing cached.
    pub const fn new() -> Self {
        Self {
            seq: AtomicU32::new(0),
            keyed_at: AtomicU32::new(0),
            copy: Rss::new(),
        }
    }

    /// Forgets the cached block (the peer starts over: its next block may reuse a sequence
    /// word).
    pub fn forget(&self) {
        self.seq.store(0, Release);
    }

    /// Copies the block at `off` if it is consistent and still has sequence word `seq`, and
    /// rebuilds `table` if its key is new, unless a new key was already taken at tick `now`.
    fn refresh<M: SharedMem + ?Sized>(
        &self,
        mem: &M,
        off: u32,
        seq: u32,
        table: &[AtomicU32],
        now: u32,
    ) -> Option<()> {
        let mut words = [0u32; RSS_WORDS];
        mem.invalidate(off, BLOCK_BYTES);
        for (i, w) in (0u32..).zip(words.iter_mut()).skip(1) {
            *w = mem.load(off.checked_add(4 * i)?)?;
        }
        mem.read_barrier();
        if mem.load_shared(off)? != seq {
            return None;
        }
        let key = RSS_KEY_WORD..RSS_KEY_WORD + RSS_KEY_SIZE / 4;
        let new_key = self.seq.load(Acquire) == 0
            || self
                .copy
                .words
                .get(key.clone())?
                .iter()
                .zip(words.get(key)?)
                .any(|(a, &w)| a.load(Relaxed) != w);
        if new_key {
            if self.seq.load(Acquire) != 0 && self.keyed_at.load(Relaxed) == now {
                return None;
            }
            self.keyed_at.store(now, Relaxed);
        }
        self.copy.store_words(&words);
        if new_key {
            toeplitz::fill_table(&self.copy.key(), table);
        }
        self.seq.store(seq, Release);
        Some(())
    }

    /// The sender's choice for the frame that `frame` starts: the ring the receiver's block at
    /// `off` gives it (hash 0's for a frame it cannot hash), reduced modulo `rings`, from the
    /// block as last read consistently (read again when its sequence word has moved to a new
    /// even value), hashed by `table` (at least [`toeplitz::TABLE_WORDS`] words, this
    /// `PeerRss`'s alone), at clock tick `now`. `None` until a consistent block has been read:
    /// the caller's own choice stands.
    pub fn pick<M: SharedMem + ?Sized>(
        &self,
        mem: &M,
        off: u32,
        frame: &[u8],
        rings: u16,
        table: &[AtomicU32],
        now: u32,
    ) -> Option<u16> {
        let seq = mem.load_acquire_shared(off)?;
        if seq != 0 && seq & 1 == 0 && seq != self.seq.load(Acquire) {
            // A block changing under us leaves the old copy in use.
            let _ = self.refresh(mem, off, seq, table, now);
        }
        if self.seq.load(Acquire) == 0 {
            return None;
        }
        // What cannot be hashed goes where hash 0 does, as a NIC queues it.
        let hash = self.copy.hash_by_table(table, frame).map_or(0, |(h, _)| h);
        Some(u16::from(self.copy.queue(hash)) % rings.max(1))
    }
}

const _: () = assert!(core::mem::size_of::<RssBlock>() == 4 * RSS_WORDS);
