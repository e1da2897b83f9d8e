//! Frame headers (RFC 6455 §5.2): parsing with every check done before any
//! payload is buffered, and writing.

use crate::error::ProtocolError;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: Close.
    Close,
    /// 0x9: Ping.
    Ping,
    /// 0xA: Pong.
    Pong,
}

impl OpCode {
    /// Decodes the low nibble of a frame's first byte; `None` for the reserved
    /// opcodes 0x3–0x7 and 0xB–0xF.
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xa => OpCode::Pong,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xa,
        }
    }

    /// Close, Ping and Pong are control frames.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// The largest payload a control frame may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The largest possible frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A validated frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: the last frame of its message.
    pub fin: bool,
    /// RSV1: "per-message compressed" when permessage-deflate is negotiated.
    pub rsv1: bool,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// The masking key, present exactly on frames sent by a client.
    pub mask: Option<[u8; 4]>,
    /// The payload length, already checked against the limits.
    pub payload_len: u64,
}

/// What a parser allows; the rest is a protocol error.
#[derive(Debug, Clone, Copy)]
pub struct HeaderRules {
    /// Frames must be masked (the server's view) or unmasked (the client's).
    pub expect_masked: bool,
    /// RSV1 is allowed on data frames (permessage-deflate was negotiated).
    pub allow_rsv1: bool,
    /// Frames with a longer payload fail with 1009 before anything is read.
    pub max_payload: u64,
    /// The same for a compressed frame (RSV1 set): deflate can make a message
    /// a little larger than it is, so this is `max_payload` plus
    /// [`deflate_allowance`].
    pub max_compressed_payload: u64,
}

/// How much larger than `n` a compressed payload may be: zlib's
/// conservative worst case for incompressible data (12.5%, covering small
/// stored blocks with any memLevel) plus 64 bytes. Limits on messages mean
/// bytes after inflation; this only bounds what a compressed frame may
/// buffer.
pub fn deflate_allowance(n: u64) -> u64 {
    n.saturating_add(n / 8).saturating_add(64)
}

impl FrameHeader {
    /// Parses a header from the start of `buf`. Returns `Ok(None)` when more
    /// bytes are needed, or the header and its length. Every rule that can be
    /// checked from the header is checked here, so nothing is allocated for a
    /// frame that will be refused.
    #[inline]
    pub fn parse(buf: &[u8], rules: &HeaderRules) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        match Self::parse_small_masked(buf, rules) {
            Some(small) => Ok(Some(small)),
            None => Self::parse_full(buf, rules),
        }
    }

    /// [`FrameHeader::parse`] without its shortcut: every header goes
    /// through every check.
    fn parse_full(buf: &[u8], rules: &HeaderRules) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (buf[0], buf[1]);
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        if b0 & 0x30 != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0f))?;
        if rsv1 && (!rules.allow_rsv1 || opcode.is_control()) {
            return Err(ProtocolError::ReservedBits);
        }
        let masked = b1 & 0x80 != 0;
        if masked != rules.expect_masked {
            return Err(if masked {
                ProtocolError::MaskedFrameFromServer
            } else {
                ProtocolError::UnmaskedFrameFromClient
            });
        }
        let len7 = b1 & 0x7f;
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if len7 as usize > MAX_CONTROL_PAYLOAD {
                return Err(ProtocolError::ControlFrameTooLong);
            }
        }
        let (payload_len, mut pos) = match len7 {
            126 => {
                if buf.len() < 4 {
                    return Ok(None);
                }
                let n = u16::from_be_bytes([buf[2], buf[3]]) as u64;
                if n < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (n, 4)
            }
            127 => {
                if buf.len() < 10 {
                    return Ok(None);
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let n = u64::from_be_bytes(b);
                if n >> 63 != 0 {
                    return Err(ProtocolError::LengthTopBitSet);
                }
                if n <= 0xffff {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (n, 10)
            }
            n => (n as u64, 2),
        };
        let max = if rsv1 {
            rules.max_compressed_payload
        } else {
            rules.max_payload
        };
        if payload_len > max {
            return Err(ProtocolError::FrameTooLarge { len: payload_len, max });
        }
        let mask = if masked {
            if buf.len() < pos + 4 {
                return Ok(None);
            }
            let k = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
            pos += 4;
            Some(k)
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                rsv1,
                opcode,
                mask,
                payload_len,
            },
            pos,
        )))
    }

    /// The most common header a server reads, decided in a few
    /// instructions: a whole unfragmented text or binary frame, masked, no
    /// RSV bits, under 126 bytes (so within any limit but a frame limit
    /// below 126, which is checked). Anything else is `None` and goes
    /// through the full parser, which does every check.
    #[inline(always)]
    fn parse_small_masked(buf: &[u8], rules: &HeaderRules) -> Option<(FrameHeader, usize)> {
        let &[b0, b1, k0, k1, k2, k3, ..] = buf else {
            return None;
        };
        let opcode = match b0 {
            0x81 => OpCode::Text,
            0x82 => OpCode::Binary,
            _ => return None,
        };
        let len = u64::from(b1 & 0x7f);
        if b1 & 0x80 == 0 || !rules.expect_masked || len >= 126 || len > rules.max_payload {
            return None;
        }
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            opcode,
            mask: Some([k0, k1, k2, k3]),
            payload_len: len,
        };
        Some((header, 6))
    }

    /// Encodes this header (with minimal length encoding) into `out`;
    /// returns its length.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        let b0 = first_byte(self.opcode, self.fin, self.rsv1);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload_len;
        out[0] = b0;
        let mut n = if len < 126 {
            out[1] = mask_bit | len as u8;
            2
        } else if len <= 0xffff {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&len.to_be_bytes());
            10
        };
        if let Some(k) = self.mask {
            out[n..n + 4].copy_from_slice(&k);
            n += 4;
        }
        n
    }
}

/// A frame's first byte: FIN, RSV1 and the opcode (RSV2 and RSV3 are
/// never set). [`FrameHeader::encode`] writes it, and so does the
/// connection's shortcut for a server's small frames.
#[inline]
pub(crate) fn first_byte(opcode: OpCode, fin: bool, rsv1: bool) -> u8 {
    let mut b0 = opcode.as_u8();
    if fin {
        b0 |= 0x80;
    }
    if rsv1 {
        b0 |= 0x40;
    }
    b0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut for small masked frames answers exactly as the full
    /// parser for every first two bytes, both roles, RSV1 allowed or not,
    /// and frame limits around its 125-byte range.
    #[test]
    fn small_masked_shortcut_agrees_with_the_full_parser() {
        for expect_masked in [true, false] {
            for allow_rsv1 in [true, false] {
                for max_payload in [0, 5, 124, 125, 126, u64::MAX] {
                    let rules = HeaderRules {
                        expect_masked,
                        allow_rsv1,
                        max_payload,
                        max_compressed_payload: deflate_allowance(max_payload),
                    };
                    for b0 in 0..=255u8 {
                        for b1 in 0..=255u8 {
                            let buf = [b0, b1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
                            for len in [2, 5, 6, 14] {
                                assert_eq!(
                                    FrameHeader::parse(&buf[..len], &rules),
                                    FrameHeader::parse_full(&buf[..len], &rules),
                                    "{b0:#x} {b1:#x} len {len} {rules:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    const SERVER: HeaderRules = HeaderRules {
        expect_masked: true,
        allow_rsv1: false,
        max_payload: 1 << 20,
        max_compressed_payload: 1 << 20,
    };
    const CLIENT: HeaderRules = HeaderRules {
        expect_masked: false,
        allow_rsv1: false,
        max_payload: 1 << 20,
        max_compressed_payload: 1 << 20,
    };

    fn parse(buf: &[u8], rules: HeaderRules) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        FrameHeader::parse(buf, &rules)
    }

    #[test]
    fn rfc_examples() {
        // A single-frame unmasked text message "Hello".
        let (h, n) = parse(&[0x81, 0x05], CLIENT).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.payload_len, h.mask, n),
            (true, OpCode::Text, 5, None, 2)
        );
        // Masked "Hello".
        let (h, n) = parse(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d], SERVER).unwrap().unwrap();
        assert_eq!((h.mask, n), (Some([0x37, 0xfa, 0x21, 0x3d]), 6));
        // 256 bytes binary in a single unmasked frame.
        let (h, n) = parse(&[0x82, 0x7e, 0x01, 0x00], CLIENT).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (256, 4));
        // 64 KiB.
        let (h, n) = parse(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0], CLIENT).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn needs_more_bytes() {
        for partial in [
            &[][..],
            &[0x81],
            &[0x82, 0x7e, 0x01],
            &[0x82, 0x7f, 0, 0, 0],
            &[0x81, 0x85, 1, 2, 3],
        ] {
            let rules = if partial.len() > 1 && partial[1] & 0x80 != 0 {
                SERVER
            } else {
                CLIENT
            };
            assert_eq!(parse(partial, rules), Ok(None), "{partial:x?}");
        }
    }

    #[test]
    fn every_violation_is_refused_with_its_reason() {
        use ProtocolError::*;
        let cases: &[(&[u8], HeaderRules, ProtocolError)] = &[
            (&[0x91, 0x00], CLIENT, ReservedBits),
            (&[0xa1, 0x00], CLIENT, ReservedBits),
            (&[0xc1, 0x00], CLIENT, ReservedBits), // RSV1 without an extension
            (&[0x83, 0x00], CLIENT, ReservedOpcode(3)),
            (&[0x8b, 0x00], CLIENT, ReservedOpcode(0xb)),
            (&[0x81, 0x00], SERVER, UnmaskedFrameFromClient),
            (&[0x81, 0x80, 0, 0, 0, 0], CLIENT, MaskedFrameFromServer),
            (&[0x09, 0x00], CLIENT, FragmentedControlFrame),
            (&[0x89, 0x7e, 0x00, 0x7e], CLIENT, ControlFrameTooLong),
            (&[0x82, 0x7e, 0x00, 0x05], CLIENT, NonMinimalLength),
            (&[0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff], CLIENT, NonMinimalLength),
            (&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0], CLIENT, LengthTopBitSet),
            (
                &[0x82, 0x7f, 0, 0, 1, 0, 0, 0, 0, 0],
                CLIENT,
                FrameTooLarge {
                    len: 1 << 40,
                    max: 1 << 20,
                },
            ),
        ];
        for (bytes, rules, want) in cases {
            assert_eq!(parse(bytes, *rules), Err(*want), "{bytes:x?}");
        }
        // RSV1 on a control frame stays an error even with compression.
        let deflate = HeaderRules {
            allow_rsv1: true,
            ..CLIENT
        };
        assert_eq!(parse(&[0xc9, 0x00], deflate), Err(ReservedBits));
        assert!(parse(&[0xc1, 0x00], deflate).unwrap().unwrap().0.rsv1);
    }

    #[test]
    fn write_then_parse_round_trips_at_length_boundaries() {
        for len in [0u64, 125, 126, 65535, 65536, 1 << 20] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let h = FrameHeader {
                    fin: true,
                    rsv1: false,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                };
                let mut buf = [0u8; MAX_HEADER_LEN];
                let n = h.encode(&mut buf);
                let out = &buf[..n];
                let rules = HeaderRules {
                    expect_masked: mask.is_some(),
                    ..CLIENT
                };
                assert_eq!(parse(out, rules).unwrap().unwrap(), (h, n));
            }
        }
    }
}
