// SPDX-License-Identifier: GPL-2.0

//! Builds the ownership agent's BPF programs (src/bpf/ownership.bpf.c) and their libbpf-rs
//! skeleton.

use std::{env, path::PathBuf};

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "src/bpf/ownership.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    SkeletonBuilder::new()
        .source(SRC)
        // Debian keeps asm/types.h under the multiarch directory, which -target bpf misses.
        .clang_args(["-I/usr/include/x86_64-linux-gnu"])
        .build_and_generate(out.join("ownership.skel.rs"))
        .expect("building the BPF programs failed (clang, and libbpf's headers)");
    println!("cargo:rerun-if-changed={SRC}");
}
