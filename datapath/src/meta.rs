// SPDX-License-Identifier: GPL-2.0

//! A packet's checksum and GSO metadata, between the kernel's form and the descriptor's.
//!
//! The kernel's form is virtio-net's header: the kernel builds one from an skb
//! (`virtio_net_hdr_from_skb`) and applies one to an skb, validating it
//! (`virtio_net_hdr_to_skb`), so xpu only recodes it into [`Desc`]'s fields and back. The
//! peer writes the descriptors: [`vnet_hdr`] refuses what no sender of ours writes before the
//! kernel sees it, and before the packet is even copied.

use super::shm::{
    Desc, DESC_F_CSUM_PARTIAL, DESC_F_DATA_VALID, GSO_F_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6,
    GSO_UDP_L4,
};

/// `struct virtio_net_hdr` (include/uapi/linux/virtio_net.h), with the little-endian fields
/// the kernel gives and takes for a little-endian device (the driver's C asserts the layout).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `VNET_F_*` bits.
    pub flags: u8,
    /// One of the `VNET_GSO_*` values, with [`VNET_GSO_ECN`] or-ed in for ECN TCP.
    pub gso_type: u8,
    /// Bytes of headers (the kernel fills it; the descriptor does not carry it).
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

// driver/net/sys.rs checks the same against the kernel's `struct virtio_net_hdr` when it builds.
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<VnetHdr>() == 10 && offset_of!(VnetHdr, gso_type) == 1);
    assert!(offset_of!(VnetHdr, hdr_len) == 2 && offset_of!(VnetHdr, gso_size) == 4);
    assert!(offset_of!(VnetHdr, csum_start) == 6 && offset_of!(VnetHdr, csum_offset) == 8);
};

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum is partial, from `csum_start`.
pub const VNET_F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was verified.
pub const VNET_F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_*`.
pub const VNET_GSO_NONE: u8 = 0;
pub const VNET_GSO_TCPV4: u8 = 1;
pub const VNET_GSO_UDP: u8 = 3;
pub const VNET_GSO_TCPV6: u8 = 4;
pub const VNET_GSO_UDP_L4: u8 = 5;
pub const VNET_GSO_ECN: u8 = 0x80;

/// Checksum flags: the descriptor's and the kernel's, pair by pair.
const FLAGS: [(u8, u8); 2] = [
    (DESC_F_CSUM_PARTIAL, VNET_F_NEEDS_CSUM),
    (DESC_F_DATA_VALID, VNET_F_DATA_VALID),
];

/// `bits` recoded through `FLAGS`, from the descriptor's to the kernel's (`to_vnet`) or back;
/// bits of neither are left out.
fn recode_flags(bits: u8, to_vnet: bool) -> u8 {
    FLAGS.iter().fold(0, |out, &(desc, vnet)| {
        let (from, to) = if to_vnet { (desc, vnet) } else { (vnet, desc) };
        if bits & from != 0 {
            out | to
        } else {
            out
        }
    })
}

/// GSO types that cross the link: the descriptor's and the kernel's, pair by pair.
const GSO: [(u8, u8); 4] = [
    (GSO_NONE, VNET_GSO_NONE),
    (GSO_TCPV4, VNET_GSO_TCPV4),
    (GSO_TCPV6, VNET_GSO_TCPV6),
    (GSO_UDP_L4, VNET_GSO_UDP_L4),
];

/// Transmit: the descriptor's metadata for a packet whose header the kernel built (`off`
/// and `len` left zero). `None` for what the link does not carry (UFO's `VNET_GSO_UDP`).
pub fn desc_meta(h: &VnetHdr) -> Option<Desc> {
    let (gso, _) = GSO.iter().find(|(_, v)| *v == h.gso_type & !VNET_GSO_ECN)?;
    let ecn = if h.gso_type & VNET_GSO_ECN != 0 {
        GSO_F_ECN
    } else {
        0
    };
    Some(Desc {
        gso_type: *gso | ecn,
        gso_size: h.gso_size,
        csum_start: h.csum_start,
        csum_offset: h.csum_offset,
        flags: recode_flags(h.flags, false),
        ..Desc::default()
    })
}

/// Receive: the header for the kernel to apply to a packet the peer described in `d`.
/// `None` for a descriptor no sender of ours writes: an unknown GSO type or flag, or ECN on
/// anything but TCP's GSO. What passes still goes through the kernel's own checks.
pub fn vnet_hdr(d: &Desc) -> Option<VnetHdr> {
    let base = d.gso_type & !GSO_F_ECN;
    let (_, vnet) = GSO.iter().find(|(g, _)| *g == base)?;
    let ecn = d.gso_type & GSO_F_ECN != 0;
    let tcp = base == GSO_TCPV4 || base == GSO_TCPV6;
    let flags = recode_flags(d.flags, true);
    if (ecn && !tcp) || recode_flags(flags, false) != d.flags {
        return None;
    }
    Some(VnetHdr {
        gso_type: *vnet | if ecn { VNET_GSO_ECN } else { 0 },
        gso_size: d.gso_size,
        csum_start: d.csum_start,
        csum_offset: d.csum_offset,
        flags,
        ..VnetHdr::default()
    })
}
