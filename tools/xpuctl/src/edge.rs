// SPDX-License-Identifier: GPL-2.0

//! `xpuctl splitns create --edge`: the DPU half is the pod's edge. The host half has no uplink:
//! its default route is the link, through a gateway address nobody holds (169.254.1.1, as
//! Calico's pods have), which the DPU half answers for by proxy ARP. The DPU half forwards what
//! comes in on the link out of the pod (it holds the pod address too, hence `accept_local`),
//! and the kernel sends what comes in from outside for the host's ports across the link.
//! Nothing is translated: the application sees its clients, and servers see the pod address.
//! The DPU half's link also carries the pod address (/32): a REDIRECT of what comes in on it
//! (the host half's connections, to the sidecar: `splitns intercept`) goes to the link's
//! address, and without one it drops the packet. IPv6 alike, with the pod's IPv6 address
//! (/128) and a gateway the DPU half's link holds (fe80::1), as IPv6 has no proxy ARP.

use std::{
    fs,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Ifa, IfaF, RtAddrFamily, RtScope, RtTable, Rta, Rtm, RtmF, Rtn, Rtprot},
    },
    rtnl::{IfaddrmsgBuilder, Rtattr, RtattrBuilder, RtmsgBuilder},
    types::{Buffer, RtBuffer},
};
use rustix::io::Errno;
use xpu_uapi::sync::Half;

use crate::link::{err, request, Error};

/// The host half's gateway: link-local, held by no one; the DPU half's proxy ARP answers.
pub(crate) const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// The host half's IPv6 gateway. IPv6 has no proxy ARP for a gateway nobody holds; the DPU
/// half's link holds this one (link-local, no duplicate detection), and the host half finds it
/// by neighbour discovery as it would any router.
pub(crate) const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// `RTNH_F_ONLINK`: the gateway is on the link though no address of ours covers it.
const RTNH_F_ONLINK: u32 = 4;

fn rta(kind: Rta, payload: Vec<u8>) -> Result<Rtattr<Rta, Buffer>, Error> {
    RtattrBuilder::default()
        .rta_type(kind)
        .rta_payload(Buffer::from(payload))
        .build()
        .map_err(|e| err(format!("building attribute {kind:?}: {e}")))
}

fn family(a: IpAddr) -> RtAddrFamily {
    match a {
        IpAddr::V4(_) => RtAddrFamily::Inet,
        IpAddr::V6(_) => RtAddrFamily::Inet6,
    }
}

fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// RTM_NEWROUTE or RTM_DELROUTE of `default via GW dev IFINDEX` (`onlink` for IPv4, whose
/// gateway no address of ours covers; IPv6's link-local gateway is on the link by definition).
fn default_route(
    kind: Rtm,
    flags: NlmF,
    ifindex: u32,
    gw: IpAddr,
    what: &str,
) -> Result<(), Error> {
    let mut attrs = RtBuffer::new();
    attrs.push(rta(Rta::Gateway, octets(gw))?);
    attrs.push(rta(Rta::Oif, ifindex.to_ne_bytes().to_vec())?);
    let onlink = if gw.is_ipv4() { RTNH_F_ONLINK } else { 0 };
    let msg = RtmsgBuilder::default()
        .rtm_family(family(gw))
        .rtm_dst_len(0)
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(RtTable::Main)
        .rtm_protocol(Rtprot::Static)
        .rtm_scope(RtScope::Universe)
        .rtm_type(Rtn::Unicast)
        .rtm_flags(RtmF::from_bits_retain(onlink))
        .rtattrs(attrs)
        .build()
        .map_err(|e| err(format!("{what}: {e}")))?;
    request(kind, flags, msg, what)
}

/// RTM_NEWADDR or RTM_DELADDR of `addr/prefix` on the link `ifindex`; an IPv6 address without
/// duplicate detection (the other half holds the pod's too, and nothing else is on the link).
fn link_address(
    kind: Rtm,
    ifindex: u32,
    addr: IpAddr,
    prefix: u8,
    what: &str,
) -> Result<(), Error> {
    let mut attrs = RtBuffer::new();
    for a in [Ifa::Local, Ifa::Address] {
        attrs.push(
            RtattrBuilder::default()
                .rta_type(a)
                .rta_payload(Buffer::from(octets(addr)))
                .build()
                .map_err(|e| err(format!("{what}: {e}")))?,
        );
    }
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(family(addr))
        .ifa_prefixlen(prefix)
        .ifa_flags(if addr.is_ipv6() {
            IfaF::NODAD
        } else {
            IfaF::empty()
        })
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

/// Adds `addr/prefix` to the link unless it has it (the user may have given it already).
pub(crate) fn add_link_address(
    dev: &str,
    ifindex: u32,
    addr: IpAddr,
    prefix: u8,
) -> Result<(), Error> {
    let what = format!("cannot add {addr}/{prefix} to {dev}");
    ignore(
        link_address(Rtm::Newaddr, ifindex, addr, prefix, &what),
        Errno::EXIST,
    )
}

/// `r`, with the error `errno` (the state it wanted is there already) as success.
fn ignore(r: Result<(), Error>, errno: Errno) -> Result<(), Error> {
    match r {
        Err(e) if e.errno() == Some(errno.raw_os_error()) => Ok(()),
        r => r,
    }
}

/// One sysctl of the current network namespace, e.g. `net/ipv4/conf/xpu0/proxy_arp`.
fn sysctl(key: &str, value: &str) -> Result<(), Error> {
    let path = format!("/proc/sys/{key}");
    fs::write(&path, value).map_err(|e| err(format!("cannot set {path} to {value}: {e}")))
}

/// Whether sysctl `key` reads 1: on the DPU half's link, what says `setup` ran there.
fn sysctl_on(key: &str) -> bool {
    fs::read_to_string(format!("/proc/sys/{key}")).is_ok_and(|v| v.trim() == "1")
}

/// Makes this half of pod `addr` (and `addr6`, if it has one), split over `dev` (`ifindex`),
/// part of a pod whose edge is the DPU half.
pub(crate) fn setup(
    half: Half,
    dev: &str,
    ifindex: u32,
    addr: Ipv4Addr,
    addr6: Option<Ipv6Addr>,
) -> Result<(), Error> {
    match half {
        // Refused (EEXIST) if the half has a default route already: it would have an uplink
        // of its own, which --edge says it has not. Both routes or neither.
        Half::Host => {
            let route = |kind, flags, gw: IpAddr| {
                let what =
                    format!("cannot route the host half out through {dev} (default via {gw})");
                default_route(kind, flags, ifindex, gw, &what)
            };
            route(Rtm::Newroute, NlmF::CREATE | NlmF::EXCL, GATEWAY.into())?;
            if addr6.is_some() {
                route(Rtm::Newroute, NlmF::CREATE | NlmF::EXCL, GATEWAY6.into()).inspect_err(
                    |_| {
                        let _ = route(Rtm::Delroute, NlmF::empty(), GATEWAY.into());
                    },
                )?;
            }
            Ok(())
        }
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
            add_link_address(dev, ifindex, addr.into(), 32)?;
            if let Some(a6) = addr6 {
                // IPv6 forwarding is the namespace's, but for what comes in on a device
                // with force_forwarding.
                sysctl(&format!("net/ipv6/conf/{dev}/force_forwarding"), "1")?;
                add_link_address(dev, ifindex, GATEWAY6.into(), 64)?;
                add_link_address(dev, ifindex, a6.into(), 128)?;
            }
            Ok(())
        }
    }
}

/// Undoes `setup` on the half split over `dev` (`ifindex`): the host half's default routes
/// through the link; the DPU half's addresses on the link and its sysctls, if `proxy_arp`
/// (IPv4) or `force_forwarding` (IPv6) on the link says `setup` set them (nothing else does).
/// What is not there is no error.
pub(crate) fn teardown(
    half: Half,
    dev: &str,
    ifindex: u32,
    addr: Ipv4Addr,
    addr6: Option<Ipv6Addr>,
) -> Result<(), Error> {
    let del_addr = |a: IpAddr, prefix: u8| {
        let what = format!("cannot remove {a}/{prefix} from {dev}");
        ignore(
            link_address(Rtm::Deladdr, ifindex, a, prefix, &what),
            Errno::ADDRNOTAVAIL,
        )
    };
    match half {
        Half::Host => {
            let mut gateways = vec![IpAddr::from(GATEWAY)];
            gateways.extend(addr6.map(|_| IpAddr::from(GATEWAY6)));
            gateways.into_iter().try_for_each(|gw| {
                let what = format!("cannot remove the default route via {gw} through the link");
                ignore(
                    default_route(Rtm::Delroute, NlmF::empty(), ifindex, gw, &what),
                    Errno::SRCH,
                )
            })
        }
        Half::Dpu => {
            if sysctl_on(&format!("net/ipv4/conf/{dev}/proxy_arp")) {
                for key in ["forwarding", "accept_local", "proxy_arp"] {
                    sysctl(&format!("net/ipv4/conf/{dev}/{key}"), "0")?;
                }
                del_addr(addr.into(), 32)?;
            }
            let key6 = format!("net/ipv6/conf/{dev}/force_forwarding");
            if let Some(a6) = addr6.filter(|_| sysctl_on(&key6)) {
                sysctl(&key6, "0")?;
                del_addr(GATEWAY6.into(), 64)?;
                del_addr(a6.into(), 128)?;
            }
            Ok(())
        }
    }
}
