// SPDX-License-Identifier: GPL-2.0

//! The datapath library's traits over the kernel: the window ([`SharedMem`]), an skb and an
//! XDP frame ([`TxPacket`]), a NAPI context ([`Poller`]), the device's queues and doorbells
//! ([`Port`], one per signalling mode) and jiffies ([`Clock`]).

use kernel::sync::{
    atomic::{Acquire, Relaxed, Release},
    barrier::{smp_mb, Full, Read, Write},
};

use super::{
    clock,
    device::Device,
    napi::Napi,
    pci::Doorbell,
    skb::{self, SkBuff},
    window::Window,
    xdp::XdpFrame,
};
use crate::{
    datapath::{
        mem::SharedMem,
        meta::VnetHdr,
        port::{Clock, Delivered, DropReason, Moderation, Poller, Port, TxPacket},
    },
    shm::Desc,
};

impl From<DropReason> for skb::DropReason {
    fn from(why: DropReason) -> Self {
        match why {
            DropReason::LinkDown => Self::LinkDown,
            DropReason::RingFull => Self::RingFull,
            DropReason::TooBig => Self::TooBig,
            DropReason::BadMeta => Self::BadMeta,
            DropReason::NoMem => Self::NoMem,
        }
    }
}

impl SharedMem for Window {
    fn size(&self) -> u64 {
        self.size() as u64
    }
    fn load(&self, off: u32) -> Option<u32> {
        Some(self.word(off)?.load(Relaxed))
    }
    fn load_acquire(&self, off: u32) -> Option<u32> {
        Some(self.word(off)?.load(Acquire))
    }
    fn store(&self, off: u32, v: u32) -> Option<()> {
        self.word(off)?.store(v, Relaxed);
        Some(())
    }
    fn store_release(&self, off: u32, v: u32) -> Option<()> {
        self.word(off)?.store(v, Release);
        Some(())
    }
    fn full_barrier(&self) {
        smp_mb(Full);
    }
    fn read_barrier(&self) {
        smp_mb(Read);
    }
    fn write_barrier(&self) {
        smp_mb(Write);
    }
    fn read_desc(&self, off: u32) -> Option<Desc> {
        self.read_desc(off)
    }
    fn write_desc(&self, off: u32, d: &Desc) -> Option<()> {
        self.write_desc(off, d).ok()
    }
    fn writeback(&self, off: u32, len: u32) {
        Window::writeback(self, off, len);
    }
    fn invalidate(&self, off: u32, len: u32) {
        Window::invalidate(self, off, len);
    }
    fn flushes(&self) -> bool {
        Window::flushes(self)
    }
}

impl TxPacket<Window> for SkBuff {
    fn size(&self) -> u32 {
        self.len()
    }
    fn vnet_hdr(&self) -> Option<VnetHdr> {
        SkBuff::vnet_hdr(self).ok()
    }
    fn copy_to(&self, mem: &Window, off: u32) -> Option<()> {
        mem.copy_from_skb(off, self, self.len()).ok()
    }
    fn consume(self) {
        self.consume();
    }
    fn drop_for(self, why: DropReason) {
        self.drop_for(why.into());
    }
}

/// A frame an XDP program sends: no checksum or GSO to pass on (a partial checksum was
/// written before the program ran, driver/xpu_shim.c).
impl TxPacket<Window> for XdpFrame {
    fn size(&self) -> u32 {
        // A multi-buffer frame has no size we can send: `copy_to` refuses it.
        self.data().map_or(0, |d| d.len() as u32)
    }
    fn vnet_hdr(&self) -> Option<VnetHdr> {
        Some(VnetHdr::default())
    }
    fn copy_to(&self, mem: &Window, off: u32) -> Option<()> {
        mem.copy_from_slice(off, self.data()?).ok()
    }
    fn consume(self) {}
    fn drop_for(self, _why: DropReason) {}
}

impl Poller<Window> for Napi<'_> {
    type Frame = XdpFrame;

    fn receive(
        &self,
        mem: &Window,
        off: u32,
        len: u32,
        h: &VnetHdr,
    ) -> Result<Delivered<XdpFrame>, DropReason> {
        let region = mem.region(off, len).ok_or(DropReason::BadMeta)?;
        Napi::receive(self, region, h).map_err(|why| match why {
            skb::DropReason::BadMeta => DropReason::BadMeta,
            _ => DropReason::NoMem,
        })
    }
    fn xdp_flush(&self) {
        Napi::xdp_flush(self);
    }
    fn complete_done(&self, done: u32) -> bool {
        self.complete_done(done)
    }
    fn schedule(&self) {
        self.schedule();
    }
    fn moderation(&self) -> Moderation {
        let m = self.moderation();
        Moderation {
            usecs: m.usecs,
            frames: m.frames,
            adaptive: m.adaptive,
        }
    }
    fn timer_start(&self, usecs: u32) {
        self.timer_start(usecs);
    }
    fn dim_sample(&self, events: u16, packets: u64, bytes: u64) {
        self.dim_sample(events, packets, bytes);
    }
}

/// The kernel's tick counter ([`clock::ticks`]).
pub(crate) struct Jiffies;

impl Clock for Jiffies {
    fn ticks(&self) -> u32 {
        clock::ticks()
    }
}

/// The TX side of a device in pair mode: the peer is the other end of the pair, in this
/// kernel.
pub(crate) struct PairPort<'a>(pub(crate) &'a Device);

impl Port for PairPort<'_> {
    fn txq_stop(&self, q: u16) {
        self.0.txq_stop(q);
    }
    fn txq_start(&self, q: u16) {
        self.0.txq_start(q);
    }
    fn txq_wake(&self, q: u16) {
        self.0.txq_wake(q);
    }
    fn xmit_more(&self) -> bool {
        skb::xmit_more()
    }
    fn notify_peer(&self, q: u16) -> bool {
        self.0.peer_napi_schedule(q)
    }
    fn wake_peer(&self, q: u16) {
        self.0.peer_txq_wake(q);
    }
    fn violation(&self) {
        // Both ends are this kernel's: nothing to reset, the counter says it all.
    }
    fn tx_locked<R>(&self, q: u16, f: impl FnOnce() -> R) -> R {
        self.0.txq_locked(q, f)
    }
}

/// The TX side of a device in PCI mode: the peer is another kernel, rung through the
/// fabric on vector `1 + q` for queue `q` (vector 0 is the control doorbell).
pub(crate) struct PciPort<'a> {
    pub(crate) dev: &'a Device,
    pub(crate) doorbell: &'a Doorbell,
}

impl Port for PciPort<'_> {
    fn txq_stop(&self, q: u16) {
        self.dev.txq_stop(q);
    }
    fn txq_start(&self, q: u16) {
        self.dev.txq_start(q);
    }
    fn txq_wake(&self, q: u16) {
        self.dev.txq_wake(q);
    }
    fn xmit_more(&self) -> bool {
        skb::xmit_more()
    }
    fn notify_peer(&self, q: u16) -> bool {
        self.doorbell.ring(q + 1)
    }
    fn wake_peer(&self, q: u16) {
        self.doorbell.ring(q + 1);
    }
    fn violation(&self) {
        // The handshake counts violations and resets the link if they keep coming.
        self.dev.control_schedule();
    }
    fn tx_locked<R>(&self, q: u16, f: impl FnOnce() -> R) -> R {
        self.dev.txq_locked(q, f)
    }
}
