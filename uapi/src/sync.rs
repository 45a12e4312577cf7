// SPDX-License-Identifier: GPL-2.0

//! The port-ownership message that the two halves of a split namespace send each other.
//!
//! It travels over the link itself, as an Ethernet frame of type [`ETH_P_XPU_SYNC`] (a local
//! experimental ethertype: it never leaves the link). Each message is a whole snapshot of the
//! sender's half: its role, pod addresses, ephemeral range and the bitmap of the ports registered
//! to it, so a lost or reordered message is repaired by the next one and the receiver needs no
//! history. A sender sends one after every change, and when the link comes up or a peer asks
//! ([`FLAG_REPLY`]); a half that stops being split sends one without [`FLAG_SPLIT`].
//!
//! The receiver does not trust it: [`Snapshot::decode`] checks every field, and takes nothing
//! from a message that fails.
//!
//! Layout, little-endian, [`LEN`] bytes:
//!
//! | offset | size | field                                     |
//! |--------|------|-------------------------------------------|
//! | 0      | 4    | magic [`MAGIC`]                           |
//! | 4      | 2    | version [`VERSION`]                       |
//! | 6      | 2    | flags: [`FLAG_SPLIT`], [`FLAG_REPLY`]     |
//! | 8      | 1    | half: 0 host, 1 DPU (`enum xpu_half`)     |
//! | 9      | 1    | zero                                      |
//! | 10     | 2    | ephemeral ports, first                    |
//! | 12     | 2    | ephemeral ports, last                     |
//! | 14     | 2    | zero                                      |
//! | 16     | 4    | pod IPv4 address, network order           |
//! | 20     | 4    | epoch: random, drawn when the half splits |
//! | 24     | 4    | sequence number, one more per message     |
//! | 28     | 16   | pod IPv6 address, network order; 0: none  |
//! | 44     | 8192 | bitmap: port p is bit p % 8 of byte p / 8 |
//!
//! Halves that announce different pod addresses (IPv4, or IPv6, or one IPv6 and the other none)
//! are not one pod: each sees the other in conflict. Version 1 had no IPv6 address.
//!
//! Messages may cross the link on different queues and so arrive out of order: within one epoch
//! the receiver takes only a sequence number newer than the last it took ([`seq_after`]); a new
//! epoch (the sender split again, or rebooted) starts afresh.

/// The ethertype of snapshot frames (IEEE 802 local experimental ethertype 2).
pub const ETH_P_XPU_SYNC: u16 = 0x88b6;
/// The ethertype of steered packets: an IPv4 packet for the other half's loopback (IEEE 802
/// local experimental ethertype 1).
pub const ETH_P_XPU_LOCAL: u16 = 0x88b5;

/// "XPUS", little-endian.
pub const MAGIC: u32 = 0x5355_5058;
/// The version this code speaks; a message of another version is refused.
pub const VERSION: u16 = 2;
/// The sender's namespace is split; without it, the message says "not split (any more)".
pub const FLAG_SPLIT: u16 = 1 << 0;
/// The sender wants a snapshot back (it has just split, or its link just came up).
pub const FLAG_REPLY: u16 = 1 << 1;
/// Bytes of the port bitmap: one bit per port number.
pub const BITMAP_LEN: usize = 65536 / 8;
/// Bytes before the bitmap.
pub const HEADER_LEN: usize = 44;
/// Bytes of a message.
pub const LEN: usize = HEADER_LEN + BITMAP_LEN;
/// The lowest ephemeral port a half may announce (below are the well-known and registered
/// ranges that ip_local_port_range does not use either).
pub const MIN_EPHEMERAL: u16 = 1024;

/// A half of a split namespace (`enum xpu_half`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    Host = 0,
    Dpu = 1,
}

impl Half {
    /// The `enum xpu_half` value `v`, if it is one.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Host),
            1 => Some(Self::Dpu),
            _ => None,
        }
    }

    /// The other half.
    pub const fn other(self) -> Self {
        match self {
            Self::Host => Self::Dpu,
            Self::Dpu => Self::Host,
        }
    }

    /// Default ephemeral ranges: the host half takes the lower part of Linux's default range
    /// (32768..=60999), the DPU half the upper.
    pub const fn default_range(self) -> (u16, u16) {
        match self {
            Self::Host => (32768, 49151),
            Self::Dpu => (49152, 60999),
        }
    }
}

/// Why a message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncError {
    Length,
    Magic,
    Version,
    Flags,
    Half,
    Range,
    Reserved,
}

/// A decoded message, borrowing its bitmap from the received bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot<'a> {
    pub split: bool,
    pub reply: bool,
    pub half: Half,
    pub port_min: u16,
    pub port_max: u16,
    pub addr: [u8; 4],
    /// The pod's IPv6 address, if the sender has one.
    pub addr6: Option<[u8; 16]>,
    pub epoch: u32,
    pub seq: u32,
    pub bitmap: &'a [u8],
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Snapshot<'a> {
    /// Checks and decodes a message. A message that is not split carries no ports, and its
    /// other fields are still checked (a sender that gets them wrong is broken).
    pub fn decode(b: &'a [u8]) -> Result<Self, SyncError> {
        if b.len() != LEN {
            return Err(SyncError::Length);
        }
        if le32(b, 0) != MAGIC {
            return Err(SyncError::Magic);
        }
        if le16(b, 4) != VERSION {
            return Err(SyncError::Version);
        }
        let flags = le16(b, 6);
        if flags & !(FLAG_SPLIT | FLAG_REPLY) != 0 {
            return Err(SyncError::Flags);
        }
        let half = Half::from_u32(b[8].into()).ok_or(SyncError::Half)?;
        if b[9] != 0 || le16(b, 14) != 0 {
            return Err(SyncError::Reserved);
        }
        let (port_min, port_max) = (le16(b, 10), le16(b, 12));
        if port_min < MIN_EPHEMERAL || port_min > port_max {
            return Err(SyncError::Range);
        }
        let split = flags & FLAG_SPLIT != 0;
        let mut addr6 = [0; 16];
        addr6.copy_from_slice(&b[28..44]);
        let bitmap = &b[HEADER_LEN..];
        if !split && bitmap.iter().any(|&x| x != 0) {
            return Err(SyncError::Reserved);
        }
        Ok(Self {
            split,
            reply: flags & FLAG_REPLY != 0,
            half,
            port_min,
            port_max,
            addr: [b[16], b[17], b[18], b[19]],
            addr6: (addr6 != [0; 16]).then_some(addr6),
            epoch: le32(b, 20),
            seq: le32(b, 24),
            bitmap,
        })
    }

    /// Whether the message gives `port` to its sender.
    pub fn owns(&self, port: u16) -> bool {
        let p = usize::from(port);
        self.bitmap
            .get(p / 8)
            .is_some_and(|&x| x & (1 << (p % 8)) != 0)
    }
}

/// Writes the header of a message into `out[..HEADER_LEN]`; the caller writes the bitmap
/// (`out[HEADER_LEN..]`, zero when not split). `None` if `out` is not [`LEN`] bytes.
#[allow(clippy::too_many_arguments)]
pub fn encode_header(
    out: &mut [u8],
    split: bool,
    reply: bool,
    half: Half,
    range: (u16, u16),
    addr: [u8; 4],
    addr6: Option<[u8; 16]>,
    epoch: u32,
    seq: u32,
) -> Option<()> {
    if out.len() != LEN {
        return None;
    }
    let flags = if split { FLAG_SPLIT } else { 0 } | if reply { FLAG_REPLY } else { 0 };
    out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6..8].copy_from_slice(&flags.to_le_bytes());
    out[8] = half as u8;
    out[9] = 0;
    out[10..12].copy_from_slice(&range.0.to_le_bytes());
    out[12..14].copy_from_slice(&range.1.to_le_bytes());
    out[14..16].fill(0);
    out[16..20].copy_from_slice(&addr);
    out[20..24].copy_from_slice(&epoch.to_le_bytes());
    out[24..28].copy_from_slice(&seq.to_le_bytes());
    out[28..44].copy_from_slice(&addr6.unwrap_or_default());
    Some(())
}

/// Whether sequence number `a` comes after `b`, across wrap-around.
pub const fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The bits of a 64-port bitmap word (ports `first..first + 64`, bit `p - first` for port `p`)
/// that fall in `lo..=hi`.
pub fn range_bits(first: usize, lo: u16, hi: u16) -> u64 {
    let (lo, hi) = (usize::from(lo), usize::from(hi));
    if lo > hi || hi < first || lo >= first.saturating_add(64) {
        return 0;
    }
    let from = lo.saturating_sub(first);
    let to = (hi - first).min(63);
    (u64::MAX >> (63 - to)) & (u64::MAX << from)
}

/// Whether two ephemeral ranges share a port.
pub const fn ranges_overlap(a: (u16, u16), b: (u16, u16)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}
