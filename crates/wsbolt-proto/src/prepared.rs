//! Messages framed once and sent on many server connections (broadcast).

use bytes::{Bytes, BytesMut};

use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::message::Message;

/// A data message already encoded as one unmasked, uncompressed frame, to
/// be queued on any number of server connections with
/// [`Connection::send_prepared`](crate::Connection::send_prepared): each
/// connection takes a reference to the same bytes, so a broadcast to 10,000
/// connections frames (and allocates) the message once.
///
/// Only servers send unmasked frames; a client must mask each frame with its
/// own key, so clients cannot use prepared messages.
///
/// ```
/// use wsbolt_proto::{Config, Connection, Message, PreparedMessage, Role};
/// let prepared = PreparedMessage::new(&Message::text("to everyone")).unwrap();
/// let mut a = Connection::new(Role::Server, Config::default());
/// let mut b = Connection::new(Role::Server, Config::default());
/// a.send_prepared(&prepared).unwrap();
/// b.send_prepared(&prepared).unwrap();
/// assert_eq!(a.output().take_all(), b.output().take_all());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMessage {
    frame: Bytes,
    payload_len: usize,
}

impl PreparedMessage {
    /// Frames a text or binary message; `None` for control messages.
    pub fn new(msg: &Message) -> Option<PreparedMessage> {
        let (opcode, payload): (OpCode, &[u8]) = match msg {
            Message::Text(t) => (OpCode::Text, t.as_bytes()),
            Message::Binary(b) => (OpCode::Binary, b),
            _ => return None,
        };
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let mut hbuf = [0u8; MAX_HEADER_LEN];
        let hlen = header.encode(&mut hbuf);
        let mut frame = BytesMut::with_capacity(hlen + payload.len());
        frame.extend_from_slice(&hbuf[..hlen]);
        frame.extend_from_slice(payload);
        Some(PreparedMessage {
            frame: frame.freeze(),
            payload_len: payload.len(),
        })
    }

    /// The message's payload length (what `bufferedAmount`-style counters use).
    pub fn len(&self) -> usize {
        self.payload_len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload_len == 0
    }

    /// The encoded frame, header included.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}
