//! Commands: the send family, and framing into the output.

use bytes::Bytes;

use super::{Connection, Role};
use crate::error::SendError;
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::message::Message;
use crate::outbuf::SHARE_THRESHOLD;
use crate::prepared::PreparedMessage;

impl Connection {
    /// Queues a text message.
    ///
    /// # Errors
    ///
    /// As [`Connection::send`].
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_data(OpCode::Text, text.as_bytes(), None, true)
    }

    /// Queues a binary message.
    ///
    /// # Errors
    ///
    /// As [`Connection::send`].
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_data(OpCode::Binary, data, None, true)
    }

    /// Queues a message (a Close message starts the closing handshake).
    /// With permessage-deflate, data messages at or above the threshold are
    /// compressed. Large payloads are queued by reference when no masking or
    /// compression is needed.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] after a Close was sent;
    /// [`SendError::FragmentOutOfOrder`] while a fragmented message is being
    /// sent; [`SendError::ControlPayloadTooLong`] for a ping or pong over 125
    /// bytes.
    pub fn send(&mut self, msg: Message) -> Result<(), SendError> {
        self.send_with(msg, true)
    }

    /// Like [`Connection::send`], with per-message control of compression
    /// (`compress = false` sends this message uncompressed).
    ///
    /// # Errors
    ///
    /// As [`Connection::send`].
    pub fn send_with(&mut self, msg: Message, compress: bool) -> Result<(), SendError> {
        match msg {
            Message::Text(t) => {
                let b = t.into_bytes();
                self.send_data(OpCode::Text, &b, Some(&b), compress)
            }
            Message::Binary(b) => self.send_data(OpCode::Binary, &b, Some(&b), compress),
            Message::Ping(p) => self.ping(&p),
            Message::Pong(p) => self.pong(&p),
            Message::Close(frame) => self.close(frame),
        }
    }

    fn send_data(
        &mut self,
        opcode: OpCode,
        data: &[u8],
        shared: Option<&Bytes>,
        compress: bool,
    ) -> Result<(), SendError> {
        if self.close_sent() {
            return Err(SendError::Closed);
        }
        if self.sending.is_some() {
            return Err(SendError::FragmentOutOfOrder);
        }
        // The `deflate` check first keeps the uncompressed path free of a call.
        if compress && self.deflate.is_some() && self.try_send_compressed(opcode, data, true, true) {
            return Ok(());
        }
        match shared {
            Some(b) if b.len() >= SHARE_THRESHOLD && self.role == Role::Server => self.write_shared(opcode, b.clone()),
            _ => self.write_frame(opcode, true, data),
        }
        Ok(())
    }

    /// Queues a message framed once by [`PreparedMessage::new`], by
    /// reference (no copy): for sending one message to many connections.
    /// With permessage-deflate it goes compressed, compressed once for all
    /// connections with the same window ([`PreparedMessage`] says how).
    /// Servers only.
    ///
    /// # Errors
    ///
    /// [`SendError::PreparedOnClient`] on a client; otherwise as
    /// [`Connection::send`].
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), SendError> {
        if self.role != Role::Server {
            return Err(SendError::PreparedOnClient);
        }
        if self.close_sent() {
            return Err(SendError::Closed);
        }
        if self.sending.is_some() {
            return Err(SendError::FragmentOutOfOrder);
        }
        if self.trace.is_some() {
            self.record_sent_framed(prepared.frame());
        }
        let frame = self
            .prepared_compressed(prepared)
            .unwrap_or_else(|| prepared.frame().clone());
        self.out.push_shared(frame);
        Ok(())
    }

    /// Queues one fragment of a message sent in pieces: the first with
    /// `OpCode::Text` or `OpCode::Binary`, the rest with
    /// `OpCode::Continuation`; `fin` on the last. With permessage-deflate the
    /// whole message is compressed (its size is not known up front).
    ///
    /// # Errors
    ///
    /// [`SendError::FragmentOutOfOrder`] for a continuation with no message
    /// under way or a new message while one is; [`SendError::Closed`].
    pub fn send_fragment(&mut self, opcode: OpCode, data: &[u8], fin: bool) -> Result<(), SendError> {
        if self.close_sent() {
            return Err(SendError::Closed);
        }
        let first = match (opcode, self.sending) {
            (OpCode::Text | OpCode::Binary, None) => {
                self.sending = Some(opcode);
                self.sending_compressed = self.deflate.as_ref().is_some_and(|d| d.compress_bits.is_some());
                true
            }
            (OpCode::Continuation, Some(_)) => false,
            _ => return Err(SendError::FragmentOutOfOrder),
        };
        if fin {
            self.sending = None;
        }
        if self.sending_compressed && self.try_send_compressed(opcode, data, first, fin) {
            return Ok(());
        }
        self.write_frame(opcode, fin, data);
        Ok(())
    }

    /// Queues a ping.
    ///
    /// # Errors
    ///
    /// [`SendError::ControlPayloadTooLong`] over 125 bytes; [`SendError::Closed`].
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues a pong (an unsolicited one serves as a heartbeat).
    ///
    /// # Errors
    ///
    /// As [`Connection::ping`].
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if self.close_sent() {
            return Err(SendError::Closed);
        }
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        self.write_frame(opcode, true, payload);
        Ok(())
    }

    /// Frames `payload` into the output, copying (and masking, for a client).
    pub(super) fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.write_frame_rsv(opcode, fin, false, payload);
    }

    pub(super) fn write_frame_rsv(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: &[u8]) {
        if self.trace.is_some() {
            self.record_sent(opcode, fin, rsv1, payload);
        }
        if self.rng.is_none() && payload.len() < 126 {
            // A server's small frame (the most common): two header bytes,
            // no mask; what `FrameHeader::encode` writes for it.
            let b0 = crate::frame::first_byte(opcode, fin, rsv1);
            let tail = self.out.tail_mut();
            tail.reserve(2 + payload.len());
            tail.extend_from_slice(&[b0, payload.len() as u8]);
            tail.extend_from_slice(payload);
            self.out.note_appended(2 + payload.len());
            return;
        }
        let mask = self.rng.as_mut().map(|r| rand::Rng::random(&mut **r));
        let header = FrameHeader {
            fin,
            rsv1,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut hbuf = [0u8; MAX_HEADER_LEN];
        let hlen = header.encode(&mut hbuf);
        let tail = self.out.tail_mut();
        tail.reserve(hlen + payload.len());
        tail.extend_from_slice(&hbuf[..hlen]);
        let start = tail.len();
        tail.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut tail[start..], key, 0);
        }
        self.out.note_appended(hlen + payload.len());
    }

    /// Frames a large unmasked payload by reference: header copied, payload shared.
    fn write_shared(&mut self, opcode: OpCode, payload: Bytes) {
        if self.trace.is_some() {
            self.record_sent(opcode, true, false, &payload);
        }
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let mut hbuf = [0u8; MAX_HEADER_LEN];
        let hlen = header.encode(&mut hbuf);
        self.out.tail_mut().extend_from_slice(&hbuf[..hlen]);
        self.out.note_appended(hlen);
        self.out.push_shared(payload);
    }
}
