//! Writing deflate blocks (RFC 1951 §3.2.5–3.2.7): literals and matches
//! coded with the block's own Huffman codes or the fixed ones, whichever is
//! smaller.

use super::huffman::{codes_for, lengths_for, Scratch, MAX_BITS};
use super::tables::{CLEN_ORDER, DIST_BASE, DIST_EXTRA, LEN_BASE, LEN_EXTRA};

/// A match in the symbol buffer: this bit, the length less 3 above bit 15,
/// the distance less 1 below.
pub(crate) const MATCH: u32 = 1 << 31;

/// The symbol for a match of `len` (3–258) at `dist` (1–32768).
#[inline]
pub(crate) fn match_symbol(len: usize, dist: usize) -> u32 {
    MATCH | ((len as u32 - 3) << 15) | (dist as u32 - 1)
}

/// The length and distance of a [`match_symbol`].
#[inline]
fn unpack_match(s: u32) -> (usize, usize) {
    (((s >> 15) & 0xff) as usize + 3, (s & 0x7fff) as usize + 1)
}

/// Bits written least-significant first onto a byte vector.
pub(crate) struct BitWriter<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    buf: u64,
    count: u32,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, buf: 0, count: 0 }
    }

    /// Writes the low `n` (at most 32) bits of `bits`.
    #[inline]
    pub(crate) fn put(&mut self, bits: u32, n: u32) {
        self.buf |= u64::from(bits) << self.count;
        self.count += n;
        if self.count >= 32 {
            self.out.extend_from_slice(&(self.buf as u32).to_le_bytes());
            self.buf >>= 32;
            self.count -= 32;
        }
    }

    /// Pads to a byte boundary with zero bits and writes out what is left.
    pub(crate) fn align(&mut self) {
        while self.count > 0 {
            self.out.push(self.buf as u8);
            self.buf >>= 8;
            self.count = self.count.saturating_sub(8);
        }
        self.buf = 0;
    }

    /// An empty stored block, not final: the sync flush `00 00 ff ff`
    /// after a 3-bit header and padding.
    pub(crate) fn sync_flush(&mut self) {
        self.put(0, 3);
        self.align();
        self.out.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    }
}

/// The length symbol's index (0–28) for a match length.
#[inline]
fn len_code(len: usize) -> usize {
    usize::from(LEN_CODE[len - 3])
}

/// [`len_code`] for lengths 3–258, built at compile time.
const LEN_CODE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut code = 0;
    while code < 28 {
        let mut l = LEN_BASE[code] as usize;
        let end = if code == 27 { 258 } else { LEN_BASE[code + 1] as usize };
        while l < end {
            t[l - 3] = code as u8;
            l += 1;
        }
        code += 1;
    }
    // 258 has its own code, not the end of 227's extra-bit range.
    t[255] = 28;
    t
};

/// The distance symbol (0–29) for a distance.
#[inline]
fn dist_code(dist: usize) -> usize {
    let d = dist - 1;
    if d < 4 {
        d
    } else {
        // Two codes per power of two: the top two bits pick them.
        let bits = usize::BITS - 1 - d.leading_zeros();
        (bits as usize) * 2 + ((d >> (bits - 1)) & 1)
    }
}

/// Scratch for one block's codes.
pub(crate) struct BlockCoder {
    lit_freq: [u32; 286],
    dist_freq: [u32; 30],
    lit_len: [u8; 288],
    dist_len: [u8; 30],
    lit_code: [u16; 288],
    dist_code: [u16; 30],
    scratch: Box<Scratch>,
}

impl BlockCoder {
    pub(crate) fn new() -> Self {
        BlockCoder {
            lit_freq: [0; 286],
            dist_freq: [0; 30],
            lit_len: [0; 288],
            dist_len: [0; 30],
            lit_code: [0; 288],
            dist_code: [0; 30],
            scratch: Scratch::new(),
        }
    }

    /// Writes `symbols` as one block (not final), with dynamic or fixed
    /// codes, whichever is shorter.
    pub(crate) fn write(&mut self, symbols: &[u32], w: &mut BitWriter<'_>) {
        self.lit_freq = [0; 286];
        self.dist_freq = [0; 30];
        for &s in symbols {
            if s & MATCH == 0 {
                self.lit_freq[s as usize] += 1;
            } else {
                let (len, dist) = unpack_match(s);
                self.lit_freq[257 + len_code(len)] += 1;
                self.dist_freq[dist_code(dist)] += 1;
            }
        }
        self.lit_freq[256] = 1;
        // Extra bits cost the same under either code.
        let extra: u64 = (0..29)
            .map(|i| u64::from(self.lit_freq[257 + i]) * u64::from(LEN_EXTRA[i]))
            .chain((0..30).map(|i| u64::from(self.dist_freq[i]) * u64::from(DIST_EXTRA[i])))
            .sum();
        let fixed_bits = 3 + extra + self.coded_bits(&fixed_code().lit_len[..286], &[5; 30]);

        lengths_for(&self.lit_freq, MAX_BITS, &mut self.lit_len[..286], &mut self.scratch);
        self.lit_len[286..].fill(0);
        lengths_for(&self.dist_freq, MAX_BITS, &mut self.dist_len, &mut self.scratch);
        // At least two codes each, so every code is complete (some
        // inflaters refuse an incomplete one).
        complete(&mut self.lit_len[..286]);
        complete(&mut self.dist_len);
        let header = DynamicHeader::new(&self.lit_len[..286], &self.dist_len, &mut self.scratch);
        let dynamic_bits = 3 + extra + header.bits() + self.coded_bits(&self.lit_len[..286], &self.dist_len);

        if dynamic_bits < fixed_bits {
            w.put(0b100, 3);
            header.write(w);
            codes_for(&self.lit_len, &mut self.lit_code);
            codes_for(&self.dist_len, &mut self.dist_code);
            let code = Code {
                lit_len: &self.lit_len,
                lit_code: &self.lit_code,
                dist_len: &self.dist_len,
                dist_code: &self.dist_code,
            };
            code.write_symbols(symbols, w);
        } else {
            w.put(0b010, 3);
            fixed_code().as_code().write_symbols(symbols, w);
        }
    }

    fn coded_bits(&self, lit_len: &[u8], dist_len: &[u8]) -> u64 {
        let weighted = |freq: &[u32], len: &[u8]| -> u64 {
            freq.iter().zip(len).map(|(&f, &l)| u64::from(f) * u64::from(l)).sum()
        };
        weighted(&self.lit_freq, lit_len) + weighted(&self.dist_freq, dist_len)
    }
}

/// A block's codes, borrowed: lengths and bit-reversed codes.
struct Code<'a> {
    lit_len: &'a [u8; 288],
    lit_code: &'a [u16; 288],
    dist_len: &'a [u8; 30],
    dist_code: &'a [u16; 30],
}

impl Code<'_> {
    fn write_symbols(&self, symbols: &[u32], w: &mut BitWriter<'_>) {
        for &s in symbols {
            if s & MATCH == 0 {
                let s = s as usize;
                w.put(u32::from(self.lit_code[s]), u32::from(self.lit_len[s]));
                continue;
            }
            let (len, dist) = unpack_match(s);
            let lc = len_code(len);
            w.put(u32::from(self.lit_code[257 + lc]), u32::from(self.lit_len[257 + lc]));
            let e = u32::from(LEN_EXTRA[lc]);
            if e > 0 {
                w.put((len - usize::from(LEN_BASE[lc])) as u32, e);
            }
            let dc = dist_code(dist);
            w.put(u32::from(self.dist_code[dc]), u32::from(self.dist_len[dc]));
            let e = u32::from(DIST_EXTRA[dc]);
            if e > 0 {
                w.put((dist - usize::from(DIST_BASE[dc])) as u32, e);
            }
        }
        w.put(u32::from(self.lit_code[256]), u32::from(self.lit_len[256]));
    }
}

/// The fixed codes (RFC 1951 §3.2.6), built once.
struct FixedCode {
    lit_len: [u8; 288],
    lit_code: [u16; 288],
    dist_len: [u8; 30],
    dist_code: [u16; 30],
}

impl FixedCode {
    fn as_code(&self) -> Code<'_> {
        Code {
            lit_len: &self.lit_len,
            lit_code: &self.lit_code,
            dist_len: &self.dist_len,
            dist_code: &self.dist_code,
        }
    }
}

fn fixed_code() -> &'static FixedCode {
    static FIXED: std::sync::OnceLock<FixedCode> = std::sync::OnceLock::new();
    FIXED.get_or_init(|| {
        let mut lit_len = [8u8; 288];
        lit_len[144..256].fill(9);
        lit_len[256..280].fill(7);
        let mut lit_code = [0u16; 288];
        // All 288 lengths: the two unused 8-bit codes shift the 9-bit ones.
        codes_for(&lit_len, &mut lit_code);
        // 32 five-bit codes; 30 and 31 are never sent.
        let mut dist_code32 = [0u16; 32];
        codes_for(&[5u8; 32], &mut dist_code32);
        let mut dist_code = [0u16; 30];
        dist_code.copy_from_slice(&dist_code32[..30]);
        FixedCode {
            lit_len,
            lit_code,
            dist_len: [5; 30],
            dist_code,
        }
    })
}

/// Gives a code with fewer than two used symbols a second one of length 1
/// (a one-code set is valid deflate, but not every inflater takes it).
fn complete(lengths: &mut [u8]) {
    let mut used = lengths.iter().enumerate().filter(|(_, &l)| l > 0).map(|(i, _)| i);
    match (used.next(), used.next()) {
        (Some(_), Some(_)) => {}
        (Some(u), None) => {
            lengths[u] = 1;
            lengths[usize::from(u == 0)] = 1;
        }
        _ => {
            lengths[0] = 1;
            lengths[1] = 1;
        }
    }
}

/// A dynamic block's header: the code lengths, run-length coded.
struct DynamicHeader {
    hlit: usize,
    hdist: usize,
    hclen: usize,
    /// Code-length symbols (0–18) with their extra bits' value.
    runs: [(u8, u8); 286 + 30],
    nruns: usize,
    clen_len: [u8; 19],
    clen_code: [u16; 19],
}

impl DynamicHeader {
    fn new(lit_len: &[u8], dist_len: &[u8], scratch: &mut Scratch) -> Self {
        let hlit = (257..=286).rev().find(|&n| lit_len[n - 1] > 0).unwrap_or(257);
        let hdist = (1..=30).rev().find(|&n| dist_len[n - 1] > 0).unwrap_or(1);
        let mut all = [0u8; 286 + 30];
        all[..hlit].copy_from_slice(&lit_len[..hlit]);
        all[hlit..hlit + hdist].copy_from_slice(&dist_len[..hdist]);
        let all = &all[..hlit + hdist];
        let mut runs = [(0u8, 0u8); 286 + 30];
        let mut nruns = 0;
        let mut push = |run: (u8, u8)| {
            runs[nruns] = run;
            nruns += 1;
        };
        let mut i = 0;
        while i < all.len() {
            let v = all[i];
            let mut n = 1;
            while i + n < all.len() && all[i + n] == v {
                n += 1;
            }
            let mut left = n;
            if v == 0 {
                while left >= 11 {
                    let k = left.min(138);
                    push((18, (k - 11) as u8));
                    left -= k;
                }
                if left >= 3 {
                    push((17, (left - 3) as u8));
                    left = 0;
                }
            } else {
                push((v, 0));
                left -= 1;
                while left >= 3 {
                    let k = left.min(6);
                    push((16, (k - 3) as u8));
                    left -= k;
                }
            }
            for _ in 0..left {
                push((v, 0));
            }
            i += n;
        }
        let mut freq = [0u32; 19];
        for &(s, _) in &runs[..nruns] {
            freq[usize::from(s)] += 1;
        }
        let mut clen_len = [0u8; 19];
        lengths_for(&freq, 7, &mut clen_len, scratch);
        complete(&mut clen_len);
        let mut clen_code = [0u16; 19];
        codes_for(&clen_len, &mut clen_code);
        let hclen = (4..=19).rev().find(|&n| clen_len[CLEN_ORDER[n - 1]] > 0).unwrap_or(4);
        DynamicHeader {
            hlit,
            hdist,
            hclen,
            runs,
            nruns,
            clen_len,
            clen_code,
        }
    }

    fn bits(&self) -> u64 {
        let runs: u64 = self.runs[..self.nruns]
            .iter()
            .map(|&(s, _)| u64::from(self.clen_len[usize::from(s)]) + [0, 2, 3, 7][usize::from(s.saturating_sub(15))])
            .sum();
        14 + 3 * self.hclen as u64 + runs
    }

    fn write(&self, w: &mut BitWriter<'_>) {
        w.put((self.hlit - 257) as u32, 5);
        w.put((self.hdist - 1) as u32, 5);
        w.put((self.hclen - 4) as u32, 4);
        for &i in &CLEN_ORDER[..self.hclen] {
            w.put(u32::from(self.clen_len[i]), 3);
        }
        for &(s, extra) in &self.runs[..self.nruns] {
            let s = usize::from(s);
            w.put(u32::from(self.clen_code[s]), u32::from(self.clen_len[s]));
            match s {
                16 => w.put(u32::from(extra), 2),
                17 => w.put(u32::from(extra), 3),
                18 => w.put(u32::from(extra), 7),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_distance_codes_match_the_tables() {
        for len in 3..=258 {
            let c = len_code(len);
            let base = usize::from(LEN_BASE[c]);
            assert!(len >= base && len - base < 1 << LEN_EXTRA[c], "len {len} code {c}");
        }
        assert_eq!(len_code(258), 28);
        assert_eq!(len_code(257), 27);
        for dist in 1..=32768 {
            let c = dist_code(dist);
            let base = usize::from(DIST_BASE[c]);
            assert!(dist >= base && dist - base < 1 << DIST_EXTRA[c], "dist {dist} code {c}");
        }
    }
}
