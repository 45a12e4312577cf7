// SPDX-License-Identifier: GPL-2.0

//! [`SharedMem`]: the shared window as the datapath sees it, and the protocol's word views
//! over it ([`Words`] for a ring's indices, [`HeaderAt`] for a side header).
//!
//! The other end may write anything anywhere in the window at any time, so every access takes
//! an offset and is bounds-checked by the implementation: an untrusted offset can go straight
//! in, and a bad one gives `None`, never an access outside.
//!
//! The medium may not be coherent between the ends (CXL memory that two hosts share without
//! hardware coherence: each caches the window, and neither snoops the other's cache). So each
//! end writes back what it wrote before it publishes it, and invalidates what the peer wrote
//! before it reads it ([`SharedMem::writeback`], [`SharedMem::invalidate`]): the index words here, and
//! the descriptors, packet data, headers and RSS blocks where `conn` and `rss` touch them.
//! Every cache line of the window has one writer (each end writes only its own half, and the
//! layout keeps a ring's producer and consumer words in lines of their own), so dropping a
//! line of the peer's never drops a write of ours. On a coherent medium (ivshmem, a CXL 3
//! shared region) both are nothing.

use super::{
    ring::RingWords,
    shm::{self, Desc, HeaderWords, SideHeader, HEADER_WORDS},
};

/// Bounds-checked access to the shared window. Offsets are in bytes from its start; word
/// accesses must be 4-byte aligned (a misaligned or out-of-bounds one gives `None` and does
/// nothing).
pub trait SharedMem {
    /// Bytes in the window.
    fn size(&self) -> u64;
    /// Loads the word at `off` (relaxed).
    fn load(&self, off: u32) -> Option<u32>;
    /// Loads the word at `off` with acquire.
    fn load_acquire(&self, off: u32) -> Option<u32>;
    /// Stores the word at `off` (relaxed).
    fn store(&self, off: u32, v: u32) -> Option<()>;
    /// Stores the word at `off` with release.
    fn store_release(&self, off: u32, v: u32) -> Option<()>;
    /// A full barrier (`smp_mb`).
    fn full_barrier(&self);
    /// Orders loads before it against loads after it (`smp_rmb`).
    fn read_barrier(&self);
    /// Orders stores before it against stores after it (`smp_wmb`).
    fn write_barrier(&self);
    /// Copies the descriptor at `off` out of the window (the copy is what gets validated).
    fn read_desc(&self, off: u32) -> Option<Desc>;
    /// Writes a descriptor at `off`.
    fn write_desc(&self, off: u32, d: &Desc) -> Option<()>;
    /// Writes the cache lines that hold `len` bytes at `off`, which this end wrote, back to
    /// the medium, and returns once they are there (the implementation fences), so that a
    /// later store that publishes them cannot overtake them. Nothing on a coherent medium.
    #[inline]
    fn writeback(&self, _off: u32, _len: u32) {}
    /// Whether [`Self::writeback`] and [`Self::invalidate`] do anything: this end takes the
    /// medium as not coherent between the ends. Its side header says so
    /// ([`shm::FEATURE_NONCOHERENT`]), and the ends must agree ([`crate::conn::Conn::agrees`]).
    #[inline]
    fn flushes(&self) -> bool {
        false
    }
    /// Drops this end's cached copy of the lines that hold `len` bytes at `off`, which the
    /// peer writes, so that the loads after it read the medium (a line of ours is written
    /// back first). The implementation fences before and after (as the kernel's
    /// `clflush_cache_range`): a flush is not ordered against loads, and a load after it must
    /// not be served from a line fetched before. Nothing on a coherent medium.
    #[inline]
    fn invalidate(&self, _off: u32, _len: u32) {}

    /// Loads a word the peer may have written, as the medium has it now (its line
    /// invalidated first). Index and header words go one at a time, so that a seqlock's order
    /// is that of the accesses.
    #[inline]
    fn load_shared(&self, off: u32) -> Option<u32> {
        self.invalidate(off, 4);
        self.load(off)
    }
    /// [`SharedMem::load_shared`] with acquire.
    #[inline]
    fn load_acquire_shared(&self, off: u32) -> Option<u32> {
        self.invalidate(off, 4);
        self.load_acquire(off)
    }
    /// Stores a word the peer reads, and writes its line back to the medium.
    #[inline]
    fn store_shared(&self, off: u32, v: u32) -> Option<()> {
        self.store(off, v)?;
        self.writeback(off, 4);
        Some(())
    }
    /// [`SharedMem::store_shared`] with release.
    #[inline]
    fn store_release_shared(&self, off: u32, v: u32) -> Option<()> {
        self.store_release(off, v)?;
        self.writeback(off, 4);
        Some(())
    }
}

/// Whether `len` bytes at `off` lie inside `mem`.
pub fn contains<M: SharedMem + ?Sized>(mem: &M, off: u32, len: u32) -> bool {
    u64::from(off) + u64::from(len) <= mem.size()
}

/// The words of one ring: `prod` and `prod_event` in the producer's line, `cons`,
/// `cons_event` and `depth` in the consumer's.
pub struct Words<'a, M: ?Sized> {
    mem: &'a M,
    prod: u32,
    cons: u32,
}

impl<'a, M: SharedMem + ?Sized> Words<'a, M> {
    /// The ring whose producer line is at `prod` and consumer line at `cons`, if the words of
    /// both lines are inside `mem` (so the accesses below cannot fail).
    pub fn new(mem: &'a M, prod: u32, cons: u32) -> Option<Self> {
        (prod % 4 == 0 && cons % 4 == 0 && contains(mem, prod, 8) && contains(mem, cons, 12))
            .then_some(Self { mem, prod, cons })
    }

    /// The consumer's depth word ([`shm::RingConsumer::depth`]), as written: the caller
    /// bounds it.
    pub fn depth(&self) -> u32 {
        self.mem.load_shared(self.cons.wrapping_add(8)).unwrap_or(0)
    }

    /// Sets the consumer's depth word (ours: we consume this ring).
    pub fn set_depth(&self, v: u32) {
        let _ = self.mem.store_shared(self.cons.wrapping_add(8), v);
    }
}

// The offsets were checked by `Words::new`, so `+ 4` does not wrap and no access fails; a
// failed one would read as 0 and write nothing, which the protocol survives like any value a
// peer could have written.
impl<M: SharedMem + ?Sized> RingWords for Words<'_, M> {
    fn prod(&self) -> u32 {
        self.mem.load_acquire_shared(self.prod).unwrap_or(0)
    }
    fn set_prod(&self, v: u32) {
        let _ = self.mem.store_release_shared(self.prod, v);
    }
    fn cons(&self) -> u32 {
        self.mem.load_acquire_shared(self.cons).unwrap_or(0)
    }
    fn set_cons(&self, v: u32) {
        let _ = self.mem.store_release_shared(self.cons, v);
    }
    fn prod_event(&self) -> u32 {
        self.mem.load_shared(self.prod.wrapping_add(4)).unwrap_or(0)
    }
    fn set_prod_event(&self, v: u32) {
        let _ = self.mem.store_shared(self.prod.wrapping_add(4), v);
    }
    fn cons_event(&self) -> u32 {
        self.mem.load_shared(self.cons.wrapping_add(4)).unwrap_or(0)
    }
    fn set_cons_event(&self, v: u32) {
        let _ = self.mem.store_shared(self.cons.wrapping_add(4), v);
    }
    fn full_barrier(&self) {
        self.mem.full_barrier();
    }
}

/// A side header in the window, for `shm::publish_header` and `shm::read_header`: its words
/// are accessed as atomics, as index words are, so the seqlock-style protocol is what orders
/// them, and a copy cannot tear between the state and the generation (also read from hard IRQ).
pub struct HeaderAt<'a, M: ?Sized> {
    mem: &'a M,
    off: u32,
}

/// Bytes of a side header.
// CAST: a header is 16 words.
const HEADER_BYTES: u32 = 4 * HEADER_WORDS as u32;

impl<'a, M: SharedMem + ?Sized> HeaderAt<'a, M> {
    /// The header at `off`, if all of it is inside the window.
    pub fn new(mem: &'a M, off: u32) -> Option<Self> {
        (off % 4 == 0 && contains(mem, off, HEADER_BYTES)).then_some(Self { mem, off })
    }

    fn word(&self, i: usize) -> u32 {
        // CAST: `i < HEADER_WORDS`, and `new` checked that the last word's offset fits.
        self.off.wrapping_add(4 * i as u32)
    }
}

impl<M: SharedMem + ?Sized> HeaderWords for HeaderAt<'_, M> {
    fn load(&self, i: usize) -> u32 {
        self.mem.load_shared(self.word(i)).unwrap_or(0)
    }
    fn store(&self, i: usize, v: u32) {
        let _ = self.mem.store_shared(self.word(i), v);
    }
    fn load_acquire(&self, i: usize) -> u32 {
        self.mem.load_acquire_shared(self.word(i)).unwrap_or(0)
    }
    fn store_release(&self, i: usize, v: u32) {
        let _ = self.mem.store_release_shared(self.word(i), v);
    }
    fn write_barrier(&self) {
        self.mem.write_barrier();
    }
    fn read_barrier(&self) {
        self.mem.read_barrier();
    }
}

/// A copy of the side header at `off` (the peer's, or ours from an earlier load of the
/// module: validate it).
pub fn read_header<M: SharedMem + ?Sized>(mem: &M, off: u32) -> Option<SideHeader> {
    shm::read_header(&HeaderAt::new(mem, off)?)
}
