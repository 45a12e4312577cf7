// SPDX-License-Identifier: GPL-2.0

//! xpu: a virtual NIC whose queues live in memory shared between a host and a DPU.
//!
//! The crate root only declares the modules and the kernel module; see `link` for the device
//! and `net` for the thin layer over the C networking objects (the only place with `unsafe`).

use kernel::{driver::Registration, pci, prelude::*, InPlaceModule};

mod datapath;
mod handshake;
mod link;
mod net;
mod pair;
mod pci_link;
mod queue;
mod splitns;

// The contract with the other end, shared with userspace (and tested there): the window
// layout, the ring index arithmetic and notification protocol, the data-area placement.
// The driver uses a subset of each.
#[allow(dead_code, unreachable_pub)]
#[path = "../uapi/src/data.rs"]
mod data;
#[allow(dead_code, unreachable_pub)]
#[path = "../uapi/src/ring.rs"]
mod ring;
#[allow(dead_code, unreachable_pub)]
#[path = "../uapi/src/shm.rs"]
mod shm;
// The link kind's attributes and defaults (`ip link add NAME type xpu ...`).
#[allow(dead_code, unreachable_pub)]
#[path = "../uapi/src/link.rs"]
mod link_uapi;
// The split-namespace contracts: the generic-netlink family's values, the port-ownership
// snapshot the halves exchange over the link, and which packets cross between them.
#[allow(dead_code, unreachable_pub)]
#[path = "../uapi/src/genl.rs"]
mod genl;
#[allow(dead_code, unreachable_pub)]
#[path = "../uapi/src/sync.rs"]
mod port_sync;
#[allow(unreachable_pub)]
#[path = "../uapi/src/steer.rs"]
mod steer;

// The `xpu_rs_*` symbols the C shim calls: `net` defines them over its traits, and this names
// the logic's types that implement them (the one place that joins the two layers).
net::export! {
    netdev: link::Xpu,
    split: splitns::SplitNs,
    name_len: genl::NAME_LEN,
}

module! {
    type: XpuModule,
    name: "xpu",
    authors: ["The xpu developers"],
    description: "Virtual NIC over shared PCIe/CXL memory between a host and a DPU",
    license: "GPL",
    // MODULE_ALIAS_RTNL_LINK("xpu"): `ip link add NAME type xpu` loads the module.
    alias: ["rtnl-link-xpu"],
    params: {
        cxl_base: u64 {
            default: 0,
            description: "CXL mode: physical address of the window, in a CXL memory region (its sysfs resource)",
        },
        cxl_size: u64 {
            default: 0,
            description: "CXL mode: size of the window in bytes, a power of two (xpuctl cxl window gives a region's first such bytes)",
        },
        cxl_coherent: bool {
            default: true,
            description: "CXL mode: the memory is coherent between the hosts (0: each side writes back and invalidates, as memory that hosts share without hardware coherence needs)",
        },
    },
}

#[pin_data]
struct XpuModule {
    /// PCI mode: the ivshmem functions. Unregistered first, which removes their devices.
    #[pin]
    _pci: Registration<pci::Adapter<pci_link::XpuPci>>,
    /// CXL mode's memory, claimed before the functions' windows map it and released after.
    _cxl: Option<net::cxl::CxlClaim>,
    /// Pair mode. Dropping it deletes every xpu link, so the module unloads cleanly with
    /// links present.
    _link_kind: net::rtnl::LinkKind,
    /// Split namespaces. Deleting the links above unsplits their namespaces.
    _split: net::split::SplitKind,
    /// The tests' fault injection (debugfs).
    #[pin]
    _inject: net::inject::Knobs,
}

impl InPlaceModule for XpuModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _cxl: pci_link::claim_cxl(
                module_parameters::cxl_base.value(),
                module_parameters::cxl_size.value(),
                module_parameters::cxl_coherent.value(),
            )?,
            _split: net::split::SplitKind::register::<splitns::SplitNs, { genl::NAME_LEN }>()?,
            _link_kind: net::rtnl::LinkKind::register()?,
            _pci <- Registration::new(c"xpu", module),
            _inject <- net::inject::Knobs::new(),
        })
    }
}
