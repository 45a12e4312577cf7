// SPDX-License-Identifier: GPL-2.0

//! `xpuctl splitns create --edge`: the DPU half is the pod's edge. The host half has no uplink:
//! its default route is the link, through a gateway address nobody holds (169.254.1.1, as
//! Calico's pods have), which the DPU half answers for by proxy ARP. The DPU half forwards what
//! comes in on the link out of the pod (it holds the pod address too, hence `accept_local`),
//! and the kernel sends what comes in from outside for the host's ports across the link.
//! Nothing is translated: the application sees its clients, and servers see the pod address.

use std::{fs, net::Ipv4Addr};

use neli::{
    consts::{
        nl::NlmF,
        rtnl::{RtAddrFamily, RtScope, RtTable, Rta, Rtm, RtmF, Rtn, Rtprot},
    },
    rtnl::{Rtattr, RtattrBuilder, RtmsgBuilder},
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

/// One sysctl of the current network namespace, e.g. `net/ipv4/conf/xpu0/proxy_arp`.
fn sysctl(key: &str, value: &str) -> Result<(), Error> {
    let path = format!("/proc/sys/{key}");
    fs::write(&path, value).map_err(|e| err(format!("cannot set {path} to {value}: {e}")))
}

/// Makes this half, split over `dev` (`ifindex`), part of a pod whose edge is the DPU half.
pub(crate) fn setup(half: Half, dev: &str, ifindex: u32) -> Result<(), Error> {
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
            Ok(())
        }
    }
}

/// Undoes `setup` on the host half: the default route through the link, if it is there.
pub(crate) fn teardown(half: Half, ifindex: u32) -> Result<(), Error> {
    if half != Half::Host {
        return Ok(());
    }
    match default_route(
        Rtm::Delroute,
        NlmF::empty(),
        ifindex,
        "cannot remove the default route through the link",
    ) {
        // No such route: the user removed it, or the half was split without --edge.
        Err(e) if e.errno() == Some(rustix::io::Errno::SRCH.raw_os_error()) => Ok(()),
        r => r,
    }
}
