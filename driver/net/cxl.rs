// SPDX-License-Identifier: GPL-2.0

//! CXL mode's memory: a range of a CXL memory region that xpu claims as its window
//! ([`CxlClaim`]), which [`super::window::Window::map_cxl`] maps.
//!
//! A CXL memory region (`cxl create-region`, or the sysfs steps of
//! Documentation/driver-api/cxl) sits in a CXL fixed memory window of the platform (ACPI CEDT,
//! `IORES_DESC_CXL` in /proc/iomem). Nothing of the kernel's may use the range xpu takes: not
//! the page allocator (a region onlined as System RAM by dax_kmem) and not a dax device (a
//! region bound to `cxl_dax_region`, whose driver claims it). Both would show as a conflict
//! here, so they are refused rather than shared.

use kernel::{bindings, ffi::c_ulong, prelude::*};

/// A physical range in a CXL memory region, requested from the iomem resource tree as "xpu".
///
/// # Invariants
///
/// `base..base + size` was requested by `__request_region` on `iomem_resource` (it lies in a
/// CXL window and is not System RAM), and is released only by `drop`.
pub(crate) struct CxlClaim {
    base: u64,
    size: u64,
}

impl CxlClaim {
    /// Checks that `base..base + size` is CXL memory that nothing else uses, and claims it.
    pub(crate) fn new(base: u64, size: u64) -> Result<Self> {
        let page = u64::try_from(bindings::PAGE_SIZE)?;
        if size == 0 || base % page != 0 || size % page != 0 || base.checked_add(size).is_none() {
            pr_err!("cxl_base {base:#x}, cxl_size {size:#x}: not a range of whole pages\n");
            return Err(EINVAL);
        }
        let len = usize::try_from(size)?;
        // SAFETY: plain queries of the resource tree, which they lock themselves.
        let (cxl, ram) = unsafe {
            (
                bindings::region_intersects(
                    base,
                    len,
                    bindings::IORESOURCE_MEM as c_ulong,
                    bindings::IORES_DESC_CXL as c_ulong,
                ),
                bindings::region_intersects(
                    base,
                    len,
                    bindings::IORESOURCE_SYSTEM_RAM as c_ulong,
                    bindings::IORES_DESC_NONE as c_ulong,
                ),
            )
        };
        if cxl != bindings::REGION_INTERSECTS as i32 {
            pr_err!("{base:#x}+{size:#x} is not inside a CXL memory window (see /proc/iomem)\n");
            return Err(EINVAL);
        }
        if ram != bindings::REGION_DISJOINT as i32 {
            pr_err!("{base:#x}+{size:#x} is System RAM: the page allocator owns it\n");
            return Err(EBUSY);
        }
        // SAFETY: `iomem_resource` is the kernel's root of memory resources, which
        // `__request_region` locks; the name is a static string.
        let res = unsafe {
            bindings::__request_region(
                &raw mut bindings::iomem_resource,
                base,
                size,
                c"xpu".as_char_ptr(),
                0,
            )
        };
        if res.is_null() {
            pr_err!(
                "{base:#x}+{size:#x} cannot be claimed: in use (a dax device, another driver), or across a region's end\n"
            );
            return Err(EBUSY);
        }
        // INVARIANT: requested just above.
        let claim = Self { base, size };
        // Our resource takes its parent's descriptor when it is inserted: a CXL window's means
        // it went straight under the window, outside every region, where no decoder maps the
        // addresses to a device (a region is a child of its window, of no descriptor).
        // SAFETY: `res` is our resource, requested above and set up by the request; only its
        // release frees it.
        if unsafe { (*res).desc } == bindings::IORES_DESC_CXL as c_ulong {
            pr_err!("{base:#x}+{size:#x} is in no CXL region: nothing decodes it\n");
            return Err(EINVAL);
        }
        Ok(claim)
    }

    /// The claimed range, for [`super::window::Window::map_cxl`].
    pub(crate) fn range(&self) -> CxlRange {
        CxlRange {
            base: self.base,
            size: self.size,
        }
    }
}

/// The range a [`CxlClaim`] holds: only a claim makes one, so a window mapped from it is
/// memory xpu claimed. Plain data, for a driver to keep where its devices find it.
#[derive(Clone, Copy)]
pub(crate) struct CxlRange {
    base: u64,
    size: u64,
}

impl CxlRange {
    /// The physical address of the range.
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// Its size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for CxlClaim {
    fn drop(&mut self) {
        // SAFETY: requested by `new` (type invariant) and released only here; every window
        // mapped from it is gone (the claim outlives the PCI functions, crate root).
        unsafe {
            bindings::__release_region(&raw mut bindings::iomem_resource, self.base, self.size)
        };
    }
}
