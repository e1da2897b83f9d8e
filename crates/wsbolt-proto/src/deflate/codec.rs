//! Compression and bounded decompression of message payloads.

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::ProtocolError;

/// The four bytes a sync flush ends with; RFC 7692 §7.2.1 removes them from
/// each message and §7.2.2 puts them back before inflating.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflated output grows by at most this much beyond what was checked.
pub const INFLATE_CHUNK: usize = 32 * 1024;

/// Compresses messages with one deflate context (zlib-rs, which unlike
/// flate2's API lets the memory level be chosen).
pub struct Compressor {
    c: zlib_rs::Deflate,
    reset_after_message: bool,
    /// Level, window bits and memory level, packed ([`Compressor::key_for`]).
    key: u32,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("reset_after_message", &self.reset_after_message)
            .finish()
    }
}

/// Heap bytes a compressor holds for `window_bits` and `mem_level`, by
/// zlib-rs's layout: the window and its match chain (`4 * 2^window_bits`),
/// a hash table of 64 Ki entries (128 KiB, whatever the settings: zlib-rs,
/// like zlib-ng, does not scale it with `mem_level`), and the symbol and
/// output buffers (`7 * 2^(mem_level + 6)`). 284 KiB at the defaults (15
/// bits, memory level 6), 158 KiB at 12 bits and memory level 5.
///
/// ```
/// use wsbolt_proto::deflate::compressor_memory;
/// assert_eq!(compressor_memory(15, 6), 284 * 1024);
/// ```
pub fn compressor_memory(window_bits: u8, mem_level: u8) -> usize {
    let window = 1usize << window_bits.clamp(9, 15);
    let lit_bufsize = 1usize << (mem_level.clamp(1, 9) + 6);
    4 * window + 128 * 1024 + 7 * lit_bufsize
}

impl Compressor {
    /// A compressor with `window_bits` (9–15), `level` (0–9) and
    /// `mem_level` (1–9: the hash table and buffer sizes). With
    /// `reset_after_message` (no context takeover) every message is
    /// compressed on its own.
    pub fn new(level: u32, window_bits: u8, mem_level: u8, reset_after_message: bool) -> Self {
        let config = zlib_rs::DeflateConfig {
            level: level.min(9) as i32,
            method: zlib_rs::Method::Deflated,
            // Negative: raw deflate, no zlib header (RFC 7692 §7.2.1).
            window_bits: -i32::from(window_bits.clamp(9, 15)),
            mem_level: i32::from(mem_level.clamp(1, 9)),
            strategy: zlib_rs::Strategy::Default,
        };
        Compressor {
            c: zlib_rs::Deflate::new_with_config(config),
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
    /// Returns false if the deflate state failed (the caller then sends the
    /// message uncompressed; this does not happen with valid state).
    pub fn compress(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let mut consumed = 0;
        loop {
            // Room to write into, zeroed so the API stays safe; trimmed below.
            let room = (input.len() - consumed) / 2 + 64;
            let at = out.len();
            out.resize(at + room, 0);
            let (in_before, out_before) = (self.c.total_in(), self.c.total_out());
            let r = self
                .c
                .compress(&input[consumed..], &mut out[at..], zlib_rs::DeflateFlush::SyncFlush);
            let produced = (self.c.total_out() - out_before) as usize;
            out.truncate(at + produced);
            if r.is_err() {
                out.truncate(start);
                self.c.reset();
                return false;
            }
            consumed += (self.c.total_in() - in_before) as usize;
            // A sync flush is complete once the output space was not filled.
            if consumed == input.len() && produced < room {
                break;
            }
        }
        // Incompressible input (random or already compressed data) grows under
        // deflate, and more so at level 1 (fixed-Huffman literals): send it as
        // stored blocks instead, at most 5 bytes per 64 KiB over its size.
        // The compressor has taken the input into its window like the peer's
        // inflater will from the stored blocks, and a sync flush leaves no
        // bits pending, so the two contexts stay in step.
        let compressed_len = out.len() - start - if fin && out[start..].ends_with(&TRAILER) { 4 } else { 0 };
        let stored = !input.is_empty() && compressed_len > stored_len(input.len()) + usize::from(fin);
        if stored {
            out.truncate(start);
            write_stored(input, out);
        }
        if fin {
            if stored || out.len() == start {
                // The receiver appends the sync-flush trailer `00 00 ff ff`
                // (RFC 7692 §7.2.2), LEN and NLEN of an empty stored block,
                // which only parses after that block's header byte: after
                // our stored blocks, and after an empty flush (zlib emits
                // nothing when nothing is new; RFC 7692 §7.2.3.6's 0x00 for
                // an empty message), send that header.
                out.push(0x00);
            } else if out[start..].ends_with(&TRAILER) {
                out.truncate(out.len() - TRAILER.len());
            }
            if self.reset_after_message {
                self.c.reset();
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
    /// Forgets the compression history. Always safe for the peer: a stream
    /// that references less history than the inflater holds inflates the
    /// same. Used after a message is sent uncompressed instead.
    pub fn reset(&mut self) {
        self.c.reset();
    }
}

/// Inflates messages with one deflate context, never past a size limit.
#[derive(Debug)]
pub struct Decompressor {
    d: Decompress,
    reset_after_message: bool,
    stream_ended: bool,
    window_bits: u8,
}

impl Decompressor {
    /// A decompressor for a peer that compresses with at most `window_bits`
    /// (8–15; an 8-bit stream inflates with a 9-bit window).
    pub fn new(window_bits: u8, reset_after_message: bool) -> Self {
        Decompressor {
            d: Decompress::new_with_window_bits(false, window_bits.clamp(9, 15)),
            reset_after_message,
            stream_ended: false,
            window_bits: window_bits.clamp(9, 15),
        }
    }

    /// The window this decompressor inflates with (9–15).
    pub(crate) fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Inflates `input` onto `out`, calling `check` on each new piece of
    /// output (for UTF-8 validation). Fails with `MessageTooLarge` as soon as
    /// `out` would pass `max`: it never grows beyond `max + INFLATE_CHUNK`.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max: usize,
        check: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < INFLATE_CHUNK / 4 {
                let limit = max.saturating_add(INFLATE_CHUNK);
                let target = (out.capacity() * 2).max(out.len() + INFLATE_CHUNK).min(limit);
                if target <= out.len() {
                    return Err(ProtocolError::MessageTooLarge { max: max as u64 });
                }
                out.reserve_exact(target - out.len());
            }
            let (before_in, before_len) = (self.d.total_in(), out.len());
            let status = self
                .d
                .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            consumed += (self.d.total_in() - before_in) as usize;
            let produced = out.len() - before_len;
            if out.len() > max {
                return Err(ProtocolError::MessageTooLarge { max: max as u64 });
            }
            check(&out[before_len..])?;
            if status == Status::StreamEnd {
                // A final block: the peer's context ends here.
                self.stream_ended = true;
                if consumed < input.len() {
                    return Err(ProtocolError::InvalidCompressedData);
                }
                return Ok(());
            }
            let input_done = consumed == input.len();
            if input_done && out.len() < out.capacity() {
                return Ok(());
            }
            if produced == 0 && !input_done && self.d.total_in() == before_in {
                // No progress with input left and room to write: corrupt.
                return Err(ProtocolError::InvalidCompressedData);
            }
        }
    }

    /// Ends a message: inflates the trailer RFC 7692 removed, then resets the
    /// context if the peer does not keep it.
    pub fn finish_message(
        &mut self,
        out: &mut Vec<u8>,
        max: usize,
        check: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        if !self.stream_ended {
            self.inflate(&TRAILER, out, max, check)?;
        }
        if self.reset_after_message || self.stream_ended {
            self.d.reset(false);
            self.stream_ended = false;
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

    /// Random bytes from a small xorshift generator (no dependency).
    fn noise(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
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
