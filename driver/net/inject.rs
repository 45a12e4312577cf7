// SPDX-License-Identifier: GPL-2.0

//! Fault injection for the tests, in debugfs as the kernel's drivers have it: each file of
//! `/sys/kernel/debug/xpu/` (root only) holds how many times to inject its fault; writing `N`
//! arms it `N` times, reading it shows what is left. They reach paths a running kernel takes only
//! when something goes wrong at the wrong moment, so that a test can show they are handled.
//! Nothing is injected unless a test writes a file.

use core::fmt;

use kernel::{
    debugfs::{Dir, File, Reader},
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
    uaccess::UserSliceReader,
};

/// The next NAPI poll finds its device without state (the poll trampoline's early return):
/// the poll must still complete NAPI, or the context stays scheduled for good.
pub(super) static POLL_NO_STATE: Atomic<u32> = Atomic::new(0);
/// The next PCI-mode device that closes queues its control work, as a violation its last poll
/// counted would; if that work runs, it first sleeps two seconds (as if its workqueue were
/// busy) before it touches the device. When the device is going away, the queueing must be
/// refused: a work that ran would find the device freed.
pub(super) static CTRL_LATE: Atomic<u32> = Atomic::new(0);
/// The control work that `CTRL_LATE` queued (its address), while it has not started: that one
/// work, and no other device's, sleeps first.
pub(super) static CTRL_DELAY: Atomic<usize> = Atomic::new(0);

/// Whether the fault `f` is armed: if so, it is injected now (one fewer is left).
pub(super) fn fire(f: &Atomic<u32>) -> bool {
    let mut n = f.load(Relaxed);
    while n > 0 {
        match f.cmpxchg(n, n - 1, Relaxed) {
            Ok(_) => return true,
            Err(now) => n = now,
        }
    }
    false
}

/// A debugfs file's view of one fault's counter.
struct Knob(&'static Atomic<u32>);

impl fmt::Debug for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.load(Relaxed))
    }
}

impl Reader for Knob {
    fn read_from_slice(&self, reader: &mut UserSliceReader) -> Result {
        let mut buf = [0u8; 12];
        let n = reader.len();
        if n > buf.len() {
            return Err(EINVAL);
        }
        reader.read_slice(&mut buf[..n])?;
        let s = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
        self.0
            .store(s.trim().parse::<u32>().map_err(|_| EINVAL)?, Relaxed);
        Ok(())
    }
}

/// The debugfs directory and its files, for as long as the module is loaded.
#[pin_data]
pub(crate) struct Knobs {
    #[pin]
    poll_no_state: File<Knob>,
    #[pin]
    ctrl_late: File<Knob>,
    // Last: the files go first.
    _dir: Dir,
}

impl Knobs {
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        let dir = Dir::new(c"xpu");
        try_pin_init!(Self {
            poll_no_state <- dir.read_write_file(c"poll_no_state", Knob(&POLL_NO_STATE)),
            ctrl_late <- dir.read_write_file(c"ctrl_late", Knob(&CTRL_LATE)),
            _dir: dir,
        }? Error)
    }
}
