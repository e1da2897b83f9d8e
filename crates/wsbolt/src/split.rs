//! Owned read and write halves that work from different tasks.
//!
//! The write half encodes frames itself (masking included) and hands them to
//! a writer task that owns the transport's write side and writes everything
//! that is ready in one vectored write. The read half owns the transport's
//! read side and the decoder; the pongs and Close replies it produces go to
//! the same writer task, so they leave even when the application only reads.
//! The halves share only atomics and a lock-free waker: neither ever waits
//! for the other on the data path.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use wsbolt_proto::{CloseFrame, CloseStatus, Connection, Message, Role, State};

use crate::error::{Error, Result};
use crate::read_loop::{Io, ReadLoop};
use crate::stream::WebSocketStream;

/// Transports that split into independently owned read and write halves.
/// `TcpStream` (and plain [`MaybeTlsStream`](crate::MaybeTlsStream)) split
/// without any lock; TLS streams share their session state through
/// `tokio::io::split`.
pub trait SplitIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The read half.
    type Read: AsyncRead + Unpin + Send + 'static;
    /// The write half.
    type Write: AsyncWrite + Unpin + Send + 'static;
    /// Splits the transport.
    fn split_io(self) -> (Self::Read, Self::Write);
}

impl SplitIo for tokio::net::TcpStream {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;
    fn split_io(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

impl SplitIo for crate::MaybeTlsStream {
    type Read = tokio::io::ReadHalf<crate::MaybeTlsStream>;
    type Write = tokio::io::WriteHalf<crate::MaybeTlsStream>;
    fn split_io(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
}

#[derive(Debug, Default)]
struct Shared {
    /// Application bytes handed to the writer task and not yet written.
    buffered: AtomicUsize,
    /// The writer task wrote a Close frame.
    close_written: AtomicBool,
    /// The writer task stopped (transport error, or shut down).
    writer_done: AtomicBool,
    /// Wakes a write half waiting for `buffered` to fall.
    space: AtomicWaker,
    /// Bytes the read half produced (pongs, Close replies) not yet written.
    reader_buffered: AtomicUsize,
    /// Wakes a read half that paused because `reader_buffered` is high.
    reader_space: AtomicWaker,
}

#[derive(Debug)]
enum Cmd {
    /// Encoded frames; `counted` bytes of them count toward `buffered`,
    /// `from_reader` bytes toward `reader_buffered`.
    Frames {
        chunks: Vec<Bytes>,
        counted: usize,
        from_reader: usize,
        close: bool,
    },
    /// Write what is queued, then shut the write side down.
    Shutdown,
}

impl<S: SplitIo> WebSocketStream<S> {
    /// Splits the connection into a read half (a `Stream` of messages) and a
    /// write half, usable from different tasks. Spawns the writer task on
    /// the current tokio runtime.
    pub fn split(self) -> (WsReader<S::Read>, WsWriter) {
        let (io, conn, config, protocol, extensions) = self.into_parts();
        let role = conn.role();
        let (read, write) = io.split_io();
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer_task(write, rx, shared.clone()));
        let encoder = Connection::new(role, config.protocol.clone());
        let reader = WsReader {
            inner: ReadLoop::new(
                Forward {
                    read,
                    tx: tx.clone(),
                    shared: shared.clone(),
                    close_synced: false,
                },
                conn,
                config.write_high_water,
            ),
            protocol: protocol.clone(),
            extensions: extensions.clone(),
        };
        let writer = WsWriter {
            encoder,
            tx,
            shared,
            high_water: config.write_high_water,
            role,
        };
        (reader, writer)
    }
}

/// The read half: a `Stream` of messages, cancel-safe like
/// [`WebSocketStream`]. Keep polling it: it answers pings and completes the
/// closing handshake.
#[derive(Debug)]
pub struct WsReader<R> {
    inner: ReadLoop<Forward<R>>,
    protocol: Option<String>,
    extensions: Option<String>,
}

#[derive(Debug)]
struct Forward<R> {
    read: R,
    tx: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
    close_synced: bool,
}

impl<R: AsyncRead + Unpin> Io for Forward<R> {
    fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<std::io::Result<usize>> {
        tokio_util::io::poll_read_buf(Pin::new(&mut self.read), cx, buf)
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }

    fn poll_write_out(&mut self, _cx: &mut Context<'_>, conn: &mut Connection) -> Poll<Result<()>> {
        if conn.output().is_empty() {
            return Poll::Ready(Ok(()));
        }
        let close = conn.close_sent();
        let from_reader = conn.output_len();
        let chunks = conn.output().take_chunks();
        self.shared.reader_buffered.fetch_add(from_reader, Ordering::AcqRel);
        // The writer task drops this if a Close already went out.
        let _ = self.tx.send(Cmd::Frames {
            chunks,
            counted: 0,
            from_reader,
            close,
        });
        Poll::Ready(Ok(()))
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let _ = self.tx.send(Cmd::Shutdown);
        Poll::Ready(Ok(()))
    }

    fn poll_backlog_below(&mut self, cx: &mut Context<'_>, _conn: &Connection, limit: usize) -> Poll<()> {
        let below = || {
            self.shared.reader_buffered.load(Ordering::Acquire) < limit
                || self.shared.writer_done.load(Ordering::Acquire)
        };
        if below() {
            return Poll::Ready(());
        }
        self.shared.reader_space.register(cx.waker());
        if below() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn sync(&mut self, conn: &mut Connection) {
        if !self.close_synced && self.shared.close_written.load(Ordering::Acquire) {
            self.close_synced = true;
            conn.mark_close_sent();
        }
    }
}

impl<R: AsyncRead + Unpin> WsReader<R> {
    /// The protocol state, as the read half sees it.
    pub fn state(&self) -> State {
        self.inner.conn.state()
    }

    /// How the connection ended, once it has.
    pub fn close_status(&self) -> Option<&CloseStatus> {
        self.inner.conn.close_status()
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions agreed in the handshake, if any.
    pub fn extensions(&self) -> Option<&str> {
        self.extensions.as_deref()
    }
}

impl<R: AsyncRead + Unpin> Stream for WsReader<R> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next_message(cx)
    }
}

/// The write half. `send` waits while more than `write_high_water` bytes are
/// handed to the writer task and not yet written.
#[derive(Debug)]
pub struct WsWriter {
    encoder: Connection,
    tx: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
    high_water: usize,
    role: Role,
}

impl WsWriter {
    /// Sends a message (a Close message starts the closing handshake, which
    /// the read half completes).
    pub async fn send(&mut self, msg: Message) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await?;
        self.start_send(msg)
    }

    /// Sends a Close (`None`: without status). The read half completes the
    /// handshake when the peer's Close arrives.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.send(Message::Close(frame)).await
    }

    /// Bytes handed over and not yet accepted by the OS.
    pub fn buffered_amount(&self) -> usize {
        self.shared.buffered.load(Ordering::Acquire)
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    fn check_open(&self) -> Result<()> {
        if self.shared.close_written.load(Ordering::Acquire) || self.shared.writer_done.load(Ordering::Acquire) {
            return Err(Error::ConnectionClosed);
        }
        Ok(())
    }

    /// Ready when the writer task has room (below the high-water mark).
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.check_open()?;
        if self.buffered_amount() < self.high_water {
            return Poll::Ready(Ok(()));
        }
        self.shared.space.register(cx.waker());
        // Re-check after registering, so a wake between the two is not lost.
        if self.buffered_amount() < self.high_water {
            return Poll::Ready(Ok(()));
        }
        self.check_open()?;
        Poll::Pending
    }

    /// Encodes a message and hands it to the writer task, without waiting.
    pub fn start_send(&mut self, msg: Message) -> Result<()> {
        self.check_open()?;
        let close = matches!(msg, Message::Close(_));
        self.encoder.send(msg)?;
        let counted = self.encoder.output_len();
        let chunks = self.encoder.output().take_chunks();
        self.shared.buffered.fetch_add(counted, Ordering::AcqRel);
        self.tx
            .send(Cmd::Frames {
                chunks,
                counted,
                from_reader: 0,
                close,
            })
            .map_err(|_| Error::ConnectionClosed)
    }
}

/// Owns the write side: writes everything that is ready in one vectored
/// write, at most one Close, nothing after it.
async fn writer_task<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::UnboundedReceiver<Cmd>, shared: Arc<Shared>) {
    let mut batch: Vec<Bytes> = Vec::new();
    let mut counted = 0usize;
    let mut from_reader_total = 0usize;
    let mut close_written = false;
    'run: while let Some(first) = rx.recv().await {
        let mut shutdown = false;
        let mut next = Some(first);
        while let Some(cmd) = next {
            match cmd {
                Cmd::Frames {
                    chunks,
                    counted: n,
                    from_reader,
                    close,
                } => {
                    if close_written {
                        shared.buffered.fetch_sub(n, Ordering::AcqRel);
                        shared.reader_buffered.fetch_sub(from_reader, Ordering::AcqRel);
                    } else {
                        batch.extend(chunks);
                        counted += n;
                        from_reader_total += from_reader;
                        if close {
                            close_written = true;
                            shared.close_written.store(true, Ordering::Release);
                        }
                    }
                }
                Cmd::Shutdown => shutdown = true,
            }
            next = rx.try_recv().ok();
        }
        if write_batch(&mut w, &mut batch).await.is_err() {
            break 'run;
        }
        shared.buffered.fetch_sub(counted, Ordering::AcqRel);
        shared.reader_buffered.fetch_sub(from_reader_total, Ordering::AcqRel);
        (counted, from_reader_total) = (0, 0);
        shared.space.wake();
        shared.reader_space.wake();
        if shutdown {
            let _ = w.shutdown().await;
            break;
        }
    }
    shared.writer_done.store(true, Ordering::Release);
    shared.space.wake();
    shared.reader_space.wake();
}

async fn write_batch<W: AsyncWrite + Unpin>(w: &mut W, batch: &mut Vec<Bytes>) -> std::io::Result<()> {
    let mut i = 0;
    while i < batch.len() {
        let slices: Vec<IoSlice<'_>> = batch[i..].iter().take(64).map(|b| IoSlice::new(b)).collect();
        let mut n = w.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let k = n.min(batch[i].len());
            batch[i].advance(k);
            n -= k;
            if batch[i].is_empty() {
                i += 1;
            }
        }
    }
    batch.clear();
    w.flush().await
}

impl futures_sink::Sink<Message> for WsWriter {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        WsWriter::poll_ready(self.get_mut(), cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        WsWriter::start_send(self.get_mut(), item)
    }

    /// Ready once the writer task has written everything handed to it.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.buffered_amount() == 0 {
            return Poll::Ready(Ok(()));
        }
        this.shared.space.register(cx.waker());
        if this.buffered_amount() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.shared.writer_done.load(Ordering::Acquire) {
            return Poll::Ready(Err(Error::ConnectionClosed));
        }
        Poll::Pending
    }

    /// Sends a Close (1000) unless one went out, then flushes.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if !self.shared.close_written.load(Ordering::Acquire) && !self.encoder.close_sent() {
            let frame = CloseFrame::new(1000u16, "").expect("1000 is valid");
            self.as_mut().get_mut().start_send(Message::Close(Some(frame)))?;
        }
        match self.poll_flush(cx) {
            Poll::Ready(Err(Error::ConnectionClosed)) => Poll::Ready(Ok(())),
            other => other,
        }
    }
}
