// SPDX-License-Identifier: GPL-2.0

//! The datapath library (datapath/ at the top of the repository): transmit, poll,
//! back-pressure, re-arm and reset over a window, generic over the window, the port and the
//! clock. The module compiles the very files that userspace tests with loom, property tests
//! and a hostile-peer fuzzer; driver/net/datapath.rs implements the traits for the kernel.
//!
//! The library's files name their siblings and the uapi as `super::`, which here is this
//! module, so the uapi modules of the crate root are re-exported below.

#![allow(dead_code, unreachable_pub)]

#[path = "../datapath/src/conn.rs"]
pub(crate) mod conn;
#[path = "../datapath/src/mem.rs"]
pub(crate) mod mem;
#[path = "../datapath/src/meta.rs"]
pub(crate) mod meta;
#[path = "../datapath/src/port.rs"]
pub(crate) mod port;
#[path = "../datapath/src/rss.rs"]
pub(crate) mod rss;
#[path = "../datapath/src/stats.rs"]
pub(crate) mod stats;
#[path = "../datapath/src/toeplitz.rs"]
pub(crate) mod toeplitz;

pub(crate) use crate::{data, ring, shm};
