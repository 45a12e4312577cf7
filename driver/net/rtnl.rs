// SPDX-License-Identifier: GPL-2.0

//! [`LinkKind`]: the `xpu` rtnetlink link kind (`ip link add NAME type xpu`), the
//! configuration a new link comes with ([`LinkData`]), and the RTNL lock.

use core::{fmt::Write, marker::PhantomData, ptr};

use kernel::{
    bindings,
    error::to_result,
    ffi::{c_char, c_int},
    prelude::*,
};

use super::{cstr::CStrWriter, extack::Refusal, genl::Attr, sys};
use crate::link_uapi::attr;

const IFNAMSIZ: usize = bindings::IFNAMSIZ as usize;
const IFLA_IFNAME: usize = sys::IFLA_IFNAME as usize;

/// A new link's `IFLA_INFO_DATA`, parsed by rtnetlink with the kind's policy: what `ip link
/// add NAME type xpu ...` asked for.
///
/// # Invariants
///
/// `data` is null (no `IFLA_INFO_DATA`) or has `attr::MAX + 1` entries, each null or an
/// attribute of the request, valid for `'a`.
pub(crate) struct LinkData<'a> {
    data: *const *mut bindings::nlattr,
    _request: PhantomData<&'a ()>,
}

impl<'a> LinkData<'a> {
    /// # Safety
    ///
    /// `data` is the `data` argument of a `rtnl_link_ops` op of the xpu kind (whose `maxtype`
    /// is `attr::MAX`), valid for `'a`.
    pub(super) unsafe fn from_raw(data: *const *mut bindings::nlattr) -> Self {
        // INVARIANT: per the function's contract.
        Self {
            data,
            _request: PhantomData,
        }
    }

    /// Attribute `t` (an `IFLA_XPU_*`), if given.
    pub(crate) fn attr(&self, t: u16) -> Option<Attr<'a>> {
        if self.data.is_null() || t > attr::MAX {
            return None;
        }
        // SAFETY: `data` has `attr::MAX + 1` entries (type invariant) and `t <= attr::MAX`.
        let nla = unsafe { *self.data.add(usize::from(t)) };
        // SAFETY: null or an attribute of the request, valid for `'a` (type invariant).
        unsafe { Attr::from_raw(nla) }
    }

    /// The value of `t`, a `u32` attribute (the policy checked its length), if given.
    pub(crate) fn u32(&self, t: u16) -> Option<u32> {
        self.attr(t)?.u32()
    }
}

/// Proof that the caller holds RTNL, the lock under which the core runs `ndo_open`,
/// `ndo_stop` and link changes; only the trampolines of such ops create one.
pub(crate) struct Rtnl(());

impl Rtnl {
    /// # Safety
    ///
    /// The caller must hold RTNL for as long as the token lives.
    pub(super) unsafe fn assume_held() -> Self {
        Self(())
    }
}

/// RTNL, held from [`RtnlGuard::lock`] until the guard is dropped: for the family's requests
/// (driver/net/split_nl.rs), whose handlers the genetlink core calls without it.
pub(crate) struct RtnlGuard(Rtnl);

impl RtnlGuard {
    pub(crate) fn lock() -> Self {
        // SAFETY: process context (a netlink request, or the control work); RTNL is not held
        // by this task.
        unsafe { sys::rtnl_lock() };
        // SAFETY: taken just above, released only in `drop`, after the token is gone.
        Self(unsafe { Rtnl::assume_held() })
    }

    /// The proof that RTNL is held, for as long as the guard lives.
    pub(crate) fn held(&self) -> &Rtnl {
        &self.0
    }

    /// The same proof, exclusive: for what frees objects that others borrow under RTNL.
    pub(crate) fn held_mut(&mut self) -> &mut Rtnl {
        &mut self.0
    }
}

impl Drop for RtnlGuard {
    fn drop(&mut self) {
        // SAFETY: taken in `lock`.
        unsafe { sys::rtnl_unlock() }
    }
}

/// The registered `xpu` link kind.
///
/// Dropping it deletes every xpu link in every network namespace and unregisters the kind, so
/// the module can unload while links exist (as veth and netkit do).
pub(crate) struct LinkKind(());

impl LinkKind {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: the ops table is a static of this module, unregistered in `drop` before the
        // module goes away.
        to_result(unsafe { sys::rtnl_link_register(sys::xpu_link_kind()) })?;
        Ok(Self(()))
    }
}

impl Drop for LinkKind {
    fn drop(&mut self) {
        // SAFETY: the kind was registered in `register` (an object exists only then). This
        // deletes every xpu link in every namespace, then forgets the kind.
        unsafe { sys::rtnl_link_unregister(sys::xpu_link_kind()) }
    }
}

/// The payload of attribute `nla` (`nla_data()`).
///
/// # Safety
///
/// `nla` is a valid attribute.
unsafe fn nla_data(nla: *const bindings::nlattr) -> *mut u8 {
    // SAFETY: the payload follows the 4-byte header of a valid attribute.
    unsafe {
        nla.cast::<u8>()
            .cast_mut()
            .add(core::mem::size_of::<bindings::nlattr>())
    }
}

/// The bytes of the string attribute `nla` before its NUL (empty for none).
///
/// # Safety
///
/// `nla` is null or a valid attribute that lives for `'a`.
unsafe fn nla_str<'a>(nla: *const bindings::nlattr) -> &'a [u8] {
    // SAFETY: per the function's contract.
    match unsafe { Attr::from_raw(nla.cast_mut()) } {
        Some(a) => a.string(),
        None => &[],
    }
}

/// The peer's default name: the first free xpu%d of `peer_net` that is not also `own`, the
/// name the new device asked for in `own_net`. veth takes the first free veth%d, so `ip link
/// add veth0 type veth` fails with EEXIST; `ip link add xpu0 type xpu` gives xpu0 and xpu1.
///
/// # Safety
///
/// RTNL is held; `peer_net` is a live namespace.
unsafe fn peer_default_name(
    peer_net: *mut bindings::net,
    own_net: *mut bindings::net,
    own: &[u8],
    name: &mut [u8; IFNAMSIZ],
) -> Result {
    for i in 0..4096 {
        *name = [0; IFNAMSIZ];
        let mut w = CStrWriter::new(name);
        let _ = write!(w, "xpu{i}");
        let len = name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        if ptr::eq(peer_net, own_net) && name[..len] == *own {
            continue;
        }
        // SAFETY: RTNL is held and `peer_net` live (function safety requirement); `name` is
        // NUL-terminated (the writer keeps a NUL).
        if unsafe { sys::__dev_get_by_name(peer_net, name.as_ptr().cast()) }.is_null() {
            return Ok(());
        }
    }
    Err(ENFILE)
}

/// Registers `dev` with one queue in use each way; `attach` then sets the count the link
/// takes. Registered with every queue numtxqueues/numrxqueues allocated (16 each way), a
/// pair's two ends got 64 queue directories in sysfs, most of them removed again at once by
/// `attach` (60 in the one-CPU test VMs, whose links use one queue), each with its add and
/// remove uevents: most of the time `ip link add` took there beyond veth's.
///
/// # Safety
///
/// RTNL is held; `dev` is a new device of the xpu kind, not registered.
unsafe fn register_one_queue(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: RTNL is held and `dev` is not registered (function safety requirements): the
    // counts are set, no queue object exists yet; one is at most what was allocated.
    let err = unsafe { sys::netif_set_real_num_queues(dev, 1, 1) };
    if err < 0 {
        return err;
    }
    // SAFETY: as above.
    unsafe { sys::register_netdevice(dev) }
}

/// `rtnl_link_ops.newlink` of the pair kind, as veth.c does it: the peer first (named by
/// `IFLA_XPU_PEER_INFO`'s own `IFLA_IFNAME`, else [`peer_default_name`]), then `dev`, then
/// `attach` connects the two registered ends; each then holds a reference on the other until
/// dellink. A failure unregisters what was registered, in reverse.
///
/// # Safety
///
/// rtnetlink's arguments of `newlink` for the xpu kind, with RTNL held.
pub(super) unsafe fn newlink(
    dev: *mut bindings::net_device,
    params: *mut sys::rtnl_newlink_params,
    extack: *mut bindings::netlink_ext_ack,
    attach: impl FnOnce(*mut bindings::net_device, *mut bindings::net_device) -> c_int,
) -> c_int {
    // SAFETY: rtnetlink's parameters, valid for the call (function safety requirement).
    // `tb` has IFLA_MAX + 1 (`__IFLA_MAX`) entries.
    let Some(p) = (unsafe { params.as_ref() }) else {
        return EINVAL.to_errno();
    };
    // rtnl_newlink_peer_net(): the namespace asked for the peer, else the link's, else ours.
    let peer_net = [p.peer_net, p.link_net, p.src_net]
        .into_iter()
        .find(|n| !n.is_null())
        .unwrap_or(p.src_net);
    let (tb, data) = (p.tb, p.data);
    // SAFETY: `tb` has IFLA_MAX + 1 entries, `data` (if any) the kind's `attr::MAX + 1`; each
    // null or an attribute of the request.
    let (own_name, info) = unsafe {
        (
            *tb.add(IFLA_IFNAME),
            if data.is_null() {
                ptr::null_mut()
            } else {
                *data.add(attr::PEER_INFO.into())
            },
        )
    };

    // The peer's own attributes, as `ip link add ... type xpu peer name NAME ...` gives them:
    // an ifinfomsg, then IFLA_* attributes (the policy checked the ifinfomsg's length).
    let mut peer_tb = [ptr::null_mut::<bindings::nlattr>(); sys::__IFLA_MAX as usize];
    let (tbp, ifmp) = if info.is_null() {
        (tb, ptr::null_mut::<sys::ifinfomsg>())
    } else {
        // SAFETY: `info` is an attribute of the request; `peer_tb` has IFLA_MAX + 1 entries.
        let err = unsafe { sys::rtnl_nla_parse_ifinfomsg(peer_tb.as_mut_ptr(), info, extack) };
        if err < 0 {
            return err;
        }
        // SAFETY: `info` is valid, its payload an ifinfomsg.
        (peer_tb.as_mut_ptr(), unsafe { nla_data(info) }.cast())
    };
    let mut name = [0u8; IFNAMSIZ];
    let peer_name = if ifmp.is_null() {
        ptr::null_mut()
    } else {
        // SAFETY: `tbp` has IFLA_MAX + 1 entries.
        unsafe { *tbp.add(IFLA_IFNAME) }
    };
    let assign = if peer_name.is_null() {
        // SAFETY: RTNL is held; the namespaces are the request's; `own_name` is null or an
        // attribute of the request.
        let found = unsafe {
            peer_default_name(
                peer_net,
                sys::xpu_dev_net(dev),
                nla_str(own_name),
                &mut name,
            )
        };
        if let Err(e) = found {
            let r = Refusal {
                err: e,
                msg: c"no free xpu%d name for the peer",
            };
            // SAFETY: the request's extack.
            return unsafe { r.report(extack) };
        }
        sys::NET_NAME_ENUM
    } else {
        // SAFETY: `peer_name` is a string attribute; `name` has IFNAMSIZ bytes.
        unsafe { bindings::nla_strscpy(name.as_mut_ptr().cast(), peer_name, IFNAMSIZ) };
        sys::NET_NAME_USER
    };

    // SAFETY: RTNL is held; the arguments are the request's and a NUL-terminated name.
    // CAST: NET_NAME_* are small.
    let peer = unsafe {
        sys::rtnl_create_link(
            peer_net,
            name.as_ptr().cast::<c_char>(),
            assign as u8,
            sys::xpu_link_kind(),
            tbp,
            extack,
        )
    };
    let peer = match kernel::error::from_err_ptr(peer) {
        Ok(peer) => peer,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: `peer` is a new device of ours, not registered yet; `dev` is being created (and
    // is ours); `ifmp` is null or the request's ifinfomsg.
    unsafe {
        if !ifmp.is_null() && sys::xpu_dev_ifindex(dev) != 0 {
            sys::xpu_dev_set_ifindex(peer, (*ifmp).ifi_index);
        }
        sys::netif_inherit_tso_max(peer, dev);
    }
    // SAFETY: RTNL is held; `peer` was just created, by rtnetlink for the xpu kind.
    let err = unsafe { register_one_queue(peer) };
    if err < 0 {
        // SAFETY: never registered: ours to free.
        unsafe { sys::free_netdev(peer) };
        return err;
    }
    // SAFETY: `peer` is registered, and ours until we return.
    let unregister_peer = |err: c_int| unsafe {
        sys::unregister_netdevice_queue(peer, ptr::null_mut());
        err
    };
    // SAFETY: registered; `ifmp` is null or the request's.
    let err = unsafe {
        sys::netif_carrier_off(peer);
        sys::rtnl_configure_link(peer, ifmp, 0, ptr::null_mut())
    };
    if err < 0 {
        return unregister_peer(err);
    }

    // SAFETY: `dev` is not registered yet, so its name is ours to set; `own_name` is null or a
    // string attribute.
    unsafe {
        let dev_name = sys::xpu_dev_name(dev);
        if own_name.is_null() {
            ptr::copy_nonoverlapping(c"xpu%d".as_char_ptr(), dev_name, c"xpu%d".count_bytes() + 1);
        } else {
            bindings::nla_strscpy(dev_name, own_name, IFNAMSIZ);
        }
    }
    // SAFETY: RTNL is held; `dev` is rtnetlink's new device of the xpu kind, to register.
    let err = unsafe { register_one_queue(dev) };
    if err < 0 {
        return unregister_peer(err);
    }
    // SAFETY: registered.
    unsafe { sys::netif_carrier_off(dev) };
    let err = attach(dev, peer);
    if err != 0 {
        // SAFETY: registered above.
        unsafe { sys::unregister_netdevice_queue(dev, ptr::null_mut()) };
        return unregister_peer(err);
    }
    // SAFETY: both registered ends of the new pair, RTNL held.
    unsafe { sys::xpu_pair_link(dev, peer) };
    0
}
