// SPDX-License-Identifier: GPL-2.0

//! [`Window`]: the shared-memory window of a link, with bounds-checked access.
//!
//! Both ends of the link read and write the window concurrently, and the other end is not
//! trusted: it may write anything anywhere in its half at any time. So nothing here hands out
//! a Rust reference to plain bytes. Index words and side headers are accessed as atomic
//! words (a header is published seqlock-style, see `shm::publish_header`); descriptors are
//! copied in and out whole with volatile accesses (racing with the peer is
//! well-defined under the kernel memory model, the copy is then validated); packet data is
//! copied with `memcpy`-like helpers. Every offset is checked against the window's size, so
//! the logic above can pass untrusted values straight in.

use core::{marker::PhantomData, mem::size_of, ptr::NonNull};

use kernel::{
    alloc::{
        flags::{__GFP_ZERO, GFP_KERNEL_ACCOUNT},
        VVec,
    },
    bindings, device,
    error::to_result,
    ffi::{c_int, c_ulong, c_void},
    pci,
    prelude::*,
    sync::{aref::ARef, atomic::Atomic},
};

use super::{cxl::CxlRange, skb::SkBuff, sys};
use crate::shm::Desc;

/// What a [`Window`]'s memory is.
enum Backing {
    /// Pair mode: kernel memory, owned here (as spare capacity; never accessed after the
    /// window's pointer was taken from it).
    Kernel { _mem: VVec<u8> },
    /// PCI mode: memory BAR `bar` of `dev`, requested and mapped by [`Window::map_bar`].
    Bar { dev: ARef<pci::Device>, bar: c_int },
    /// CXL mode: a range of a CXL memory region, mapped by [`Window::map_cxl`].
    Cxl,
}

/// A window of shared memory: in pair mode, kernel memory that both ends of the pair use; in
/// PCI mode, the BAR that the other side (another kernel) maps too; in CXL mode, CXL memory
/// that the other side's host maps too.
///
/// # Invariants
///
/// `ptr` points to `size` bytes of memory, valid for reads and writes while the window lives,
/// aligned to a page, and accessed only through the methods below (never through a Rust
/// reference to its bytes).
pub(crate) struct Window {
    backing: Backing,
    ptr: NonNull<u8>,
    size: usize,
    /// The medium is not coherent with the other side's host: [`Window::writeback`] and
    /// [`Window::invalidate`] maintain the caches.
    flushes: bool,
}

// SAFETY: the window is a plain memory region; concurrent access from several CPUs is what it
// is for, and every access goes through atomics or volatile copies (type invariant).
unsafe impl Send for Window {}
// SAFETY: as for `Send`.
unsafe impl Sync for Window {}

/// A byte range of a [`Window`] that passed the bounds check, for copying packet data out.
///
/// # Invariants
///
/// `ptr..ptr + len` lies inside the window borrowed for `'a`.
pub(crate) struct Region<'a> {
    ptr: NonNull<u8>,
    len: u32,
    _window: PhantomData<&'a Window>,
}

impl Region<'_> {
    pub(super) fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> u32 {
        self.len
    }
}

/// Whether this kernel can write back and invalidate cache lines of a window (the pmem API's
/// cache maintenance), as a medium that is not coherent between the hosts needs.
pub(crate) fn can_flush() -> bool {
    // SAFETY: no arguments; a constant of the build.
    unsafe { sys::xpu_mem_can_flush() }
}

impl Window {
    /// Allocates a zeroed window of `size` bytes (virtually contiguous).
    pub(crate) fn new(size: usize) -> Result<Self> {
        // Zeroed by the page allocator (a byte loop is slow on the emulated test machines),
        // and charged to the creator's memory cgroup: a window can be large.
        let mut mem = VVec::<u8>::with_capacity(size, GFP_KERNEL_ACCOUNT | __GFP_ZERO)?;
        let ptr = NonNull::new(mem.as_mut_ptr()).ok_or(ENOMEM)?;
        // INVARIANT: the allocation holds at least `size` zeroed bytes; vmalloc memory is
        // page-aligned; `mem` is never touched again.
        Ok(Self {
            backing: Backing::Kernel { _mem: mem },
            ptr,
            size,
            flushes: false,
        })
    }

    /// Maps memory BAR `bar` of the PCI function `pdev` for as long as the window lives (it
    /// holds a reference on the device), cacheable: it is memory that both sides share, not
    /// registers.
    pub(crate) fn map_bar(pdev: &pci::Device<device::Bound>, bar: u32) -> Result<Self> {
        let start = pdev.resource_start(bar)?;
        let size = usize::try_from(pdev.resource_len(bar)?)?;
        let bar = c_int::try_from(bar)?;
        let raw = super::pci::raw_pci(pdev);
        // SAFETY: `pdev` is a bound PCI function (our driver's), `bar` one of its BARs (the
        // kernel checked it above); the name is a static string.
        to_result(unsafe { bindings::pci_request_region(raw, bar, c"xpu".as_char_ptr()) })?;
        // SAFETY: the BAR's range is ours (requested above).
        let p = unsafe { bindings::memremap(start, size, bindings::MEMREMAP_WB as c_ulong) };
        let Some(ptr) = NonNull::new(p.cast::<u8>()) else {
            // SAFETY: requested above, and nothing maps it.
            unsafe { bindings::pci_release_region(raw, bar) };
            return Err(ENOMEM);
        };
        let dev: &pci::Device = pdev;
        // INVARIANT: memremap mapped the whole BAR (`size` bytes, page-aligned) until `drop`;
        // only the methods below access it.
        Ok(Self {
            backing: Backing::Bar {
                dev: dev.into(),
                bar,
            },
            ptr,
            size,
            flushes: false,
        })
    }

    /// Maps the CXL memory of `range` (claimed by a [`super::cxl::CxlClaim`]), cacheable:
    /// CXL.mem is memory, coherent within a host (whether it is between the hosts that share
    /// it is the medium's business: see `SharedMem::writeback`).
    ///
    /// The window should not outlive the claim, which keeps others off the memory (the PCI
    /// driver's functions, whose windows these are, are gone before the crate root drops it).
    /// `coherent`: the other host sees our writes without help; if not, the window writes
    /// back and invalidates (refused where the kernel cannot).
    pub(crate) fn map_cxl(range: CxlRange, coherent: bool) -> Result<Self> {
        if !coherent && !can_flush() {
            return Err(EOPNOTSUPP);
        }
        let size = usize::try_from(range.size())?;
        // SAFETY: the range is memory xpu claimed, not System RAM (the claim checked);
        // memremap gives a mapping of our own.
        let p = unsafe { bindings::memremap(range.base(), size, bindings::MEMREMAP_WB as c_ulong) };
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: memremap mapped the whole range (`size` bytes, whole pages) until `drop`;
        // only the methods below access it.
        Ok(Self {
            backing: Backing::Cxl,
            ptr,
            size,
            flushes: !coherent,
        })
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Whether the medium needs [`Window::writeback`] and [`Window::invalidate`].
    pub(crate) fn flushes(&self) -> bool {
        self.flushes
    }

    /// Writes the lines of `len` bytes at `off` back to the medium, and waits until they are
    /// there (a store fence). Nothing on a coherent medium, or out of the window.
    pub(crate) fn writeback(&self, off: u32, len: u32) {
        if !self.flushes {
            return;
        }
        if let Some(p) = self.at(off, len as usize, 1) {
            // SAFETY: `p..p + len` is inside the window (checked); cache maintenance changes
            // no byte of it.
            unsafe { sys::xpu_mem_writeback(p.as_ptr().cast(), len as usize) };
        }
    }

    /// Drops our cached copy of the lines of `len` bytes at `off` (the peer's), fenced on
    /// both sides. Nothing on a coherent medium, or out of the window.
    pub(crate) fn invalidate(&self, off: u32, len: u32) {
        if !self.flushes {
            return;
        }
        if let Some(p) = self.at(off, len as usize, 1) {
            // SAFETY: as in `writeback`. The range holds only the peer's lines (one writer per
            // line: the layout), so even an architecture that drops a dirty line here (x86
            // writes it back first) loses nothing of ours.
            unsafe { sys::xpu_mem_invalidate(p.as_ptr().cast(), len as usize) };
        }
    }

    /// A pointer to `len` bytes at `off`, if they are inside the window and `off` is aligned
    /// to `align`.
    fn at(&self, off: u32, len: usize, align: usize) -> Option<NonNull<u8>> {
        let off = off as usize;
        if off % align != 0 || off.checked_add(len)? > self.size {
            return None;
        }
        // SAFETY: `off + len <= size`, so the result stays inside the allocation.
        Some(unsafe { self.ptr.add(off) })
    }

    /// The 32-bit index word at `off` (4-byte aligned, inside the window).
    pub(crate) fn word(&self, off: u32) -> Option<&Atomic<u32>> {
        let p = self.at(off, size_of::<u32>(), size_of::<u32>())?;
        // SAFETY: `p` is aligned, inside the window and valid while `self` is borrowed (type
        // invariant); every access to index words, from both ends, is atomic.
        Some(unsafe { Atomic::from_ptr(p.as_ptr().cast::<u32>()) })
    }

    /// Copies the descriptor at `off` out of the window (the copy is what gets validated).
    pub(crate) fn read_desc(&self, off: u32) -> Option<Desc> {
        let p = self.at(off, size_of::<Desc>(), 4)?;
        // SAFETY: `p` is valid and aligned for a `Desc` (checked above); every bit pattern is a
        // valid `Desc`; a volatile read racing with the peer's writes is allowed by the LKMM.
        Some(unsafe { p.as_ptr().cast::<Desc>().read_volatile() })
    }

    /// Writes a descriptor at `off`.
    pub(crate) fn write_desc(&self, off: u32, d: &Desc) -> Result {
        let p = self.at(off, size_of::<Desc>(), 4).ok_or(EINVAL)?;
        // SAFETY: as in `read_desc`, for writes.
        unsafe { p.as_ptr().cast::<Desc>().write_volatile(*d) };
        Ok(())
    }

    /// `len` bytes at `off`, for reading packet data.
    pub(crate) fn region(&self, off: u32, len: u32) -> Option<Region<'_>> {
        let ptr = self.at(off, len as usize, 1)?;
        // INVARIANT: `at` checked that the range is inside the window.
        Some(Region {
            ptr,
            len,
            _window: PhantomData,
        })
    }

    /// Copies `data` to `off`.
    pub(crate) fn copy_from_slice(&self, off: u32, data: &[u8]) -> Result {
        let p = self.at(off, data.len(), 1).ok_or(EINVAL)?;
        // SAFETY: `p..p + data.len()` is inside the window (checked above), which `data` (ours)
        // does not overlap; the peer reads these bytes only once we publish them.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p.as_ptr(), data.len()) };
        Ok(())
    }

    /// Copies the first `len` bytes of `skb` to `off`.
    pub(crate) fn copy_from_skb(&self, off: u32, skb: &SkBuff, len: u32) -> Result {
        let p = self.at(off, len as usize, 1).ok_or(EINVAL)?;
        // SAFETY: `p..p + len` is inside the window (checked above).
        unsafe { skb.copy_to(p.as_ptr(), len) }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        match &self.backing {
            Backing::Kernel { .. } => {}
            Backing::Bar { dev, bar } => {
                // SAFETY: `ptr` was mapped from BAR `bar` of `dev`, requested by `map_bar`, and
                // the window, its only user, is going away. The device is alive (we hold a
                // reference), so its resources are.
                unsafe {
                    bindings::memunmap(self.ptr.as_ptr().cast::<c_void>());
                    bindings::pci_release_region(super::pci::raw_pci(dev), *bar);
                }
            }
            // SAFETY: `ptr` was mapped by `map_cxl`, and the window, its only user, is going
            // away.
            Backing::Cxl => unsafe { bindings::memunmap(self.ptr.as_ptr().cast::<c_void>()) },
        }
    }
}
