// SPDX-License-Identifier: GPL-2.0

//! The metadata translation between the kernel's virtio-net header and the descriptor
//! (`xpu_datapath::meta`): what crosses, what is refused, and that the two directions agree.

use proptest::prelude::*;
use rstest::rstest;
use xpu_datapath::{
    meta::{
        desc_meta, vnet_hdr, VnetHdr, VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM, VNET_GSO_ECN,
        VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP, VNET_GSO_UDP_L4,
    },
    shm::{
        Desc, DESC_F_CSUM_PARTIAL, DESC_F_DATA_VALID, GSO_F_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6,
        GSO_UDP_L4,
    },
};

fn hdr(flags: u8, gso_type: u8) -> VnetHdr {
    VnetHdr {
        flags,
        gso_type,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    }
}

#[rstest]
#[case::plain(VNET_GSO_NONE, GSO_NONE)]
#[case::tcp4(VNET_GSO_TCPV4, GSO_TCPV4)]
#[case::tcp6(VNET_GSO_TCPV6, GSO_TCPV6)]
#[case::udp_l4(VNET_GSO_UDP_L4, GSO_UDP_L4)]
#[case::tcp4_ecn(VNET_GSO_TCPV4 | VNET_GSO_ECN, GSO_TCPV4 | GSO_F_ECN)]
#[case::tcp6_ecn(VNET_GSO_TCPV6 | VNET_GSO_ECN, GSO_TCPV6 | GSO_F_ECN)]
fn each_gso_type_crosses_and_comes_back(#[case] vnet: u8, #[case] gso: u8) {
    let h = hdr(VNET_F_NEEDS_CSUM, vnet);
    let d = desc_meta(&h).expect("carried");
    assert_eq!(
        (d.gso_type, d.gso_size, d.csum_start, d.csum_offset, d.flags),
        (gso, 1448, 34, 16, DESC_F_CSUM_PARTIAL)
    );
    assert_eq!((d.off, d.len), (0, 0), "placement is the datapath's");
    // The receiver's header is the sender's but for hdr_len, which the kernel recomputes.
    assert_eq!(vnet_hdr(&d), Some(VnetHdr { hdr_len: 0, ..h }));
}

#[rstest]
#[case::csum_partial(VNET_F_NEEDS_CSUM, DESC_F_CSUM_PARTIAL)]
#[case::data_valid(VNET_F_DATA_VALID, DESC_F_DATA_VALID)]
#[case::none(0, 0)]
fn checksum_flags_cross(#[case] vnet: u8, #[case] flags: u8) {
    let d = desc_meta(&hdr(vnet, VNET_GSO_NONE)).expect("carried");
    assert_eq!(d.flags, flags);
    assert_eq!(vnet_hdr(&d).map(|h| h.flags), Some(vnet));
}

#[rstest]
#[case::ufo(VNET_GSO_UDP)]
#[case::ufo_ecn(VNET_GSO_UDP | VNET_GSO_ECN)]
#[case::unknown(6)]
#[case::unknown_high(0x7f)]
fn what_the_link_does_not_carry_is_not_sent(#[case] vnet: u8) {
    assert_eq!(desc_meta(&hdr(0, vnet)), None);
}

fn desc(gso_type: u8, flags: u8) -> Desc {
    Desc {
        gso_type,
        flags,
        ..Desc::default()
    }
}

#[rstest]
#[case::unknown_gso(desc(4, 0))]
#[case::unknown_gso_high(desc(0x7f, 0))]
#[case::ecn_without_gso(desc(GSO_NONE | GSO_F_ECN, 0))]
#[case::ecn_on_udp(desc(GSO_UDP_L4 | GSO_F_ECN, 0))]
#[case::unknown_gso_ecn(desc(9 | GSO_F_ECN, 0))]
#[case::unknown_flag(desc(GSO_NONE, 1 << 2))]
#[case::every_flag(desc(GSO_TCPV4, 0xff))]
fn a_peer_s_unknown_metadata_is_refused(#[case] d: Desc) {
    assert_eq!(vnet_hdr(&d), None);
}

/// The metadata a sender of ours can write: a known GSO type (ECN only with TCP's) and known
/// checksum flags.
fn valid(d: &Desc) -> bool {
    let base = d.gso_type & !GSO_F_ECN;
    let ecn = d.gso_type & GSO_F_ECN != 0;
    [GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4].contains(&base)
        && !(ecn && base != GSO_TCPV4 && base != GSO_TCPV6)
        && d.flags & !(DESC_F_CSUM_PARTIAL | DESC_F_DATA_VALID) == 0
}

proptest! {
    /// Every descriptor a peer can write: taken exactly when valid, and then the header says
    /// what the descriptor said.
    #[test]
    fn any_descriptor_is_taken_only_if_valid(
        gso_type: u8, flags: u8, gso_size: u16, csum_start: u16, csum_offset: u16,
    ) {
        let d = Desc { off: 0, len: 0, csum_start, csum_offset, gso_size, gso_type, flags };
        match vnet_hdr(&d) {
            Some(h) => {
                prop_assert!(valid(&d));
                prop_assert_eq!(desc_meta(&h), Some(d));
            }
            None => prop_assert!(!valid(&d)),
        }
    }

    /// Every header the kernel can build for a type the link carries crosses, with the
    /// checksum flags it knows.
    #[test]
    fn any_carried_header_crosses(
        base in prop::sample::select(vec![
            VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP_L4,
        ]),
        ecn: bool, flags: u8, gso_size: u16, csum_start: u16, csum_offset: u16,
    ) {
        let ecn = ecn && base != VNET_GSO_NONE && base != VNET_GSO_UDP_L4;
        let gso_type = base | if ecn { VNET_GSO_ECN } else { 0 };
        let h = VnetHdr { flags, gso_type, hdr_len: 0, gso_size, csum_start, csum_offset };
        let d = desc_meta(&h);
        prop_assert!(d.is_some());
        let back = d.as_ref().and_then(vnet_hdr);
        let known = VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID;
        prop_assert_eq!(back, Some(VnetHdr { flags: flags & known, ..h }));
    }
}
