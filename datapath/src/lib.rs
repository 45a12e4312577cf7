// SPDX-License-Identifier: GPL-2.0

//! xpu's datapath as a library: one end of a link transmitting into its rings of a shared
//! window and polling the peer's, generic over what differs between the kernel and a test.
//!
//! The kernel module compiles these very files (driver/datapath.rs includes them with
//! `#[path]`, as it does the uapi), and implements the traits of [`mem`] and [`port`] over
//! its window, net_device, NAPI and jiffies (driver/net/datapath.rs). The tests implement them
//! over plain memory, `loom` atomics and a hostile peer, so that what they check is the code
//! the kernel runs. Nothing here names a kernel type: errors and drop reasons are this crate's
//! own, and the driver converts them.
//!
//! The modules refer to each other, and to the uapi, as `super::`: the crate root here, the
//! `datapath` module in the driver.

#![no_std]
#![deny(unsafe_code)]

pub mod conn;
pub mod mem;
pub mod meta;
pub mod port;
pub mod rss;
pub mod stats;
pub mod toeplitz;

pub use xpu_uapi::{data, ring, shm};
