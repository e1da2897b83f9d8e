//! A dynamic block's header (RFC 1951 §3.2.7), read as far as the input
//! goes and resumed with the next piece.

use super::super::huffman::{Decoded, Decoder};
use super::super::tables::CLEN_ORDER;
use super::{Bits, InflateError};

/// Progress through a dynamic block's header (RFC 1951 §3.2.7).
pub(super) struct DynamicHeader {
    pub(super) hlit: usize,
    pub(super) hdist: usize,
    hclen: usize,
    /// Entries read so far: code-length code lengths, then code lengths.
    read: usize,
    clens: [u8; 19],
    code_lengths: Option<Decoder>,
    pub(super) lengths: [u8; 286 + 30],
}

impl DynamicHeader {
    pub(super) fn new() -> Self {
        DynamicHeader {
            hlit: 0,
            hdist: 0,
            hclen: 0,
            read: 0,
            clens: [0; 19],
            code_lengths: None,
            lengths: [0; 286 + 30],
        }
    }
}

/// Reads a dynamic block's header as far as the input goes. True once the
/// code lengths are complete.
pub(super) fn read_dynamic_header(h: &mut DynamicHeader, bits: &mut Bits<'_>) -> Result<bool, InflateError> {
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
