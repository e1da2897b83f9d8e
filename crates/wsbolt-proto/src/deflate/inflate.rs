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

use super::huffman::Decoder;
use codes::{decode_block, push, reserve};
use header::{read_dynamic_header, DynamicHeader};

mod codes;
mod header;

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

    /// Starts a new stream: no history, no pending bits (the history
    /// buffer's allocation stays).
    pub(crate) fn reset(&mut self) {
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
                        2 => State::DynamicHeader(Box::new(DynamicHeader::new())),
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

#[cfg(test)]
pub(crate) mod tests;
