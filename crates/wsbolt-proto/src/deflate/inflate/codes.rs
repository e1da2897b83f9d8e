//! A block's literals and matches: decoding them into the output, copying
//! matches from this call's output or the history ring.

use super::super::huffman::{Decoded, Decoder};
use super::super::tables::{DIST_BASE, DIST_EXTRA, LEN_BASE, LEN_EXTRA};
use super::{Bits, InflateError};

/// Appends one byte unless that passes `max`.
#[inline]
pub(super) fn push(out: &mut Vec<u8>, max: usize, b: u8) -> Result<(), InflateError> {
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
pub(super) fn reserve(out: &mut Vec<u8>, n: usize, max: usize) {
    if out.capacity() - out.len() < n {
        let want = (out.capacity() * 2).max(out.len() + n).max(1024).min(max);
        out.reserve_exact(want.max(out.len() + n) - out.len());
    }
}

/// Decodes literals and matches until the end of the block (true) or of the
/// input (false).
#[allow(clippy::too_many_arguments)]
pub(super) fn decode_block(
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
