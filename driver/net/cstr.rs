// SPDX-License-Identifier: GPL-2.0

//! [`CStrWriter`]: formatted text into a fixed C `char` array (ethtool's names and versions,
//! a port name, an extack's own message buffer), as `snprintf` writes it.

use core::fmt;

/// Writes into a fixed C string buffer, truncating and keeping a final NUL.
pub(super) struct CStrWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// Whether everything written fitted.
    pub(super) whole: bool,
}

impl<'a> CStrWriter<'a> {
    /// A writer of an empty string into `buf`, which is zeroed.
    pub(super) fn new(buf: &'a mut [u8]) -> Self {
        buf.fill(0);
        Self {
            buf,
            len: 0,
            whole: true,
        }
    }
}

impl fmt::Write for CStrWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // The last byte stays the NUL.
        let room = self.buf.len().saturating_sub(1);
        for &b in s.as_bytes() {
            match self.buf.get_mut(self.len) {
                Some(c) if self.len < room => *c = b,
                _ => {
                    self.whole = false;
                    break;
                }
            }
            self.len += 1;
        }
        Ok(())
    }
}
