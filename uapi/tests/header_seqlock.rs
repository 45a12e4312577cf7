// SPDX-License-Identifier: GPL-2.0
//! The side header's publication (`publish_header`, `read_header`), under every interleaving
//! of the writer's stores with the reader's loads that has at most two preemptions of the
//! reader (sequentially consistent: the barriers' part is argued in shm.rs, as the kernel's
//! seqlock does). A reader must get the old header, the new one, a `Down` side (whose other
//! fields nobody uses), or nothing; never a mix, such as the new state with the old
//! generation: a peer that connects to an incarnation that is gone.

use std::cell::{Cell, RefCell};

use xpu_uapi::shm::{
    publish_header, read_header, HeaderWords, SideHeader, SideState, HEADER_WORDS, MAGIC, VERSION,
};

fn header(state: SideState, generation: u32, mtu: u32, queues: u16) -> SideHeader {
    SideHeader {
        magic: MAGIC,
        version: VERSION,
        features: 0x1_0000_0001,
        state: state as u32,
        generation,
        peer_generation: generation.wrapping_mul(3),
        // Differs between the two headers, so that a torn copy of it shows.
        link_id: generation ^ 0x5eed_1d00,
        num_queues: queues,
        reserved: 0,
        ring_size: 256,
        buf_size: 2048,
        mtu,
        ring_off: 4096,
        cons_off: 4096 + u32::from(queues) * 4160,
        data_off: 4096 + u32::from(queues) * 4224,
        half_size: 1 << 22,
    }
}

/// One store of the writer, as recorded.
#[derive(Clone, Copy)]
struct Store(usize, u32);

/// Records what the writer stores, in order.
struct Recorder(RefCell<Vec<Store>>);

impl HeaderWords for Recorder {
    fn load(&self, _: usize) -> u32 {
        unreachable!("the writer does not read")
    }
    fn store(&self, i: usize, v: u32) {
        self.0.borrow_mut().push(Store(i, v));
    }
    fn load_acquire(&self, _: usize) -> u32 {
        unreachable!("the writer does not read")
    }
    fn store_release(&self, i: usize, v: u32) {
        self.store(i, v);
    }
    fn write_barrier(&self) {}
    fn read_barrier(&self) {}
}

/// The window as the reader sees it: before its `n`th load, the writer's next `runs[k]`
/// stores land, for each preemption point `(n, runs[k])`.
struct Interleaved<'a> {
    words: RefCell<[u32; HEADER_WORDS]>,
    stores: &'a [Store],
    next: Cell<usize>,
    loads: Cell<usize>,
    preempt: [(usize, usize); 2],
}

impl Interleaved<'_> {
    fn before_load(&self) {
        let n = self.loads.get();
        self.loads.set(n + 1);
        for &(at, run) in &self.preempt {
            if at == n {
                for _ in 0..run {
                    let k = self.next.get();
                    if let Some(&Store(i, v)) = self.stores.get(k) {
                        self.words.borrow_mut()[i] = v;
                        self.next.set(k + 1);
                    }
                }
            }
        }
    }
}

impl HeaderWords for Interleaved<'_> {
    fn load(&self, i: usize) -> u32 {
        self.before_load();
        self.words.borrow()[i]
    }
    fn store(&self, _: usize, _: u32) {
        unreachable!("the reader does not write")
    }
    fn load_acquire(&self, i: usize) -> u32 {
        self.load(i)
    }
    fn store_release(&self, _: usize, _: u32) {
        unreachable!("the reader does not write")
    }
    fn write_barrier(&self) {}
    fn read_barrier(&self) {}
}

/// Every reader outcome with the writer going from `old` to `new`.
fn check(old: &SideHeader, new: &SideHeader) -> usize {
    let rec = Recorder(RefCell::new(Vec::new()));
    publish_header(&rec, new);
    let stores = rec.0.into_inner();
    let w = stores.len();
    // More loads than one read takes: room for its retries.
    let max_loads = 4 * (HEADER_WORDS + 4);
    let mut runs = 0;
    for a in 0..max_loads {
        for ra in 0..=w {
            for b in a..max_loads {
                for rb in 0..=(w - ra) {
                    if (ra == 0 || rb == 0) && b > a {
                        continue; // the same schedule as one with a single preemption
                    }
                    let view = Interleaved {
                        words: RefCell::new(old.to_words()),
                        stores: &stores,
                        next: Cell::new(0),
                        loads: Cell::new(0),
                        preempt: [(a, ra), (b, rb)],
                    };
                    runs += 1;
                    let Some(got) = read_header(&view) else {
                        continue;
                    };
                    if got.state == SideState::Down as u32 {
                        continue;
                    }
                    assert!(
                        got == *old || got == *new,
                        "torn header: state {} generation {} (old: {} {}, new: {} {}); mtu {} queues {} \
                         (writer preempted the reader before load {a} for {ra} stores and before load {b} for {rb})",
                        got.state,
                        got.generation,
                        old.state,
                        old.generation,
                        new.state,
                        new.generation,
                        got.mtu,
                        got.num_queues
                    );
                }
            }
        }
    }
    runs
}

#[test]
fn reset_from_up_is_never_seen_torn() {
    let runs = check(
        &header(SideState::Up, 5, 1500, 4),
        &header(SideState::Ready, 6, 9000, 2),
    );
    eprintln!("{runs} interleavings");
}

#[test]
fn ready_again_is_never_seen_torn() {
    check(
        &header(SideState::Ready, 1, 1500, 4),
        &header(SideState::Ready, 2, 1500, 4),
    );
}

#[test]
fn words_round_trip() {
    let h = header(SideState::Up, 0xdead_beef, 65535, 16);
    assert_eq!(SideHeader::from_words(&h.to_words()), h);
    // The words sit where the fields do in the window's struct.
    use core::mem::offset_of;
    use xpu_uapi::shm::{GENERATION_WORD, PEER_GENERATION_WORD, STATE_WORD};
    assert_eq!(offset_of!(SideHeader, state), 4 * STATE_WORD);
    assert_eq!(offset_of!(SideHeader, generation), 4 * GENERATION_WORD);
    assert_eq!(
        offset_of!(SideHeader, peer_generation),
        4 * PEER_GENERATION_WORD
    );
    assert_eq!(offset_of!(SideHeader, features), 4 * 2);
    assert_eq!(offset_of!(SideHeader, num_queues), 4 * 8);
    assert_eq!(offset_of!(SideHeader, half_size), 4 * 15);
}
