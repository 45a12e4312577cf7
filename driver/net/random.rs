// SPDX-License-Identifier: GPL-2.0

//! Random numbers from the kernel's generator (7.3's kernel crate has no wrapper for it).

/// A random `u32`.
pub(crate) fn random_u32() -> u32 {
    let mut v = 0u32;
    // SAFETY: `v` is valid for writes of its size.
    unsafe { kernel::bindings::get_random_bytes((&raw mut v).cast(), core::mem::size_of::<u32>()) };
    v
}
