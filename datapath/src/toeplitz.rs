// SPDX-License-Identifier: GPL-2.0

//! The Toeplitz hash RSS defines: bit by bit ([`hash`]), and by a table built from the key
//! ([`fill_table`], [`hash_by_table`]).
//!
//! A NIC computes the hash in hardware for every packet it receives. On xpu it is software,
//! twice per packet: the sender hashes with the receiver's key to pick the ring (when the link
//! has more than one queue), the receiver with its own for `skb->hash`. Bit by bit, an IPv4
//! flow's 12 bytes take 96 steps of a shift, a test and an exclusive or (`make bench-cost`'s
//! profile put the receive hash alone at 6.7% of a pair's request/response). The hash is
//! linear in its input, so the contribution of each nibble of it can be computed once per
//! key: a packet then costs a load and an exclusive or per nibble. Each end keeps two tables,
//! its own key's (rebuilt when `ethtool -X` sets one) and the peer's (rebuilt when the peer
//! publishes a new key, at most once a clock tick: `rss::PeerRss`); at 4.5 KiB each they are
//! too large for the stack, so their storage is the caller's. [`hash`] is the reference.

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use super::shm::RSS_KEY_SIZE;

/// The longest input hashed: IPv6 addresses and ports.
pub const INPUT_MAX: usize = 36;

/// Words of a table: for each nibble of the longest input, the hash of each of its 16 values.
pub const TABLE_WORDS: usize = INPUT_MAX * 2 * 16;

/// The Toeplitz hash of `input` under `key`, as RSS defines it (the key's bits slide over the
/// input's, most significant first). `input` is at most `RSS_KEY_SIZE - 4` bytes.
pub fn hash(key: &[u8; RSS_KEY_SIZE], input: &[u8]) -> u32 {
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    let mut hash = 0;
    for (i, &byte) in input.iter().enumerate() {
        let next = key.get(i + 4).copied().unwrap_or(0);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window = window << 1 | u32::from(next >> (7 - bit) & 1);
        }
    }
    hash
}

/// The 32 bits of `key` from its bit `bit` on (most significant first): what an input bit
/// at `bit` contributes. Past the key's end, zeros.
fn window(key: &[u8; RSS_KEY_SIZE], bit: usize) -> u32 {
    let byte = |i: usize| u64::from(key.get(bit / 8 + i).copied().unwrap_or(0));
    let bits = (0..5).fold(0, |w, i| w << 8 | byte(i));
    // CAST: the 32 bits wanted, of the 40 read.
    (bits >> (8 - bit % 8)) as u32
}

/// Writes `key`'s table to `table` (at least [`TABLE_WORDS`] words; the rest untouched): word
/// `16 * n + v` is the hash of nibble `n` of an input (most significant first) being `v`, the
/// rest zero. One writer; a hash read meanwhile may mix the old key's words and the new.
pub fn fill_table(key: &[u8; RSS_KEY_SIZE], table: &[AtomicU32]) {
    for (n, nibble) in table.chunks_exact(16).take(2 * INPUT_MAX).enumerate() {
        let windows: [u32; 4] = core::array::from_fn(|b| window(key, 4 * n + b));
        for (v, word) in nibble.iter().enumerate() {
            let h = (0..4)
                .filter(|b| v & (8 >> b) != 0)
                .fold(0, |h, b| h ^ windows[b]);
            word.store(h, Relaxed);
        }
    }
}

/// The Toeplitz hash of `input` by the table [`fill_table`] wrote: [`hash`] under its key.
/// Bytes past [`INPUT_MAX`], or past a shorter table, are not hashed.
pub fn hash_by_table(table: &[AtomicU32], input: &[u8]) -> u32 {
    hash_by_table_at(table, 0, input)
}

/// What `bytes` contribute to the hash of an input they are part of, from its byte `at` on
/// (the hash of an input is the exclusive or of its parts'), by the table [`fill_table`]
/// wrote. Bytes past [`INPUT_MAX`], or past a shorter table, are not hashed.
pub fn hash_by_table_at(table: &[AtomicU32], at: usize, bytes: &[u8]) -> u32 {
    // A row of 32 words per input byte: its high nibble's 16, then its low nibble's.
    let rows = table.chunks_exact(32).skip(at);
    bytes.iter().zip(rows).fold(0, |h, (&byte, row)| {
        let word = |i: usize| row.get(i).map_or(0, |w| w.load(Relaxed));
        h ^ word(usize::from(byte >> 4)) ^ word(16 + usize::from(byte & 0xf))
    })
}
