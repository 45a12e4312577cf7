// SPDX-License-Identifier: GPL-2.0

//! `xpuctl link`: create and delete xpu links over rtnetlink, with the xpu attributes that
//! `ip link` (iproute2 6.1) cannot send for a kind it does not know.

use std::{fmt, fs::File, io::Cursor, os::fd::AsRawFd};

use clap::{Args, Subcommand};
use neli::{
    consts::{
        nl::{NlmF, NlmsgerrAttr},
        rtnl::{Ifla, IflaInfo, RtAddrFamily, Rtm},
        socket::NlFamily,
    },
    err::{Nlmsgerr, NlmsghdrErr, RouterError},
    nl::{NlPayload, NlmsghdrBuilder},
    router::synchronous::NlRouter,
    rtnl::{Ifinfomsg, IfinfomsgBuilder, RtattrBuilder},
    socket::synchronous::NlSocketHandle,
    types::{Buffer, RtBuffer},
    utils::Groups,
    ToBytes,
};
use xpu_pod::cni::format_link_id;
use xpu_uapi::link::attr;

/// `enum xpu_link_role`, by value.
const ROLES: [&str; 3] = ["pair", "host", "dpu"];
/// `enum xpu_link_state`, by value.
const LINK_STATES: [&str; 3] = ["waiting", "connected", "mismatch"];
/// Interface names are at most 15 bytes (IFNAMSIZ - 1).
const IFNAMSIZ: usize = 16;

#[derive(Subcommand)]
pub(crate) enum LinkCommand {
    /// Create an xpu pair: NAME and its peer
    Add(AddArgs),
    /// Delete an xpu link (and so its peer)
    Del {
        /// Either end of the pair
        name: String,
    },
    /// Show an xpu link's configuration
    Show {
        /// The device
        name: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub(crate) struct AddArgs {
    /// Name of the new device
    name: String,
    /// Name of the peer (default: the first free xpuN)
    #[arg(long)]
    peer: Option<String>,
    /// Network namespace of the peer: a name under /run/netns, or a path
    #[arg(long)]
    peer_netns: Option<String>,
    /// Queue pairs on both ends (default: min(CPUs, 4))
    #[arg(long)]
    queues: Option<u32>,
    /// Descriptors per ring, a power of two (default 256)
    #[arg(long)]
    ring_size: Option<u32>,
}

/// Why a command failed, in words for the user, and the kernel's errno if it refused.
#[derive(Debug)]
pub(crate) struct Error {
    msg: String,
    errno: Option<i32>,
}

impl Error {
    /// The errno of the kernel's refusal, if that is what this is.
    pub(crate) fn errno(&self) -> Option<i32> {
        self.errno
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

pub(crate) fn err(msg: impl Into<String>) -> Error {
    Error {
        msg: msg.into(),
        errno: None,
    }
}

pub(crate) fn run(cmd: LinkCommand) -> Result<(), Error> {
    match cmd {
        LinkCommand::Add(a) => add(&a),
        LinkCommand::Del { name } => del(&name),
        LinkCommand::Show { name, json } => show(&name, json),
    }
}

fn check_name(what: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() >= IFNAMSIZ || name.contains(['/', ' ', '\0']) {
        return Err(err(format!(
            "invalid {what} name '{name}': 1 to {} characters, no '/' or spaces",
            IFNAMSIZ - 1
        )));
    }
    Ok(())
}

fn open_netns(ns: &str) -> Result<File, Error> {
    let path = if ns.contains('/') {
        ns.to_string()
    } else {
        format!("/run/netns/{ns}")
    };
    File::open(&path).map_err(|e| {
        err(format!(
            "cannot open network namespace '{ns}' ({path}): {e}"
        ))
    })
}

pub(crate) fn rtattr<T>(kind: Ifla, payload: T) -> Result<neli::rtnl::Rtattr<Ifla, Buffer>, Error>
where
    T: neli::Size + ToBytes,
{
    RtattrBuilder::default()
        .rta_type(kind)
        .rta_payload(payload)
        .build()
        .map_err(|e| err(format!("building attribute {kind:?}: {e}")))
}

/// One netlink attribute (type, length, payload, padding to 4 bytes) in raw form, for the
/// xpu attributes inside IFLA_INFO_DATA that neli has no enum for.
pub(crate) fn raw_attr(kind: u16, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let len = u16::try_from(4 + payload.len()).map_err(|_| err("attribute too large"))?;
    let mut out = Vec::with_capacity(usize::from(len) + 3);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
    Ok(out)
}

fn ifinfomsg(attrs: RtBuffer<Ifla, Buffer>) -> Result<Ifinfomsg, Error> {
    IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .rtattrs(attrs)
        .build()
        .map_err(|e| err(format!("building message: {e}")))
}

fn add(a: &AddArgs) -> Result<(), Error> {
    check_name("device", &a.name)?;
    if let Some(p) = &a.peer {
        check_name("peer", p)?;
        if *p == a.name && a.peer_netns.is_none() {
            return Err(err(format!(
                "the peer cannot also be named '{p}' in the same namespace"
            )));
        }
    }
    let netns = a.peer_netns.as_deref().map(open_netns).transpose()?;

    // The peer: an ifinfomsg and its own IFLA_* attributes, as for veth's peer.
    let mut peer_attrs = RtBuffer::new();
    if let Some(p) = &a.peer {
        peer_attrs.push(rtattr(Ifla::Ifname, format!("{p}\0").as_str())?);
    }
    if let Some(f) = &netns {
        peer_attrs.push(rtattr(Ifla::NetNsFd, f.as_raw_fd() as u32)?);
    }
    let mut peer = Cursor::new(Vec::new());
    ifinfomsg(peer_attrs)?
        .to_bytes(&mut peer)
        .map_err(|e| err(format!("encoding the peer: {e}")))?;
    // Range and power-of-two checks are the kernel's: its refusal says what is wrong.
    let mut info_data = raw_attr(attr::PEER_INFO, peer.get_ref())?;
    if let Some(q) = a.queues {
        info_data.extend(raw_attr(attr::QUEUES, &q.to_ne_bytes())?);
    }
    if let Some(r) = a.ring_size {
        info_data.extend(raw_attr(attr::RING_SIZE, &r.to_ne_bytes())?);
    }

    let mut info = RtBuffer::<IflaInfo, Buffer>::new();
    info.push(
        RtattrBuilder::default()
            .rta_type(IflaInfo::Kind)
            .rta_payload("xpu\0")
            .build()
            .map_err(|e| err(format!("building IFLA_INFO_KIND: {e}")))?,
    );
    info.push(
        RtattrBuilder::default()
            .rta_type(IflaInfo::Data)
            .rta_payload(Buffer::from(info_data))
            .build()
            .map_err(|e| err(format!("building IFLA_INFO_DATA: {e}")))?,
    );
    let mut attrs = RtBuffer::new();
    attrs.push(rtattr(Ifla::Ifname, format!("{}\0", a.name).as_str())?);
    attrs.push(rtattr(Ifla::Linkinfo, info)?);

    request(
        Rtm::Newlink,
        NlmF::CREATE | NlmF::EXCL | NlmF::ACK,
        ifinfomsg(attrs)?,
        &format!("cannot create {}", a.name),
    )
}

fn del(name: &str) -> Result<(), Error> {
    check_name("device", name)?;
    let mut attrs = RtBuffer::new();
    attrs.push(rtattr(Ifla::Ifname, format!("{name}\0").as_str())?);
    request(
        Rtm::Dellink,
        NlmF::ACK,
        ifinfomsg(attrs)?,
        &format!("cannot delete {name}"),
    )
}

/// Walks raw netlink attributes: (type, payload) pairs.
pub(crate) fn parse_attrs(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push((kind, &buf[4..len]));
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
    }
    out
}

/// RTM_GETLINK for device `name`: the kernel's answer, or an error starting with `what`.
pub(crate) fn getlink(name: &str, what: &str) -> Result<Ifinfomsg, Error> {
    let (rtnl, _) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
        .map_err(|e| err(format!("{what}: cannot open an rtnetlink socket: {e}")))?;
    let _ = rtnl.enable_ext_ack(true);
    let mut attrs = RtBuffer::new();
    attrs.push(rtattr(Ifla::Ifname, format!("{name}\0").as_str())?);
    let responses = rtnl
        .send::<_, _, Rtm, Ifinfomsg>(
            Rtm::Getlink,
            NlmF::ACK,
            NlPayload::Payload(ifinfomsg(attrs)?),
        )
        .map_err(|e| err(format!("{what}: {e}")))?;
    for r in responses {
        let msg = r.map_err(|e| match e {
            RouterError::Nlmsgerr(e) => refusal(what, &e),
            e => err(format!("{what}: {e}")),
        })?;
        if let NlPayload::Payload(info) = msg.nl_payload() {
            return Ok(info.clone());
        }
    }
    Err(err(format!("{what}: no answer from the kernel")))
}

/// Attribute `kind` of xpu link `name` as a `u32`: `None` if it has none, or `name` is not an
/// xpu link.
fn u32_attr(name: &str, kind: u16) -> Result<Option<u32>, Error> {
    check_name("device", name)?;
    let info = getlink(name, &format!("cannot read {name}"))?;
    let Ok(data) = xpu_data(&info) else {
        return Ok(None);
    };
    Ok(parse_attrs(&data)
        .into_iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, p)| p.try_into().ok().map(u32::from_ne_bytes)))
}

/// A PCI link's role ("host" or "dpu"; `None` for a pair link or another kind of device).
pub(crate) fn role(name: &str) -> Result<Option<&'static str>, Error> {
    Ok(u32_attr(name, attr::ROLE)?
        .and_then(|r| ROLES.get(r as usize).copied())
        .filter(|r| *r != "pair"))
}

/// A PCI link's number, the same at both ends (`None` while the DPU side cannot see the
/// host's, or for a pair link).
pub(crate) fn link_id(name: &str) -> Result<Option<u32>, Error> {
    u32_attr(name, attr::LINK_ID)
}

/// An xpu link's own attributes (IFLA_INFO_DATA), or why `info` is not an xpu link's.
fn xpu_data(info: &Ifinfomsg) -> Result<Vec<u8>, String> {
    let handle = info.rtattrs().get_attr_handle();
    let linkinfo = handle
        .get_nested_attributes::<IflaInfo>(Ifla::Linkinfo)
        .map_err(|_| "no link info".to_owned())?;
    let kind = linkinfo
        .get_attr_payload_as_with_len::<String>(IflaInfo::Kind)
        .unwrap_or_default();
    if kind.trim_end_matches('\0') != "xpu" {
        return Err(format!("kind '{kind}'"));
    }
    Ok(linkinfo
        .get_attribute(IflaInfo::Data)
        .map(|a| a.rta_payload().as_ref().to_vec())
        .unwrap_or_default())
}

fn show(name: &str, json: bool) -> Result<(), Error> {
    check_name("device", name)?;
    let what = format!("cannot show {name}");
    let info = getlink(name, &what)?;
    let data = xpu_data(&info).map_err(|why| err(format!("{what}: not an xpu link ({why})")))?;
    let (mut queues, mut ring, mut role, mut state, mut status) = (None, None, 0, None, None);
    let mut id = None;
    for (kind, payload) in parse_attrs(&data) {
        let v = payload.try_into().ok().map(u32::from_ne_bytes);
        match kind {
            attr::QUEUES => queues = v,
            attr::RING_SIZE => ring = v,
            attr::ROLE => role = v.unwrap_or(0),
            attr::LINK_STATE => state = v,
            attr::LINK_ID => id = v,
            attr::STATUS => {
                status = Some(
                    String::from_utf8_lossy(payload)
                        .trim_end_matches('\0')
                        .to_owned(),
                )
            }
            _ => {}
        }
    }
    let (q, r) = (queues.unwrap_or(0), ring.unwrap_or(0));
    let role = ROLES.get(role as usize).copied().unwrap_or("unknown");
    // PCI mode only: the handshake's state and its own words.
    let link = state.map(|s| {
        let s = LINK_STATES.get(s as usize).copied().unwrap_or("unknown");
        (s, status.unwrap_or_default())
    });
    if json {
        let mut out = format!("{{\"ifname\":\"{name}\",\"queues\":{q},\"ring_size\":{r}");
        if let Some((s, why)) = &link {
            // The kernel's status strings are plain ASCII without quotes or backslashes;
            // escape anyway rather than trust that.
            let why = crate::json_escape(why);
            out += &format!(",\"role\":\"{role}\",\"link_state\":\"{s}\",\"status\":\"{why}\"");
            if let Some(id) = id {
                out += &format!(",\"link_id\":\"{}\"", format_link_id(id));
            }
        }
        println!("{out}}}");
    } else {
        print!("{name}: queues {q} ring-size {r}");
        if let Some((s, why)) = link {
            print!(" role {role} link {s} ({why})");
            if let Some(id) = id {
                print!(" id {}", format_link_id(id));
            }
        }
        println!();
    }
    Ok(())
}

/// A kernel's refusal as an error: `what`, its extended-ack message if any, and its errno.
pub(crate) fn refusal<T, P>(what: &str, e: &Nlmsgerr<NlmsghdrErr<T, P>>) -> Error {
    let errno = std::io::Error::from_raw_os_error(-*e.error());
    let text = e
        .ext_ack()
        .get_attr_handle()
        .get_attr_payload_as_with_len::<String>(NlmsgerrAttr::Msg)
        .ok();
    let msg = match text {
        Some(t) => format!("{what}: {}: {errno}", t.trim_end_matches('\0')),
        None => format!("{what}: {errno}"),
    };
    Error {
        msg,
        errno: Some(-*e.error()),
    }
}

/// Sends one request and waits for its acknowledgement; a refusal becomes an error with the
/// kernel's errno and extended-ack message.
///
/// This uses neli's socket rather than its router: in neli 0.7.5 the router's typed errors
/// drop the extended ack (`Nlmsgerr::to_typed` does not carry it over), and the message is the
/// part of the answer users need most.
pub(crate) fn request<P>(kind: Rtm, flags: NlmF, msg: P, what: &str) -> Result<(), Error>
where
    P: neli::Size + ToBytes + fmt::Debug,
{
    let sock = NlSocketHandle::connect(NlFamily::Route, None, Groups::empty())
        .map_err(|e| err(format!("{what}: cannot open an rtnetlink socket: {e}")))?;
    // Best effort: older kernels lack them, and the request works without.
    let _ = sock.enable_ext_ack(true);
    let _ = sock.enable_strict_checking(true);
    let hdr = NlmsghdrBuilder::default()
        .nl_type(kind)
        .nl_flags(flags | NlmF::REQUEST | NlmF::ACK)
        .nl_seq(1)
        .nl_payload(NlPayload::Payload(msg))
        .build()
        .map_err(|e| err(format!("{what}: {e}")))?;
    sock.send(&hdr).map_err(|e| err(format!("{what}: {e}")))?;
    loop {
        let (msgs, _) = sock
            .recv::<u16, Buffer>()
            .map_err(|e| err(format!("{what}: {e}")))?;
        for m in msgs {
            let m = m.map_err(|e| err(format!("{what}: {e}")))?;
            match m.nl_payload() {
                NlPayload::Ack(_) => return Ok(()),
                NlPayload::Err(e) => return Err(refusal(what, e)),
                _ => {}
            }
        }
    }
}
