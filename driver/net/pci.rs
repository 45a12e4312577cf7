// SPDX-License-Identifier: GPL-2.0

//! The PCI side of the unsafe layer: the netdev of a PCI function ([`PciNetdev`]), its
//! interrupt vectors ([`Vectors`]) and the doorbell register ([`Doorbell`]) of an
//! ivshmem-doorbell device.

use core::{marker::PhantomData, ptr::NonNull};

use kernel::{
    bindings, device,
    ffi::c_void,
    io::Io,
    irq::{self, IrqReturn},
    pci,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

use super::{device::Device, ops::Exported, sys};

/// The ivshmem-doorbell registers in BAR0 (QEMU docs/specs/ivshmem-spec.rst).
pub(crate) mod regs {
    /// Size of BAR0.
    pub(crate) const BAR0_SIZE: usize = 256;
    /// This peer's id on the fabric (read-only).
    pub(crate) const IV_POSITION: usize = 0x08;
    /// Write `peer << 16 | vector` to interrupt `vector` of `peer`.
    pub(crate) const DOORBELL: usize = 0x0c;
}

/// The raw `struct device` behind `dev`.
pub(super) fn raw_device<Ctx: device::DeviceContext>(
    dev: &device::Device<Ctx>,
) -> *mut bindings::device {
    // `device::Device` is `repr(transparent)` over `Opaque<bindings::device>` (plus a
    // zero-sized marker), so a reference to it is a pointer to the C object; the kernel
    // crate's own `as_raw` is not public.
    core::ptr::from_ref(dev)
        .cast::<bindings::device>()
        .cast_mut()
}

/// The raw `struct pci_dev` behind `pdev` (as [`raw_device`]).
pub(super) fn raw_pci<Ctx: device::DeviceContext>(
    pdev: &pci::Device<Ctx>,
) -> *mut bindings::pci_dev {
    // `pci::Device` is `repr(transparent)` over `Opaque<bindings::pci_dev>` (plus a zero-sized
    // marker), and the kernel crate's own `as_raw` is not public.
    core::ptr::from_ref(pdev)
        .cast::<bindings::pci_dev>()
        .cast_mut()
}

/// The doorbell register of an ivshmem-doorbell device: rings the other side's vectors.
pub(crate) struct Doorbell {
    bar: pci::DevresBar<{ regs::BAR0_SIZE }>,
    /// The other side's id on the fabric.
    peer: Atomic<u32>,
}

impl Doorbell {
    /// Maps BAR0 of `pdev`; returns the doorbell and this side's id on the fabric.
    pub(crate) fn new(pdev: &pci::Device<device::Bound>) -> Result<(Self, u16)> {
        let bar = pdev.iomap_region_sized::<{ regs::BAR0_SIZE }>(0, c"xpu-regs")?;
        // CAST: ids are 16 bits: the doorbell register has 16 bits for them.
        let id = bar.read32(regs::IV_POSITION) as u16;
        let bar = bar.into_devres()?;
        Ok((
            Self {
                bar,
                peer: Atomic::new(0),
            },
            id,
        ))
    }

    /// Sets the id of the side the doorbells go to.
    pub(crate) fn set_peer(&self, id: u16) {
        self.peer.store(id.into(), Relaxed);
    }

    /// Interrupts the other side's `vector`. Returns false once the device is unbound.
    pub(crate) fn ring(&self, vector: u16) -> bool {
        let Some(bar) = self.bar.try_access() else {
            return false;
        };
        (&*bar).write32(
            self.peer.load(Relaxed) << 16 | u32::from(vector),
            regs::DOORBELL,
        );
        true
    }
}

/// A registered netdev of a PCI function, created by `xpu_pci_netdev_create`.
///
/// # Invariants
///
/// `ptr` is a registered xpu netdev, unregistered and freed only by `drop`.
pub(crate) struct PciNetdev {
    ptr: NonNull<bindings::net_device>,
}

// SAFETY: the netdev is a kernel object usable from any thread; we only hand out `&Device`.
unsafe impl Send for PciNetdev {}
// SAFETY: as for `Send`.
unsafe impl Sync for PciNetdev {}

impl PciNetdev {
    /// Creates and registers the netdev (xpu%d) of `parent`. Under the same RTNL section, the
    /// core calls `NetdevOps::pci_attach` of `D` with `link`.
    pub(crate) fn new<D: Exported>(
        parent: &device::Device<device::Bound>,
        link: &Arc<D::Transport>,
    ) -> Result<Self> {
        // SAFETY: `parent` is a bound device; `link` is valid for the call, and
        // `xpu_rs_pci_attach`, `ops::pci_attach` of the one `Exported` type `D`, reads it as the
        // `&Arc<D::Transport>` it is.
        let dev = unsafe {
            sys::xpu_pci_netdev_create(
                raw_device(parent),
                core::ptr::from_ref(link).cast::<c_void>(),
            )
        };
        let err = kernel::error::from_err_ptr(dev)?;
        let ptr = NonNull::new(err).ok_or(ENOMEM)?;
        // INVARIANT: `xpu_pci_netdev_create` returned a registered device.
        Ok(Self { ptr })
    }

    pub(crate) fn device(&self) -> &Device {
        // SAFETY: registered until `drop` (type invariant), allocated by the C shim.
        unsafe { Device::from_raw(self.ptr.as_ptr()) }
    }
}

impl Drop for PciNetdev {
    /// The device's interrupts are freed already, but its control work can still be queued:
    /// by the TX watchdog, and by a NAPI poll that counts a peer's violation (which the
    /// coalescing timer can start) until `unregister_netdev()` closes the device. So the work
    /// is disabled, not just cancelled: every later queueing is a no-op, and it cannot run
    /// once the device's state is freed. The work takes RTNL, so this happens before
    /// `unregister_netdev()`, outside it.
    fn drop(&mut self) {
        self.device().control_disable();
        // SAFETY: registered (type invariant), with `needs_free_netdev` off (the C shim's
        // creation), so freeing it is ours; not used after this.
        unsafe {
            sys::unregister_netdev(self.ptr.as_ptr());
            sys::free_netdev(self.ptr.as_ptr());
        }
    }
}

/// The handler of one MSI-X vector: hands the doorbell to the netdev's NAPI or control work.
struct VectorIrq {
    dev: NonNull<bindings::net_device>,
    vector: u16,
}

// SAFETY: the handler only passes the device pointer to a C helper that is safe in any
// context; see `Vectors` for why the device outlives it.
unsafe impl Send for VectorIrq {}
// SAFETY: as for `Send`.
unsafe impl Sync for VectorIrq {}

impl irq::Handler for VectorIrq {
    fn handle(&self) -> IrqReturn {
        let dev = self.dev.as_ptr();
        match self.vector.checked_sub(1) {
            // SAFETY: the device outlives the registration (see `Vectors::new`), and this is
            // its control vector's handler, as `xpu_rs_ctrl_irq` requires.
            None => unsafe { sys::xpu_rs_ctrl_irq(dev) },
            // SAFETY: as above; the helper is for hard-IRQ context and checks `q`.
            Some(q) => unsafe { sys::xpu_pci_queue_irq(dev, q.into()) },
        }
        IrqReturn::Handled
    }
}

/// The MSI-X vectors of a PCI function with a handler on each: vector 0 for control, vector
/// `1 + q` for queue `q`.
///
/// The kernel's `irq::Registration` borrows the vector allocation it was made from, and both
/// must live in the driver's data: so the allocation is boxed here and the registrations,
/// which borrow it, are dropped first.
///
/// # Invariants
///
/// `alloc` comes from `KBox::into_raw` and is freed only in `drop`, after `irqs`.
pub(crate) struct Vectors<'bound> {
    irqs: KVec<Pin<KBox<irq::Registration<'bound, VectorIrq>>>>,
    alloc: NonNull<pci::IrqVectorRegistration<'bound>>,
    _bound: PhantomData<&'bound pci::Device<device::Bound>>,
}

// SAFETY: the allocation is only dropped, from whichever thread drops `Vectors`.
unsafe impl Send for Vectors<'_> {}
// SAFETY: no shared access to the allocation is handed out.
unsafe impl Sync for Vectors<'_> {}

impl<'bound> Vectors<'bound> {
    /// Allocates 2..=`max` MSI-X vectors of `pdev`.
    pub(crate) fn alloc(pdev: &'bound pci::Device<device::Bound>, max: u32) -> Result<Self> {
        let types = pci::IrqTypes::default().with(pci::IrqType::MsiX);
        let alloc = KBox::new(pdev.alloc_irq_vectors(2, max, types)?, GFP_KERNEL)?;
        let alloc = NonNull::new(KBox::into_raw(alloc)).ok_or(ENOMEM)?;
        // INVARIANT: from `KBox::into_raw`; freed in `drop`.
        Ok(Self {
            irqs: KVec::new(),
            alloc,
            _bound: PhantomData,
        })
    }

    /// Number of vectors.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: `alloc` is live until `drop` (type invariant).
        unsafe { self.alloc.as_ref() }.len()
    }

    /// Routes every vector to `dev`. `dev` must outlive `self` (the PCI driver drops `self`
    /// first).
    pub(crate) fn request(&mut self, dev: &PciNetdev) -> Result {
        // SAFETY: `alloc` is live until `drop`, which drops every registration (which borrow
        // it) first; so the borrow may be as long as `'bound`.
        let alloc: &'bound pci::IrqVectorRegistration<'bound> = unsafe { &*self.alloc.as_ptr() };
        for v in 0..alloc.len() {
            let handler = VectorIrq {
                dev: dev.ptr,
                vector: u16::try_from(v)?,
            };
            let name = if v == 0 { c"xpu-ctrl" } else { c"xpu-queue" };
            let request: irq::IrqRequest<'_> = alloc.index(v)?.into();
            let irq = i32::try_from(request.irq())?;
            // SAFETY: the registration is kept in `irqs` and dropped normally, never forgotten.
            let reg = unsafe {
                irq::Registration::new(
                    request,
                    irq::Flags::TRIGGER_NONE,
                    name,
                    Ok::<_, Error>(handler),
                )
            };
            self.irqs
                .push(KBox::pin_init(reg, GFP_KERNEL)?, GFP_KERNEL)?;
            if let Some(q) = v.checked_sub(1) {
                // SAFETY: `dev` is registered and alive (type invariant of `PciNetdev`).
                unsafe { sys::xpu_pci_set_irq(dev.ptr.as_ptr(), u32::try_from(q)?, irq) };
            }
        }
        Ok(())
    }
}

impl Drop for Vectors<'_> {
    fn drop(&mut self) {
        // Handlers first: they borrow the allocation.
        self.irqs.clear();
        // SAFETY: from `KBox::into_raw` (type invariant), and nothing borrows it any more.
        drop(unsafe { KBox::from_raw(self.alloc.as_ptr()) });
    }
}
