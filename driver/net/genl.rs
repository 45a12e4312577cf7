// SPDX-License-Identifier: GPL-2.0

//! Generic netlink at the C boundary, for the `xpu` family's handlers: a request and its
//! attributes ([`Request`], [`Attr`]), a reply or notification being built ([`Msg`]) and a
//! dump's round ([`Dump`]). C has these as static inline functions of include/net/genetlink.h
//! and include/net/netlink.h; here they are the kernel's exported functions (`nla_put`,
//! `genlmsg_put`), the kernel crate's helpers (`genlmsg_new`, `genlmsg_end`, `genlmsg_cancel`,
//! `nlmsg_free`) and driver/xpu_split.c's one-line wrappers for the rest. The kernel crate's
//! `net::netlink` of 7.3 only builds multicast messages of `init_net`.
//!
//! The family itself (ops table, policies) is C generated from uapi/xpu.yaml (xpu_nl.c): the
//! genetlink core has parsed and validated a request's attributes against its op's policy
//! before a handler sees it.

use core::{fmt, marker::PhantomData, ptr::NonNull};

use kernel::{
    bindings,
    ffi::{c_int, c_void},
    prelude::*,
};

use super::{cstr::CStrWriter, sys};

/// `NLA_HDRLEN`: an attribute's header, aligned.
const NLA_HDRLEN: usize = 4;
/// `NLMSG_GOODSIZE` is a page less the skb's overhead; a message of ours is far smaller.
const MSG_SIZE: usize = bindings::GENLMSG_DEFAULT_SIZE;

/// A network namespace a request or dump is about.
///
/// # Invariants
///
/// `0` points at a live `struct net` for as long as the request or dump it came from runs.
#[derive(Clone, Copy)]
pub(crate) struct Net(NonNull<bindings::net>);

impl Net {
    /// # Safety
    ///
    /// `net` is null or a namespace that stays live for as long as the result is used.
    pub(super) unsafe fn from_raw(net: *mut bindings::net) -> Option<Self> {
        NonNull::new(net).map(Self)
    }

    pub(super) fn as_ptr(self) -> *mut bindings::net {
        self.0.as_ptr()
    }
}

/// An attribute of a request, validated against its op's policy.
///
/// # Invariants
///
/// `nla` points at an attribute of the request's message, `nla_len` bytes long with its header
/// (the core checked that it lies within the message), valid for `'a`.
pub(crate) struct Attr<'a> {
    nla: NonNull<bindings::nlattr>,
    _request: PhantomData<&'a ()>,
}

impl<'a> Attr<'a> {
    /// The attribute at `nla`, if there is one.
    ///
    /// # Safety
    ///
    /// `nla` is null or an attribute that netlink parsed (its length checked against its
    /// message), valid for `'a`.
    pub(super) unsafe fn from_raw(nla: *mut bindings::nlattr) -> Option<Self> {
        // INVARIANT: per the function's contract.
        Some(Self {
            nla: NonNull::new(nla)?,
            _request: PhantomData,
        })
    }

    pub(super) fn as_ptr(&self) -> *const bindings::nlattr {
        self.nla.as_ptr()
    }

    /// The attribute's payload.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        // SAFETY: the header is valid per the type invariant.
        let len = usize::from(unsafe { (*self.nla.as_ptr()).nla_len });
        // SAFETY: per the type invariant, `nla_len` bytes from `nla` are the attribute; the
        // payload is what follows the header (none if `nla_len` is the header's).
        unsafe {
            core::slice::from_raw_parts(
                self.nla.as_ptr().cast::<u8>().add(NLA_HDRLEN),
                len.saturating_sub(NLA_HDRLEN),
            )
        }
    }

    /// The payload's first `N` bytes: the value of a fixed-size attribute (the policy has
    /// checked its length; a shorter one reads as `None`).
    pub(crate) fn array<const N: usize>(&self) -> Option<[u8; N]> {
        self.bytes().get(..N)?.try_into().ok()
    }

    /// `nla_get_u16`.
    pub(crate) fn u16(&self) -> Option<u16> {
        self.array().map(u16::from_ne_bytes)
    }

    /// `nla_get_u32`.
    pub(crate) fn u32(&self) -> Option<u32> {
        self.array().map(u32::from_ne_bytes)
    }

    /// A string attribute's bytes, up to its NUL (`NLA_NUL_STRING`: the policy checked there is
    /// one, within the maximum length).
    pub(crate) fn string(&self) -> &'a [u8] {
        let b = self.bytes();
        &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
    }
}

/// A `doit` request of the family.
///
/// # Invariants
///
/// `info` is the request's `genl_info`, valid for `'a`; its `attrs` is null or holds
/// `maxattr + 1` entries (the op's policy's).
pub(crate) struct Request<'a> {
    info: NonNull<bindings::genl_info>,
    maxattr: u16,
    _request: PhantomData<&'a ()>,
}

impl Request<'_> {
    /// # Safety
    ///
    /// `info` is the `genl_info` of a request being handled, for as long as the result lives;
    /// `maxattr` is the `.maxattr` of the op it was parsed for (xpu_nl.c), or 0 for an op
    /// without a policy.
    pub(super) unsafe fn from_raw(info: *mut bindings::genl_info, maxattr: u16) -> Option<Self> {
        Some(Self {
            info: NonNull::new(info)?,
            maxattr,
            _request: PhantomData,
        })
    }

    fn info(&self) -> &bindings::genl_info {
        // SAFETY: valid per the type invariant.
        unsafe { self.info.as_ref() }
    }

    /// The namespace the request was sent from (the core always sets one).
    pub(crate) fn net(&self) -> Result<Net> {
        // SAFETY: `info` is valid per the type invariant.
        let net = unsafe { sys::xpu_genl_info_net(self.info.as_ptr()) };
        // INVARIANT: the socket the request came from holds its namespace for the request.
        NonNull::new(net).map(Net).ok_or(EINVAL)
    }

    /// Attribute `t`, if the request has it.
    pub(crate) fn attr(&self, t: u16) -> Option<Attr<'_>> {
        let attrs = self.info().attrs;
        if attrs.is_null() || t > self.maxattr {
            return None;
        }
        // SAFETY: `attrs` has `maxattr + 1` entries per the type invariant, and `t <= maxattr`.
        let nla = unsafe { *attrs.add(usize::from(t)) };
        // SAFETY: the core parsed it from the message, which outlives the request.
        unsafe { Attr::from_raw(nla) }
    }

    /// Attribute `t`, which the request must have: without it, EINVAL and the extack's missing
    /// attribute (`GENL_REQ_ATTR_CHECK`).
    pub(crate) fn require(&self, t: u16) -> Result<Attr<'_>> {
        if let Some(a) = self.attr(t) {
            return Ok(a);
        }
        let ext = self.info().extack;
        if !ext.is_null() {
            // SAFETY: the request's extack, valid per the type invariant.
            unsafe {
                (*ext).miss_type = t;
                (*ext).miss_nest = core::ptr::null();
            }
        }
        Err(EINVAL)
    }

    /// Says why the request is refused, pointing at `attr` if it is the culprit.
    pub(crate) fn refuse(&self, attr: Option<&Attr<'_>>, msg: &'static CStr) {
        let attr = attr.map_or(core::ptr::null(), Attr::as_ptr);
        // SAFETY: the extack (which may be null) and the attribute are the request's; the
        // message is static, as the extack keeps a pointer to it.
        unsafe { sys::xpu_extack(self.info().extack, attr, msg.as_char_ptr()) };
    }

    /// Says why the request is refused, in words made now (`NL_SET_ERR_MSG_FMT`: into the
    /// extack's own buffer, cut at its 80 bytes).
    pub(crate) fn refuse_fmt(&self, args: fmt::Arguments<'_>) {
        let ext = self.info().extack;
        if ext.is_null() {
            return;
        }
        // SAFETY: the request's extack, valid per the type invariant and not otherwise
        // borrowed while the handler runs.
        let ext = unsafe { &mut *ext };
        // A message longer than the buffer is cut, as snprintf() would; not an error.
        let _ = fmt::write(&mut CStrWriter::new(&mut ext._msg_buf), args);
        ext._msg = ext._msg_buf.as_ptr();
        // SAFETY: a NUL-terminated string, as the tracepoint wants.
        unsafe { bindings::do_trace_netlink_extack(ext._msg) };
    }
}

/// Puts attributes into a message being built.
///
/// # Safety
///
/// [`Put::skb`] returns the skb of a message being built, live and not otherwise used for as
/// long as the implementor lives.
pub(crate) unsafe trait Put {
    /// The message's skb.
    fn skb(&mut self) -> *mut bindings::sk_buff;

    /// `nla_put`: EMSGSIZE when the message has no room.
    fn put(&mut self, t: u16, v: &[u8]) -> Result {
        let len = c_int::try_from(v.len()).map_err(|_| EMSGSIZE)?;
        // SAFETY: the skb is a message's being built, live (the trait's contract); `v` is
        // readable for `len` bytes.
        let r = unsafe { bindings::nla_put(self.skb(), c_int::from(t), len, v.as_ptr().cast()) };
        if r == 0 {
            Ok(())
        } else {
            Err(EMSGSIZE)
        }
    }

    fn put_u16(&mut self, t: u16, v: u16) -> Result {
        self.put(t, &v.to_ne_bytes())
    }

    fn put_u32(&mut self, t: u16, v: u32) -> Result {
        self.put(t, &v.to_ne_bytes())
    }

    /// `nla_put_uint`: 4 bytes when the value fits, else 8.
    fn put_uint(&mut self, t: u16, v: u64) -> Result {
        match u32::try_from(v) {
            Ok(v) => self.put_u32(t, v),
            Err(_) => self.put(t, &v.to_ne_bytes()),
        }
    }

    /// `nla_put_string` of the bytes of `s` up to its first NUL (all of it if it has none).
    fn put_string(&mut self, t: u16, s: &[u8]) -> Result {
        let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
        let mut buf = [0u8; 256];
        let out = buf.get_mut(..s.len() + 1).ok_or(EMSGSIZE)?;
        out[..s.len()].copy_from_slice(s);
        self.put(t, out)
    }
}

/// A reply or notification being built: an skb of its own, with the genetlink header in it.
///
/// # Invariants
///
/// `skb` is owned (freed on drop unless sent); `hdr` is the header in it.
pub(crate) struct Msg {
    skb: NonNull<bindings::sk_buff>,
    hdr: NonNull<c_void>,
}

impl Msg {
    fn new(put: impl FnOnce(*mut bindings::sk_buff) -> *mut c_void) -> Result<Self> {
        // SAFETY: no preconditions.
        let skb = NonNull::new(unsafe { bindings::genlmsg_new(MSG_SIZE, bindings::GFP_KERNEL) })
            .ok_or(ENOMEM)?;
        match NonNull::new(put(skb.as_ptr())) {
            Some(hdr) => Ok(Self { skb, hdr }),
            None => {
                // SAFETY: ours, allocated above.
                unsafe { bindings::nlmsg_free(skb.as_ptr()) };
                Err(EMSGSIZE)
            }
        }
    }

    /// A reply to `req` (`genlmsg_iput`).
    pub(crate) fn reply(req: &Request<'_>) -> Result<Self> {
        // SAFETY: a fresh skb, and the request's info (valid per its invariant).
        Self::new(|skb| unsafe { sys::xpu_genl_iput(skb, req.info.as_ptr()) })
    }

    /// A notification `cmd` for the family's monitor group.
    pub(crate) fn notification(cmd: u8) -> Result<Self> {
        // SAFETY: a fresh skb; the family is registered while the module's split machinery is.
        Self::new(|skb| unsafe {
            bindings::genlmsg_put(skb, 0, 0, &raw const sys::xpu_nl_family, 0, cmd)
        })
    }

    /// Ends the message and gives up the skb.
    fn finish(self) -> *mut bindings::sk_buff {
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: the header is the skb's, per the type invariant.
        unsafe { bindings::genlmsg_end(me.skb.as_ptr(), me.hdr.as_ptr()) };
        me.skb.as_ptr()
    }

    /// Sends the reply (`genlmsg_reply`).
    pub(crate) fn send(self, req: &Request<'_>) -> Result {
        let skb = self.finish();
        // SAFETY: the skb is ours to hand over (the call consumes it); the request's info is
        // valid per its invariant.
        kernel::error::to_result(unsafe { sys::xpu_genl_reply(skb, req.info.as_ptr()) })
    }

    /// Multicasts the notification to `net`'s listeners of the monitor group.
    pub(crate) fn multicast(self, net: Net) {
        let skb = self.finish();
        // SAFETY: the skb is ours to hand over (the call consumes it); `net` is live per its
        // invariant.
        unsafe { sys::xpu_genl_ntf_send(net.as_ptr(), skb) };
    }
}

// SAFETY: the skb is owned by the message (the type invariant) until it is sent, which
// consumes the message.
unsafe impl Put for Msg {
    fn skb(&mut self) -> *mut bindings::sk_buff {
        self.skb.as_ptr()
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        // SAFETY: owned per the type invariant, and not sent (sending forgets `self`).
        unsafe { bindings::nlmsg_free(self.skb.as_ptr()) };
    }
}

/// Whether `net` has listeners in the family's monitor group: a notification nobody hears is
/// not built.
pub(crate) fn notification_wanted(net: Net) -> bool {
    // SAFETY: `net` is live per its invariant.
    unsafe { sys::xpu_genl_ntf_wanted(net.as_ptr()) }
}

/// One round of a dump: the skb to fill, and where the previous round stopped.
///
/// # Invariants
///
/// `skb` and `cb` are the round's, valid for `'a`.
pub(crate) struct Dump<'a> {
    skb: NonNull<bindings::sk_buff>,
    cb: NonNull<bindings::netlink_callback>,
    _round: PhantomData<&'a ()>,
}

impl Dump<'_> {
    /// # Safety
    ///
    /// `skb` and `cb` are the arguments of a `dumpit` call, for as long as the result lives.
    pub(super) unsafe fn from_raw(
        skb: *mut bindings::sk_buff,
        cb: *mut bindings::netlink_callback,
    ) -> Option<Self> {
        Some(Self {
            skb: NonNull::new(skb)?,
            cb: NonNull::new(cb)?,
            _round: PhantomData,
        })
    }

    /// The dumping socket's namespace.
    pub(crate) fn net(&self) -> Result<Net> {
        // SAFETY: the round's skb, whose socket is the dumping one.
        let net = unsafe { sys::xpu_genl_dump_net(self.skb.as_ptr()) };
        // INVARIANT: the socket holds its namespace for the dump.
        NonNull::new(net).map(Net).ok_or(EINVAL)
    }

    /// Where the previous round stopped (0 in the first).
    pub(crate) fn cursor(&self) -> u64 {
        // SAFETY: `cb` is valid per the type invariant; `args` is the dump's to use.
        let v = unsafe { (*self.cb.as_ptr()).__bindgen_anon_1.args[0] };
        u64::try_from(v).unwrap_or(0)
    }

    /// Where the next round starts.
    pub(crate) fn set_cursor(&mut self, v: u64) {
        // SAFETY: as in `cursor`.
        unsafe {
            (*self.cb.as_ptr()).__bindgen_anon_1.args[0] =
                kernel::ffi::c_long::try_from(v).unwrap_or(kernel::ffi::c_long::MAX)
        };
    }

    /// Bytes of the round's skb so far: a round that put nothing and found no room is an error.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: the round's skb.
        unsafe { sys::xpu_skb_len(self.skb.as_ptr()) }
    }

    /// Starts an entry `cmd`; EMSGSIZE when the skb is full.
    pub(crate) fn entry(&mut self, cmd: u8) -> Result<DumpEntry<'_>> {
        // SAFETY: the round's skb and callback.
        let hdr = unsafe { sys::xpu_genl_dump_put(self.skb.as_ptr(), self.cb.as_ptr(), cmd) };
        Ok(DumpEntry {
            skb: self.skb,
            hdr: NonNull::new(hdr).ok_or(EMSGSIZE)?,
            _dump: PhantomData,
        })
    }
}

/// An entry of a dump round being built: cancelled on drop unless ended.
///
/// # Invariants
///
/// `hdr` is the entry's header in `skb`, the round's.
pub(crate) struct DumpEntry<'d> {
    skb: NonNull<bindings::sk_buff>,
    hdr: NonNull<c_void>,
    _dump: PhantomData<&'d mut ()>,
}

impl DumpEntry<'_> {
    /// Keeps the entry in the round.
    pub(crate) fn end(self) {
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: per the type invariant.
        unsafe { bindings::genlmsg_end(me.skb.as_ptr(), me.hdr.as_ptr()) };
    }
}

// SAFETY: the skb is the dump round's, live for `'d` (the type invariant); the entry borrows
// the round mutably, so nothing else puts into it meanwhile.
unsafe impl Put for DumpEntry<'_> {
    fn skb(&mut self) -> *mut bindings::sk_buff {
        self.skb.as_ptr()
    }
}

impl Drop for DumpEntry<'_> {
    fn drop(&mut self) {
        // SAFETY: per the type invariant; the entry was not ended.
        unsafe { bindings::genlmsg_cancel(self.skb.as_ptr(), self.hdr.as_ptr()) };
    }
}
