//! [`WebSocketStream`]: drives a [`Connection`] over any async transport.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;
use wsbolt_proto::{CloseFrame, CloseStatus, Connection, Event, Message, Role, State, Timeout};

use crate::config::Config;
use crate::error::{Error, Result};

/// The smallest read: enough for many small frames per syscall.
const READ_CHUNK: usize = 16 * 1024;
/// The largest single reservation for a large frame's payload.
const MAX_READ_CHUNK: usize = 1 << 20;
/// The most slices handed to one vectored write.
const MAX_IOV: usize = 64;

/// A WebSocket connection over a transport `S`: a [`Stream`] of received
/// [`Message`]s and a [`Sink`] of messages to send.
///
/// Reading drives the connection: pongs, Close replies and keepalive pings
/// go out while the application polls the stream, even if it never sends.
/// `poll_next` is cancel-safe: all state lives in the value, so a `next()`
/// dropped inside `tokio::select!` loses nothing.
///
/// Received Ping, Pong and Close frames are delivered as messages too (pings
/// are already answered). After a Close message or an error the stream ends
/// (`None`) once the transport is closed.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// # async fn run() -> Result<(), wsbolt::Error> {
/// let (mut ws, _response) = wsbolt::connect("ws://127.0.0.1:9998/echo").await?;
/// ws.send(wsbolt::Message::text("hello")).await?;
/// while let Some(msg) = ws.next().await {
///     println!("{:?}", msg?);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct WebSocketStream<S> {
    io: S,
    conn: Connection,
    config: Config,
    sleep: Option<Pin<Box<Sleep>>>,
    sleep_at: Option<Instant>,
    /// An event held back until the Close frame it implies is written.
    held: Option<Event>,
    read_eof: bool,
    finished: bool,
    protocol: Option<String>,
    extensions: Option<String>,
}

impl<S> WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps a transport on which the opening handshake already happened.
    /// `leftover` holds bytes read past the handshake (the first frames).
    pub fn from_raw(io: S, role: Role, config: Config, leftover: &[u8]) -> Self {
        let mut conn = Connection::new(role, config.protocol.clone());
        if !leftover.is_empty() {
            conn.receive(leftover);
        }
        WebSocketStream {
            io,
            conn,
            config,
            sleep: None,
            sleep_at: None,
            held: None,
            read_eof: false,
            finished: false,
            protocol: None,
            extensions: None,
        }
    }

    pub(crate) fn set_negotiated(&mut self, protocol: Option<String>, extensions: Option<String>) {
        self.protocol = protocol;
        self.extensions = extensions;
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions agreed in the handshake, if any.
    pub fn extensions(&self) -> Option<&str> {
        self.extensions.as_deref()
    }

    /// The protocol state.
    pub fn state(&self) -> State {
        self.conn.state()
    }

    /// How the connection ended, once it has.
    pub fn close_status(&self) -> Option<&CloseStatus> {
        self.conn.close_status()
    }

    /// Bytes queued for sending and not yet accepted by the OS.
    pub fn buffered_amount(&self) -> usize {
        self.conn.output_len()
    }

    /// The last keepalive round-trip time, if keepalive is on.
    pub fn keepalive_rtt(&self) -> Option<std::time::Duration> {
        self.conn.keepalive_rtt()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// A message already received and parsed, without waiting or reading:
    /// lets a server answer everything one read brought before flushing once.
    pub fn try_next_buffered(&mut self) -> Option<Result<Message>> {
        if self.held.is_some() {
            return None;
        }
        match self.conn.next_event()? {
            ev @ (Event::Close(_) | Event::Failed(_) | Event::TimedOut(_)) => {
                self.held = Some(ev);
                None
            }
            ev => Some(Ok(event_to_message(ev).expect("data event"))),
        }
    }

    /// Queues a message without writing it (see [`Sink::start_send`]).
    pub fn queue(&mut self, msg: Message) -> Result<()> {
        self.conn.send(msg).map_err(Error::Send)
    }

    /// Starts the closing handshake and drives the connection until it ends
    /// (the peer's Close arrives, or the close timeout passes). Messages that
    /// arrive meanwhile are discarded.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        if self.conn.state() == State::Open {
            self.conn.close(frame)?;
        }
        std::future::poll_fn(|cx| self.poll_drive_to_end(cx)).await;
        Ok(())
    }

    fn poll_drive_to_end(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match ready!(self.poll_next_message(cx)) {
                None => return Poll::Ready(()),
                Some(_) => continue,
            }
        }
    }

    /// Writes queued output until it is all written or the transport is full.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        while !self.conn.output().is_empty() {
            let out = self.conn.output();
            let n = if self.io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let k = out.chunks_vectored(&mut slices);
                ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..k]))?
            } else {
                ready!(Pin::new(&mut self.io).poll_write(cx, out.first_chunk()))?
            };
            if n == 0 {
                return Poll::Ready(Err(Error::Io(std::io::ErrorKind::WriteZero.into())));
            }
            self.conn.output().advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Writes and flushes everything queued.
    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.poll_write_out(cx))?;
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// Arms the timer for the connection's next deadline; fires it if due.
    /// Returns whether a timer fired.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.conn.timers_active() {
            self.sleep_at = None;
            return false;
        }
        let now = Instant::now();
        let Some(deadline) = self.conn.poll_timeout(now) else {
            self.sleep_at = None;
            return false;
        };
        if deadline <= now {
            self.conn.handle_timeout(now);
            return true;
        }
        if self.sleep_at != Some(deadline) {
            self.sleep_at = Some(deadline);
            let at = tokio::time::Instant::from_std(deadline);
            match &mut self.sleep {
                Some(s) => s.as_mut().reset(at),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        let sleep = self.sleep.as_mut().expect("armed above");
        if sleep.as_mut().poll(cx).is_ready() {
            self.sleep_at = None;
            self.conn.handle_timeout(Instant::now());
            return true;
        }
        false
    }

    /// Reads once into the connection. `Ready(true)` if something happened.
    fn poll_read_once(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let hint = self.conn.read_hint().clamp(READ_CHUNK, MAX_READ_CHUNK);
        let buf = self.conn.read_buffer();
        if buf.capacity() - buf.len() < READ_CHUNK {
            buf.reserve(hint);
        }
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            buf
        ))?;
        if n == 0 {
            self.read_eof = true;
            self.conn.receive_eof();
        } else {
            self.conn.process();
            if self.conn.timers_active() {
                // Record the activity and any keepalive pong at arrival time,
                // before the events are handed out.
                self.conn.poll_timeout(Instant::now());
            }
        }
        Poll::Ready(Ok(()))
    }

    /// The read loop: events out, output written, timers, transport closed
    /// when the protocol says so.
    fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            let event = self.held.take().or_else(|| self.conn.next_event());
            if let Some(ev) = event {
                let ends = matches!(ev, Event::Close(_) | Event::Failed(_) | Event::TimedOut(_));
                if ends {
                    // The Close this event implies goes out before the
                    // application hears of it, so it is sent even if the
                    // application stops polling now.
                    match self.poll_flush_all(cx) {
                        Poll::Pending => {
                            self.held = Some(ev);
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) if !e.closed_io() => return Poll::Ready(Some(Err(e))),
                        Poll::Ready(_) => {}
                    }
                }
                match ev {
                    Event::Failed(e) => return Poll::Ready(Some(Err(Error::Protocol(e)))),
                    Event::TimedOut(Timeout::Keepalive) => {
                        return Poll::Ready(Some(Err(Error::KeepaliveTimeout)))
                    }
                    Event::TimedOut(Timeout::Close) => continue,
                    ev => return Poll::Ready(event_to_message(ev).map(Ok)),
                }
            }
            // Pongs and Close replies leave even if the application never sends.
            if !self.conn.output().is_empty() {
                match self.poll_flush_all(cx) {
                    Poll::Ready(Err(e)) => {
                        self.conn.receive_eof();
                        self.read_eof = true;
                        if !e.closed_io() {
                            self.finished = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                        continue;
                    }
                    Poll::Ready(Ok(())) | Poll::Pending => {}
                }
            }
            if self.conn.wants_transport_closed()
                || (self.read_eof && self.conn.output().is_empty())
            {
                let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                self.finished = true;
                self.sleep = None;
                return Poll::Ready(None);
            }
            if self.poll_timers(cx) {
                continue;
            }
            if self.read_eof {
                // Waiting for output to drain.
                return Poll::Pending;
            }
            match ready!(self.poll_read_once(cx)) {
                Ok(()) => continue,
                Err(e) => {
                    self.read_eof = true;
                    self.conn.receive_eof();
                    if e.closed_io() {
                        continue;
                    }
                    self.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

fn event_to_message(ev: Event) -> Option<Message> {
    Some(match ev {
        Event::Text(t) => Message::Text(t),
        Event::Binary(b) => Message::Binary(b),
        Event::Ping(p) => Message::Ping(p),
        Event::Pong(p) => Message::Pong(p),
        Event::Close(f) => Message::Close(f),
        Event::Failed(_) | Event::TimedOut(_) => return None,
    })
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    /// Waits while more than `write_high_water` bytes are queued.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.conn.output_len() >= this.config.write_high_water {
            ready!(this.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.get_mut().queue(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_all(cx)
    }

    /// Sends a Close (1000) if none was sent, then drives the connection
    /// until the closing handshake ends and the transport is closed.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.conn.state() == State::Open {
            let frame = CloseFrame::new(1000u16, "").expect("1000 is valid");
            this.conn.close(Some(frame))?;
        }
        ready!(this.poll_drive_to_end(cx));
        Poll::Ready(Ok(()))
    }
}
