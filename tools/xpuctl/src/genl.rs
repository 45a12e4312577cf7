// SPDX-License-Identifier: GPL-2.0

//! A client of the `xpu` generic-netlink family (uapi/xpu.yaml): neli resolves the family and
//! frames the messages; requests and answers are lists of raw attributes, read with the
//! constants of `xpu_uapi::genl`.

use neli::{
    consts::{nl::NlmF, socket::NlFamily},
    nl::{NlPayload, NlmsghdrBuilder},
    router::synchronous::NlRouter,
    socket::synchronous::NlSocketHandle,
    types::Buffer,
    utils::Groups,
};
use xpu_uapi::genl::{FAMILY_NAME, FAMILY_VERSION};

use crate::{
    link::{err, parse_attrs, raw_attr, refusal, Error},
    Attrs,
};

/// An open `xpu` family.
pub(crate) struct Family {
    sock: NlSocketHandle,
    id: u16,
}

/// One answer: its attributes, in order.
pub(crate) type Reply = Vec<(u16, Vec<u8>)>;

impl Family {
    pub(crate) fn open() -> Result<Self, Error> {
        let (router, _) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| err(format!("cannot open a generic-netlink socket: {e}")))?;
        let id = router.resolve_genl_family(FAMILY_NAME).map_err(|_| {
            err("the kernel has no xpu generic-netlink family: load the module (modprobe xpu)")
        })?;
        let sock = NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| err(format!("cannot open a generic-netlink socket: {e}")))?;
        // Best effort: older kernels lack them, and requests work without.
        let _ = sock.enable_ext_ack(true);
        let _ = sock.enable_strict_checking(true);
        Ok(Self { sock, id })
    }

    /// Sends command `cmd` with `attrs` and collects the answers: one for a `do` that has a
    /// reply, none for one that has only an acknowledgement, any number for a dump. A refusal
    /// becomes an error with the kernel's errno and extended-ack message.
    pub(crate) fn request(
        &self,
        cmd: u8,
        attrs: &Attrs,
        dump: bool,
        what: &str,
    ) -> Result<Vec<Reply>, Error> {
        let mut payload = vec![cmd, FAMILY_VERSION, 0, 0];
        for (kind, value) in attrs {
            payload.extend(raw_attr(*kind, value)?);
        }
        let flags = NlmF::REQUEST | NlmF::ACK | if dump { NlmF::DUMP } else { NlmF::empty() };
        let hdr = NlmsghdrBuilder::default()
            .nl_type(self.id)
            .nl_flags(flags)
            .nl_seq(1)
            .nl_payload(NlPayload::Payload(Buffer::from(payload)))
            .build()
            .map_err(|e| err(format!("{what}: {e}")))?;
        self.sock
            .send(&hdr)
            .map_err(|e| err(format!("{what}: {e}")))?;
        let mut out = Vec::new();
        loop {
            let (msgs, _) = self
                .sock
                .recv::<u16, Buffer>()
                .map_err(|e| err(format!("{what}: {e}")))?;
            for m in msgs {
                let m = m.map_err(|e| err(format!("{what}: {e}")))?;
                match m.nl_payload() {
                    NlPayload::Ack(_) | NlPayload::DumpExtAck(_) => return Ok(out),
                    NlPayload::Err(e) => return Err(refusal(what, e)),
                    NlPayload::Payload(p) => {
                        let bytes: &[u8] = p.as_ref();
                        let attrs = bytes.get(4..).unwrap_or_default();
                        out.push(
                            parse_attrs(attrs)
                                .into_iter()
                                .map(|(k, v)| (k, v.to_vec()))
                                .collect(),
                        );
                    }
                    NlPayload::Empty => {
                        // NLMSG_DONE of a dump without an extended ack.
                        if *m.nl_type() == NLMSG_DONE {
                            return Ok(out);
                        }
                    }
                }
            }
        }
    }
}

/// `NLMSG_DONE`.
const NLMSG_DONE: u16 = 3;

/// The payload of attribute `kind` in `reply`.
pub(crate) fn get(reply: &Reply, kind: u16) -> Option<&[u8]> {
    reply
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| v.as_slice())
}

pub(crate) fn get_u16(reply: &Reply, kind: u16) -> Option<u16> {
    get(reply, kind)?.try_into().ok().map(u16::from_ne_bytes)
}

pub(crate) fn get_u32(reply: &Reply, kind: u16) -> Option<u32> {
    get(reply, kind)?.try_into().ok().map(u32::from_ne_bytes)
}

/// A `uint` attribute: 4 or 8 bytes.
pub(crate) fn get_uint(reply: &Reply, kind: u16) -> Option<u64> {
    let v = get(reply, kind)?;
    match v.len() {
        4 => v.try_into().ok().map(u32::from_ne_bytes).map(u64::from),
        8 => v.try_into().ok().map(u64::from_ne_bytes),
        _ => None,
    }
}

pub(crate) fn get_string(reply: &Reply, kind: u16) -> Option<String> {
    get(reply, kind).map(|v| String::from_utf8_lossy(v).trim_end_matches('\0').to_owned())
}
