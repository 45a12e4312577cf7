// SPDX-License-Identifier: GPL-2.0

//! Which packets cross between the halves of a split namespace, and what a half does with one
//! that came across: the decisions behind driver/xpu_split.c's loopback tap, its edge hook and
//! its receive side, as pure functions of what a packet's headers say. The C side reads the
//! headers and moves the packets; the one question these cannot answer (is a source address
//! one of this half's) it asks the kernel, and passes the answer in.
//!
//! Which port is whose is the caller's: it passes `steer` (the other half owns the port) and
//! `accept` (this half owns it, or it is one of this half's ephemeral ports).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The addresses both halves of a pod carry, besides loopback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pod {
    pub v4: Ipv4Addr,
    pub v6: Option<Ipv6Addr>,
}

/// What a TCP or UDP packet's headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dport: u16,
}

/// What a half does with a packet that came across the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Not this half's to take: a confused or hostile peer.
    Drop,
    /// From inside the pod: delivered through lo, as loopback would.
    Loopback,
    /// From outside the pod, through the other half, its edge: delivered as received on the
    /// link, so the application sees its client and answers through the link.
    Link,
}

/// Whether `a` may be a pod's IPv4 address: unicast (below 224.0.0.0), not loopback.
pub fn valid_v4(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.octets()[0] >= 224)
}

/// Whether `a` may be a pod's IPv6 address: unicast, not loopback, link-local or v4-mapped.
pub fn valid_v6(a: Ipv6Addr) -> bool {
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || a.is_unicast_link_local()
        || a.to_ipv4_mapped().is_some())
}

impl Pod {
    /// One of the pod's own addresses.
    pub fn is_pod(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => a == self.v4,
            IpAddr::V6(a) => Some(a) == self.v6,
        }
    }

    /// An address the halves share: loopback (127.0.0.0/8, ::1) or the pod's.
    pub fn is_shared(&self, a: IpAddr) -> bool {
        a.is_loopback() || self.is_pod(a)
    }

    /// The loopback tap, on this half's way out: whether a packet lo is about to deliver goes
    /// across instead.
    pub fn tap(&self, dst: IpAddr, dport: u16, steer: impl FnOnce(u16) -> bool) -> bool {
        self.is_shared(dst) && steer(dport)
    }

    /// The edge (the DPU half's LOCAL_IN, for a packet from outside the pod that no socket of
    /// this half took): whether it goes across. Only for the pod's address: loopback never
    /// comes in from a NIC.
    pub fn edge(&self, dst: IpAddr, dport: u16, steer: impl FnOnce(u16) -> bool) -> bool {
        self.is_pod(dst) && steer(dport)
    }

    /// A packet from across. `src_local`: its source is loopback or one of this half's
    /// addresses, so it comes from inside the pod.
    pub fn arrival(&self, f: &Flow, src_local: bool, accept: impl FnOnce(u16) -> bool) -> Arrival {
        if !self.is_shared(f.dst) || !accept(f.dport) {
            Arrival::Drop
        } else if src_local {
            Arrival::Loopback
        } else if self.is_pod(f.dst) {
            Arrival::Link
        } else {
            // A foreign source for loopback: a martian.
            Arrival::Drop
        }
    }
}
