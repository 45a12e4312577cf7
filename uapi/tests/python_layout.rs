// SPDX-License-Identifier: GPL-2.0
//! kselftest/xpu_shm.py, the window layout for the Python peer (kselftest/xpu_peer.py), is
//! generated from `shm.rs`: this test renders it from Rust's view of every size, offset and
//! constant and fails if the committed file differs. `XPU_BLESS=1 cargo test -p xpu-uapi
//! --test python_layout` rewrites it.

use std::{fmt::Write, mem::offset_of, path::PathBuf};

use xpu_uapi::shm::*;

/// `struct` module format of a little-endian field of `bytes` bytes.
fn fmt(bytes: usize) -> char {
    match bytes {
        1 => 'B',
        2 => 'H',
        4 => 'I',
        8 => 'Q',
        n => panic!("no struct format for a {n}-byte field"),
    }
}

/// The size of field `$f` of `$t`.
macro_rules! field_size {
    ($t:ty, $f:ident) => {{
        let v: $t = Default::default();
        std::mem::size_of_val(&v.$f)
    }};
}

macro_rules! fields {
    ($out:expr, $name:literal, $t:ty, [$($f:ident),* $(,)?]) => {{
        writeln!($out, "{}_SIZE = {}", $name, std::mem::size_of::<$t>()).expect("a String takes any write");
        writeln!($out, "# (field, offset, struct format)").expect("a String takes any write");
        writeln!($out, "{} = [", $name).expect("a String takes any write");
        $(
            writeln!(
                $out,
                "    (\"{}\", {}, \"{}\"),",
                stringify!($f),
                offset_of!($t, $f),
                fmt(field_size!($t, $f))
            )
            .expect("a String takes any write");
        )*
        writeln!($out, "]").expect("a String takes any write");
    }};
}

fn render() -> String {
    let mut s = String::new();
    s.push_str(
        "# SPDX-License-Identifier: GPL-2.0\n\
         # Generated from uapi/src/shm.rs by uapi/tests/python_layout.rs; do not edit.\n\
         # XPU_BLESS=1 cargo test -p xpu-uapi --test python_layout rewrites it.\n\
         \"\"\"The xpu shared-memory window layout (uapi/linux/xpu_shm.h), for the Python tools.\"\"\"\n\n",
    );
    writeln!(s, "MAGIC = {MAGIC:#010x}").expect("a String takes any write");
    writeln!(s, "VERSION = {VERSION:#010x}").expect("a String takes any write");
    writeln!(s, "CACHE_LINE = {CACHE_LINE}").expect("a String takes any write");
    writeln!(s, "SIDE_HEADER_SPACE = {SIDE_HEADER_SPACE}").expect("a String takes any write");
    writeln!(s, "MAX_QUEUES = {MAX_QUEUES}").expect("a String takes any write");
    writeln!(s, "MIN_RING_SIZE = {MIN_RING_SIZE}").expect("a String takes any write");
    writeln!(s, "MAX_RING_SIZE = {MAX_RING_SIZE}").expect("a String takes any write");
    writeln!(s, "DESC_F_CSUM_PARTIAL = {DESC_F_CSUM_PARTIAL:#x}")
        .expect("a String takes any write");
    writeln!(s, "DESC_F_DATA_VALID = {DESC_F_DATA_VALID:#x}").expect("a String takes any write");
    writeln!(s, "GSO_NONE = {GSO_NONE}").expect("a String takes any write");
    writeln!(s, "FEATURE_RSS = {FEATURE_RSS:#x}").expect("a String takes any write");
    writeln!(s, "FEATURE_NONCOHERENT = {FEATURE_NONCOHERENT:#x}")
        .expect("a String takes any write");
    let states = [
        SideState::Down,
        SideState::Ready,
        SideState::Up,
        SideState::Resetting,
    ];
    let states: Vec<String> = states
        .iter()
        .map(|&st| format!("\"{}\": {}", format!("{st:?}").to_lowercase(), st as u32))
        .collect();
    writeln!(s, "STATES = {{{}}}\n", states.join(", ")).expect("a String takes any write");
    fields!(
        s,
        "SIDE_HEADER",
        SideHeader,
        [
            magic,
            version,
            features,
            state,
            generation,
            peer_generation,
            link_id,
            num_queues,
            reserved,
            ring_size,
            buf_size,
            mtu,
            ring_off,
            cons_off,
            data_off,
            half_size,
        ]
    );
    s.push('\n');
    fields!(s, "RING_PRODUCER", RingProducer, [prod, prod_event]);
    s.push('\n');
    fields!(s, "RING_CONSUMER", RingConsumer, [cons, cons_event, depth]);
    s.push('\n');
    fields!(
        s,
        "DESC",
        Desc,
        [off, len, csum_start, csum_offset, gso_size, gso_type, flags]
    );
    s
}

#[test]
fn python_layout_is_generated_from_shm_rs() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kselftest/xpu_shm.py");
    let want = render();
    if std::env::var_os("XPU_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write kselftest/xpu_shm.py");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "kselftest/xpu_shm.py is stale: XPU_BLESS=1 cargo test -p xpu-uapi --test python_layout"
    );
}
