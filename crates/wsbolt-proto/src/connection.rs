//! One WebSocket connection's protocol state, without I/O.
//!
//! Bytes go in with [`Connection::receive`]; events come out of
//! [`Connection::next_event`]; bytes to write accumulate in
//! [`Connection::output`]; timers are read with [`Connection::poll_timeout`]
//! and fired with [`Connection::handle_timeout`]. Nothing here reads a clock or
//! touches a socket, so every rule is tested with bytes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::deflate::{Compressor, Decompressor, DeflateConfig, DeflateParams};
use crate::error::{ProtocolError, SendError};
use crate::frame::{FrameHeader, HeaderRules, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::message::{Message, Utf8Bytes};
use crate::outbuf::{OutBuf, KEEP_DRAINED, SHARE_THRESHOLD};
use crate::prepared::PreparedMessage;
use crate::utf8::Utf8Validator;

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
    Binary(Bytes),
    /// A ping; with `auto_pong` the pong is already queued.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
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
    /// The peer did not answer a keepalive ping within its timeout.
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

/// How the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStatus {
    /// The peer's code; 1005 if its Close had none; 1006 if no Close came;
    /// the error's code if we failed the connection.
    pub code: CloseCode,
    /// The peer's reason, if any.
    pub reason: Utf8Bytes,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
}

#[derive(Debug)]
struct InFrame {
    header: FrameHeader,
    header_len: usize,
    /// Payload bytes already unmasked and validated, still in the read buffer.
    done: usize,
    /// Whether this frame's payload is text to validate as it arrives.
    validate_text: bool,
}

#[derive(Debug)]
struct InMessage {
    opcode: OpCode,
    /// The payload so far (inflated, for a compressed message).
    buf: Vec<u8>,
    fragments: u32,
    /// RSV1 was set on the first frame (permessage-deflate).
    compressed: bool,
    /// Payload bytes as received (compressed size, for a compressed message).
    wire_len: u64,
}

/// permessage-deflate state, resolved for this end's role.
#[derive(Debug)]
struct Deflate {
    config: DeflateConfig,
    /// Window to compress with; `None` when the peer allows only 8 bits,
    /// which zlib cannot produce: messages then go uncompressed.
    compress_bits: Option<u8>,
    reset_compress: bool,
    inflate_bits: u8,
    reset_inflate: bool,
    // Created on first use; dropped after each message when the context is
    // not kept, so an idle connection holds no codec memory.
    compressor: Option<Compressor>,
    decompressor: Option<Decompressor>,
    scratch: Vec<u8>,
}

#[derive(Debug, Default)]
struct Timers {
    close_deadline: Option<Instant>,
    close_expired: bool,
    last_activity: Option<Instant>,
    activity: bool,
    ping_sent_at: Option<Instant>,
    ping_counter: u64,
    pong_received: bool,
    rtt: Option<Duration>,
}

/// The sans-I/O protocol state of one connection (after the handshake).
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
    message: Option<InMessage>,
    utf8: Utf8Validator,
    events: VecDeque<Event>,
    out: OutBuf,
    /// Masking keys (clients only); boxed so servers do not carry its state inline.
    rng: Option<Box<StdRng>>,
    state: State,
    close_sent: bool,
    input_closed: bool,
    close_received: bool,
    failed: bool,
    eof: bool,
    status: Option<CloseStatus>,
    /// The kind of a fragmented message being sent, if one is under way.
    sending: Option<OpCode>,
    /// Whether the fragmented message being sent is compressed.
    sending_compressed: bool,
    deflate: Option<Deflate>,
    timers: Timers,
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
            state: State::Open,
            close_sent: false,
            input_closed: false,
            close_received: false,
            failed: false,
            eof: false,
            status: None,
            sending: None,
            sending_compressed: false,
            deflate: None,
            timers: Timers::default(),
        }
    }

    /// Turns on permessage-deflate with the negotiated `params` (call before
    /// any frame is received). `config` supplies the level, the threshold
    /// and this end's window cap.
    pub fn enable_deflate(&mut self, params: DeflateParams, config: DeflateConfig) {
        let (compress, reset_compress, inflate, reset_inflate) = match self.role {
            Role::Server => (
                params.server_max_window_bits.min(config.server_max_window_bits),
                params.server_no_context_takeover,
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits.min(config.client_max_window_bits),
                params.client_no_context_takeover,
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
        };
        self.rules.allow_rsv1 = true;
        self.deflate = Some(Deflate {
            config,
            compress_bits: (compress > 8).then_some(compress),
            reset_compress,
            inflate_bits: inflate,
            reset_inflate,
            compressor: None,
            decompressor: None,
            scratch: Vec::new(),
        });
    }

    /// Whether permessage-deflate is on.
    pub fn deflate_enabled(&self) -> bool {
        self.deflate.is_some()
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
        self.state
    }

    /// How the connection ended, once it has.
    pub fn close_status(&self) -> Option<&CloseStatus> {
        self.status.as_ref()
    }

    /// The round-trip time measured by the last answered keepalive ping.
    pub fn keepalive_rtt(&self) -> Option<Duration> {
        self.timers.rtt
    }

    // ---- input ------------------------------------------------------------

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
            Some(f) => (f.header_len + f.header.payload_len as usize).saturating_sub(self.inbuf.len()),
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
            self.timers.activity = true;
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

    /// The transport reached end of stream. Without a completed closing
    /// handshake this is an abnormal closure (1006).
    pub fn receive_eof(&mut self) {
        self.eof = true;
        if self.state != State::Closed && !self.close_received {
            self.input_closed = true;
            self.state = State::Closed;
            self.close_sent = true; // nothing more may be sent on a dead transport
            self.status = Some(CloseStatus {
                code: CloseCode::ABNORMAL,
                reason: Utf8Bytes::new(),
                was_clean: false,
            });
        }
    }

    /// Parses and handles at most one frame. `Ok(false)`: more bytes needed.
    fn step(&mut self) -> Result<bool, ProtocolError> {
        if self.frame.is_none() {
            let Some((header, header_len)) = FrameHeader::parse(&self.inbuf, &self.rules)? else {
                return Ok(false);
            };
            let validate_text = self.check_sequence(&header)?;
            self.frame = Some(InFrame {
                header,
                header_len,
                done: 0,
                validate_text,
            });
        }
        let frame = self.frame.as_mut().expect("set above");
        let len = frame.header.payload_len as usize;
        let available = (self.inbuf.len() - frame.header_len).min(len);
        if available > frame.done {
            let piece = &mut self.inbuf[frame.header_len + frame.done..frame.header_len + available];
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
        // One split for header and payload, then a pointer bump past the
        // header on the frozen bytes: cheaper than advancing the BytesMut
        // and splitting again (two updates of its shared state).
        let mut payload = self.inbuf.split_to(header_len + len).freeze();
        payload.advance(header_len);
        self.handle_frame(header, payload)?;
        Ok(true)
    }

    /// Checks a data frame's place in the message sequence and the limits,
    /// before any of its payload is buffered. Returns whether its payload is
    /// text to validate as it arrives (compressed text is validated after
    /// inflating).
    fn check_sequence(&self, h: &FrameHeader) -> Result<bool, ProtocolError> {
        let max_msg = self.config.max_message_size as u64;
        match (h.opcode, &self.message) {
            (OpCode::Continuation, None) => Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => Err(ProtocolError::ExpectedContinuation),
            (OpCode::Continuation, Some(m)) => {
                if h.rsv1 {
                    // RSV1 marks a compressed message on its first frame only (RFC 7692 §6.1).
                    return Err(ProtocolError::ReservedBits);
                }
                if m.buf.len() as u64 + h.payload_len > max_msg || m.wire_len + h.payload_len > max_msg {
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
                if h.payload_len > max_msg {
                    return Err(ProtocolError::MessageTooLarge { max: max_msg });
                }
                Ok(h.opcode == OpCode::Text && !h.rsv1)
            }
            _ => Ok(false),
        }
    }

    fn handle_frame(&mut self, h: FrameHeader, payload: Bytes) -> Result<(), ProtocolError> {
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
                let mut m = self.message.take().expect("checked in check_sequence");
                m.fragments += 1;
                m.wire_len += payload.len() as u64;
                self.continue_message(m, &payload, h.fin)?;
            }
            OpCode::Ping => self.events.push_back(Event::Ping(payload)),
            OpCode::Pong => {
                if self.timers.ping_counter > 0 && payload[..] == keepalive_payload(self.timers.ping_counter) {
                    // Our keepalive's answer (or a late one): the library's
                    // own traffic, never shown to the application.
                    if self.timers.ping_sent_at.is_some() {
                        self.timers.pong_received = true;
                    }
                } else {
                    self.events.push_back(Event::Pong(payload));
                }
            }
            OpCode::Close => self.handle_close(payload)?,
        }
        Ok(())
    }

    /// Adds a frame's payload to a message being assembled (inflating it if
    /// compressed) and completes the message on `fin`.
    fn continue_message(&mut self, mut m: InMessage, payload: &[u8], fin: bool) -> Result<(), ProtocolError> {
        if !m.compressed {
            grow_within(&mut m.buf, payload.len(), self.config.max_message_size);
            m.buf.extend_from_slice(payload);
        } else {
            let max = self.config.max_message_size;
            let text = m.opcode == OpCode::Text;
            let Connection { deflate, utf8, .. } = self;
            let df = deflate.as_mut().ok_or(ProtocolError::ReservedBits)?;
            let (bits, reset) = (df.inflate_bits, df.reset_inflate);
            let d = df.decompressor.get_or_insert_with(|| Decompressor::new(bits, reset));
            let mut check = |piece: &[u8]| {
                if text {
                    utf8.feed(piece).map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                Ok(())
            };
            d.inflate(payload, &mut m.buf, max, &mut check)?;
            if fin {
                d.finish_message(&mut m.buf, max, &mut check)?;
                if reset {
                    df.decompressor = None;
                }
            }
        }
        if fin {
            let event = self.finish_message(m.opcode, Bytes::from(m.buf))?;
            self.emit_data(event);
        } else {
            self.message = Some(m);
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

    fn handle_close(&mut self, payload: Bytes) -> Result<(), ProtocolError> {
        let frame = CloseFrame::parse(&payload)?;
        // Nothing after a Close is read (RFC 6455 §5.5.1). The reply is
        // queued when the application takes this event, after its answers
        // to the messages that came before.
        self.input_closed = true;
        self.close_received = true;
        self.events.push_back(Event::Close(frame));
        Ok(())
    }

    /// Fails the connection (RFC 6455 §7.1.7): no more input; the Close with
    /// the error's code is queued when the application takes the event, so
    /// answers to earlier messages leave first.
    fn fail(&mut self, e: ProtocolError) {
        self.input_closed = true;
        self.frame = None;
        self.message = None;
        self.events.push_back(Event::Failed(e));
    }

    /// The side effects of an event, applied as the application takes it.
    fn apply(&mut self, ev: &Event) {
        match ev {
            Event::Ping(p) if self.config.auto_pong && !self.close_sent => {
                self.write_frame(OpCode::Pong, true, p);
            }
            Event::Close(frame) => {
                if !self.close_sent && !self.eof {
                    // Echo the peer's status code and reason (RFC 6455
                    // §5.5.1; both were validated). An empty Close is
                    // answered with an empty one, since 1005 may not be sent.
                    let reply = frame.as_ref().map(CloseFrame::encode).unwrap_or_default();
                    self.write_frame(OpCode::Close, true, &reply);
                }
                self.close_sent = true;
                self.state = State::Closed;
                self.status = Some(CloseStatus {
                    code: frame.as_ref().map_or(CloseCode::NO_STATUS, |f| f.code),
                    reason: frame.as_ref().map(|f| f.reason.clone()).unwrap_or_default(),
                    was_clean: true,
                });
            }
            Event::Failed(e) => {
                if !self.close_sent {
                    let code = e.close_code().0.to_be_bytes();
                    self.write_frame(OpCode::Close, true, &code);
                    self.close_sent = true;
                }
                self.failed = true;
                self.state = State::Closed;
                self.status = Some(CloseStatus {
                    code: e.close_code(),
                    reason: Utf8Bytes::new(),
                    was_clean: false,
                });
            }
            _ => {}
        }
    }

    /// The next event, oldest first.
    ///
    /// Taking an event applies its effects on the output: the automatic pong
    /// for a Ping, the reply to a Close, the Close for a protocol error. That
    /// keeps the output in the order of the input: the answers an application
    /// gives to messages leave before the Close that followed them.
    pub fn next_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        self.apply(&ev);
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

    /// Whether the transport should now be closed: the connection is closed
    /// and either the close timeout expired (whatever is still queued: a peer
    /// that does not read never gets it), or everything queued was written
    /// and this is the server (which closes first, RFC 6455 §7.1.1), the
    /// connection failed, or the peer already closed its side.
    pub fn wants_transport_closed(&self) -> bool {
        self.state == State::Closed
            && (self.timers.close_expired
                || (self.out.is_empty() && (self.role == Role::Server || self.failed || self.eof)))
    }

    /// Whether a Close frame was sent (or queued).
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_data(OpCode::Text, text.as_bytes(), None, true)
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_data(OpCode::Binary, data, None, true)
    }

    /// Queues a message (a Close message starts the closing handshake).
    /// With permessage-deflate, data messages at or above the threshold are
    /// compressed. Large payloads are queued by reference when no masking or
    /// compression is needed.
    pub fn send(&mut self, msg: Message) -> Result<(), SendError> {
        self.send_with(msg, true)
    }

    /// Like [`Connection::send`], with per-message control of compression
    /// (`compress = false` sends this message uncompressed).
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
        if self.close_sent {
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
    /// reference (no copy, no compression): for sending one message to many
    /// connections. Servers only.
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), SendError> {
        if self.role != Role::Server {
            return Err(SendError::PreparedOnClient);
        }
        if self.close_sent {
            return Err(SendError::Closed);
        }
        if self.sending.is_some() {
            return Err(SendError::FragmentOutOfOrder);
        }
        self.out.push_shared(prepared.frame().clone());
        Ok(())
    }

    /// Compresses and frames `data` if deflate is on and allows it; `first`
    /// sets RSV1 (the first frame of a message), `fin` ends the message.
    fn try_send_compressed(&mut self, opcode: OpCode, data: &[u8], first: bool, fin: bool) -> bool {
        let Some(df) = self.deflate.as_mut() else { return false };
        let Some(bits) = df.compress_bits else { return false };
        if first && fin && data.len() < df.config.threshold {
            return false;
        }
        let (level, mem, reset) = (df.config.level, df.config.mem_level, df.reset_compress);
        let c = df
            .compressor
            .get_or_insert_with(|| Compressor::new(level, bits, mem, reset));
        let mut out = std::mem::take(&mut df.scratch);
        out.clear();
        if !c.compress(data, fin, &mut out) {
            df.scratch = out;
            return false;
        }
        if fin && reset {
            df.compressor = None;
        }
        self.write_frame_rsv(opcode, fin, first, &out);
        if let Some(df) = self.deflate.as_mut() {
            if out.capacity() <= 64 * 1024 {
                df.scratch = out;
            }
        }
        true
    }

    /// Queues one fragment of a message sent in pieces: the first with
    /// `OpCode::Text` or `OpCode::Binary`, the rest with
    /// `OpCode::Continuation`; `fin` on the last. With permessage-deflate the
    /// whole message is compressed (its size is not known up front).
    pub fn send_fragment(&mut self, opcode: OpCode, data: &[u8], fin: bool) -> Result<(), SendError> {
        if self.close_sent {
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
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues a pong (an unsolicited one serves as a heartbeat).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if self.close_sent {
            return Err(SendError::Closed);
        }
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        self.write_frame(opcode, true, payload);
        Ok(())
    }

    /// Starts the closing handshake (`None`: a Close without status). After
    /// this nothing more may be sent; incoming data is no longer delivered.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), SendError> {
        if self.close_sent {
            return Err(SendError::Closed);
        }
        if let Some(f) = &frame {
            // Re-check: the fields are public, so the frame may not have come from `CloseFrame::new`.
            CloseFrame::new(f.code, f.reason.clone())?;
        }
        let payload = frame.map(|f| f.encode()).unwrap_or_default();
        self.write_frame(OpCode::Close, true, &payload);
        self.close_sent = true;
        self.state = State::Closing;
        Ok(())
    }

    fn next_mask(&mut self) -> Option<[u8; 4]> {
        self.rng.as_mut().map(|r| r.random())
    }

    /// Frames `payload` into the output, copying (and masking, for a client).
    fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.write_frame_rsv(opcode, fin, false, payload);
    }

    fn write_frame_rsv(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: &[u8]) {
        let mask = self.next_mask();
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

    // ---- timers -----------------------------------------------------------

    /// Whether any timer can be running (close timeout or keepalive), so an
    /// I/O layer can skip reading the clock when none is.
    pub fn timers_active(&self) -> bool {
        self.config.keepalive.is_some() || (self.close_sent && !self.timers.close_expired && !self.eof)
    }

    /// The next instant at which [`Connection::handle_timeout`] must be
    /// called, if any. Call it after every batch of input or output with the
    /// current time: timers that a state change started (the close timeout,
    /// the keepalive schedule) count from the first call that sees it.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        let t = &mut self.timers;
        let mut next: Option<Instant> = None;
        let mut arm = |d: Instant| next = Some(next.map_or(d, |n| n.min(d)));
        if self.close_sent && !self.eof && !t.close_expired {
            let d = *t.close_deadline.get_or_insert(now + self.config.close_timeout);
            arm(d);
        }
        if let (Some(ka), State::Open) = (self.config.keepalive, self.state) {
            if t.activity || t.last_activity.is_none() {
                t.activity = false;
                t.last_activity = Some(now);
            }
            if t.pong_received {
                t.pong_received = false;
                if let Some(sent) = t.ping_sent_at.take() {
                    t.rtt = Some(now.saturating_duration_since(sent));
                }
            }
            match t.ping_sent_at {
                Some(sent) => arm(sent + ka.timeout),
                None => arm(t.last_activity.expect("set above") + ka.interval),
            }
        }
        next
    }

    /// Fires the timers due at `now`: the close timeout ends the connection
    /// (1006), a missing pong fails it (1011), a quiet connection gets a ping.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.timers.close_deadline {
            if now >= d && !self.timers.close_expired {
                self.timers.close_expired = true;
                if self.state == State::Closing {
                    self.state = State::Closed;
                    self.input_closed = true;
                    self.status = Some(CloseStatus {
                        code: CloseCode::ABNORMAL,
                        reason: Utf8Bytes::new(),
                        was_clean: false,
                    });
                    self.events.push_back(Event::TimedOut(Timeout::Close));
                }
            }
        }
        let (Some(ka), State::Open) = (self.config.keepalive, self.state) else {
            return;
        };
        let t = &mut self.timers;
        match t.ping_sent_at {
            Some(sent) if now >= sent + ka.timeout && !t.pong_received => {
                let code = CloseCode::INTERNAL_ERROR.0.to_be_bytes();
                self.write_frame(OpCode::Close, true, &code);
                self.close_sent = true;
                self.input_closed = true;
                self.failed = true;
                self.state = State::Closed;
                self.status = Some(CloseStatus {
                    code: CloseCode::ABNORMAL,
                    reason: Utf8Bytes::new(),
                    was_clean: false,
                });
                self.events.push_back(Event::TimedOut(Timeout::Keepalive));
            }
            None if !t.activity && t.last_activity.is_some_and(|l| now >= l + ka.interval) => {
                t.ping_counter += 1;
                t.ping_sent_at = Some(now);
                let payload = keepalive_payload(t.ping_counter);
                self.write_frame(OpCode::Ping, true, &payload);
            }
            _ => {}
        }
    }
}

/// The payload of keepalive ping number `n`: a tag that an application's own
/// pings are unlikely to carry, then the counter, so its pong is recognised
/// and kept inside the library.
fn keepalive_payload(n: u64) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(b"wsbolt-k");
    p[8..].copy_from_slice(&n.to_be_bytes());
    p
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
