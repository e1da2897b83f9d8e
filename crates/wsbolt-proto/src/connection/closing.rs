//! The closing handshake (RFC 6455 §7): one phase enum and one transition
//! into Closed, whatever ended the connection.

use super::{Connection, Event, Role, State, Timeout};
use crate::close::{CloseCode, CloseFrame};
use crate::error::{ProtocolError, SendError};
use crate::frame::OpCode;
use crate::message::Utf8Bytes;

/// How the connection ended.
///
/// [`code`](CloseStatus::code) follows RFC 6455 §7.1.5 with one addition:
/// the peer's code; 1005 if its Close had none; 1006 if the transport ended
/// (or the close timeout passed) with no Close from it; and, when this end
/// failed the connection (a protocol error, a keepalive timeout), the code
/// this end sent. What each side actually sent is in
/// [`sent`](CloseStatus::sent) and [`received`](CloseStatus::received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStatus {
    code: CloseCode,
    reason: Utf8Bytes,
    was_clean: bool,
    sent: Option<CloseFrame>,
    received: Option<CloseFrame>,
}

impl CloseStatus {
    /// The close code (see the type's docs for which one).
    pub fn code(&self) -> CloseCode {
        self.code
    }

    /// The reason that goes with [`code`](CloseStatus::code) (empty when none).
    pub fn reason(&self) -> &str {
        self.reason.as_str()
    }

    /// Whether the closing handshake completed: both Close frames exchanged.
    pub fn was_clean(&self) -> bool {
        self.was_clean
    }

    /// The Close frame this end sent, if one was sent (a Close without a
    /// status appears as 1005).
    pub fn sent(&self) -> Option<&CloseFrame> {
        self.sent.as_ref()
    }

    /// The Close frame the peer sent, if one arrived (a Close without a
    /// status appears as 1005).
    pub fn received(&self) -> Option<&CloseFrame> {
        self.received.as_ref()
    }
}

/// The Close frames of the closing handshake (an empty Close as 1005).
#[derive(Debug, Default)]
pub(super) struct Exchanged {
    pub(super) sent: Option<CloseFrame>,
    pub(super) received: Option<CloseFrame>,
}

/// Where the connection is in its life.
#[derive(Debug)]
pub(super) enum Phase {
    Open,
    /// Our Close is queued; the peer's has not been taken yet.
    Closing,
    /// Terminal. `failed`: this end failed the connection (drop the transport
    /// as soon as the output is written).
    Closed {
        status: Box<CloseStatus>,
        failed: bool,
    },
}

impl Phase {
    pub(super) fn state(&self) -> State {
        match self {
            Phase::Open => State::Open,
            Phase::Closing => State::Closing,
            Phase::Closed { .. } => State::Closed,
        }
    }

    pub(super) fn status(&self) -> Option<&CloseStatus> {
        match self {
            Phase::Closed { status, .. } => Some(status),
            _ => None,
        }
    }
}

/// How a connection reached Closed.
#[derive(Debug, Clone, Copy)]
pub(super) enum End {
    /// Both Close frames exchanged.
    Clean,
    /// This end failed the connection with this code (already queued).
    Failed(CloseCode),
    /// No Close from the peer: the transport ended or the close timer expired.
    Abnormal,
}

impl Connection {
    /// Whether a Close frame was sent (or queued), or the connection is
    /// closed: nothing more may be sent.
    pub fn close_sent(&self) -> bool {
        !matches!(self.phase, Phase::Open)
    }

    /// Whether the transport should now be closed: the connection is closed
    /// and either the close timeout expired (whatever is still queued: a peer
    /// that does not read never gets it), or everything queued was written
    /// and this is the server (which closes first, RFC 6455 §7.1.1), the
    /// connection failed, or the peer already closed its side.
    pub fn wants_transport_closed(&self) -> bool {
        let Phase::Closed { failed, .. } = self.phase else {
            return false;
        };
        self.close_expired() || (self.out.is_empty() && (self.role == Role::Server || failed || self.eof))
    }

    /// Starts the closing handshake (`None`: a Close without status). After
    /// this nothing more may be sent; incoming data is still delivered until
    /// the peer's Close. The close timer starts at the next
    /// [`handle_timeout`](Connection::handle_timeout).
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] if a Close was already sent.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), SendError> {
        if self.close_sent() {
            return Err(SendError::Closed);
        }
        self.queue_close(frame);
        self.phase = Phase::Closing;
        Ok(())
    }

    /// Like [`close`](Connection::close), after dropping the queued frames
    /// that have not begun to go out, so the Close is the next frame the peer
    /// reads: for closing a peer that does not keep up (a slow consumer)
    /// without the Close waiting behind the very backlog it is closed for,
    /// which could outlast the close timeout and end the connection without
    /// a Close (1006 at the peer). The rest of a frame that a short write
    /// left half-written is kept. Returns the bytes dropped.
    ///
    /// Data messages dropped are lost, and a fragmented message under way
    /// is abandoned (a Close may come between fragments, RFC 6455 §5.4).
    ///
    /// ```
    /// use wsbolt_proto::{CloseFrame, Config, Connection, Message, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// for _ in 0..3 {
    ///     server.send(Message::binary(vec![0u8; 1000])).unwrap();
    /// }
    /// // The transport took 1,500 bytes: the second frame is half out.
    /// server.output().advance(1500);
    /// let dropped = server.close_discarding_unsent(CloseFrame::new(1008u16, "slow consumer").ok());
    /// assert_eq!(dropped.unwrap(), 1004); // the third frame
    /// // Left: the second frame's last 508 bytes, then the Close.
    /// assert_eq!(server.output_len(), 508 + 2 + 2 + "slow consumer".len());
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] if a Close was already sent (nothing is
    /// dropped then).
    pub fn close_discarding_unsent(&mut self, frame: Option<CloseFrame>) -> Result<usize, SendError> {
        if self.close_sent() {
            return Err(SendError::Closed);
        }
        let dropped = self.out.discard_unsent();
        self.answers = self.answers.min(u32::try_from(self.out.len()).unwrap_or(u32::MAX));
        self.sending = None;
        self.close(frame)?;
        Ok(dropped)
    }

    /// Writes our Close frame (`None`: without status) and records it: the
    /// one place a Close of ours is framed (closing, replying, failing).
    fn queue_close(&mut self, frame: Option<CloseFrame>) {
        let payload = frame.as_ref().map(CloseFrame::encode).unwrap_or_default();
        self.write_frame(OpCode::Close, true, &payload);
        self.frames_mut().sent = Some(frame.unwrap_or_else(CloseFrame::no_status));
    }

    /// The transport reached end of stream. Without a completed closing
    /// handshake this is an abnormal closure (1006).
    pub fn receive_eof(&mut self) {
        self.eof = true;
        if !self.close_received {
            self.input_closed = true;
            self.enter_closed(End::Abnormal);
        }
    }

    fn frames_mut(&mut self) -> &mut Exchanged {
        self.frames.get_or_insert_with(Box::default)
    }

    /// Whether this end queued a Close frame (which implies
    /// [`close_sent`](Connection::close_sent); not the reverse: a transport
    /// that ended closes the connection without a Close of ours).
    pub(super) fn sent_close(&self) -> bool {
        self.frames.as_ref().is_some_and(|f| f.sent.is_some())
    }

    /// The one transition into Closed. A connection already closed stays as
    /// it ended.
    pub(super) fn enter_closed(&mut self, end: End) {
        if matches!(self.phase, Phase::Closed { .. }) {
            return;
        }
        self.input_closed = true;
        let (code, reason, was_clean) = match end {
            End::Clean => match self.frames.as_ref().and_then(|f| f.received.as_ref()) {
                Some(f) => (f.code(), f.reason_bytes().clone(), true),
                None => (CloseCode::NO_STATUS, Utf8Bytes::new(), true),
            },
            End::Failed(code) => (code, Utf8Bytes::new(), false),
            End::Abnormal => (CloseCode::ABNORMAL, Utf8Bytes::new(), false),
        };
        let status = CloseStatus {
            code,
            reason,
            was_clean,
            sent: self.frames.as_ref().and_then(|f| f.sent.clone()),
            received: self.frames.as_ref().and_then(|f| f.received.clone()),
        };
        self.phase = Phase::Closed {
            status: Box::new(status),
            failed: matches!(end, End::Failed(_)),
        };
    }

    /// Queues the Close for a failure (unless one was sent) and closes.
    pub(super) fn fail_with(&mut self, code: CloseCode) {
        if !self.close_sent() {
            self.queue_close(Some(CloseFrame::from_parts(code, Utf8Bytes::new())));
        }
        self.enter_closed(End::Failed(code));
    }

    /// The peer's Close arrived: nothing after it is read (RFC 6455 §5.5.1).
    /// The reply is queued when the application takes the event, after its
    /// answers to the messages that came before.
    pub(super) fn handle_close(&mut self, frame: Option<CloseFrame>) {
        self.input_closed = true;
        self.close_received = true;
        self.frames_mut().received = Some(frame.clone().unwrap_or_else(CloseFrame::no_status));
        self.events.push_back(Event::Close(frame));
    }

    /// Fails the connection (RFC 6455 §7.1.7): no more input; the Close with
    /// the error's code is queued when the application takes the event, so
    /// answers to earlier messages leave first.
    pub(super) fn fail(&mut self, e: ProtocolError) {
        self.input_closed = true;
        self.frame = None;
        self.message = None;
        self.events.push_back(Event::Failed(e));
    }

    /// The close timer expired.
    pub(super) fn close_timed_out(&mut self) {
        if matches!(self.phase, Phase::Closing) {
            self.enter_closed(End::Abnormal);
            self.events.push_back(Event::TimedOut(Timeout::Close));
        }
    }

    /// The side effects of an event, applied as the application takes it.
    pub(super) fn apply(&mut self, ev: &Event) {
        // Data events (the hot path) have no effect on the output.
        if matches!(ev, Event::Text(_) | Event::Binary(_) | Event::Pong(_)) {
            return;
        }
        let before = self.out.len();
        if before == 0 {
            self.answers = 0;
        }
        match ev {
            Event::Ping(p) if self.config.auto_pong && !self.close_sent() => {
                self.write_frame(OpCode::Pong, true, p);
            }
            Event::Close(frame) => {
                if !self.close_sent() && !self.eof {
                    // Echo the peer's status code and reason (RFC 6455
                    // §5.5.1; both were validated). An empty Close is
                    // answered with an empty one, since 1005 may not be sent.
                    self.queue_close(frame.clone());
                }
                self.enter_closed(End::Clean);
            }
            Event::Failed(e) => self.fail_with(e.close_code()),
            _ => {}
        }
        let added = u32::try_from(self.out.len() - before).unwrap_or(u32::MAX);
        self.answers = self.answers.saturating_add(added);
    }

    /// Bytes of answers that taking events queued (pongs, Close replies)
    /// since the output was last empty, i.e. at most this many are still
    /// unwritten. An I/O layer stops reading while this is high: a peer that
    /// sends pings but never reads is held back by TCP instead of growing
    /// memory. The application's own data does not count, so reading (and
    /// the peer's Close) still gets through while the application's output
    /// waits.
    pub fn answer_backlog(&self) -> usize {
        if self.out.is_empty() {
            0
        } else {
            self.answers as usize
        }
    }
}
