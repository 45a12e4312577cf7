// SPDX-License-Identifier: GPL-2.0

//! Split namespaces at the C boundary: [`SplitKind`] registers driver/xpu_split.c's objects
//! (the `xpu` generic-netlink family, the netfilter hook, the packet handlers of the link's
//! two ethertypes, the per-namespace state); the functions here, generic over [`SplitOps`],
//! hand its datapath's and snapshots' questions to the logic, through the `xpu_rs_split_*`
//! symbols that [`export_split_ops!`] emits for the one implementation. The family's requests
//! are split_nl.rs's.
//!
//! xpu_split.c owns each half as the raw pointer of an `Arc` of that implementation (made by
//! split_nl.rs's `create`, given back to `xpu_rs_split_free` once no CPU can still use it).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use kernel::{
    error::to_result,
    ffi::{c_int, c_void},
    prelude::*,
    sync::Arc,
};

use super::sys;

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

/// One half of a split namespace, as xpu_split.c asks about it.
///
/// `NAME_LEN` is `XPU_NAME_LEN`, the size of the C structs' names. It is a parameter rather
/// than an associated constant because it sizes arrays in these signatures, which stable Rust
/// allows of a const parameter but not of an associated constant.
pub(crate) trait SplitOps<const NAME_LEN: usize>: Sized + Send + Sync {
    /// The bit of [`SplitOps::receive`]'s answer that says the message was malformed; this
    /// layer gives it for a length that does not even fit a `usize`.
    const BAD: u32;
    /// Bytes of a snapshot message, for xpu_split.c's allocations.
    const MSG_LEN: usize;
    /// The most bytes of a packet's start [`SplitOps::read_flow`] looks at:
    /// `XPU_FLOW_HEADERS` of driver/xpu_shim.h, checked against it by [`flow_read`].
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
    /// Takes the peer's snapshot (softirq); returns bits that say what xpu_split.c should do.
    fn receive(&self, msg: &[u8]) -> u32;
    /// The link went down: forget the peer. Returns whether anything changed.
    fn peer_lost(&self) -> bool;
}

/// `enum xpu_arrival` of driver/xpu_shim.h: what xpu_split.c does with a packet from across.
#[derive(Clone, Copy)]
#[repr(u32)]
pub(crate) enum Arrival {
    Drop = 0,
    /// Through lo, as loopback would deliver it.
    Loopback = 1,
    /// From outside the pod: as if it had come in on the link.
    Link = 2,
}

/// `struct xpu_flow` of driver/xpu_shim.h: what a steered packet's headers say
/// ([`SplitOps::read_flow`]).
#[repr(C)]
pub(crate) struct XpuFlow {
    /// 4 or 6.
    family: u8,
    pad: u8,
    /// The port at `dst`'s end whose owner the packet is for.
    port: u16,
    /// Network order; IPv4 in the first 4 bytes.
    src: [u8; 16],
    dst: [u8; 16],
}

// The C side asserts the same layout (driver/xpu_split.c).
const _: () = assert!(
    core::mem::size_of::<XpuFlow>() == 36
        && core::mem::offset_of!(XpuFlow, port) == 2
        && core::mem::offset_of!(XpuFlow, src) == 4
        && core::mem::offset_of!(XpuFlow, dst) == 20
);

impl XpuFlow {
    fn addr(&self, a: &[u8; 16]) -> Option<IpAddr> {
        match self.family {
            4 => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(*a))),
            _ => None,
        }
    }

    /// Source, destination and port; `None` for a family that is neither.
    fn parts(&self) -> Option<(IpAddr, IpAddr, u16)> {
        Some((self.addr(&self.src)?, self.addr(&self.dst)?, self.port))
    }

    fn new(src: IpAddr, dst: IpAddr, port: u16) -> Self {
        let bytes = |a: IpAddr| match a {
            IpAddr::V4(a) => {
                let mut o = [0; 16];
                o[..4].copy_from_slice(&a.octets());
                o
            }
            IpAddr::V6(a) => a.octets(),
        };
        Self {
            family: if src.is_ipv4() { 4 } else { 6 },
            pad: 0,
            port,
            src: bytes(src),
            dst: bytes(dst),
        }
    }
}

/// `XPU_FLOW_HEADERS` of driver/xpu_shim.h: the bytes of a packet's start xpu_split.c hands
/// to [`flow_read`].
const FLOW_HEADERS: usize = 130;

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
/// `rs` came from `create` (driver/net/split_nl.rs) of the same `S` and was not yet given to
/// [`free`].
pub(super) unsafe fn split<'a, S>(rs: *const c_void) -> &'a S {
    // SAFETY: per the function's contract, `rs` is a live `Arc<S>`'s pointer, and C frees it
    // only after every user returned.
    unsafe { &*rs.cast::<S>() }
}

/// # Safety
///
/// `rs` came from `create` of the same `S`; no CPU uses it any more, and it is not used again.
pub(crate) unsafe fn free<S: SplitOps<N>, const N: usize>(rs: *const c_void) {
    // SAFETY: per the function's contract, this gives back the reference `into_raw` took.
    drop(unsafe { Arc::<S>::from_raw(rs.cast::<S>()) });
}

/// Reads the headers of the `len` bytes at `pkt` into `*f`; false for a packet no split
/// steers (`*f` is then untouched).
///
/// # Safety
///
/// `pkt` is valid for reads of `len` bytes; `f` is valid for writes.
pub(crate) unsafe fn flow_read<S: SplitOps<N>, const N: usize>(
    pkt: *const u8,
    len: u32,
    f: *mut XpuFlow,
) -> bool {
    const { assert!(S::HEADERS_MAX == FLOW_HEADERS) };
    let Ok(len) = usize::try_from(len) else {
        return false;
    };
    // SAFETY: valid for `len` bytes per the function's contract.
    let pkt = unsafe { core::slice::from_raw_parts(pkt, len) };
    match S::read_flow(pkt) {
        Some((src, dst, port)) => {
            // SAFETY: valid for writes per the function's contract.
            unsafe { f.write(XpuFlow::new(src, dst, port)) };
            true
        }
        None => false,
    }
}

/// # Safety
///
/// `rs` is live ([`split`]) for `S`; `f` is valid.
pub(crate) unsafe fn tap<S: SplitOps<N>, const N: usize>(
    rs: *const c_void,
    f: *const XpuFlow,
) -> bool {
    // SAFETY: valid per the function's contract.
    let Some((_, dst, port)) = unsafe { &*f }.parts() else {
        return false;
    };
    // SAFETY: per the function's contract.
    unsafe { split::<S>(rs) }.tap(dst, port)
}

/// # Safety
///
/// `rs` is live ([`split`]) for `S`; `f` is valid.
pub(crate) unsafe fn edge<S: SplitOps<N>, const N: usize>(
    rs: *const c_void,
    f: *const XpuFlow,
) -> bool {
    // SAFETY: valid per the function's contract.
    let Some((_, dst, port)) = unsafe { &*f }.parts() else {
        return false;
    };
    // SAFETY: per the function's contract.
    unsafe { split::<S>(rs) }.edge(dst, port)
}

/// `enum xpu_arrival`.
///
/// # Safety
///
/// `rs` is live ([`split`]) for `S`; `f` is valid.
pub(crate) unsafe fn arrival<S: SplitOps<N>, const N: usize>(
    rs: *const c_void,
    f: *const XpuFlow,
    src_local: bool,
) -> u32 {
    // SAFETY: valid per the function's contract.
    let Some((src, dst, port)) = unsafe { &*f }.parts() else {
        return Arrival::Drop as u32;
    };
    // SAFETY: per the function's contract.
    unsafe { split::<S>(rs) }.arrival(src, dst, port, src_local) as u32
}

/// Counts a packet steered across (`delivered` false) or delivered from across (true).
///
/// # Safety
///
/// `rs` is live ([`split`]) for `S`.
pub(crate) unsafe fn count<S: SplitOps<N>, const N: usize>(rs: *const c_void, delivered: bool) {
    // SAFETY: per the function's contract.
    unsafe { split::<S>(rs) }.count(delivered)
}

/// Counts a frame from the peer refused.
///
/// # Safety
///
/// `rs` is live ([`split`]) for `S`.
pub(crate) unsafe fn refused<S: SplitOps<N>, const N: usize>(rs: *const c_void) {
    // SAFETY: per the function's contract.
    unsafe { split::<S>(rs) }.refused()
}

/// Writes this half's snapshot into `buf`, which must be [`SplitOps::MSG_LEN`] bytes.
///
/// # Safety
///
/// `rs` is live ([`split`]) for `S`; `buf` is valid for writes of `len` bytes.
pub(crate) unsafe fn snapshot<S: SplitOps<N>, const N: usize>(
    rs: *const c_void,
    buf: *mut c_void,
    len: u32,
    split_: bool,
    reply: bool,
) -> c_int {
    let Ok(len) = usize::try_from(len) else {
        return EINVAL.to_errno();
    };
    if len != S::MSG_LEN {
        return EINVAL.to_errno();
    }
    // SAFETY: per the function's contract; xpu_split.c allocated the bytes, nobody else sees
    // them yet.
    let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    // SAFETY: per the function's contract.
    match unsafe { split::<S>(rs) }.snapshot(out, split_, reply) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Takes the peer's snapshot in `buf`; returns the bits of [`SplitOps::receive`].
///
/// # Safety
///
/// `rs` is live ([`split`]) for `S`; `buf` is valid for reads of `len` bytes, a private copy (a
/// linear skb of our own, not the shared window).
pub(crate) unsafe fn receive<S: SplitOps<N>, const N: usize>(
    rs: *const c_void,
    buf: *const c_void,
    len: u32,
) -> u32 {
    let Ok(len) = usize::try_from(len) else {
        return S::BAD;
    };
    // SAFETY: per the function's contract.
    let msg = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
    // SAFETY: per the function's contract.
    unsafe { split::<S>(rs) }.receive(msg)
}

/// The link went down: forget the peer. Returns whether anything changed.
///
/// # Safety
///
/// `rs` is live ([`split`]) for `S`.
pub(crate) unsafe fn peer_lost<S: SplitOps<N>, const N: usize>(rs: *const c_void) -> bool {
    // SAFETY: per the function's contract.
    unsafe { split::<S>(rs) }.peer_lost()
}

/// Bytes of a snapshot message, for xpu_split.c's allocations.
pub(crate) fn msg_len<S: SplitOps<N>, const N: usize>() -> u32 {
    u32::try_from(S::MSG_LEN).unwrap_or(0)
}

/// Emits the `xpu_rs_split_*` symbols of driver/xpu_shim.h, each a call of the function here of
/// the same name for the [`SplitOps`] `$t`. Invoked once, through [`super::export!`]: a second
/// invocation would define the symbols twice.
macro_rules! export_split_ops {
    ($t:ty, $name_len:expr) => {
        const _: () = {
            use $crate::net::split as o;

            const N: usize = $name_len;

            /// # Safety
            ///
            /// As for [`free`](o::free), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_split_free(rs: *const ::kernel::ffi::c_void) {
                // SAFETY: xpu_split.c calls it as the function requires, and every `rs` it
                // passes came from `create` (split_nl.rs), an `Arc` of the same `$t`.
                unsafe { o::free::<$t, N>(rs) }
            }

            /// # Safety
            ///
            /// As for [`flow_read`](o::flow_read), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_flow_read(
                pkt: *const ::kernel::ffi::c_void,
                len: u32,
                f: *mut o::XpuFlow,
            ) -> bool {
                // SAFETY: xpu_split.c calls it as the function requires.
                unsafe { o::flow_read::<$t, N>(pkt.cast(), len, f) }
            }

            /// # Safety
            ///
            /// As for [`tap`](o::tap), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_split_tap(
                rs: *const ::kernel::ffi::c_void,
                f: *const o::XpuFlow,
            ) -> bool {
                // SAFETY: xpu_split.c calls it as the function requires, and every `rs` it
                // passes came from `create` (split_nl.rs), an `Arc` of the same `$t`.
                unsafe { o::tap::<$t, N>(rs, f) }
            }

            /// # Safety
            ///
            /// As for [`edge`](o::edge), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_split_edge(
                rs: *const ::kernel::ffi::c_void,
                f: *const o::XpuFlow,
            ) -> bool {
                // SAFETY: xpu_split.c calls it as the function requires, and every `rs` it
                // passes came from `create` (split_nl.rs), an `Arc` of the same `$t`.
                unsafe { o::edge::<$t, N>(rs, f) }
            }

            /// # Safety
            ///
            /// As for [`arrival`](o::arrival), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_split_arrival(
                rs: *const ::kernel::ffi::c_void,
                f: *const o::XpuFlow,
                src_local: bool,
            ) -> u32 {
                // SAFETY: xpu_split.c calls it as the function requires, and every `rs` it
                // passes came from `create` (split_nl.rs), an `Arc` of the same `$t`.
                unsafe { o::arrival::<$t, N>(rs, f, src_local) }
            }

            /// # Safety
            ///
            /// As for [`count`](o::count), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_split_count(
                rs: *const ::kernel::ffi::c_void,
                delivered: bool,
            ) {
                // SAFETY: xpu_split.c calls it as the function requires, and every `rs` it
                // passes came from `create` (split_nl.rs), an `Arc` of the same `$t`.
                unsafe { o::count::<$t, N>(rs, delivered) }
            }

            /// # Safety
            ///
            /// As for [`refused`](o::refused), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_split_refused(rs: *const ::kernel::ffi::c_void) {
                // SAFETY: xpu_split.c calls it as the function requires, and every `rs` it
                // passes came from `create` (split_nl.rs), an `Arc` of the same `$t`.
                unsafe { o::refused::<$t, N>(rs) }
            }

            /// # Safety
            ///
            /// As for [`snapshot`](o::snapshot), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_split_snapshot(
                rs: *const ::kernel::ffi::c_void,
                buf: *mut ::kernel::ffi::c_void,
                len: u32,
                split_: bool,
                reply: bool,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: xpu_split.c calls it as the function requires, and every `rs` it
                // passes came from `create` (split_nl.rs), an `Arc` of the same `$t`.
                unsafe { o::snapshot::<$t, N>(rs, buf, len, split_, reply) }
            }

            /// # Safety
            ///
            /// As for [`receive`](o::receive), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_split_receive(
                rs: *const ::kernel::ffi::c_void,
                buf: *const ::kernel::ffi::c_void,
                len: u32,
            ) -> u32 {
                // SAFETY: xpu_split.c calls it as the function requires, and every `rs` it
                // passes came from `create` (split_nl.rs), an `Arc` of the same `$t`.
                unsafe { o::receive::<$t, N>(rs, buf, len) }
            }

            /// # Safety
            ///
            /// As for [`peer_lost`](o::peer_lost), which it is for `$t`.
            #[no_mangle]
            unsafe extern "C" fn xpu_rs_split_peer_lost(rs: *const ::kernel::ffi::c_void) -> bool {
                // SAFETY: xpu_split.c calls it as the function requires, and every `rs` it
                // passes came from `create` (split_nl.rs), an `Arc` of the same `$t`.
                unsafe { o::peer_lost::<$t, N>(rs) }
            }

            #[no_mangle]
            extern "C" fn xpu_rs_split_msg_len() -> u32 {
                o::msg_len::<$t, N>()
            }
        };
    };
}
pub(crate) use export_split_ops;
