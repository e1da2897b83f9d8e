//! Messages as the application sends and receives them.

use bytes::Bytes;

use crate::close::CloseFrame;
pub use crate::utf8bytes::Utf8Bytes;

/// A message as the application sends and receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (received pings are answered automatically).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A Close frame: `None` when it carried no status.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<Utf8Bytes>) -> Self {
        Message::Text(s.into())
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Message::Binary(b.into())
    }

    /// The payload length in bytes (for Close, the encoded payload).
    pub fn len(&self) -> usize {
        match self {
            Message::Text(t) => t.len(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
            Message::Close(c) => c.as_ref().map_or(0, |c| 2 + c.reason().len()),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a data message (text or binary), as opposed to a
    /// control message (ping, pong, close).
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_of_every_constructor() {
        assert_eq!(Utf8Bytes::from("a€").as_str(), "a€");
        assert_eq!(Utf8Bytes::from(String::from("𝄞")).as_str(), "𝄞");
        assert_eq!(Utf8Bytes::from_static("x").as_str(), "x");
        assert_eq!(
            Utf8Bytes::try_from(Bytes::from_static("κ".as_bytes()))
                .unwrap()
                .as_str(),
            "κ"
        );
        assert!(Utf8Bytes::try_from(Bytes::from_static(&[0xce])).is_err());
    }
}
