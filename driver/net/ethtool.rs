// SPDX-License-Identifier: GPL-2.0

//! `ethtool -S`: the driver lists its counters once, through a [`StatSink`], and the same
//! walk yields the count, the names and the values, so the three can never disagree.

use core::fmt::{self, Write};

use kernel::bindings;

/// Bytes of one counter name (`ETH_GSTRING_LEN`).
pub(crate) const NAME_LEN: usize = bindings::ETH_GSTRING_LEN as usize;

/// Where [`StatSink::stat`] puts each counter.
pub(crate) enum StatSink<'a> {
    /// Just count them.
    Count(usize),
    /// Write the names, NUL-padded.
    Names(&'a mut [[u8; NAME_LEN]], usize),
    /// Write the values.
    Values(&'a mut [u64], usize),
}

/// Writes into a fixed name buffer, truncating (and keeping a final NUL).
struct NameWriter<'a> {
    buf: &'a mut [u8; NAME_LEN],
    len: usize,
}

impl Write for NameWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len + 1 >= NAME_LEN {
                break;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

impl StatSink<'_> {
    /// One counter: `name` and its current `value`.
    pub(crate) fn stat(&mut self, name: fmt::Arguments<'_>, value: u64) {
        match self {
            Self::Count(n) => *n += 1,
            Self::Names(bufs, i) => {
                if let Some(buf) = bufs.get_mut(*i) {
                    *buf = [0; NAME_LEN];
                    let _ = NameWriter { buf, len: 0 }.write_fmt(name);
                }
                *i += 1;
            }
            Self::Values(vals, i) => {
                if let Some(v) = vals.get_mut(*i) {
                    *v = value;
                }
                *i += 1;
            }
        }
    }
}
