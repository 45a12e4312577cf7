// SPDX-License-Identifier: GPL-2.0
//! Receive-side scaling: the Toeplitz hash against the RSS specification's verification
//! suite, the flow input of real frames, and the configuration published by one end of a
//! link and followed by the other, including a peer that publishes nonsense.

mod common;

use std::sync::atomic::AtomicU32;

use rstest::rstest;
use xpu_datapath::{
    mem::SharedMem,
    port::Mode,
    rss::{flow_hash, flow_input, HashType, PeerRss, RssConfig},
    shm::{
        RSS_FIELDS_ALL, RSS_FLOW_TCP4, RSS_FLOW_UDP4, RSS_FLOW_UDP6, RSS_F_ALL, RSS_F_DST_ADDR,
        RSS_F_DST_PORT, RSS_F_SRC_ADDR, RSS_INDIR_SIZE, RSS_KEY_SIZE, RSS_OFF, RSS_WORDS,
    },
    toeplitz::{self, fill_table, hash_by_table, INPUT_MAX, TABLE_WORDS},
};

use common::sim::{Link, World};

/// The key of Microsoft's RSS verification suite.
const KEY: [u8; RSS_KEY_SIZE] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// An Ethernet frame carrying an IP packet from `src:sport` to `dst:dport` over `proto`
/// (addresses of 4 or 16 bytes), with `vlan` adding an 802.1Q tag.
fn frame(src: &[u8], dst: &[u8], sport: u16, dport: u16, proto: u8, vlan: bool) -> Vec<u8> {
    let mut f = vec![0xff; 12];
    if vlan {
        f.extend([0x81, 0x00, 0x00, 0x05]);
    }
    if src.len() == 4 {
        f.extend([0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, proto, 0, 0]);
    } else {
        f.extend([0x86, 0xdd, 0x60, 0, 0, 0, 0, 20, proto, 64]);
    }
    f.extend(src);
    f.extend(dst);
    f.extend(sport.to_be_bytes());
    f.extend(dport.to_be_bytes());
    f.extend([0; 16]);
    f
}

/// The suite's IPv4 cases: source, destination, source port, destination port, the hash
/// over the addresses and ports, the hash over the addresses.
#[rstest]
#[case([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766, 0x51cc_c178, 0x323e_8fc2)]
#[case([199, 92, 111, 2], [65, 69, 140, 83], 14230, 4739, 0xc626_b0ea, 0xd718_262a)]
#[case([24, 19, 198, 95], [12, 22, 207, 184], 12898, 38024, 0x5c2b_394a, 0xd2d0_a5de)]
#[case([38, 27, 205, 30], [209, 142, 163, 6], 48228, 2217, 0xafc7_327f, 0x8298_9176)]
#[case([153, 39, 163, 191], [202, 188, 127, 2], 44251, 1303, 0x10e8_28a2, 0x5d18_09c5)]
fn toeplitz_ipv4_vectors(
    #[case] src: [u8; 4],
    #[case] dst: [u8; 4],
    #[case] sport: u16,
    #[case] dport: u16,
    #[case] l4: u32,
    #[case] l3: u32,
) {
    let mut cfg = RssConfig::new(KEY, 4);
    for vlan in [false, true] {
        let f = frame(&src, &dst, sport, dport, 6, vlan);
        cfg.fields = RSS_FIELDS_ALL;
        let tcp4 = HashType::L4 {
            v6: false,
            udp: false,
        };
        assert_eq!(cfg.hash(&f), Some((l4, tcp4)));
        assert_eq!(by_table(&KEY, &f, cfg.fields), l4);
        cfg.fields = (RSS_F_SRC_ADDR | RSS_F_DST_ADDR) << (4 * RSS_FLOW_TCP4);
        assert_eq!(by_table(&KEY, &f, cfg.fields), l3);
        assert_eq!(
            cfg.hash(&f),
            Some((
                l3,
                HashType::L3 {
                    v6: false,
                    dynhdr: false
                }
            ))
        );
    }
}

/// Storage for a table.
fn empty_table() -> Vec<AtomicU32> {
    (0..TABLE_WORDS).map(|_| AtomicU32::new(0)).collect()
}

/// `key`'s table, as each end keeps its own and the peer's.
fn table(key: &[u8; RSS_KEY_SIZE]) -> Vec<AtomicU32> {
    let t = empty_table();
    fill_table(key, &t);
    t
}

/// The hash of frame `f`'s flow with `fields`, by `key`'s table, as the datapath hashes it
/// (each field where it lies in the frame).
fn by_table(key: &[u8; RSS_KEY_SIZE], f: &[u8], fields: u32) -> u32 {
    flow_hash(f, fields, &table(key)).expect("an IP frame").0
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>()
        .expect("a valid address")
        .octets()
}

/// The suite's IPv6 cases.
#[rstest]
#[case(
    "3ffe:2501:200:1fff::7",
    "3ffe:2501:200:3::1",
    2794,
    1766,
    0x4020_7d3d,
    0x2cc1_8cd5
)]
#[case(
    "3ffe:501:8::260:97ff:fe40:efab",
    "ff02::1",
    14230,
    4739,
    0xdde5_1bbf,
    0x0f0c_461c
)]
#[case(
    "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
    "fe80::200:f8ff:fe21:67cf",
    44251,
    38024,
    0x02d1_feef,
    0x4b61_e985
)]
fn toeplitz_ipv6_vectors(
    #[case] src: &str,
    #[case] dst: &str,
    #[case] sport: u16,
    #[case] dport: u16,
    #[case] l4: u32,
    #[case] l3: u32,
) {
    let f = frame(&v6(src), &v6(dst), sport, dport, 17, false);
    let mut cfg = RssConfig::new(KEY, 4);
    let udp6 = HashType::L4 {
        v6: true,
        udp: true,
    };
    assert_eq!(cfg.hash(&f), Some((l4, udp6)));
    assert_eq!(by_table(&KEY, &f, cfg.fields), l4);
    cfg.fields =
        RSS_FIELDS_ALL & !((RSS_F_ALL & !(RSS_F_SRC_ADDR | RSS_F_DST_ADDR)) << (4 * RSS_FLOW_UDP6));
    assert_eq!(by_table(&KEY, &f, cfg.fields), l3);
    assert_eq!(
        cfg.hash(&f),
        Some((
            l3,
            HashType::L3 {
                v6: true,
                dynhdr: false
            }
        ))
    );
}

/// What is hashed: each TCP and UDP flow the fields its nibble chooses, in the order source
/// address, destination address, source port, destination port; fragments, other protocols
/// and truncated headers their addresses; what is not IP, or hashes no field, nothing.
#[test]
fn flow_input_takes_what_a_nic_takes() {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let tcp = frame(&a, &b, 0x0102, 0x0304, 6, false);
    let udp = frame(&a, &b, 0x0102, 0x0304, 17, false);
    let bytes = |f: &[u8], fields| flow_input(f, fields).map(|i| i.bytes().to_vec());
    let tcp_only_dst = (RSS_F_DST_ADDR | RSS_F_DST_PORT) << (4 * RSS_FLOW_TCP4);
    let tcp_only_addrs = (RSS_F_SRC_ADDR | RSS_F_DST_ADDR) << (4 * RSS_FLOW_TCP4);
    assert_eq!(bytes(&tcp, tcp_only_dst), Some(vec![10, 0, 0, 2, 3, 4]));
    // UDP hashes nothing in that configuration.
    assert_eq!(bytes(&udp, tcp_only_dst), None);
    let udp_src = RSS_F_SRC_ADDR << (4 * RSS_FLOW_UDP4);
    assert_eq!(bytes(&udp, udp_src), Some(vec![10, 0, 0, 1]));
    // What the hash covers names the family and, with the ports, the transport.
    let ty = |f: &[u8], fields| flow_input(f, fields).map(|i| i.hash_type());
    let udp4 = HashType::L4 {
        v6: false,
        udp: true,
    };
    assert_eq!(ty(&udp, RSS_FIELDS_ALL), Some(udp4));
    assert_eq!(
        ty(&udp, udp_src),
        Some(HashType::L3 {
            v6: false,
            dynhdr: false
        })
    );
    assert!(ty(&tcp, RSS_FIELDS_ALL).is_some_and(HashType::is_l4));
    let mut frag = tcp.clone();
    frag[14 + 6] = 0x20; // more fragments
    assert_eq!(
        bytes(&frag, tcp_only_dst),
        Some(vec![10, 0, 0, 1, 10, 0, 0, 2])
    );
    let gre = frame(&a, &b, 1, 2, 47, false);
    assert_eq!(
        flow_input(&gre, RSS_FIELDS_ALL).map(|i| i.hash_type()),
        Some(HashType::L3 {
            v6: false,
            dynhdr: false
        })
    );
    assert_eq!(
        flow_input(&tcp[..14 + 20 + 2], RSS_FIELDS_ALL).map(|i| i.hash_type()),
        Some(HashType::L3 {
            v6: false,
            dynhdr: false
        })
    );
    assert_eq!(flow_input(&tcp[..14 + 19], RSS_FIELDS_ALL), None);
    let mut arp = tcp.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(flow_input(&arp, RSS_FIELDS_ALL), None);
    // IPv4 options: the ports follow the header's own length.
    let mut opts = frame(&a, &b, 0, 0, 6, false);
    opts[14] = 0x46;
    opts.splice(14 + 20..14 + 20, [1, 1, 1, 1]);
    opts[14 + 24..14 + 28].copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(bytes(&opts, tcp_only_dst), Some(vec![10, 0, 0, 2, 3, 4]));
    // ... and the header's length varies (XDP's L3_DYNHDR) for an L3 hash; an L4 one is of
    // the type it would be without them.
    let v4_opts = HashType::L3 {
        v6: false,
        dynhdr: true,
    };
    assert_eq!(ty(&opts, tcp_only_addrs), Some(v4_opts));
    assert!(ty(&opts, RSS_FIELDS_ALL).is_some_and(HashType::is_l4));
    // A fragment past the first: addresses only, whatever its protocol says.
    let mut later = tcp.clone();
    later[14 + 6..14 + 8].copy_from_slice(&[0x00, 0x10]);
    assert_eq!(
        bytes(&later, tcp_only_dst),
        Some(vec![10, 0, 0, 1, 10, 0, 0, 2])
    );
    // IPv6 with an extension header (hop-by-hop, 0): addresses only.
    let (s6, d6) = (
        [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0xfe; 16],
    );
    let hbh = frame(&s6, &d6, 1, 2, 0, false);
    assert_eq!(
        flow_input(&hbh, RSS_FIELDS_ALL).map(|i| i.bytes().len()),
        Some(32)
    );
    let v6_ext = HashType::L3 {
        v6: true,
        dynhdr: true,
    };
    // Hop-by-hop, routing, fragment, authentication and destination options headers.
    for next in [0, 43, 44, 51, 60] {
        let ext = frame(&s6, &d6, 1, 2, next, false);
        assert_eq!(ty(&ext, RSS_FIELDS_ALL), Some(v6_ext), "next header {next}");
    }
    // "No next header" (59) has no length, and ESP (50) is the payload, not an extension
    // header: the IP header is the fixed one.
    let v6_fixed = HashType::L3 {
        v6: true,
        dynhdr: false,
    };
    for next in [59, 50] {
        let fixed = frame(&s6, &d6, 1, 2, next, false);
        assert_eq!(
            ty(&fixed, RSS_FIELDS_ALL),
            Some(v6_fixed),
            "next header {next}"
        );
    }
    let mut bad_ihl = tcp.clone();
    bad_ihl[14] = 0x44;
    assert_eq!(flow_input(&bad_ihl, RSS_FIELDS_ALL), None);
    assert_eq!(flow_input(&[], RSS_FIELDS_ALL), None);
}

/// The sender steers by what the receiver published: every flow goes to the ring the
/// receiver's table gives its hash, and follows the table when it changes.
#[test]
fn sender_follows_the_receivers_table() {
    let w = World::new(4, 64, 2048, Mode::Pair);
    let link = Link::new(&w);
    let (tx, rx) = (&link.ends[0], &link.ends[1]);
    let f = frame(&[10, 0, 0, 1], &[10, 0, 0, 2], 4000, 80, 6, false);
    // Nothing published yet: the sender's own choice stands.
    assert_eq!(tx.tx_ring(&f), None);
    let mut cfg = RssConfig::new(KEY, 4);
    rx.set_rss(&cfg);
    let (hash, _) = cfg.hash(&f).expect("an IP frame");
    assert_eq!(tx.tx_ring(&f), Some(u16::from(cfg.queue(hash))));
    let tcp4 = HashType::L4 {
        v6: false,
        udp: false,
    };
    assert_eq!(rx.rx_hash(&f), Some((hash, tcp4)));
    for q in 0..4u8 {
        cfg.indir = [q; RSS_INDIR_SIZE];
        rx.set_rss(&cfg);
        assert_eq!(tx.tx_ring(&f), Some(u16::from(q)));
    }
    assert_eq!(rx.rss(), cfg);
    // Each end hashes what it receives with its own configuration: the sender's is still the
    // zero one (no field hashed).
    assert_eq!(tx.rx_hash(&f), None);
    // What cannot be hashed goes where hash 0 goes.
    let mut arp = f.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    cfg.indir = [1; RSS_INDIR_SIZE];
    cfg.indir[0] = 3;
    rx.set_rss(&cfg);
    assert_eq!(tx.tx_ring(&arp), Some(3));
    // A new key: the receiver's hash follows it at once (its table is rebuilt), the sender
    // from the next clock tick (a new key costs it a table).
    let old = cfg;
    cfg = RssConfig::new(KEY.map(|b| b.rotate_left(3)), 4);
    cfg.indir
        .iter_mut()
        .enumerate()
        .for_each(|(i, q)| *q = 3 - old.indir[i]);
    rx.set_rss(&cfg);
    let (rehash, _) = cfg.hash(&f).expect("an IP frame");
    assert_ne!(rehash, hash);
    assert_eq!(rx.rx_hash(&f), Some((rehash, tcp4)));
    assert_eq!(tx.tx_ring(&f), Some(u16::from(old.queue(hash))));
    w.clock.0.set(w.clock.0.get() + 1);
    assert_eq!(tx.tx_ring(&f), Some(u16::from(cfg.queue(rehash))));
}

/// A peer that publishes a new key with every packet we send makes us build its key's table
/// at most once a clock tick: until the next tick, the last block taken stays in use. A block
/// that changes only the indirection table is taken at once.
#[test]
fn a_new_key_is_taken_once_a_tick() {
    let w = World::new(4, 64, 2048, Mode::Pair);
    let link = Link::new(&w);
    let (tx, rx) = (&link.ends[0], &link.ends[1]);
    let f = frame(&[10, 0, 0, 1], &[10, 0, 0, 2], 4000, 80, 6, false);
    let by = |c: &RssConfig| Some(u16::from(c.queue(c.hash(&f).expect("an IP frame").0)));
    let mut cfg = RssConfig::new(KEY, 4);
    rx.set_rss(&cfg);
    // The first block is taken at once.
    assert_eq!(tx.tx_ring(&f), by(&cfg));
    let mut taken = cfg;
    let mut differed = 0;
    let mut keys_taken = 1;
    for i in 1..=64u8 {
        cfg.key = KEY.map(|b| b ^ i);
        rx.set_rss(&cfg);
        let ring = tx.tx_ring(&f);
        differed += usize::from(by(&cfg) != by(&taken));
        if i % 16 == 0 {
            w.clock.0.set(w.clock.0.get() + 1);
            assert_eq!(tx.tx_ring(&f), by(&cfg), "a tick later, the newest key");
            taken = cfg;
            keys_taken += 1;
        } else {
            assert_eq!(ring, by(&taken), "within the tick, the key last taken");
        }
    }
    assert_eq!(keys_taken, 5);
    // The keys spread the flow: the test tells the key last taken from the newest.
    assert!(differed > 16, "{differed}");
    // The indirection table alone: at once, within the same tick.
    for q in 0..4u8 {
        cfg.indir = [q; RSS_INDIR_SIZE];
        rx.set_rss(&cfg);
        assert_eq!(tx.tx_ring(&f), Some(u16::from(q)));
    }
}

/// A peer's block is advice: a ring past our queues is reduced modulo their count; a block
/// forever being written, or never published, leaves the choice to the sender.
#[test]
fn a_hostile_block_only_steers() {
    let w = World::new(2, 64, 2048, Mode::Pair);
    let link = Link::new(&w);
    let (tx, rx) = (&link.ends[0], &link.ends[1]);
    let f = frame(&[10, 0, 0, 1], &[10, 0, 0, 2], 4000, 80, 6, false);
    let mut cfg = RssConfig::new(KEY, 2);
    cfg.indir = [255; RSS_INDIR_SIZE];
    rx.set_rss(&cfg);
    assert_eq!(tx.tx_ring(&f), Some(255 % 2));
    let block = w.layout.half_size() + RSS_OFF as u32;
    let seq = w.mem.peek(block);
    // A block being written (odd), or withdrawn (0): the last consistent one stays in use, so
    // that no flow moves to another ring meanwhile.
    cfg.indir = [0; RSS_INDIR_SIZE];
    w.mem.poke(block, seq | 1);
    for (i, c) in (0u32..).zip(cfg.indir.chunks_exact(4)) {
        w.mem.poke(
            block + 48 + 4 * i,
            u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
        );
    }
    assert_eq!(tx.tx_ring(&f), Some(255 % 2));
    w.mem.poke(block, 0);
    assert_eq!(tx.tx_ring(&f), Some(255 % 2));
    // Published again (even): taken.
    w.mem.poke(block, seq.wrapping_add(2));
    assert_eq!(tx.tx_ring(&f), Some(0));
    // A sender that never read a consistent block leaves the choice to the stack.
    let (fresh, t) = (PeerRss::new(), empty_table());
    w.mem.poke(block, 7);
    assert_eq!(fresh.pick(&w.mem, block, &f, 2, &t, 0), None);
    // Out of the window: nothing read.
    assert_eq!(
        PeerRss::new().pick(&w.mem, u32::MAX - 8, &f, 2, &t, 0),
        None
    );
    assert!(w.mem.size() > u64::from(block));
}

/// The default table spreads the buckets over the queues in turn, as the kernel's does.
#[rstest]
#[case(1)]
#[case(3)]
#[case(16)]
fn default_table_spreads(#[case] queues: u8) {
    let cfg = RssConfig::new(KEY, queues);
    for (i, &q) in cfg.indir.iter().enumerate() {
        assert_eq!(usize::from(q), i % usize::from(queues));
    }
}

/// The hash of an input is linear in it (Toeplitz is XOR over the input's bits): a property
/// the verification vectors would not catch if a bit were taken from the wrong key byte.
#[test]
fn toeplitz_is_linear() {
    let a = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4];
    let b = [0xa5, 0x5a, 0, 0xff, 0x0f, 0xf0, 0x33, 0xcc, 9, 8, 7, 6];
    let x: Vec<u8> = a.iter().zip(&b).map(|(p, q)| p ^ q).collect();
    assert_eq!(
        toeplitz::hash(&KEY, &x),
        toeplitz::hash(&KEY, &a) ^ toeplitz::hash(&KEY, &b)
    );
    assert_eq!(toeplitz::hash(&KEY, &[0; 36]), 0);
}

proptest::proptest! {
    /// Whatever a peer writes in its block, and whatever a frame holds, the sender's choice
    /// is one of its rings (or its own), and parsing and hashing never go past the frame.
    #[test]
    fn any_block_and_frame_steer_within_the_rings(
        words in proptest::collection::vec(proptest::prelude::any::<u32>(), RSS_WORDS),
        frame in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
        ip in proptest::prelude::any::<bool>(),
        rings in 1u16..=16,
    ) {
        let w = World::new(2, 64, 2048, Mode::Pair);
        let block = w.layout.half_size() + RSS_OFF as u32;
        for (i, v) in (0u32..).zip(&words) {
            w.mem.poke(block + 4 * i, *v);
        }
        let mut frame = frame;
        if ip && frame.len() > 14 {
            // IPv4 or IPv6 with its version, so that the parser goes past the IP header.
            let v6 = frame[13] & 1 == 1;
            frame[12..14].copy_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
            frame[14] = (frame[14] & 0x0f) | if v6 { 0x60 } else { 0x40 };
        }
        if let Some(r) = PeerRss::new().pick(&w.mem, block, &frame, rings, &empty_table(), 0) {
            proptest::prop_assert!(r < rings);
        }
        // The datapath's hash, each field where it lies, is the hash of the input's bytes.
        let mut key = [0; RSS_KEY_SIZE];
        for (k, w) in key.chunks_exact_mut(4).zip(&words[2..]) {
            k.copy_from_slice(&w.to_le_bytes());
        }
        let input = flow_input(&frame, words[1]);
        proptest::prop_assert_eq!(
            flow_hash(&frame, words[1], &table(&key)),
            input.map(|i| (toeplitz::hash(&key, i.bytes()), i.hash_type()))
        );
    }
}

/// The Toeplitz hash as the RSS specification words it, one input bit at a time.
fn toeplitz_by_bits(key: &[u8; RSS_KEY_SIZE], input: &[u8]) -> u32 {
    let bit = |k: usize| {
        key.get(k / 8)
            .map_or(0, |b| u32::from(b >> (7 - k % 8) & 1))
    };
    let mut hash = 0;
    for k in 0..8 * input.len() {
        if input[k / 8] >> (7 - k % 8) & 1 != 0 {
            hash ^= (0..32).fold(0, |w, j| w << 1 | bit(k + j));
        }
    }
    hash
}

proptest::proptest! {
    /// Both ways of hashing the datapath has, bit by bit ([`toeplitz::hash`], the reference)
    /// and by the key's table (what both ends run), hash as the specification's bit-by-bit
    /// words, for any key and any input up to the longest flow (IPv6 addresses and ports).
    #[test]
    fn toeplitz_is_the_specifications(
        key in proptest::array::uniform32(proptest::num::u8::ANY),
        tail in proptest::array::uniform8(proptest::num::u8::ANY),
        input in proptest::collection::vec(proptest::num::u8::ANY, 0..=INPUT_MAX),
    ) {
        let mut k = [0; RSS_KEY_SIZE];
        k[..32].copy_from_slice(&key);
        k[32..].copy_from_slice(&tail);
        let spec = toeplitz_by_bits(&k, &input);
        proptest::prop_assert_eq!(toeplitz::hash(&k, &input), spec);
        proptest::prop_assert_eq!(hash_by_table(&table(&k), &input), spec);
    }
}
