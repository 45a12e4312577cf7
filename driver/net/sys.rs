// SPDX-License-Identifier: GPL-2.0

//! Prototypes of the C shim, copied from `driver/xpu_shim.h` (one Rust declaration for each C
//! helper there). Hand-written FFI prototypes are not checked against the header by the
//! compiler, so they are all in this one file, next to nothing else.

use kernel::{
    bindings,
    ffi::{c_char, c_int, c_uint, c_void},
};

use crate::datapath::meta::VnetHdr;

/// `struct xpu_stats` of driver/xpu_shim.h.
#[repr(C)]
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

/// `struct xpu_moder` of driver/xpu_shim.h: an RX queue's doorbell moderation.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct XpuModer {
    /// `rx-usecs`: one poll this long after a coalesced re-arm.
    pub(crate) usecs: u32,
    /// `rx-frames`: ask for a doorbell only every this many packets.
    pub(crate) frames: u32,
    /// `adaptive-rx`: the kernel's DIM picks the two above.
    pub(crate) adaptive: bool,
}

// driver/xpu_shim.c asserts the same layouts.
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<XpuModer>() == 12);
    assert!(offset_of!(XpuModer, frames) == 4 && offset_of!(XpuModer, adaptive) == 8);
    assert!(size_of::<XpuStats>() == 56);
    assert!(offset_of!(XpuStats, rx_bytes) == 8 && offset_of!(XpuStats, rx_dropped) == 16);
    assert!(offset_of!(XpuStats, rx_errors) == 24 && offset_of!(XpuStats, tx_packets) == 32);
    assert!(offset_of!(XpuStats, tx_bytes) == 40 && offset_of!(XpuStats, tx_dropped) == 48);
};

extern "C" {
    pub(super) fn xpu_link_register() -> c_int;
    pub(super) fn xpu_link_unregister();
    pub(super) fn xpu_priv_rs(dev: *const bindings::net_device) -> *mut c_void;
    pub(super) fn xpu_priv_set_rs(dev: *mut bindings::net_device, rs: *mut c_void);
    pub(super) fn xpu_dev_peer_rtnl(dev: *const bindings::net_device) -> *mut bindings::net_device;
    pub(super) fn xpu_dev_is_up(dev: *const bindings::net_device) -> bool;
    pub(super) fn xpu_dev_carrier_on(dev: *mut bindings::net_device);
    pub(super) fn xpu_dev_carrier_off(dev: *mut bindings::net_device);
    pub(super) fn xpu_dev_drop_inc(dev: *mut bindings::net_device, tx: bool);
    pub(super) fn xpu_dev_mtu(dev: *const bindings::net_device) -> u32;
    pub(super) fn xpu_dev_real_num_queues(dev: *const bindings::net_device) -> u32;
    pub(super) fn xpu_dev_set_queues(dev: *mut bindings::net_device, n: u32) -> c_int;
    pub(super) fn xpu_dev_alloc_queues(dev: *const bindings::net_device) -> u32;
    pub(super) fn xpu_num_online_cpus() -> u32;
    pub(super) fn xpu_dev_running(dev: *const bindings::net_device) -> bool;
    pub(super) fn xpu_dev_busy_poll(dev: *const bindings::net_device) -> bool;
    pub(super) fn xpu_dev_set_busy_poll(dev: *mut bindings::net_device, on: bool) -> c_int;
    pub(super) fn xpu_rx_moderation_set(dev: *mut bindings::net_device, m: *const XpuModer);
    pub(super) fn xpu_skb_drop(skb: *mut bindings::sk_buff, why: u32);
    pub(super) fn xpu_skb_consume(skb: *mut bindings::sk_buff);
    pub(super) fn xpu_skb_len(skb: *const bindings::sk_buff) -> u32;
    pub(super) fn xpu_skb_queue(skb: *const bindings::sk_buff) -> u32;
    pub(super) fn xpu_skb_copy_to(
        skb: *const bindings::sk_buff,
        dst: *mut c_void,
        len: u32,
    ) -> c_int;
    pub(super) fn xpu_skb_vnet_hdr(skb: *const bindings::sk_buff, h: *mut VnetHdr) -> c_int;
    pub(super) fn xpu_rx_skb(
        napi: *mut bindings::napi_struct,
        data: *const c_void,
        len: u32,
        h: *const VnetHdr,
        why: *mut u32,
    ) -> *mut bindings::sk_buff;
    pub(super) fn xpu_napi_gro_receive(
        napi: *mut bindings::napi_struct,
        skb: *mut bindings::sk_buff,
    );
    pub(super) fn xpu_napi_complete_done(napi: *mut bindings::napi_struct, done: c_int) -> bool;
    pub(super) fn xpu_napi_schedule(napi: *mut bindings::napi_struct);
    pub(super) fn xpu_rx_moderation(napi: *mut bindings::napi_struct, m: *mut XpuModer);
    pub(super) fn xpu_rx_timer_start(napi: *mut bindings::napi_struct, usecs: u32);
    pub(super) fn xpu_rx_dim_sample(
        napi: *mut bindings::napi_struct,
        events: u16,
        packets: u64,
        bytes: u64,
    );
    pub(super) fn xpu_napi_enable(dev: *mut bindings::net_device, n: u32);
    pub(super) fn xpu_napi_disable(dev: *mut bindings::net_device);
    pub(super) fn xpu_peer_napi_schedule(dev: *mut bindings::net_device, q: u32) -> bool;
    pub(super) fn xpu_peer_txq_wake(dev: *mut bindings::net_device, q: u32);
    pub(super) fn xpu_txq_stop(dev: *mut bindings::net_device, q: u32);
    pub(super) fn xpu_txq_start(dev: *mut bindings::net_device, q: u32);
    pub(super) fn xpu_txq_wake_all(dev: *mut bindings::net_device);
    pub(super) fn xpu_xmit_more() -> bool;
    pub(super) fn xpu_txq_wake(dev: *mut bindings::net_device, q: u32);
    pub(super) fn xpu_txq_disable_all(dev: *mut bindings::net_device);
    pub(super) fn xpu_pci_netdev_create(
        parent: *mut c_void,
        queues: u32,
        link: *const c_void,
    ) -> *mut bindings::net_device;
    pub(super) fn xpu_pci_netdev_destroy(dev: *mut bindings::net_device);
    pub(super) fn xpu_ctrl_schedule(dev: *mut bindings::net_device);
    pub(super) fn xpu_pci_irq(dev: *mut bindings::net_device, v: u32);
    pub(super) fn xpu_pci_map_window(dev: *mut c_void, bar: c_int, len: *mut u64) -> *mut c_void;
    pub(super) fn xpu_pci_unmap_window(dev: *mut c_void, bar: c_int, p: *mut c_void);
}

/// A `struct packet_type` (C's; only its address crosses).
#[repr(C)]
pub(crate) struct PacketType([u8; 0]);
/// A `struct nf_hook_ops` array of two, from `xpu_nf_hook` (C's; only its address crosses).
#[repr(C)]
pub(crate) struct NfHookOps([u8; 0]);
/// A `struct nf_hook_state` (C's; only its address crosses).
#[repr(C)]
pub(crate) struct NfHookState([u8; 0]);

/// `packet_type.func`.
pub(crate) type PacketRcv = unsafe extern "C" fn(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
    pt: *mut PacketType,
    orig_dev: *mut bindings::net_device,
) -> c_int;
/// `rx_handler_func_t`.
pub(crate) type RxHandler = unsafe extern "C" fn(pskb: *mut *mut bindings::sk_buff) -> c_uint;
/// `nf_hookfn`.
pub(crate) type NfHookFn = unsafe extern "C" fn(
    priv_: *mut c_void,
    skb: *mut bindings::sk_buff,
    state: *const NfHookState,
) -> c_uint;

// Split namespaces' kernel objects and the family's genetlink helpers (driver/xpu_split.c). The
// lint is about `struct net`, which has a member of no fields (`struct its_array` on this
// config): only its address crosses here, never the struct.
#[allow(improper_ctypes)]
extern "C" {
    pub(super) fn xpu_split_register(
        net_exit: Option<unsafe extern "C" fn(net: *mut bindings::net)>,
        dev_event: Option<unsafe extern "C" fn(dev: *mut bindings::net_device, gone: bool)>,
        local_type: u16,
        local_rcv: Option<PacketRcv>,
        sync_type: u16,
        sync_rcv: Option<PacketRcv>,
    ) -> c_int;
    pub(super) fn xpu_split_unregister();
    pub(super) fn xpu_split_half(net: *const bindings::net) -> *mut c_void;
    pub(super) fn xpu_split_set_half(net: *mut bindings::net, half: *mut c_void);
    pub(super) fn xpu_split_link(
        net: *mut bindings::net,
        ifindex: u32,
        role: *mut u32,
    ) -> *mut bindings::net_device;
    pub(super) fn xpu_local_route(
        net: *mut bindings::net,
        v6: bool,
        src: *const u8,
        dst: *const u8,
    ) -> *mut bindings::dst_entry;
    pub(super) fn xpu_local_addr(net: *mut bindings::net, v6: bool, a: *const u8) -> bool;
    pub(super) fn xpu_dev_net(dev: *const bindings::net_device) -> *mut bindings::net;
    pub(super) fn xpu_net_loopback(net: *const bindings::net) -> *mut bindings::net_device;
    pub(super) fn xpu_net_port_range(net: *const bindings::net) -> u32;
    pub(super) fn xpu_net_set_port_range(net: *mut bindings::net, range: u32);
    pub(super) fn xpu_nf_hook(
        net: *mut bindings::net,
        hook: Option<NfHookFn>,
        priv_: *mut c_void,
    ) -> *mut NfHookOps;
    pub(super) fn xpu_nf_unhook(net: *mut bindings::net, ops: *mut NfHookOps);
    pub(super) fn xpu_nf_free(ops: *mut NfHookOps);
    pub(super) fn xpu_extack(
        extack: *mut bindings::netlink_ext_ack,
        attr: *const bindings::nlattr,
        msg: *const c_char,
    );
    pub(super) fn xpu_genl_info_net(info: *const bindings::genl_info) -> *mut bindings::net;
    pub(super) fn xpu_genl_iput(
        skb: *mut bindings::sk_buff,
        info: *const bindings::genl_info,
    ) -> *mut c_void;
    pub(super) fn xpu_genl_reply(
        skb: *mut bindings::sk_buff,
        info: *mut bindings::genl_info,
    ) -> c_int;
    pub(super) fn xpu_genl_dump_net(skb: *const bindings::sk_buff) -> *mut bindings::net;
    pub(super) fn xpu_genl_dump_put(
        skb: *mut bindings::sk_buff,
        cb: *const bindings::netlink_callback,
        cmd: u8,
    ) -> *mut c_void;
    pub(super) fn xpu_genl_ntf_put(skb: *mut bindings::sk_buff, cmd: u8) -> *mut c_void;
    pub(super) fn xpu_genl_ntf_wanted(net: *mut bindings::net) -> bool;
    pub(super) fn xpu_genl_ntf_send(net: *mut bindings::net, skb: *mut bindings::sk_buff);
}

// Packets, devices and work of split namespaces (driver/xpu_split.c).
extern "C" {
    pub(super) fn xpu_skb_protocol(skb: *const bindings::sk_buff) -> u16;
    pub(super) fn xpu_skb_header(
        skb: *const bindings::sk_buff,
        len: u32,
        buf: *mut c_void,
    ) -> *const c_void;
    pub(super) fn xpu_skb_unshare(skb: *mut bindings::sk_buff) -> *mut bindings::sk_buff;
    pub(super) fn xpu_skb_has_sock(skb: *const bindings::sk_buff) -> bool;
    pub(super) fn xpu_skb_reset_network_header(skb: *mut bindings::sk_buff);
    pub(super) fn xpu_skb_may_pull(skb: *mut bindings::sk_buff, len: u32) -> bool;
    pub(super) fn xpu_skb_linear(skb: *mut bindings::sk_buff) -> *const c_void;
    pub(super) fn xpu_skb_alloc(
        dev: *mut bindings::net_device,
        len: u32,
        data: *mut *mut c_void,
    ) -> *mut bindings::sk_buff;
    pub(super) fn xpu_skb_send(
        skb: *mut bindings::sk_buff,
        dev: *mut bindings::net_device,
        ethertype: u16,
    ) -> bool;
    pub(super) fn xpu_skb_deliver(
        skb: *mut bindings::sk_buff,
        via: *mut bindings::net_device,
        proto: u16,
        dst: *mut bindings::dst_entry,
    ) -> bool;
    pub(super) fn xpu_skb_forward_csum(skb: *mut bindings::sk_buff);
    pub(super) fn xpu_skb_ct_confirm(skb: *mut bindings::sk_buff) -> bool;
    pub(super) fn xpu_skb_rx_handler_data(skb: *const bindings::sk_buff) -> *mut c_void;
    pub(super) fn xpu_dev_ifindex(dev: *const bindings::net_device) -> c_int;
    pub(super) fn xpu_dev_is_loopback(dev: *const bindings::net_device) -> bool;
    pub(super) fn xpu_dev_link_ok(dev: *const bindings::net_device) -> bool;
    pub(super) fn xpu_dev_hold(dev: *mut bindings::net_device);
    pub(super) fn xpu_dev_put(dev: *mut bindings::net_device);
    pub(super) fn xpu_dev_warn(dev: *const bindings::net_device, msg: *const c_char);
    pub(super) fn xpu_work_init(
        work: *mut bindings::work_struct,
        func: Option<unsafe extern "C" fn(work: *mut bindings::work_struct)>,
    );
    pub(super) fn xpu_work_schedule(work: *mut bindings::work_struct) -> bool;
    pub(super) fn xpu_nf_in(state: *const NfHookState) -> *const bindings::net_device;
}

// Exported kernel functions that the kernel crate's bindings (7.3) do not include
// (include/linux/rtnetlink.h and linux/netdevice.h are not in rust/bindings/bindings_helper.h).
extern "C" {
    pub(super) fn rtnl_lock();
    pub(super) fn rtnl_unlock();
    pub(super) fn synchronize_net();
    pub(super) fn dst_release(dst: *mut bindings::dst_entry);
    pub(super) fn netdev_rx_handler_register(
        dev: *mut bindings::net_device,
        handler: Option<RxHandler>,
        data: *mut c_void,
    ) -> c_int;
    pub(super) fn netdev_rx_handler_unregister(dev: *mut bindings::net_device);
}
