//! Input without copies: whole data messages handed out as borrowed slices
//! of the caller's buffer, for an I/O layer that answers each message at
//! once (an echo, a relay) and keeps nothing of it.
//!
//! [`Connection::receive`] copies every byte into the connection's read
//! buffer, splits each message off it as shared [`bytes::Bytes`] and queues
//! an event: right for an application that keeps messages, but for a
//! 20-byte message that answers at once, the copy, the shared reference
//! count and the queue cost more than the message. Here a frame that is
//! whole in the caller's buffer, unfragmented and uncompressed, is unmasked
//! where it lies and given to a callback; everything else (a partial frame,
//! a control frame, a fragment, a compressed frame, a frame the rules
//! refuse) goes, with everything after it, the usual way. The rules, the
//! limits and the order of the output are the same as on that path.

use super::Connection;
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, OpCode};
use crate::mask::apply_mask;

/// A whole data message, borrowed from the buffer passed to
/// [`Connection::receive_in_place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataRef<'a> {
    /// A text message (validated UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl DataRef<'_> {
    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            DataRef::Text(t) => t.len(),
            DataRef::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Connection {
    /// Consumes bytes from the transport like [`Connection::receive`], but
    /// hands each whole, unfragmented, uncompressed data message that lies
    /// in `data` to `on_data` as a borrowed slice, at once, instead of
    /// queueing an event: no copy into the connection, no allocation, no
    /// queue. `data` is unmasked in place, so its contents afterwards are
    /// unspecified.
    ///
    /// `on_data` gets the connection too, to answer (`send_text`,
    /// `send_binary`, `close` …). Everything else, and every byte after the
    /// first frame that is not such a message, takes the usual path:
    /// events to take with [`Connection::next_event`] afterwards. Messages
    /// are delivered in order: the callback is used only while no event is
    /// waiting, so a caller that takes the events after each call sees them
    /// in the order they came, and the output (pongs, Close replies,
    /// answers) is queued in that order too.
    ///
    /// ```
    /// use wsbolt_proto::{Connection, DataRef, Role};
    /// let mut server = Connection::new(Role::Server, Default::default());
    /// // A masked text frame "Hello" from a client (RFC 6455 §5.7).
    /// let mut read = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let mut got = Vec::new();
    /// server.receive_in_place(&mut read, |conn, msg| {
    ///     if let DataRef::Text(t) = msg {
    ///         got.push(t.to_owned());
    ///         conn.send_text(t).unwrap(); // an echo
    ///     }
    /// });
    /// assert_eq!(got, ["Hello"]);
    /// assert!(server.next_event().is_none());
    /// assert_eq!(server.output().take_all(), b"\x81\x05Hello");
    /// ```
    pub fn receive_in_place<F>(&mut self, data: &mut [u8], mut on_data: F)
    where
        F: FnMut(&mut Connection, DataRef<'_>),
    {
        if self.input_closed {
            return;
        }
        let mut pos = 0;
        // Only between messages, with nothing buffered or waiting, and with
        // no frame trace (which records on the usual path).
        if self.inbuf.is_empty()
            && self.frame.is_none()
            && self.message.is_none()
            && self.events.is_empty()
            && self.trace.is_none()
        {
            if !data.is_empty() {
                if let Some(t) = self.timers.as_mut() {
                    t.note_activity();
                }
            }
            // Checked per message: the callback may have closed the input,
            // failed the connection, or even fed it bytes of its own.
            while !self.input_closed && self.events.is_empty() && self.inbuf.is_empty() {
                match self.whole_data_frame(&data[pos..]) {
                    Some((header_len, header)) => {
                        let start = pos + header_len;
                        let end = start + header.payload_len as usize;
                        pos = end;
                        let payload = &mut data[start..end];
                        if let Some(key) = header.mask {
                            apply_mask(payload, key, 0);
                        }
                        let msg = if header.opcode == OpCode::Text {
                            match simdutf8::basic::from_utf8(payload) {
                                Ok(t) => DataRef::Text(t),
                                Err(_) => {
                                    self.fail(ProtocolError::InvalidUtf8);
                                    return;
                                }
                            }
                        } else {
                            DataRef::Binary(payload)
                        };
                        on_data(self, msg);
                    }
                    None => break,
                }
            }
        }
        if pos < data.len() {
            self.receive(&data[pos..]);
        }
    }

    /// The header length and header of the frame at the start of `buf` if
    /// it is a whole, final, uncompressed Text or Binary
    /// frame that starts a message and passes every rule; `None` for
    /// anything else (the usual path then handles it, errors included).
    #[inline]
    fn whole_data_frame(&self, buf: &[u8]) -> Option<(usize, FrameHeader)> {
        let (header, header_len) = FrameHeader::parse(buf, &self.rules).ok()??;
        if !header.fin || header.rsv1 || !matches!(header.opcode, OpCode::Text | OpCode::Binary) {
            return None;
        }
        // The usual path's sequence and size rules, from their one place.
        self.check_sequence(&header).ok()?;
        let whole = (buf.len() - header_len) as u64 >= header.payload_len;
        whole.then_some((header_len, header))
    }
}
