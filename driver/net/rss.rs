// SPDX-License-Identifier: GPL-2.0

//! Receive-side scaling, the kernel's side: ethtool's RSS ops (`-x`/`-X`, `-n`/`-N
//! rx-flow-hash`, in `xpu_ethtool_ops`), `ndo_select_queue` and the receive hash
//! (driver/xpu_shim.c calls them), generic over [`NetdevOps`](super::ops::NetdevOps).
//!
//! The hash is Toeplitz only, over a key of [`RSS_KEY_SIZE`] bytes and a table of
//! [`RSS_INDIR_SIZE`] entries; TCP and UDP over IPv4 and IPv6 hash any of their addresses and
//! ports, other IP packets their addresses. There are no additional contexts.

use kernel::{bindings, ffi::c_int, prelude::*};

use super::{
    device::Device,
    extack::Refusal,
    ops::{state, Exported},
    rtnl::Rtnl,
    skb::SkBuff,
    sys,
};
use crate::{
    datapath::rss::{HashType, FLOW_HEADER_MAX},
    shm::{
        RSS_FLOW_TCP4, RSS_FLOW_TCP6, RSS_FLOW_UDP4, RSS_FLOW_UDP6, RSS_F_ALL, RSS_F_DST_ADDR,
        RSS_F_DST_PORT, RSS_F_SRC_ADDR, RSS_F_SRC_PORT, RSS_INDIR_SIZE, RSS_KEY_SIZE,
    },
};

/// `ETH_RSS_HASH_TOP`: the Toeplitz hash.
const HASH_TOP: u8 = 1 << bindings::ETH_RSS_HASH_TOP_BIT;
/// `ETH_RSS_HASH_NO_CHANGE`.
const HASH_NO_CHANGE: u8 = bindings::ETH_RSS_HASH_NO_CHANGE as u8;
/// `RXH_XFRM_NO_CHANGE`; and no input transformation (0).
const XFRM_NO_CHANGE: u8 = bindings::RXH_XFRM_NO_CHANGE as u8;
/// `RXH_IP_SRC | RXH_IP_DST`: what every IP flow that is not TCP or UDP hashes.
const RXH_ADDRS: u32 = bindings::RXH_IP_SRC | bindings::RXH_IP_DST;

/// ethtool's field bits (`RXH_*`) and ours (`RSS_F_*`), pair by pair.
const FIELDS: [(u32, u32); 4] = [
    (bindings::RXH_IP_SRC, RSS_F_SRC_ADDR),
    (bindings::RXH_IP_DST, RSS_F_DST_ADDR),
    (bindings::RXH_L4_B_0_1, RSS_F_SRC_PORT),
    (bindings::RXH_L4_B_2_3, RSS_F_DST_PORT),
];

/// The flow of ours an ethtool flow type is: `Ok(flow)` for TCP and UDP, `Err(true)` for the
/// other IP flows (addresses only, fixed), `Err(false)` for what xpu does not hash.
fn flow_of(flow_type: u32) -> Result<u32, bool> {
    // The extension flags ask about the same flow.
    let ft = flow_type & !(bindings::FLOW_EXT | bindings::FLOW_MAC_EXT | bindings::FLOW_RSS);
    match ft {
        bindings::TCP_V4_FLOW => Ok(RSS_FLOW_TCP4),
        bindings::UDP_V4_FLOW => Ok(RSS_FLOW_UDP4),
        bindings::TCP_V6_FLOW => Ok(RSS_FLOW_TCP6),
        bindings::UDP_V6_FLOW => Ok(RSS_FLOW_UDP6),
        bindings::IPV4_FLOW
        | bindings::IPV6_FLOW
        | bindings::SCTP_V4_FLOW
        | bindings::SCTP_V6_FLOW
        | bindings::AH_ESP_V4_FLOW
        | bindings::AH_ESP_V6_FLOW
        | bindings::AH_V4_FLOW
        | bindings::AH_V6_FLOW
        | bindings::ESP_V4_FLOW
        | bindings::ESP_V6_FLOW => Err(true),
        _ => Err(false),
    }
}

/// `get_rxfh_key_size`: the Toeplitz key's bytes, whatever the device.
pub(crate) fn get_rxfh_key_size() -> u32 {
    // CAST: 40.
    RSS_KEY_SIZE as u32
}

/// `get_rxfh_indir_size`: the indirection table's entries, whatever the device.
pub(crate) fn get_rxfh_indir_size() -> u32 {
    // CAST: 128.
    RSS_INDIR_SIZE as u32
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_rx_ring_count` of an xpu device.
pub(crate) unsafe fn get_rx_ring_count(dev: *mut bindings::net_device) -> u32 {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // The RX queues in use: as many as the TX ones (each queue is a pair, `ethtool -L`'s
    // combined count).
    dev.real_num_queues()
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_rxfh` of an xpu device, with its `rxfh`
/// (`indir` null or of `get_rxfh_indir_size` entries, `key` null or of `get_rxfh_key_size`
/// bytes).
pub(crate) unsafe fn get_rxfh<D: Exported>(
    dev: *mut bindings::net_device,
    rxfh: *mut bindings::ethtool_rxfh_param,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core's own parameters, valid and not otherwise accessed for the call.
    let Some(p) = (unsafe { rxfh.as_mut() }) else {
        return EINVAL.to_errno();
    };
    let Some(cfg) = state::<D>(dev).and_then(D::rss) else {
        return ENODEV.to_errno();
    };
    p.hfunc = HASH_TOP;
    p.input_xfrm = 0;
    if !p.indir.is_null() {
        // SAFETY: the core sized `indir` by `get_rxfh_indir_size` (function safety
        // requirement).
        let indir = unsafe { core::slice::from_raw_parts_mut(p.indir, RSS_INDIR_SIZE) };
        for (o, &q) in indir.iter_mut().zip(cfg.indir.iter()) {
            *o = u32::from(q);
        }
    }
    if !p.key.is_null() {
        // SAFETY: the core sized `key` by `get_rxfh_key_size` (function safety requirement).
        let key = unsafe { core::slice::from_raw_parts_mut(p.key, RSS_KEY_SIZE) };
        key.copy_from_slice(&cfg.key);
    }
    0
}

/// # Safety
///
/// Must only be called by the ethtool core as `set_rxfh` of an xpu device (with RTNL held,
/// the table's entries checked against `get_rx_ring_count`), with its `rxfh` (as for
/// [`get_rxfh`]) and extack.
pub(crate) unsafe fn set_rxfh<D: Exported>(
    dev: *mut bindings::net_device,
    rxfh: *mut bindings::ethtool_rxfh_param,
    extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core's own parameters, valid for the call.
    let Some(p) = (unsafe { rxfh.as_ref() }) else {
        return EINVAL.to_errno();
    };
    let refuse = |msg| {
        // SAFETY: the request's own extack (function safety requirement).
        unsafe {
            Refusal {
                err: EOPNOTSUPP,
                msg,
            }
            .report(extack)
        }
    };
    if p.rss_context != 0 {
        return refuse(c"xpu has no additional RSS contexts");
    }
    if p.hfunc != HASH_NO_CHANGE && p.hfunc != HASH_TOP {
        return refuse(c"xpu hashes with Toeplitz only");
    }
    if p.input_xfrm != XFRM_NO_CHANGE && p.input_xfrm != 0 {
        return refuse(c"xpu transforms no hash input");
    }
    let Some(st) = state::<D>(dev) else {
        return ENODEV.to_errno();
    };
    let Some(mut cfg) = D::rss(st) else {
        return ENODEV.to_errno();
    };
    if !p.indir.is_null() {
        // SAFETY: as in `get_rxfh`.
        let indir = unsafe { core::slice::from_raw_parts(p.indir, RSS_INDIR_SIZE) };
        for (o, &q) in cfg.indir.iter_mut().zip(indir.iter()) {
            // The core checked each entry against the ring count (at most 16).
            let Ok(q) = u8::try_from(q) else {
                return EINVAL.to_errno();
            };
            *o = q;
        }
    }
    if !p.key.is_null() {
        // SAFETY: as in `get_rxfh`.
        let key = unsafe { core::slice::from_raw_parts(p.key, RSS_KEY_SIZE) };
        cfg.key.copy_from_slice(key);
    }
    // SAFETY: the core holds RTNL for set_rxfh (function safety requirement).
    let rtnl = unsafe { Rtnl::assume_held() };
    match D::set_rss(dev, st, &cfg, &rtnl) {
        Ok(()) => 0,
        // SAFETY: the request's own extack (function safety requirement).
        Err(r) => unsafe { r.report(extack) },
    }
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_rxfh_fields` of an xpu device.
pub(crate) unsafe fn get_rxfh_fields<D: Exported>(
    dev: *mut bindings::net_device,
    fields: *mut bindings::ethtool_rxfh_fields,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core's own parameters, valid and not otherwise accessed for the call.
    let Some(f) = (unsafe { fields.as_mut() }) else {
        return EINVAL.to_errno();
    };
    let Some(cfg) = state::<D>(dev).and_then(D::rss) else {
        return ENODEV.to_errno();
    };
    f.data = match flow_of(f.flow_type) {
        Ok(flow) => {
            let ours = (cfg.fields >> (4 * flow)) & RSS_F_ALL;
            FIELDS
                .iter()
                .filter(|(_, b)| ours & b != 0)
                .fold(0, |d, (rxh, _)| d | rxh)
        }
        Err(true) => RXH_ADDRS,
        Err(false) => return EOPNOTSUPP.to_errno(),
    };
    0
}

/// # Safety
///
/// Must only be called by the ethtool core as `set_rxfh_fields` of an xpu device (with RTNL
/// held), with its extack.
pub(crate) unsafe fn set_rxfh_fields<D: Exported>(
    dev: *mut bindings::net_device,
    fields: *const bindings::ethtool_rxfh_fields,
    extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core's own parameters, valid for the call.
    let Some(f) = (unsafe { fields.as_ref() }) else {
        return EINVAL.to_errno();
    };
    let refuse = |err, msg| {
        // SAFETY: the request's own extack (function safety requirement).
        unsafe { Refusal { err, msg }.report(extack) }
    };
    let (Some(st), Some(mut cfg)) = (state::<D>(dev), state::<D>(dev).and_then(D::rss)) else {
        return ENODEV.to_errno();
    };
    let flow = match flow_of(f.flow_type) {
        Ok(flow) => flow,
        Err(true) if f.data == RXH_ADDRS => return 0,
        Err(true) => {
            return refuse(
                EOPNOTSUPP,
                c"xpu hashes the addresses of IP flows other than TCP and UDP, and only those",
            )
        }
        Err(false) => return refuse(EOPNOTSUPP, c"xpu does not hash this flow type"),
    };
    let known = FIELDS.iter().fold(0, |d, (rxh, _)| d | rxh);
    if f.data & !known != 0 {
        return refuse(
            EINVAL,
            c"xpu hashes TCP and UDP flows by their addresses and ports only",
        );
    }
    let ours = FIELDS
        .iter()
        .filter(|(rxh, _)| f.data & rxh != 0)
        .fold(0, |d, (_, b)| d | b);
    cfg.fields = (cfg.fields & !(RSS_F_ALL << (4 * flow))) | ours << (4 * flow);
    // SAFETY: the core holds RTNL for set_rxfh_fields (function safety requirement).
    let rtnl = unsafe { Rtnl::assume_held() };
    match D::set_rss(dev, st, &cfg, &rtnl) {
        Ok(()) => 0,
        // SAFETY: the request's own extack (function safety requirement).
        Err(r) => unsafe { r.report(extack) },
    }
}

/// # Safety
///
/// Must only be called by the networking core as `ndo_select_queue` of an xpu device (through
/// the C shim's), with the skb it is sending, whose data starts at its Ethernet header.
pub(crate) unsafe fn select_queue<D: Exported>(
    dev: *mut bindings::net_device,
    skb: *mut bindings::sk_buff,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    let Some(st) = state::<D>(dev) else {
        return -1;
    };
    let mut buf = [0u8; FLOW_HEADER_MAX];
    // SAFETY: a valid skb the core keeps for the call (function safety requirement).
    let q = unsafe {
        SkBuff::with_borrowed(skb, |skb| {
            skb.header(&mut buf)
                .and_then(|frame| D::tx_queue(dev, st, frame))
        })
    }
    .flatten();
    q.map_or(-1, c_int::from)
}

/// `enum pkt_hash_types`' values.
const HASH_NONE: u32 = bindings::pkt_hash_types_PKT_HASH_TYPE_NONE;
const HASH_L3: u32 = bindings::pkt_hash_types_PKT_HASH_TYPE_L3;
const HASH_L4: u32 = bindings::pkt_hash_types_PKT_HASH_TYPE_L4;

/// What a hash covers, in an XDP program's words (`enum xdp_rss_hash_type`, whose
/// `XDP_RSS_TYPE_*` values are these bits combined).
fn xdp_hash_type(ty: HashType) -> sys::xdp_rss_hash_type {
    let l3 = |v6| {
        if v6 {
            sys::xdp_rss_hash_type_XDP_RSS_L3_IPV6
        } else {
            sys::xdp_rss_hash_type_XDP_RSS_L3_IPV4
        }
    };
    match ty {
        HashType::L3 { v6, dynhdr: false } => l3(v6),
        HashType::L3 { v6, dynhdr: true } => l3(v6) | sys::xdp_rss_hash_type_XDP_RSS_L3_DYNHDR,
        HashType::L4 { v6, udp } => {
            let l4 = if udp {
                sys::xdp_rss_hash_type_XDP_RSS_L4_UDP
            } else {
                sys::xdp_rss_hash_type_XDP_RSS_L4_TCP
            };
            l3(v6) | sys::xdp_rss_hash_type_XDP_RSS_L4 | l4
        }
    }
}

/// The receive hash of a frame, with this end's own key and fields: `skb->hash` for the stack,
/// and what `bpf_xdp_metadata_rx_hash()` gives an XDP program. Returns what the hash covers
/// as `enum pkt_hash_types` (`PKT_HASH_TYPE_NONE`: no hash, nothing written), and writes the
/// hash to `hash` and, unless it is null, what it covers as `enum xdp_rss_hash_type` to
/// `xdp_type`.
///
/// # Safety
///
/// Must only be called by the C shim's receive path, or by its XDP receive-hash kfunc (which
/// only a program bound to an xpu device reaches: the kernel refuses to run a device-bound
/// program anywhere but in its device's receive path), with an xpu device, `len` readable
/// bytes at `frame` (a received frame, from its Ethernet header), `hash` writable, and
/// `xdp_type` null or writable.
pub(crate) unsafe fn rx_hash<D: Exported>(
    dev: *mut bindings::net_device,
    frame: *const u8,
    len: u32,
    hash: *mut u32,
    xdp_type: *mut sys::xdp_rss_hash_type,
) -> u32 {
    // SAFETY: the shim passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    let Some(st) = state::<D>(dev) else {
        return HASH_NONE;
    };
    let len = usize::try_from(len).unwrap_or(0).min(FLOW_HEADER_MAX);
    if frame.is_null() || hash.is_null() {
        return HASH_NONE;
    }
    // SAFETY: `len` bytes at `frame` are readable (function safety requirement), and no more
    // than that are read.
    let frame = unsafe { core::slice::from_raw_parts(frame, len) };
    let Some((h, ty)) = D::rx_hash(st, frame) else {
        return HASH_NONE;
    };
    // SAFETY: writable (function safety requirement).
    unsafe { hash.write(h) };
    if !xdp_type.is_null() {
        // SAFETY: not null, so writable (function safety requirement).
        unsafe { xdp_type.write(xdp_hash_type(ty)) };
    }
    if ty.is_l4() {
        HASH_L4
    } else {
        HASH_L3
    }
}
