// SPDX-License-Identifier: GPL-2.0

//! A split network namespace: one half of a pod's namespace, paired over an xpu link with the
//! other half on the other side (uapi/xpu.yaml has the user's view).
//!
//! This file decides; driver/net/split_rx.rs and split_half.rs carry out. Each half owns the ports it claims
//! (`port-add`): the ports its sockets bind, which its ownership agent claims and frees as a
//! cgroup BPF program reports binds and releases (tools/xpuctl, `splitns agent`), and those
//! registered by hand; and it owns an ephemeral range (applied to the namespace's
//! `ip_local_port_range`).
//! The halves tell each other what they own with snapshots over the link (uapi/src/sync.rs, `crate::port_sync`).
//! A TCP or UDP packet for loopback or a pod address is steered across the link when its
//! destination port belongs to the other half ([`SplitNs::steer`]), and so is an ICMP error
//! about one that left from a port of the other half; one that comes across is delivered here
//! if its port is this half's ([`SplitNs::accept`]). What a packet's headers say, which
//! addresses, and how a packet from across is delivered, are the rules of uapi/src/steer.rs,
//! tested in userspace.
//!
//! Locking: changes to this half (create, port add and delete) run under RTNL; the peer's view
//! changes under `peer_lock` (snapshots arrive in softirq, link-down comes from process
//! context). The port sets are bitmaps of atomic words, so the datapath reads them without a
//! lock. This half's sets (`own`, and the claims behind it) have two writers, a claim change
//! under RTNL and a snapshot that makes the DPU half yield; both hold `peer_lock` while they
//! change them, so that `own` is always the union of the claims, and a snapshot taken meanwhile
//! sees the port in our set or we see it in its.

#![deny(unsafe_code)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use kernel::{
    alloc::KVVec,
    new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, SpinLockIrq,
    },
};

use crate::{
    genl::{claim, PeerState, NAME_LEN},
    net::split::{Arrival, CreateArgs, Info, PortOwner, Received, Refusal, SplitOps},
    port_sync::{self, encode_header, ranges_overlap, seq_after, Half, Snapshot},
    steer::{self, Flow, Pod},
};

/// Ports per bitmap word.
const WORD_BITS: usize = 64;
/// Words of a port bitmap.
const WORDS: usize = 65536 / WORD_BITS;

fn refuse<T>(err: Error, msg: &'static CStr) -> Result<T, Refusal> {
    Err(Refusal { err, msg })
}

/// A set of port numbers; readers may see a word just before or after a change, never a torn
/// one.
struct PortSet {
    words: KVVec<Atomic<u64>>,
    count: Atomic<u32>,
}

impl PortSet {
    fn new() -> Result<Self> {
        let mut words = KVVec::with_capacity(WORDS, GFP_KERNEL)?;
        for _ in 0..WORDS {
            words.push(Atomic::new(0), GFP_KERNEL)?;
        }
        Ok(Self {
            words,
            count: Atomic::new(0),
        })
    }

    fn word(&self, port: u16) -> (&Atomic<u64>, u64) {
        let p = usize::from(port);
        // `WORDS * WORD_BITS` is 65536: every u16 has its word.
        (&self.words[p / WORD_BITS], 1 << (p % WORD_BITS))
    }

    fn contains(&self, port: u16) -> bool {
        let (w, bit) = self.word(port);
        w.load(Relaxed) & bit != 0
    }

    /// Adds or removes `port`; returns whether the set changed.
    fn set(&self, port: u16, on: bool) -> bool {
        let (w, bit) = self.word(port);
        let mut old = w.load(Relaxed);
        loop {
            let new = if on { old | bit } else { old & !bit };
            if new == old {
                return false;
            }
            match w.cmpxchg(old, new, Relaxed) {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        if on {
            self.count.add(1, Relaxed);
        } else {
            self.count.fetch_sub(1, Relaxed);
        }
        true
    }

    fn len(&self) -> u32 {
        self.count.load(Relaxed)
    }

    /// The first port at or after `from` in the set.
    fn next(&self, from: u32) -> Option<u16> {
        let mut p = usize::try_from(from).ok()?;
        while p < WORDS * WORD_BITS {
            let w = self.words[p / WORD_BITS].load(Relaxed) >> (p % WORD_BITS);
            if w != 0 {
                return u16::try_from(p + w.trailing_zeros() as usize).ok();
            }
            p = (p / WORD_BITS + 1) * WORD_BITS;
        }
        None
    }

    /// Writes the set as a snapshot bitmap (port p is bit p % 8 of byte p / 8).
    fn write_bitmap(&self, out: &mut [u8]) {
        for (chunk, w) in out.chunks_mut(8).zip(self.words.iter()) {
            let bytes = w.load(Relaxed).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// Makes the set `bitmap` less `except` and less the ports `lo..=hi`; returns whether it
    /// changed. Only for a set with one writer at a time.
    fn replace(&self, bitmap: &[u8], except: &PortSet, (lo, hi): (u16, u16)) -> bool {
        let mut changed = false;
        let mut count = 0;
        let words = bitmap
            .chunks(8)
            .zip(self.words.iter())
            .zip(except.words.iter());
        for (i, ((chunk, w), x)) in words.enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            let range = port_sync::range_bits(i * WORD_BITS, lo, hi);
            let new = u64::from_le_bytes(b) & !x.load(Relaxed) & !range;
            changed |= w.load(Relaxed) != new;
            w.store(new, Relaxed);
            count += new.count_ones();
        }
        self.count.store(count, Relaxed);
        changed
    }

    /// Empties the set; returns whether it changed. Only for a set with one writer at a time.
    fn clear(&self) -> bool {
        let changed = self.len() != 0;
        for w in self.words.iter() {
            w.store(0, Relaxed);
        }
        self.count.store(0, Relaxed);
        changed
    }
}

/// Where the peer's snapshots are: the epoch and sequence number of the last one taken.
struct PeerSeq {
    known: bool,
    epoch: u32,
    seq: u32,
}

/// What a received snapshot calls for (a bit set, which `net::split::Received` spells out).
pub(crate) mod todo {
    /// Send our snapshot back.
    pub(crate) const REPLY: u32 = 1 << 0;
    /// The peer's view changed: tell the monitor group.
    pub(crate) const NOTIFY: u32 = 1 << 1;
    /// This half gave up ports the host half claimed at the same time: send a snapshot.
    pub(crate) const YIELDED: u32 = 1 << 2;
    /// The message was malformed: count a violation.
    pub(crate) const BAD: u32 = 1 << 3;
}

/// One half of a split namespace.
#[pin_data]
pub(crate) struct SplitNs {
    name: [u8; NAME_LEN],
    half: Half,
    addr: [u8; 4],
    /// The pod's IPv6 address, if it has one. Not in the snapshots: the halves compare only
    /// their IPv4 addresses.
    addr6: Option<Ipv6Addr>,
    range: (u16, u16),
    epoch: u32,
    seq: Atomic<u32>,
    /// This half's ports: the union of `registered` and `bound`, what the datapath and the
    /// snapshots read.
    own: PortSet,
    /// Claimed by `port-add` (`claim::REGISTERED`).
    registered: PortSet,
    /// Claimed for a socket's bind (`claim::SOCKET`).
    bound: PortSet,
    peer: PortSet,
    peer_state: Atomic<u32>,
    /// The peer's ephemeral range, `min | max << 16`.
    peer_range: Atomic<u32>,
    #[pin]
    peer_lock: SpinLockIrq<PeerSeq>,
    steered: Atomic<u64>,
    delivered: Atomic<u64>,
    refused: Atomic<u64>,
}

impl SplitNs {
    /// Checks a create request and builds the half it asks for.
    pub(crate) fn new(a: CreateArgs<NAME_LEN>) -> Result<Arc<Self>, Refusal> {
        // `enum xpu_link_role`: pair, host, dpu.
        let role_half = match a.link_role {
            1 => Some(Half::Host),
            2 => Some(Half::Dpu),
            _ => None,
        };
        let half = match (a.half.map(Half::from_u32), role_half) {
            (Some(None), _) => return refuse(EINVAL, c"unknown half"),
            (Some(Some(h)), Some(r)) if h != r => {
                return refuse(
                    EINVAL,
                    c"the half differs from the link's role (host or dpu)",
                )
            }
            (Some(Some(h)), _) => h,
            (None, Some(r)) => r,
            (None, None) => {
                return refuse(EINVAL, c"a pair link has no role: say which half this is")
            }
        };
        let (dmin, dmax) = half.default_range();
        let range = (a.port_min.unwrap_or(dmin), a.port_max.unwrap_or(dmax));
        if range.0 < port_sync::MIN_EPHEMERAL || range.0 > range.1 {
            return refuse(EINVAL, c"the ephemeral range is empty or starts below 1024");
        }
        if !steer::valid_v4(Ipv4Addr::from(a.addr)) {
            return refuse(
                EINVAL,
                c"the pod address must be a unicast address, not loopback",
            );
        }
        let addr6 = a.addr6.map(Ipv6Addr::from);
        if addr6.is_some_and(|a| !steer::valid_v6(a)) {
            return refuse(
                EINVAL,
                c"the pod's IPv6 address must be unicast, not ::, ::1, link-local, multicast or v4-mapped",
            );
        }
        if a.name[0] == 0 {
            return refuse(EINVAL, c"the split namespace needs a name");
        }
        let ports = || {
            PortSet::new().map_err(|err| Refusal {
                err,
                msg: c"out of memory",
            })
        };
        let (own, registered, bound, peer) = (ports()?, ports()?, ports()?, ports()?);
        Arc::pin_init(
            pin_init!(Self {
                name: a.name,
                half,
                addr: a.addr,
                addr6,
                range,
                epoch: a.epoch,
                seq: Atomic::new(0),
                own,
                registered,
                bound,
                peer,
                peer_state: Atomic::new(PeerState::Unknown as u32),
                peer_range: Atomic::new(0),
                peer_lock <- new_spinlock_irq!(PeerSeq { known: false, epoch: 0, seq: 0 }),
                steered: Atomic::new(0),
                delivered: Atomic::new(0),
                refused: Atomic::new(0),
            }),
            GFP_KERNEL,
        )
        .map_err(|err| Refusal {
            err,
            msg: c"out of memory",
        })
    }

    /// This half's ephemeral range, for `ip_local_port_range`.
    pub(crate) fn range(&self) -> (u16, u16) {
        self.range
    }

    fn peer_state(&self) -> u32 {
        self.peer_state.load(Relaxed)
    }

    fn peer_range(&self) -> (u16, u16) {
        let r = self.peer_range.load(Relaxed);
        // Truncation intended: the two halves of the word.
        ((r & 0xffff) as u16, (r >> 16) as u16)
    }

    /// Whether the paired peer owns `port`, by registration or as an ephemeral port.
    fn peer_owns(&self, port: u16) -> bool {
        if self.peer_state() != PeerState::Split as u32 {
            return false;
        }
        let (lo, hi) = self.peer_range();
        self.peer.contains(port) || (lo..=hi).contains(&port)
    }

    /// The sets of the claims in `claims` (`enum xpu_claim` flags), or a refusal for none or
    /// an unknown one.
    fn claim_sets(&self, claims: u32) -> Result<[Option<&PortSet>; 2], Refusal> {
        if claims == 0 || claims & !claim::ALL != 0 {
            return refuse(EINVAL, c"claims are registered, socket or both");
        }
        let pick = |c, set| (claims & c != 0).then_some(set);
        Ok([
            pick(claim::REGISTERED, &self.registered),
            pick(claim::SOCKET, &self.bound),
        ])
    }

    /// The claims (`enum xpu_claim` flags) that hold `port` for this half.
    fn claims(&self, port: u16) -> u32 {
        let has = |c, set: &PortSet| if set.contains(port) { c } else { 0 };
        has(claim::REGISTERED, &self.registered) | has(claim::SOCKET, &self.bound)
    }

    /// Adds `claims` on `port` for this half. Under RTNL.
    pub(crate) fn port_add(&self, port: u16, claims: u32) -> Result<(), Refusal> {
        let sets = self.claim_sets(claims)?;
        // Against a snapshot taken meanwhile: it must see the port in our set, or we its.
        let _peer = self.peer_lock.lock();
        if sets.iter().flatten().all(|set| set.contains(port)) {
            return refuse(EEXIST, c"this half owns the port already");
        }
        if self.peer.contains(port) {
            return refuse(EADDRINUSE, c"the other half owns the port");
        }
        if self.peer_owns(port) {
            return refuse(
                EADDRINUSE,
                c"the port is in the other half's ephemeral range",
            );
        }
        for set in sets.iter().flatten() {
            set.set(port, true);
        }
        self.own.set(port, true);
        Ok(())
    }

    /// Drops `claims` on `port` of this half; the port is free once no claim holds it. Under
    /// RTNL.
    pub(crate) fn port_del(&self, port: u16, claims: u32) -> Result<(), Refusal> {
        let sets = self.claim_sets(claims)?;
        let _peer = self.peer_lock.lock();
        let mut dropped = false;
        for set in sets.iter().flatten() {
            dropped |= set.set(port, false);
        }
        if !dropped && self.claims(port) == 0 {
            return refuse(ENOENT, c"this half does not own the port");
        }
        if !dropped {
            return refuse(ENOENT, c"this half holds the port by other claims");
        }
        if self.claims(port) == 0 {
            self.own.set(port, false);
        }
        Ok(())
    }

    /// Who owns `port`, if a half claims it.
    pub(crate) fn owner(&self, port: u16) -> Option<(Half, u32)> {
        if self.own.contains(port) {
            Some((self.half, self.claims(port)))
        } else if self.peer.contains(port) {
            Some((self.half.other(), 0))
        } else {
            None
        }
    }

    /// The first claimed port at or after `from`, of either half, its owner and (for this
    /// half's) its claims.
    pub(crate) fn next_port(&self, from: u32) -> Option<(u16, Half, u32)> {
        let own = self.own.next(from);
        let peer = self.peer.next(from);
        match (own, peer) {
            (Some(o), Some(p)) if p < o => Some((p, self.half.other(), 0)),
            (Some(o), _) => Some((o, self.half, self.claims(o))),
            (None, Some(p)) => Some((p, self.half.other(), 0)),
            (None, None) => None,
        }
    }

    /// The pod's addresses, for the steering rules (uapi/src/steer.rs).
    fn pod(&self) -> Pod {
        Pod {
            v4: Ipv4Addr::from(self.addr),
            v6: self.addr6,
        }
    }

    /// Datapath, on this half's way out: whether a packet for local port `port` goes across.
    pub(crate) fn steer(&self, port: u16) -> bool {
        !self.own.contains(port) && self.peer_owns(port)
    }

    /// Datapath: a packet went across (`delivered` false) or came across and was delivered.
    pub(crate) fn count(&self, delivered: bool) {
        let c = if delivered {
            &self.delivered
        } else {
            &self.steered
        };
        c.add(1, Relaxed);
    }

    /// Datapath: a frame from the peer was refused (a malformed snapshot, or a packet that is
    /// not this half's to deliver).
    pub(crate) fn refused(&self) {
        self.refused.add(1, Relaxed);
    }

    /// Datapath, coming in from the peer: whether a packet for local port `port` is ours to
    /// deliver: a port claimed here, or one of our ephemeral ports (a reply). Nothing else
    /// is what the peer should have steered (a port of its own would bounce back, an unowned
    /// one is no service of the pod's); a peer that sends it is confused or hostile.
    pub(crate) fn accept(&self, port: u16) -> bool {
        self.own.contains(port) || (self.range.0..=self.range.1).contains(&port)
    }

    pub(crate) fn info(&self) -> Info<NAME_LEN> {
        Info {
            name: self.name,
            half: self.half as u32,
            addr: self.addr,
            range: self.range,
            peer_state: self.peer_state(),
            ports: self.own.len(),
            peer_ports: self.peer.len(),
            peer_range: self.peer_range(),
            steered: self.steered.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            refused: self.refused.load(Relaxed),
            addr6: self.addr6.map(|a| a.octets()),
        }
    }

    /// Writes this half's snapshot into `out` (`port_sync::LEN` bytes). `split` false says
    /// goodbye; `reply` asks the peer for its own.
    pub(crate) fn snapshot(&self, out: &mut [u8], split: bool, reply: bool) -> Result {
        let seq = self.seq.fetch_add(1, Relaxed).wrapping_add(1);
        let addr6 = self.addr6.map(|a| a.octets());
        encode_header(
            out, split, reply, self.half, self.range, self.addr, addr6, self.epoch, seq,
        )
        .ok_or(EINVAL)?;
        let bitmap = out.get_mut(port_sync::HEADER_LEN..).ok_or(EINVAL)?;
        if split {
            self.own.write_bitmap(bitmap);
        } else {
            bitmap.fill(0);
        }
        Ok(())
    }

    /// Takes a snapshot from the peer (softirq). Returns what to do ([`todo`]).
    pub(crate) fn receive(&self, msg: &[u8]) -> u32 {
        let Ok(s) = Snapshot::decode(msg) else {
            self.refused();
            return todo::BAD;
        };
        let reply = if s.reply { todo::REPLY } else { 0 };
        let mut seen = self.peer_lock.lock();
        if seen.known && seen.epoch == s.epoch && !seq_after(s.seq, seen.seq) {
            // Overtaken by a newer one on another queue; a question still gets its answer.
            return reply;
        }
        *seen = PeerSeq {
            known: true,
            epoch: s.epoch,
            seq: s.seq,
        };
        let mut out = reply;
        let peer_range = (s.port_min, s.port_max);
        let state = if !s.split {
            PeerState::Unsplit
        } else if s.half == self.half
            || s.addr != self.addr
            || s.addr6 != self.addr6.map(|a| a.octets())
            || ranges_overlap(peer_range, self.range)
        {
            PeerState::Conflict
        } else {
            PeerState::Split
        };
        let mut changed = self.peer_state.xchg(state as u32, Relaxed) != state as u32;
        self.peer_range.store(
            u32::from(peer_range.0) | u32::from(peer_range.1) << 16,
            Relaxed,
        );
        if state == PeerState::Split {
            // Both halves claimed a port at once: the host half keeps it. A socket here that
            // bound it keeps its bind, but the port's packets from the host half stay there.
            if self.half == Half::Dpu {
                let mut p = 0u32;
                while let Some(port) = self.own.next(p) {
                    if s.owns(port) {
                        self.own.set(port, false);
                        self.registered.set(port, false);
                        self.bound.set(port, false);
                        out |= todo::YIELDED;
                    }
                    p = u32::from(port) + 1;
                }
            }
            // Our ephemeral ports are ours whatever the peer registered (before pairing, say):
            // replies to our own clients must not be steered away.
            changed |= self.peer.replace(s.bitmap, &self.own, self.range);
        } else {
            changed |= self.peer.clear();
        }
        drop(seen);
        if changed {
            out |= todo::NOTIFY;
        }
        out
    }

    /// The link went down (softirq or process): forget the peer until it speaks again.
    pub(crate) fn peer_lost(&self) -> bool {
        let mut seen = self.peer_lock.lock();
        seen.known = false;
        let changed =
            self.peer_state.xchg(PeerState::Unknown as u32, Relaxed) != PeerState::Unknown as u32;
        self.peer.clear() || changed
    }
}

/// What the kernel's side asks a half, through `net::split`: the answers above, in the uapi's
/// terms (a half as its `enum xpu_half` value).
impl SplitOps<NAME_LEN> for SplitNs {
    const MSG_LEN: usize = port_sync::LEN;
    const HEADERS_MAX: usize = steer::HEADERS_MAX;

    fn new(a: CreateArgs<NAME_LEN>) -> Result<Arc<Self>, Refusal> {
        SplitNs::new(a)
    }
    fn range(&self) -> (u16, u16) {
        SplitNs::range(self)
    }
    fn port_add(&self, port: u16, claims: u32) -> Result<(), Refusal> {
        SplitNs::port_add(self, port, claims)
    }
    fn port_del(&self, port: u16, claims: u32) -> Result<(), Refusal> {
        SplitNs::port_del(self, port, claims)
    }
    fn owner(&self, port: u16) -> Option<PortOwner> {
        SplitNs::owner(self, port).map(|(h, claims)| PortOwner {
            half: h as u32,
            claims,
        })
    }
    fn next_port(&self, from: u32) -> Option<(u16, PortOwner)> {
        SplitNs::next_port(self, from).map(|(p, h, claims)| {
            (
                p,
                PortOwner {
                    half: h as u32,
                    claims,
                },
            )
        })
    }
    fn read_flow(pkt: &[u8]) -> Option<(IpAddr, IpAddr, u16)> {
        steer::read_flow(pkt).map(|f| (f.src, f.dst, f.port))
    }
    fn ip_lengths(pkt: &[u8]) -> Option<(usize, usize)> {
        steer::ip_lengths(pkt)
    }
    fn tap(&self, dst: IpAddr, port: u16) -> bool {
        self.pod().tap(dst, port, |p| self.steer(p))
    }
    fn edge(&self, dst: IpAddr, port: u16) -> bool {
        self.pod().edge(dst, port, |p| self.steer(p))
    }
    fn arrival(&self, src: IpAddr, dst: IpAddr, port: u16, src_local: bool) -> Arrival {
        let f = Flow { src, dst, port };
        match self.pod().arrival(&f, src_local, |p| self.accept(p)) {
            steer::Arrival::Drop => Arrival::Drop,
            steer::Arrival::Loopback => Arrival::Loopback,
            steer::Arrival::Link => Arrival::Link,
        }
    }
    fn count(&self, delivered: bool) {
        SplitNs::count(self, delivered)
    }
    fn refused(&self) {
        SplitNs::refused(self)
    }
    fn info(&self) -> Info<NAME_LEN> {
        SplitNs::info(self)
    }
    fn snapshot(&self, out: &mut [u8], split: bool, reply: bool) -> Result {
        SplitNs::snapshot(self, out, split, reply)
    }
    fn receive(&self, msg: &[u8]) -> Received {
        let todo = SplitNs::receive(self, msg);
        Received {
            bad: todo & todo::BAD != 0,
            reply: todo & todo::REPLY != 0,
            notify: todo & todo::NOTIFY != 0,
            yielded: todo & todo::YIELDED != 0,
        }
    }
    fn peer_lost(&self) -> bool {
        SplitNs::peer_lost(self)
    }
}
