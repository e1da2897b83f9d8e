//! Messages framed once and sent on many server connections (broadcast).

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};

use crate::deflate::pool;

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
///
/// With permessage-deflate, a connection sends the message compressed: the
/// compressed frame is made once per compression window (by the first
/// connection that needs it, at that connection's level) and shared by all
/// (a message compressed without history inflates the same for every
/// peer). A connection that keeps its compression context then takes the
/// message into its compressor's window without compressing it again, as
/// the peer's inflater does (when it next compresses a message of its own).
/// Messages shorter than the connection's
/// threshold, or that do not get smaller, go out as the plain frame.
#[derive(Clone)]
pub struct PreparedMessage {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    frame: Bytes,
    header_len: usize,
    opcode: OpCode,
    payload_len: usize,
    /// The compressed frame per window (9–15 bits), made on first use;
    /// `None` inside when compression did not make it smaller.
    compressed: [OnceLock<Option<Bytes>>; 7],
}

impl std::fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("opcode", &self.inner.opcode)
            .field("payload_len", &self.inner.payload_len)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PreparedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.inner.frame == other.inner.frame
    }
}

impl Eq for PreparedMessage {}

impl PreparedMessage {
    /// Frames a text or binary message; `None` for control messages.
    pub fn new(msg: &Message) -> Option<PreparedMessage> {
        let (opcode, payload): (OpCode, &[u8]) = match msg {
            Message::Text(t) => (OpCode::Text, t.as_bytes()),
            Message::Binary(b) => (OpCode::Binary, b),
            _ => return None,
        };
        let (hbuf, hlen) = header(opcode, false, payload.len());
        let mut frame = BytesMut::with_capacity(hlen + payload.len());
        frame.extend_from_slice(&hbuf[..hlen]);
        frame.extend_from_slice(payload);
        Some(PreparedMessage {
            inner: std::sync::Arc::new(Inner {
                frame: frame.freeze(),
                header_len: hlen,
                opcode,
                payload_len: payload.len(),
                compressed: Default::default(),
            }),
        })
    }

    /// The payload, without the frame header.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.inner.frame[self.inner.header_len..]
    }

    /// The payload, shared.
    pub(crate) fn payload_bytes(&self) -> Bytes {
        self.inner.frame.slice(self.inner.header_len..)
    }

    /// The message compressed without history with a `window_bits` window,
    /// framed with RSV1: made by the first caller for that window, shared
    /// after. `None` if compressing did not make it smaller.
    pub(crate) fn compressed_frame(&self, window_bits: u8, level: u32, mem_level: u8) -> Option<&Bytes> {
        let bits = window_bits.clamp(9, 15);
        self.inner.compressed[usize::from(bits - 9)]
            .get_or_init(|| {
                let mut c = pool::take_compressor(level, bits, mem_level);
                let mut out = pool::take_scratch();
                c.compress(self.payload(), true, &mut out);
                pool::give_compressor(c);
                let frame = (out.len() < self.inner.payload_len).then(|| {
                    let (hbuf, hlen) = header(self.inner.opcode, true, out.len());
                    let mut frame = BytesMut::with_capacity(hlen + out.len());
                    frame.extend_from_slice(&hbuf[..hlen]);
                    frame.extend_from_slice(&out);
                    frame.freeze()
                });
                pool::put_scratch(out);
                frame
            })
            .as_ref()
    }

    /// The message's payload length (what `bufferedAmount`-style counters use).
    pub fn len(&self) -> usize {
        self.inner.payload_len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.payload_len == 0
    }

    /// The encoded frame, header included.
    pub fn frame(&self) -> &Bytes {
        &self.inner.frame
    }
}

/// An unmasked, final frame header.
fn header(opcode: OpCode, rsv1: bool, len: usize) -> ([u8; MAX_HEADER_LEN], usize) {
    let header = FrameHeader {
        fin: true,
        rsv1,
        opcode,
        mask: None,
        payload_len: len as u64,
    };
    let mut hbuf = [0u8; MAX_HEADER_LEN];
    let hlen = header.encode(&mut hbuf);
    (hbuf, hlen)
}
