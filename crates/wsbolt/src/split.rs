//! Owned read and write halves of one connection, usable from different tasks.
//!
//! Both halves share the one [`WebSocketStream`] they came from, behind a
//! mutex: one protocol state machine, so compression, the close state,
//! keepalive and the RTT behave exactly as they do unsplit. The mutex is held
//! only for the length of one non-blocking poll (a parse, an encode, a
//! syscall that does not wait), never across an `.await`.
//!
//! Whichever half finds the transport not writable registers the shared
//! waker set, so the write readiness wakes every half waiting on it: the read
//! half writes pongs and Close replies even when the application never sends,
//! and the write half writes its own messages even when nobody reads.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_core::Stream;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite};
use wsbolt_proto::{CloseFrame, CloseStatus, Message, PreparedMessage, Role, SendError, State};

use crate::error::{Error, Result};
use crate::stream::WebSocketStream;

/// The tasks waiting on the shared connection: the read half's, and those of
/// every write half (clones included) that found the transport full.
#[derive(Debug, Default)]
struct WakeSet {
    reader: AtomicWaker,
    /// At most one entry per waiting task (see [`WakeSet::register_writer`]).
    writers: Mutex<Vec<Waker>>,
}

impl WakeSet {
    fn register_writer(&self, waker: &Waker) {
        let mut list = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        if !list.iter().any(|w| w.will_wake(waker)) {
            list.push(waker.clone());
        }
    }
}

impl Wake for WakeSet {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.reader.wake();
        let waiting = std::mem::take(&mut *self.writers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in waiting {
            w.wake();
        }
    }
}

struct Shared<S> {
    stream: Mutex<WebSocketStream<S>>,
    wakers: Arc<WakeSet>,
    /// A waker that wakes everything in `wakers`: the transport and the
    /// timers are always polled with it.
    all: Waker,
    role: Role,
    protocol: Option<String>,
    extensions: Option<String>,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, WebSocketStream<S>> {
        // A panic while polling leaves the protocol state consistent (every
        // mutation completes before the next poll), so poisoning is ignored.
        self.stream.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S> fmt::Debug for Shared<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("role", &self.role)
            .field("protocol", &self.protocol)
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

impl<S> WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Splits the connection into a read half (a [`Stream`] of messages) and a
    /// write half (cloneable, a [`Sink`](futures_sink::Sink) of messages),
    /// usable from different tasks. Works on any transport; nothing is
    /// spawned. [`WsReader::reunite`] puts them back together.
    ///
    /// Both halves drive the one connection they came from: permessage-deflate,
    /// the close state, keepalive and its RTT are shared. Keep polling the read
    /// half: it answers pings, runs the timers and completes the closing
    /// handshake.
    ///
    /// ```no_run
    /// use futures_util::StreamExt;
    /// # async fn run() -> Result<(), wsbolt::Error> {
    /// let (ws, _) = wsbolt::connect("ws://127.0.0.1:9998/echo").await?;
    /// let (mut reader, writer) = ws.split();
    /// let mut w2 = writer.clone();
    /// tokio::spawn(async move { w2.send(wsbolt::Message::text("from a task")).await });
    /// while let Some(msg) = reader.next().await {
    ///     println!("{:?}", msg?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn split(self) -> (WsReader<S>, WsWriter<S>) {
        let wakers = Arc::new(WakeSet::default());
        let shared = Arc::new(Shared {
            role: self.role(),
            protocol: self.protocol().map(str::to_owned),
            extensions: self.extensions().map(str::to_owned),
            stream: Mutex::new(self),
            all: Waker::from(wakers.clone()),
            wakers,
        });
        (WsReader { shared: shared.clone() }, WsWriter { shared })
    }
}

/// The read half: a [`Stream`] of messages.
///
/// Keep polling it: it answers pings, runs the keepalive and close timers and
/// completes the closing handshake (also one the write half started).
///
/// # Cancel safety
///
/// `next()` is cancel-safe, as on [`WebSocketStream`]: a dropped `next()`
/// loses no message.
pub struct WsReader<S> {
    shared: Arc<Shared<S>>,
}

/// The write half: send messages from any task. Clone it to send from several
/// tasks; each `send` queues its message whole (messages never interleave).
pub struct WsWriter<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for WsWriter<S> {
    fn clone(&self) -> Self {
        WsWriter {
            shared: self.shared.clone(),
        }
    }
}

impl<S> fmt::Debug for WsReader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReader").field("shared", &self.shared).finish()
    }
}

impl<S> fmt::Debug for WsWriter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter").field("shared", &self.shared).finish()
    }
}

/// [`WsReader::reunite`] was given a write half of another connection, or a
/// clone of the write half is still alive. Both halves are handed back.
pub struct ReuniteError<S>(pub WsReader<S>, pub WsWriter<S>);

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different connections, or a write half clone is still alive")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}

/// What both halves can read of the connection's state.
macro_rules! shared_accessors {
    () => {
        /// The protocol state of the (one) connection.
        pub fn state(&self) -> State {
            self.shared.lock().state()
        }

        /// How the connection ended, once it has (a copy: the state lives in
        /// the shared connection).
        pub fn close_status(&self) -> Option<CloseStatus> {
            self.shared.lock().close_status().cloned()
        }

        /// The subprotocol agreed in the handshake, if any.
        pub fn protocol(&self) -> Option<&str> {
            self.shared.protocol.as_deref()
        }

        /// The extensions agreed in the handshake, if any.
        pub fn extensions(&self) -> Option<&str> {
            self.shared.extensions.as_deref()
        }

        /// The last keepalive round-trip time, if keepalive is on.
        pub fn keepalive_rtt(&self) -> Option<Duration> {
            self.shared.lock().keepalive_rtt()
        }

        /// Bytes queued for sending (by either half) and not yet accepted by the OS.
        pub fn buffered_amount(&self) -> usize {
            self.shared.lock().buffered_amount()
        }

        /// This end's role.
        pub fn role(&self) -> Role {
            self.shared.role
        }
    };
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsReader<S> {
    shared_accessors!();

    /// Puts the halves back together into the stream they came from.
    ///
    /// # Errors
    ///
    /// [`ReuniteError`] (with both halves) if `writer` belongs to another
    /// connection or a clone of it is still alive.
    pub fn reunite(self, writer: WsWriter<S>) -> Result<WebSocketStream<S>, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.shared, &writer.shared) || Arc::strong_count(&self.shared) != 2 {
            return Err(ReuniteError(self, writer));
        }
        drop(writer);
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => Ok(shared.stream.into_inner().unwrap_or_else(|e| e.into_inner())),
            // Not expected (both owners were here, and no clone can be made
            // of halves this function owns), but never a panic.
            Err(shared) => Err(ReuniteError(WsReader { shared: shared.clone() }, WsWriter { shared })),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsReader<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let shared = &*self.shared;
        shared.wakers.reader.register(cx.waker());
        let mut all = Context::from_waker(&shared.all);
        Pin::new(&mut *shared.lock()).poll_next(&mut all)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriter<S> {
    shared_accessors!();

    /// Sends a message and waits until it is written to the transport
    /// (a Close message starts the closing handshake, which the read half
    /// completes).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe before the message is queued (it waits while more than
    /// `write_high_water` bytes are unwritten); once queued, a cancelled
    /// `send` loses nothing: the message is written by the next flush or by
    /// the read half.
    ///
    /// # Errors
    ///
    /// [`Error::ConnectionClosed`] after a Close was sent or the transport
    /// failed; [`Error::Send`] for a message that cannot be sent (an invalid
    /// close code, a control payload over 125 bytes); [`Error::Io`].
    pub async fn send(&mut self, msg: Message) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        self.queue(msg)?;
        std::future::poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Sends a message framed once for many connections (see
    /// [`WebSocketStream::queue_prepared`]) and waits until it is written.
    ///
    /// # Errors
    ///
    /// As [`WsWriter::send`].
    pub async fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        let queued = self.shared.lock().queue_prepared(prepared);
        queued.map_err(closed_as_connection_closed)?;
        std::future::poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Sends a Close (`None`: without status) and waits until it is written.
    /// The read half completes the handshake when the peer's Close arrives.
    ///
    /// # Errors
    ///
    /// As [`WsWriter::send`].
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.send(Message::Close(frame)).await
    }

    /// Queues a message without waiting; the next flush (or the read half)
    /// writes it.
    fn queue(&mut self, msg: Message) -> Result<()> {
        let close = matches!(msg, Message::Close(_));
        self.shared.lock().queue(msg).map_err(closed_as_connection_closed)?;
        if close {
            // The read half arms the close timer when it next runs.
            self.shared.wakers.reader.wake();
        }
        Ok(())
    }

    fn poll_ready_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.shared.wakers.register_writer(cx.waker());
        let mut all = Context::from_waker(&self.shared.all);
        let mut ws = self.shared.lock();
        if matches!(ws.state(), State::Closing | State::Closed) {
            return Poll::Ready(Err(Error::ConnectionClosed));
        }
        let r = futures_sink::Sink::poll_ready(Pin::new(&mut *ws), &mut all);
        self.wake_reader_if_read(&ws);
        r
    }

    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.shared.wakers.register_writer(cx.waker());
        let mut all = Context::from_waker(&self.shared.all);
        let mut ws = self.shared.lock();
        let r = futures_sink::Sink::poll_flush(Pin::new(&mut *ws), &mut all);
        self.wake_reader_if_read(&ws);
        r
    }

    /// A write that found the transport full reads meanwhile (see
    /// `WebSocketStream`'s `poll_flush`); what it read is the read half's:
    /// wake it, since no readiness event may follow (a TLS layer can hand
    /// over data it had already buffered).
    fn wake_reader_if_read(&self, ws: &WebSocketStream<S>) {
        if ws.has_unread() {
            self.shared.wakers.reader.wake();
        }
    }
}

fn closed_as_connection_closed(e: Error) -> Error {
    match e {
        Error::Send(SendError::Closed) => Error::ConnectionClosed,
        e => e,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WsWriter<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_ready_inner(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.get_mut().queue(item)
    }

    /// Ready once everything queued (by either half) is written.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_inner(cx)
    }

    /// Sends a Close (1000) unless one went out, then flushes. The read half
    /// completes the closing handshake.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let open = this.shared.lock().state() == State::Open;
        if open {
            this.queue(Message::Close(Some(
                CloseFrame::new(1000u16, "").expect("1000 is valid"),
            )))?;
        }
        match this.poll_flush_inner(cx) {
            Poll::Ready(Err(e)) if e.closed_io() => Poll::Ready(Ok(())),
            other => other,
        }
    }
}
