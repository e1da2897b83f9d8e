//! One WebSocket connection's protocol state, without I/O.
//!
//! The state machine is split by concern: [`receive`] (parsing, unmasking,
//! validation and message assembly), [`in_place`] (whole messages handed
//! out from the caller's buffer), [`send`] (the send family and framing),
//! [`closing`] (the closing handshake and the one transition into Closed),
//! [`timers`] (close timeout and keepalive), and [`session`] (the
//! permessage-deflate session). This file holds the type, its events and
//! its accessors.

mod closing;
mod in_place;
mod receive;
mod send;
mod session;
mod timers;
mod trace;

use std::collections::VecDeque;

use bytes::BytesMut;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::config::Config;
use crate::error::ProtocolError;
use crate::frame::HeaderRules;
use crate::message::Utf8Bytes;
use crate::outbuf::OutBuf;
use crate::utf8::Utf8Validator;
use crate::CloseFrame;

pub use closing::CloseStatus;
use closing::Phase;
pub use in_place::DataRef;
use receive::{InFrame, InMessage};
use session::Deflate;
use timers::Timers;
use trace::FrameTrace;
pub use trace::{Direction, FrameRecord, MAX_FRAME_RECORDS};

/// Which end of the connection this is. Clients mask what they send and
/// expect unmasked frames; servers the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that sent the opening handshake.
    Client,
    /// The end that accepted it.
    Server,
}

/// What happened on the connection, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete text message.
    Text(Utf8Bytes),
    /// A complete binary message.
    Binary(bytes::Bytes),
    /// A ping; with `auto_pong` the pong is already queued.
    Ping(bytes::Bytes),
    /// A pong to one of the application's pings (pongs to the keepalive's
    /// own pings stay inside the connection).
    Pong(bytes::Bytes),
    /// The peer's Close frame (`None`: it had no status). Our reply is
    /// already queued if we had not sent a Close; no more events follow.
    Close(Option<CloseFrame>),
    /// The peer broke the protocol; a Close with the error's code is queued
    /// and the transport should be dropped once it is written.
    Failed(ProtocolError),
    /// A timer expired: see [`Timeout`].
    TimedOut(Timeout),
}

/// Which timer expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// The peer did not answer our Close within `close_timeout`.
    Close,
    /// The peer did not answer a keepalive ping within its timeout (a Close
    /// 1011 is queued).
    Keepalive,
}

/// The connection's state, as RFC 6455 §4 and §7 name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a Close and wait for the peer's.
    Closing,
    /// Both Close frames were exchanged, or the connection failed.
    Closed,
}

/// The sans-I/O protocol state of one connection (after the handshake).
///
/// Its methods come in families, used in this order by an I/O layer:
///
/// - **Input**: [`receive`](Connection::receive) bytes from the transport
///   (or read into [`read_buffer`](Connection::read_buffer) and
///   [`process`](Connection::process)); [`receive_eof`](Connection::receive_eof)
///   at end of stream. An I/O layer that answers each message at once can
///   use [`receive_in_place`](Connection::receive_in_place) instead: whole
///   data messages come to a callback as borrowed slices, without a copy.
/// - **Events**: [`next_event`](Connection::next_event) until `None`. Taking an
///   event applies its effects (the automatic pong, the Close reply).
/// - **Commands**: [`send`](Connection::send) (and `send_text`,
///   `send_binary`, `send_fragment`, `send_prepared`, `ping`, `pong`,
///   [`close`](Connection::close)) queue frames.
/// - **Output**: write what [`output`](Connection::output) holds and advance
///   it by what the transport took; when
///   [`wants_transport_closed`](Connection::wants_transport_closed), close
///   the transport.
/// - **Time**: after input and commands, pass the current time to
///   [`handle_timeout`](Connection::handle_timeout) (it dates what just
///   happened and fires due timers), then ask
///   [`poll_timeout`](Connection::poll_timeout), which only reads, when to
///   call it next. Skip both while [`timers_active`](Connection::timers_active)
///   is false.
/// - **Trace** (optional): [`set_frame_trace`](Connection::set_frame_trace),
///   then [`next_frame_record`](Connection::next_frame_record) gives one
///   record per frame received or sent.
///
/// Nothing here reads a clock or touches a socket, so every rule is tested
/// with bytes.
///
/// ```
/// use wsbolt_proto::{Connection, Event, Role};
/// let mut server = Connection::new(Role::Server, Default::default());
/// // A masked text frame "Hello" from a client (RFC 6455 §5.7).
/// server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// let Some(Event::Text(t)) = server.next_event() else { panic!() };
/// assert_eq!(t, "Hello");
/// server.send_text("Hi").unwrap();
/// assert_eq!(server.output().take_all(), [0x81, 0x02, b'H', b'i']);
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    rules: HeaderRules,
    inbuf: BytesMut,
    frame: Option<InFrame>,
    /// Boxed: only fragmented or compressed messages are assembled.
    message: Option<Box<InMessage>>,
    utf8: Utf8Validator,
    events: VecDeque<Event>,
    out: OutBuf,
    /// Masking keys (clients only); boxed so servers do not carry its state inline.
    rng: Option<Box<StdRng>>,
    phase: Phase,
    /// No more input is parsed: the peer's Close arrived, the connection
    /// failed, or the transport ended.
    input_closed: bool,
    /// The peer's Close was parsed (its event may not be taken yet).
    close_received: bool,
    /// The transport reached end of stream.
    eof: bool,
    /// See [`Connection::answer_backlog`].
    answers: u32,
    /// The Close frames exchanged so far (boxed: they come once, at the end).
    frames: Option<Box<closing::Exchanged>>,
    /// The kind of a fragmented message being sent, if one is under way.
    sending: Option<crate::frame::OpCode>,
    /// Whether the fragmented message being sent is compressed.
    sending_compressed: bool,
    /// Boxed: most connections never negotiate it.
    deflate: Option<Box<Deflate>>,
    /// Boxed, and only once a time is passed in (see [`timers`]).
    timers: Option<Box<Timers>>,
    /// The frame trace, while it is on (see [`trace`]).
    trace: Option<Box<FrameTrace>>,
}

impl Connection {
    /// A connection in the Open state. A client draws its masking keys from
    /// a CSPRNG seeded by the operating system.
    pub fn new(role: Role, config: Config) -> Self {
        let rng = (role == Role::Client).then(|| Box::new(StdRng::from_os_rng()));
        Self::with_rng(role, config, rng)
    }

    /// A client whose masking keys come from a fixed seed, for byte-exact
    /// tests. Never use this on a network: predictable masks defeat their
    /// purpose (RFC 6455 §10.3).
    pub fn with_mask_seed(role: Role, config: Config, seed: u64) -> Self {
        Self::with_rng(role, config, Some(Box::new(StdRng::seed_from_u64(seed))))
    }

    fn with_rng(role: Role, config: Config, rng: Option<Box<StdRng>>) -> Self {
        let rules = HeaderRules {
            expect_masked: role == Role::Server,
            allow_rsv1: false,
            max_payload: config.max_frame_size as u64,
            max_compressed_payload: crate::frame::deflate_allowance(config.max_frame_size as u64),
        };
        Connection {
            role,
            config,
            rules,
            inbuf: BytesMut::new(),
            frame: None,
            message: None,
            utf8: Utf8Validator::new(),
            events: VecDeque::new(),
            out: OutBuf::default(),
            rng,
            phase: Phase::Open,
            input_closed: false,
            close_received: false,
            eof: false,
            answers: 0,
            frames: None,
            sending: None,
            sending_compressed: false,
            deflate: None,
            timers: None,
            trace: None,
        }
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// How the connection ended, once it has.
    pub fn close_status(&self) -> Option<&CloseStatus> {
        self.phase.status()
    }

    // ---- events -----------------------------------------------------------

    /// The next event, oldest first.
    ///
    /// Taking an event applies its effects on the output: the automatic pong
    /// for a Ping, the reply to a Close, the Close for a protocol error. That
    /// keeps the output in the order of the input: the answers an application
    /// gives to messages leave before the Close that followed them.
    // Inlined into I/O layers: it is called two or three times per message,
    // most of them finding the queue empty.
    #[inline]
    pub fn next_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        // Data events (the hot path) have no effect on the output.
        if !matches!(ev, Event::Text(_) | Event::Binary(_) | Event::Pong(_)) {
            self.apply(&ev);
        }
        Some(ev)
    }

    /// Whether events are waiting.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    // ---- output -----------------------------------------------------------

    /// The bytes to write, in order. Advance it by what the transport took.
    pub fn output(&mut self) -> &mut OutBuf {
        &mut self.out
    }

    /// Bytes queued and not yet written.
    pub fn output_len(&self) -> usize {
        self.out.len()
    }
}
