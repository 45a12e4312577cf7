// SPDX-License-Identifier: GPL-2.0

//! The sockets of this network namespace that hold a local port, from the kernel's socket
//! tables (sock_diag, as `ss` reads them): how the ownership agent learns which ports are in
//! use when it starts, after it lost events, and before it frees a port whose socket went.

use std::collections::{BTreeMap, HashSet};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};

use crate::link::{err, Error};

/// `TCP_BOUND_INACTIVE` (Linux 6.8): TCP sockets bound but neither listening nor connected,
/// which the kernel lists only when asked for this state.
const TCP_BOUND_INACTIVE: u32 = 13;

/// How many sockets hold each local port (TCP or UDP, IPv4 or IPv6), leaving out the sockets
/// in `gone` (released, though the kernel may not have unhashed them yet) and TCP's TIME_WAIT
/// (they hold no port against a bind with SO_REUSEADDR, which servers set, and would keep a
/// port claimed for a minute after its server closed); and the cookies of every socket listed.
pub(crate) fn ports_in_use(
    gone: &HashSet<u64>,
) -> Result<(BTreeMap<u16, u32>, HashSet<u64>), Error> {
    let mut sock = Socket::new(NETLINK_SOCK_DIAG)
        .map_err(|e| err(format!("cannot open a sock_diag socket: {e}")))?;
    sock.bind_auto()
        .and_then(|_| sock.connect(&SocketAddr::new(0, 0)))
        .map_err(|e| err(format!("cannot connect a sock_diag socket: {e}")))?;
    let tcp_states = StateFlags::from_bits_retain(
        (StateFlags::all().bits() | 1 << TCP_BOUND_INACTIVE) & !StateFlags::TIME_WAIT.bits(),
    );
    let mut ports = BTreeMap::new();
    let mut seen = HashSet::new();
    for family in [AF_INET, AF_INET6] {
        for (protocol, states) in [
            (IPPROTO_TCP, tcp_states.clone()),
            (IPPROTO_UDP, StateFlags::all()),
        ] {
            let socket_id = if family == AF_INET {
                SocketId::new_v4()
            } else {
                SocketId::new_v6()
            };
            let req = InetRequest {
                family,
                protocol,
                extensions: ExtensionFlags::empty(),
                states,
                socket_id,
            };
            dump(&sock, req, |port, cookie| {
                seen.insert(cookie);
                if !gone.contains(&cookie) {
                    *ports.entry(port).or_insert(0) += 1;
                }
            })?;
        }
    }
    Ok((ports, seen))
}

/// One sock_diag dump: `each(local port, cookie)` for every socket it lists.
fn dump(sock: &Socket, req: InetRequest, mut each: impl FnMut(u16, u64)) -> Result<(), Error> {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut msg = NetlinkMessage::new(hdr, SockDiagMessage::InetRequest(req).into());
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    sock.send(&buf, 0)
        .map_err(|e| err(format!("cannot ask for the sockets: {e}")))?;
    loop {
        let (data, _) = sock
            .recv_from_full()
            .map_err(|e| err(format!("cannot read the sockets: {e}")))?;
        let mut rest = data.as_slice();
        while !rest.is_empty() {
            let m = NetlinkMessage::<SockDiagMessage>::deserialize(rest)
                .map_err(|e| err(format!("cannot parse a sock_diag answer: {e}")))?;
            let len = usize::try_from(m.header.length).unwrap_or(0);
            match m.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let id = &r.header.socket_id;
                    each(id.source_port, cookie(&id.cookie));
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(err(format!("the kernel refused the socket dump: {e:?}")))
                }
                _ => {}
            }
            if len == 0 || len > rest.len() {
                break;
            }
            rest = rest.get(len..).unwrap_or_default();
        }
    }
}

/// The kernel's `idiag_cookie[2]`: the low word first, each in host order
/// (`sock_diag_save_cookie`).
fn cookie(c: &[u8; 8]) -> u64 {
    let lo = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
    let hi = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
    u64::from(lo) | u64::from(hi) << 32
}
