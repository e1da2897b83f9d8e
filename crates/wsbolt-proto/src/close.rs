//! Close codes and Close frame payloads (RFC 6455 §5.5.1, §7.4).

use bytes::{BufMut, Bytes, BytesMut};

pub use crate::close_code::CloseCode;
use crate::error::{ProtocolError, SendError};
use crate::utf8;
use crate::utf8bytes::Utf8Bytes;

/// The largest close reason: 125 bytes of control payload less the code.
pub const MAX_REASON_LEN: usize = 123;

/// A Close frame's status code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    code: CloseCode,
    /// Valid UTF-8 of at most 123 bytes.
    reason: Utf8Bytes,
}

impl CloseFrame {
    /// A Close frame after checking that the code may be sent and the reason fits.
    pub fn new(code: impl Into<CloseCode>, reason: impl Into<Utf8Bytes>) -> Result<Self, SendError> {
        let code = code.into();
        let reason = reason.into();
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode(code.as_u16()));
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
                let code = CloseCode::new(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.as_u16()));
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

    /// The status code.
    pub fn code(&self) -> CloseCode {
        self.code
    }

    /// The reason (at most 123 bytes).
    pub fn reason(&self) -> &str {
        self.reason.as_str()
    }

    pub(crate) fn reason_bytes(&self) -> &Utf8Bytes {
        &self.reason
    }

    /// A Close without a status, as [`CloseStatus`](crate::CloseStatus)
    /// records it: 1005, which is never sent.
    pub(crate) fn no_status() -> Self {
        CloseFrame {
            code: CloseCode::NO_STATUS,
            reason: Utf8Bytes::new(),
        }
    }

    /// A frame from parts the caller has checked.
    pub(crate) fn from_parts(code: CloseCode, reason: Utf8Bytes) -> Self {
        CloseFrame { code, reason }
    }

    /// The frame's payload bytes.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(2 + self.reason.len());
        b.put_u16(self.code.as_u16());
        b.put_slice(self.reason.as_bytes());
        b.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
