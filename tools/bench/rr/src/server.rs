// SPDX-License-Identifier: GPL-2.0
//! The server: echoes each datagram to its sender. A blocking receive, so that the kernel's
//! busy polling (`net.core.busy_read`) applies to it as to any unmodified server.

use std::io;
use std::net::{SocketAddr, UdpSocket};

pub(crate) fn run(bind: SocketAddr) -> io::Result<()> {
    let sock = UdpSocket::bind(bind)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {bind}: {e}")))?;
    let mut buf = [0u8; 65536];
    loop {
        let (n, from) = sock.recv_from(&mut buf)?;
        // A reply that cannot go (the client gone, a full queue) is the client's loss to count.
        let _ = sock.send_to(&buf[..n], from);
    }
}
