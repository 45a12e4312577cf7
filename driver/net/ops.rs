// SPDX-License-Identifier: GPL-2.0

//! The netdev ops: [`NetdevOps`] is what the driver logic implements; the functions here, generic
//! over it, are what the C ops table (driver/xpu_shim.c) reaches through the `xpu_rs_*`
//! `extern "C"` symbols that [`export_netdev_ops!`] emits for the one implementation. So this
//! layer names no driver type: the logic registers itself.

use core::{fmt, ptr::NonNull};

use kernel::{
    bindings,
    error::from_result,
    ffi::{c_int, c_void},
    prelude::*,
    sync::{atomic::Relaxed, Arc},
    time::{delay::fsleep, Delta},
    types::ForeignOwnable,
};

use super::{
    cstr::CStrWriter,
    dev_priv::{Common, DevPriv},
    device::Device,
    ethtool::StatSink,
    extack::Refusal,
    genl::Put,
    inject,
    napi::Napi,
    rtnl::{self, LinkData, Rtnl, RtnlGuard},
    rxq::Moderation,
    skb::SkBuff,
    sys,
    xdp::XdpFrame,
};
use crate::{
    datapath::rss::{HashType, RssConfig},
    link_uapi::{attr, role},
};

const NETDEV_TX_OK: c_int = sys::netdev_tx_NETDEV_TX_OK;
const NETDEV_TX_BUSY: c_int = sys::netdev_tx_NETDEV_TX_BUSY;

/// The device's counters for `ndo_get_stats64`, summed over its queues by [`NetdevOps::stats`].
#[derive(Default)]
pub(crate) struct XpuStats {
    pub(crate) rx_packets: u64,
    pub(crate) rx_bytes: u64,
    pub(crate) rx_dropped: u64,
    pub(crate) rx_errors: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) tx_dropped: u64,
}

/// One queue's counters for the netdev family's queue stats (`netdev_stat_ops`): what its RX
/// and TX queue of that index report.
#[derive(Default, Clone, Copy)]
pub(crate) struct QueueStats {
    pub(crate) rx_packets: u64,
    pub(crate) rx_bytes: u64,
    /// Packets dropped for want of memory to receive them into.
    pub(crate) rx_alloc_fail: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_bytes: u64,
    /// Times the TX queue stopped on a full ring.
    pub(crate) tx_stops: u64,
}

impl QueueStats {
    fn add(&mut self, o: &Self) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.rx_alloc_fail += o.rx_alloc_fail;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.tx_stops += o.tx_stops;
    }

    fn put_rx(&self, out: &mut sys::netdev_queue_stats_rx) {
        out.packets = self.rx_packets;
        out.bytes = self.rx_bytes;
        out.alloc_fail = self.rx_alloc_fail;
    }

    fn put_tx(&self, out: &mut sys::netdev_queue_stats_tx) {
        out.packets = self.tx_packets;
        out.bytes = self.tx_bytes;
        out.stop = self.tx_stops;
    }
}

/// What `ndo_start_xmit` tells the core.
pub(crate) enum TxResult {
    /// The packet was consumed (sent or dropped and counted).
    Ok,
    /// No room: the queue is stopped and the core keeps the packet to retry after the wake.
    Busy(SkBuff),
}

/// Network device operations of a driver with per-device state of type `State`.
pub(crate) trait NetdevOps {
    /// Per-device state, created in `ndo_init` and freed after the device is unregistered.
    type State: Send + Sync;

    /// `ndo_init`: the device is being registered.
    fn init(dev: &Device, rtnl: &Rtnl) -> Result<Pin<KBox<Self::State>>>;
    /// `ndo_open`: the administrator brought the device up.
    fn open(dev: &Device, state: &Self::State, rtnl: &Rtnl) -> Result;
    /// `ndo_stop`: the device goes down.
    fn stop(dev: &Device, state: &Self::State, rtnl: &Rtnl) -> Result;
    /// `ndo_start_xmit`: send `skb`.
    fn start_xmit(skb: SkBuff, dev: &Device, state: &Self::State) -> TxResult;

    /// PCI mode: what the PCI driver hands its netdev.
    type Transport;

    /// PCI mode: `dev` was just registered for a PCI function; take its transport.
    fn pci_attach(
        dev: &Device,
        state: &Self::State,
        transport: &Arc<Self::Transport>,
        rtnl: &Rtnl,
    ) -> Result;
    /// PCI mode: the control doorbell rang (or the device was probed): run the handshake.
    fn control(dev: &Device, state: &Self::State, rtnl: &Rtnl);
    /// PCI mode: the control doorbell rang (hard IRQ): drop the carrier now if the peer is
    /// gone; `control` does the rest later, under RTNL.
    fn control_peek(dev: &Device, state: &Self::State);
    /// PCI mode, `ndo_tx_timeout` (softirq): a TX queue stalled; `control` resets the link.
    fn tx_timeout(state: &Self::State);
    /// `enum xpu_link_role` of uapi/linux/xpu.h.
    fn role(state: &Self::State) -> u32;
    /// PCI mode: `enum xpu_link_state` and a description of where the handshake is.
    fn link_status(state: &Self::State) -> (u32, &'static str);
    /// PCI mode: the link's number, the same at both ends, if this end knows it.
    fn link_id(state: &Self::State) -> Option<u32>;

    /// `rtnl_link_ops.validate`: whether a new link's configuration can be had; a refusal
    /// names the attribute (`IFLA_XPU_*`) at fault.
    fn validate(data: &LinkData<'_>) -> Result<(), (u16, Refusal)>;
    /// Pair mode: `dev` and `peer` were just registered together, for the configuration
    /// `data` (validated): set them up and connect their datapaths.
    fn pair_attach(
        dev: &Device,
        state: &Self::State,
        peer: &Device,
        peer_state: &Self::State,
        data: &LinkData<'_>,
        rtnl: &Rtnl,
    ) -> Result<(), Refusal>;
    /// NAPI poll of RX queue `q`: receive up to `budget` packets, return how many.
    fn poll(dev: &Device, state: &Self::State, napi: &Napi<'_>, q: u16, budget: u32) -> u32;
    /// `ndo_xdp_xmit` on TX queue `q` (BH off): send `frames` in order until one cannot be,
    /// returning how many were taken; the frames not taken are left to their sender
    /// ([`XdpFrame::leave`]), or never drawn from the iterator.
    fn xdp_xmit(
        dev: &Device,
        state: &Self::State,
        q: u16,
        frames: &mut dyn Iterator<Item = XdpFrame>,
    ) -> u32;
    /// The device's counters.
    fn stats(state: &Self::State, stats: &mut XpuStats);
    /// Queue `q`'s counters (zero for a queue that does not exist); the device's are their sum
    /// over every queue it has, used or not.
    fn queue_stats(state: &Self::State, q: u16) -> QueueStats;
    /// `ethtool -S`: every counter, in a fixed order.
    fn ethtool_stats(state: &Self::State, sink: &mut StatSink<'_>);
    /// `ethtool -l`: the most queues the device can use.
    fn max_queues(state: &Self::State) -> u32;
    /// `ethtool -L combined n`: use `n` queues (the core checked `n` against
    /// [`NetdevOps::max_queues`]).
    fn set_queues(dev: &Device, state: &Self::State, n: u32, rtnl: &Rtnl) -> Result;
    /// `ethtool -c`: the RX doorbell moderation the administrator set.
    fn coalesce(state: &Self::State) -> Moderation;
    /// `ethtool -C`: sets it (only `rx-usecs`, `rx-frames` and `adaptive-rx` reach here).
    fn set_coalesce(
        dev: &Device,
        state: &Self::State,
        m: Moderation,
        rtnl: &Rtnl,
    ) -> Result<(), Refusal>;

    /// The driver's name (`ethtool -i`).
    const NAME: &'static str;
    /// `ethtool -i`: what stands for the firmware's version (nothing for none).
    fn firmware(state: &Self::State, out: &mut dyn fmt::Write) -> fmt::Result;
    /// `ndo_get_phys_port_name`: the device's port name, if it has one.
    fn port_name(state: &Self::State) -> Option<&'static str>;

    /// `ethtool -x`: the RSS configuration of the device's RX queues (`None` while it has no
    /// datapath).
    fn rss(state: &Self::State) -> Option<RssConfig>;
    /// `ethtool -X`, `-N rx-flow-hash`: sets it (the core checked the table's queues).
    fn set_rss(
        dev: &Device,
        state: &Self::State,
        cfg: &RssConfig,
        rtnl: &Rtnl,
    ) -> Result<(), Refusal>;
    /// `ndo_select_queue`: the TX queue of the frame `frame` starts (its first bytes), or
    /// `None` for the stack's choice.
    fn tx_queue(dev: &Device, state: &Self::State, frame: &[u8]) -> Option<u16>;
    /// The RSS hash of a received frame (its first bytes), for `skb->hash`.
    fn rx_hash(state: &Self::State, frame: &[u8]) -> Option<(u32, HashType)>;

    /// Descriptors per ring: what the window holds (`ethtool -g`'s maximum).
    fn ring_size(state: &Self::State) -> u32;
    /// `ethtool -g`: how many of them are in use, (rx, tx).
    fn ring_depths(state: &Self::State) -> (u32, u32);
    /// `ethtool -G`: sets both (the core checked them against [`NetdevOps::ring_size`]).
    fn set_ring_depths(
        dev: &Device,
        state: &Self::State,
        rx: u32,
        tx: u32,
        rtnl: &Rtnl,
    ) -> Result<(), Refusal>;
}

/// A [`NetdevOps`] that the `xpu_rs_*` symbols dispatch to.
///
/// # Safety
///
/// Only [`export_netdev_ops!`] implements it, with the symbols: it holds for the one type whose
/// [`dev_init`] put each xpu device's state in place, so the other functions here may read
/// that state (and [`super::pci::PciNetdev::new`] its transport) as this type's.
pub(crate) unsafe trait Exported: NetdevOps {}

/// The device's private state, which [`dev_init`] put in its private area.
fn dev_priv<D: Exported>(dev: &Device) -> Option<&DevPriv<D::State>> {
    let ptr = dev.private();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `dev_init` stored this pointer from the one `Exported` type's `into_foreign`;
    // only `dev_free` reclaims it, after the last op has returned, so the borrow ends first.
    let p = unsafe { <Pin<KBox<DevPriv<D::State>>> as ForeignOwnable>::borrow(ptr) };
    Some(p.get_ref())
}

/// The logic's state of the device.
pub(super) fn state<D: Exported>(dev: &Device) -> Option<&D::State> {
    dev_priv::<D>(dev).map(|p| p.state.as_ref().get_ref())
}

/// # Safety
///
/// Must only be called by the networking core as `ndo_init` of an xpu device.
pub(crate) unsafe fn dev_init<D: Exported>(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: the core calls ndo_init from register_netdevice, with RTNL held, until it returns.
    let rtnl = unsafe { Rtnl::assume_held() };
    from_result(|| {
        let state = D::init(dev, &rtnl)?;
        let m = D::coalesce(&state);
        // SAFETY: the C part of ndo_init set up the NAPI contexts; `ctrl_work::<D>` runs the
        // control of this `Exported` type, whose state this is.
        let p = KBox::pin_init(
            unsafe { DevPriv::new(dev.as_raw(), state, ctrl_work::<D>) },
            GFP_KERNEL,
        )?;
        for q in p.common.rx_queues() {
            q.set(&m);
        }
        dev.set_private(p.into_foreign());
        Ok(0)
    })
}

/// # Safety
///
/// Must only be called by the networking core as `priv_destructor` of an xpu device, once.
pub(crate) unsafe fn dev_free<D: Exported>(dev: *mut bindings::net_device) {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    let ptr = dev.private();
    if ptr.is_null() {
        // Registration failed before (or in) ndo_init: there is no state.
        return;
    }
    dev.set_private(core::ptr::null_mut());
    // SAFETY: `ptr` came from `into_foreign` in `dev_init`; no op runs any more, so no
    // borrow from `state()` is alive, and the pointer was cleared above so this runs once.
    drop(unsafe { <Pin<KBox<DevPriv<D::State>>> as ForeignOwnable>::from_foreign(ptr) });
}

/// # Safety
///
/// Must only be called by the networking core as `ndo_open` of an xpu device.
pub(crate) unsafe fn open<D: Exported>(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    from_result(|| {
        let state = state::<D>(dev).ok_or(EINVAL)?;
        // SAFETY: the core calls ndo_open with RTNL held, until it returns.
        let rtnl = unsafe { Rtnl::assume_held() };
        D::open(dev, state, &rtnl)?;
        Ok(0)
    })
}

/// # Safety
///
/// Must only be called by the networking core as `ndo_stop` of an xpu device.
pub(crate) unsafe fn stop<D: Exported>(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    from_result(|| {
        let state = state::<D>(dev).ok_or(EINVAL)?;
        // SAFETY: the core calls ndo_stop with RTNL held, until it returns.
        let rtnl = unsafe { Rtnl::assume_held() };
        D::stop(dev, state, &rtnl)?;
        // A test's fault: the last poll queues the control work (PCI mode's only: a pair's
        // is never queued), which then starts late.
        if D::role(state) != role::PAIR && inject::fire(&inject::CTRL_LATE) {
            dev.control_schedule_late();
        }
        Ok(0)
    })
}

/// # Safety
///
/// Must only be called by the networking core as `ndo_start_xmit` of an xpu device, with a
/// valid `skb` whose reference it hands over.
pub(crate) unsafe fn start_xmit<D: Exported>(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    let Some(skb) = NonNull::new(skb) else {
        return NETDEV_TX_OK;
    };
    // SAFETY: the core hands over its reference to a valid skb (function safety requirement).
    let skb = unsafe { SkBuff::from_raw(skb) };
    let Some(state) = state::<D>(dev) else {
        dev.tx_dropped_inc();
        return NETDEV_TX_OK;
    };
    match D::start_xmit(skb, dev, state) {
        TxResult::Ok => NETDEV_TX_OK,
        TxResult::Busy(skb) => {
            // The core takes its packet back (and requeues it): we must not free it.
            skb.into_raw();
            NETDEV_TX_BUSY
        }
    }
}

/// Room for `IFLA_XPU_STATUS`, the handshake's last word ("connected", or why not), its NUL
/// included.
const STATUS_LEN: usize = 96;

/// `nla_total_size`: the room an attribute of `payload` bytes takes, header and padding included.
const fn nla_total_size(payload: usize) -> usize {
    const NLA_ALIGNTO: usize = 4;
    (core::mem::size_of::<bindings::nlattr>() + payload + NLA_ALIGNTO - 1) & !(NLA_ALIGNTO - 1)
}

/// What [`fill_info`] puts at most: the room rtnetlink reserves for it (`get_size`). PCI mode's
/// devices add their role, the handshake's state and the link's number.
pub(crate) const fn info_size(pci: bool) -> usize {
    let u32_attr = nla_total_size(core::mem::size_of::<u32>());
    if pci {
        5 * u32_attr + nla_total_size(STATUS_LEN)
    } else {
        2 * u32_attr
    }
}

/// The skb of a message that rtnetlink is filling with a link's `IFLA_INFO_DATA`.
struct InfoMsg(NonNull<bindings::sk_buff>);

// SAFETY: rtnetlink hands the message's skb to `fill_info` for the call, which is as long as an
// `InfoMsg` lives.
unsafe impl Put for InfoMsg {
    fn skb(&mut self) -> *mut bindings::sk_buff {
        self.0.as_ptr()
    }
}

/// # Safety
///
/// Must only be called by rtnetlink as `fill_info` of the xpu kind (`pci`: of PCI mode's), with
/// the message's `skb` and a live xpu device.
pub(crate) unsafe fn fill_info<D: Exported>(
    skb: *mut bindings::sk_buff,
    dev: *const bindings::net_device,
    pci: bool,
) -> c_int {
    // SAFETY: the caller passes a live device of our link kind (function safety requirement);
    // `Device` only reads through the pointer here.
    let dev = unsafe { Device::from_raw(dev.cast_mut()) };
    let Some(skb) = NonNull::new(skb) else {
        return EMSGSIZE.to_errno();
    };
    let mut msg = InfoMsg(skb);
    let state = state::<D>(dev);
    let mut put = || -> Result {
        msg.put_u32(attr::QUEUES, dev.real_num_queues())?;
        msg.put_u32(attr::RING_SIZE, state.map_or(0, D::ring_size))?;
        if pci {
            let (code, text) = state.map_or((0, ""), D::link_status);
            msg.put_u32(attr::ROLE, state.map_or(0, D::role))?;
            msg.put_u32(attr::LINK_STATE, code)?;
            let text = text.as_bytes();
            // Cut to the room `info_size` reserved.
            msg.put_string(attr::STATUS, &text[..text.len().min(STATUS_LEN - 1)])?;
            if let Some(id) = state.and_then(D::link_id) {
                msg.put_u32(attr::LINK_ID, id)?;
            }
        }
        Ok(())
    };
    match put() {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Must only be called by rtnetlink as `validate` of the xpu link kind, with its `data` and
/// `extack`.
pub(crate) unsafe fn validate<D: Exported>(
    data: *const *mut bindings::nlattr,
    extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    // SAFETY: the kind's `data`, valid for the call (function safety requirement).
    let data = unsafe { LinkData::from_raw(data) };
    match D::validate(&data) {
        Ok(()) => 0,
        // SAFETY: the request's extack, and one of its attributes (function safety
        // requirement).
        Err((at, r)) => unsafe { r.report_at(extack, data.attr(at).as_ref()) },
    }
}

/// # Safety
///
/// Must only be called by rtnetlink as `newlink` of the xpu link kind, with RTNL held.
pub(crate) unsafe fn newlink<D: Exported>(
    dev: *mut bindings::net_device,
    params: *mut sys::rtnl_newlink_params,
    extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    // SAFETY: rtnetlink's parameters (function safety requirement).
    let Some(data) = (unsafe { params.as_ref() }).map(|p| p.data.cast_const()) else {
        return EINVAL.to_errno();
    };
    // SAFETY: rtnetlink's arguments, RTNL held (function safety requirement); `attach` gets
    // the two registered ends of the new pair, under the same RTNL section.
    unsafe {
        rtnl::newlink(dev, params, extack, |dev, peer| {
            pair_attach::<D>(dev, peer, data, extack)
        })
    }
}

/// # Safety
///
/// Must only be called from [`newlink`], with RTNL held, on the two registered ends of a new
/// pair, with the request's `data` (validated) and `extack`.
unsafe fn pair_attach<D: Exported>(
    dev: *mut bindings::net_device,
    peer: *mut bindings::net_device,
    data: *const *mut bindings::nlattr,
    extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    // SAFETY: the caller passes two live devices of our link kind (function safety
    // requirement).
    let (dev, peer) = unsafe { (Device::from_raw(dev), Device::from_raw(peer)) };
    // SAFETY: the kind's `data`, valid for the call (function safety requirement).
    let data = unsafe { LinkData::from_raw(data) };
    let (Some(state), Some(peer_state)) = (state::<D>(dev), state::<D>(peer)) else {
        return EINVAL.to_errno();
    };
    // SAFETY: the caller holds RTNL (function safety requirement), until it returns.
    let rtnl = unsafe { Rtnl::assume_held() };
    match D::pair_attach(dev, state, peer, peer_state, &data, &rtnl) {
        Ok(()) => 0,
        // SAFETY: the request's extack (function safety requirement).
        Err(r) => unsafe { r.report(extack) },
    }
}

/// # Safety
///
/// Must only be called by `xpu_poll` (driver/xpu_shim.c), the NAPI poll function of xpu
/// device `dev`, with its `q`th NAPI context.
pub(crate) unsafe fn poll<D: Exported>(
    dev: *mut bindings::net_device,
    napi: *mut bindings::napi_struct,
    q: u32,
    budget: c_int,
) -> c_int {
    // SAFETY: the core polls a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    let Some(ptr) = NonNull::new(napi) else {
        return 0;
    };
    let q = u16::try_from(q).unwrap_or(u16::MAX);
    // A test's fault takes the path of a device without state.
    let p = if inject::fire(&inject::POLL_NO_STATE) {
        None
    } else {
        dev_priv::<D>(dev)
    };
    let (Some(p), Some(rxq), Ok(budget)) =
        (p, p.and_then(|p| p.common.rxq(q)), u32::try_from(budget))
    else {
        // Nothing to poll with. A poll that returns less than its budget must have completed
        // NAPI, or the context stays scheduled for good: no poll again, no doorbell, and
        // napi_disable() waits forever. A budget of 0 (netpoll) must not complete.
        if budget > 0 {
            // SAFETY: `napi` is being polled (function safety requirement).
            unsafe { sys::napi_complete_done(ptr.as_ptr(), 0) };
        }
        return 0;
    };
    // SAFETY: `napi` is being polled, for this call (function safety requirement).
    let napi = unsafe { Napi::new(ptr, rxq) };
    let done = D::poll(dev, p.state.as_ref().get_ref(), &napi, q, budget).min(budget);
    // CAST: `done <= budget`, which came from a `c_int`.
    done as c_int
}

/// # Safety
///
/// Must only be called by `xpu_xdp_xmit` (driver/xpu_shim.c), `ndo_xdp_xmit` of xpu device
/// `dev`, with BH off and the core's `n` frames at `frames`, each ours once taken.
pub(crate) unsafe fn xdp_xmit<D: Exported>(
    dev: *mut bindings::net_device,
    q: u32,
    frames: *mut *mut sys::xdp_frame,
    n: c_int,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    let (Some(p), Ok(q), Ok(n)) = (dev_priv::<D>(dev), u16::try_from(q), usize::try_from(n)) else {
        return 0;
    };
    if frames.is_null() {
        return 0;
    }
    // SAFETY: the core's array of `n` frame pointers (function safety requirement).
    let ptrs = unsafe { core::slice::from_raw_parts(frames, n) };
    // Drawn one at a time: a frame becomes ours only when the datapath takes it.
    let mut frames = ptrs.iter().map_while(|&f| {
        // SAFETY: a frame of the core's array, handed to us (function safety requirement).
        NonNull::new(f).map(|f| unsafe { XdpFrame::from_raw(f) })
    });
    let sent = D::xdp_xmit(dev, p.state.as_ref().get_ref(), q, &mut frames).min(n as u32);
    // CAST: `sent <= n`, which came from a `c_int`.
    sent as c_int
}

/// # Safety
///
/// Must only be called by the networking core as `ndo_get_stats64` of an xpu device, with a
/// valid `out` (which the core zeroed).
pub(crate) unsafe fn get_stats64<D: Exported>(
    dev: *mut bindings::net_device,
    out: *mut sys::rtnl_link_stats64,
) {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: `out` is valid and not aliased for the call (function safety requirement).
    let Some(out) = (unsafe { out.as_mut() }) else {
        return;
    };
    let Some(state) = state::<D>(dev) else {
        return;
    };
    let mut s = XpuStats::default();
    D::stats(state, &mut s);
    out.rx_packets = s.rx_packets;
    out.rx_bytes = s.rx_bytes;
    out.rx_dropped = s.rx_dropped;
    out.rx_errors = s.rx_errors;
    out.tx_packets = s.tx_packets;
    out.tx_bytes = s.tx_bytes;
    out.tx_dropped = s.tx_dropped;
}

/// # Safety
///
/// Must only be called by the netdev family as `get_queue_stats_rx` (`tx`: `_tx`, with `out`
/// pointing to a `netdev_queue_stats_tx`) of an xpu device, with a valid `out`.
pub(crate) unsafe fn get_queue_stats<D: Exported>(
    dev: *mut bindings::net_device,
    idx: c_int,
    out: *mut c_void,
    tx: bool,
) {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    let (Some(state), Ok(q)) = (state::<D>(dev), u16::try_from(idx)) else {
        return;
    };
    let s = D::queue_stats(state, q);
    if tx {
        let out = out.cast::<sys::netdev_queue_stats_tx>();
        // SAFETY: a valid `netdev_queue_stats_tx` for the call (function safety requirement).
        if let Some(out) = unsafe { out.as_mut() } {
            s.put_tx(out);
        }
    } else {
        let out = out.cast::<sys::netdev_queue_stats_rx>();
        // SAFETY: a valid `netdev_queue_stats_rx` for the call (function safety requirement).
        if let Some(out) = unsafe { out.as_mut() } {
            s.put_rx(out);
        }
    }
}

/// # Safety
///
/// Must only be called by the netdev family as `get_base_stats` of an xpu device, with valid
/// `rx` and `tx`.
pub(crate) unsafe fn get_base_stats<D: Exported>(
    dev: *mut bindings::net_device,
    rx: *mut sys::netdev_queue_stats_rx,
    tx: *mut sys::netdev_queue_stats_tx,
) {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // The base is what the queues the core does not ask for counted: those past the ones in
    // use (ethtool -L took them away, or never gave them), so that the queues and the base
    // add up to the device's counters (`ndo_get_stats64`) whatever the queue count.
    let mut base = QueueStats::default();
    if let Some(state) = state::<D>(dev) {
        let used = u16::try_from(dev.real_num_queues()).unwrap_or(u16::MAX);
        for q in used..crate::shm::MAX_QUEUES {
            base.add(&D::queue_stats(state, q));
        }
    }
    // SAFETY: valid for the call (function safety requirement).
    if let (Some(rx), Some(tx)) = unsafe { (rx.as_mut(), tx.as_mut()) } {
        base.put_rx(rx);
        base.put_tx(tx);
    }
}

/// # Safety
///
/// Must only be called by the networking core as `ndo_get_phys_port_name` of an xpu device,
/// with `name` valid for `len` bytes.
pub(crate) unsafe fn get_phys_port_name<D: Exported>(
    dev: *mut bindings::net_device,
    name: *mut u8,
    len: usize,
) -> c_int {
    // SAFETY: the core passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    let Some(port) = state::<D>(dev).and_then(D::port_name) else {
        return EOPNOTSUPP.to_errno();
    };
    if name.is_null() || len == 0 {
        return EINVAL.to_errno();
    }
    // SAFETY: `name` is valid for `len` bytes (function safety requirement).
    let buf = unsafe { core::slice::from_raw_parts_mut(name, len) };
    let mut w = CStrWriter::new(buf);
    let _ = fmt::Write::write_str(&mut w, port);
    if w.whole {
        0
    } else {
        EINVAL.to_errno()
    }
}

/// # Safety
///
/// Must only be called by the C shim on an xpu device.
pub(crate) unsafe fn role<D: Exported>(dev: *const bindings::net_device) -> u32 {
    // SAFETY: the caller passes a live device of our link kind (function safety requirement);
    // `Device` only reads through the pointer here.
    let dev = unsafe { Device::from_raw(dev.cast_mut()) };
    state::<D>(dev).map_or(0, D::role)
}

/// # Safety
///
/// Must only be called by `xpu_pci_netdev_create` (driver/xpu_shim.c), with RTNL held, on a
/// registered xpu device, with the `link` that `PciNetdev::new` passed it.
pub(crate) unsafe fn pci_attach<D: Exported>(
    dev: *mut bindings::net_device,
    link: *const c_void,
) -> c_int {
    // SAFETY: the caller passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    // SAFETY: `link` is the `&Arc<D::Transport>` that `PciNetdev::new` got, valid for the call.
    let Some(link) = (unsafe { link.cast::<Arc<D::Transport>>().as_ref() }) else {
        return EINVAL.to_errno();
    };
    from_result(|| {
        let state = state::<D>(dev).ok_or(EINVAL)?;
        // SAFETY: the caller holds RTNL (function safety requirement), until it returns.
        let rtnl = unsafe { Rtnl::assume_held() };
        D::pci_attach(dev, state, link, &rtnl)?;
        Ok(0)
    })
}

/// The control work of a device of the `Exported` type `D` (process context): runs
/// [`NetdevOps::control`] under RTNL.
///
/// # Safety
///
/// `work` is the control work of a live device's [`DevPriv`] of `D` (`dev_init` sets it up so).
unsafe extern "C" fn ctrl_work<D: Exported>(work: *mut bindings::work_struct) {
    // A test's fault (`inject::CTRL_LATE`): a busy workqueue, before the work touches its device.
    if inject::CTRL_DELAY
        .cmpxchg(work as usize, 0, Relaxed)
        .is_ok()
    {
        fsleep(Delta::from_millis(2000));
    }
    // SAFETY: `work` is the `ctrl` of a live `Common` (function safety requirement).
    let common = unsafe { Common::from_ctrl(work) };
    // SAFETY: the device outlives its private state (`Common`'s invariant).
    let dev = unsafe { Device::from_raw(common.dev()) };
    let rtnl = RtnlGuard::lock();
    if let Some(state) = state::<D>(dev) {
        D::control(dev, state, rtnl.held());
    }
}

/// MSI-X vector 0, the control doorbell, rang (hard IRQ). A peer that left takes our carrier
/// down here and now: the control work that does the rest needs RTNL, which can be busy for
/// seconds (another device unregistering, say), and a workqueue may be slow to run it.
///
/// # Safety
///
/// Must only be called for a registered xpu device, from its control vector's handler.
pub(crate) unsafe fn ctrl_irq<D: Exported>(dev: *mut bindings::net_device) {
    // SAFETY: the caller passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    if let Some(state) = state::<D>(dev) {
        D::control_peek(dev, state);
    }
    dev.control_schedule();
}

/// # Safety
///
/// Must only be called by the netdev watchdog as `ndo_tx_timeout` of a PCI-mode xpu device.
pub(crate) unsafe fn tx_timeout<D: Exported>(dev: *mut bindings::net_device, _txqueue: u32) {
    // SAFETY: the caller passes a live device of our link kind (function safety requirement).
    let dev = unsafe { Device::from_raw(dev) };
    if let Some(state) = state::<D>(dev) {
        D::tx_timeout(state);
    }
    // The control work resets the link, under RTNL.
    dev.control_schedule();
}

/// Emits the `xpu_rs_*` symbols of driver/xpu_shim.h's netdev part, each a call of the function
/// here of the same name for the [`NetdevOps`] `$t`, and makes `$t` the [`Exported`] one.
/// Invoked once, through [`super::export!`]: a second invocation would define the symbols twice.
macro_rules! export_netdev_ops {
    ($t:ty) => {
        const _: () = {
            use $crate::net::{ethtool as e, ops as o, rss as r};

            // SAFETY: the symbols below dispatch every xpu device to `$t`, and there is one set
            // of them (the linker refuses a second), so `$t` is the only `Exported`.
            unsafe impl o::Exported for $t {}

            /// # Safety
            ///
            /// As for [`dev_init`](o::dev_init), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_dev_init(
                dev: *mut ::kernel::bindings::net_device,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::dev_init::<$t>(dev) }
            }

            /// # Safety
            ///
            /// As for [`dev_free`](o::dev_free), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_dev_free(dev: *mut ::kernel::bindings::net_device) {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::dev_free::<$t>(dev) }
            }

            /// # Safety
            ///
            /// As for [`open`](o::open), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_open(
                dev: *mut ::kernel::bindings::net_device,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::open::<$t>(dev) }
            }

            /// # Safety
            ///
            /// As for [`stop`](o::stop), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_stop(
                dev: *mut ::kernel::bindings::net_device,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::stop::<$t>(dev) }
            }

            /// # Safety
            ///
            /// As for [`start_xmit`](o::start_xmit), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_start_xmit(
                skb: *mut ::kernel::bindings::sk_buff,
                dev: *mut ::kernel::bindings::net_device,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::start_xmit::<$t>(skb, dev) }
            }

            /// # Safety
            ///
            /// None: `unsafe` as the header's declaration (rtnetlink's `get_size`).
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_size(
                _dev: *const ::kernel::bindings::net_device,
            ) -> usize {
                o::info_size(false)
            }

            /// # Safety
            ///
            /// As for [`fill_info`](o::fill_info), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_fill_info(
                skb: *mut ::kernel::bindings::sk_buff,
                dev: *const ::kernel::bindings::net_device,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: rtnetlink calls it as the function requires.
                unsafe { o::fill_info::<$t>(skb, dev, false) }
            }

            /// # Safety
            ///
            /// None: `unsafe` as the header's declaration (rtnetlink's `get_size`).
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_pci_get_size(
                _dev: *const ::kernel::bindings::net_device,
            ) -> usize {
                o::info_size(true)
            }

            /// # Safety
            ///
            /// As for [`fill_info`](o::fill_info), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_pci_fill_info(
                skb: *mut ::kernel::bindings::sk_buff,
                dev: *const ::kernel::bindings::net_device,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: rtnetlink calls it as the function requires.
                unsafe { o::fill_info::<$t>(skb, dev, true) }
            }

            /// # Safety
            ///
            /// As for [`validate`](o::validate), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_validate(
                data: *const *mut ::kernel::bindings::nlattr,
                extack: *mut ::kernel::bindings::netlink_ext_ack,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::validate::<$t>(data, extack) }
            }

            /// # Safety
            ///
            /// As for [`newlink`](o::newlink), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_newlink(
                dev: *mut ::kernel::bindings::net_device,
                params: *mut $crate::net::sys::rtnl_newlink_params,
                extack: *mut ::kernel::bindings::netlink_ext_ack,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: rtnetlink calls it as the function requires.
                unsafe { o::newlink::<$t>(dev, params, extack) }
            }

            /// # Safety
            ///
            /// As for [`poll`](o::poll), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_poll(
                dev: *mut ::kernel::bindings::net_device,
                napi: *mut ::kernel::bindings::napi_struct,
                q: u32,
                budget: ::kernel::ffi::c_int,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::poll::<$t>(dev, napi, q, budget) }
            }

            /// # Safety
            ///
            /// As for [`xdp_xmit`](o::xdp_xmit), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_xdp_xmit(
                dev: *mut ::kernel::bindings::net_device,
                q: u32,
                frames: *mut *mut $crate::net::sys::xdp_frame,
                n: ::kernel::ffi::c_int,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::xdp_xmit::<$t>(dev, q, frames, n) }
            }

            /// # Safety
            ///
            /// As for [`get_queue_stats`](o::get_queue_stats) (RX), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_queue_stats_rx(
                dev: *mut ::kernel::bindings::net_device,
                idx: ::kernel::ffi::c_int,
                out: *mut $crate::net::sys::netdev_queue_stats_rx,
            ) {
                // SAFETY: the netdev family calls it as the function requires.
                unsafe { o::get_queue_stats::<$t>(dev, idx, out.cast(), false) }
            }

            /// # Safety
            ///
            /// As for [`get_queue_stats`](o::get_queue_stats) (TX), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_queue_stats_tx(
                dev: *mut ::kernel::bindings::net_device,
                idx: ::kernel::ffi::c_int,
                out: *mut $crate::net::sys::netdev_queue_stats_tx,
            ) {
                // SAFETY: the netdev family calls it as the function requires.
                unsafe { o::get_queue_stats::<$t>(dev, idx, out.cast(), true) }
            }

            /// # Safety
            ///
            /// As for [`get_base_stats`](o::get_base_stats), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_base_stats(
                dev: *mut ::kernel::bindings::net_device,
                rx: *mut $crate::net::sys::netdev_queue_stats_rx,
                tx: *mut $crate::net::sys::netdev_queue_stats_tx,
            ) {
                // SAFETY: the netdev family calls it as the function requires.
                unsafe { o::get_base_stats::<$t>(dev, rx, tx) }
            }

            /// # Safety
            ///
            /// As for [`get_stats64`](o::get_stats64), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_stats64(
                dev: *mut ::kernel::bindings::net_device,
                out: *mut $crate::net::sys::rtnl_link_stats64,
            ) {
                // SAFETY: the core calls it as the function requires.
                unsafe { o::get_stats64::<$t>(dev, out) }
            }

            /// # Safety
            ///
            /// As for [`get_phys_port_name`](o::get_phys_port_name), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_phys_port_name(
                dev: *mut ::kernel::bindings::net_device,
                name: *mut u8,
                len: usize,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::get_phys_port_name::<$t>(dev, name, len) }
            }

            /// # Safety
            ///
            /// As for [`get_drvinfo`](e::get_drvinfo), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_drvinfo(
                dev: *mut ::kernel::bindings::net_device,
                info: *mut ::kernel::bindings::ethtool_drvinfo,
            ) {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::get_drvinfo::<$t>(dev, info) }
            }

            /// # Safety
            ///
            /// As for [`get_sset_count`](e::get_sset_count), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_sset_count(
                dev: *mut ::kernel::bindings::net_device,
                sset: ::kernel::ffi::c_int,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::get_sset_count::<$t>(dev, sset) }
            }

            /// # Safety
            ///
            /// As for [`get_strings`](e::get_strings), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_strings(
                dev: *mut ::kernel::bindings::net_device,
                sset: u32,
                buf: *mut u8,
            ) {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::get_strings::<$t>(dev, sset, buf) }
            }

            /// # Safety
            ///
            /// As for [`get_ethtool_stats`](e::get_ethtool_stats), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_ethtool_stats(
                dev: *mut ::kernel::bindings::net_device,
                stats: *mut ::kernel::bindings::ethtool_stats,
                data: *mut u64,
            ) {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::get_ethtool_stats::<$t>(dev, stats, data) }
            }

            /// # Safety
            ///
            /// As for [`get_channels`](e::get_channels), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_channels(
                dev: *mut ::kernel::bindings::net_device,
                ch: *mut ::kernel::bindings::ethtool_channels,
            ) {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::get_channels::<$t>(dev, ch) }
            }

            /// # Safety
            ///
            /// As for [`set_channels`](e::set_channels), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_set_channels(
                dev: *mut ::kernel::bindings::net_device,
                ch: *mut ::kernel::bindings::ethtool_channels,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::set_channels::<$t>(dev, ch) }
            }

            /// # Safety
            ///
            /// As for [`get_ringparam`](e::get_ringparam), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_ringparam(
                dev: *mut ::kernel::bindings::net_device,
                ring: *mut ::kernel::bindings::ethtool_ringparam,
                _kring: *mut ::kernel::bindings::kernel_ethtool_ringparam,
                _extack: *mut ::kernel::bindings::netlink_ext_ack,
            ) {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::get_ringparam::<$t>(dev, ring) }
            }

            /// # Safety
            ///
            /// As for [`set_ringparam`](e::set_ringparam), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_set_ringparam(
                dev: *mut ::kernel::bindings::net_device,
                ring: *mut ::kernel::bindings::ethtool_ringparam,
                _kring: *mut ::kernel::bindings::kernel_ethtool_ringparam,
                extack: *mut ::kernel::bindings::netlink_ext_ack,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::set_ringparam::<$t>(dev, ring, extack) }
            }

            /// # Safety
            ///
            /// As for [`get_priv_flags`](e::get_priv_flags).
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_priv_flags(
                dev: *mut ::kernel::bindings::net_device,
            ) -> u32 {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::get_priv_flags(dev) }
            }

            /// # Safety
            ///
            /// As for [`set_priv_flags`](e::set_priv_flags).
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_set_priv_flags(
                dev: *mut ::kernel::bindings::net_device,
                flags: u32,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::set_priv_flags(dev, flags) }
            }

            /// # Safety
            ///
            /// As for [`get_coalesce`](e::get_coalesce), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_coalesce(
                dev: *mut ::kernel::bindings::net_device,
                ec: *mut ::kernel::bindings::ethtool_coalesce,
                _kec: *mut ::kernel::bindings::kernel_ethtool_coalesce,
                _extack: *mut ::kernel::bindings::netlink_ext_ack,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::get_coalesce::<$t>(dev, ec) }
            }

            /// # Safety
            ///
            /// As for [`set_coalesce`](e::set_coalesce), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_set_coalesce(
                dev: *mut ::kernel::bindings::net_device,
                ec: *mut ::kernel::bindings::ethtool_coalesce,
                _kec: *mut ::kernel::bindings::kernel_ethtool_coalesce,
                extack: *mut ::kernel::bindings::netlink_ext_ack,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { e::set_coalesce::<$t>(dev, ec, extack) }
            }

            /// # Safety
            ///
            /// As for [`role`](o::role), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_role(dev: *const ::kernel::bindings::net_device) -> u32 {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::role::<$t>(dev) }
            }

            /// # Safety
            ///
            /// As for [`pci_attach`](o::pci_attach), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_pci_attach(
                dev: *mut ::kernel::bindings::net_device,
                link: *const ::kernel::ffi::c_void,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim calls it as the function requires.
                unsafe { o::pci_attach::<$t>(dev, link) }
            }

            /// # Safety
            ///
            /// As for [`ctrl_irq`](o::ctrl_irq), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_ctrl_irq(dev: *mut ::kernel::bindings::net_device) {
                // SAFETY: the PCI vector's handler calls it as the function requires.
                unsafe { o::ctrl_irq::<$t>(dev) }
            }

            /// # Safety
            ///
            /// As for [`tx_timeout`](o::tx_timeout), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_tx_timeout(
                dev: *mut ::kernel::bindings::net_device,
                txqueue: ::kernel::ffi::c_uint,
            ) {
                // SAFETY: the core calls it as the function requires.
                unsafe { o::tx_timeout::<$t>(dev, txqueue) }
            }

            /// # Safety
            ///
            /// As for [`select_queue`](r::select_queue), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_select_queue(
                dev: *mut ::kernel::bindings::net_device,
                skb: *mut ::kernel::bindings::sk_buff,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ndo_select_queue calls it as the function requires.
                unsafe { r::select_queue::<$t>(dev, skb) }
            }

            /// # Safety
            ///
            /// As for [`rx_hash`](r::rx_hash), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_rx_hash(
                dev: *mut ::kernel::bindings::net_device,
                frame: *const ::kernel::ffi::c_void,
                len: ::kernel::ffi::c_uint,
                hash: *mut u32,
                xdp_type: *mut $crate::net::sys::xdp_rss_hash_type,
            ) -> u32 {
                // SAFETY: the C shim's receive path and its XDP receive-hash kfunc call it as
                // the function requires.
                unsafe { r::rx_hash::<$t>(dev, frame.cast(), len, hash, xdp_type) }
            }

            /// # Safety
            ///
            /// None: `unsafe` as the header's declaration
            /// ([`get_rxfh_key_size`](r::get_rxfh_key_size)).
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_rxfh_key_size(
                _dev: *mut ::kernel::bindings::net_device,
            ) -> u32 {
                r::get_rxfh_key_size()
            }

            /// # Safety
            ///
            /// None: `unsafe` as the header's declaration
            /// ([`get_rxfh_indir_size`](r::get_rxfh_indir_size)).
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_rxfh_indir_size(
                _dev: *mut ::kernel::bindings::net_device,
            ) -> u32 {
                r::get_rxfh_indir_size()
            }

            /// # Safety
            ///
            /// As for [`get_rx_ring_count`](r::get_rx_ring_count).
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_rx_ring_count(
                dev: *mut ::kernel::bindings::net_device,
            ) -> u32 {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { r::get_rx_ring_count(dev) }
            }

            /// # Safety
            ///
            /// As for [`get_rxfh`](r::get_rxfh), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_rxfh(
                dev: *mut ::kernel::bindings::net_device,
                rxfh: *mut ::kernel::bindings::ethtool_rxfh_param,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { r::get_rxfh::<$t>(dev, rxfh) }
            }

            /// # Safety
            ///
            /// As for [`set_rxfh`](r::set_rxfh), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_set_rxfh(
                dev: *mut ::kernel::bindings::net_device,
                rxfh: *mut ::kernel::bindings::ethtool_rxfh_param,
                extack: *mut ::kernel::bindings::netlink_ext_ack,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { r::set_rxfh::<$t>(dev, rxfh, extack) }
            }

            /// # Safety
            ///
            /// As for [`get_rxfh_fields`](r::get_rxfh_fields), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_get_rxfh_fields(
                dev: *mut ::kernel::bindings::net_device,
                fields: *mut ::kernel::bindings::ethtool_rxfh_fields,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { r::get_rxfh_fields::<$t>(dev, fields) }
            }

            /// # Safety
            ///
            /// As for [`set_rxfh_fields`](r::set_rxfh_fields), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_set_rxfh_fields(
                dev: *mut ::kernel::bindings::net_device,
                fields: *const ::kernel::bindings::ethtool_rxfh_fields,
                extack: *mut ::kernel::bindings::netlink_ext_ack,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: the C shim's ethtool ops call it as the function requires.
                unsafe { r::set_rxfh_fields::<$t>(dev, fields, extack) }
            }

            $crate::net::sys::same_signature!(
                xpu_rs_select_queue,
                xpu_rs_rx_hash,
                xpu_rs_get_rxfh_key_size,
                xpu_rs_get_rxfh_indir_size,
                xpu_rs_get_rx_ring_count,
                xpu_rs_get_rxfh,
                xpu_rs_set_rxfh,
                xpu_rs_get_rxfh_fields,
                xpu_rs_set_rxfh_fields,
                xpu_rs_dev_init,
                xpu_rs_dev_free,
                xpu_rs_open,
                xpu_rs_stop,
                xpu_rs_start_xmit,
                xpu_rs_get_size,
                xpu_rs_fill_info,
                xpu_rs_pci_get_size,
                xpu_rs_pci_fill_info,
                xpu_rs_validate,
                xpu_rs_newlink,
                xpu_rs_poll,
                xpu_rs_xdp_xmit,
                xpu_rs_get_stats64,
                xpu_rs_get_queue_stats_rx,
                xpu_rs_get_queue_stats_tx,
                xpu_rs_get_base_stats,
                xpu_rs_get_phys_port_name,
                xpu_rs_get_drvinfo,
                xpu_rs_get_sset_count,
                xpu_rs_get_strings,
                xpu_rs_get_ethtool_stats,
                xpu_rs_get_channels,
                xpu_rs_set_channels,
                xpu_rs_get_ringparam,
                xpu_rs_set_ringparam,
                xpu_rs_get_priv_flags,
                xpu_rs_set_priv_flags,
                xpu_rs_get_coalesce,
                xpu_rs_set_coalesce,
                xpu_rs_role,
                xpu_rs_pci_attach,
                xpu_rs_ctrl_irq,
                xpu_rs_tx_timeout,
            );
        };
    };
}
pub(crate) use export_netdev_ops;
