// SPDX-License-Identifier: GPL-2.0

//! xpu's own netdev layer: thin, typed wrappers over the C objects that Linux 7.3 has no Rust
//! abstractions for (`net_device`, `sk_buff`, NAPI, `rtnl_link_ops`, generic netlink requests),
//! and over the shared window (`window::Window`, bounds-checked access to memory the peer also
//! writes).
//!
//! All of xpu's `unsafe` lives below this module; the logic modules (`link`, `queue`, `pair`,
//! `stats`) deny unsafe code and see only the safe types exported here.
//!
//! The dependencies point one way: the logic implements traits defined here
//! ([`ops::NetdevOps`], [`split::SplitOps`]) and registers its types with [`export!`], so this
//! layer names nothing of the logic's. The crate modules it does use are `crate::shm`, the
//! window layout (`Desc`): that is the uapi contract with the other end, shared with the C
//! header linux/xpu_shm.h, not a decision of the driver's; and the datapath library's traits
//! (`crate::datapath::{mem, port}`), which `datapath` implements over the kernel objects.

pub(crate) mod clock;
pub(crate) mod cstr;
pub(crate) mod cxl;
pub(crate) mod datapath;
pub(crate) mod dev_priv;
pub(crate) mod device;
pub(crate) mod ethtool;
pub(crate) mod extack;
pub(crate) mod genl;
pub(crate) mod inject;
pub(crate) mod napi;
pub(crate) mod netfilter;
pub(crate) mod ops;
pub(crate) mod pci;
pub(crate) mod random;
pub(crate) mod rss;
pub(crate) mod rtnl;
pub(crate) mod rxq;
pub(crate) mod skb;
pub(crate) mod split;
pub(crate) mod split_half;
pub(crate) mod split_nl;
pub(crate) mod split_rx;
pub(crate) mod sys;
pub(crate) mod window;
pub(crate) mod xdp;

/// Emits the `extern "C"` symbols driver/xpu_shim.h declares (the `xpu_rs_*` functions that
/// the C shim calls), dispatching the netdev ops to `$netdev` ([`ops::NetdevOps`]) and the
/// split-namespace questions to `$split` ([`split::SplitOps`] with names of `$name_len` bytes).
///
/// Invoked once, by the crate root: the symbols are global, so a second invocation does not
/// link.
macro_rules! export {
    (netdev: $netdev:ty, split: $split:ty, name_len: $name_len:expr $(,)?) => {
        $crate::net::ops::export_netdev_ops!($netdev);
        $crate::net::split_nl::export_split_nl!($split, $name_len);
    };
}
pub(crate) use export;
