//! Huffman codes for deflate (RFC 1951 §3.2.2): decoding tables built from
//! code lengths, and length-limited code lengths built from frequencies.

/// Bits looked up in one step; longer codes take the canonical walk.
const FAST_BITS: u32 = 10;

/// The longest code deflate allows.
pub(crate) const MAX_BITS: usize = 15;

/// The most symbols a deflate code has (the literal/length code's 288).
const MAX_SYMBOLS: usize = 288;

/// A decoding table for one Huffman code.
#[derive(Clone)]
pub(crate) struct Decoder {
    /// Indexed by the next `FAST_BITS` input bits (deflate sends codes
    /// most-significant bit first, so the index is the code bit-reversed):
    /// `symbol << 4 | length`, or 0 for a code longer than `FAST_BITS`.
    fast: Box<[u16; 1 << FAST_BITS]>,
    /// Codes of each length, and the symbols in canonical order, for the
    /// walk over longer codes.
    count: [u16; MAX_BITS + 1],
    symbols: Vec<u16>,
}

/// What a decoder found in the bits it was given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A symbol and the length of its code.
    Symbol(u16, u32),
    /// The bits given are a prefix of a code: more are needed.
    NeedBits,
    /// No code starts with these bits.
    Invalid,
}

/// The reverse of the low `len` bits of `code`.
pub(crate) fn reverse(code: u32, len: u32) -> u32 {
    code.reverse_bits() >> (32 - len)
}

impl Decoder {
    /// A decoder for `lengths` (one per symbol, 0 for an unused symbol).
    /// `None` for an over-subscribed code, or an incomplete one unless
    /// `allow_incomplete` and it has at most one code (of length 1), which
    /// RFC 1951 allows for a distance code with a single distance (zlib
    /// accepts it for the literal/length code too; so do we).
    pub(crate) fn new(lengths: &[u8], allow_incomplete: bool) -> Option<Decoder> {
        let count = length_counts(lengths);
        let mut left: i32 = 1;
        for &c in &count[1..] {
            left = (left << 1) - i32::from(c);
            if left < 0 {
                return None;
            }
        }
        let max = (1..=MAX_BITS).rev().find(|&l| count[l] > 0).unwrap_or(0);
        if left > 0 && !(allow_incomplete && max <= 1) {
            return None;
        }
        let mut next = first_codes(&count);
        // Where each length's symbols start in canonical order.
        let mut offsets = [0u16; MAX_BITS + 2];
        for len in 1..=MAX_BITS {
            offsets[len + 1] = offsets[len] + count[len];
        }
        let mut symbols = vec![0u16; usize::from(offsets[MAX_BITS + 1])];
        let mut fast = Box::new([0u16; 1 << FAST_BITS]);
        for (sym, &l) in lengths.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let len = usize::from(l);
            symbols[usize::from(offsets[len])] = sym as u16;
            offsets[len] += 1;
            let code = next[len];
            next[len] += 1;
            if len as u32 <= FAST_BITS {
                let entry = ((sym as u16) << 4) | len as u16;
                let mut i = reverse(code, len as u32) as usize;
                while i < fast.len() {
                    fast[i] = entry;
                    i += 1 << len;
                }
            }
        }
        Some(Decoder { fast, count, symbols })
    }

    /// The symbol that starts the low `avail` bits of `bits`.
    #[inline]
    pub(crate) fn decode(&self, bits: u64, avail: u32) -> Decoded {
        let entry = self.fast[(bits & ((1 << FAST_BITS) - 1)) as usize];
        if entry != 0 {
            let len = u32::from(entry & 15);
            return if len <= avail {
                Decoded::Symbol(entry >> 4, len)
            } else {
                Decoded::NeedBits
            };
        }
        self.decode_slow(bits, avail)
    }

    /// The canonical walk, one bit at a time.
    #[cold]
    fn decode_slow(&self, bits: u64, avail: u32) -> Decoded {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..=MAX_BITS as u32 {
            if len > avail {
                return Decoded::NeedBits;
            }
            code |= ((bits >> (len - 1)) & 1) as i32;
            let count = i32::from(self.count[len as usize]);
            if code - first < count {
                return Decoded::Symbol(self.symbols[(index + code - first) as usize], len);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Decoded::Invalid
    }
}

/// Code lengths for `freqs`, none longer than `limit`, that minimise the
/// coded size (near enough: an over-long Huffman code is shortened by
/// moving its deepest leaves up, which costs little). Unused symbols get 0;
/// a single used symbol gets length 1.
/// Work space for [`lengths_for`], reused between blocks: it is written
/// before it is read, so it needs no clearing.
pub(crate) struct Scratch {
    syms: [(u32, u16); MAX_SYMBOLS],
    weight: [u64; 2 * MAX_SYMBOLS],
    parent: [u16; 2 * MAX_SYMBOLS],
    depth: [u16; 2 * MAX_SYMBOLS],
}

impl Scratch {
    pub(crate) fn new() -> Box<Scratch> {
        Box::new(Scratch {
            syms: [(0, 0); MAX_SYMBOLS],
            weight: [0; 2 * MAX_SYMBOLS],
            parent: [0; 2 * MAX_SYMBOLS],
            depth: [0; 2 * MAX_SYMBOLS],
        })
    }
}

pub(crate) fn lengths_for(freqs: &[u32], limit: usize, lengths: &mut [u8], scratch: &mut Scratch) {
    debug_assert!(freqs.len() <= MAX_SYMBOLS && lengths.len() >= freqs.len());
    lengths.iter_mut().for_each(|l| *l = 0);
    let Scratch {
        syms,
        weight,
        parent,
        depth,
    } = scratch;
    let mut n = 0;
    for (s, &f) in freqs.iter().enumerate() {
        if f > 0 {
            syms[n] = (f, s as u16);
            n += 1;
        }
    }
    match n {
        0 => return,
        1 => {
            lengths[usize::from(syms[0].1)] = 1;
            return;
        }
        _ => {}
    }
    let syms = &mut syms[..n];
    syms.sort_unstable();
    // Huffman's algorithm with two queues over the sorted leaves (Van
    // Leeuwen): internal nodes are made in order of weight, so the second
    // queue stays sorted too. `parent[i]` links leaves and nodes upward.
    for (w, &(f, _)) in weight.iter_mut().zip(syms.iter()) {
        *w = u64::from(f);
    }
    let (mut leaf, mut node, mut made) = (0usize, n, n);
    let pick = |weight: &[u64], leaf: &mut usize, node: &mut usize, made: usize| {
        if *leaf < n && (*node >= made || weight[*leaf] <= weight[*node]) {
            *leaf += 1;
            *leaf - 1
        } else {
            *node += 1;
            *node - 1
        }
    };
    while made < 2 * n - 1 {
        let a = pick(&weight[..], &mut leaf, &mut node, made);
        let b = pick(&weight[..], &mut leaf, &mut node, made);
        weight[made] = weight[a] + weight[b];
        parent[a] = made as u16;
        parent[b] = made as u16;
        made += 1;
    }
    // Depths, from the root (the last node) down.
    depth[2 * n - 2] = 0;
    for i in (0..2 * n - 2).rev() {
        depth[i] = depth[usize::from(parent[i])] + 1;
    }
    // Codes per length, the over-long ones moved to the limit, then the
    // Kraft sum restored by splitting a shorter leaf for each excess one.
    let mut bl_count = [0u32; MAX_BITS + 2];
    for &d in &depth[..n] {
        bl_count[usize::from(d).min(limit)] += 1;
    }
    let full = 1u64 << limit;
    let mut kraft: u64 = (1..=limit).map(|l| u64::from(bl_count[l]) << (limit - l)).sum();
    while kraft > full {
        // Drop one leaf at the limit (-1), and keep the number of leaves by
        // splitting one at a shorter length l into two at l + 1 (which
        // leaves the sum as it was): each step lowers the sum by one.
        bl_count[limit] -= 1;
        kraft -= 1;
        let mut l = limit - 1;
        while bl_count[l] == 0 {
            l -= 1;
        }
        bl_count[l] -= 1;
        bl_count[l + 1] += 2;
    }
    // The shortest codes to the most frequent symbols (`syms` ascends).
    let mut it = syms.iter().rev();
    for (len, &c) in bl_count.iter().enumerate().take(limit + 1).skip(1) {
        for _ in 0..c {
            if let Some(&(_, s)) = it.next() {
                lengths[usize::from(s)] = len as u8;
            }
        }
    }
}

/// How many symbols have each code length (unused symbols not counted).
fn length_counts(lengths: &[u8]) -> [u16; MAX_BITS + 1] {
    let mut count = [0u16; MAX_BITS + 1];
    for &l in lengths {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    count
}

/// The first canonical code of each length (RFC 1951 §3.2.2, step 2),
/// shared by the encoder's codes and the decoder's tables.
fn first_codes(count: &[u16; MAX_BITS + 1]) -> [u32; MAX_BITS + 1] {
    let mut next = [0u32; MAX_BITS + 1];
    let mut code = 0u32;
    for len in 1..=MAX_BITS {
        code = (code + u32::from(count[len - 1])) << 1;
        next[len] = code;
    }
    next
}

/// Canonical codes (bit-reversed, ready to send least-significant bit
/// first) for `lengths`.
pub(crate) fn codes_for(lengths: &[u8], codes: &mut [u16]) {
    let mut next = first_codes(&length_counts(lengths));
    for (sym, &l) in lengths.iter().enumerate() {
        if l > 0 {
            let len = usize::from(l);
            codes[sym] = reverse(next[len], len as u32) as u16;
            next[len] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_lengths_form_a_complete_code_within_the_limit() {
        // Fibonacci frequencies make the deepest unconstrained tree.
        let mut freqs = vec![0u32; 30];
        let (mut a, mut b) = (1u32, 1u32);
        for f in freqs.iter_mut() {
            *f = a;
            (a, b) = (b, a.saturating_add(b));
        }
        for limit in [7usize, 9, 15] {
            let mut lengths = vec![0u8; 30];
            lengths_for(&freqs, limit, &mut lengths, &mut Scratch::new());
            assert!(lengths.iter().all(|&l| (1..=limit as u8).contains(&l)), "{lengths:?}");
            let kraft: u64 = lengths.iter().map(|&l| 1u64 << (limit - usize::from(l))).sum();
            assert_eq!(kraft, 1 << limit, "limit {limit}: {lengths:?}");
            assert!(Decoder::new(&lengths, false).is_some());
        }
    }

    #[test]
    fn codes_decode_to_their_symbols() {
        let lengths = [3u8, 3, 3, 3, 3, 2, 4, 4, 0, 12, 12];
        // Over-subscribed is refused, this one is incomplete.
        assert!(Decoder::new(&lengths, false).is_none());
        let mut freqs = [5u32, 9, 1, 0, 300, 2, 2, 1, 7, 1000, 1];
        freqs[3] = 1;
        let mut lengths = [0u8; 11];
        lengths_for(&freqs, 15, &mut lengths, &mut Scratch::new());
        let d = Decoder::new(&lengths, false).unwrap();
        let mut codes = [0u16; 11];
        codes_for(&lengths, &mut codes);
        for s in 0..11 {
            let len = u32::from(lengths[s]);
            assert_eq!(d.decode(u64::from(codes[s]), len), Decoded::Symbol(s as u16, len));
            if len > 1 {
                assert_eq!(d.decode(u64::from(codes[s]), len - 1), Decoded::NeedBits);
            }
        }
        // A single code of length 1 is allowed where incomplete codes are.
        assert!(Decoder::new(&[0, 1, 0], true).is_some());
        assert!(Decoder::new(&[0, 1, 0], false).is_none());
        assert!(Decoder::new(&[2, 2, 0, 0], true).is_none(), "incomplete with two codes");
    }
}
