// SPDX-License-Identifier: GPL-2.0

//! The `xpu` generic-netlink family's requests (uapi/xpu.yaml): create, delete and show a split
//! namespace, add, delete and show its ports, and the monitor group's notifications. The
//! handlers read the request, ask the half ([`SplitOps`]) and answer; the half decides
//! (validation, ownership). The namespace's half (split_half.rs) joins the logic to the
//! kernel's objects.
//!
//! The attribute numbers are the family's, `crate::genl` (the uapi crate's, checked against the
//! generated C header in userspace): the contract with userspace, not a decision of the driver's.

use kernel::{ffi::c_int, prelude::*};

use super::{
    genl::{notification_wanted, Attr, Dump, Msg, Net, Put, Request},
    rtnl::{Rtnl, RtnlGuard},
    split::{CreateArgs, PortOwner, SplitOps},
    split_half::{Half, Later},
    sys,
};
use crate::genl::{claim, cmd, port, splitns, PeerState};

/// The highest attribute each handler reads: no more than the `.maxattr` of its op in xpu_nl.c,
/// which sizes the request's parsed attributes.
pub(crate) mod maxattr {
    use crate::genl::{port, splitns};

    pub(crate) const SPLITNS_GET: u16 = 0;
    pub(crate) const SPLITNS_CREATE: u16 = splitns::ADDR6;
    pub(crate) const SPLITNS_DELETE: u16 = splitns::NAME;
    pub(crate) const PORT_GET: u16 = port::PORT;
    pub(crate) const PORT_CHANGE: u16 = port::CLAIM;
}

/// The half `net` is split into, and its link's ifindex, for as long as RTNL is held (halves
/// are freed under RTNL, by [`detach`], which takes the token mutably, and by events and
/// namespace exits, which do not run while this task holds RTNL).
fn half<S: SplitOps<N>, const N: usize>(net: Net, rtnl: &Rtnl) -> Option<(&S, u32)> {
    Half::<S, N>::of_net(net, rtnl).map(|h| (&*h.logic, h.ifindex()))
}

/// The bytes of a NUL-padded name before its NUL.
fn name_bytes(name: &[u8]) -> &[u8] {
    &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())]
}

fn not_split(req: &Request<'_>) -> Error {
    req.refuse(None, c"this network namespace is not split");
    ENOENT
}

/// A malformed attribute the policy should have refused: never expected, refused all the same.
fn malformed(req: &Request<'_>, a: &Attr<'_>) -> Error {
    req.refuse(Some(a), c"malformed attribute");
    EINVAL
}

fn fill_split<S: SplitOps<N>, const N: usize>(m: &mut impl Put, s: &S, ifindex: u32) -> Result {
    let i = s.info();
    m.put_string(splitns::NAME, &i.name)?;
    m.put_u32(splitns::IFINDEX, ifindex)?;
    m.put(splitns::ADDR, &i.addr)?;
    m.put_u32(splitns::HALF, i.half)?;
    m.put_u16(splitns::PORT_MIN, i.range.0)?;
    m.put_u16(splitns::PORT_MAX, i.range.1)?;
    m.put_u32(splitns::PEER_STATE, i.peer_state)?;
    m.put_u32(splitns::PORTS, i.ports)?;
    m.put_u32(splitns::PEER_PORTS, i.peer_ports)?;
    m.put_uint(splitns::STEERED, i.steered)?;
    m.put_uint(splitns::DELIVERED, i.delivered)?;
    m.put_uint(splitns::REFUSED, i.refused)?;
    if let Some(a6) = i.addr6 {
        m.put(splitns::ADDR6, &a6)?;
    }
    // The peer's range means something only once the peer has said it is split.
    if i.peer_state == PeerState::Split as u32 || i.peer_state == PeerState::Conflict as u32 {
        m.put_u16(splitns::PEER_PORT_MIN, i.peer_range.0)?;
        m.put_u16(splitns::PEER_PORT_MAX, i.peer_range.1)?;
    }
    Ok(())
}

/// A port, and its owner's half and claims if a half holds it (none: freed).
fn fill_port(m: &mut impl Put, port: u16, owner: Option<PortOwner>) -> Result {
    m.put_u16(port::PORT, port)?;
    if let Some(o) = owner {
        m.put_u32(port::HALF, o.half)?;
        if o.claims != 0 {
            m.put_u32(port::CLAIM, o.claims)?;
        }
    }
    Ok(())
}

/// Tells the monitor group of `net` that its split namespace changed, or (`deleted`) is gone:
/// then its name is all there is to say.
pub(super) fn notify_split<S: SplitOps<N>, const N: usize>(
    net: Net,
    s: &S,
    ifindex: u32,
    deleted: bool,
) {
    if !notification_wanted(net) {
        return;
    }
    let Ok(mut m) = Msg::notification(cmd::SPLITNS_CHANGE_NTF) else {
        return;
    };
    let filled = if deleted {
        m.put_string(splitns::NAME, &s.info().name)
    } else {
        fill_split(&mut m, s, ifindex)
    };
    if filled.is_ok() {
        m.multicast(net);
    }
}

fn notify_port(net: Net, port: u16, owner: Option<PortOwner>) {
    if !notification_wanted(net) {
        return;
    }
    let Ok(mut m) = Msg::notification(cmd::PORT_CHANGE_NTF) else {
        return;
    };
    if fill_port(&mut m, port, owner).is_ok() {
        m.multicast(net);
    }
}

pub(crate) fn splitns_create<S: SplitOps<N>, const N: usize>(req: &Request<'_>) -> Result {
    let name = req.require(splitns::NAME)?;
    let ifindex = req.require(splitns::IFINDEX)?;
    let addr = req.require(splitns::ADDR)?;
    let mut args = CreateArgs {
        name: [0; N],
        link_role: 0,
        half: None,
        addr: addr.array().ok_or_else(|| malformed(req, &addr))?,
        addr6: None,
        port_min: None,
        port_max: None,
        // Random, to tell this split's snapshots from an earlier one's.
        epoch: super::random::random_u32(),
    };
    // `nla_strscpy`: the name and a NUL; the policy allows no more than fits.
    let n = name.string();
    args.name
        .get_mut(..n.len())
        .filter(|_| n.len() < N)
        .ok_or_else(|| malformed(req, &name))?
        .copy_from_slice(n);
    if let Some(a) = req.attr(splitns::HALF) {
        args.half = Some(a.u32().ok_or_else(|| malformed(req, &a))?);
    }
    if let Some(a) = req.attr(splitns::PORT_MIN) {
        args.port_min = Some(a.u16().ok_or_else(|| malformed(req, &a))?);
    }
    if let Some(a) = req.attr(splitns::PORT_MAX) {
        args.port_max = Some(a.u16().ok_or_else(|| malformed(req, &a))?);
    }
    if let Some(a) = req.attr(splitns::ADDR6) {
        args.addr6 = Some(a.array().ok_or_else(|| malformed(req, &a))?);
    }
    let index = ifindex.u32().ok_or_else(|| malformed(req, &ifindex))?;
    let net = req.net()?;

    let mut rtnl = RtnlGuard::lock();
    if let Some((old, _)) = half::<S, N>(net, rtnl.held()) {
        let old = old.info().name;
        let old = core::str::from_utf8(name_bytes(&old)).unwrap_or("?");
        req.refuse_fmt(format_args!(
            "this network namespace is split already ({old})"
        ));
        return Err(EEXIST);
    }
    let dev = match c_int::try_from(index) {
        // SAFETY: `net` is live, RTNL is held.
        Ok(index) => unsafe { sys::__dev_get_by_index(net.as_ptr(), index) },
        Err(_) => core::ptr::null_mut(),
    };
    // SAFETY: `dev` is null or one of `net`'s devices, alive under RTNL.
    if dev.is_null() || !unsafe { sys::xpu_dev_is_xpu(dev) } {
        req.refuse(
            Some(&ifindex),
            c"no xpu link has this ifindex in this network namespace",
        );
        return Err(ENODEV);
    }
    // SAFETY: an xpu device, alive under RTNL.
    args.link_role = unsafe { sys::xpu_rs_role(dev) };
    let s = S::new(args).map_err(|r| {
        req.refuse(None, r.msg);
        r.err
    })?;
    // SAFETY: `dev` is `net`'s xpu link, live under the RTNL held since the lookup.
    if let Err(r) = unsafe { Half::<S, N>::attach(net, dev, s, rtnl.held_mut()) } {
        req.refuse(None, r.msg);
        return Err(r.err);
    }
    if let Some((s, ifindex)) = half::<S, N>(net, rtnl.held()) {
        notify_split(net, s, ifindex, false);
    }
    Ok(())
}

/// Unsplits `net`, freeing its half: with the RTNL token taken mutably, so that no half
/// borrowed through [`half`] is still in use.
fn detach<S: SplitOps<N>, const N: usize>(net: Net, rtnl: &mut Rtnl) {
    Half::<S, N>::detach(net, rtnl);
}

pub(crate) fn splitns_delete<S: SplitOps<N>, const N: usize>(req: &Request<'_>) -> Result {
    let net = req.net()?;
    let mut rtnl = RtnlGuard::lock();
    let (s, _) = half::<S, N>(net, rtnl.held()).ok_or_else(|| not_split(req))?;
    if let Some(name) = req.attr(splitns::NAME) {
        if name.string() != name_bytes(&s.info().name) {
            req.refuse(Some(&name), c"the split namespace has another name");
            return Err(ENOENT);
        }
    }
    detach::<S, N>(net, rtnl.held_mut());
    Ok(())
}

pub(crate) fn splitns_get<S: SplitOps<N>, const N: usize>(req: &Request<'_>) -> Result {
    let net = req.net()?;
    let mut m = Msg::reply(req)?;
    {
        let rtnl = RtnlGuard::lock();
        let (s, ifindex) = half::<S, N>(net, rtnl.held()).ok_or_else(|| not_split(req))?;
        fill_split(&mut m, s, ifindex)?;
    }
    m.send(req)
}

/// The namespace's split, if any: one entry, in one round.
pub(crate) fn splitns_dump<S: SplitOps<N>, const N: usize>(d: &mut Dump<'_>) -> Result<u32> {
    if d.cursor() != 0 {
        return Ok(0);
    }
    let net = d.net()?;
    {
        let rtnl = RtnlGuard::lock();
        if let Some((s, ifindex)) = half::<S, N>(net, rtnl.held()) {
            let mut e = d.entry(cmd::SPLITNS_GET)?;
            fill_split(&mut e, s, ifindex)?;
            e.end();
        }
    }
    d.set_cursor(1);
    Ok(d.len())
}

/// `port-add` and `port-del`: the same request, the same answers; `add` says which. On
/// success the other half gets our new snapshot and the monitor group hears of the port and the
/// claims that still hold it (a freed port has no owner).
pub(crate) fn port_change<S: SplitOps<N>, const N: usize>(req: &Request<'_>, add: bool) -> Result {
    let pa = req.require(port::PORT)?;
    let p = pa.u16().ok_or_else(|| malformed(req, &pa))?;
    let ca = req.attr(port::CLAIM);
    let claims = match &ca {
        Some(a) => a.u32().ok_or_else(|| malformed(req, a))?,
        None => claim::REGISTERED,
    };
    let net = req.net()?;
    let rtnl = RtnlGuard::lock();
    let (s, _) = half::<S, N>(net, rtnl.held()).ok_or_else(|| not_split(req))?;
    let done = if add {
        s.port_add(p, claims)
    } else {
        s.port_del(p, claims)
    };
    if let Err(r) = done {
        // A bad claim is the claim attribute's fault; anything else is the port's.
        let at = match &ca {
            Some(a) if r.err == EINVAL => a,
            _ => &pa,
        };
        req.refuse(Some(at), r.msg);
        return Err(r.err);
    }
    if let Some(h) = Half::<S, N>::of_net(net, rtnl.held()) {
        h.later(Later::Send);
    }
    notify_port(net, p, s.owner(p));
    Ok(())
}

pub(crate) fn port_get<S: SplitOps<N>, const N: usize>(req: &Request<'_>) -> Result {
    let pa = req.require(port::PORT)?;
    let p = pa.u16().ok_or_else(|| malformed(req, &pa))?;
    let net = req.net()?;
    let mut m = Msg::reply(req)?;
    let owner = {
        let rtnl = RtnlGuard::lock();
        let (s, _) = half::<S, N>(net, rtnl.held()).ok_or_else(|| not_split(req))?;
        s.owner(p)
    };
    let Some(o) = owner else {
        req.refuse(Some(&pa), c"no half claims the port");
        return Err(ENOENT);
    };
    fill_port(&mut m, p, Some(o))?;
    m.send(req)
}

/// Every claimed port of either half, in order; a full round ends where the next one starts.
pub(crate) fn port_dump<S: SplitOps<N>, const N: usize>(d: &mut Dump<'_>) -> Result<u32> {
    let mut from = d.cursor();
    let net = d.net()?;
    let mut full = false;
    {
        let rtnl = RtnlGuard::lock();
        if let Some((s, _)) = half::<S, N>(net, rtnl.held()) {
            while let Some((p, o)) = u32::try_from(from).ok().and_then(|f| s.next_port(f)) {
                let put = d.entry(cmd::PORT_GET).and_then(|mut e| {
                    fill_port(&mut e, p, Some(o))?;
                    e.end();
                    Ok(())
                });
                if put.is_err() {
                    full = true;
                    break;
                }
                from = u64::from(p) + 1;
            }
        }
    }
    d.set_cursor(from);
    match (full, d.len()) {
        // Not even one entry fits: the reader's buffer is too small.
        (true, 0) => Err(EMSGSIZE),
        (true, len) => Ok(len),
        // Done: what this round holds is sent with the dump's end.
        (false, _) => Ok(0),
    }
}

fn errno(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Handles a `doit` request with `f`.
///
/// # Safety
///
/// `info` is the request's, as the genetlink core passes it to the op's `doit`; `maxattr` is no
/// more than the op's `.maxattr`.
pub(crate) unsafe fn doit(
    info: *mut kernel::bindings::genl_info,
    maxattr: u16,
    f: impl FnOnce(&Request<'_>) -> Result,
) -> c_int {
    // SAFETY: per the function's contract.
    match unsafe { Request::from_raw(info, maxattr) } {
        Some(req) => errno(f(&req)),
        None => EINVAL.to_errno(),
    }
}

/// Runs a round of a dump with `f`: the bytes put in it (more to come), 0 (done) or an errno.
///
/// # Safety
///
/// `skb` and `cb` are the round's, as the genetlink core passes them to the op's `dumpit`.
pub(crate) unsafe fn dumpit(
    skb: *mut kernel::bindings::sk_buff,
    cb: *mut kernel::bindings::netlink_callback,
    f: impl FnOnce(&mut Dump<'_>) -> Result<u32>,
) -> c_int {
    // SAFETY: per the function's contract.
    let Some(mut d) = (unsafe { Dump::from_raw(skb, cb) }) else {
        return EINVAL.to_errno();
    };
    match f(&mut d) {
        Ok(len) => c_int::try_from(len).unwrap_or(c_int::MAX),
        Err(e) => e.to_errno(),
    }
}

/// Emits the family's `doit` and `dumpit` symbols that xpu_nl.c's ops table names
/// (`xpu_nl_*`, declared in xpu_nl.h), each a call of the function
/// here for the [`SplitOps`] `$t`. Invoked once, through [`super::export!`].
macro_rules! export_split_nl {
    ($t:ty, $name_len:expr) => {
        const _: () = {
            use ::kernel::{bindings, ffi::c_int};
            use $crate::net::split_nl as o;

            const N: usize = $name_len;

            /// # Safety
            ///
            /// Called by the genetlink core as the op's `doit`.
            #[no_mangle]
            unsafe extern "C" fn xpu_nl_splitns_get_doit(
                _skb: *mut bindings::sk_buff,
                info: *mut bindings::genl_info,
            ) -> c_int {
                // SAFETY: the core passes the request's info; the bound is the op's `.maxattr`.
                unsafe { o::doit(info, o::maxattr::SPLITNS_GET, o::splitns_get::<$t, N>) }
            }

            /// # Safety
            ///
            /// Called by the genetlink core as the op's `doit`.
            #[no_mangle]
            unsafe extern "C" fn xpu_nl_splitns_create_doit(
                _skb: *mut bindings::sk_buff,
                info: *mut bindings::genl_info,
            ) -> c_int {
                // SAFETY: the core passes the request's info; the bound is the op's `.maxattr`.
                unsafe { o::doit(info, o::maxattr::SPLITNS_CREATE, o::splitns_create::<$t, N>) }
            }

            /// # Safety
            ///
            /// Called by the genetlink core as the op's `doit`.
            #[no_mangle]
            unsafe extern "C" fn xpu_nl_splitns_delete_doit(
                _skb: *mut bindings::sk_buff,
                info: *mut bindings::genl_info,
            ) -> c_int {
                // SAFETY: the core passes the request's info; the bound is the op's `.maxattr`.
                unsafe { o::doit(info, o::maxattr::SPLITNS_DELETE, o::splitns_delete::<$t, N>) }
            }

            /// # Safety
            ///
            /// Called by the genetlink core as the op's `doit`.
            #[no_mangle]
            unsafe extern "C" fn xpu_nl_port_get_doit(
                _skb: *mut bindings::sk_buff,
                info: *mut bindings::genl_info,
            ) -> c_int {
                // SAFETY: the core passes the request's info; the bound is the op's `.maxattr`.
                unsafe { o::doit(info, o::maxattr::PORT_GET, o::port_get::<$t, N>) }
            }

            /// # Safety
            ///
            /// Called by the genetlink core as the op's `doit`.
            #[no_mangle]
            unsafe extern "C" fn xpu_nl_port_add_doit(
                _skb: *mut bindings::sk_buff,
                info: *mut bindings::genl_info,
            ) -> c_int {
                // SAFETY: the core passes the request's info; the bound is the op's `.maxattr`.
                unsafe {
                    o::doit(info, o::maxattr::PORT_CHANGE, |r| {
                        o::port_change::<$t, N>(r, true)
                    })
                }
            }

            /// # Safety
            ///
            /// Called by the genetlink core as the op's `doit`.
            #[no_mangle]
            unsafe extern "C" fn xpu_nl_port_del_doit(
                _skb: *mut bindings::sk_buff,
                info: *mut bindings::genl_info,
            ) -> c_int {
                // SAFETY: the core passes the request's info; the bound is the op's `.maxattr`.
                unsafe {
                    o::doit(info, o::maxattr::PORT_CHANGE, |r| {
                        o::port_change::<$t, N>(r, false)
                    })
                }
            }

            /// # Safety
            ///
            /// Called by the genetlink core as the op's `dumpit`.
            #[no_mangle]
            unsafe extern "C" fn xpu_nl_splitns_get_dumpit(
                skb: *mut bindings::sk_buff,
                cb: *mut bindings::netlink_callback,
            ) -> c_int {
                // SAFETY: the core passes the round's skb and callback.
                unsafe { o::dumpit(skb, cb, o::splitns_dump::<$t, N>) }
            }

            /// # Safety
            ///
            /// Called by the genetlink core as the op's `dumpit`.
            #[no_mangle]
            unsafe extern "C" fn xpu_nl_port_get_dumpit(
                skb: *mut bindings::sk_buff,
                cb: *mut bindings::netlink_callback,
            ) -> c_int {
                // SAFETY: the core passes the round's skb and callback.
                unsafe { o::dumpit(skb, cb, o::port_dump::<$t, N>) }
            }

            $crate::net::sys::same_signature!(
                xpu_nl_splitns_get_doit,
                xpu_nl_splitns_create_doit,
                xpu_nl_splitns_delete_doit,
                xpu_nl_port_get_doit,
                xpu_nl_port_add_doit,
                xpu_nl_port_del_doit,
                xpu_nl_splitns_get_dumpit,
                xpu_nl_port_get_dumpit,
            );
        };
    };
}
pub(crate) use export_split_nl;
