//! The interface's types: `readyState`, the exceptions, the events and
//! what `send` takes.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::Error;

/// `readyState`, with the standard's numeric values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReadyState {
    /// 0: the connection is not yet open.
    Connecting = 0,
    /// 1: the connection is open and ready to communicate.
    Open = 1,
    /// 2: the connection is going through the closing handshake.
    Closing = 2,
    /// 3: the connection is closed or could not be opened.
    Closed = 3,
}

impl ReadyState {
    pub(super) fn from_u8(v: u8) -> ReadyState {
        match v {
            0 => ReadyState::Connecting,
            1 => ReadyState::Open,
            2 => ReadyState::Closing,
            _ => ReadyState::Closed,
        }
    }
}

/// The exceptions the standard's methods throw, named after their
/// `DOMException` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomException {
    /// `SyntaxError`: a bad URL, protocol list or close reason.
    SyntaxError(String),
    /// `InvalidStateError`: `send` while CONNECTING.
    InvalidStateError(String),
    /// `InvalidAccessError`: a close code other than 1000 or 3000–4999.
    InvalidAccessError(String),
}

impl fmt::Display for DomException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomException::SyntaxError(m) => write!(f, "SyntaxError: {m}"),
            DomException::InvalidStateError(m) => write!(f, "InvalidStateError: {m}"),
            DomException::InvalidAccessError(m) => write!(f, "InvalidAccessError: {m}"),
        }
    }
}

impl std::error::Error for DomException {}

/// A message's `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageData {
    /// A text message (`data` is a string).
    Text(String),
    /// A binary message (`data` is an `ArrayBuffer`; there is no `Blob`).
    Binary(Bytes),
}

/// The `message` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    /// The message.
    pub data: MessageData,
    /// The serialization of the URL's origin, e.g. `ws://example.com:8080`.
    pub origin: String,
}

/// The `close` event (`CloseEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseEvent {
    /// The peer's close code; 1005 if its Close had none; 1006 if no Close
    /// frame was received (abrupt loss, or the connection failed).
    pub code: u16,
    /// The peer's close reason.
    pub reason: String,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
}

/// The `error` event, with what went wrong.
#[derive(Debug, Clone)]
pub struct ErrorEvent {
    pub(super) error: Option<Arc<Error>>,
}

impl ErrorEvent {
    /// The error that failed the connection (`None` when the application's
    /// own `close()` during CONNECTING failed it).
    pub fn error(&self) -> Option<&Error> {
        self.error.as_deref()
    }
}

impl fmt::Display for ErrorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(e) => e.fmt(f),
            None => f.write_str("closed before the connection opened"),
        }
    }
}

impl PartialEq for ErrorEvent {
    /// Two error events are equal when they describe the same failure.
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for ErrorEvent {}

/// The events of a `WebSocket`, in the order the standard fires them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `open`: the handshake succeeded; always the first event of a
    /// connection that opens.
    Open,
    /// `message`.
    Message(MessageEvent),
    /// `error`: the connection failed; always followed by `Close`.
    Error(ErrorEvent),
    /// `close`: exactly one per connection, always the last event.
    Close(CloseEvent),
}

/// Data `send` accepts: strings go as text, bytes as binary.
#[derive(Debug, Clone)]
pub enum SendData {
    /// Sent as a text message.
    Text(String),
    /// Sent as a binary message.
    Binary(Bytes),
}

impl SendData {
    pub(super) fn len(&self) -> u64 {
        match self {
            SendData::Text(s) => s.len() as u64,
            SendData::Binary(b) => b.len() as u64,
        }
    }
}

impl From<&str> for SendData {
    fn from(s: &str) -> Self {
        SendData::Text(s.to_string())
    }
}
impl From<String> for SendData {
    fn from(s: String) -> Self {
        SendData::Text(s)
    }
}
impl From<&[u8]> for SendData {
    fn from(b: &[u8]) -> Self {
        SendData::Binary(Bytes::copy_from_slice(b))
    }
}
impl From<Vec<u8>> for SendData {
    fn from(b: Vec<u8>) -> Self {
        SendData::Binary(Bytes::from(b))
    }
}
impl From<Bytes> for SendData {
    fn from(b: Bytes) -> Self {
        SendData::Binary(b)
    }
}
