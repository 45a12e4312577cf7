// SPDX-License-Identifier: GPL-2.0

//! PCI mode's transport: an xpu netdev per ivshmem-doorbell function (1af4:1110), the window
//! in its memory BAR, doorbells through its registers, one MSI-X vector per queue plus one for
//! control. `modprobe xpu` on both kernels is all it takes; the handshake
//! (`handshake`) connects them.
//!
//! CXL mode is the same transport with the window in CXL memory that both hosts map
//! (`modprobe xpu cxl_base=ADDR cxl_size=SIZE`, a range of a CXL region): see [`CXL_WINDOW`].
//!
//! The fabric (dpu-fw/fabric) gives each of the two kernels an id, 0 or 1: that is its side,
//! and so its role (0 the host, 1 the DPU) and its half of the window; the doorbells go to the
//! other id. Both sides compute the same layout from what they both see (the window's size,
//! the vector count), and the handshake refuses to connect if they differ.

#![deny(unsafe_code)]

use kernel::{
    device::{Bound, Core},
    pci,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, SetOnce,
    },
};

use crate::{
    handshake::Transport,
    link::Xpu,
    net::{
        cxl::{CxlClaim, CxlRange},
        pci::{Doorbell, PciNetdev, Vectors},
        random::random_u32,
        window::{self, Window},
    },
    pair,
    shm::{
        Layout, LayoutError, MAX_QUEUES, MAX_RING_SIZE, MAX_WINDOW_SIZE, MIN_RING_SIZE,
        MIN_WINDOW_SIZE,
    },
};

/// The memory BAR of an ivshmem device.
const WINDOW_BAR: u32 = 2;
/// Queues when the vectors allow more (as pair mode's default, min(CPUs, 4), but fixed: both
/// sides must agree, and may have different CPU counts).
const DEFAULT_QUEUES: u16 = 4;
/// Descriptors per ring, if the window has room; halved until it fits.
const DEFAULT_RING_SIZE: u32 = 256;

pub(crate) struct XpuPci;

/// CXL mode's window, when the module was loaded with one ([`claim_cxl`]): every function's
/// link has it as its window, in place of the function's BAR, and uses the function for its
/// doorbells only. CXL has no doorbell of its own (a CXL.mem access raises nothing in the other
/// host); the ivshmem device's registers and MSI-X vectors are the lab's interrupt path between
/// the hosts, as a real deployment would use its NTB's or its CXL switch's doorbells.
static CXL_WINDOW: SetOnce<CxlWindow> = SetOnce::new();

/// CXL mode's window: the claimed range, and whether the memory is coherent between the
/// hosts that share it (QEMU's emulation; CXL 3 shared memory with back-invalidation) or not
/// (memory that hosts share without hardware coherence: each side writes back and
/// invalidates, and says so in its header).
#[derive(Clone, Copy)]
struct CxlWindow {
    range: CxlRange,
    coherent: bool,
}

/// Which sides (fabric ids 0 and 1) have a function bound in CXL mode. The window is one per
/// module, so a second function of the same side (another fabric's) would share its half with
/// the first: it is refused ([`CxlSide`]).
static CXL_SIDES: [Atomic<bool>; 2] = [Atomic::new(false), Atomic::new(false)];

/// A side's hold on CXL mode's window, for as long as its function is bound.
struct CxlSide(usize);

impl CxlSide {
    fn take(id: u16) -> Option<Self> {
        let side = usize::from(id);
        let was = CXL_SIDES.get(side)?.xchg(true, Relaxed);
        (!was).then_some(Self(side))
    }
}

impl Drop for CxlSide {
    fn drop(&mut self) {
        if let Some(s) = CXL_SIDES.get(self.0) {
            s.store(false, Relaxed);
        }
    }
}

/// CXL mode: claims `size` bytes of CXL memory at `base` for the module's life (the crate root
/// holds the claim, and drops it after the PCI functions). `0, 0` is PCI mode: no claim.
/// Everything about the window is checked here, so that a bad one fails `modprobe` and says
/// why, rather than every function's probe.
pub(crate) fn claim_cxl(base: u64, size: u64, coherent: bool) -> Result<Option<CxlClaim>> {
    if base == 0 && size == 0 {
        if !coherent {
            pr_err!("cxl_coherent=0 is for CXL mode: give the window (cxl_base, cxl_size)\n");
            return Err(EINVAL);
        }
        return Ok(None);
    }
    if !size.is_power_of_two() || !(MIN_WINDOW_SIZE..=MAX_WINDOW_SIZE).contains(&size) {
        pr_err!(
            "cxl_size {size:#x}: a window is a power of two from {MIN_WINDOW_SIZE:#x} to {MAX_WINDOW_SIZE:#x} bytes (xpuctl cxl window gives one)\n"
        );
        return Err(EINVAL);
    }
    if !coherent && !window::can_flush() {
        pr_err!("cxl_coherent=0: this architecture cannot write back or invalidate a cache line\n");
        return Err(EOPNOTSUPP);
    }
    let claim = CxlClaim::new(base, size)?;
    let range = claim.range();
    // Once per load: the module's init is the only caller.
    if !CXL_WINDOW.populate(CxlWindow { range, coherent }) {
        return Err(EBUSY);
    }
    let medium = if coherent {
        "coherent between the hosts"
    } else {
        "not coherent between the hosts: writes back and invalidates"
    };
    pr_info!("CXL mode, window {base:#x}+{size:#x}, {medium}\n");
    Ok(Some(claim))
}

kernel::pci_device_table!(
    PCI_TABLE,
    <XpuPci as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0x1110),
        ()
    )]
);

/// A bound ivshmem function. Fields drop in order: interrupts first (they point at the
/// netdev), then the netdev, then the transport (whose drop tells the other side we left).
pub(crate) struct XpuPciData<'bound> {
    _vectors: Vectors<'bound>,
    _netdev: PciNetdev,
    transport: Arc<Transport>,
    /// CXL mode: this side's hold on the window, let go once the transport is gone.
    _cxl_side: Option<CxlSide>,
}

/// The largest ring that fits `queues` queues in a window of `size` bytes.
fn layout(size: u64, queues: u16) -> Result<Layout, LayoutError> {
    let mut ring = DEFAULT_RING_SIZE.min(MAX_RING_SIZE);
    loop {
        match Layout::new(size, queues, ring, pair::buf_size(ring)) {
            Err(LayoutError::TooBig) if ring > MIN_RING_SIZE => ring /= 2,
            r => return r,
        }
    }
}

fn probe_data<'bound>(pdev: &'bound pci::Device<Bound>) -> Result<XpuPciData<'bound>> {
    let (doorbell, id) = Doorbell::new(pdev)?;
    if id > 1 {
        dev_err!(
            pdev.as_ref(),
            "fabric id {id}: an xpu link joins two peers, ids 0 and 1\n"
        );
        return Err(EINVAL);
    }
    doorbell.set_peer(1 - id);
    let (window, cxl_side) = match CXL_WINDOW.copy() {
        Some(cxl) => {
            let Some(side) = CxlSide::take(id) else {
                dev_err!(
                    pdev.as_ref(),
                    "fabric id {id}: that side of CXL mode's window is another function's (one link per module)\n"
                );
                return Err(EBUSY);
            };
            (Window::map_cxl(cxl.range, cxl.coherent)?, Some(side))
        }
        None => (Window::map_bar(pdev, WINDOW_BAR)?, None),
    };
    let size = window.size() as u64;

    let vectors = Vectors::alloc(pdev, u32::from(MAX_QUEUES) + 1)?;
    let queues = u16::try_from(vectors.len() - 1)?.min(DEFAULT_QUEUES);
    let layout = layout(size, queues).map_err(|e| {
        dev_err!(
            pdev.as_ref(),
            "a {size}-byte window cannot hold {queues} queues ({e:?})\n"
        );
        EINVAL
    })?;
    let side = u32::from(id);
    let old =
        crate::queue::read_header(&window, side * layout.half_size()).map_or(0, |h| h.generation);
    let transport = Arc::new(
        Transport {
            window: Arc::new(window, GFP_KERNEL)?,
            doorbell: Arc::new(doorbell, GFP_KERNEL)?,
            side,
            layout,
            generation: old.wrapping_add(1),
            // Zero says "no number" (the DPU side, a side older than minor 3).
            link_id: if side == 0 { random_u32().max(1) } else { 0 },
            leaving: Atomic::new(false),
        },
        GFP_KERNEL,
    )?;
    let netdev = PciNetdev::new::<Xpu>(pdev.as_ref(), &transport)?;
    let mut vectors = vectors;
    vectors.request(&netdev)?;
    // Doorbells that came before the handlers were there are lost: look now.
    netdev.device().control_schedule();
    let role = if side == 0 { "host" } else { "dpu" };
    let ring = layout.ring_size();
    let medium = if cxl_side.is_some() { "CXL" } else { "BAR" };
    dev_info!(
        pdev.as_ref(),
        "{role} side, fabric id {id}, {size}-byte {medium} window, {queues} queues of {ring} descriptors\n"
    );
    Ok(XpuPciData {
        _vectors: vectors,
        _netdev: netdev,
        transport,
        _cxl_side: cxl_side,
    })
}

impl pci::Driver for XpuPci {
    type IdInfo = ();
    type Data<'bound> = XpuPciData<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pdev.enable_device_mem()?;
        pdev.set_master();
        probe_data(pdev)
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        this.transport.leave();
    }
}
