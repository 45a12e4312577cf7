// SPDX-License-Identifier: GPL-2.0

//! What the datapath needs from around it, besides the window: the device's queues and the
//! way to signal the peer ([`Port`]), the NAPI context a poll runs in ([`Poller`]), the packets
//! it sends ([`TxPacket`]) and a clock ([`Clock`]). The kernel implements these over
//! `net_device`, NAPI, `sk_buff` and jiffies; the tests over a simulated device and peer.

use super::meta::VnetHdr;

/// How the two ends signal each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Both ends in one kernel: "packets" schedules the peer's NAPI, "room" wakes its queue.
    Pair,
    /// The peer is another kernel, reached by one doorbell per queue that means packets and
    /// room alike. Its event index is not trusted to be right: a packet it leaves unread too
    /// long gets an overdue doorbell anyway.
    Doorbell,
}

/// Why the datapath dropped a packet (the driver maps each to an `skb_drop_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The link is not connected.
    LinkDown,
    /// No room in the ring (the queue should have been stopped: a bug or a hostile peer).
    RingFull,
    /// Larger than a descriptor can carry.
    TooBig,
    /// Checksum or GSO metadata that cannot be expressed, or that fails validation.
    BadMeta,
    /// No memory for the received packet.
    NoMem,
}

/// The device's side of the datapath: its TX queues, and the signals to the peer.
pub trait Port {
    /// Stops TX queue `q` (its ring has no room for another packet).
    fn txq_stop(&self, q: u16);
    /// Restarts TX queue `q` from the transmit path (room appeared while stopping).
    fn txq_start(&self, q: u16);
    /// Wakes TX queue `q` if it is stopped (there may be room in its ring).
    fn txq_wake(&self, q: u16);
    /// Whether more packets for this queue follow right behind the current one
    /// (`netdev_xmit_more`): the doorbell can wait for the last of them.
    fn xmit_more(&self) -> bool;
    /// Tells the peer that ring `q` has packets for it. Returns whether it could be told.
    fn notify_peer(&self, q: u16) -> bool;
    /// Tells the peer that its ring `q` has room again (its stopped queue may restart).
    fn wake_peer(&self, q: u16);
    /// The peer broke the protocol (already counted): the link may need a reset.
    fn violation(&self);
    /// Runs `f` holding TX queue `q`'s lock, which `ndo_start_xmit` holds (`__netif_tx_lock`):
    /// XDP frames share the queue's ring with the stack's packets.
    fn tx_locked<R>(&self, q: u16, f: impl FnOnce() -> R) -> R;
}

/// The doorbell moderation of an RX queue: `ethtool -C`, or what DIM chose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moderation {
    /// `rx-usecs`: the longest a packet waits for a poll when doorbells are coalesced.
    pub usecs: u32,
    /// `rx-frames`: packets per doorbell (0: half a ring).
    pub frames: u32,
    /// `adaptive-rx`: DIM picks the values.
    pub adaptive: bool,
}

/// What became of a received packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered<F> {
    /// Handed to the stack; no XDP program ran.
    Up,
    /// The XDP program passed it to the stack.
    XdpPass,
    /// The XDP program dropped it (or aborted).
    XdpDrop,
    /// The XDP program sends it back out on this end (XDP_TX): the frame, for our TX ring of
    /// the queue it came in on.
    XdpTx(F),
    /// The XDP program redirected it (to a device, a CPU, an AF_XDP socket).
    XdpRedirect,
    /// The XDP program ran on it as an skb, as the kernel's generic XDP does (a packet too
    /// large for a native frame: GSO from a PCI peer, a jumbo frame for a multi-buffer
    /// program), and passed it, or not (dropped, sent or redirected: the kernel does not say).
    XdpGeneric { passed: bool },
}

/// The NAPI context a poll runs in, delivering the packets of the window `M`.
///
/// The context is the poll's own until [`Poller::complete_done`]; after it another poll may
/// start on another CPU, so only [`Poller::schedule`], [`Poller::timer_start`] and
/// [`Poller::moderation`] may follow.
pub trait Poller<M: ?Sized> {
    /// A frame an XDP program sends back out (XDP_TX).
    type Frame: TxPacket<M>;

    /// Copies the packet (validated: `len` bytes at `off`, inside the peer's data area) out of
    /// `mem`, applies its checksum and GSO metadata `h` (validated as far as the descriptor
    /// goes; the kernel checks the rest), runs the device's XDP program on it if it has one,
    /// and hands it up the stack unless the program decided otherwise.
    fn receive(
        &self,
        mem: &M,
        off: u32,
        len: u32,
        h: &VnetHdr,
    ) -> Result<Delivered<Self::Frame>, DropReason>;
    /// Ends a poll whose XDP program redirected packets (`xdp_do_flush`).
    fn xdp_flush(&self);
    /// `napi_complete_done`: the poll did `done` (< budget) packets. Returns whether NAPI is
    /// now off (so the notifications must be re-armed).
    fn complete_done(&self, done: u32) -> bool;
    /// Schedules another poll (work arrived while re-arming).
    fn schedule(&self);
    /// The queue's moderation.
    fn moderation(&self) -> Moderation;
    /// Polls once more in `usecs` microseconds (the bound of a coalesced re-arm).
    fn timer_start(&self, usecs: u32);
    /// adaptive-rx: hands DIM the queue's running totals. Only before `complete_done`.
    fn dim_sample(&self, events: u16, packets: u64, bytes: u64);
}

/// A packet handed to the transmit path, to be copied into the window `M`.
pub trait TxPacket<M: ?Sized>: Sized {
    /// Bytes in the packet.
    fn size(&self) -> u32;
    /// Its checksum and GSO metadata in the kernel's form, or `None` if the kernel cannot
    /// express them (the datapath recodes them for the descriptor, [`super::meta`]).
    fn vnet_hdr(&self) -> Option<VnetHdr>;
    /// Copies its `size()` bytes to `off` in `mem` (bounds-checked there).
    fn copy_to(&self, mem: &M, off: u32) -> Option<()>;
    /// Frees a packet that was sent.
    fn consume(self);
    /// Drops the packet for `why`.
    fn drop_for(self, why: DropReason);
}

/// A coarse clock, for the datapath's timeouts (how long a peer has left our packets unread).
pub trait Clock {
    /// Ticks, truncated to 32 bits: compare two readings with wrapping arithmetic.
    fn ticks(&self) -> u32;
}
