//! Input: frame parsing, unmasking, UTF-8 validation and message assembly.

use bytes::{Buf, Bytes, BytesMut};

use super::{Connection, Event};
use crate::close::CloseFrame;
use crate::error::ProtocolError;
use crate::frame::{deflate_allowance, FrameHeader, OpCode};
use crate::mask::apply_mask;
use crate::message::Utf8Bytes;
use crate::outbuf::KEEP_DRAINED;

/// The frame being received.
#[derive(Debug)]
pub(super) struct InFrame {
    header: FrameHeader,
    /// 2 to 14 bytes.
    header_len: u8,
    /// Payload bytes already unmasked and validated, still in the read buffer.
    done: usize,
    /// Whether this frame's payload is text to validate as it arrives.
    validate_text: bool,
}

/// A fragmented (or compressed) message being assembled.
#[derive(Debug)]
pub(super) struct InMessage {
    pub(super) opcode: OpCode,
    /// The payload so far (inflated, for a compressed message).
    pub(super) buf: Vec<u8>,
    fragments: u32,
    /// RSV1 was set on the first frame (permessage-deflate).
    pub(super) compressed: bool,
    /// Payload bytes as received (compressed size, for a compressed message).
    wire_len: u64,
}

impl Connection {
    /// Consumes bytes from the transport (any split) and queues the events
    /// they complete.
    pub fn receive(&mut self, data: &[u8]) {
        if self.input_closed {
            return;
        }
        self.inbuf.extend_from_slice(data);
        self.process();
    }

    /// The read buffer, for transports that read into it directly; call
    /// [`Connection::process`] after adding bytes. Reserve space as needed:
    /// [`Connection::read_hint`] says how much the current frame still needs.
    pub fn read_buffer(&mut self) -> &mut BytesMut {
        &mut self.inbuf
    }

    /// How many more bytes would complete the frame being received (0 when
    /// between frames), to size the next read.
    pub fn read_hint(&self) -> usize {
        match &self.frame {
            Some(f) => (usize::from(f.header_len) + f.header.payload_len as usize).saturating_sub(self.inbuf.len()),
            None => 0,
        }
    }

    /// Whether the connection still wants bytes from the transport.
    pub fn wants_input(&self) -> bool {
        !self.input_closed
    }

    /// Processes bytes added through [`Connection::read_buffer`].
    pub fn process(&mut self) {
        if self.input_closed {
            self.inbuf.clear();
            return;
        }
        // The bytes being processed live in an allocation at least this large.
        let held = self.inbuf.capacity();
        if !self.inbuf.is_empty() {
            if let Some(t) = self.timers.as_mut() {
                t.note_activity();
            }
        }
        while !self.input_closed {
            match self.step() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => self.fail(e),
            }
        }
        if self.input_closed || (self.inbuf.is_empty() && held > KEEP_DRAINED) {
            // Nothing more will be read, or a large buffer was consumed: hold
            // none between frames (what is left of the allocation belongs to
            // the messages handed out). A small one is kept: the next read
            // reuses it once those messages are dropped. An emptied
            // `BytesMut` may report no capacity and still share the whole
            // allocation, so this is judged by the size it had.
            self.inbuf = BytesMut::new();
        }
    }

    /// Parses and handles at most one frame. `Ok(false)`: more bytes needed.
    fn step(&mut self) -> Result<bool, ProtocolError> {
        if self.frame.is_none() {
            // A continuation of a compressed message carries no RSV1 but is
            // compressed too: it gets the compressed allowance.
            let mut rules = self.rules;
            if self.message.as_ref().is_some_and(|m| m.compressed) {
                rules.max_payload = rules.max_compressed_payload;
            }
            let Some((header, header_len)) = FrameHeader::parse(&self.inbuf, &rules)? else {
                return Ok(false);
            };
            let validate_text = self.check_sequence(&header)?;
            if self.inbuf.len() - header_len >= header.payload_len as usize {
                // The whole frame is here (small frames, the usual case):
                // handled at once, without state kept between reads.
                self.finish_frame(header, header_len, 0, validate_text)?;
                return Ok(true);
            }
            self.frame = Some(InFrame {
                header,
                header_len: header_len as u8,
                done: 0,
                validate_text,
            });
        }
        let frame = self.frame.as_mut().expect("set above");
        let len = frame.header.payload_len as usize;
        let header_len = usize::from(frame.header_len);
        let available = (self.inbuf.len() - header_len).min(len);
        if available > frame.done {
            let piece = &mut self.inbuf[header_len + frame.done..header_len + available];
            if let Some(key) = frame.header.mask {
                apply_mask(piece, key, frame.done);
            }
            if frame.validate_text {
                self.utf8.feed(piece).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            frame.done = available;
        }
        if frame.done < len {
            return Ok(false);
        }
        let InFrame { header, header_len, .. } = self.frame.take().expect("set above");
        self.finish_frame(header, usize::from(header_len), len, false)?;
        Ok(true)
    }

    /// Unmasks (and validates, for text) the frame's payload from `done`
    /// on, takes the frame off the read buffer and handles it. The whole
    /// frame is in the buffer.
    #[inline(always)]
    fn finish_frame(
        &mut self,
        header: FrameHeader,
        header_len: usize,
        done: usize,
        validate_text: bool,
    ) -> Result<(), ProtocolError> {
        let len = header.payload_len as usize;
        if done < len {
            let piece = &mut self.inbuf[header_len + done..header_len + len];
            if let Some(key) = header.mask {
                apply_mask(piece, key, done);
            }
            if validate_text {
                self.utf8.feed(piece).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        // One split for header and payload, then a pointer bump past the
        // header on the frozen bytes: cheaper than advancing the BytesMut
        // and splitting again (two updates of its shared state).
        let mut payload = self.inbuf.split_to(header_len + len).freeze();
        payload.advance(header_len);
        if self.trace.is_some() {
            return self.handle_frame_traced(header, payload);
        }
        self.handle_frame(header, payload)
    }

    /// Checks a data frame's place in the message sequence and the limits,
    /// before any of its payload is buffered. Returns whether its payload is
    /// text to validate as it arrives (compressed text is validated after
    /// inflating).
    pub(super) fn check_sequence(&self, h: &FrameHeader) -> Result<bool, ProtocolError> {
        let max_msg = self.config.max_message_size as u64;
        match (h.opcode, &self.message) {
            (OpCode::Continuation, None) => Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => Err(ProtocolError::ExpectedContinuation),
            (OpCode::Continuation, Some(m)) => {
                if h.rsv1 {
                    // RSV1 marks a compressed message on its first frame only (RFC 7692 §6.1).
                    return Err(ProtocolError::ReservedBits);
                }
                // The limit is on message bytes: a compressed message is
                // checked after inflation, chunk by chunk; its compressed
                // bytes only get deflate's worst-case allowance.
                let too_large = if m.compressed {
                    m.wire_len + h.payload_len > deflate_allowance(max_msg)
                } else {
                    m.buf.len() as u64 + h.payload_len > max_msg
                };
                if too_large {
                    return Err(ProtocolError::MessageTooLarge { max: max_msg });
                }
                if m.fragments >= self.config.max_fragments {
                    return Err(ProtocolError::TooManyFragments {
                        max: self.config.max_fragments,
                    });
                }
                Ok(m.opcode == OpCode::Text && !m.compressed)
            }
            (OpCode::Text | OpCode::Binary, None) => {
                let max = if h.rsv1 { deflate_allowance(max_msg) } else { max_msg };
                if h.payload_len > max {
                    return Err(ProtocolError::MessageTooLarge { max: max_msg });
                }
                Ok(h.opcode == OpCode::Text && !h.rsv1)
            }
            _ => Ok(false),
        }
    }

    // Inlined into `step` (its hot caller); the traced path calls it too.
    #[inline(always)]
    pub(super) fn handle_frame(&mut self, h: FrameHeader, payload: Bytes) -> Result<(), ProtocolError> {
        match h.opcode {
            OpCode::Text | OpCode::Binary if h.fin && !h.rsv1 => {
                // The common case: a whole message in one frame, handed out
                // as a slice of the read buffer.
                let event = self.finish_message(h.opcode, payload)?;
                self.emit_data(event);
            }
            OpCode::Text | OpCode::Binary => {
                let m = InMessage {
                    opcode: h.opcode,
                    buf: Vec::new(),
                    fragments: 1,
                    compressed: h.rsv1,
                    wire_len: payload.len() as u64,
                };
                self.continue_message(m, &payload, h.fin)?;
            }
            OpCode::Continuation => {
                let mut m = *self.message.take().expect("checked in check_sequence");
                m.fragments += 1;
                m.wire_len += payload.len() as u64;
                self.continue_message(m, &payload, h.fin)?;
            }
            OpCode::Ping => self.events.push_back(Event::Ping(payload)),
            OpCode::Pong => {
                // The keepalive's own pongs stay inside the connection.
                if !self.timers.as_mut().is_some_and(|t| t.take_keepalive_pong(&payload)) {
                    self.events.push_back(Event::Pong(payload));
                }
            }
            OpCode::Close => {
                let frame = CloseFrame::parse(&payload)?;
                self.handle_close(frame);
            }
        }
        Ok(())
    }

    /// Adds a frame's payload to a message being assembled (inflating it if
    /// compressed) and completes the message on `fin`.
    fn continue_message(&mut self, mut m: InMessage, payload: &[u8], fin: bool) -> Result<(), ProtocolError> {
        if m.compressed {
            self.inflate_piece(&mut m, payload, fin)?;
        } else {
            grow_within(&mut m.buf, payload.len(), self.config.max_message_size);
            m.buf.extend_from_slice(payload);
        }
        if fin {
            let event = self.finish_message(m.opcode, Bytes::from(m.buf))?;
            self.emit_data(event);
        } else {
            self.message = Some(Box::new(m));
        }
        Ok(())
    }

    fn finish_message(&mut self, opcode: OpCode, payload: Bytes) -> Result<Event, ProtocolError> {
        Ok(if opcode == OpCode::Text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            Event::Text(Utf8Bytes::from_validated(payload))
        } else {
            Event::Binary(payload)
        })
    }

    fn emit_data(&mut self, event: Event) {
        // Data that arrives after we sent a Close (the peer had it in flight,
        // RFC 6455 §7.1.2) is still delivered: replies to requests sent
        // before closing are not lost. Nothing is read after the peer's Close.
        self.events.push_back(event);
    }
}

/// Reserves room for `extra` more bytes with doubling growth, but never past
/// `max` (the message limit, already checked against the total), so a
/// message's buffer stays within its limit.
fn grow_within(buf: &mut Vec<u8>, extra: usize, max: usize) {
    let need = buf.len() + extra;
    if need > buf.capacity() {
        let target = (buf.capacity() * 2).max(need).min(max.max(need));
        buf.reserve_exact(target - buf.len());
    }
}
