// SPDX-License-Identifier: GPL-2.0

//! The wire format of the ivshmem server protocol (QEMU `docs/specs/ivshmem-spec.rst`).
//!
//! The server only ever sends. Every message is one little-endian `i64`, optionally with one
//! file descriptor attached (SCM_RIGHTS):
//!
//! | value    | fd       | meaning                                                        |
//! |----------|----------|----------------------------------------------------------------|
//! | 0        | none     | protocol version (first message)                               |
//! | own id   | none     | the client's peer id (second message)                          |
//! | -1       | memfd    | the shared window (third message)                              |
//! | peer id  | eventfd  | one interrupt vector of that peer, in vector order             |
//! | peer id  | none     | that peer disconnected                                         |
//!
//! A client's own vectors come last, under its own id: QEMU waits for them before it lets the
//! guest start. This server never sends the last kind: QEMU mishandles an id that comes back
//! after it (`Server::disconnect` says how); a peer's departure is told in the window instead.

use std::{
    io::{self, IoSlice},
    os::fd::{AsRawFd, BorrowedFd},
};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

/// The protocol version this server speaks (QEMU's `IVSHMEM_PROTOCOL_VERSION`).
pub const PROTOCOL_VERSION: i64 = 0;
/// The value that comes with the shared window's fd.
pub const SHM_MESSAGE: i64 = -1;

/// Sends `value` (and `fd`, if any) on `sock`. MSG_NOSIGNAL: a VM that exited gives EPIPE, not
/// a SIGPIPE that would kill the daemon.
pub fn send(sock: BorrowedFd<'_>, value: i64, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let bytes = value.to_le_bytes();
    let iov = [IoSlice::new(&bytes)];
    let fds = fd.map(|f| [f.as_raw_fd()]);
    let cmsg: Vec<ControlMessage<'_>> = fds.iter().map(|f| ControlMessage::ScmRights(f)).collect();
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(io::Error::from)?;
    if sent != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short write on the peer's socket",
        ));
    }
    Ok(())
}
