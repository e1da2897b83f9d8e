//! The message types of `axum::extract::ws`, with the same names, variants
//! and public fields, converted to and from wsbolt's at the socket.

use bytes::Bytes;

pub use wsbolt_proto::Utf8Bytes;

/// A close status code, as a number (axum's `CloseCode`).
pub type CloseCode = u16;

/// A Close frame's code and reason, with public fields as axum's.
///
/// ```
/// use wsbolt::axum::{close_code, CloseFrame, Message, Utf8Bytes};
/// let bye = Message::Close(Some(CloseFrame {
///     code: close_code::NORMAL,
///     reason: Utf8Bytes::from_static("bye"),
/// }));
/// # drop(bye);
/// ```
///
/// Sending one checks it: a code that may not be sent (1005, 1006, 1015,
/// below 1000 …) or a reason over 123 bytes fails the send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason (at most 123 bytes when sent).
    pub reason: Utf8Bytes,
}

/// A WebSocket message, as axum's: text, binary, ping, pong or close.
///
/// Pings are answered by the connection itself; a `Pong` may be sent as a
/// one-way heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (at most 125 bytes).
    Ping(Bytes),
    /// A pong (at most 125 bytes).
    Pong(Bytes),
    /// A Close frame, with its code and reason if it had one.
    Close(Option<CloseFrame>),
}

impl Message {
    /// The payload as bytes (a Close frame's reason for `Close`).
    pub fn into_data(self) -> Bytes {
        match self {
            Message::Text(t) => t.into(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b,
            Message::Close(Some(f)) => f.reason.into(),
            Message::Close(None) => Bytes::new(),
        }
    }

    /// The payload as text.
    ///
    /// # Errors
    ///
    /// The payload of a binary, ping or pong message that is not UTF-8.
    pub fn into_text(self) -> Result<Utf8Bytes, axum_core::Error> {
        match self {
            Message::Text(t) => Ok(t),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => {
                Utf8Bytes::try_from(b).map_err(axum_core::Error::new)
            }
            Message::Close(Some(f)) => Ok(f.reason),
            Message::Close(None) => Ok(Utf8Bytes::new()),
        }
    }

    /// The payload as `&str`.
    ///
    /// # Errors
    ///
    /// As [`into_text`](Self::into_text).
    pub fn to_text(&self) -> Result<&str, axum_core::Error> {
        match self {
            Message::Text(t) => Ok(t.as_str()),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => {
                std::str::from_utf8(b).map_err(axum_core::Error::new)
            }
            Message::Close(Some(f)) => Ok(f.reason.as_str()),
            Message::Close(None) => Ok(""),
        }
    }

    /// A text message.
    pub fn text<S: Into<Utf8Bytes>>(string: S) -> Message {
        Message::Text(string.into())
    }

    /// A binary message.
    pub fn binary<B: Into<Bytes>>(bin: B) -> Message {
        Message::Binary(bin.into())
    }

    /// Whether this is a text or binary message (not a control frame).
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.into())
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message::Binary(Bytes::copy_from_slice(b))
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(v: Vec<u8>) -> Self {
        Message::Binary(v.into())
    }
}

impl From<Message> for Vec<u8> {
    fn from(m: Message) -> Vec<u8> {
        m.into_data().to_vec()
    }
}

/// From wsbolt's message (what the connection received).
impl From<crate::Message> for Message {
    fn from(m: crate::Message) -> Self {
        match m {
            crate::Message::Text(t) => Message::Text(t),
            crate::Message::Binary(b) => Message::Binary(b),
            crate::Message::Ping(b) => Message::Ping(b),
            crate::Message::Pong(b) => Message::Pong(b),
            crate::Message::Close(f) => Message::Close(f.map(|f| CloseFrame {
                code: f.code().as_u16(),
                reason: Utf8Bytes::from(f.reason()),
            })),
        }
    }
}

/// To wsbolt's message (what the connection sends).
///
/// # Errors
///
/// A Close frame whose code may not be sent or whose reason is too long.
impl TryFrom<Message> for crate::Message {
    type Error = crate::Error;
    fn try_from(m: Message) -> Result<Self, crate::Error> {
        Ok(match m {
            Message::Text(t) => crate::Message::Text(t),
            Message::Binary(b) => crate::Message::Binary(b),
            Message::Ping(b) => crate::Message::Ping(b),
            Message::Pong(b) => crate::Message::Pong(b),
            Message::Close(None) => crate::Message::Close(None),
            Message::Close(Some(f)) => crate::Message::Close(Some(crate::CloseFrame::new(f.code, f.reason)?)),
        })
    }
}

/// The close codes as axum names them (RFC 6455 §7.4.1 and the IANA
/// registry).
pub mod close_code {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: u16 = 1000;
    /// 1001: the endpoint is going away (server shutdown, page left).
    pub const AWAY: u16 = 1001;
    /// 1002: a protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// 1003: a kind of data the endpoint cannot accept.
    pub const UNSUPPORTED: u16 = 1003;
    /// 1005: no status code was present (never sent).
    pub const STATUS: u16 = 1005;
    /// 1006: the connection ended without a Close frame (never sent).
    pub const ABNORMAL: u16 = 1006;
    /// 1007: data inconsistent with the message type (text not UTF-8).
    pub const INVALID: u16 = 1007;
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY: u16 = 1008;
    /// 1009: a message too big to process.
    pub const SIZE: u16 = 1009;
    /// 1010: the client expected an extension the server did not negotiate.
    pub const EXTENSION: u16 = 1010;
    /// 1011: the server met an unexpected condition.
    pub const ERROR: u16 = 1011;
    /// 1012: the server is restarting.
    pub const RESTART: u16 = 1012;
    /// 1013: try again later (overload).
    pub const AGAIN: u16 = 1013;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_convert_both_ways() {
        let all = [
            Message::text("héllo"),
            Message::binary(vec![0u8, 255]),
            Message::Ping(Bytes::from_static(b"p")),
            Message::Pong(Bytes::new()),
            Message::Close(None),
            Message::Close(Some(CloseFrame {
                code: close_code::AWAY,
                reason: "bye".into(),
            })),
        ];
        for m in all {
            let ours = crate::Message::try_from(m.clone()).unwrap();
            assert_eq!(Message::from(ours), m);
        }
        let bad = Message::Close(Some(CloseFrame {
            code: close_code::ABNORMAL,
            reason: Utf8Bytes::new(),
        }));
        assert!(crate::Message::try_from(bad).is_err(), "1006 may not be sent");
    }

    #[test]
    fn payload_helpers_as_axum() {
        assert_eq!(Message::from("a").to_text().unwrap(), "a");
        assert_eq!(Message::from(&b"b"[..]).into_text().unwrap(), "b");
        assert!(Message::binary(vec![0xff]).into_text().is_err());
        assert_eq!(Vec::<u8>::from(Message::from("xy")), b"xy");
        assert_eq!(Message::Close(None).into_data(), Bytes::new());
    }
}
