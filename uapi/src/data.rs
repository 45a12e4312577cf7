// SPDX-License-Identifier: GPL-2.0

//! Where a producer puts packet data in a queue's data area.
//!
//! The data area is a byte ring: packets are placed one after the other and are freed in the
//! order they were sent (rings are FIFO), so the free space is always the stretch from the end
//! of the newest packet (`head`) to the start of the oldest one still in flight (`tail`). A
//! packet is contiguous: when it does not fit before the end of the area, it starts again at
//! offset 0 and the bytes left at the end wait for the next lap. Only the producer runs this;
//! the consumer just checks that a descriptor lies inside the area
//! ([`crate::shm::Layout::check_desc`]).

use crate::shm::CACHE_LINE;

/// A queue's data area.
///
/// # Invariants
///
/// `size` is a non-zero multiple of [`CACHE_LINE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataArea {
    size: u32,
}

impl DataArea {
    /// An area of `size` bytes; `None` unless `size` is a non-zero multiple of [`CACHE_LINE`].
    pub const fn new(size: u32) -> Option<Self> {
        if size != 0 && size % CACHE_LINE as u32 == 0 {
            Some(Self { size })
        } else {
            None
        }
    }

    /// Bytes in the area.
    pub const fn size(&self) -> u32 {
        self.size
    }

    /// Bytes a packet of `len` bytes takes: rounded up to a cache line, so that packets never
    /// share a line (the consumer may read one while the producer writes the next).
    pub const fn footprint(len: u32) -> Option<u32> {
        match len.checked_add(CACHE_LINE as u32 - 1) {
            Some(v) => Some(v & !(CACHE_LINE as u32 - 1)),
            None => None,
        }
    }

    /// Where a packet of `len` bytes goes, given `head` (the end of the newest packet, in
    /// `0..=size`) and `tail` (the start of the oldest packet in flight, or `None` when
    /// nothing is). Returns the offset of the packet in the area, or `None` if it does not fit
    /// now (or ever). The caller's new `head` is the offset plus [`Self::footprint`].
    pub const fn place(&self, head: u32, tail: Option<u32>, len: u32) -> Option<u32> {
        let Some(n) = Self::footprint(len) else {
            return None;
        };
        if len == 0 || n > self.size || head > self.size {
            return None;
        }
        match tail {
            // Empty: start over at 0, so the whole area is one free stretch.
            None => Some(0),
            // In flight: [tail, head). Free: [head, size) then [0, tail).
            Some(t) if head > t => {
                if n <= self.size - head {
                    Some(head)
                } else if n <= t {
                    Some(0)
                } else {
                    None
                }
            }
            // In flight: [tail, size) and [0, head), or the area is full (head == tail).
            // Free: [head, tail).
            Some(t) => {
                if n <= t - head {
                    Some(head)
                } else {
                    None
                }
            }
        }
    }
}
