// SPDX-License-Identifier: GPL-2.0

//! The xpu fabric daemon: a server for QEMU's `ivshmem-doorbell` device.
//!
//! Every VM (host or DPU) that has an `ivshmem-doorbell` device connects to this server over a
//! UNIX socket. The server gives each one the same shared-memory window (a memfd) and, per
//! peer and interrupt vector, an eventfd: writing to a peer's eventfd raises that MSI-X vector
//! in the peer's guest. This is the protocol of QEMU's `docs/specs/ivshmem-spec.rst`, which
//! Debian does not ship a server for.

pub mod options;
pub mod protocol;
pub mod server;
