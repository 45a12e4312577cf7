// SPDX-License-Identifier: GPL-2.0

//! The xpu contract between the two ends of a link and between the kernel and userspace.
//!
//! `no_std` and dependency-free, so the kernel module can include the same files with
//! `#[path]` and both sides agree on every byte. `linux/xpu_shm.h` is the C twin of [`shm`];
//! `tests/c_header.rs` checks that they match.

#![no_std]

pub mod data;
pub mod genl;
pub mod link;
pub mod ring;
pub mod shm;
pub mod steer;
pub mod sync;
