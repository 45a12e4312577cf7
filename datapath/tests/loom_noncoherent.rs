// SPDX-License-Identifier: GPL-2.0
//! Model check of the real datapath with `loom` on a medium that is not coherent between the
//! ends (CXL memory that two hosts share without hardware coherence): side 0's
//! `Conn::transmit` and side 1's `Conn::poll` race as in tests/loom.rs, but each end now sees
//! the window through a cache of its own, and only the datapath's write-backs and
//! invalidations carry anything from one end to the other. Under every interleaving and every
//! weak-memory outcome loom allows (within the preemption bound), no wake-up is lost and every
//! packet arrives once, in order, and whole: every word of its payload is the one sent.
//!
//! tests/loom.rs checks the protocol on a coherent window; tests/coherence.rs checks the
//! flushes on a non-coherent one, but one step at a time. Neither shows that a write-back has
//! landed by the time the index that publishes it is seen, or that an invalidation comes
//! after the index that says the peer's lines are new: that needs both ends running at once,
//! over caches.
//!
//! The medium is modelled as tests/common's `Mem` does it, at the grain of a 64-byte line:
//! - the medium holds each line as a loom atomic (the version of the line it holds now), so
//!   a line written back is one store and a line filled is one load, which may be stale
//!   unless a fence orders it after the write-back. Every line the ends may touch is made
//!   before they start, so that even its first write-back may be read stale (see `Medium`);
//! - an end's loads are served from its cache whenever it holds the line, however stale; on a
//!   miss the line is filled from the medium. Its stores go to its cache only, and make the
//!   line dirty. Each cache starts holding every line of the window as it was before the ends
//!   started (lazily: a line first touched is the initial one, not the medium's), so whatever
//!   the peer writes later is stale until invalidated;
//! - `writeback` puts the dirty lines of the range back in the medium, whole, then fences (as
//!   driver/xpu_shim.c does: `arch_wb_cache_pmem`, a clwb per line, then `wmb`);
//! - `invalidate` fences, drops the lines of the range, and fences again
//!   (`arch_invalidate_pmem`, on x86 `clflush_cache_range`: mb, a clflushopt per line, mb). A
//!   dirty line is written back before it is dropped, as clflushopt does; every line has one
//!   writer (the layout), so nothing here depends on it.
//!
//! The flushes' fences are loom fences: the `wmb` after a write-back a release fence, the
//! `mb`s around an invalidation acquire-release fences. That is the order they give between
//! the ends: a write-back lands before a later one (the index's that publishes it), a fill
//! reads the medium as it was after the index that said the line is new. Not the store-load
//! order of an `mb`, which the datapath asks for with `full_barrier` where it needs it: as
//! `SeqCst` fences, which loom orders against each other (below), every invalidation would
//! pull in all the other end had done before its last barrier or flush, and the variant
//! without the write-backs' fence would go uncaught (checked by hand, with three preemptions
//! and with four). A line's store or fill carries no acquire or release of its own, as the
//! medium has none: the order between the ends is the fences'.
//!
//! The datapath's own barriers are loom fences too, each giving the order it gives its own
//! end: `read_barrier` (`smp_rmb`) an acquire fence, `write_barrier` (`smp_wmb`) a release
//! one, `full_barrier` (`smp_mb`) a `SeqCst` one. (tests/loom.rs, over a coherent window,
//! models all three as one read-modify-write of a shared location, which also makes an
//! `smp_rmb` or `smp_wmb` of one end happen before the other end's later barriers.) A
//! `SeqCst` fence is still stronger than the hardware's `mb`, and in loom no weaker than that
//! read-modify-write: loom 0.7.2 makes it an acquire-release fence that also joins one
//! causality all `SeqCst` fences share (`seq_cst_fence`, in its rt/thread.rs), so whatever an
//! end did before a `full_barrier` happens before whatever the other end does after a later
//! one, its fills of the medium included. An `mb` orders its own host's accesses and no
//! more; between the hosts the join stands for the write-backs completed before it, which
//! the other host's later fills would see anyway (on x86, `mfence` orders clwb). What it could
//! mask: a write-back whose own fence is missing, wherever a `full_barrier` of its end
//! follows it and the other end fills the lines only after a later `full_barrier` of its own
//! (the variant without that fence is still caught, where the consumer reads an index without
//! a barrier first), and an `mb` that does not order the write-backs before it. `smp_rmb`
//! and `smp_wmb`, now without that join, are used only by the header seqlock and the RSS block,
//! which this race does not exercise: both ends publish their headers before they start, and
//! no RSS is set.
//!
//! The check is tests/loom.rs's (tests/common/loom_link.rs): a producer thread sends until its
//! packets are out or its queue stops; the consumer polls if the doorbell has rung by then;
//! after the join the main thread plays out the future sequentially, delivering only the
//! doorbells, wake-ups and timers that were raised. The packets here carry their payload in
//! every word, and the receiver checks each. Variants that leave out one flush, or the fence
//! of the write-backs, show that the model catches a datapath (or a medium driver) that gets
//! them wrong.

mod common;

use std::{ops::Range, sync::Mutex};

use common::loom_link::{
    self,
    failure::{self, CONSUMER_VIOLATION, LOST_TX_WAKEUP, STALE_PAYLOAD},
    Model, Payload, BIG, COALESCED, SMALL, WINDOW,
};
use loom::sync::{
    atomic::{fence, AtomicUsize, Ordering::*},
    Arc,
};
use xpu_datapath::{
    data::DataArea,
    mem::{contains, SharedMem},
    port::Moderation,
    shm::{Desc, Layout, SideHeader},
};

/// Context switches loom may force per execution (`XPU_LOOM_PREEMPTIONS` for a longer run by
/// hand). The words of a line are one loom atomic here (the consumer's index, event and depth,
/// say), so more accesses conflict than in tests/loom.rs, and the state space grows faster
/// with the bound: three explores 826 executions per scenario, in 1 s with small packets and
/// 8 s with 9000-byte ones (141 lines written back and filled per packet); four about 19,400,
/// 22 s with small packets and 3.6 minutes with 9000-byte ones (on 2 cores, one scenario
/// each; the file's default run, three scenarios in parallel, in about 9 s). The time goes
/// with the lines `Medium` makes as much as with the executions: every acquire fence looks
/// at each.
const PREEMPTIONS: usize = 3;

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Correct,
    /// Neither end invalidates the packet data it reads: it reads its cache's copy.
    NoDataInvalidate,
    /// Neither end writes back its producer line: the peer never sees a packet published.
    NoProducerWriteback,
    /// `writeback` puts the lines in the medium but runs no barrier after them (clwb without
    /// the `wmb`): a later write-back, the producer index's, may land first.
    UnfencedWriteback,
}

/// Bytes of a cache line, and its words.
const LINE: u32 = 64;
const LINE_WORDS: usize = 16;
/// Lines of the window.
const LINES: usize = (WINDOW / LINE as u64) as usize;
/// Bytes of a descriptor, and of a side header.
// CAST: 16 and 64.
const DESC_BYTES: u32 = size_of::<Desc>() as u32;
const HEADER_BYTES: u32 = size_of::<SideHeader>() as u32;

/// The lines that `len` bytes at `off` touch.
fn lines(off: u32, len: u32) -> Range<u32> {
    if len == 0 {
        return 0..0;
    }
    let last = u64::from(off) + u64::from(len) - 1;
    // CAST: the window is smaller than 4 GiB.
    off / LINE..(last / u64::from(LINE)) as u32 + 1
}

/// One line of the medium.
struct Backing {
    /// Which of `versions` the medium holds now: a write-back of the line is one store of a
    /// new version, a fill one load, so loom may serve a fill any version the order between
    /// the ends allows, as it would a word.
    current: AtomicUsize,
    /// Every content the line has had, the initial (all zero) first. Not loom's: looking a
    /// version up is no scheduling point, the access to `current` is.
    versions: Mutex<Vec<[u32; LINE_WORDS]>>,
}

/// The medium both ends share: the lines the ends may touch, all made before they start.
/// Loom requires an atomic's creation to happen before every access to it, so a line made by
/// its first write-back, in a racing thread, could never be filled stale by the other end
/// (loom would abort the execution with a "Causality violation" instead), and the staleness
/// of a line's first write-back, the one that matters on a fresh ring, would go unexplored.
/// (The scenarios below explore it no more, counted once by hand: of their fills that read a
/// line stale, none read a first write-back. Every line the race writes was first written
/// before the consumer starts: the index lines by `Conn::new`, before the threads, the others
/// by packet 0 (each packet goes at the start of the data area, emptied, and its descriptor
/// in the ring's first line), before the doorbell that starts the consumer, a
/// read-modify-write that orders them before it. A scenario whose later packets reach new
/// lines would explore it.)
///
/// Not every line of the window: each loom atomic costs every acquire fence a look at it, and
/// with all 1,024 lines each scenario took about 20 s (1 s with small packets with the lines
/// below, 8 s with 9000-byte ones), and the file's default run 55 s. One queue without RSS
/// uses, in each half, the side header and queue 0's producer line, descriptors and consumer
/// line; and side 0's data area (side 1 sends nothing) up to where the packets can reach. A
/// line outside them that either end touches panics, so a scenario that outgrows them says
/// so.
struct Medium {
    lines: Vec<Option<Backing>>,
}

impl Medium {
    /// The medium for `layout`, with the lines packets of `lens` bytes can touch.
    fn new(layout: &Layout, lens: &[u32]) -> Self {
        let q = |off: Option<u32>| off.expect("queue 0");
        let prod = q(layout.producer_off(0));
        let descs = q(layout.desc_off(0, layout.ring_size() - 1)) + DESC_BYTES - prod;
        let mut used = Vec::new();
        for half in [0, layout.half_size()] {
            used.extend(lines(half, HEADER_BYTES));
            used.extend(lines(half + prod, descs));
            used.extend(lines(half + q(layout.consumer_off(0)), LINE));
        }
        // A packet goes at the data area's head, or at its start: never further on than all
        // the packets before it take up.
        let reach: u32 = lens
            .iter()
            .map(|&l| DataArea::footprint(l).expect("a packet"))
            .sum();
        used.extend(lines(
            q(layout.data_area_off(0)),
            reach.min(layout.data_size()),
        ));
        let mut made: Vec<_> = (0..LINES).map(|_| None).collect();
        for i in used {
            made[i as usize] = Some(Backing {
                current: AtomicUsize::new(0),
                versions: Mutex::new(vec![[0; LINE_WORDS]]),
            });
        }
        Self { lines: made }
    }

    fn line(&self, i: u32) -> &Backing {
        self.lines[i as usize].as_ref().unwrap_or_else(|| {
            panic!("line {i} is touched, but not made before the ends start (Medium::new)")
        })
    }

    /// Reads line `i` from the medium (a cache miss).
    fn fill(&self, i: u32) -> [u32; LINE_WORDS] {
        let b = self.line(i);
        let v = b.current.load(Relaxed);
        let versions = b.versions.lock().expect("not poisoned");
        versions[v]
    }

    /// Writes line `i` to the medium (clwb, or clflushopt of a dirty line).
    fn put(&self, i: u32, words: [u32; LINE_WORDS]) {
        let b = self.line(i);
        // The std lock is never held across a loom access (loom may switch threads there).
        let v = {
            let mut versions = b.versions.lock().expect("not poisoned");
            versions.push(words);
            versions.len() - 1
        };
        b.current.store(v, Relaxed);
    }
}

/// What an end's cache has of a line.
#[derive(Clone, Copy)]
enum Held {
    /// The line as it was at the start: this end has not touched it since.
    Initial,
    /// A copy, written to since it was written back (dirty) or not.
    Line {
        words: [u32; LINE_WORDS],
        dirty: bool,
    },
    /// Nothing: an invalidation dropped it, and the next access fills it from the medium.
    Dropped,
}

/// One end's view of the medium: its own cache over the lines. Only one thread uses an end at
/// a time (side 0's producer until the join, then the main thread), as one CPU at a time
/// runs a queue's transmit or poll; its CPUs are coherent among themselves, so one cache per
/// end is what the hardware has.
struct NcMem {
    medium: Arc<Medium>,
    /// What it has of each line of the window.
    cache: Mutex<Vec<Held>>,
    /// Lines whose write-back this end leaves out (a variant).
    no_writeback: Vec<Range<u32>>,
    /// Lines whose invalidation this end leaves out (a variant).
    no_invalidate: Vec<Range<u32>>,
    /// Whether a write-back ends with its `wmb` (a variant leaves it out).
    fenced: bool,
}

impl NcMem {
    fn new(medium: &Arc<Medium>) -> Self {
        Self {
            medium: medium.clone(),
            cache: Mutex::new(vec![Held::Initial; LINES]),
            no_writeback: Vec::new(),
            no_invalidate: Vec::new(),
            fenced: true,
        }
    }

    /// `off`, if it is the offset of a word of the window.
    fn word_at(&self, off: u32) -> Option<u32> {
        (off % 4 == 0 && contains(self, off, 4)).then_some(off)
    }

    /// Runs `f` on this end's copy of the line that holds `off` (made `dirty` if it writes),
    /// filled from the medium if this end had dropped it.
    fn with_line<R>(
        &self,
        off: u32,
        dirty: bool,
        f: impl FnOnce(&mut [u32; LINE_WORDS]) -> R,
    ) -> R {
        let i = off / LINE;
        // CAST: `off` is inside the window (checked).
        let at = i as usize;
        let mut cache = self.cache.lock().expect("not poisoned");
        if let held @ (Held::Initial | Held::Dropped) = cache[at] {
            // A fill is a loom access, which may switch threads: not under the lock.
            drop(cache);
            let words = match held {
                Held::Dropped => self.medium.fill(i),
                _ => [0; LINE_WORDS],
            };
            cache = self.cache.lock().expect("not poisoned");
            cache[at] = Held::Line {
                words,
                dirty: false,
            };
        }
        let Held::Line { words, dirty: d } = &mut cache[at] else {
            unreachable!("the line is held");
        };
        *d |= dirty;
        f(words)
    }

    /// Writes line `i` back to the medium if this end holds it dirty.
    fn put_back(&self, i: u32) {
        let words = {
            let mut cache = self.cache.lock().expect("not poisoned");
            match &mut cache[i as usize] {
                Held::Line { words, dirty } if *dirty => {
                    *dirty = false;
                    *words
                }
                _ => return,
            }
        };
        self.medium.put(i, words);
    }

    fn skipped(ranges: &[Range<u32>], i: u32) -> bool {
        ranges.iter().any(|r| r.contains(&(i * LINE)))
    }
}

impl SharedMem for NcMem {
    fn size(&self) -> u64 {
        WINDOW
    }
    fn load(&self, off: u32) -> Option<u32> {
        let off = self.word_at(off)?;
        Some(self.with_line(off, false, |w| w[(off % LINE / 4) as usize]))
    }
    // An acquire load that misses fills its line as any other, and a release store stays in
    // the cache as any other: the order between the ends is the flushes' fences'.
    fn load_acquire(&self, off: u32) -> Option<u32> {
        self.load(off)
    }
    fn store(&self, off: u32, v: u32) -> Option<()> {
        let off = self.word_at(off)?;
        self.with_line(off, true, |w| w[(off % LINE / 4) as usize] = v);
        Some(())
    }
    fn store_release(&self, off: u32, v: u32) -> Option<()> {
        self.store(off, v)
    }
    fn full_barrier(&self) {
        fence(SeqCst);
    }
    fn read_barrier(&self) {
        fence(Acquire);
    }
    fn write_barrier(&self) {
        fence(Release);
    }
    fn read_desc(&self, off: u32) -> Option<Desc> {
        Some(common::desc_from_words([
            self.load(off)?,
            self.load(off.checked_add(4)?)?,
            self.load(off.checked_add(8)?)?,
            self.load(off.checked_add(12)?)?,
        ]))
    }
    fn write_desc(&self, off: u32, d: &Desc) -> Option<()> {
        let w = common::desc_words(d);
        // All of it or nothing.
        self.word_at(off.checked_add(12)?)?;
        for (i, v) in (0..).zip(w) {
            self.store(off + 4 * i, v)?;
        }
        Some(())
    }
    fn writeback(&self, off: u32, len: u32) {
        if !contains(self, off, len) {
            return;
        }
        for i in lines(off, len).filter(|&i| !Self::skipped(&self.no_writeback, i)) {
            self.put_back(i);
        }
        // `wmb`: a later write-back, the index's that publishes these lines, lands after them.
        if self.fenced {
            fence(Release);
        }
    }
    fn flushes(&self) -> bool {
        true
    }
    fn invalidate(&self, off: u32, len: u32) {
        if !contains(self, off, len) {
            return;
        }
        // `mb`: what was read before (the index that says these lines are new) orders the
        // fills after.
        fence(AcqRel);
        for i in lines(off, len).filter(|&i| !Self::skipped(&self.no_invalidate, i)) {
            self.put_back(i);
            self.cache.lock().expect("not poisoned")[i as usize] = Held::Dropped;
        }
        fence(AcqRel);
    }
}

/// An end's view of the medium, with the flaw `variant` names: in queue 0's lines, in both
/// halves (each end leaves out the same flushes).
fn view(medium: &Arc<Medium>, layout: &Layout, variant: Variant) -> NcMem {
    let both = |r: Range<u32>| {
        [0, layout.half_size()]
            .map(|h| r.start + h..r.end + h)
            .to_vec()
    };
    let mut mem = NcMem::new(medium);
    match variant {
        Variant::Correct => {}
        Variant::NoDataInvalidate => {
            let data = layout.data_area_off(0).expect("queue 0");
            mem.no_invalidate = both(data..data + layout.data_size());
        }
        Variant::NoProducerWriteback => {
            let prod = layout.producer_off(0).expect("queue 0");
            mem.no_writeback = both(prod..prod + LINE);
        }
        Variant::UnfencedWriteback => mem.fenced = false,
    }
    mem
}

/// Runs the model; returns the executions (interleavings) it explored.
fn check(variant: Variant, lens: &'static [u32], moderation: Moderation) -> usize {
    let m = Model {
        lens,
        moderation,
        preemptions: PREEMPTIONS,
        // A word costs loom nothing here, only a line written back or filled does.
        payload: Payload::Whole,
    };
    loom_link::check(m, move |layout| {
        let medium = Arc::new(Medium::new(layout, lens));
        [0, 1].map(|_| Arc::new(view(&medium, layout, variant)))
    })
}

#[test]
fn no_lost_wakeup_byte_stops() {
    assert!(check(Variant::Correct, BIG, Moderation::default()) > 100);
}

#[test]
fn no_lost_wakeup_small_packets() {
    assert!(check(Variant::Correct, SMALL, Moderation::default()) > 100);
}

/// Coalesced re-arm (`rx-frames 2 rx-usecs 10`): the event index is set ahead, and the timer
/// must pick up what it passes over.
#[test]
fn no_lost_wakeup_coalesced() {
    assert!(check(Variant::Correct, SMALL, COALESCED) > 100);
}

/// Reads the sender's payload from its own cache's copy, from before the sender wrote it.
#[test]
#[should_panic(expected = "stale payload")]
fn model_catches_missing_data_invalidate() {
    failure::assert_names_only("stale payload", &[STALE_PAYLOAD]);
    check(Variant::NoDataInvalidate, SMALL, Moderation::default());
}

/// The consumer never sees a packet published, so never frees the ring: the producer, stopped
/// after the first packet (see the layout in common/loom_link.rs), is never woken.
#[test]
#[should_panic(expected = "lost wake-up (TX)")]
fn model_catches_missing_producer_writeback() {
    failure::assert_names_only("lost wake-up (TX)", &[LOST_TX_WAKEUP]);
    check(Variant::NoProducerWriteback, SMALL, Moderation::default());
}

/// The producer index lands before the descriptor it publishes: the consumer reads the
/// descriptor as it was before (zero), which the protocol does not allow.
#[test]
#[should_panic(expected = "protocol violation seen by the consumer")]
fn model_catches_unfenced_writeback() {
    failure::assert_names_only(
        "protocol violation seen by the consumer",
        &[CONSUMER_VIOLATION],
    );
    check(Variant::UnfencedWriteback, SMALL, Moderation::default());
}
