//! A deflate compressor (RFC 1951) whose memory scales with its window:
//! the window itself twice over (it slides by half), a chain link per
//! window position and a hash table, all `u16` positions. At 12 bits and
//! memory level 5 that is 24 KiB; zlib-rs takes 158 KiB for the same.
//!
//! Matching follows zlib's scheme (hash chains, a chain length, "good",
//! "lazy" and "nice" lengths per level, lazy evaluation from level 4 up), so
//! sizes track zlib's at the same level and window. Two departures, both for
//! speed: positions are hashed on four bytes, not three (shorter chains; a
//! three-byte match is found only inside a longer one), and inside a match
//! longer than [`LONG_MATCH`] only its ends are hashed. Every call ends with
//! a sync flush, so each message (or fragment) is complete on the wire; the
//! history stays for the next one unless the owner resets it.

use super::blocks::{match_symbol, BitWriter, BlockCoder};

const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// A three-byte match further back than this costs more than its literals.
const TOO_FAR: usize = 4096;
/// Matches longer than this hash only their first and last positions.
const LONG_MATCH: usize = 64;

/// Matching effort per level: (good, lazy, nice, chain, lazy evaluation).
/// `lazy` is the longest match worth trying to beat at the next byte (or,
/// without lazy evaluation, the longest whose positions are all hashed).
const LEVELS: [(usize, usize, usize, usize, bool); 10] = [
    (0, 0, 0, 0, false),
    (4, 4, 8, 4, false),
    (4, 5, 16, 8, false),
    (4, 6, 32, 32, false),
    (4, 4, 16, 16, true),
    (8, 16, 32, 32, true),
    (8, 16, 128, 128, true),
    (8, 32, 128, 256, true),
    (32, 128, 258, 1024, true),
    (32, 258, 258, 4096, true),
];

/// The compressor's state between messages.
pub(crate) struct Deflater {
    window_bits: u8,
    hash_bits: u32,
    level: usize,
    /// Up to two windows of input; the older half goes when it fills.
    window: Vec<u8>,
    /// Most recent position of each hash (0: none).
    head: Vec<u16>,
    /// Previous position with the same hash, per position modulo the window.
    prev: Vec<u16>,
    /// Next position to look at.
    pos: usize,
    /// Lazy evaluation: a match found at `pos - 1`, and whether the byte at
    /// `pos - 1` still waits to be sent.
    prev_len: usize,
    prev_dist: usize,
    pending: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("window_bits", &self.window_bits)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// Hash-table bits for a memory level and window (zlib's `mem_level + 7`,
/// never above the window's bits).
pub(crate) fn hash_bits(window_bits: u8, mem_level: u8) -> u32 {
    (u32::from(mem_level.clamp(1, 9)) + 7).min(u32::from(window_bits.clamp(9, 15)))
}

/// Bytes a deflater holds once used: `2 * 2^window_bits` of window,
/// `2 * 2^window_bits` of chain links and `2 * 2^hash_bits` of hash table.
pub(crate) fn deflater_memory(window_bits: u8, mem_level: u8) -> usize {
    let w = 1usize << window_bits.clamp(9, 15);
    4 * w + (2usize << hash_bits(window_bits, mem_level))
}

impl Deflater {
    pub(crate) fn new(level: u32, window_bits: u8, mem_level: u8) -> Self {
        let window_bits = window_bits.clamp(9, 15);
        Deflater {
            window_bits,
            hash_bits: hash_bits(window_bits, mem_level),
            level: level.min(9) as usize,
            window: Vec::new(),
            head: Vec::new(),
            prev: Vec::new(),
            pos: 0,
            prev_len: MIN_MATCH - 1,
            prev_dist: 0,
            pending: false,
        }
    }

    fn wsize(&self) -> usize {
        1 << self.window_bits
    }

    /// Forgets the history; keeps the buffers.
    pub(crate) fn reset(&mut self) {
        self.window.clear();
        self.head.fill(0);
        self.prev.fill(0);
        self.pos = 0;
        self.prev_len = MIN_MATCH - 1;
        self.pending = false;
    }

    /// Appends `input` compressed to `out`, ending with a sync flush (the
    /// `00 00 ff ff` included). `symbols` and `coder` are scratch.
    pub(crate) fn compress(&mut self, input: &[u8], out: &mut Vec<u8>, symbols: &mut Vec<u32>, coder: &mut BlockCoder) {
        let mut w = BitWriter::new(out);
        self.allocate();
        symbols.clear();
        let block = 1usize << 14;
        let mut consumed = 0;
        loop {
            consumed += self.take_in(&input[consumed..]);
            let last = consumed == input.len();
            // Keep a longest match's worth ahead unless this is all.
            let end = if last {
                self.window.len()
            } else {
                self.window.len() - MAX_MATCH
            };
            while self.pos < end {
                let stop = end.min(self.pos + 4096);
                if LEVELS[self.level].4 {
                    self.run_lazy(stop, symbols);
                } else {
                    self.run_greedy(stop, symbols);
                }
                if symbols.len() >= block {
                    coder.write(symbols, &mut w);
                    symbols.clear();
                }
            }
            if last {
                break;
            }
        }
        if self.pending {
            symbols.push(u32::from(self.window[self.pos - 1]));
            self.pending = false;
        }
        self.prev_len = MIN_MATCH - 1;
        if !symbols.is_empty() {
            coder.write(symbols, &mut w);
            symbols.clear();
        }
        w.sync_flush();
    }

    /// Takes `input` into the history as if it had been compressed and
    /// sent: it was, by another compressor, and the peer's inflater holds
    /// it now. Hashes its positions so later messages can refer to it.
    pub(crate) fn absorb(&mut self, input: &[u8]) {
        self.allocate();
        debug_assert!(!self.pending, "absorb between messages only");
        let mut consumed = 0;
        while consumed < input.len() {
            consumed += self.take_in(&input[consumed..]);
            for p in self.pos..self.window.len() {
                self.insert(p);
            }
            self.pos = self.window.len();
        }
    }

    /// The window and tables, made at first use (a connection that never
    /// compresses holds none).
    fn allocate(&mut self) {
        if self.head.is_empty() {
            self.window.reserve_exact(2 * self.wsize());
            self.head = vec![0; 1 << self.hash_bits];
            self.prev = vec![0; self.wsize()];
        }
    }

    /// Appends as much of `input` as the window holds, sliding it first if
    /// it is full and input is left; returns how much it took.
    fn take_in(&mut self, input: &[u8]) -> usize {
        if self.window.len() == 2 * self.wsize() && !input.is_empty() {
            self.slide();
        }
        let take = (2 * self.wsize() - self.window.len()).min(input.len());
        self.window.extend_from_slice(&input[..take]);
        take
    }

    /// Drops the older window: positions move down by `wsize`.
    fn slide(&mut self) {
        let wsize = self.wsize();
        self.window.copy_within(wsize.., 0);
        self.window.truncate(wsize);
        self.pos -= wsize;
        // In u16 (wsize is at most 2^15) so that it vectorises.
        let by = wsize as u16;
        let down = |v: &mut u16| *v = v.saturating_sub(by);
        self.head.iter_mut().for_each(down);
        self.prev.iter_mut().for_each(down);
    }

    /// Hashes position `p` in and returns the previous one with its hash.
    #[inline(always)]
    fn insert(&mut self, p: usize) -> usize {
        let Some(b) = self.window.get(p..p + 4) else { return 0 };
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let h = (v.wrapping_mul(0x9E37_79B1) >> (32 - self.hash_bits)) as usize;
        let before = self.head[h];
        let mask = self.prev.len() - 1;
        self.prev[p & mask] = before;
        self.head[h] = p as u16;
        usize::from(before)
    }

    /// The longest match at `pos` longer than `best`, walking the chain
    /// from `candidate`: (length, distance), or length 0 for none.
    fn longest_match(&self, pos: usize, mut candidate: usize, mut best: usize) -> (usize, usize) {
        let (good, _, nice, chain, _) = LEVELS[self.level];
        let w = &self.window[..];
        let avail = (w.len() - pos).min(MAX_MATCH);
        if avail < MIN_MATCH || best >= avail {
            return (0, 0);
        }
        let mut chain = if best >= good { chain >> 2 } else { chain };
        let nice = nice.min(avail);
        let limit = pos.saturating_sub(self.wsize());
        let mask = self.wsize() - 1;
        let mut found = (0, 0);
        let cur = &w[pos..pos + avail];
        let first = [cur[0], cur[1]];
        let mut scan_end = cur[best];
        let prev = &self.prev[..];
        while candidate > limit && candidate < pos {
            let c = candidate;
            let cand = &w[c..c + avail];
            // The byte that would make this match the longest yet, then the
            // first two: most candidates fail at one of them.
            if cand[best] == scan_end && cand[..2] == first {
                let len = common_prefix(cand, cur);
                if len > best {
                    best = len;
                    found = (len, pos - c);
                    if len >= nice {
                        break;
                    }
                    scan_end = cur[best];
                }
            }
            chain -= 1;
            if chain == 0 {
                break;
            }
            candidate = usize::from(prev[c & mask]);
        }
        found
    }

    /// zlib's `deflate_fast`: take the first match found.
    fn run_greedy(&mut self, end: usize, symbols: &mut Vec<u32>) {
        let max_insert = LEVELS[self.level].1;
        while self.pos < end {
            let pos = self.pos;
            let candidate = self.insert(pos);
            let (len, dist) = if candidate > 0 && self.level > 0 {
                self.longest_match(pos, candidate, MIN_MATCH - 1)
            } else {
                (0, 0)
            };
            if len >= MIN_MATCH && !(len == MIN_MATCH && dist > TOO_FAR) {
                symbols.push(match_symbol(len, dist));
                if len <= max_insert {
                    for p in pos + 1..pos + len {
                        self.insert(p);
                    }
                }
                self.pos += len;
            } else {
                symbols.push(u32::from(self.window[pos]));
                self.pos += 1;
            }
        }
    }

    /// zlib's `deflate_slow`: a match is sent only if the next byte does not
    /// start a longer one.
    fn run_lazy(&mut self, end: usize, symbols: &mut Vec<u32>) {
        let lazy = LEVELS[self.level].1;
        while self.pos < end {
            let pos = self.pos;
            let candidate = self.insert(pos);
            let (mut len, mut dist) = (MIN_MATCH - 1, 0);
            if candidate > 0 && self.prev_len < lazy {
                let (l, d) = self.longest_match(pos, candidate, self.prev_len);
                if l >= MIN_MATCH && !(l == MIN_MATCH && d > TOO_FAR) {
                    (len, dist) = (l, d);
                }
            }
            if self.prev_len >= MIN_MATCH && len <= self.prev_len {
                // The match at pos - 1 wins; hash the positions it covers.
                let start = pos - 1;
                symbols.push(match_symbol(self.prev_len, self.prev_dist));
                let end = start + self.prev_len;
                if self.prev_len <= LONG_MATCH {
                    for p in pos + 1..end {
                        self.insert(p);
                    }
                } else {
                    // Inside a long match every position repeats one
                    // already hashed `prev_dist` back: hash only its ends.
                    for p in (pos + 1..pos + 1 + LONG_MATCH / 2).chain(end - LONG_MATCH / 2..end) {
                        self.insert(p);
                    }
                }
                self.pos = start + self.prev_len;
                self.pending = false;
                self.prev_len = MIN_MATCH - 1;
            } else {
                if self.pending {
                    symbols.push(u32::from(self.window[pos - 1]));
                }
                self.pending = true;
                self.prev_len = len;
                self.prev_dist = dist;
                self.pos += 1;
            }
        }
    }
}

/// How many leading bytes `a` and `b` (of equal length) share.
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        let y = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let diff = x ^ y;
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests;
