// SPDX-License-Identifier: GPL-2.0

//! The `xpu` generic-netlink family (uapi/xpu.yaml), for userspace tools: the Rust twin of
//! the family's part of `linux/xpu.h`, which is generated from the spec; `tests/c_header.rs`
//! checks every value here against that header.

/// `XPU_FAMILY_NAME`.
pub const FAMILY_NAME: &str = "xpu";
/// `XPU_FAMILY_VERSION`.
pub const FAMILY_VERSION: u8 = 1;
/// `XPU_MCGRP_MONITOR`: the multicast group of change notifications.
pub const MCGRP_MONITOR: &str = "monitor";
/// `XPU_NAME_LEN`: room for a split namespace's name with its NUL.
pub const NAME_LEN: usize = 32;

/// `XPU_CMD_*`.
pub mod cmd {
    pub const SPLITNS_GET: u8 = 1;
    pub const SPLITNS_CREATE: u8 = 2;
    pub const SPLITNS_DELETE: u8 = 3;
    pub const PORT_GET: u8 = 4;
    pub const PORT_ADD: u8 = 5;
    pub const PORT_DEL: u8 = 6;
    pub const SPLITNS_CHANGE_NTF: u8 = 7;
    pub const PORT_CHANGE_NTF: u8 = 8;
}

/// `XPU_A_SPLITNS_*`.
pub mod splitns {
    pub const NAME: u16 = 1;
    pub const IFINDEX: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const HALF: u16 = 4;
    pub const PORT_MIN: u16 = 5;
    pub const PORT_MAX: u16 = 6;
    pub const PEER_STATE: u16 = 7;
    pub const PORTS: u16 = 8;
    pub const PEER_PORTS: u16 = 9;
    pub const PEER_PORT_MIN: u16 = 10;
    pub const PEER_PORT_MAX: u16 = 11;
    pub const STEERED: u16 = 12;
    pub const DELIVERED: u16 = 13;
    pub const ADDR6: u16 = 14;
    pub const REFUSED: u16 = 15;
    pub const MAX: u16 = 15;
}

/// `XPU_A_PORT_*`.
pub mod port {
    pub const PORT: u16 = 1;
    pub const HALF: u16 = 2;
    pub const CLAIM: u16 = 3;
    pub const MAX: u16 = 3;
}

/// `enum xpu_claim`: flags, how a half holds a port.
pub mod claim {
    /// Registered by hand (`port-add`).
    pub const REGISTERED: u32 = 1;
    /// Bound by a socket of the half, as its ownership agent saw.
    pub const SOCKET: u32 = 2;
    /// Every claim.
    pub const ALL: u32 = REGISTERED | SOCKET;
}

/// `enum xpu_peer_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    Unknown = 0,
    Unsplit = 1,
    Split = 2,
    Conflict = 3,
}

impl PeerState {
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Unknown),
            1 => Some(Self::Unsplit),
            2 => Some(Self::Split),
            3 => Some(Self::Conflict),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Unsplit => "unsplit",
            Self::Split => "split",
            Self::Conflict => "conflict",
        }
    }
}
