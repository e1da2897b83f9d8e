//! [`CloseCode`]: close status codes (RFC 6455 §7.4). A module of its own,
//! so that errors can name the code they close with without depending on
//! Close frames.

use std::fmt;

/// A close status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

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

    /// A code from its number (any value; see [`CloseCode::is_valid_on_wire`]).
    pub const fn new(code: u16) -> Self {
        CloseCode(code)
    }

    /// The code's number.
    pub const fn as_u16(self) -> u16 {
        self.0
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

impl PartialEq<u16> for CloseCode {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl PartialEq<CloseCode> for u16 {
    fn eq(&self, other: &CloseCode) -> bool {
        *self == other.0
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
    fn compares_with_u16_both_ways() {
        assert_eq!(CloseCode::NORMAL, 1000);
        assert_eq!(1011, CloseCode::INTERNAL_ERROR);
        assert_ne!(CloseCode::from(4000), 4001);
    }
}
