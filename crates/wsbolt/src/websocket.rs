//! The browser's `WebSocket` interface (WHATWG WebSockets Standard), in Rust.
//!
//! (Over 400 lines: the interface's types and the task that drives one
//! connection implement one standard's state machine, whose steps refer to
//! each other; splitting them was left for the docs round, issue 25.)
//!
//! ```no_run
//! use wsbolt::websocket::{Event, MessageData, WebSocket};
//! # async fn run() -> Result<(), wsbolt::websocket::DomException> {
//! let mut ws = WebSocket::new("ws://127.0.0.1:9998/echo")?; // returns at once, CONNECTING
//! while let Some(event) = ws.next_event().await {
//!     match event {
//!         Event::Open => ws.send("hello")?,
//!         Event::Message(m) => {
//!             if let MessageData::Text(t) = &m.data { println!("got {t}") }
//!             ws.close(Some(1000), Some("done"))?;
//!         }
//!         Event::Error(e) => eprintln!("failed: {e}"),
//!         Event::Close(c) => println!("closed: {} {:?} clean={}", c.code, c.reason, c.was_clean),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Each method documents the standard's rule it follows. What does not carry
//! over to Rust:
//! - `binaryType`: there is no `Blob` in Rust, so binary data is always
//!   delivered as bytes ([`MessageData::Binary`], the `"arraybuffer"`
//!   behaviour).
//! - Event handlers (`onopen` …) and `addEventListener`: events are read in
//!   order with [`WebSocket::next_event`].
//! - Relative URLs: there is no document base URL, so the URL must be absolute.
//! - Strings are Rust strings: they cannot hold lone surrogates, so the
//!   standard's replacement step never applies.
//! - The `error` event carries what went wrong ([`ErrorEvent::error`]); a
//!   browser hides it from scripts, a Rust program can act on it.
//! - Received events wait in a bounded queue ([`DEFAULT_MAX_QUEUE`] messages
//!   by default): while it is full, the connection stops reading, so TCP
//!   pushes back on the server instead of memory growing.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;
use url::Url;
use wsbolt_proto::handshake::header::is_token;
use wsbolt_proto::{CloseFrame, Message};

use tokio_util::sync::PollSender;

use crate::config::ClientConfig;
use crate::error::Error;

/// How many received messages wait for [`WebSocket::next_event`] before the
/// connection stops reading from the socket (16, as Python `websockets`'
/// `max_queue`).
pub const DEFAULT_MAX_QUEUE: usize = 16;

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
    fn from_u8(v: u8) -> ReadyState {
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
    error: Option<Arc<Error>>,
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
    fn len(&self) -> u64 {
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

#[derive(Debug)]
enum Cmd {
    Send(SendData),
    Close(Option<CloseFrame>),
}

#[derive(Debug, Default)]
struct Shared {
    state: AtomicU8,
    buffered: AtomicU64,
    negotiated: Mutex<(String, String)>,
}

/// A WebSocket client with the browser API's names and rules.
#[derive(Debug)]
pub struct WebSocket {
    url: String,
    shared: Arc<Shared>,
    cmds: mpsc::UnboundedSender<Cmd>,
    events: mpsc::Receiver<Event>,
}

impl WebSocket {
    /// `new WebSocket(url)`. See [`WebSocket::with_protocols`].
    pub fn new(url: &str) -> Result<WebSocket, DomException> {
        Self::with_config(url, &[], ClientConfig::default())
    }

    /// `new WebSocket(url, protocols)`: returns at once in CONNECTING and
    /// connects in the background on the current tokio runtime (it panics
    /// outside one, like `tokio::spawn`).
    ///
    /// Standard steps: the URL is parsed with the WHATWG URL parser (a parse
    /// failure is a `SyntaxError`); `http` becomes `ws` and `https` becomes
    /// `wss`; any other scheme, or any fragment (even an empty `#`), is a
    /// `SyntaxError`. Each protocol must be a token (no separators, spaces or
    /// control characters, not empty) and none may repeat (compared
    /// ASCII-case-insensitively), else `SyntaxError`.
    pub fn with_protocols(url: &str, protocols: &[&str]) -> Result<WebSocket, DomException> {
        Self::with_config(url, protocols, ClientConfig::default())
    }

    /// Like [`WebSocket::with_protocols`], with library settings (TLS roots,
    /// limits, extra headers, permessage-deflate); `config.protocols` is
    /// replaced by `protocols`.
    pub fn with_config(url: &str, protocols: &[&str], config: ClientConfig) -> Result<WebSocket, DomException> {
        Self::with_max_queue(url, protocols, config, DEFAULT_MAX_QUEUE)
    }

    /// Like [`WebSocket::with_config`], with the number of received messages
    /// that may wait for [`WebSocket::next_event`] before reading stops
    /// (at least 1; default [`DEFAULT_MAX_QUEUE`]).
    pub fn with_max_queue(
        url: &str,
        protocols: &[&str],
        mut config: ClientConfig,
        max_queue: usize,
    ) -> Result<WebSocket, DomException> {
        let parsed = parse_url(url)?;
        check_protocols(protocols)?;
        config.protocols = protocols.iter().map(|p| p.to_string()).collect();
        let shared = Arc::new(Shared::default());
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel(max_queue.max(1));
        let origin = parsed.origin().ascii_serialization();
        let url_string = parsed.to_string();
        tokio::spawn(run(url_string.clone(), origin, config, shared.clone(), cmd_rx, ev_tx));
        Ok(WebSocket {
            url: url_string,
            shared,
            cmds: cmd_tx,
            events: ev_rx,
        })
    }

    /// `url`: the URL after parsing and scheme mapping, serialized.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        ReadyState::from_u8(self.shared.state.load(Ordering::Acquire))
    }

    /// `protocol`: the subprotocol the server chose; empty until open.
    pub fn protocol(&self) -> String {
        self.shared.negotiated.lock().map(|n| n.0.clone()).unwrap_or_default()
    }

    /// `extensions`: the extensions the server accepted; empty until open.
    pub fn extensions(&self) -> String {
        self.shared.negotiated.lock().map(|n| n.1.clone()).unwrap_or_default()
    }

    /// `bufferedAmount`: bytes of application data passed to `send` and not
    /// yet handed to the operating system. Data passed while CLOSING or
    /// CLOSED is counted and never sent, so it never falls (as the standard
    /// says).
    pub fn buffered_amount(&self) -> u64 {
        self.shared.buffered.load(Ordering::Acquire)
    }

    /// `send(data)`: strings as text, bytes as binary.
    ///
    /// While CONNECTING: `InvalidStateError`. While OPEN: queued, and
    /// `bufferedAmount` rises by the data's byte length until it is written.
    /// While CLOSING or CLOSED: nothing is sent and nothing is thrown, but
    /// `bufferedAmount` still rises by the byte length.
    pub fn send(&self, data: impl Into<SendData>) -> Result<(), DomException> {
        let data = data.into();
        match self.ready_state() {
            ReadyState::Connecting => Err(DomException::InvalidStateError("the connection is not open yet".into())),
            ReadyState::Open => {
                self.shared.buffered.fetch_add(data.len(), Ordering::AcqRel);
                // If the connection task is gone, the data stays counted, unsent.
                let _ = self.cmds.send(Cmd::Send(data));
                Ok(())
            }
            ReadyState::Closing | ReadyState::Closed => {
                self.shared.buffered.fetch_add(data.len(), Ordering::AcqRel);
                Ok(())
            }
        }
    }

    /// `close(code, reason)`.
    ///
    /// The code must be 1000 or 3000–4999 (`InvalidAccessError`); the
    /// reason at most 123 bytes of UTF-8 (`SyntaxError`); both are checked
    /// before the state. In CLOSING or CLOSED: nothing. While CONNECTING:
    /// the connection fails (events `Error` then `Close` with 1006, not
    /// clean). While OPEN: the closing handshake starts (a reason without a
    /// code sends 1000; neither sends a Close without status) and the state
    /// becomes CLOSING.
    pub fn close(&self, code: Option<u16>, reason: Option<&str>) -> Result<(), DomException> {
        if let Some(c) = code {
            if c != 1000 && !(3000..=4999).contains(&c) {
                return Err(DomException::InvalidAccessError(format!(
                    "close code {c} is not 1000 or 3000-4999"
                )));
            }
        }
        if let Some(r) = reason {
            if r.len() > 123 {
                return Err(DomException::SyntaxError(format!(
                    "close reason of {} bytes exceeds 123",
                    r.len()
                )));
            }
        }
        let frame = match (code, reason) {
            (None, None) => None,
            (c, r) => Some(CloseFrame::new(c.unwrap_or(1000), r.unwrap_or("")).expect("checked above")),
        };
        loop {
            let state = self.shared.state.load(Ordering::Acquire);
            match ReadyState::from_u8(state) {
                ReadyState::Closing | ReadyState::Closed => return Ok(()),
                ReadyState::Connecting | ReadyState::Open => {
                    if self
                        .shared
                        .state
                        .compare_exchange(state, ReadyState::Closing as u8, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        let _ = self.cmds.send(Cmd::Close(frame));
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The next event, in order; `None` after the `Close` event.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: events wait in the queue until taken.
    ///
    /// As in the standard, whether a message is delivered is decided when
    /// its event is taken: a message received before `close()` was called
    /// but not yet taken is dropped, since the state is no longer OPEN.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            let ev = self.events.recv().await?;
            if matches!(ev, Event::Message(_)) && self.ready_state() != ReadyState::Open {
                continue;
            }
            return Some(ev);
        }
    }
}

impl Drop for WebSocket {
    /// Dropping an open `WebSocket` closes it with 1001 (going away), as a
    /// browser does when the page goes away; the handshake finishes in the
    /// background, bounded by the close timeout.
    fn drop(&mut self) {
        if matches!(self.ready_state(), ReadyState::Connecting | ReadyState::Open) {
            let _ = self
                .cmds
                .send(Cmd::Close(Some(CloseFrame::new(1001u16, "").expect("valid"))));
        }
    }
}

fn parse_url(url: &str) -> Result<Url, DomException> {
    let mut u = Url::parse(url).map_err(|e| DomException::SyntaxError(format!("{url:?} is not a valid URL: {e}")))?;
    let mapped = match u.scheme() {
        "http" => Some("ws"),
        "https" => Some("wss"),
        "ws" | "wss" => None,
        s => {
            return Err(DomException::SyntaxError(format!(
                "scheme {s:?} is not ws, wss, http or https"
            )))
        }
    };
    if let Some(s) = mapped {
        u.set_scheme(s)
            .map_err(|_| DomException::SyntaxError("cannot map the scheme".into()))?;
    }
    if u.fragment().is_some() {
        return Err(DomException::SyntaxError(
            "WebSocket URLs cannot have a fragment".into(),
        ));
    }
    Ok(u)
}

fn check_protocols(protocols: &[&str]) -> Result<(), DomException> {
    for (i, p) in protocols.iter().enumerate() {
        if !is_token(p) {
            return Err(DomException::SyntaxError(format!(
                "{p:?} is not a valid subprotocol name"
            )));
        }
        if protocols[..i].iter().any(|q| q.eq_ignore_ascii_case(p)) {
            return Err(DomException::SyntaxError(format!("subprotocol {p:?} is listed twice")));
        }
    }
    Ok(())
}

/// The connection task: connects, then moves messages both ways, keeping
/// `readyState` and `bufferedAmount` true, and ends with one `Close` event.
/// While the event queue is full it stops reading (and keeps writing).
async fn run(
    url: String,
    origin: String,
    config: ClientConfig,
    shared: Arc<Shared>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    events: mpsc::Sender<Event>,
) {
    let set = |s: ReadyState| shared.state.store(s as u8, Ordering::Release);
    let connect = crate::client::connect_with_config(&url, &config);
    // close() while CONNECTING fails the connection at once.
    let connected = tokio::select! {
        r = connect => r,
        _ = wait_close(&mut cmds) => {
            set(ReadyState::Closed);
            return finish(&events, Some(None), 1006, String::new(), false).await;
        }
    };
    let mut ws = match connected {
        Ok((ws, _)) => ws,
        Err(e) => {
            tracing::debug!(%url, error = %e, "WebSocket connection failed");
            set(ReadyState::Closed);
            return finish(&events, Some(Some(e)), 1006, String::new(), false).await;
        }
    };
    if let Ok(mut n) = shared.negotiated.lock() {
        *n = (
            ws.protocol().unwrap_or_default().to_string(),
            ws.extensions().unwrap_or_default().to_string(),
        );
    }
    // close() may have raced the handshake: it still fails the connection.
    let opened = shared.state.compare_exchange(
        ReadyState::Connecting as u8,
        ReadyState::Open as u8,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    if opened.is_err() {
        drop(ws);
        set(ReadyState::Closed);
        return finish(&events, Some(None), 1006, String::new(), false).await;
    }
    if events.send(Event::Open).await.is_err() {
        return;
    }

    let mut sender = PollSender::new(events.clone());
    // A received message waiting for room in the event queue.
    let mut held: Option<Event> = None;
    // Bytes of each queued message, to lower bufferedAmount as the output drains.
    let mut pending: VecDeque<(u64, u64)> = VecDeque::new(); // (end offset in output, payload length)
    let mut queued_total: u64 = 0;
    let mut received_close = false;
    let mut failure: Option<Error> = None;
    let mut cmds_open = true;
    loop {
        let next = std::future::poll_fn(|cx| {
            while cmds_open {
                match cmds.poll_recv(cx) {
                    Poll::Ready(Some(Cmd::Send(data))) => {
                        if shared.state.load(Ordering::Acquire) != ReadyState::Open as u8 {
                            continue; // counted, never sent
                        }
                        let len = data.len();
                        let msg = match data {
                            SendData::Text(t) => Message::text(t),
                            SendData::Binary(b) => Message::Binary(b),
                        };
                        let before = ws.buffered_amount() as u64;
                        if ws.queue(msg).is_ok() {
                            queued_total += ws.buffered_amount() as u64 - before;
                            pending.push_back((queued_total, len));
                        }
                    }
                    Poll::Ready(Some(Cmd::Close(frame))) => {
                        let before = ws.buffered_amount() as u64;
                        if ws.queue(Message::Close(frame)).is_ok() {
                            queued_total += ws.buffered_amount() as u64 - before;
                        }
                    }
                    Poll::Ready(None) => cmds_open = false,
                    Poll::Pending => break,
                }
            }
            let r = if held.is_some() {
                // The queue is full: hand over the held message when there is
                // room, and read nothing meanwhile; keep writing.
                let _ = futures_sink::Sink::poll_flush(std::pin::Pin::new(&mut ws), cx);
                match sender.poll_reserve(cx) {
                    Poll::Ready(Ok(())) => {
                        let _ = sender.send_item(held.take().expect("checked"));
                        Poll::Ready(Step::Handed)
                    }
                    // The WebSocket was dropped: nobody reads events any more.
                    Poll::Ready(Err(_)) => {
                        held = None;
                        Poll::Ready(Step::Handed)
                    }
                    Poll::Pending => Poll::Pending,
                }
            } else {
                Stream::poll_next(std::pin::Pin::new(&mut ws), cx).map(Step::Next)
            };
            // Everything before `written` has been handed to the OS.
            let written = queued_total.saturating_sub(ws.buffered_amount() as u64);
            while let Some(&(end, len)) = pending.front() {
                if end > written {
                    break;
                }
                pending.pop_front();
                shared.buffered.fetch_sub(len, Ordering::AcqRel);
            }
            r
        })
        .await;
        // Messages that arrive once the state is not OPEN are dropped.
        let open = shared.state.load(Ordering::Acquire) == ReadyState::Open as u8;
        let Step::Next(next) = next else { continue };
        let data = match next {
            Some(Ok(Message::Text(t))) => MessageData::Text(t.as_str().to_string()),
            Some(Ok(Message::Binary(b))) => MessageData::Binary(b),
            Some(Ok(Message::Close(_))) => {
                // The peer started (or answered) the closing handshake.
                received_close = true;
                set(ReadyState::Closing);
                continue;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                // A protocol error by the server, a keepalive timeout, or a
                // transport error: the connection is failed.
                tracing::debug!(%url, error = %e, "WebSocket connection failed");
                if !matches!(e, Error::ConnectionClosed) {
                    failure = Some(e);
                }
                continue;
            }
            None => break,
        };
        if open {
            held = Some(Event::Message(MessageEvent {
                data,
                origin: origin.clone(),
            }));
        }
    }
    set(ReadyState::Closed);
    let status = ws.close_status().cloned();
    let failed = failure.is_some();
    let (code, reason, was_clean) = match (&status, received_close && !failed) {
        (Some(s), true) => (s.code().as_u16(), s.reason().to_string(), s.was_clean()),
        _ => (1006, String::new(), false),
    };
    drop(sender);
    finish(&events, failed.then_some(failure), code, reason, was_clean).await;
}

/// What one turn of the connection task's poll brought.
enum Step {
    /// A held message went into the event queue (or was dropped, the
    /// `WebSocket` being gone).
    Handed,
    /// What the connection produced.
    Next(Option<crate::Result<Message>>),
}

/// The last events: `error` (with its cause, if the connection failed),
/// then `close`. They wait for room in the queue; if the `WebSocket` is gone
/// nobody needs them.
async fn finish(
    events: &mpsc::Sender<Event>,
    error: Option<Option<Error>>,
    code: u16,
    reason: String,
    was_clean: bool,
) {
    if let Some(e) = error {
        let ev = ErrorEvent { error: e.map(Arc::new) };
        if events.send(Event::Error(ev)).await.is_err() {
            return;
        }
    }
    let _ = events
        .send(Event::Close(CloseEvent {
            code,
            reason,
            was_clean,
        }))
        .await;
}

/// Resolves when a close command arrives (sends before that are dropped:
/// `send` refuses them while CONNECTING).
async fn wait_close(cmds: &mut mpsc::UnboundedReceiver<Cmd>) -> Option<Cmd> {
    loop {
        match cmds.recv().await {
            Some(c @ Cmd::Close(_)) => return Some(c),
            Some(Cmd::Send(_)) => continue,
            None => return std::future::pending().await,
        }
    }
}
