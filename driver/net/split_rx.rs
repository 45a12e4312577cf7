// SPDX-License-Identifier: GPL-2.0

//! The packet paths of a split namespace: the tap on its loopback device and the edge hook,
//! which send across the link what the half says goes across, and the receive handlers of the
//! link's two ethertypes (steered packets, snapshots).
//!
//! Steering taps the namespace's lo (an rx_handler): a packet for 127.0.0.1, ::1 or a pod
//! address has then been through the whole output path (routing, netfilter if any, GSO kept
//! whole by lo), and it only has to change wires. Across the link it travels as an Ethernet
//! frame of type `ETH_P_XPU_LOCAL`; the far side routes it to a local destination and hands it
//! to its own lo, so the server sees what loopback would show it.
//!
//! The DPU half is the pod's edge: traffic from outside the pod enters there. A packet for the
//! pod address that came in through any other device (the pod's uplink) and that is for a port
//! the other half owns crosses the link as well, taken after the DPU half's netfilter has had
//! its say (a LOCAL_IN hook, so a REDIRECT to a sidecar there keeps the packet). A packet from
//! outside the pod is delivered on the far side as if it had come in on the link, so the
//! application sees the client's address and answers through the link (its default route),
//! which the DPU half forwards out of the pod like a router.
//!
//! The peer is not trusted: what comes across is read through [`SplitOps`], which says whether
//! a half takes it; anything else is dropped and counted.

use core::{
    mem::ManuallyDrop,
    net::IpAddr,
    ptr::{self, NonNull},
};

use kernel::{
    bindings,
    ffi::{c_int, c_uint, c_void},
};

use super::{
    netfilter::Hooks,
    skb::{DropReason, Route, SkBuff},
    split::{Arrival, SplitOps, HEADERS},
    split_half::{from_handler, Half, Later},
    sys,
};

const NF_DROP: c_uint = bindings::NF_DROP;
const NF_ACCEPT: c_uint = bindings::NF_ACCEPT;
const NF_STOLEN: c_uint = bindings::NF_STOLEN;
// Of linux/netdevice.h, which the kernel crate's bindings do not include: asserted in
// driver/xpu_split.c.
const RX_HANDLER_CONSUMED: c_uint = 0;
const RX_HANDLER_PASS: c_uint = 3;
const NET_RX_SUCCESS: c_int = 0;
const NET_RX_DROP: c_int = 1;

const ETH_P_IP: u16 = bindings::ETH_P_IP as u16;
const ETH_P_IPV6: u16 = bindings::ETH_P_IPV6 as u16;

/// What `read` makes of the first [`SplitOps::HEADERS_MAX`] bytes of `skb`.
fn headers<S: SplitOps<N>, const N: usize, T>(
    skb: &SkBuff,
    read: impl FnOnce(&[u8]) -> Option<T>,
) -> Option<T> {
    const { assert!(S::HEADERS_MAX <= HEADERS) };
    let mut buf = [0u8; HEADERS];
    read(skb.header(&mut buf[..S::HEADERS_MAX])?)
}

/// What the headers of `skb` say, if it is a packet a split steers: source, destination, and
/// the port whose owner it is for.
fn flow<S: SplitOps<N>, const N: usize>(skb: &SkBuff) -> Option<(IpAddr, IpAddr, u16)> {
    headers::<S, N, _>(skb, S::read_flow)
}

/// The packet a `packet_type` handler was given, as a copy of our own, and the half whose link
/// `dev` is. `None` once the packet is dropped: no memory for the copy, or `dev` is not split
/// here (no half to count it against).
///
/// # Safety
///
/// `skb` is the core's reference to a valid skb, handed over; `dev` is live; the caller runs
/// under RCU (a receive path).
unsafe fn arrived<'a, S: SplitOps<N>, const N: usize>(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
) -> Option<(&'a Half<S, N>, SkBuff)> {
    // SAFETY: per the function's contract.
    let skb = ManuallyDrop::into_inner(unsafe { given(skb) }?).unshare()?;
    // SAFETY: per the function's contract.
    match unsafe { Half::<S, N>::of_link(dev) } {
        Some(h) => Some((h, skb)),
        None => {
            skb.drop_for(DropReason::NotOurs);
            None
        }
    }
}

/// Borrows the skb a handler was given, without taking its reference: dropping the result
/// does nothing; [`ManuallyDrop::into_inner`] takes the reference when the handler keeps it.
///
/// # Safety
///
/// `skb` is a valid skb whose reference the handler may take.
unsafe fn given(skb: *mut bindings::sk_buff) -> Option<ManuallyDrop<SkBuff>> {
    // SAFETY: per the function's contract.
    NonNull::new(skb).map(|p| ManuallyDrop::new(unsafe { SkBuff::from_raw(p) }))
}

/// The tap on the namespace's lo: a TCP or UDP packet, or an ICMP error about one, that the
/// half says goes across (for a shared address, a port the other half owns) goes across the
/// link instead. lo's receive path: softirq, RCU.
///
/// # Safety
///
/// Called by the core as lo's rx_handler, registered by [`Half::attach`] with the half as its
/// data.
pub(super) unsafe extern "C" fn tap<S: SplitOps<N>, const N: usize>(
    pskb: *mut *mut bindings::sk_buff,
) -> c_uint {
    // SAFETY: the core passes a valid `*pskb`, whose reference is ours if we consume it.
    let raw = unsafe { *pskb };
    // SAFETY: as above.
    let Some(skb) = (unsafe { given(raw) }) else {
        return RX_HANDLER_PASS;
    };
    // SAFETY: lo's rx_handler_data is the half (registered so), read under RCU.
    let Some(h) = (unsafe { from_handler::<S, N>(sys::xpu_skb_rx_handler_data(raw)) }) else {
        return RX_HANDLER_PASS;
    };
    if !matches!(skb.protocol(), ETH_P_IP | ETH_P_IPV6) {
        return RX_HANDLER_PASS;
    }
    match flow::<S, N>(&skb) {
        Some((_, dst, port)) if h.logic.tap(dst, port) => {}
        _ => return RX_HANDLER_PASS,
    }
    if let Some(skb) = ManuallyDrop::into_inner(skb).unshare() {
        h.cross(skb);
    }
    RX_HANDLER_CONSUMED
}

/// The edge, at LOCAL_IN for IPv4 and IPv6: a TCP or UDP packet from outside the pod (not lo,
/// not the link), or an ICMP error about one of the pod's (a router's "fragmentation needed"),
/// that the half says goes across (for the pod address, a port the other half owns) goes
/// across. LOCAL_IN runs after this half's PREROUTING (a REDIRECT or DNAT to a sidecar here has
/// changed the port already), after reassembly, and after its INPUT filter. A packet that
/// found a socket of this half (TPROXY, early demux) stays here.
///
/// # Safety
///
/// Called by netfilter as the hook [`Hooks::register`] registered for the half `priv_`.
pub(super) unsafe extern "C" fn edge_in<S: SplitOps<N>, const N: usize>(
    priv_: *mut c_void,
    skb: *mut bindings::sk_buff,
    state: *const sys::nf_hook_state,
) -> c_uint {
    // SAFETY: the hook's data is the half, alive while the hook is registered.
    let Some(h) = (unsafe { from_handler::<S, N>(priv_) }) else {
        return NF_ACCEPT;
    };
    // SAFETY: netfilter passes a valid skb, whose reference is ours if we steal it.
    let Some(mut skb) = (unsafe { given(skb) }) else {
        return NF_ACCEPT;
    };
    // SAFETY: netfilter passes the state of this run; LOCAL_IN's `in` is the receiving device.
    let from = unsafe { Hooks::in_dev(state) };
    // The namespace's loopback device is the half's `lo`.
    if ptr::eq(from, h.dev) || ptr::eq(from, h.lo) || skb.has_socket() {
        return NF_ACCEPT;
    }
    match flow::<S, N>(&skb) {
        Some((_, dst, port)) if h.logic.edge(dst, port) => {}
        _ => return NF_ACCEPT,
    }
    // This half routes the flow, so its conntrack keeps the flow whole, as a router's does:
    // confirmed here, as the last LOCAL_IN hook would have, so that the other half's answers,
    // which leave through this half, are its replies and not new connections that a rule here
    // (a sidecar's redirect of what comes in on the link) would take.
    if !skb.ct_confirm() {
        return NF_DROP;
    }
    if let Some(mut skb) = ManuallyDrop::into_inner(skb).unshare() {
        skb.forward_csum();
        h.cross(skb);
    }
    NF_STOLEN
}

/// A steered packet from the other half: the half says whether it is this half's to take and
/// how (through lo as loopback would, or, from outside the pod, as if it had come in on the
/// link).
///
/// # Safety
///
/// Called by the core as the `packet_type` handler of `ETH_P_XPU_LOCAL` frames.
pub(super) unsafe extern "C" fn local_rcv<S: SplitOps<N>, const N: usize>(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
    _pt: *mut sys::packet_type,
    _orig_dev: *mut bindings::net_device,
) -> c_int {
    // SAFETY: the core hands over its reference to a valid skb, received on the live `dev`,
    // in a receive path (RCU).
    match unsafe { arrived::<S, N>(skb, dev) } {
        Some((h, skb)) => take(h, skb),
        None => NET_RX_DROP,
    }
}

fn take<S: SplitOps<N>, const N: usize>(h: &Half<S, N>, mut skb: SkBuff) -> c_int {
    skb.reset_network_header();
    let read = headers::<S, N, _>(&skb, |p| Some((S::read_flow(p)?, S::ip_lengths(p)?)));
    // The IP header whole and linear for the stack, the packet no longer than its frame.
    let Some(((src, dst, port), (hdr, total))) = read else {
        return refuse(h, skb);
    };
    if !skb.may_pull(hdr) || total > usize::try_from(skb.len()).unwrap_or(0) {
        return refuse(h, skb);
    }
    // SAFETY: the link is held by the half, and with it its namespace.
    let net = unsafe { sys::xpu_dev_net(h.dev) };
    let (proto, v6) = match src {
        IpAddr::V4(_) => (ETH_P_IP, false),
        IpAddr::V6(_) => (ETH_P_IPV6, true),
    };
    let local = local_addr(net, src);
    let delivered = match h.logic.arrival(src, dst, port, local) {
        Arrival::Loopback => {
            let (s, d) = (octets(src), octets(dst));
            // SAFETY: `net` is live; the addresses are 4 or 16 bytes as `v6` says.
            let dst = unsafe { sys::xpu_local_route(net, v6, s.as_ptr(), d.as_ptr()) };
            // SAFETY: a route whose reference the lookup gave us.
            let Some(route) = (unsafe { Route::from_raw(dst) }) else {
                return refuse(h, skb);
            };
            // SAFETY: lo is live while the half is.
            unsafe { skb.deliver(h.lo, proto, Some(route)) }
        }
        // SAFETY: the link is held by the half.
        Arrival::Link => unsafe { skb.deliver(h.dev, proto, None) },
        Arrival::Drop => return refuse(h, skb),
    };
    if delivered {
        h.logic.count(true);
    }
    NET_RX_SUCCESS
}

/// Drops `skb`, from the other half, and counts it against the half.
fn refuse<S: SplitOps<N>, const N: usize>(h: &Half<S, N>, skb: SkBuff) -> c_int {
    h.logic.refused();
    skb.drop_for(DropReason::NotOurs);
    NET_RX_DROP
}

/// `a` in network order, IPv4 in the first 4 bytes.
fn octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(a) => {
            let mut o = [0; 16];
            o[..4].copy_from_slice(&a.octets());
            o
        }
        IpAddr::V6(a) => a.octets(),
    }
}

/// Whether `a` is loopback or one of `net`'s addresses: inside the pod.
fn local_addr(net: *mut bindings::net, a: IpAddr) -> bool {
    let o = octets(a);
    // SAFETY: `net` is live (the caller's half holds it); `o` has the address's bytes.
    unsafe { sys::xpu_local_addr(net, a.is_ipv6(), o.as_ptr()) }
}

/// A snapshot from the other half.
///
/// # Safety
///
/// Called by the core as the `packet_type` handler of `ETH_P_XPU_SYNC` frames.
pub(super) unsafe extern "C" fn sync_rcv<S: SplitOps<N>, const N: usize>(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
    _pt: *mut sys::packet_type,
    _orig_dev: *mut bindings::net_device,
) -> c_int {
    // Our own copy (making it linear changes it). Not split here: the peer's view of us stays
    // "unknown".
    // SAFETY: the core hands over its reference to a valid skb, received on the live `dev`,
    // in a receive path (RCU).
    let Some((h, mut skb)) = (unsafe { arrived::<S, N>(skb, dev) }) else {
        return NET_RX_DROP;
    };
    let Some(msg) = skb.linear() else {
        skb.drop_for(DropReason::NoMem);
        return NET_RX_DROP;
    };
    let r = h.logic.receive(msg);
    if r.bad {
        h.warn(c"malformed port snapshot from the peer, ignored");
        skb.drop_for(DropReason::NotOurs);
        return NET_RX_DROP;
    }
    if r.reply || r.yielded {
        h.later(Later::Send);
    }
    if r.notify {
        h.later(Later::Notify);
    }
    if r.yielded {
        h.warn(c"ports claimed by both halves at once go to the host half");
    }
    skb.consume();
    NET_RX_SUCCESS
}
