// SPDX-License-Identifier: GPL-2.0

//! `xpuctl splitns create --edge`: the DPU half is the pod's edge. The host half has no uplink:
//! its default route is the link, through a gateway address nobody holds (169.254.1.1, as
//! Calico's pods have), which the DPU half answers for by proxy ARP. The DPU half forwards what
//! comes in on the link out of the pod (it holds the pod address too, hence `accept_local`),
//! and the kernel sends what comes in from outside for the host's ports across the link.
//! Nothing is translated: the application sees its clients, and servers see the pod address.
//! The DPU half's link also carries the pod address (/32): a REDIRECT of what comes in on it
//! (the host half's connections, to the sidecar: `splitns intercept`) goes to the link's
//! address, and without one it drops the packet.

use std::{fs, net::Ipv4Addr};

use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Ifa, RtAddrFamily, RtScope, RtTable, Rta, Rtm, RtmF, Rtn, Rtprot},
    },
    rtnl::{IfaddrmsgBuilder, Rtattr, RtattrBuilder, RtmsgBuilder},
    types::{Buffer, RtBuffer},
};
use xpu_uapi::sync::Half;

use crate::link::{err, request, Error};

/// The host half's gateway: link-local, held by no one; the DPU half's proxy ARP answers.
pub(crate) const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// `RTNH_F_ONLINK`: the gateway is on the link though no address of ours covers it.
const RTNH_F_ONLINK: u32 = 4;

fn rta(kind: Rta, payload: Vec<u8>) -> Result<Rtattr<Rta, Buffer>, Error> {
    RtattrBuilder::default()
        .rta_type(kind)
        .rta_payload(Buffer::from(payload))
        .build()
        .map_err(|e| err(format!("building attribute {kind:?}: {e}")))
}

/// RTM_NEWROUTE or RTM_DELROUTE of `default via GATEWAY dev IFINDEX onlink`.
fn default_route(kind: Rtm, flags: NlmF, ifindex: u32, what: &str) -> Result<(), Error> {
    let mut attrs = RtBuffer::new();
    attrs.push(rta(Rta::Gateway, GATEWAY.octets().to_vec())?);
    attrs.push(rta(Rta::Oif, ifindex.to_ne_bytes().to_vec())?);
    let msg = RtmsgBuilder::default()
        .rtm_family(RtAddrFamily::Inet)
        .rtm_dst_len(0)
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(RtTable::Main)
        .rtm_protocol(Rtprot::Static)
        .rtm_scope(RtScope::Universe)
        .rtm_type(Rtn::Unicast)
        .rtm_flags(RtmF::from_bits_retain(RTNH_F_ONLINK))
        .rtattrs(attrs)
        .build()
        .map_err(|e| err(format!("{what}: {e}")))?;
    request(kind, flags, msg, what)
}

/// RTM_NEWADDR or RTM_DELADDR of `addr/32` on the link `ifindex`.
fn link_address(kind: Rtm, ifindex: u32, addr: Ipv4Addr, what: &str) -> Result<(), Error> {
    let mut attrs = RtBuffer::new();
    for a in [Ifa::Local, Ifa::Address] {
        attrs.push(
            RtattrBuilder::default()
                .rta_type(a)
                .rta_payload(Buffer::from(addr.octets().to_vec()))
                .build()
                .map_err(|e| err(format!("{what}: {e}")))?,
        );
    }
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(RtAddrFamily::Inet)
        .ifa_prefixlen(32)
        .ifa_scope(RtScope::Universe)
        .ifa_index(ifindex)
        .rtattrs(attrs)
        .build()
        .map_err(|e| err(format!("{what}: {e}")))?;
    let flags = if kind == Rtm::Newaddr {
        NlmF::CREATE | NlmF::EXCL
    } else {
        NlmF::empty()
    };
    request(kind, flags, msg, what)
}

/// One sysctl of the current network namespace, e.g. `net/ipv4/conf/xpu0/proxy_arp`.
fn sysctl(key: &str, value: &str) -> Result<(), Error> {
    let path = format!("/proc/sys/{key}");
    fs::write(&path, value).map_err(|e| err(format!("cannot set {path} to {value}: {e}")))
}

/// Makes this half of pod `addr`, split over `dev` (`ifindex`), part of a pod whose edge is the
/// DPU half.
pub(crate) fn setup(half: Half, dev: &str, ifindex: u32, addr: Ipv4Addr) -> Result<(), Error> {
    match half {
        // Refused (EEXIST) if the half has a default route already: it would have an uplink
        // of its own, which --edge says it has not.
        Half::Host => default_route(
            Rtm::Newroute,
            NlmF::CREATE | NlmF::EXCL,
            ifindex,
            &format!("cannot route the host half out through {dev} (default via {GATEWAY})"),
        ),
        // Forwarding on the link only (what comes in on it goes out), not the namespace's:
        // the DPU half routes for the host half and for nothing else.
        Half::Dpu => {
            for (key, value) in [
                (format!("net/ipv4/conf/{dev}/forwarding"), "1"),
                (format!("net/ipv4/conf/{dev}/accept_local"), "1"),
                (format!("net/ipv4/conf/{dev}/proxy_arp"), "1"),
                (format!("net/ipv4/neigh/{dev}/proxy_delay"), "0"),
            ] {
                sysctl(&key, value)?;
            }
            match link_address(
                Rtm::Newaddr,
                ifindex,
                addr,
                &format!("cannot add {addr}/32 to {dev}"),
            ) {
                // The user gave the link the pod address already.
                Err(e) if e.errno() == Some(rustix::io::Errno::EXIST.raw_os_error()) => Ok(()),
                r => r,
            }
        }
    }
}

/// Undoes `setup` on the half split over `dev` (`ifindex`): the host half's default route
/// through the link; the DPU half's pod address on the link and its sysctls, if `proxy_arp` on
/// the link says `setup` set them (nothing else does). What is not there is no error.
pub(crate) fn teardown(half: Half, dev: &str, ifindex: u32, addr: Ipv4Addr) -> Result<(), Error> {
    let (r, gone) = match half {
        Half::Host => (
            default_route(
                Rtm::Delroute,
                NlmF::empty(),
                ifindex,
                "cannot remove the default route through the link",
            ),
            rustix::io::Errno::SRCH,
        ),
        Half::Dpu => {
            let marker = format!("/proc/sys/net/ipv4/conf/{dev}/proxy_arp");
            if !fs::read_to_string(&marker).is_ok_and(|v| v.trim() == "1") {
                return Ok(());
            }
            for key in ["forwarding", "accept_local", "proxy_arp"] {
                sysctl(&format!("net/ipv4/conf/{dev}/{key}"), "0")?;
            }
            (
                link_address(
                    Rtm::Deladdr,
                    ifindex,
                    addr,
                    &format!("cannot remove {addr}/32 from {dev}"),
                ),
                rustix::io::Errno::ADDRNOTAVAIL,
            )
        }
    };
    match r {
        // Not there: the user removed it.
        Err(e) if e.errno() == Some(gone.raw_os_error()) => Ok(()),
        r => r,
    }
}
