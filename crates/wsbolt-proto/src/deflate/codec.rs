//! Compression and bounded decompression of message payloads, with the
//! deflate codec of this crate ([`super::lz77`], [`super::inflate`]).

use std::cell::RefCell;

use super::blocks::BlockCoder;
use super::inflate::{InflateError, Inflater};
use super::lz77::{deflater_memory, Deflater};
use crate::error::ProtocolError;

/// The four bytes a sync flush ends with; RFC 7692 §7.2.1 removes them from
/// each message and §7.2.2 puts them back before inflating.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How far inflated output may grow beyond the limit it is checked
/// against: nothing (the inflater stops at the limit exactly). Kept for the
/// bound it documents.
pub const INFLATE_CHUNK: usize = 0;

thread_local! {
    /// Symbols and code tables of the block being written: one set per
    /// thread, since a thread compresses one message at a time.
    static BLOCK_SCRATCH: RefCell<(Vec<u32>, BlockCoder)> = RefCell::new((Vec::new(), BlockCoder::new()));
}

/// Compresses messages with one deflate context.
#[derive(Debug)]
pub struct Compressor {
    d: Deflater,
    reset_after_message: bool,
    /// Level, window bits and memory level, packed ([`Compressor::key_for`]).
    key: u32,
}

/// Heap bytes a compressor holds for `window_bits` and `mem_level` once it
/// has compressed something: its window twice over
/// (`2 * 2^window_bits`), a chain link per window position
/// (`2 * 2^window_bits`) and a hash table of `2^min(mem_level + 7,
/// window_bits)` two-byte entries. 144 KiB at the defaults (15 bits, memory
/// level 6), 24 KiB at 12 bits and memory level 5. A thread that compresses
/// also keeps one block's symbols (64 KiB), whatever the number of
/// connections.
///
/// ```
/// use wsbolt_proto::deflate::compressor_memory;
/// assert_eq!(compressor_memory(15, 6), 144 * 1024);
/// assert_eq!(compressor_memory(12, 5), 24 * 1024);
/// ```
pub fn compressor_memory(window_bits: u8, mem_level: u8) -> usize {
    deflater_memory(window_bits, mem_level)
}

impl Compressor {
    /// A compressor with `window_bits` (9–15), `level` (0–9) and
    /// `mem_level` (1–9: the hash table's size). With
    /// `reset_after_message` (no context takeover) every message is
    /// compressed on its own.
    pub fn new(level: u32, window_bits: u8, mem_level: u8, reset_after_message: bool) -> Self {
        Compressor {
            d: Deflater::new(level, window_bits, mem_level),
            reset_after_message,
            key: Self::key_for(level, window_bits, mem_level),
        }
    }

    /// The settings a compressor made by `new` with these arguments has, as
    /// one comparable value.
    pub(crate) fn key_for(level: u32, window_bits: u8, mem_level: u8) -> u32 {
        (level.min(9) << 16) | (u32::from(window_bits.clamp(9, 15)) << 8) | u32::from(mem_level.clamp(1, 9))
    }

    pub(crate) fn key(&self) -> u32 {
        self.key
    }

    /// Appends the compressed form of `input` (a message, or one fragment of
    /// it) to `out`; `fin` on the last piece strips the sync-flush trailer.
    /// Always true (kept from an earlier backend that could fail).
    pub fn compress(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let d = &mut self.d;
        let done = BLOCK_SCRATCH.try_with(|s| {
            let (symbols, coder) = &mut *s.borrow_mut();
            d.compress(input, out, symbols, coder);
        });
        if done.is_err() {
            // The thread is exiting: compress with scratch of our own.
            self.d.compress(input, out, &mut Vec::new(), &mut BlockCoder::new());
        }
        // Incompressible input (random or already compressed data) grows under
        // deflate: send it as stored blocks instead, at most 5 bytes per
        // 64 KiB over its size. The compressor has taken the input into its
        // window like the peer's inflater will from the stored blocks, and a
        // sync flush leaves no bits pending, so the two contexts stay in step.
        let compressed_len = out.len() - start - if fin { TRAILER.len() } else { 0 };
        let stored = !input.is_empty() && compressed_len > stored_len(input.len()) + usize::from(fin);
        if stored {
            out.truncate(start);
            write_stored(input, out);
        }
        if fin {
            if stored {
                // The receiver appends the sync-flush trailer `00 00 ff ff`
                // (RFC 7692 §7.2.2), LEN and NLEN of an empty stored block,
                // which only parses after that block's header byte: after
                // our stored blocks, send that header.
                out.push(0x00);
            } else {
                out.truncate(out.len() - TRAILER.len());
            }
            if self.reset_after_message {
                self.d.reset();
            }
        }
        true
    }
}

/// The largest stored block (RFC 1951 §3.2.4).
const MAX_STORED: usize = 65_535;

/// The size of `n > 0` bytes as byte-aligned stored blocks.
fn stored_len(n: usize) -> usize {
    n + 5 * n.div_ceil(MAX_STORED)
}

/// Appends `input` as non-final stored blocks: a byte of block header (not
/// final, type 00, padding), then LEN and its complement NLEN, little-endian.
fn write_stored(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(stored_len(input.len()));
    for chunk in input.chunks(MAX_STORED) {
        let len = chunk.len() as u16;
        out.push(0x00);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
}

impl Compressor {
    /// Takes a message another compressor sent on this context into the
    /// history, as the peer's inflater does (a broadcast compressed once for
    /// many connections): later messages may refer back into it.
    pub(crate) fn absorb(&mut self, message: &[u8]) {
        self.d.absorb(message);
    }

    /// Forgets the compression history. Always safe for the peer: a stream
    /// that references less history than the inflater holds inflates the
    /// same. Used after a message is sent uncompressed instead.
    pub fn reset(&mut self) {
        self.d.reset();
    }
}

/// Inflates messages with one deflate context, never past a size limit.
/// Between messages it holds the peer's window (`2^window_bits` bytes)
/// once it has inflated something.
#[derive(Debug)]
pub struct Decompressor {
    i: Inflater,
    reset_after_message: bool,
    window_bits: u8,
}

impl Decompressor {
    /// A decompressor for a peer that compresses with at most `window_bits`
    /// (8–15; an 8-bit stream inflates with a 9-bit window).
    pub fn new(window_bits: u8, reset_after_message: bool) -> Self {
        let window_bits = window_bits.clamp(9, 15);
        Decompressor {
            i: Inflater::new(window_bits),
            reset_after_message,
            window_bits,
        }
    }

    /// The window this decompressor inflates with (9–15).
    pub(crate) fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Inflates `input` onto `out`, calling `check` on the new output (for
    /// UTF-8 validation). Fails with `MessageTooLarge` as soon as `out`
    /// would pass `max`: it never grows beyond `max`.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max: usize,
        check: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        let before = out.len();
        self.i.inflate(input, out, max).map_err(|e| match e {
            InflateError::Invalid => ProtocolError::InvalidCompressedData,
            InflateError::TooLarge => ProtocolError::MessageTooLarge { max: max as u64 },
        })?;
        check(&out[before..])
    }

    /// Ends a message: inflates the trailer RFC 7692 removed, then resets the
    /// context if the peer does not keep it.
    pub fn finish_message(
        &mut self,
        out: &mut Vec<u8>,
        max: usize,
        check: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        let ended = self.i.ended();
        if !ended {
            self.inflate(&TRAILER, out, max, check)?;
        }
        if self.reset_after_message || ended {
            self.i.reset();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &[u8]) -> Result<(), ProtocolError> {
        Ok(())
    }

    /// Random bytes from the inflater tests' xorshift generator.
    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut rng = super::super::inflate::tests::Rng(seed);
        (0..n).map(|_| rng.next() as u8).collect()
    }

    #[test]
    fn incompressible_data_costs_its_stored_size_and_the_contexts_stay_in_step() {
        let configs = [
            (1u32, 15u8, 8u8, false),
            (6, 12, 5, false),
            (1, 15, 8, true),
            (9, 9, 1, false),
        ];
        for (level, bits, mem, reset) in configs {
            let mut c = Compressor::new(level, bits, mem, reset);
            let mut d = Decompressor::new(bits, reset);
            let random = noise(1 << 20, 0x9e3779b97f4a7c15);
            // Then a message built from pieces of the random one (found in
            // the window only if both contexts hold it), then text.
            let mut echo = random[random.len() - 300..].to_vec();
            echo.extend_from_slice(&random[random.len() - 300..]);
            for msg in [
                &random[..],
                &echo[..],
                &b"plain text plain text plain text"[..],
                &noise(100, 7)[..],
            ] {
                let mut wire = Vec::new();
                assert!(c.compress(msg, true, &mut wire));
                assert!(
                    wire.len() <= stored_len(msg.len()) + 1,
                    "level {level}: {} bytes became {}",
                    msg.len(),
                    wire.len()
                );
                let mut out = Vec::new();
                d.inflate(&wire, &mut out, 2 << 20, &mut ok)
                    .unwrap_or_else(|e| panic!("level {level} len {} wire {}: {e:?}", msg.len(), wire.len()));
                d.finish_message(&mut out, 2 << 20, &mut ok).unwrap();
                assert_eq!(out, msg, "level {level} bits {bits}");
            }
        }
        // 1 MiB of random data: 17 blocks of 5 bytes of overhead, and the
        // trailer's header byte (was +5.47% with fixed-Huffman literals at
        // level 1).
        assert_eq!(stored_len(1 << 20) + 1 - (1 << 20), 5 * 17 + 1);
    }

    #[test]
    fn round_trip_with_context_takeover_and_fragments() {
        for bits in [9u8, 12, 15] {
            let mut c = Compressor::new(1, bits, 8, false);
            let mut d = Decompressor::new(bits, false);
            for msg in [&b"hello hello hello"[..], b"hello again", b"", &[7u8; 100_000]] {
                let mut wire = Vec::new();
                assert!(c.compress(msg, true, &mut wire));
                let mut out = Vec::new();
                d.inflate(&wire, &mut out, 1 << 20, &mut ok).unwrap();
                d.finish_message(&mut out, 1 << 20, &mut ok).unwrap();
                assert_eq!(out, msg);
            }
            // Fragments, the last one empty.
            let mut wire = Vec::new();
            c.compress(b"xyz", false, &mut wire);
            c.compress(b"", true, &mut wire);
            let mut out = Vec::new();
            d.inflate(&wire, &mut out, 100, &mut ok).unwrap();
            d.finish_message(&mut out, 100, &mut ok).unwrap();
            assert_eq!(out, b"xyz");
            // One message compressed as three fragments.
            let mut wire = Vec::new();
            c.compress(b"abc", false, &mut wire);
            c.compress(b"def", false, &mut wire);
            c.compress(b"ghi", true, &mut wire);
            let mut out = Vec::new();
            d.inflate(&wire, &mut out, 100, &mut ok).unwrap();
            d.finish_message(&mut out, 100, &mut ok).unwrap();
            assert_eq!(out, b"abcdefghi");
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit_plus_one_chunk() {
        let mut c = Compressor::new(9, 15, 8, false);
        let mut wire = Vec::new();
        c.compress(&vec![0u8; 8 << 20], true, &mut wire);
        assert!(wire.len() < 16 * 1024, "{}", wire.len());
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        let max = 1 << 20;
        let r = d.inflate(&wire, &mut out, max, &mut ok);
        assert_eq!(r, Err(ProtocolError::MessageTooLarge { max: max as u64 }));
        assert!(out.capacity() <= max + INFLATE_CHUNK, "{}", out.capacity());
    }

    #[test]
    fn corrupt_data_is_an_error_not_a_panic() {
        let mut d = Decompressor::new(15, false);
        let mut out = Vec::new();
        // Block type 3 (reserved) is invalid deflate.
        assert_eq!(
            d.inflate(&[0xff, 0xff, 0xff], &mut out, 1000, &mut ok),
            Err(ProtocolError::InvalidCompressedData)
        );
    }
}
