//! A raw deflate inflater (RFC 1951) whose memory between messages is the
//! peer's window and a few words: `2^window_bits` bytes of history, kept
//! only once something was inflated. It takes its input in pieces of any
//! size (a message's frames) and never writes past a limit.
//!
//! Resuming mid-stream needs no copy of the input: every step (a block
//! header, one entry of a code-length list, a literal, a length with its
//! distance) peeks at the bits it needs and consumes them only once they are
//! all there. At most 63 bits wait in the bit buffer for the next piece.

use std::sync::OnceLock;

use super::huffman::{Decoded, Decoder};

/// Why inflating stopped early.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// Not valid deflate data, or a distance beyond the window.
    Invalid,
    /// The output would pass the limit.
    TooLarge,
}

/// Where the inflater is in the stream.
enum State {
    /// Before a block's 3-bit header.
    BlockHeader,
    /// After a stored block's header: LEN and NLEN come next.
    StoredLength,
    /// Inside a stored block: this many bytes to copy.
    Stored(u32),
    /// Reading a dynamic block's code lengths.
    DynamicHeader(Box<DynamicHeader>),
    /// Decoding a block's literals and matches with these codes.
    Codes(Codes),
    /// The final block ended.
    Ended,
}

/// The codes of a block: the fixed ones (shared) or the block's own.
enum Codes {
    Fixed,
    Dynamic(Box<(Decoder, Decoder)>),
}

impl Codes {
    fn get(&self) -> &(Decoder, Decoder) {
        match self {
            Codes::Fixed => fixed(),
            Codes::Dynamic(d) => d,
        }
    }
}

/// The fixed literal/length and distance codes (RFC 1951 §3.2.6).
fn fixed() -> &'static (Decoder, Decoder) {
    static FIXED: OnceLock<(Decoder, Decoder)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let mut lit = [8u8; 288];
        lit[144..256].fill(9);
        lit[256..280].fill(7);
        (
            Decoder::new(&lit, false).expect("the fixed code is complete"),
            Decoder::new(&[5u8; 32], false).expect("the fixed distance code is complete"),
        )
    })
}

/// Progress through a dynamic block's header (RFC 1951 §3.2.7).
struct DynamicHeader {
    hlit: usize,
    hdist: usize,
    hclen: usize,
    /// Entries read so far: code-length code lengths, then code lengths.
    read: usize,
    clens: [u8; 19],
    code_lengths: Option<Decoder>,
    lengths: [u8; 286 + 30],
}

/// The order code-length code lengths are sent in.
const CLEN_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

pub(crate) const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
];
pub(crate) const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
pub(crate) const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
pub(crate) const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];

/// Bits read ahead of the decoder, least significant first.
struct Bits<'a> {
    input: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
}

impl Bits<'_> {
    #[inline]
    fn refill(&mut self) {
        if let Some(next) = self.input.get(self.pos..self.pos + 8) {
            // Eight bytes at once; only the whole ones that fit are kept.
            let word = u64::from_le_bytes(next.try_into().expect("8 bytes"));
            let take = (63 - self.count) / 8;
            if take > 0 {
                self.buf |= word << self.count;
                self.pos += take as usize;
                self.count += take * 8;
                // `word << count` may have brought in part of a byte that
                // was not taken: clear the bits above `count`.
                self.buf &= u64::MAX >> (64 - self.count);
            }
            return;
        }
        while self.count <= 56 && self.pos < self.input.len() {
            self.buf |= u64::from(self.input[self.pos]) << self.count;
            self.pos += 1;
            self.count += 8;
        }
    }

    #[inline]
    fn consume(&mut self, n: u32) {
        self.buf >>= n;
        self.count -= n;
    }

    /// The next `n` bits (at most 32), if they are there; refills first.
    #[inline]
    fn peek(&mut self, n: u32) -> Option<u32> {
        self.refill();
        (self.count >= n).then(|| (self.buf & ((1u64 << n) - 1)) as u32)
    }
}

/// A deflate stream's decoder with a window of `2^window_bits` bytes.
pub(crate) struct Inflater {
    window_bits: u8,
    /// The last bytes inflated (a ring), allocated at first use.
    history: Vec<u8>,
    /// Where the next byte goes in `history`, and how many are valid.
    history_pos: usize,
    history_len: usize,
    bit_buf: u64,
    bit_count: u32,
    state: State,
    /// The current block is the final one.
    final_block: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("history_len", &self.history_len)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    pub(crate) fn new(window_bits: u8) -> Inflater {
        Inflater {
            window_bits,
            history: Vec::new(),
            history_pos: 0,
            history_len: 0,
            bit_buf: 0,
            bit_count: 0,
            state: State::BlockHeader,
            final_block: false,
        }
    }

    /// Starts a new stream: no history, no pending bits. Keeps the history
    /// buffer's allocation only if `keep_memory`.
    pub(crate) fn reset(&mut self, keep_memory: bool) {
        if !keep_memory {
            self.history = Vec::new();
        }
        self.history_pos = 0;
        self.history_len = 0;
        self.bit_buf = 0;
        self.bit_count = 0;
        self.state = State::BlockHeader;
        self.final_block = false;
    }

    /// The stream's final block has ended.
    pub(crate) fn ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// Heap bytes held between calls.
    #[cfg(test)]
    pub(crate) fn memory(&self) -> usize {
        self.history.capacity()
    }

    /// Inflates `input` onto `out`, which never grows past `max` bytes.
    /// Returns once the input is used up or the final block ended; input
    /// after the final block is an error.
    pub(crate) fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, max: usize) -> Result<(), InflateError> {
        let start = out.len();
        let mut bits = Bits {
            input,
            pos: 0,
            buf: self.bit_buf,
            count: self.bit_count,
        };
        let result = self.run(&mut bits, out, start, max);
        self.bit_buf = bits.buf;
        self.bit_count = bits.count;
        self.remember(&out[start..]);
        result?;
        if self.ended() && (bits.pos < input.len() || bits.count >= 8) {
            return Err(InflateError::Invalid);
        }
        Ok(())
    }

    /// Appends what was inflated to the history ring.
    fn remember(&mut self, new: &[u8]) {
        if new.is_empty() {
            return;
        }
        let size = 1usize << self.window_bits;
        if self.history.len() != size {
            self.history = vec![0; size];
        }
        let new = &new[new.len().saturating_sub(size)..];
        let first = new.len().min(size - self.history_pos);
        self.history[self.history_pos..self.history_pos + first].copy_from_slice(&new[..first]);
        self.history[..new.len() - first].copy_from_slice(&new[first..]);
        self.history_pos = (self.history_pos + new.len()) % size;
        self.history_len = (self.history_len + new.len()).min(size);
    }

    fn run(&mut self, bits: &mut Bits<'_>, out: &mut Vec<u8>, start: usize, max: usize) -> Result<(), InflateError> {
        loop {
            match &mut self.state {
                State::Ended => return Ok(()),
                State::BlockHeader => {
                    let Some(h) = bits.peek(3) else { return Ok(()) };
                    bits.consume(3);
                    self.final_block = h & 1 == 1;
                    self.state = match h >> 1 {
                        0 => {
                            // Stored: skip to the byte boundary.
                            bits.consume(bits.count % 8);
                            State::StoredLength
                        }
                        1 => State::Codes(Codes::Fixed),
                        2 => State::DynamicHeader(Box::new(DynamicHeader {
                            hlit: 0,
                            hdist: 0,
                            hclen: 0,
                            read: 0,
                            clens: [0; 19],
                            code_lengths: None,
                            lengths: [0; 316],
                        })),
                        _ => return Err(InflateError::Invalid),
                    };
                }
                State::StoredLength => {
                    let Some(v) = bits.peek(32) else { return Ok(()) };
                    bits.consume(32);
                    let (len, nlen) = (v & 0xffff, v >> 16);
                    if len != !nlen & 0xffff {
                        return Err(InflateError::Invalid);
                    }
                    self.state = State::Stored(len);
                }
                State::Stored(left) => {
                    // Whole bytes wait in the bit buffer first, then input.
                    while *left > 0 && bits.count >= 8 {
                        push(out, max, bits.buf as u8)?;
                        bits.consume(8);
                        *left -= 1;
                    }
                    let n = (*left as usize).min(bits.input.len() - bits.pos);
                    if out.len() + n > max {
                        return Err(InflateError::TooLarge);
                    }
                    reserve(out, n, max);
                    out.extend_from_slice(&bits.input[bits.pos..bits.pos + n]);
                    bits.pos += n;
                    *left -= n as u32;
                    if *left > 0 {
                        return Ok(());
                    }
                    self.end_block();
                }
                State::DynamicHeader(h) => {
                    if !read_dynamic_header(h, bits)? {
                        return Ok(());
                    }
                    let (lit, dist) = h.lengths[..h.hlit + h.hdist].split_at(h.hlit);
                    if lit[256] == 0 {
                        return Err(InflateError::Invalid);
                    }
                    let lit = Decoder::new(lit, true).ok_or(InflateError::Invalid)?;
                    let dist = Decoder::new(dist, true).ok_or(InflateError::Invalid)?;
                    self.state = State::Codes(Codes::Dynamic(Box::new((lit, dist))));
                }
                State::Codes(codes) => {
                    let (lit, dist) = codes.get();
                    let done = decode_block(
                        lit,
                        dist,
                        bits,
                        out,
                        start,
                        max,
                        &self.history[..],
                        self.history_pos,
                        self.history_len,
                    )?;
                    if !done {
                        return Ok(());
                    }
                    self.end_block();
                }
            }
        }
    }

    fn end_block(&mut self) {
        self.state = if self.final_block {
            State::Ended
        } else {
            State::BlockHeader
        };
    }
}

/// Appends one byte unless that passes `max`.
#[inline]
fn push(out: &mut Vec<u8>, max: usize, b: u8) -> Result<(), InflateError> {
    if out.len() >= max {
        return Err(InflateError::TooLarge);
    }
    reserve(out, 1, max);
    out.push(b);
    Ok(())
}

/// Makes room for `n` more bytes, growing geometrically but never past
/// `max` (the caller checked that `out.len() + n <= max`).
#[inline]
fn reserve(out: &mut Vec<u8>, n: usize, max: usize) {
    if out.capacity() - out.len() < n {
        let want = (out.capacity() * 2).max(out.len() + n).max(1024).min(max);
        out.reserve_exact(want.max(out.len() + n) - out.len());
    }
}

/// Reads a dynamic block's header as far as the input goes. True once the
/// code lengths are complete.
fn read_dynamic_header(h: &mut DynamicHeader, bits: &mut Bits<'_>) -> Result<bool, InflateError> {
    if h.hclen == 0 {
        let Some(v) = bits.peek(14) else { return Ok(false) };
        bits.consume(14);
        h.hlit = (v & 31) as usize + 257;
        h.hdist = ((v >> 5) & 31) as usize + 1;
        h.hclen = (v >> 10) as usize + 4;
        if h.hlit > 286 || h.hdist > 30 {
            return Err(InflateError::Invalid);
        }
    }
    while h.code_lengths.is_none() {
        if h.read == h.hclen {
            h.code_lengths = Some(Decoder::new(&h.clens, false).ok_or(InflateError::Invalid)?);
            h.read = 0;
            break;
        }
        let Some(v) = bits.peek(3) else { return Ok(false) };
        bits.consume(3);
        h.clens[CLEN_ORDER[h.read]] = v as u8;
        h.read += 1;
    }
    let total = h.hlit + h.hdist;
    let code = h.code_lengths.as_ref().expect("built above");
    while h.read < total {
        bits.refill();
        let (sym, len) = match code.decode(bits.buf, bits.count) {
            Decoded::Symbol(s, l) => (s, l),
            Decoded::NeedBits => return Ok(false),
            Decoded::Invalid => return Err(InflateError::Invalid),
        };
        let (extra, base) = match sym {
            0..=15 => (0, 0),
            16 => (2, 3),
            17 => (3, 3),
            _ => (7, 11),
        };
        if len + extra > bits.count {
            return Ok(false);
        }
        let repeat = base + ((bits.buf >> len) & ((1 << extra) - 1)) as usize;
        bits.consume(len + extra);
        if sym < 16 {
            h.lengths[h.read] = sym as u8;
            h.read += 1;
            continue;
        }
        let value = match sym {
            16 if h.read == 0 => return Err(InflateError::Invalid),
            16 => h.lengths[h.read - 1],
            _ => 0,
        };
        if h.read + repeat > total {
            return Err(InflateError::Invalid);
        }
        h.lengths[h.read..h.read + repeat].fill(value);
        h.read += repeat;
    }
    Ok(true)
}

/// Decodes literals and matches until the end of the block (true) or of the
/// input (false).
#[allow(clippy::too_many_arguments)]
fn decode_block(
    lit: &Decoder,
    dist: &Decoder,
    bits: &mut Bits<'_>,
    out: &mut Vec<u8>,
    start: usize,
    max: usize,
    history: &[u8],
    history_pos: usize,
    history_len: usize,
) -> Result<bool, InflateError> {
    loop {
        bits.refill();
        let (sym, len) = match lit.decode(bits.buf, bits.count) {
            Decoded::Symbol(s, l) => (usize::from(s), l),
            Decoded::NeedBits => return Ok(false),
            Decoded::Invalid => return Err(InflateError::Invalid),
        };
        if sym < 256 {
            bits.consume(len);
            push(out, max, sym as u8)?;
            continue;
        }
        if sym == 256 {
            bits.consume(len);
            return Ok(true);
        }
        let i = sym - 257;
        if i >= 29 {
            return Err(InflateError::Invalid);
        }
        // The whole match (at most 48 bits) must be there before any of it
        // is consumed.
        let mut used = len;
        let extra = u32::from(LEN_EXTRA[i]);
        if used + extra > bits.count {
            return Ok(false);
        }
        let length = usize::from(LEN_BASE[i]) + ((bits.buf >> used) & ((1 << extra) - 1)) as usize;
        used += extra;
        let (dsym, dlen) = match dist.decode(bits.buf >> used, bits.count - used) {
            Decoded::Symbol(s, l) => (usize::from(s), l),
            Decoded::NeedBits => return Ok(false),
            Decoded::Invalid => return Err(InflateError::Invalid),
        };
        if dsym >= 30 {
            return Err(InflateError::Invalid);
        }
        used += dlen;
        let dextra = u32::from(DIST_EXTRA[dsym]);
        if used + dextra > bits.count {
            return Ok(false);
        }
        let distance = usize::from(DIST_BASE[dsym]) + ((bits.buf >> used) & ((1 << dextra) - 1)) as usize;
        used += dextra;
        bits.consume(used);
        copy_match(out, start, max, length, distance, history, history_pos, history_len)?;
    }
}

/// Appends `length` bytes copied from `distance` back, reaching into the
/// history ring for what came before this call's output.
#[allow(clippy::too_many_arguments)]
#[inline]
fn copy_match(
    out: &mut Vec<u8>,
    start: usize,
    max: usize,
    length: usize,
    distance: usize,
    history: &[u8],
    history_pos: usize,
    history_len: usize,
) -> Result<(), InflateError> {
    let produced = out.len() - start;
    if distance > produced + history_len {
        return Err(InflateError::Invalid);
    }
    if out.len() + length > max {
        return Err(InflateError::TooLarge);
    }
    reserve(out, length, max);
    let mut left = length;
    if distance > produced {
        // From the ring: `back` bytes before the end of the history, in at
        // most two pieces (it may wrap).
        let back = distance - produced;
        let size = history.len();
        let at = (history_pos + size - back) % size;
        let n = left.min(back);
        let first = n.min(size - at);
        out.extend_from_slice(&history[at..at + first]);
        out.extend_from_slice(&history[..n - first]);
        left -= n;
        if left == 0 {
            return Ok(());
        }
    }
    let from = out.len() - distance;
    if left <= distance {
        out.extend_from_within(from..from + left);
    } else {
        for k in 0..left {
            let b = out[from + k];
            out.push(b);
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
