// SPDX-License-Identifier: GPL-2.0

//! Which packets cross between the halves of a split namespace, and what a half does with one
//! that came across: the decisions behind driver/xpu_split.c's loopback tap, its edge hook and
//! its receive side, as pure functions of what a packet's headers say ([`read_flow`] reads
//! them from the first [`HEADERS_MAX`] bytes the C side hands over). The C side moves the
//! packets; the one question these cannot answer (is a source address one of this half's) it
//! asks the kernel, and passes the answer in.
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

/// What a packet a split namespace steers says of itself: a TCP or UDP packet, or an ICMP
/// error about one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The port at `dst`'s end, whose owner the packet is for: a TCP or UDP packet's
    /// destination port; for an ICMP error, the source port of the packet it is about, which
    /// `dst` sent.
    pub port: u16,
}

/// The most bytes of a packet [`read_flow`] looks at: an IPv4 header with options, an ICMP
/// header, and the IPv4 header with options and the source port of the packet the error is
/// about.
pub const HEADERS_MAX: usize = 60 + 8 + 60 + 2;

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
/// ICMP's errors: destination unreachable (with "fragmentation needed"), time exceeded,
/// parameter problem.
const ICMP_ERRORS: [u8; 3] = [3, 11, 12];
/// ICMPv6's: destination unreachable, packet too big, time exceeded, parameter problem.
const ICMPV6_ERRORS: [u8; 4] = [1, 2, 3, 4];

/// What the headers at the start of `pkt`, an IPv4 or IPv6 packet, say, if it is one a split
/// namespace steers:
/// - TCP or UDP, its header right after the IP header: not an IPv4 fragment (its ports may
///   not be in it), no IPv6 extension headers (local sockets send none);
/// - an ICMP or ICMPv6 error about such a packet that the error's destination sent: the half
///   owning that packet's source port needs it ("fragmentation needed" and "packet too big"
///   set its path MTU, "port unreachable" fails its connected UDP socket).
///
/// Anything else (other protocols, ICMP queries, truncated headers) is `None`: it stays in
/// the half it is in. Reads at most [`HEADERS_MAX`] bytes.
pub fn read_flow(pkt: &[u8]) -> Option<Flow> {
    let (src, dst, proto, next) = ip_header(pkt, false)?;
    let port = match (proto, src) {
        (TCP | UDP, _) => be16(next, 2)?,
        (ICMP, IpAddr::V4(_)) => error_about(next, dst, &ICMP_ERRORS)?,
        (ICMPV6, IpAddr::V6(_)) => error_about(next, dst, &ICMPV6_ERRORS)?,
        _ => return None,
    };
    Some(Flow { src, dst, port })
}

/// For `icmp`, an ICMP message to `dst` of one of the types `errors`: the source port of the
/// TCP or UDP packet it is about, which must be one `dst` sent.
fn error_about(icmp: &[u8], dst: IpAddr, errors: &[u8]) -> Option<u16> {
    if !errors.contains(icmp.first()?) {
        return None;
    }
    // An error about a first fragment has the ports: it may be one (more fragments, offset 0).
    let (src, _, proto, next) = ip_header(icmp.get(8..)?, true)?;
    if src != dst || !(proto == TCP || proto == UDP) {
        return None;
    }
    be16(next, 0)
}

/// An IPv4 or IPv6 header at the start of `p`: its source, destination, protocol (IPv6's next
/// header) and what follows it. `None` if truncated, or an IPv4 fragment (but for a first
/// fragment if `first_fragment`).
fn ip_header(p: &[u8], first_fragment: bool) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    match p.first()? >> 4 {
        4 => {
            let len = usize::from(p[0] & 0xf) * 4;
            let h = p.get(..len).filter(|_| len >= 20)?;
            // More fragments (0x2000), or an offset: ip_is_fragment().
            let fragment = if first_fragment { 0x1fff } else { 0x3fff };
            if be16(h, 6)? & fragment != 0 {
                return None;
            }
            let a = |i: usize| IpAddr::V4(Ipv4Addr::new(h[i], h[i + 1], h[i + 2], h[i + 3]));
            Some((a(12), a(16), h[9], &p[len..]))
        }
        6 => {
            let h = p.get(..40)?;
            let a = |i: usize| {
                let mut o = [0; 16];
                o.copy_from_slice(&h[i..i + 16]);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            Some((a(8), a(24), h[6], &p[40..]))
        }
        _ => None,
    }
}

/// The lengths the IPv4 or IPv6 header at the start of `pkt` states: its own (IPv4's IHL,
/// IPv6's fixed 40 bytes) and the whole packet's (IPv4's total length, IPv6's 40 and its
/// payload length). `None` for neither family, a truncated header, or an IPv4 header that
/// states less than 20 bytes or a packet shorter than itself. A half checks a packet from the
/// other half against them (the header whole, the packet no longer than the frame) before its
/// stack sees it.
pub fn ip_lengths(pkt: &[u8]) -> Option<(usize, usize)> {
    match pkt.first()? >> 4 {
        4 => {
            let hdr = usize::from(pkt[0] & 0xf) * 4;
            let total = usize::from(be16(pkt, 2)?);
            (hdr >= 20 && total >= hdr).then_some((hdr, total))
        }
        6 => Some((40, 40 + usize::from(be16(pkt, 4)?))),
        _ => None,
    }
}

fn be16(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]))
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
    pub fn tap(&self, dst: IpAddr, port: u16, steer: impl FnOnce(u16) -> bool) -> bool {
        self.is_shared(dst) && steer(port)
    }

    /// The edge (the DPU half's LOCAL_IN, for a packet from outside the pod that no socket of
    /// this half took): whether it goes across. Only for the pod's address: loopback never
    /// comes in from a NIC.
    pub fn edge(&self, dst: IpAddr, port: u16, steer: impl FnOnce(u16) -> bool) -> bool {
        self.is_pod(dst) && steer(port)
    }

    /// A packet from across. `src_local`: its source is loopback or one of this half's
    /// addresses, so it comes from inside the pod.
    pub fn arrival(&self, f: &Flow, src_local: bool, accept: impl FnOnce(u16) -> bool) -> Arrival {
        if !self.is_shared(f.dst) || !accept(f.port) {
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
