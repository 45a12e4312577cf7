// SPDX-License-Identifier: GPL-2.0

//! Split namespaces at the kernel boundary: [`SplitOps`], what a half of the logic answers (its
//! ports, what a packet's headers say, which packets cross, what a peer's snapshot means);
//! [`SplitKind`] registers the machinery (the per-namespace slot, the netdev events, the
//! receive handlers of the link's two ethertypes, the `xpu` generic-netlink family), for one
//! implementation. Each namespace's half is split_half.rs's, its packets split_rx.rs's, the
//! family's requests split_nl.rs's.

use core::net::IpAddr;

use kernel::{error::to_result, prelude::*, sync::Arc};

use super::{split_half, split_rx, sys};
use crate::port_sync::{ETH_P_XPU_LOCAL, ETH_P_XPU_SYNC};

pub(crate) use super::extack::Refusal;

/// What creating a split namespace was asked for, as the netlink request gave it.
pub(crate) struct CreateArgs<const NAME_LEN: usize> {
    pub(crate) name: [u8; NAME_LEN],
    /// `enum xpu_link_role` of the link: the pair, host or DPU end.
    pub(crate) link_role: u32,
    pub(crate) half: Option<u32>,
    pub(crate) addr: [u8; 4],
    pub(crate) addr6: Option<[u8; 16]>,
    pub(crate) port_min: Option<u16>,
    pub(crate) port_max: Option<u16>,
    /// Random, to tell this split's snapshots from an earlier one's.
    pub(crate) epoch: u32,
}

/// What `splitns-get` shows.
pub(crate) struct Info<const NAME_LEN: usize> {
    pub(crate) name: [u8; NAME_LEN],
    pub(crate) half: u32,
    pub(crate) addr: [u8; 4],
    pub(crate) range: (u16, u16),
    pub(crate) peer_state: u32,
    pub(crate) ports: u32,
    pub(crate) peer_ports: u32,
    pub(crate) peer_range: (u16, u16),
    pub(crate) steered: u64,
    pub(crate) delivered: u64,
    pub(crate) refused: u64,
    pub(crate) addr6: Option<[u8; 16]>,
}

/// One half of a split namespace, as the kernel's side asks about it.
///
/// `NAME_LEN` is `XPU_NAME_LEN`, the size of the C structs' names. It is a parameter rather
/// than an associated constant because it sizes arrays in these signatures, which stable Rust
/// allows of a const parameter but not of an associated constant.
pub(crate) trait SplitOps<const NAME_LEN: usize>: Sized + Send + Sync {
    /// Bytes of a snapshot message.
    const MSG_LEN: usize;
    /// The most bytes of a packet's start [`SplitOps::read_flow`] looks at: no more than
    /// [`HEADERS`] (checked where the packets are read).
    const HEADERS_MAX: usize;

    /// Checks a create request and builds the half it asks for.
    fn new(a: CreateArgs<NAME_LEN>) -> Result<Arc<Self>, Refusal>;
    /// This half's ephemeral range, for `ip_local_port_range`.
    fn range(&self) -> (u16, u16);
    /// Adds `claims` (`enum xpu_claim` flags) on `port` for this half (under RTNL).
    fn port_add(&self, port: u16, claims: u32) -> Result<(), Refusal>;
    /// Drops `claims` on `port` of this half (under RTNL).
    fn port_del(&self, port: u16, claims: u32) -> Result<(), Refusal>;
    /// Who owns `port`, if a half claims it.
    fn owner(&self, port: u16) -> Option<PortOwner>;
    /// The first claimed port at or after `from`, of either half, and its owner.
    fn next_port(&self, from: u32) -> Option<(u16, PortOwner)>;
    /// Datapath: what the headers at the start of `pkt` (up to [`SplitOps::HEADERS_MAX`]
    /// bytes) say, if it is a packet a split steers: its source, its destination, and the
    /// port at the destination's end whose owner it is for.
    fn read_flow(pkt: &[u8]) -> Option<(IpAddr, IpAddr, u16)>;
    /// Datapath: the lengths the IP header at the start of `pkt` states, its own and the
    /// packet's, checked against the packet before a half's stack sees one from across.
    fn ip_lengths(pkt: &[u8]) -> Option<(usize, usize)>;
    /// Datapath, the loopback tap: whether a packet lo is about to deliver to `dst`:`port`
    /// goes across instead.
    fn tap(&self, dst: IpAddr, port: u16) -> bool;
    /// Datapath, the edge: whether a packet from outside the pod for `dst`:`port` that no
    /// socket here took goes across.
    fn edge(&self, dst: IpAddr, port: u16) -> bool;
    /// Datapath, coming in from across: what to do with a packet `src` -> `dst`:`port`;
    /// `src_local` says its source is loopback or one of this namespace's addresses.
    fn arrival(&self, src: IpAddr, dst: IpAddr, port: u16, src_local: bool) -> Arrival;
    /// Counts a packet steered across (`delivered` false) or delivered from across (true).
    fn count(&self, delivered: bool);
    /// Counts a frame from the peer refused (a malformed snapshot, a packet not to deliver).
    fn refused(&self);
    /// What `splitns-get` shows.
    fn info(&self) -> Info<NAME_LEN>;
    /// Writes this half's snapshot into `out` ([`SplitOps::MSG_LEN`] bytes).
    fn snapshot(&self, out: &mut [u8], split: bool, reply: bool) -> Result;
    /// Takes the peer's snapshot (softirq); says what it calls for.
    fn receive(&self, msg: &[u8]) -> Received;
    /// The link went down: forget the peer. Returns whether anything changed.
    fn peer_lost(&self) -> bool;
}

/// What a half does with a packet from across.
#[derive(Clone, Copy)]
pub(crate) enum Arrival {
    /// Not this half's to take: dropped and counted.
    Drop,
    /// Through lo, as loopback would deliver it.
    Loopback,
    /// From outside the pod: as if it had come in on the link.
    Link,
}

/// What a peer's snapshot calls for.
#[derive(Clone, Copy, Default)]
pub(crate) struct Received {
    /// Malformed: ignored (and counted); nothing else is set.
    pub(crate) bad: bool,
    /// Send our snapshot back.
    pub(crate) reply: bool,
    /// The peer's view changed: tell the monitor group.
    pub(crate) notify: bool,
    /// This half gave up ports the host half claimed at the same time: send a snapshot, and
    /// say so in the log.
    pub(crate) yielded: bool,
}

/// The most bytes of a packet's start any [`SplitOps::HEADERS_MAX`] may ask for: the size of
/// the buffer they are read through when not linear.
pub(super) const HEADERS: usize = 130;

/// Who owns a claimed port.
#[derive(Clone, Copy)]
pub(crate) struct PortOwner {
    /// `enum xpu_half`.
    pub(crate) half: u32,
    /// `enum xpu_claim` flags; 0 for the other half's ports (their snapshots carry none).
    pub(crate) claims: u32,
}

/// The registered split-namespace machinery. Dropping it unsplits every namespace.
pub(crate) struct SplitKind(());

impl SplitKind {
    /// Registers it for the halves `S`.
    pub(crate) fn register<S: SplitOps<N>, const N: usize>() -> Result<Self> {
        // SAFETY: the functions are this module's and stay valid until `drop` unregisters
        // them (the module's own lifetime bounds both).
        to_result(unsafe {
            sys::xpu_split_register(
                Some(split_half::net_exit::<S, N>),
                Some(split_half::dev_event::<S, N>),
                ETH_P_XPU_LOCAL,
                Some(split_rx::local_rcv::<S, N>),
                ETH_P_XPU_SYNC,
                Some(split_rx::sync_rcv::<S, N>),
            )
        })?;
        Ok(Self(()))
    }
}

impl Drop for SplitKind {
    fn drop(&mut self) {
        // SAFETY: registered in `register` (an object exists only then).
        unsafe { sys::xpu_split_unregister() }
    }
}
