// SPDX-License-Identifier: GPL-2.0
//! A link of two ends run by a schedule: the real `Conn::transmit` and `Conn::poll` of both
//! ends over one window, with the core's qdisc (packets held while a queue is stopped), NAPI
//! scheduling, coalescing timers and a clock simulated around them. Shared by the property
//! tests and the scenario tests.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
};

use xpu_datapath::{
    conn::MAX_PACKET,
    port::{DropReason, Mode, Moderation},
    shm::Layout,
};

use crate::common::{
    self, Dev, Fate, Mem, Pkt, Received, Stats, TestClock, TestConn, TestNapi, TestPort,
};

/// One step of a schedule.
#[derive(Clone, Debug)]
pub enum Op {
    /// The stack hands end `side` a packet of `len` bytes for queue `q`; with `more`, more
    /// of the burst follow (the qdisc runs after the last of them).
    Send {
        side: usize,
        q: u16,
        len: u32,
        more: bool,
    },
    /// End `side`'s NAPI context `q` runs, if it is scheduled.
    Poll { side: usize, q: u16, budget: u32 },
    /// End `side`'s coalescing timer of queue `q` fires, if armed.
    Timer { side: usize, q: u16 },
    /// Time passes.
    Tick(u32),
    /// `ethtool -C` on end `side`.
    Moderate { side: usize, m: Moderation },
    /// `ethtool -G rx tx` on end `side` (each bounded by the ring's size).
    Depths { side: usize, rx: u32, tx: u32 },
}

/// The state that the ends borrow.
pub struct World {
    /// The window as end 0 sees it (and the test, with `peek` and `poke`).
    pub mem: Mem,
    /// The window as end 1 sees it: the same memory, and on a medium that is not coherent a
    /// cache of its own.
    pub mem1: Mem,
    pub clock: TestClock,
    pub layout: Layout,
    pub mode: Mode,
    pub devs: [Dev; 2],
    pub stats: [Stats; 2],
    pub logs: [RefCell<Vec<Fate>>; 2],
    pub received: [Received; 2],
    pub out_of_area: Cell<u32>,
}

impl World {
    /// A link of `queues` rings of `ring_size`, with `buf` bytes of data per descriptor.
    pub fn new(queues: u16, ring_size: u32, buf: u32, mode: Mode) -> Self {
        let layout = common::layout(queues, ring_size, buf);
        Self::over(Mem::new(2 * u64::from(layout.half_size())), layout, mode)
    }

    /// The same over a medium that is not coherent between the ends (see [`Mem`]), whose
    /// ends write back and invalidate if `flushes`.
    pub fn noncoherent(queues: u16, ring_size: u32, buf: u32, mode: Mode, flushes: bool) -> Self {
        let layout = common::layout(queues, ring_size, buf);
        let size = 2 * u64::from(layout.half_size());
        let w = Self::over(Mem::noncoherent(size, flushes), layout, mode);
        w.mem.warm();
        w.mem1.warm();
        w
    }

    // Each end writes its own half only (the test's `poke`s are not checked).
    fn over(mut mem: Mem, layout: Layout, mode: Mode) -> Self {
        let q = usize::from(layout.num_queues());
        let half = layout.half_size();
        let mut mem1 = mem.view();
        mem.writer_half = Some((0, half));
        mem1.writer_half = Some((half, half));
        Self {
            mem1,
            mem,
            clock: TestClock::default(),
            layout,
            mode,
            devs: Default::default(),
            stats: Default::default(),
            logs: Default::default(),
            received: [
                RefCell::new(vec![VecDeque::new(); q]),
                RefCell::new(vec![VecDeque::new(); q]),
            ],
            out_of_area: Cell::new(0),
        }
    }

    /// The largest packet a queue takes.
    pub fn max_len(&self) -> u32 {
        MAX_PACKET.min(self.layout.data_size())
    }
}

/// Both ends, running over a [`World`].
pub struct Link<'w> {
    pub w: &'w World,
    pub ends: [TestConn<'w>; 2],
    /// The core's qdisc: packets waiting per end and queue (a given-back one at the front).
    pub pending: [Vec<VecDeque<Pkt<'w>>>; 2],
    pub next_seq: [Vec<u32>; 2],
}

impl<'w> Link<'w> {
    pub fn new(w: &'w World) -> Self {
        let q = usize::from(w.layout.num_queues());
        Self {
            w,
            ends: [(0, &w.mem), (1, &w.mem1)]
                .map(|(side, mem)| common::conn(mem, &w.clock, w.layout, side, w.mode)),
            pending: [
                (0..q).map(|_| VecDeque::new()).collect(),
                (0..q).map(|_| VecDeque::new()).collect(),
            ],
            next_seq: [vec![0; q], vec![0; q]],
        }
    }

    pub fn port(&self, side: usize) -> TestPort<'w> {
        TestPort {
            me: &self.w.devs[side],
            peer: &self.w.devs[1 - side],
            mode: self.w.mode,
        }
    }

    fn napi(&self, side: usize, q: u16) -> TestNapi<'w> {
        let peer_half = if side == 0 {
            self.w.layout.half_size()
        } else {
            0
        };
        let lo = peer_half + self.w.layout.data_area_off(q).expect("queue exists");
        TestNapi {
            dev: &self.w.devs[side],
            q,
            lo,
            hi: lo + self.w.layout.data_size(),
            received: &self.w.received[side],
            out_of_area: &self.w.out_of_area,
        }
    }

    /// The core runs queue `q` of `side`: transmits while it is not stopped and has packets,
    /// with `netdev_xmit_more` set while more of them wait behind.
    fn run_queue(&mut self, side: usize, q: u16) {
        let qi = usize::from(q);
        while !self.w.devs[side].stopped[qi].get() {
            let Some(pkt) = self.pending[side][qi].pop_front() else {
                return;
            };
            self.w.devs[side]
                .xmit_more
                .set(!self.pending[side][qi].is_empty());
            let port = self.port(side);
            if let Err(pkt) = self.ends[side].transmit(&port, q, &self.w.stats[side].tx[qi], pkt) {
                assert!(
                    self.w.devs[side].stopped[qi].get(),
                    "a packet given back with the queue running"
                );
                self.pending[side][qi].push_front(pkt);
            }
        }
    }

    pub fn poll(&self, side: usize, q: u16, budget: u32) -> u32 {
        let qi = usize::from(q);
        if !self.w.devs[side].napi_scheduled[qi].get() {
            return 0;
        }
        let port = self.port(side);
        let done = self.ends[side].poll(
            &port,
            &self.napi(side, q),
            q,
            &self.w.stats[side].rx[qi],
            &self.w.stats[side].tx[qi],
            budget,
        );
        assert!(done <= budget, "a poll did more than its budget");
        if done == budget {
            // The core polls again while the budget is used up.
            self.w.devs[side].napi_scheduled[qi].set(true);
        }
        done
    }

    pub fn step(&mut self, op: &Op) {
        let queues = self.w.layout.num_queues();
        match *op {
            Op::Send { side, q, len, more } => {
                let q = q % queues;
                let qi = usize::from(q);
                let seq = self.next_seq[side][qi];
                self.next_seq[side][qi] += 1;
                self.pending[side][qi].push_back(Pkt {
                    q,
                    seq,
                    len,
                    bad_meta: false,
                    log: &self.w.logs[side],
                });
                if more {
                    return;
                }
            }
            Op::Poll { side, q, budget } => {
                self.poll(side, q % queues, budget.max(1));
            }
            Op::Timer { side, q } => {
                let t = &self.w.devs[side].timer[usize::from(q % queues)];
                if t.take().is_some() {
                    self.w.devs[side].napi_scheduled[usize::from(q % queues)].set(true);
                }
            }
            Op::Tick(n) => self.w.clock.0.set(self.w.clock.0.get().wrapping_add(n)),
            Op::Moderate { side, m } => self.w.devs[side].moderation.set(m),
            Op::Depths { side, rx, tx } => {
                let ring = self.w.layout.ring_size();
                self.ends[side]
                    .set_depths(Some(rx.min(ring)), Some(tx.min(ring)))
                    .expect("depths within the ring");
                // As the driver does after `ethtool -G`: every queue looks at its ring again.
                for stopped in &self.w.devs[side].stopped {
                    stopped.set(false);
                }
            }
        }
        // A queue the peer woke runs at once (the core's `netif_tx_wake_queue` reschedules
        // the qdisc).
        for side in 0..2 {
            for q in 0..queues {
                self.run_queue(side, q);
            }
        }
    }

    /// Runs whatever is scheduled until nothing is: polls, timers, queues with packets.
    /// Returns the steps taken.
    pub fn drain(&mut self) -> usize {
        let queues = self.w.layout.num_queues();
        for n in 0..100_000 {
            let mut busy = false;
            for side in 0..2 {
                for q in 0..queues {
                    let qi = usize::from(q);
                    let dev = &self.w.devs[side];
                    if dev.napi_scheduled[qi].get() {
                        self.poll(side, q, 64);
                        busy = true;
                    } else if dev.timer[qi].take().is_some() {
                        dev.napi_scheduled[qi].set(true);
                        busy = true;
                    }
                    let before = self.pending[side][qi].len();
                    self.run_queue(side, q);
                    busy |= self.pending[side][qi].len() != before;
                }
            }
            if !busy {
                return n;
            }
        }
        panic!("the link never went quiet");
    }

    /// After [`Link::drain`]: every packet handed to a transmit was sent or dropped for a
    /// reason a correct peer allows, every sent one arrived once, in order, whole, and the
    /// counters agree.
    pub fn check(&self) {
        let w = self.w;
        assert_eq!(
            w.mem.oob.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "out-of-window access"
        );
        assert_eq!(
            w.mem
                .foreign_writes
                .load(std::sync::atomic::Ordering::Relaxed),
            0,
            "an end wrote the other's half"
        );
        assert_eq!(
            w.out_of_area.get(),
            0,
            "a receive outside the peer's data area"
        );
        for side in 0..2 {
            let peer = 1 - side;
            assert_eq!(
                w.devs[side].violations.get(),
                0,
                "side {side} saw a violation"
            );
            for q in 0..w.layout.num_queues() {
                let qi = usize::from(q);
                assert!(
                    self.pending[side][qi].is_empty(),
                    "lost TX wake-up: side {side} queue {q} stopped for good with {} packets \
                     waiting",
                    self.pending[side][qi].len()
                );
                let sent: Vec<u32> = w.logs[side]
                    .borrow()
                    .iter()
                    .filter_map(|f| match *f {
                        Fate::Sent { q: fq, seq } if fq == q => Some(seq),
                        Fate::Dropped { q: fq, why, .. } if fq == q => {
                            assert_eq!(
                                why,
                                DropReason::TooBig,
                                "a drop a correct peer never causes"
                            );
                            None
                        }
                        _ => None,
                    })
                    .collect();
                let got: Vec<(u32, u32)> = w.received[peer].borrow()[qi].iter().copied().collect();
                let want: Vec<u32> = sent.iter().map(|&s| common::tag(q, s)).collect();
                let got_tags: Vec<u32> = got.iter().map(|&(t, _)| t).collect();
                assert_eq!(
                    got_tags, want,
                    "side {side} queue {q}: lost, duplicated, reordered or torn"
                );
                let (tx, rx) = (&w.stats[side].tx[qi], &w.stats[peer].rx[qi]);
                assert_eq!(tx.packets.get(), sent.len() as u64);
                assert_eq!(rx.packets.get(), sent.len() as u64);
                assert_eq!(tx.bytes.get(), rx.bytes.get(), "byte accounting");
                assert_eq!(
                    rx.bytes.get(),
                    got.iter().map(|&(_, l)| u64::from(l)).sum::<u64>()
                );
                assert_eq!(tx.drop_ring_full.get(), 0);
                assert_eq!(tx.peer_errors.get() + rx.peer_errors.get(), 0);
            }
        }
    }
}
