// SPDX-License-Identifier: GPL-2.0

//! The `xpu` link kind on rtnetlink (`ip link add NAME type xpu`): the Rust twin of the link's
//! part of `linux/xpu.h`, which is generated from uapi/xpu.yaml; `tests/c_header.rs` checks
//! every value here against that header.

/// `IFLA_XPU_*`: the attributes of `IFLA_INFO_DATA`.
pub mod attr {
    /// Pair mode: the peer's `ifinfomsg` and attributes (its name, its namespace).
    pub const PEER_INFO: u16 = 1;
    /// Queues (rings) per direction, both ends alike.
    pub const QUEUES: u16 = 2;
    /// Descriptors per ring.
    pub const RING_SIZE: u16 = 3;
    /// PCI mode: `enum xpu_link_role` ([`super::role`]).
    pub const ROLE: u16 = 4;
    /// PCI mode: `enum xpu_link_state`.
    pub const LINK_STATE: u16 = 5;
    /// PCI mode: the handshake's last word.
    pub const STATUS: u16 = 6;
    /// PCI mode: the link's number, the same at both ends (`crate::shm::SideHeader::link_id`).
    pub const LINK_ID: u16 = 7;
    /// `IFLA_XPU_MAX`.
    pub const MAX: u16 = 7;
}

/// `XPU_DEFAULT_QUEUES`: the queues of a pair made without [`attr::QUEUES`] (fewer if the
/// machine has fewer CPUs).
pub const DEFAULT_QUEUES: u32 = 4;
/// `XPU_DEFAULT_RING_SIZE`: the descriptors per ring without [`attr::RING_SIZE`].
pub const DEFAULT_RING_SIZE: u32 = 256;

/// `enum xpu_link_role`: which end of a link a device is.
pub mod role {
    /// Both ends in one kernel.
    pub const PAIR: u32 = 0;
    /// The host's end of a PCI link.
    pub const HOST: u32 = 1;
    /// The DPU's end of a PCI link.
    pub const DPU: u32 = 2;
}
