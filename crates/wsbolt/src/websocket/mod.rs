//! The browser's `WebSocket` interface (WHATWG WebSockets Standard), in Rust.
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

mod driver;
mod events;

use self::driver::{Cmd, Shared};

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;
use url::Url;
use wsbolt_proto::handshake::header::is_token;
use wsbolt_proto::CloseFrame;

use crate::config::ClientConfig;

pub use self::events::{CloseEvent, DomException, ErrorEvent, Event, MessageData, MessageEvent, ReadyState, SendData};

/// How many received messages wait for [`WebSocket::next_event`] before the
/// connection stops reading from the socket (16, as Python `websockets`'
/// `max_queue`).
pub const DEFAULT_MAX_QUEUE: usize = 16;

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
        tokio::spawn(driver::run(
            url_string.clone(),
            origin,
            config,
            shared.clone(),
            cmd_rx,
            ev_tx,
        ));
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
