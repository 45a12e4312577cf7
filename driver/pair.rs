// SPDX-License-Identifier: GPL-2.0

//! Pair mode's transport: both ends in one kernel, the window in kernel memory, and the
//! doorbells direct NAPI scheduling (driver/xpu_shim.c, `xpu_peer_napi_schedule`).

#![deny(unsafe_code)]

use kernel::{prelude::*, sync::Arc};

use crate::{
    net::window::Window,
    queue::{Conn, Signal, MAX_PACKET},
    shm::{Layout, LayoutError, MAX_BUF_SIZE, MAX_WINDOW_SIZE, MIN_BUF_SIZE, MIN_WINDOW_SIZE},
};

/// Bytes of data area per queue, at least: room for a few of the largest packets, so a GSO
/// stream keeps several in flight.
const MIN_DATA_AREA: u32 = 4 * MAX_PACKET;

/// The per-descriptor data size for rings of `ring_size`: 2 KiB (a full-size frame) per
/// descriptor, more for small rings so that the area still takes [`MIN_DATA_AREA`].
pub(crate) fn buf_size(ring_size: u32) -> u32 {
    let per_desc = MIN_DATA_AREA
        .div_ceil(ring_size.max(1))
        .next_multiple_of(64);
    per_desc.clamp(MIN_BUF_SIZE, MAX_BUF_SIZE)
}

/// Creates the window of a pair with `queues` queues of `ring_size` descriptors and returns
/// its two ends (side 0 and side 1).
pub(crate) fn connect(queues: u16, ring_size: u32, mtu: u32) -> Result<(Conn, Conn)> {
    let buf = buf_size(ring_size);
    let mut size = MIN_WINDOW_SIZE;
    let layout = loop {
        match Layout::new(size, queues, ring_size, buf) {
            Ok(l) => break l,
            Err(LayoutError::TooBig) if size < MAX_WINDOW_SIZE => size *= 2,
            Err(_) => return Err(EINVAL),
        }
    };
    let window = Arc::new(Window::new(usize::try_from(size)?)?, GFP_KERNEL)?;
    let a = Conn::new(window.clone(), layout, 0, mtu, Signal::Pair, 1, 0)?;
    let b = Conn::new(window, layout, 1, mtu, Signal::Pair, 1, 0)?;
    Ok((a, b))
}
