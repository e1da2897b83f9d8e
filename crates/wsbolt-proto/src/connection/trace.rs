//! The frame trace: one record per frame received or sent, for tools that
//! show what the protocol does (`wsbolt connect --trace`). Off by default;
//! while off it costs one pointer and one branch per frame.

use std::collections::VecDeque;

use super::{Connection, Event};
use crate::frame::{FrameHeader, HeaderRules, OpCode};

/// How many records wait to be taken before the oldest are dropped.
pub const MAX_FRAME_RECORDS: usize = 1024;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the peer.
    Received,
    /// To the peer.
    Sent,
}

/// One frame as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRecord {
    /// Which way it went.
    pub direction: Direction,
    /// Its opcode.
    pub opcode: OpCode,
    /// The FIN bit.
    pub fin: bool,
    /// The RSV1 bit (permessage-deflate: the message is compressed).
    pub rsv1: bool,
    /// Payload bytes on the wire.
    pub wire_len: u64,
    /// Payload bytes of message data it carried: after inflating for a
    /// compressed message's frames (before deflating, when sent); the same
    /// as `wire_len` otherwise.
    pub data_len: u64,
    /// For a Close frame with a status: its code and reason.
    pub close: Option<(u16, String)>,
}

#[derive(Debug, Default)]
pub(super) struct FrameTrace {
    records: VecDeque<FrameRecord>,
    dropped: u64,
}

impl Connection {
    /// Turns the frame trace on or off (off by default). While on, every
    /// frame received or sent leaves a [`FrameRecord`] to take with
    /// [`next_frame_record`](Connection::next_frame_record); at most
    /// [`MAX_FRAME_RECORDS`] wait, the oldest dropped beyond that.
    pub fn set_frame_trace(&mut self, on: bool) {
        self.trace = on.then(Box::default);
    }

    /// The oldest frame record not yet taken.
    pub fn next_frame_record(&mut self) -> Option<FrameRecord> {
        self.trace.as_mut()?.records.pop_front()
    }

    /// How many records were dropped because nobody took them in time.
    pub fn frame_records_dropped(&self) -> u64 {
        self.trace.as_ref().map_or(0, |t| t.dropped)
    }

    fn record(&mut self, r: FrameRecord) {
        if let Some(t) = self.trace.as_mut() {
            if t.records.len() == MAX_FRAME_RECORDS {
                t.records.pop_front();
                t.dropped += 1;
            }
            t.records.push_back(r);
        }
    }

    /// Handles a received frame and records it (the trace is on): a
    /// compressed message's frame carries what it inflated to.
    #[cold]
    #[inline(never)]
    pub(super) fn handle_frame_traced(
        &mut self,
        h: FrameHeader,
        payload: bytes::Bytes,
    ) -> Result<(), crate::error::ProtocolError> {
        let continued = self.message.as_ref().filter(|_| h.opcode == OpCode::Continuation);
        let compressed = h.rsv1 || continued.is_some_and(|m| m.compressed);
        let before = continued.map_or(0, |m| m.buf.len() as u64);
        let mut record = FrameRecord {
            direction: Direction::Received,
            opcode: h.opcode,
            fin: h.fin,
            rsv1: h.rsv1,
            wire_len: payload.len() as u64,
            data_len: payload.len() as u64,
            close: (h.opcode == OpCode::Close).then(|| close_of(&payload)).flatten(),
        };
        let result = self.handle_frame(h, payload);
        if compressed && result.is_ok() {
            let after = match (record.fin, self.message.as_ref(), self.events.back()) {
                (false, Some(m), _) => m.buf.len() as u64,
                (true, _, Some(Event::Text(t))) => t.len() as u64,
                (true, _, Some(Event::Binary(b))) => b.len() as u64,
                _ => before,
            };
            record.data_len = after - before;
        }
        self.record(record);
        result
    }

    /// Records a frame being sent (the trace is on). `payload` is the
    /// unmasked payload.
    #[cold]
    #[inline(never)]
    pub(super) fn record_sent(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: &[u8]) {
        self.record(FrameRecord {
            direction: Direction::Sent,
            opcode,
            fin,
            rsv1,
            wire_len: payload.len() as u64,
            data_len: payload.len() as u64,
            close: (opcode == OpCode::Close).then(|| close_of(payload)).flatten(),
        });
    }

    /// Sets the message data length of the frame just recorded as sent (a
    /// compressed frame: what it carries before deflating).
    #[cold]
    #[inline(never)]
    pub(super) fn record_sent_data_len(&mut self, len: usize) {
        if let Some(r) = self.trace.as_mut().and_then(|t| t.records.back_mut()) {
            r.data_len = len as u64;
        }
    }

    /// Records a frame that was framed elsewhere (a prepared message).
    #[cold]
    #[inline(never)]
    pub(super) fn record_sent_framed(&mut self, frame: &[u8]) {
        let rules = HeaderRules {
            expect_masked: false,
            allow_rsv1: true,
            max_payload: u64::MAX,
            max_compressed_payload: u64::MAX,
        };
        if let Ok(Some((h, _))) = FrameHeader::parse(frame, &rules) {
            self.record(FrameRecord {
                direction: Direction::Sent,
                opcode: h.opcode,
                fin: h.fin,
                rsv1: h.rsv1,
                wire_len: h.payload_len,
                data_len: h.payload_len,
                close: None,
            });
        }
    }
}

/// A Close payload's code and reason, when it has a status.
fn close_of(payload: &[u8]) -> Option<(u16, String)> {
    let code = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
    Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Role;
    use crate::deflate::{DeflateConfig, DeflateParams};
    use crate::{CloseFrame, Config, Message};

    fn pair(deflate: bool) -> (Connection, Connection) {
        let mut c = Connection::with_mask_seed(Role::Client, Config::default(), 7);
        let mut s = Connection::new(Role::Server, Config::default());
        if deflate {
            let params = DeflateParams {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            };
            c.enable_deflate(params, DeflateConfig::default());
            s.enable_deflate(params, DeflateConfig::default());
        }
        c.set_frame_trace(true);
        s.set_frame_trace(true);
        (c, s)
    }

    fn pass(from: &mut Connection, to: &mut Connection) {
        let bytes = from.output().take_all();
        to.receive(&bytes);
        while to.next_event().is_some() {}
    }

    #[test]
    fn records_each_frame_both_ways_with_inflated_sizes_and_close_status() {
        let (mut c, mut s) = pair(true);
        let text = "to be or not to be, ".repeat(50);
        c.send(Message::text(text.clone())).unwrap();
        c.send(Message::binary(vec![1, 2, 3])).unwrap();
        c.ping(b"hi").unwrap();
        c.close(Some(CloseFrame::new(4001, "bye").unwrap())).unwrap();
        pass(&mut c, &mut s);

        let sent: Vec<_> = std::iter::from_fn(|| c.next_frame_record()).collect();
        let got: Vec<_> = std::iter::from_fn(|| s.next_frame_record()).collect();
        assert_eq!(sent.len(), 4, "{sent:?}");
        // What the client sent is what the server received, frame by frame.
        for (a, b) in sent.iter().zip(&got) {
            assert_eq!(
                (a.opcode, a.fin, a.rsv1, a.wire_len, a.data_len),
                (b.opcode, b.fin, b.rsv1, b.wire_len, b.data_len)
            );
            assert_eq!((a.direction, b.direction), (Direction::Sent, Direction::Received));
        }
        assert!(
            sent[0].rsv1 && sent[0].wire_len < 100 && sent[0].data_len == text.len() as u64,
            "{:?}",
            sent[0]
        );
        assert_eq!(sent[2].opcode, OpCode::Ping);
        assert_eq!(sent[3].close, Some((4001, "bye".to_string())));
        // Then the server's answers, made as it took the events: the pong
        // and its Close, recorded as sent.
        let replies = &got[4..];
        assert_eq!(
            replies.iter().map(|r| r.opcode).collect::<Vec<_>>(),
            [OpCode::Pong, OpCode::Close]
        );
        assert!(replies.iter().all(|r| r.direction == Direction::Sent));
        assert_eq!(replies[1].close, Some((4001, "bye".to_string())));
    }

    #[test]
    fn fragments_of_a_compressed_message_each_carry_their_inflated_share() {
        let (mut c, mut s) = pair(true);
        let piece = "abcdefgh".repeat(100);
        c.send_fragment(OpCode::Text, piece.as_bytes(), false).unwrap();
        c.send_fragment(OpCode::Continuation, piece.as_bytes(), true).unwrap();
        pass(&mut c, &mut s);
        let got: Vec<_> = std::iter::from_fn(|| s.next_frame_record()).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got.iter().map(|r| r.data_len).sum::<u64>(), 1600, "{got:?}");
        assert!(got[0].rsv1 && !got[1].rsv1 && got[1].fin);
    }

    #[test]
    fn off_by_default_and_bounded_when_nobody_takes_records() {
        let mut s = Connection::new(Role::Server, Config::default());
        s.send_text("x").unwrap();
        assert_eq!(s.next_frame_record(), None);
        s.set_frame_trace(true);
        for _ in 0..MAX_FRAME_RECORDS + 10 {
            s.send_text("x").unwrap();
        }
        assert_eq!(s.frame_records_dropped(), 10);
        assert_eq!(std::iter::from_fn(|| s.next_frame_record()).count(), MAX_FRAME_RECORDS);
    }
}
