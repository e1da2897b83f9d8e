//! [`WebSocketStream`]: drives a [`Connection`] over any async transport.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use wsbolt_proto::deflate::DeflateParams;
use wsbolt_proto::{CloseFrame, CloseStatus, Connection, Message, PreparedMessage, Role, State};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::read_loop::{Io, Linger, ReadLoop};

/// The most slices handed to one vectored write.
const MAX_IOV: usize = 16;

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
    /// The read loop, which also keeps the one setting needed after
    /// construction (`write_high_water`): the rest of the [`Config`] is not
    /// kept, so an idle connection stays small.
    inner: ReadLoop<Direct<S>>,
    /// The subprotocol and extensions agreed in the handshake; boxed, and
    /// only when there are any.
    negotiated: Option<Box<Negotiated>>,
}

#[derive(Debug)]
struct Negotiated {
    protocol: Option<String>,
    extensions: Option<String>,
}

/// The transport, written to directly.
#[derive(Debug)]
pub(crate) struct Direct<S>(pub(crate) S);

impl<S: AsyncRead + AsyncWrite + Unpin> Io for Direct<S> {
    fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<std::io::Result<usize>> {
        tokio_util::io::poll_read_buf(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_write_out(&mut self, cx: &mut Context<'_>, conn: &mut Connection) -> Poll<Result<()>> {
        let out = conn.output();
        while !out.is_empty() {
            // One chunk (small frames copied into the tail, the usual
            // case) is a plain write: no slice array to fill.
            let n = if self.0.is_write_vectored() && !out.is_single_chunk() {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let k = out.chunks_vectored(&mut slices);
                ready!(Pin::new(&mut self.0).poll_write_vectored(cx, &slices[..k]))?
            } else {
                ready!(Pin::new(&mut self.0).poll_write(cx, out.first_chunk()))?
            };
            if n == 0 {
                return Poll::Ready(Err(Error::Io(std::io::ErrorKind::WriteZero.into())));
            }
            out.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_backlog_below(&mut self, _cx: &mut Context<'_>, conn: &Connection, limit: usize) -> Poll<()> {
        // The read loop tried to write just before this, so when the output
        // is still large the transport's write readiness will wake us.
        if conn.answer_backlog() < limit {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S> WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps a transport on which the opening handshake already happened.
    /// `leftover` holds bytes read past the handshake (the first frames).
    pub fn from_raw(io: S, role: Role, config: Config, leftover: &[u8]) -> Self {
        Self::from_raw_with_deflate(io, role, config, None, leftover)
    }

    /// Like [`WebSocketStream::from_raw`], with permessage-deflate parameters
    /// negotiated in the handshake (compression settings from `config.deflate`).
    pub fn from_raw_with_deflate(
        io: S,
        role: Role,
        config: Config,
        deflate: Option<DeflateParams>,
        leftover: &[u8],
    ) -> Self {
        let mut conn = Connection::new(role, config.protocol.clone());
        if let Some(params) = deflate {
            conn.enable_deflate(params, config.deflate.clone().unwrap_or_default());
        }
        if config.frame_trace {
            conn.set_frame_trace(true);
        }
        if !leftover.is_empty() {
            conn.receive(leftover);
        }
        WebSocketStream {
            inner: ReadLoop::new(
                Direct(io),
                conn,
                config.write_high_water,
                Linger {
                    time: config.linger_time,
                    bytes: config.linger_bytes,
                },
            ),
            negotiated: None,
        }
    }

    pub(crate) fn set_negotiated(&mut self, protocol: Option<String>, extensions: Option<String>) {
        self.negotiated =
            (protocol.is_some() || extensions.is_some()).then(|| Box::new(Negotiated { protocol, extensions }));
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.negotiated.as_ref()?.protocol.as_deref()
    }

    /// The extensions agreed in the handshake, if any.
    pub fn extensions(&self) -> Option<&str> {
        self.negotiated.as_ref()?.extensions.as_deref()
    }

    /// The protocol state.
    pub fn state(&self) -> State {
        self.inner.conn.state()
    }

    /// How the connection ended, once it has.
    pub fn close_status(&self) -> Option<&CloseStatus> {
        self.inner.conn.close_status()
    }

    /// Bytes queued for sending and not yet accepted by the OS.
    pub fn buffered_amount(&self) -> usize {
        self.inner.conn.output_len()
    }

    /// The last keepalive round-trip time, if keepalive is on.
    pub fn keepalive_rtt(&self) -> Option<std::time::Duration> {
        self.inner.conn.keepalive_rtt()
    }

    /// Turns the frame trace on or off (see
    /// [`Connection::set_frame_trace`](wsbolt_proto::Connection::set_frame_trace)):
    /// while on, every frame received or sent leaves a record, taken with
    /// [`next_frame_record`](WebSocketStream::next_frame_record). To record
    /// from the first frame, set [`Config::frame_trace`] instead.
    pub fn set_frame_trace(&mut self, on: bool) {
        self.inner.conn.set_frame_trace(on);
    }

    /// The oldest frame record not yet taken (the trace must be on).
    pub fn next_frame_record(&mut self) -> Option<wsbolt_proto::FrameRecord> {
        self.inner.conn.next_frame_record()
    }

    /// How many frame records were dropped, unread, beyond
    /// [`MAX_FRAME_RECORDS`](wsbolt_proto::MAX_FRAME_RECORDS).
    pub fn frame_records_dropped(&self) -> u64 {
        self.inner.conn.frame_records_dropped()
    }

    /// The outbound high-water mark ([`Config::write_high_water`]): `send`
    /// waits while this many bytes are queued.
    pub fn write_high_water(&self) -> usize {
        self.inner.write_high_water
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.inner.io.0
    }

    /// The transport and the protocol state, for a server that drives the
    /// connection itself from here on (its own event loop, as `wsbolt
    /// serve`'s engine does): bytes read past the handshake and events not
    /// yet taken stay in the [`Connection`], what it queued stays in its
    /// output.
    ///
    /// Meant for a stream that was not polled yet, or not since its last
    /// message: an end the stream was holding back (a Close, a protocol
    /// failure, while its Close frame was written) is recorded in
    /// [`Connection::close_status`] but not returned as an event again.
    ///
    /// ```no_run
    /// # async fn f(tcp: tokio::net::TcpStream) -> wsbolt::Result<()> {
    /// let ws = wsbolt::accept(tcp).await?;
    /// let (tcp, mut conn) = ws.into_parts();
    /// while let Some(event) = conn.next_event() {
    ///     println!("{event:?}"); // what arrived with the handshake
    /// }
    /// # drop(tcp); Ok(()) }
    /// ```
    pub fn into_parts(self) -> (S, Connection) {
        (self.inner.io.0, self.inner.conn)
    }

    /// A message already received and parsed, without waiting or reading:
    /// lets a server answer everything one read brought before flushing once.
    pub fn try_next_buffered(&mut self) -> Option<Result<Message>> {
        self.inner.try_next_buffered()
    }

    /// Queues a message without writing it (see [`Sink::start_send`]).
    pub fn queue(&mut self, msg: Message) -> Result<()> {
        self.inner.conn.send(msg).map_err(Error::Send)
    }

    /// Queues a message framed once for many connections (broadcast): the
    /// connections share its bytes. Server connections only; never
    /// compressed. Flush (or keep reading) to write it.
    ///
    /// ```no_run
    /// # async fn f(clients: &mut [wsbolt::WebSocketStream<tokio::net::TcpStream>]) -> wsbolt::Result<()> {
    /// use futures_util::SinkExt;
    /// let news = wsbolt::PreparedMessage::new(&wsbolt::Message::text("news")).unwrap();
    /// for ws in clients.iter_mut() {
    ///     ws.queue_prepared(&news)?;
    ///     ws.flush().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn queue_prepared(&mut self, prepared: &PreparedMessage) -> Result<()> {
        self.inner.conn.send_prepared(prepared).map_err(Error::Send)
    }

    /// Queues a message that is not compressed even with permessage-deflate
    /// on (e.g. data that is already compressed). Flush to write it.
    pub fn queue_uncompressed(&mut self, msg: Message) -> Result<()> {
        self.inner.conn.send_with(msg, false).map_err(Error::Send)
    }

    /// Starts the closing handshake and drives the connection until it ends
    /// (the peer's Close arrives, or the close timeout passes). Messages that
    /// arrive meanwhile are discarded.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the Close is queued at the first poll and the state lives
    /// in the stream, so polling the stream (or calling `close` again) later
    /// finishes the handshake.
    ///
    /// # Errors
    ///
    /// None at present: a Close is sent only if none was, and a transport
    /// that fails ends the handshake early ([`WebSocketStream::close_status`]
    /// then says 1006).
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        if self.inner.conn.state() == State::Open {
            self.inner.conn.close(frame)?;
        }
        std::future::poll_fn(|cx| self.inner.poll_drive_to_end(cx)).await;
        Ok(())
    }

    /// Like [`close`](WebSocketStream::close), after dropping the queued
    /// messages that have not begun to go out, so the Close is the next frame
    /// the peer reads: for closing a peer that does not keep up (a slow
    /// consumer) without the Close waiting behind the backlog it is closed
    /// for. A frame half written is finished first. Returns the bytes
    /// dropped (see
    /// [`Connection::close_discarding_unsent`](wsbolt_proto::Connection::close_discarding_unsent)).
    ///
    /// ```no_run
    /// # async fn f(ws: &mut wsbolt::WebSocketStream<tokio::net::TcpStream>) -> wsbolt::Result<()> {
    /// if ws.buffered_amount() > 4 << 20 {
    ///     let reason = wsbolt::CloseFrame::new(1008u16, "slow consumer").ok();
    ///     ws.close_discarding_unsent(reason).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`close`](WebSocketStream::close): the backlog is
    /// dropped and the Close queued at the first poll.
    ///
    /// # Errors
    ///
    /// None at present. Once a Close was sent, nothing is dropped and this
    /// waits for the end as `close` does (returning 0).
    pub async fn close_discarding_unsent(&mut self, frame: Option<CloseFrame>) -> Result<usize> {
        let mut dropped = 0;
        if self.inner.conn.state() == State::Open {
            dropped = self.inner.conn.close_discarding_unsent(frame)?;
        }
        std::future::poll_fn(|cx| self.inner.poll_drive_to_end(cx)).await;
        Ok(dropped)
    }

    /// Whether messages (or the end) were read and wait to be taken.
    pub(crate) fn has_unread(&self) -> bool {
        self.inner.has_unread()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.inner.conn.role()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    /// Waits while more than `write_high_water` bytes are queued.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.inner.conn.output_len() >= this.inner.write_high_water {
            // Reads meanwhile too (see `poll_flush`).
            ready!(this.inner.poll_flush_sending(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.get_mut().queue(item)
    }

    /// Writes everything queued. While the transport will not take more,
    /// what the peer sends meanwhile is read (once per poll, and only when
    /// nothing read earlier waits to be taken), so its Close is not lost if
    /// it resets the connection while we are still writing.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().inner.poll_flush_sending(cx)
    }

    /// Sends a Close (1000) if none was sent, then drives the connection
    /// until the closing handshake ends and the transport is closed.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.inner.conn.state() == State::Open {
            let frame = CloseFrame::new(1000u16, "").expect("1000 is valid");
            this.inner.conn.close(Some(frame))?;
        }
        ready!(this.inner.poll_drive_to_end(cx));
        Poll::Ready(Ok(()))
    }
}
