//! Errors the peer causes, each mapped to the close code it is answered with.

use std::fmt;

use crate::close_code::CloseCode;

/// A violation of RFC 6455 (or of a configured limit) by the peer. The core
/// answers each one with a Close frame carrying [`ProtocolError::close_code`]
/// and then expects the transport to be dropped; the application sees it as an
/// [`Event::Failed`](crate::Event::Failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV2/RSV3 set, or RSV1 without a negotiated extension or on a control frame.
    ReservedBits,
    /// Opcode 0x3–0x7 or 0xB–0xF.
    ReservedOpcode(u8),
    /// A server received a frame without a mask (§5.1).
    UnmaskedFrameFromClient,
    /// A client received a masked frame (§5.1).
    MaskedFrameFromServer,
    /// A control frame without FIN.
    FragmentedControlFrame,
    /// A control frame longer than 125 bytes.
    ControlFrameTooLong,
    /// A length that could have been encoded in fewer bytes (§5.2).
    NonMinimalLength,
    /// A 64-bit length with its most significant bit set.
    LengthTopBitSet,
    /// A frame longer than `max_frame_size`.
    FrameTooLarge {
        /// The length the header declared.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// A message longer than `max_message_size`.
    MessageTooLarge {
        /// The configured limit.
        max: u64,
    },
    /// A message in more fragments than `max_fragments`.
    TooManyFragments {
        /// The configured limit.
        max: u32,
    },
    /// A continuation frame with no message to continue.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was unfinished.
    ExpectedContinuation,
    /// A text message (or close reason) that is not valid UTF-8.
    InvalidUtf8,
    /// A Close frame with a 1-byte payload.
    InvalidClosePayload,
    /// A Close frame with a code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// A compressed message that does not inflate (permessage-deflate).
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code this error is answered with: 1009 for limits, 1007 for
    /// invalid data, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::FrameTooLarge { .. }
            | ProtocolError::MessageTooLarge { .. }
            | ProtocolError::TooManyFragments { .. } => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBits => f.write_str("reserved bits set in a frame header"),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::UnmaskedFrameFromClient => f.write_str("client sent an unmasked frame"),
            ProtocolError::MaskedFrameFromServer => f.write_str("server sent a masked frame"),
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::ControlFrameTooLong => f.write_str("control frame payload over 125 bytes"),
            ProtocolError::NonMinimalLength => f.write_str("frame length not minimally encoded"),
            ProtocolError::LengthTopBitSet => f.write_str("64-bit frame length with the top bit set"),
            ProtocolError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            ProtocolError::MessageTooLarge { max } => {
                write!(f, "message exceeds the limit of {max} bytes")
            }
            ProtocolError::TooManyFragments { max } => {
                write!(f, "message exceeds the limit of {max} fragments")
            }
            ProtocolError::UnexpectedContinuation => f.write_str("continuation frame without a message to continue"),
            ProtocolError::ExpectedContinuation => f.write_str("new data frame inside a fragmented message"),
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in a text message or close reason"),
            ProtocolError::InvalidClosePayload => f.write_str("close frame with a 1-byte payload"),
            ProtocolError::InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            ProtocolError::InvalidCompressedData => f.write_str("compressed message does not inflate"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A send the local side may not make. These are the caller's mistakes, not
/// the peer's, so they are returned and nothing is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// A Close frame was already sent (or the connection failed): nothing more
    /// may be sent.
    Closed,
    /// Close codes 1005, 1006, 1015 and codes outside 1000–4999 may not be sent.
    InvalidCloseCode(u16),
    /// A close reason over 123 bytes.
    ReasonTooLong(usize),
    /// A ping or pong payload over 125 bytes.
    ControlPayloadTooLong(usize),
    /// A fragment continued no message, or a message started before the last one ended.
    FragmentOutOfOrder,
    /// A [`PreparedMessage`](crate::PreparedMessage) holds an unmasked frame,
    /// which only a server may send.
    PreparedOnClient,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closing or closed"),
            SendError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            SendError::ReasonTooLong(n) => write!(f, "close reason of {n} bytes exceeds 123"),
            SendError::ControlPayloadTooLong(n) => {
                write!(f, "control payload of {n} bytes exceeds 125")
            }
            SendError::FragmentOutOfOrder => f.write_str("fragment sent out of order"),
            SendError::PreparedOnClient => f.write_str("prepared (unmasked) messages can only be sent by a server"),
        }
    }
}

impl std::error::Error for SendError {}
