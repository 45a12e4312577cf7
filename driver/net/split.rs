// SPDX-License-Identifier: GPL-2.0

//! Split namespaces at the C boundary: [`SplitKind`] registers driver/xpu_split.c's objects
//! (the `xpu` generic-netlink family, the netfilter hook, the packet handlers of the link's
//! two ethertypes, the per-namespace state); the `xpu_rs_split_*` trampolines hand its
//! questions to [`crate::splitns::SplitNs`].
//!
//! xpu_split.c owns each half as the raw pointer of an `Arc<SplitNs>` (from
//! `xpu_rs_split_new`, given back to `xpu_rs_split_free` once no CPU can still use it).

use kernel::{
    error::to_result,
    ffi::{c_char, c_int, c_void},
    prelude::*,
    sync::Arc,
};

use super::sys;
use crate::{
    genl::NAME_LEN,
    port_sync,
    splitns::{CreateArgs, Refusal, SplitNs},
};

/// `struct xpu_split_args` of driver/xpu_shim.h.
#[repr(C)]
pub(crate) struct XpuSplitArgs {
    name: [u8; NAME_LEN],
    link_role: u32,
    /// `u32::MAX`: not given.
    half: u32,
    /// Network order.
    addr: [u8; 4],
    /// 0: not given.
    port_min: u32,
    port_max: u32,
    epoch: u32,
}

/// `struct xpu_split_info` of driver/xpu_shim.h.
#[repr(C)]
pub(crate) struct XpuSplitInfo {
    name: [u8; NAME_LEN],
    half: u32,
    addr: [u8; 4],
    port_min: u16,
    port_max: u16,
    peer_state: u32,
    ports: u32,
    peer_ports: u32,
    peer_port_min: u16,
    peer_port_max: u16,
    steered: u64,
    delivered: u64,
}

/// The registered split-namespace machinery. Dropping it unsplits every namespace.
pub(crate) struct SplitKind(());

impl SplitKind {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: no preconditions; what it registers points at statics of this module and is
        // unregistered in `drop`.
        to_result(unsafe { sys::xpu_split_register() })?;
        Ok(Self(()))
    }
}

impl Drop for SplitKind {
    fn drop(&mut self) {
        // SAFETY: registered in `register` (an object exists only then).
        unsafe { sys::xpu_split_unregister() }
    }
}

/// # Safety
///
/// `rs` came from [`xpu_rs_split_new`] and was not yet given to [`xpu_rs_split_free`].
unsafe fn split<'a>(rs: *const c_void) -> &'a SplitNs {
    // SAFETY: per the function's contract, `rs` is a live `Arc<SplitNs>`'s pointer, and C
    // frees it only after every user returned.
    unsafe { &*rs.cast::<SplitNs>() }
}

/// Writes the refusal's message to `msg` and returns its negative errno.
///
/// # Safety
///
/// `msg` is valid for writes.
unsafe fn refusal(r: Refusal, msg: *mut *const c_char) -> c_int {
    // SAFETY: per the function's contract. The message is a static string, as the extack
    // C keeps it in wants.
    unsafe { *msg = r.msg.as_char_ptr() };
    r.err.to_errno()
}

/// # Safety
///
/// `a`, `err` and `msg` are valid pointers.
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_new(
    a: *const XpuSplitArgs,
    err: *mut c_int,
    msg: *mut *const c_char,
) -> *const c_void {
    // SAFETY: valid per the function's contract.
    let a = unsafe { &*a };
    let opt16 = |v: u32| u16::try_from(v).ok().filter(|&v| v != 0);
    let args = CreateArgs {
        name: a.name,
        link_role: a.link_role,
        half: (a.half != u32::MAX).then_some(a.half),
        addr: a.addr,
        port_min: opt16(a.port_min),
        port_max: opt16(a.port_max),
        epoch: a.epoch,
    };
    match SplitNs::new(args) {
        Ok(s) => Arc::into_raw(s).cast(),
        Err(r) => {
            // SAFETY: `err` and `msg` are valid per the function's contract.
            unsafe { *err = refusal(r, msg) };
            core::ptr::null()
        }
    }
}

/// # Safety
///
/// `rs` came from [`xpu_rs_split_new`]; no CPU uses it any more, and it is not used again.
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_free(rs: *const c_void) {
    // SAFETY: per the function's contract, this gives back the reference `into_raw` took.
    drop(unsafe { Arc::from_raw(rs.cast::<SplitNs>()) });
}

/// # Safety
///
/// `rs` is live ([`split`]); `lo` and `hi` are valid.
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_range(rs: *const c_void, lo: *mut u16, hi: *mut u16) {
    // SAFETY: per the function's contract.
    let (l, h) = unsafe { split(rs) }.range();
    // SAFETY: per the function's contract.
    unsafe { (*lo, *hi) = (l, h) };
}

/// # Safety
///
/// `rs` is live ([`split`]); `msg` is valid. Under RTNL.
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_port_add(
    rs: *const c_void,
    port: u16,
    msg: *mut *const c_char,
) -> c_int {
    // SAFETY: per the function's contract.
    match unsafe { split(rs) }.port_add(port) {
        Ok(()) => 0,
        // SAFETY: `msg` is valid per the function's contract.
        Err(r) => unsafe { refusal(r, msg) },
    }
}

/// # Safety
///
/// `rs` is live ([`split`]); `msg` is valid. Under RTNL.
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_port_del(
    rs: *const c_void,
    port: u16,
    msg: *mut *const c_char,
) -> c_int {
    // SAFETY: per the function's contract.
    match unsafe { split(rs) }.port_del(port) {
        Ok(()) => 0,
        // SAFETY: `msg` is valid per the function's contract.
        Err(r) => unsafe { refusal(r, msg) },
    }
}

/// The half that owns `port` by registration (`enum xpu_half`), or -1.
///
/// # Safety
///
/// `rs` is live ([`split`]).
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_owner(rs: *const c_void, port: u16) -> c_int {
    // SAFETY: per the function's contract.
    unsafe { split(rs) }.owner(port).map_or(-1, |h| h as c_int)
}

/// # Safety
///
/// `rs` is live ([`split`]); `port` and `half` are valid.
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_next_port(
    rs: *const c_void,
    from: u32,
    port: *mut u16,
    half: *mut u32,
) -> bool {
    // SAFETY: per the function's contract.
    match unsafe { split(rs) }.next_port(from) {
        Some((p, h)) => {
            // SAFETY: per the function's contract.
            unsafe { (*port, *half) = (p, h as u32) };
            true
        }
        None => false,
    }
}

/// # Safety
///
/// `rs` is live ([`split`]).
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_steer(rs: *const c_void, port: u16) -> bool {
    // SAFETY: per the function's contract.
    unsafe { split(rs) }.steer(port)
}

/// # Safety
///
/// `rs` is live ([`split`]).
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_accept(rs: *const c_void, port: u16) -> bool {
    // SAFETY: per the function's contract.
    unsafe { split(rs) }.accept(port)
}

/// Counts a packet steered across (`delivered` false) or delivered from across (true).
///
/// # Safety
///
/// `rs` is live ([`split`]).
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_count(rs: *const c_void, delivered: bool) {
    // SAFETY: per the function's contract.
    unsafe { split(rs) }.count(delivered)
}

/// # Safety
///
/// `rs` is live ([`split`]); `out` is valid for writes.
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_info(rs: *const c_void, out: *mut XpuSplitInfo) {
    // SAFETY: per the function's contract.
    let i = unsafe { split(rs) }.info();
    let info = XpuSplitInfo {
        name: i.name,
        half: i.half,
        addr: i.addr,
        port_min: i.range.0,
        port_max: i.range.1,
        peer_state: i.peer_state,
        ports: i.ports,
        peer_ports: i.peer_ports,
        peer_port_min: i.peer_range.0,
        peer_port_max: i.peer_range.1,
        steered: i.steered,
        delivered: i.delivered,
    };
    // SAFETY: per the function's contract.
    unsafe { out.write(info) };
}

/// Writes this half's snapshot into `buf`, which must be `port_sync::LEN` bytes.
///
/// # Safety
///
/// `rs` is live ([`split`]); `buf` is valid for writes of `len` bytes.
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_snapshot(
    rs: *const c_void,
    buf: *mut c_void,
    len: u32,
    split_: bool,
    reply: bool,
) -> c_int {
    let Ok(len) = usize::try_from(len) else {
        return EINVAL.to_errno();
    };
    if len != port_sync::LEN {
        return EINVAL.to_errno();
    }
    // SAFETY: per the function's contract; xpu_split.c allocated the bytes, nobody else sees
    // them yet.
    let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    // SAFETY: per the function's contract.
    match unsafe { split(rs) }.snapshot(out, split_, reply) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Takes the peer's snapshot in `buf`; returns `splitns::todo` bits.
///
/// # Safety
///
/// `rs` is live ([`split`]); `buf` is valid for reads of `len` bytes, a private copy (a linear
/// skb of our own, not the shared window).
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_receive(rs: *const c_void, buf: *const c_void, len: u32) -> u32 {
    let Ok(len) = usize::try_from(len) else {
        return crate::splitns::todo::BAD;
    };
    // SAFETY: per the function's contract.
    let msg = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
    // SAFETY: per the function's contract.
    unsafe { split(rs) }.receive(msg)
}

/// The link went down: forget the peer. Returns whether anything changed.
///
/// # Safety
///
/// `rs` is live ([`split`]).
#[no_mangle]
unsafe extern "C" fn xpu_rs_split_peer_lost(rs: *const c_void) -> bool {
    // SAFETY: per the function's contract.
    unsafe { split(rs) }.peer_lost()
}

/// Bytes of a snapshot message, for xpu_split.c's allocations.
#[no_mangle]
extern "C" fn xpu_rs_split_msg_len() -> u32 {
    port_sync::LEN as u32
}
