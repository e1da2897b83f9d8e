//! Close codes and Close frame payloads (RFC 6455 §5.5.1, §7.4).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, SendError};
use crate::message::Utf8Bytes;
use crate::utf8;

/// A close status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reported locally when the Close frame had no status. Never sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: reported locally when no Close frame arrived. Never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with its type (invalid UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: message too big.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: unexpected condition on the server.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: service restart.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1015: reported locally when the TLS handshake failed. Never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a Close frame on the wire: 1000–1003,
    /// 1007–1014 (registered with IANA) and 3000–4999 (libraries and
    /// applications). 1004–1006, 1015 and every other value are refused.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(v: u16) -> Self {
        CloseCode(v)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The largest close reason: 125 bytes of control payload less the code.
pub const MAX_REASON_LEN: usize = 123;

/// A Close frame's status code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, valid UTF-8 of at most 123 bytes.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// A Close frame after checking that the code may be sent and the reason fits.
    pub fn new(code: impl Into<CloseCode>, reason: impl Into<Utf8Bytes>) -> Result<Self, SendError> {
        let code = code.into();
        let reason = reason.into();
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(SendError::ReasonTooLong(reason.len()));
        }
        Ok(CloseFrame { code, reason })
    }

    /// Parses a received Close payload: `None` for an empty one (reported as
    /// 1005), an error for 1 byte, more than a control frame's 125 bytes, an
    /// invalid code or a reason that is not UTF-8.
    pub fn parse(payload: &Bytes) -> Result<Option<CloseFrame>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            1 | 126.. => Err(ProtocolError::InvalidClosePayload),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = payload.slice(2..);
                utf8::validate(&reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(CloseFrame {
                    code,
                    reason: Utf8Bytes::from_validated(reason),
                }))
            }
        }
    }

    /// The frame's payload bytes.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(2 + self.reason.len());
        b.put_u16(self.code.0);
        b.put_slice(self.reason.as_bytes());
        b.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_of_every_code() {
        for code in 0..=u16::MAX {
            let want = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(CloseCode(code).is_valid_on_wire(), want, "{code}");
        }
    }

    #[test]
    fn parse_payloads() {
        assert_eq!(CloseFrame::parse(&Bytes::new()), Ok(None));
        assert_eq!(
            CloseFrame::parse(&Bytes::from_static(&[3])),
            Err(ProtocolError::InvalidClosePayload)
        );
        for bad in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            let p = Bytes::copy_from_slice(&bad.to_be_bytes());
            assert_eq!(CloseFrame::parse(&p), Err(ProtocolError::InvalidCloseCode(bad)));
        }
        let p = Bytes::from_static(&[0x03, 0xe8, b'b', b'y', b'e']);
        let f = CloseFrame::parse(&p).unwrap().unwrap();
        assert_eq!((f.code, f.reason.as_str()), (CloseCode::NORMAL, "bye"));
        let p = Bytes::from_static(&[0x03, 0xe8, 0xce, 0xba, 0xe1, 0xbd]);
        assert_eq!(CloseFrame::parse(&p), Err(ProtocolError::InvalidUtf8));
        // Found by the close_frame fuzz target: a payload longer than a
        // control frame may carry is refused, not parsed into a reason that
        // `encode` could not send back.
        let mut long = vec![0x03, 0xe8];
        long.extend_from_slice(&[b'q'; 124]);
        assert_eq!(
            CloseFrame::parse(&Bytes::from(long)),
            Err(ProtocolError::InvalidClosePayload)
        );
    }

    #[test]
    fn new_refuses_what_may_not_be_sent() {
        assert_eq!(CloseFrame::new(1005u16, ""), Err(SendError::InvalidCloseCode(1005)));
        assert_eq!(
            CloseFrame::new(1000u16, "x".repeat(124)),
            Err(SendError::ReasonTooLong(124))
        );
        let f = CloseFrame::new(4000u16, "x".repeat(123)).unwrap();
        assert_eq!(f.encode().len(), 125);
    }
}
