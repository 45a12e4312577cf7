// SPDX-License-Identifier: GPL-2.0

//! The ethtool ops (`xpu_ethtool_ops` in driver/xpu_shim.c points at them), generic over
//! [`NetdevOps`](super::ops::NetdevOps): `-i`, `-S`, `-l`/`-L`, `-g`, `-c`/`-C`, and the private
//! flags (`--show-priv-flags`, `--set-priv-flags`).
//!
//! `ethtool -S`: the driver lists its counters once, through a [`StatSink`], and the same walk
//! yields the count, the names and the values, so the three can never disagree.

use core::fmt::{self, Write};

use kernel::{bindings, error::from_result, ffi::c_int, prelude::*};

use super::{
    cstr::CStrWriter,
    device::Device,
    ops::{state, Exported},
    rtnl::Rtnl,
    rxq::Moderation,
};

/// Bytes of one counter name (`ETH_GSTRING_LEN`).
pub(crate) const NAME_LEN: usize = bindings::ETH_GSTRING_LEN as usize;

/// `ETH_SS_STATS`: the string set of `ethtool -S`.
const SS_STATS: c_int = bindings::ethtool_stringset_ETH_SS_STATS as c_int;

/// `ETH_SS_PRIV_FLAGS`: the string set of `ethtool --show-priv-flags`.
const SS_PRIV_FLAGS: c_int = bindings::ethtool_stringset_ETH_SS_PRIV_FLAGS as c_int;

/// The private flags, in bit order.
///
/// `busy-poll`, the polling baseline, off by default: every RX queue's NAPI runs in a kernel
/// thread of its own that polls its ring without pause (the kernel's threaded busy polling,
/// `threaded: busy-poll` of the netdev family's napi-set, for all of the device's NAPIs). A
/// poll that finds the ring empty then never completes, so the consumer never re-arms its
/// doorbell and the sender never rings it: a DPDK poll-mode driver's way, over the same rings
/// and the same datapath. The threads are `napi/DEV-ID`; pin one to a CPU with `taskset`.
const PRIV_FLAGS: [&CStr; 1] = [c"busy-poll"];
const PRIV_BUSY_POLL: u32 = 1 << 0;

/// Where [`StatSink::stat`] puts each counter.
pub(crate) enum StatSink<'a> {
    /// Just count them.
    Count(usize),
    /// Write the names, NUL-padded.
    Names(&'a mut [[u8; NAME_LEN]], usize),
    /// Write the values.
    Values(&'a mut [u64], usize),
}

impl StatSink<'_> {
    /// One counter: `name` and its current `value`.
    pub(crate) fn stat(&mut self, name: fmt::Arguments<'_>, value: u64) {
        match self {
            Self::Count(n) => *n += 1,
            Self::Names(bufs, i) => {
                if let Some(buf) = bufs.get_mut(*i) {
                    let _ = CStrWriter::new(buf).write_fmt(name);
                }
                *i += 1;
            }
            Self::Values(vals, i) => {
                if let Some(v) = vals.get_mut(*i) {
                    *v = value;
                }
                *i += 1;
            }
        }
    }
}

/// The counters `ethtool -S` shows, walked into `sink`; none without state.
fn walk<D: Exported>(dev: &Device, sink: &mut StatSink<'_>) {
    if let Some(st) = state::<D>(dev) {
        D::ethtool_stats(st, sink);
    }
}

/// How many counters `ethtool -S` shows.
fn count<D: Exported>(dev: &Device) -> usize {
    let mut sink = StatSink::Count(0);
    walk::<D>(dev, &mut sink);
    match sink {
        StatSink::Count(n) => n,
        _ => 0,
    }
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_drvinfo` of an xpu device.
pub(crate) unsafe fn get_drvinfo<D: Exported>(
    dev: *mut bindings::net_device,
    info: *mut bindings::ethtool_drvinfo,
) {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core passes its own `info`, valid and not otherwise accessed for the call.
    let Some(info) = (unsafe { info.as_mut() }) else {
        return;
    };
    let _ = CStrWriter::new(&mut info.driver).write_str(D::NAME);
    if let Some(st) = state::<D>(dev) {
        // The core fills bus-info from the parent device (PCI mode).
        let _ = D::firmware(st, &mut CStrWriter::new(&mut info.fw_version));
    }
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_sset_count` of an xpu device.
pub(crate) unsafe fn get_sset_count<D: Exported>(
    dev: *mut bindings::net_device,
    sset: c_int,
) -> c_int {
    if sset == SS_PRIV_FLAGS {
        return PRIV_FLAGS.len() as c_int;
    }
    if sset != SS_STATS {
        return EOPNOTSUPP.to_errno();
    }
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    c_int::try_from(count::<D>(dev)).unwrap_or(0)
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_strings` of an xpu device, with `buf`
/// valid for as many names as `get_sset_count` gave, RTNL held since.
pub(crate) unsafe fn get_strings<D: Exported>(
    dev: *mut bindings::net_device,
    sset: u32,
    buf: *mut u8,
) {
    if buf.is_null() {
        return;
    }
    if c_int::try_from(sset) == Ok(SS_PRIV_FLAGS) {
        // SAFETY: `buf` holds as many names as `get_sset_count` gave for the set.
        let names = unsafe {
            core::slice::from_raw_parts_mut(buf.cast::<[u8; NAME_LEN]>(), PRIV_FLAGS.len())
        };
        for (name, flag) in names.iter_mut().zip(PRIV_FLAGS) {
            let _ = CStrWriter::new(name).write_str(flag.to_str().unwrap_or("?"));
        }
        return;
    }
    if c_int::try_from(sset) != Ok(SS_STATS) {
        return;
    }
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // The counters change only when the datapath attaches, under RTNL, which the core holds
    // from `get_sset_count` to here: `n` is what it counted, and sized `buf` for.
    let n = count::<D>(dev);
    // SAFETY: `buf` holds `n` names of `NAME_LEN` bytes (function safety requirement, and the
    // above); a `[u8; NAME_LEN]` has alignment 1.
    let names = unsafe { core::slice::from_raw_parts_mut(buf.cast::<[u8; NAME_LEN]>(), n) };
    walk::<D>(dev, &mut StatSink::Names(names, 0));
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_ethtool_stats` of an xpu device, with
/// `data` valid for `stats.n_stats` values.
pub(crate) unsafe fn get_ethtool_stats<D: Exported>(
    dev: *mut bindings::net_device,
    stats: *mut bindings::ethtool_stats,
    data: *mut u64,
) {
    // SAFETY: the core passes its own `stats`, valid for the call.
    let Some(stats) = (unsafe { stats.as_ref() }) else {
        return;
    };
    if data.is_null() {
        return;
    }
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: `data` holds `n_stats` values (function safety requirement).
    let vals = unsafe { core::slice::from_raw_parts_mut(data, stats.n_stats as usize) };
    walk::<D>(dev, &mut StatSink::Values(vals, 0));
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_channels` of an xpu device.
pub(crate) unsafe fn get_channels<D: Exported>(
    dev: *mut bindings::net_device,
    ch: *mut bindings::ethtool_channels,
) {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core passes its own `ch`, valid and not otherwise accessed for the call.
    let Some(ch) = (unsafe { ch.as_mut() }) else {
        return;
    };
    ch.max_combined = state::<D>(dev).map_or(0, D::max_queues);
    ch.combined_count = dev.real_num_queues();
}

/// # Safety
///
/// Must only be called by the ethtool core as `set_channels` of an xpu device (with RTNL
/// held, and the counts checked against `get_channels`' maxima).
pub(crate) unsafe fn set_channels<D: Exported>(
    dev: *mut bindings::net_device,
    ch: *mut bindings::ethtool_channels,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core passes its own `ch`, valid for the call.
    let Some(ch) = (unsafe { ch.as_ref() }) else {
        return EINVAL.to_errno();
    };
    from_result(|| {
        // Each queue is a TX and RX pair: combined only.
        if ch.combined_count == 0 || ch.rx_count != 0 || ch.tx_count != 0 || ch.other_count != 0 {
            return Err(EINVAL);
        }
        let st = state::<D>(dev).ok_or(ENODEV)?;
        // SAFETY: the core holds RTNL for set_channels (function safety requirement).
        let rtnl = unsafe { Rtnl::assume_held() };
        D::set_queues(dev, st, ch.combined_count, &rtnl)?;
        Ok(0)
    })
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_ringparam` of an xpu device.
pub(crate) unsafe fn get_ringparam<D: Exported>(
    dev: *mut bindings::net_device,
    ring: *mut bindings::ethtool_ringparam,
) {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core passes its own `ring`, valid and not otherwise accessed for the call.
    let Some(ring) = (unsafe { ring.as_mut() }) else {
        return;
    };
    // Both directions of every queue have rings of one size, fixed for the link's life (set
    // at creation in pair mode, by the window's layout in PCI mode): the maximum. What is in
    // use of them is `ethtool -G`'s.
    let Some(st) = state::<D>(dev) else {
        return;
    };
    let size = D::ring_size(st);
    (ring.rx_pending, ring.tx_pending) = D::ring_depths(st);
    ring.rx_max_pending = size;
    ring.tx_max_pending = size;
}

/// # Safety
///
/// Must only be called by the ethtool core as `set_ringparam` of an xpu device (with RTNL
/// held, and the sizes checked against `get_ringparam`'s maxima), with its extack (null on
/// the ioctl path).
pub(crate) unsafe fn set_ringparam<D: Exported>(
    dev: *mut bindings::net_device,
    ring: *mut bindings::ethtool_ringparam,
    extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core passes its own `ring`, valid for the call.
    let (Some(ring), Some(st)) = (unsafe { ring.as_ref() }, state::<D>(dev)) else {
        return EINVAL.to_errno();
    };
    // SAFETY: the core holds RTNL for set_ringparam (function safety requirement).
    let rtnl = unsafe { Rtnl::assume_held() };
    match D::set_ring_depths(dev, st, ring.rx_pending, ring.tx_pending, &rtnl) {
        Ok(()) => 0,
        // SAFETY: the request's own extack (function safety requirement).
        Err(r) => unsafe { r.report(extack) },
    }
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_coalesce` of an xpu device.
pub(crate) unsafe fn get_coalesce<D: Exported>(
    dev: *mut bindings::net_device,
    ec: *mut bindings::ethtool_coalesce,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core passes its own `ec`, valid and not otherwise accessed for the call.
    let (Some(ec), Some(st)) = (unsafe { ec.as_mut() }, state::<D>(dev)) else {
        return EINVAL.to_errno();
    };
    let m = D::coalesce(st);
    ec.rx_coalesce_usecs = m.usecs;
    ec.rx_max_coalesced_frames = m.frames;
    ec.use_adaptive_rx_coalesce = m.adaptive.into();
    0
}

/// # Safety
///
/// Must only be called by the ethtool core as `set_coalesce` of an xpu device (with RTNL
/// held, and only the parameters of `supported_coalesce_params` set), with its extack.
pub(crate) unsafe fn set_coalesce<D: Exported>(
    dev: *mut bindings::net_device,
    ec: *mut bindings::ethtool_coalesce,
    extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core passes its own `ec`, valid for the call.
    let (Some(ec), Some(st)) = (unsafe { ec.as_ref() }, state::<D>(dev)) else {
        return EINVAL.to_errno();
    };
    let m = Moderation {
        usecs: ec.rx_coalesce_usecs,
        frames: ec.rx_max_coalesced_frames,
        adaptive: ec.use_adaptive_rx_coalesce != 0,
    };
    // SAFETY: the core holds RTNL for set_coalesce (function safety requirement).
    let rtnl = unsafe { Rtnl::assume_held() };
    match D::set_coalesce(dev, st, m, &rtnl) {
        Ok(()) => 0,
        // SAFETY: the request's own extack (function safety requirement).
        Err(r) => unsafe { r.report(extack) },
    }
}

/// # Safety
///
/// Must only be called by the ethtool core as `get_priv_flags` of an xpu device.
pub(crate) unsafe fn get_priv_flags(dev: *mut bindings::net_device) -> u32 {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    if dev.busy_poll() {
        PRIV_BUSY_POLL
    } else {
        0
    }
}

/// # Safety
///
/// Must only be called by the ethtool core as `set_priv_flags` of an xpu device (with RTNL
/// held; flags past `get_sset_count`'s are refused by the core).
pub(crate) unsafe fn set_priv_flags(dev: *mut bindings::net_device, flags: u32) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    if flags & !PRIV_BUSY_POLL != 0 {
        return EINVAL.to_errno();
    }
    match dev.set_busy_poll(flags & PRIV_BUSY_POLL != 0) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
