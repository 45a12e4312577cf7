// SPDX-License-Identifier: GPL-2.0
//! A simulated link for the datapath's tests: a window of plain memory that checks every
//! access, two ends' devices (TX queues, NAPI contexts, coalescing timers) and a clock, over
//! which the tests run the library's real `Conn::transmit` and `Conn::poll`.
//!
//! Packets carry a tag (queue, sequence number, length) in their first and last words, so a
//! receiver can tell a lost, duplicated, reordered or overwritten packet.

#![allow(dead_code)]

pub mod loom_link;
pub mod sim;

use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering::*},
        Arc, Mutex,
    },
};

use xpu_datapath::{
    conn::{storage_words, Config, Conn, MAX_PACKET},
    mem::SharedMem,
    meta::{VnetHdr, VNET_GSO_UDP},
    port::{Clock, Delivered, DropReason, Mode, Moderation, Poller, Port, TxPacket},
    shm::{
        Desc, Layout, LayoutError, MAX_BUF_SIZE, MAX_QUEUES, MAX_WINDOW_SIZE, MIN_BUF_SIZE,
        MIN_WINDOW_SIZE,
    },
    stats::{RxStats, TxStats},
};

/// The smallest data area per descriptor: a queue with it stops after every packet once its
/// area is no bigger than the largest packet (a byte-room stop each time).
pub const SMALL_BUF: u32 = 2048;

/// Pair mode's data per descriptor (driver/pair.rs): room for four of the largest packets
/// per queue, so a queue stops only when its ring or its area is nearly full.
pub fn pair_buf(ring_size: u32) -> u32 {
    (4 * MAX_PACKET)
        .div_ceil(ring_size)
        .next_multiple_of(64)
        .clamp(MIN_BUF_SIZE, MAX_BUF_SIZE)
}

/// The smallest window that holds `queues` rings of `ring_size` with `buf` bytes per
/// descriptor (as pair mode sizes it).
pub fn layout(queues: u16, ring_size: u32, buf: u32) -> Layout {
    let mut size = MIN_WINDOW_SIZE;
    loop {
        match Layout::new(size, queues, ring_size, buf) {
            Ok(l) => return l,
            Err(LayoutError::TooBig) if size < MAX_WINDOW_SIZE => size *= 2,
            Err(e) => panic!("no layout for {queues} queues of {ring_size}: {e:?}"),
        }
    }
}

/// A window of plain memory, as one end sees it. Accesses through [`SharedMem`] are the
/// datapath's: they are bounds-checked, counted when they would have gone outside, and (when
/// `writer_half` is set) checked to write only that half. The peer of a fuzz test writes with
/// [`Mem::poke`].
///
/// The medium is coherent ([`Mem::new`]: both ends share the words), or not
/// ([`Mem::noncoherent`] and [`Mem::view`]: each end has a cache of its own, as two hosts that
/// share CXL memory without back-invalidation do). A non-coherent end's loads fill its cache
/// with lines of the medium and then read them there, however stale; its stores stay in its
/// cache. Only
/// [`SharedMem::writeback`] puts a line back in the medium, and only
/// [`SharedMem::invalidate`] makes the next load read the medium again.
pub struct Mem {
    words: Arc<Vec<AtomicU32>>,
    /// Accesses the datapath attempted outside the window or misaligned (must stay 0).
    pub oob: Arc<AtomicU64>,
    /// Writes the datapath made outside `writer_half` (must stay 0).
    pub foreign_writes: Arc<AtomicU64>,
    /// The half (its offset) the datapath's writes must stay in, if checked.
    pub writer_half: Option<(u32, u32)>,
    /// This end's cache, on a medium that is not coherent.
    cache: Option<Cache>,
}

/// Bytes of a cache line, and its words.
const LINE: u32 = 64;
const LINE_WORDS: usize = 16;

/// One end's cache of a non-coherent medium.
pub struct Cache {
    lines: Mutex<HashMap<u32, Line>>,
    /// Whether writeback and invalidate do anything (`false`: a datapath without them).
    flushes: bool,
    /// Where they do nothing: a datapath that forgot them for one region.
    pub blind: Mutex<Vec<std::ops::Range<u32>>>,
    /// Lines this end asked to write back, and to invalidate: the instructions a CPU would
    /// run (clwb, clflushopt: one per line, cached or not).
    pub writeback_lines: AtomicU64,
    pub invalidate_lines: AtomicU64,
}

#[derive(Clone, Copy)]
struct Line {
    words: [u32; LINE_WORDS],
    dirty: bool,
}

impl Cache {
    fn new(flushes: bool) -> Self {
        Self {
            lines: Mutex::new(HashMap::new()),
            flushes,
            blind: Mutex::new(Vec::new()),
            writeback_lines: AtomicU64::new(0),
            invalidate_lines: AtomicU64::new(0),
        }
    }
}

impl Mem {
    pub fn new(size: u64) -> Self {
        Self {
            words: Arc::new((0..size / 4).map(|_| AtomicU32::new(0)).collect()),
            oob: Arc::new(AtomicU64::new(0)),
            foreign_writes: Arc::new(AtomicU64::new(0)),
            writer_half: None,
            cache: None,
        }
    }

    /// A window on a medium that is not coherent between the ends, as the first end sees it
    /// ([`Mem::view`] gives the other end's); `flushes: false` makes this end's
    /// [`SharedMem::writeback`] and [`SharedMem::invalidate`] do nothing.
    pub fn noncoherent(size: u64, flushes: bool) -> Self {
        Self {
            cache: Some(Cache::new(flushes)),
            ..Self::new(size)
        }
    }

    /// The other end's view of the same medium: the same words and counters, a cache of its
    /// own if the medium is not coherent.
    pub fn view(&self) -> Self {
        Self {
            words: Arc::clone(&self.words),
            oob: Arc::clone(&self.oob),
            foreign_writes: Arc::clone(&self.foreign_writes),
            writer_half: None,
            cache: self.cache.as_ref().map(|c| Cache::new(c.flushes)),
        }
    }

    /// This end's cache, if the medium is not coherent.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// Fills this end's cache with every line of the window as it is now, so that whatever
    /// the peer writes later is stale here until invalidated (not only what this end had
    /// happened to read).
    pub fn warm(&self) {
        if let Some(c) = &self.cache {
            for off in (0..self.size()).step_by(LINE as usize) {
                // CAST: the window is smaller than 4 GiB.
                self.with_line(c, off as u32, |_| ());
            }
        }
    }

    /// The lines of `off..off + len` that the flushes reach: not those in a blind region.
    fn flushed(c: &Cache, off: u32, len: u32) -> Vec<u32> {
        let blind = c.blind.lock().expect("blind lock");
        Self::lines(off, len)
            .filter(|i| !blind.iter().any(|r| r.contains(&(i * LINE))))
            .collect()
    }

    /// Runs `f` on this end's cached copy of the line that holds `off`, filled from the medium
    /// if it is not cached (`off` was bounds-checked).
    fn with_line<R>(&self, cache: &Cache, off: u32, f: impl FnOnce(&mut Line) -> R) -> R {
        let mut lines = cache.lines.lock().expect("cache lock");
        let line = lines.entry(off / LINE).or_insert_with(|| {
            let first = (off / LINE * LINE / 4) as usize;
            let mut words = [0; LINE_WORDS];
            for (i, w) in words.iter_mut().enumerate() {
                *w = self.words.get(first + i).map_or(0, |a| a.load(Relaxed));
            }
            Line {
                words,
                dirty: false,
            }
        });
        f(line)
    }

    /// Writes a cached line back to the medium.
    fn put_back(&self, index: u32, line: &Line) {
        let first = (index * LINE / 4) as usize;
        for (i, w) in line.words.iter().enumerate() {
            if let Some(a) = self.words.get(first + i) {
                a.store(*w, Relaxed);
            }
        }
    }

    /// The cache lines that `len` bytes at `off` touch.
    fn lines(off: u32, len: u32) -> std::ops::Range<u32> {
        if len == 0 {
            return 0..0;
        }
        let end = u64::from(off) + u64::from(len) - 1;
        off / LINE..(end / u64::from(LINE)) as u32 + 1
    }

    /// Writes this end's dirty lines of `len` bytes at `off` back to the medium (clwb) and,
    /// with `drop`, drops them from its cache too (clflushopt, which writes a dirty line back
    /// first). Counts every line asked for, cached or not: the instructions a CPU would run.
    fn flush(&self, off: u32, len: u32, drop: bool) {
        let Some(c) = self.cache.as_ref().filter(|c| c.flushes) else {
            return;
        };
        let todo = Self::flushed(c, off, len);
        let counter = if drop {
            &c.invalidate_lines
        } else {
            &c.writeback_lines
        };
        counter.fetch_add(todo.len() as u64, Relaxed);
        let mut lines = c.lines.lock().expect("cache lock");
        for i in todo {
            let line = if drop {
                lines.remove(&i)
            } else {
                lines.get_mut(&i).map(|l| {
                    let was = *l;
                    l.dirty = false;
                    was
                })
            };
            if let Some(l) = line.filter(|l| l.dirty) {
                self.put_back(i, &l);
            }
        }
    }

    fn cached_load(&self, off: u32, order: std::sync::atomic::Ordering) -> Option<u32> {
        let w = self.word(off)?;
        Some(match &self.cache {
            Some(c) => self.with_line(c, off, |l| l.words[(off % LINE / 4) as usize]),
            None => w.load(order),
        })
    }

    fn cached_store(&self, off: u32, v: u32, order: std::sync::atomic::Ordering) -> Option<()> {
        let w = self.write_word(off)?;
        match &self.cache {
            Some(c) => self.with_line(c, off, |l| {
                l.words[(off % LINE / 4) as usize] = v;
                l.dirty = true;
            }),
            None => w.store(v, order),
        }
        Some(())
    }

    fn word(&self, off: u32) -> Option<&AtomicU32> {
        let w = if off % 4 == 0 {
            self.words.get(off as usize / 4)
        } else {
            None
        };
        if w.is_none() {
            self.oob.fetch_add(1, Relaxed);
        }
        w
    }

    fn write_word(&self, off: u32) -> Option<&AtomicU32> {
        if let Some((start, len)) = self.writer_half {
            if off < start || off - start >= len {
                self.foreign_writes.fetch_add(1, Relaxed);
            }
        }
        self.word(off)
    }

    /// The peer's (or the test's) write, to the medium: not checked, not counted.
    pub fn poke(&self, off: u32, v: u32) {
        if let Some(w) = self.words.get(off as usize / 4) {
            w.store(v, Relaxed);
        }
    }

    /// The test's read, of the medium.
    pub fn peek(&self, off: u32) -> u32 {
        self.words
            .get(off as usize / 4)
            .map_or(0, |w| w.load(Relaxed))
    }
}

/// A descriptor as the four words the layout gives it (its fields in order, the first of two
/// in a word's low bits, as this little-endian machine lays out the `repr(C)` struct): what
/// the tests' word-addressed memories store.
pub fn desc_words(d: &Desc) -> [u32; 4] {
    [
        d.off,
        d.len,
        u32::from(d.csum_start) | u32::from(d.csum_offset) << 16,
        u32::from(d.gso_size) | u32::from(d.gso_type) << 16 | u32::from(d.flags) << 24,
    ]
}

/// The descriptor of [`desc_words`]' four words.
pub fn desc_from_words(w: [u32; 4]) -> Desc {
    Desc {
        off: w[0],
        len: w[1],
        csum_start: w[2] as u16,
        csum_offset: (w[2] >> 16) as u16,
        gso_size: w[3] as u16,
        gso_type: (w[3] >> 16) as u8,
        flags: (w[3] >> 24) as u8,
    }
}

impl SharedMem for Mem {
    fn size(&self) -> u64 {
        self.words.len() as u64 * 4
    }
    fn load(&self, off: u32) -> Option<u32> {
        self.cached_load(off, Relaxed)
    }
    fn load_acquire(&self, off: u32) -> Option<u32> {
        self.cached_load(off, Acquire)
    }
    fn store(&self, off: u32, v: u32) -> Option<()> {
        self.cached_store(off, v, Relaxed)
    }
    fn store_release(&self, off: u32, v: u32) -> Option<()> {
        self.cached_store(off, v, Release)
    }
    fn full_barrier(&self) {
        std::sync::atomic::fence(SeqCst);
    }
    fn read_barrier(&self) {
        std::sync::atomic::fence(Acquire);
    }
    fn write_barrier(&self) {
        std::sync::atomic::fence(Release);
    }
    fn read_desc(&self, off: u32) -> Option<Desc> {
        let last = off.checked_add(12)?;
        Some(desc_from_words([
            self.load(off)?,
            self.load(off + 4)?,
            self.load(off + 8)?,
            self.load(last)?,
        ]))
    }
    fn write_desc(&self, off: u32, d: &Desc) -> Option<()> {
        let w = desc_words(d);
        // Check the whole descriptor first: nothing is written unless all of it fits.
        let last = off.checked_add(12)?;
        self.word(off)?;
        self.word(last)?;
        for (i, v) in w.into_iter().enumerate() {
            self.store(off + 4 * i as u32, v)?;
        }
        Some(())
    }
    fn writeback(&self, off: u32, len: u32) {
        self.flush(off, len, false);
    }
    fn flushes(&self) -> bool {
        self.cache.as_ref().is_some_and(|c| c.flushes)
    }
    fn invalidate(&self, off: u32, len: u32) {
        self.flush(off, len, true);
    }
}

/// The tag a packet carries in its first and last words.
pub fn tag(q: u16, seq: u32) -> u32 {
    (u32::from(q) << 24 | seq & 0xff_ffff) ^ 0x5a5a_0000
}

/// Where the last tag word of a packet of `len` bytes at `off` is.
fn last_word(off: u32, len: u32) -> u32 {
    off + ((len - 4) & !3)
}

/// A packet handed to transmit: the `seq`-th of queue `q`, `len` bytes.
#[derive(Debug)]
pub struct Pkt<'a> {
    pub q: u16,
    pub seq: u32,
    pub len: u32,
    pub bad_meta: bool,
    /// Where its fate is recorded.
    pub log: &'a RefCell<Vec<Fate>>,
}

/// What became of a packet handed to transmit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Sent { q: u16, seq: u32 },
    Dropped { q: u16, seq: u32, why: DropReason },
}

impl TxPacket<Mem> for Pkt<'_> {
    fn size(&self) -> u32 {
        self.len
    }
    /// A bad packet's metadata is UFO's, which the kernel can express and the link cannot.
    fn vnet_hdr(&self) -> Option<VnetHdr> {
        Some(VnetHdr {
            gso_type: if self.bad_meta { VNET_GSO_UDP } else { 0 },
            ..VnetHdr::default()
        })
    }
    fn copy_to(&self, mem: &Mem, off: u32) -> Option<()> {
        let t = tag(self.q, self.seq);
        mem.store(off, t)?;
        mem.store(off + 4, self.len)?;
        mem.store(last_word(off, self.len), t)
    }
    fn consume(self) {
        self.log.borrow_mut().push(Fate::Sent {
            q: self.q,
            seq: self.seq,
        });
    }
    fn drop_for(self, why: DropReason) {
        self.log.borrow_mut().push(Fate::Dropped {
            q: self.q,
            seq: self.seq,
            why,
        });
    }
}

/// A clock the test moves.
#[derive(Default)]
pub struct TestClock(pub Cell<u32>);

impl Clock for &TestClock {
    fn ticks(&self) -> u32 {
        self.0.get()
    }
}

/// One end's device: its TX queues and NAPI contexts, as the core and the peer see them.
#[derive(Default)]
pub struct Dev {
    pub stopped: [Cell<bool>; MAX_QUEUES as usize],
    pub napi_scheduled: [Cell<bool>; MAX_QUEUES as usize],
    pub timer: [Cell<Option<u32>>; MAX_QUEUES as usize],
    pub moderation: Cell<Moderation>,
    pub xmit_more: Cell<bool>,
    pub violations: Cell<u32>,
    pub dim_samples: Cell<u32>,
    pub doorbells_out: Cell<u32>,
    /// The verdict of the device's XDP program, if it has one.
    pub xdp: Cell<Option<XdpAct>>,
    /// What became of the frames the program sent back (XDP_TX).
    pub bounced: RefCell<Vec<Fate>>,
    /// `xdp_do_flush` calls (polls that redirected).
    pub xdp_flushes: Cell<u32>,
    /// Calls inside [`Port::tx_locked`] now (at most 1), and in all.
    pub tx_lock_depth: Cell<u32>,
    pub tx_locks: Cell<u32>,
}

/// An XDP program that gives every packet the same verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpAct {
    Pass,
    Drop,
    Tx,
    Redirect,
    /// The program ran on the packet as an skb (too large for a native frame) and passed it,
    /// or consumed it.
    SkbPass,
    SkbConsumed,
}

/// The port of end `me`, signalling `peer` as `mode` says.
pub struct TestPort<'a> {
    pub me: &'a Dev,
    pub peer: &'a Dev,
    pub mode: Mode,
}

impl Port for TestPort<'_> {
    fn txq_stop(&self, q: u16) {
        self.me.stopped[usize::from(q)].set(true);
    }
    fn txq_start(&self, q: u16) {
        self.me.stopped[usize::from(q)].set(false);
    }
    fn txq_wake(&self, q: u16) {
        self.me.stopped[usize::from(q)].set(false);
    }
    fn xmit_more(&self) -> bool {
        self.me.xmit_more.get()
    }
    fn notify_peer(&self, q: u16) -> bool {
        self.me.doorbells_out.set(self.me.doorbells_out.get() + 1);
        self.peer.napi_scheduled[usize::from(q)].set(true);
        true
    }
    fn wake_peer(&self, q: u16) {
        self.me.doorbells_out.set(self.me.doorbells_out.get() + 1);
        match self.mode {
            Mode::Pair => self.peer.stopped[usize::from(q)].set(false),
            // One vector per queue: the peer's poll runs, and wakes its queue.
            Mode::Doorbell => self.peer.napi_scheduled[usize::from(q)].set(true),
        }
    }
    fn violation(&self) {
        self.me.violations.set(self.me.violations.get() + 1);
    }
    fn tx_locked<R>(&self, _q: u16, f: impl FnOnce() -> R) -> R {
        let depth = &self.me.tx_lock_depth;
        assert_eq!(depth.get(), 0, "TX queue lock taken twice");
        depth.set(1);
        self.me.tx_locks.set(self.me.tx_locks.get() + 1);
        let r = f();
        depth.set(0);
        r
    }
}

/// What a receiver got, in order, per queue: (tag, length).
pub type Received = RefCell<Vec<VecDeque<(u32, u32)>>>;

/// NAPI context `q` of end `dev`, whose received packets must lie in `[lo, hi)` (the peer's
/// data area for the queue).
pub struct TestNapi<'a> {
    pub dev: &'a Dev,
    pub q: u16,
    pub lo: u32,
    pub hi: u32,
    pub received: &'a Received,
    /// Receives outside `[lo, hi)` (must stay 0).
    pub out_of_area: &'a Cell<u32>,
}

impl<'a> Poller<Mem> for TestNapi<'a> {
    type Frame = Pkt<'a>;

    fn receive(
        &self,
        mem: &Mem,
        off: u32,
        len: u32,
        _h: &VnetHdr,
    ) -> Result<Delivered<Pkt<'a>>, DropReason> {
        let end = u64::from(off) + u64::from(len);
        if off < self.lo || end > u64::from(self.hi) || len < 8 {
            self.out_of_area.set(self.out_of_area.get() + 1);
            return Err(DropReason::BadMeta);
        }
        // The copy is the kernel's (bytes, any alignment), not the datapath's: the test reads
        // the tags directly, through this end's view (its cache, on a medium that is not
        // coherent).
        let (first, stored, last) = if off % 4 == 0 {
            let word = |o| mem.load(o).unwrap_or(0);
            (word(off), word(off + 4), word(last_word(off, len)))
        } else {
            (0, 0, u32::MAX)
        };
        // A torn packet (overwritten at either end, or not the length sent) records as a
        // different tag.
        let t = if first == last && stored == len {
            first
        } else {
            u32::MAX
        };
        let delivered = match self.dev.xdp.get() {
            None => Delivered::Up,
            Some(XdpAct::Pass) => Delivered::XdpPass,
            Some(XdpAct::Drop) => return Ok(Delivered::XdpDrop),
            Some(XdpAct::Redirect) => return Ok(Delivered::XdpRedirect),
            Some(XdpAct::SkbPass) => Delivered::XdpGeneric { passed: true },
            Some(XdpAct::SkbConsumed) => return Ok(Delivered::XdpGeneric { passed: false }),
            // Sent back as it came: the peer receives the same tag.
            Some(XdpAct::Tx) => {
                return Ok(Delivered::XdpTx(Pkt {
                    q: self.q,
                    seq: (t ^ 0x5a5a_0000) & 0xff_ffff,
                    len,
                    bad_meta: false,
                    log: &self.dev.bounced,
                }))
            }
        };
        if let Some(q) = self.received.borrow_mut().get_mut(usize::from(self.q)) {
            q.push_back((t, len));
        }
        Ok(delivered)
    }
    fn xdp_flush(&self) {
        self.dev.xdp_flushes.set(self.dev.xdp_flushes.get() + 1);
    }
    fn complete_done(&self, _done: u32) -> bool {
        self.dev.napi_scheduled[usize::from(self.q)].set(false);
        true
    }
    fn schedule(&self) {
        self.dev.napi_scheduled[usize::from(self.q)].set(true);
    }
    fn moderation(&self) -> Moderation {
        self.dev.moderation.get()
    }
    fn timer_start(&self, usecs: u32) {
        self.dev.timer[usize::from(self.q)].set(Some(usecs));
    }
    fn dim_sample(&self, _events: u16, _packets: u64, _bytes: u64) {
        self.dev.dim_samples.set(self.dev.dim_samples.get() + 1);
    }
}

/// The number the host end of a test link publishes ([`Config::link_id`]).
pub const TEST_LINK_ID: u32 = 0x5eed_1d01;

/// The datapath over a test window.
pub type TestConn<'a> = Conn<&'a Mem, &'a TestClock, Vec<AtomicU32>>;

/// End `side` of a link over `mem`.
pub fn conn<'a>(
    mem: &'a Mem,
    clock: &'a TestClock,
    layout: Layout,
    side: u32,
    mode: Mode,
) -> TestConn<'a> {
    let storage = (0..storage_words(&layout))
        .map(|_| AtomicU32::new(0))
        .collect();
    let cfg = Config {
        layout,
        side,
        mode,
        overdue_ticks: 100,
        // The host end numbers the link, as a PCI host side does.
        link_id: if side == 0 { TEST_LINK_ID } else { 0 },
    };
    let c = Conn::new(mem, clock, storage, cfg, 1, 1500).expect("a valid layout");
    c.set_live(true);
    c
}

/// Per-queue counters of one end.
pub struct Stats {
    pub tx: Vec<TxStats>,
    pub rx: Vec<RxStats>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            tx: (0..MAX_QUEUES).map(|_| TxStats::new()).collect(),
            rx: (0..MAX_QUEUES).map(|_| RxStats::new()).collect(),
        }
    }
}

/// A small deterministic generator (splitmix64), for the fuzzer's seeded runs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
    pub fn chance(&mut self, one_in: u32) -> bool {
        self.below(one_in) == 0
    }
}
