// SPDX-License-Identifier: GPL-2.0

//! xpu's own netdev layer: thin, typed wrappers over the C objects that Linux 7.3 has no Rust
//! abstractions for (`net_device`, `sk_buff`, NAPI, `rtnl_link_ops`), and over the shared
//! window (`window::Window`, bounds-checked access to memory the peer also writes).
//!
//! All of xpu's `unsafe` lives below this module; the logic modules (`link`, `queue`, `pair`,
//! `stats`) deny unsafe code and see only the safe types exported here.

pub(crate) mod clock;
pub(crate) mod device;
pub(crate) mod ethtool;
pub(crate) mod napi;
pub(crate) mod ops;
pub(crate) mod pci;
pub(crate) mod rtnl;
pub(crate) mod skb;
pub(crate) mod split;
pub(crate) mod sys;
pub(crate) mod window;
