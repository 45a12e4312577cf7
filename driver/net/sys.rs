// SPDX-License-Identifier: GPL-2.0

//! Prototypes of the C shim, copied from `driver/xpu_shim.h` (one Rust declaration for each C
//! helper there). Hand-written FFI prototypes are not checked against the header by the
//! compiler, so they are all in this one file, next to nothing else.

use kernel::{
    bindings,
    ffi::{c_int, c_void},
};

extern "C" {
    pub(super) fn xpu_link_register() -> c_int;
    pub(super) fn xpu_link_unregister();
    pub(super) fn xpu_priv_rs(dev: *const bindings::net_device) -> *mut c_void;
    pub(super) fn xpu_priv_set_rs(dev: *mut bindings::net_device, rs: *mut c_void);
    pub(super) fn xpu_dev_peer_rtnl(dev: *const bindings::net_device) -> *mut bindings::net_device;
    pub(super) fn xpu_dev_is_up(dev: *const bindings::net_device) -> bool;
    pub(super) fn xpu_dev_carrier_on(dev: *mut bindings::net_device);
    pub(super) fn xpu_dev_tx_dropped_inc(dev: *mut bindings::net_device);
    pub(super) fn xpu_dev_carrier_off(dev: *mut bindings::net_device);
    pub(super) fn xpu_skb_drop(skb: *mut bindings::sk_buff);
}
