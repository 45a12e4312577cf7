// SPDX-License-Identifier: GPL-2.0

//! The C shim's contract in Rust: everything declared in `driver/xpu_shim.h` (its helpers, the
//! `xpu_rs_*` functions Rust implements for its ops tables, the structs that cross) and the
//! exported kernel functions xpu calls that the kernel crate's bindings (7.3) lack. bindgen
//! generates it from the header at build time (`tools/lab/shim-bindings.sh`, with the kernel's
//! own C flags; `tools/lab/module.sh` passes the file's path in `XPU_SHIM_BINDINGS`), so each
//! prototype and struct is written once, in C, and Rust that disagrees with it does not compile.

use crate::datapath::meta::{self, VnetHdr};

/// The generated items. The kernel types they name resolve to the kernel crate's bindings, which
/// came from the same headers.
#[allow(
    dead_code,
    improper_ctypes,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks
)]
mod generated {
    use kernel::{bindings::*, ffi};
    include!(env!("XPU_SHIM_BINDINGS"));
}
pub(crate) use generated::*;

// The datapath's view of the virtio-net header is the kernel's: bytes and values in the same
// places (`xpu_skb_vnet_hdr` and `xpu_rx` take its address).
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<VnetHdr>() == size_of::<virtio_net_hdr>());
    assert!(align_of::<VnetHdr>() == align_of::<virtio_net_hdr>());
    assert!(offset_of!(VnetHdr, flags) == offset_of!(virtio_net_hdr, flags));
    assert!(offset_of!(VnetHdr, gso_type) == offset_of!(virtio_net_hdr, gso_type));
    assert!(offset_of!(VnetHdr, hdr_len) == offset_of!(virtio_net_hdr, hdr_len));
    assert!(offset_of!(VnetHdr, gso_size) == offset_of!(virtio_net_hdr, gso_size));
    assert!(offset_of!(VnetHdr, csum_start) == offset_of!(virtio_net_hdr, csum_start));
    assert!(offset_of!(VnetHdr, csum_offset) == offset_of!(virtio_net_hdr, csum_offset));
    assert!(meta::VNET_F_NEEDS_CSUM as u32 == VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert!(meta::VNET_F_DATA_VALID as u32 == VIRTIO_NET_HDR_F_DATA_VALID);
    assert!(meta::VNET_GSO_NONE as u32 == VIRTIO_NET_HDR_GSO_NONE);
    assert!(meta::VNET_GSO_TCPV4 as u32 == VIRTIO_NET_HDR_GSO_TCPV4);
    assert!(meta::VNET_GSO_UDP as u32 == VIRTIO_NET_HDR_GSO_UDP);
    assert!(meta::VNET_GSO_TCPV6 as u32 == VIRTIO_NET_HDR_GSO_TCPV6);
    assert!(meta::VNET_GSO_UDP_L4 as u32 == VIRTIO_NET_HDR_GSO_UDP_L4);
    assert!(meta::VNET_GSO_ECN as u32 == VIRTIO_NET_HDR_GSO_ECN);
};

/// The C header's view of the datapath's virtio-net header (same layout, asserted above).
pub(crate) fn vnet_hdr_ptr(h: *const VnetHdr) -> *const virtio_net_hdr {
    h.cast()
}

/// Checks, where the `xpu_rs_*` functions are defined, that each has the signature the header
/// gives it: a function item and the header's declaration of the same name meet in one `if`,
/// which compiles only when both are the same function pointer type.
macro_rules! same_signature {
    ($($f:ident),* $(,)?) => {
        const _: () = {$(
            let _ = if true { $crate::net::sys::$f } else { $f };
        )*};
    };
}
pub(crate) use same_signature;
