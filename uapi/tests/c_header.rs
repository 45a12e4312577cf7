// SPDX-License-Identifier: GPL-2.0
//! `linux/xpu_shm.h` and `shm.rs` describe the same bytes: compile the header with the system C
//! compiler, print every size, offset and constant, and compare with Rust's view.

use std::{collections::HashMap, mem::offset_of, path::PathBuf, process::Command};

use xpu_uapi::{genl, link, shm::*, sync::Half};

/// Every item checked: (name printed by the C program, C expression, Rust value).
fn items() -> Vec<(&'static str, &'static str, u64)> {
    macro_rules! size {
        ($c:literal, $t:ty) => {
            (
                concat!("sizeof ", $c),
                concat!("sizeof(struct ", $c, ")"),
                std::mem::size_of::<$t>() as u64,
            )
        };
    }
    macro_rules! off {
        ($c:literal, $t:ty, $f:ident) => {
            (
                concat!("offsetof ", $c, ".", stringify!($f)),
                concat!("offsetof(struct ", $c, ", ", stringify!($f), ")"),
                offset_of!($t, $f) as u64,
            )
        };
    }
    vec![
        size!("xpu_side_header", SideHeader),
        off!("xpu_side_header", SideHeader, magic),
        off!("xpu_side_header", SideHeader, version),
        off!("xpu_side_header", SideHeader, features),
        off!("xpu_side_header", SideHeader, state),
        off!("xpu_side_header", SideHeader, generation),
        off!("xpu_side_header", SideHeader, peer_generation),
        off!("xpu_side_header", SideHeader, link_id),
        off!("xpu_side_header", SideHeader, num_queues),
        off!("xpu_side_header", SideHeader, ring_size),
        off!("xpu_side_header", SideHeader, buf_size),
        off!("xpu_side_header", SideHeader, mtu),
        off!("xpu_side_header", SideHeader, ring_off),
        off!("xpu_side_header", SideHeader, cons_off),
        off!("xpu_side_header", SideHeader, data_off),
        off!("xpu_side_header", SideHeader, half_size),
        size!("xpu_rss_block", RssBlock),
        off!("xpu_rss_block", RssBlock, seq),
        off!("xpu_rss_block", RssBlock, fields),
        off!("xpu_rss_block", RssBlock, key),
        off!("xpu_rss_block", RssBlock, indir),
        ("XPU_SHM_F_RSS", "XPU_SHM_F_RSS", FEATURE_RSS),
        (
            "XPU_SHM_F_NONCOHERENT",
            "XPU_SHM_F_NONCOHERENT",
            FEATURE_NONCOHERENT,
        ),
        (
            "XPU_SHM_RSS_KEY_SIZE",
            "XPU_SHM_RSS_KEY_SIZE",
            RSS_KEY_SIZE as u64,
        ),
        (
            "XPU_SHM_RSS_INDIR_SIZE",
            "XPU_SHM_RSS_INDIR_SIZE",
            RSS_INDIR_SIZE as u64,
        ),
        ("XPU_SHM_RSS_OFF", "XPU_SHM_RSS_OFF", RSS_OFF as u64),
        (
            "XPU_SHM_RSS_FLOW_TCP4",
            "XPU_SHM_RSS_FLOW_TCP4",
            u64::from(RSS_FLOW_TCP4),
        ),
        (
            "XPU_SHM_RSS_FLOW_UDP4",
            "XPU_SHM_RSS_FLOW_UDP4",
            u64::from(RSS_FLOW_UDP4),
        ),
        (
            "XPU_SHM_RSS_FLOW_TCP6",
            "XPU_SHM_RSS_FLOW_TCP6",
            u64::from(RSS_FLOW_TCP6),
        ),
        (
            "XPU_SHM_RSS_FLOW_UDP6",
            "XPU_SHM_RSS_FLOW_UDP6",
            u64::from(RSS_FLOW_UDP6),
        ),
        (
            "XPU_SHM_RSS_F_SRC_ADDR",
            "XPU_SHM_RSS_F_SRC_ADDR",
            u64::from(RSS_F_SRC_ADDR),
        ),
        (
            "XPU_SHM_RSS_F_DST_ADDR",
            "XPU_SHM_RSS_F_DST_ADDR",
            u64::from(RSS_F_DST_ADDR),
        ),
        (
            "XPU_SHM_RSS_F_SRC_PORT",
            "XPU_SHM_RSS_F_SRC_PORT",
            u64::from(RSS_F_SRC_PORT),
        ),
        (
            "XPU_SHM_RSS_F_DST_PORT",
            "XPU_SHM_RSS_F_DST_PORT",
            u64::from(RSS_F_DST_PORT),
        ),
        size!("xpu_ring_producer", RingProducer),
        off!("xpu_ring_producer", RingProducer, prod),
        off!("xpu_ring_producer", RingProducer, prod_event),
        size!("xpu_ring_consumer", RingConsumer),
        off!("xpu_ring_consumer", RingConsumer, cons),
        off!("xpu_ring_consumer", RingConsumer, cons_event),
        off!("xpu_ring_consumer", RingConsumer, depth),
        size!("xpu_desc", Desc),
        off!("xpu_desc", Desc, off),
        off!("xpu_desc", Desc, len),
        off!("xpu_desc", Desc, csum_start),
        off!("xpu_desc", Desc, csum_offset),
        off!("xpu_desc", Desc, gso_size),
        off!("xpu_desc", Desc, gso_type),
        off!("xpu_desc", Desc, flags),
        ("XPU_SHM_MAGIC", "XPU_SHM_MAGIC", u64::from(MAGIC)),
        ("XPU_SHM_VERSION", "XPU_SHM_VERSION", u64::from(VERSION)),
        (
            "XPU_SHM_CACHE_LINE",
            "XPU_SHM_CACHE_LINE",
            CACHE_LINE as u64,
        ),
        (
            "XPU_SHM_SIDE_HEADER_SPACE",
            "XPU_SHM_SIDE_HEADER_SPACE",
            SIDE_HEADER_SPACE as u64,
        ),
        (
            "XPU_SHM_MAX_QUEUES",
            "XPU_SHM_MAX_QUEUES",
            u64::from(MAX_QUEUES),
        ),
        (
            "XPU_SHM_MIN_RING_SIZE",
            "XPU_SHM_MIN_RING_SIZE",
            u64::from(MIN_RING_SIZE),
        ),
        (
            "XPU_SHM_MAX_RING_SIZE",
            "XPU_SHM_MAX_RING_SIZE",
            u64::from(MAX_RING_SIZE),
        ),
        (
            "XPU_SHM_MIN_BUF_SIZE",
            "XPU_SHM_MIN_BUF_SIZE",
            u64::from(MIN_BUF_SIZE),
        ),
        (
            "XPU_SHM_MAX_BUF_SIZE",
            "XPU_SHM_MAX_BUF_SIZE",
            u64::from(MAX_BUF_SIZE),
        ),
        ("XPU_SIDE_DOWN", "XPU_SIDE_DOWN", SideState::Down as u64),
        ("XPU_SIDE_READY", "XPU_SIDE_READY", SideState::Ready as u64),
        ("XPU_SIDE_UP", "XPU_SIDE_UP", SideState::Up as u64),
        (
            "XPU_SIDE_RESETTING",
            "XPU_SIDE_RESETTING",
            SideState::Resetting as u64,
        ),
        (
            "XPU_DESC_F_CSUM_PARTIAL",
            "XPU_DESC_F_CSUM_PARTIAL",
            u64::from(DESC_F_CSUM_PARTIAL),
        ),
        (
            "XPU_DESC_F_DATA_VALID",
            "XPU_DESC_F_DATA_VALID",
            u64::from(DESC_F_DATA_VALID),
        ),
        ("XPU_GSO_NONE", "XPU_GSO_NONE", u64::from(GSO_NONE)),
        ("XPU_GSO_TCPV4", "XPU_GSO_TCPV4", u64::from(GSO_TCPV4)),
        ("XPU_GSO_TCPV6", "XPU_GSO_TCPV6", u64::from(GSO_TCPV6)),
        ("XPU_GSO_UDP_L4", "XPU_GSO_UDP_L4", u64::from(GSO_UDP_L4)),
        ("XPU_GSO_F_ECN", "XPU_GSO_F_ECN", u64::from(GSO_F_ECN)),
    ]
    .into_iter()
    .chain(genl_items())
    .chain(link_items())
    .collect()
}

/// The link kind: linux/xpu.h (generated from uapi/xpu.yaml) against link.rs.
fn link_items() -> Vec<(&'static str, &'static str, u64)> {
    macro_rules! c {
        ($c:literal, $v:expr) => {
            ($c, $c, u64::from($v))
        };
    }
    use link::{attr, role};
    vec![
        c!("IFLA_XPU_PEER_INFO", attr::PEER_INFO),
        c!("IFLA_XPU_QUEUES", attr::QUEUES),
        c!("IFLA_XPU_RING_SIZE", attr::RING_SIZE),
        c!("IFLA_XPU_ROLE", attr::ROLE),
        c!("IFLA_XPU_LINK_STATE", attr::LINK_STATE),
        c!("IFLA_XPU_STATUS", attr::STATUS),
        c!("IFLA_XPU_LINK_ID", attr::LINK_ID),
        c!("IFLA_XPU_MAX", attr::MAX),
        c!("XPU_DEFAULT_QUEUES", link::DEFAULT_QUEUES),
        c!("XPU_DEFAULT_RING_SIZE", link::DEFAULT_RING_SIZE),
        c!("XPU_LINK_ROLE_PAIR", role::PAIR),
        c!("XPU_LINK_ROLE_HOST", role::HOST),
        c!("XPU_LINK_ROLE_DPU", role::DPU),
    ]
}

/// The generic-netlink family: linux/xpu.h (generated from uapi/xpu.yaml) against genl.rs.
fn genl_items() -> Vec<(&'static str, &'static str, u64)> {
    macro_rules! c {
        ($c:literal, $v:expr) => {
            ($c, $c, u64::from($v))
        };
    }
    use genl::{claim, cmd, port, splitns, PeerState};
    vec![
        c!("XPU_FAMILY_VERSION", genl::FAMILY_VERSION),
        c!("XPU_NAME_LEN", genl::NAME_LEN as u32),
        (
            "sizeof XPU_FAMILY_NAME",
            "sizeof(XPU_FAMILY_NAME) - 1",
            genl::FAMILY_NAME.len() as u64,
        ),
        c!("XPU_CMD_SPLITNS_GET", cmd::SPLITNS_GET),
        c!("XPU_CMD_SPLITNS_CREATE", cmd::SPLITNS_CREATE),
        c!("XPU_CMD_SPLITNS_DELETE", cmd::SPLITNS_DELETE),
        c!("XPU_CMD_PORT_GET", cmd::PORT_GET),
        c!("XPU_CMD_PORT_ADD", cmd::PORT_ADD),
        c!("XPU_CMD_PORT_DEL", cmd::PORT_DEL),
        c!("XPU_CMD_SPLITNS_CHANGE_NTF", cmd::SPLITNS_CHANGE_NTF),
        c!("XPU_CMD_PORT_CHANGE_NTF", cmd::PORT_CHANGE_NTF),
        c!("XPU_A_SPLITNS_NAME", splitns::NAME),
        c!("XPU_A_SPLITNS_IFINDEX", splitns::IFINDEX),
        c!("XPU_A_SPLITNS_ADDR", splitns::ADDR),
        c!("XPU_A_SPLITNS_HALF", splitns::HALF),
        c!("XPU_A_SPLITNS_PORT_MIN", splitns::PORT_MIN),
        c!("XPU_A_SPLITNS_PORT_MAX", splitns::PORT_MAX),
        c!("XPU_A_SPLITNS_PEER_STATE", splitns::PEER_STATE),
        c!("XPU_A_SPLITNS_PORTS", splitns::PORTS),
        c!("XPU_A_SPLITNS_PEER_PORTS", splitns::PEER_PORTS),
        c!("XPU_A_SPLITNS_PEER_PORT_MIN", splitns::PEER_PORT_MIN),
        c!("XPU_A_SPLITNS_PEER_PORT_MAX", splitns::PEER_PORT_MAX),
        c!("XPU_A_SPLITNS_STEERED", splitns::STEERED),
        c!("XPU_A_SPLITNS_DELIVERED", splitns::DELIVERED),
        c!("XPU_A_SPLITNS_ADDR6", splitns::ADDR6),
        c!("XPU_A_SPLITNS_REFUSED", splitns::REFUSED),
        c!("XPU_A_SPLITNS_MAX", splitns::MAX),
        c!("XPU_A_PORT_PORT", port::PORT),
        c!("XPU_A_PORT_HALF", port::HALF),
        c!("XPU_A_PORT_CLAIM", port::CLAIM),
        c!("XPU_A_PORT_MAX", port::MAX),
        c!("XPU_CLAIM_REGISTERED", claim::REGISTERED),
        c!("XPU_CLAIM_SOCKET", claim::SOCKET),
        c!("XPU_HALF_HOST", Half::Host as u32),
        c!("XPU_HALF_DPU", Half::Dpu as u32),
        c!("XPU_PEER_STATE_UNKNOWN", PeerState::Unknown as u32),
        c!("XPU_PEER_STATE_UNSPLIT", PeerState::Unsplit as u32),
        c!("XPU_PEER_STATE_SPLIT", PeerState::Split as u32),
        c!("XPU_PEER_STATE_CONFLICT", PeerState::Conflict as u32),
    ]
}

#[test]
fn c_header_matches_rust() {
    let uapi = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let src = dir.join("xpu_shm_check.c");
    let bin = dir.join("xpu_shm_check");
    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <linux/xpu_shm.h>\n#include <linux/xpu.h>\nint main(void) {\n",
    );
    for (name, expr, _) in items() {
        c += &format!("\tprintf(\"%s=%llu\\n\", \"{name}\", (unsigned long long)({expr}));\n");
    }
    c += "\treturn 0;\n}\n";
    std::fs::write(&src, c).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-Wall", "-Werror", "-I"])
        .arg(&uapi)
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler '{cc}': {e}"));
    assert!(st.success(), "{cc} failed to compile linux/xpu_shm.h");
    let out = Command::new(&bin).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let c_vals: HashMap<&str, u64> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    let mut mismatches = Vec::new();
    for (name, _, rust) in items() {
        match c_vals.get(name) {
            Some(&c) if c == rust => {}
            other => mismatches.push(format!("{name}: C {other:?}, Rust {rust}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "header and shm.rs disagree:\n{}",
        mismatches.join("\n")
    );
}
