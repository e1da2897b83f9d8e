//! The read loop shared by [`WebSocketStream`](crate::WebSocketStream) and the
//! split reader: events out, protocol output written (or handed to a writer),
//! timers armed, transport closed when the protocol says so.
//!
//! (Over 400 lines: the poll function, its read buffering and the lingering
//! after a failure are the hot path, kept together so that a reader sees every
//! step a read takes in one place.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use tokio::time::Sleep;
use wsbolt_proto::{Connection, Event, Message, Timeout};

use crate::error::{Error, Result};

/// The smallest read: enough for many small frames per syscall.
const READ_CHUNK: usize = 16 * 1024;
/// The per-thread buffer reads between frames go into.
const SCRATCH_LEN: usize = 64 * 1024;

thread_local! {
    /// Reads that start between frames land here, and only what arrived is
    /// copied into the connection: an idle connection holds no read buffer
    /// while it waits (one buffer per worker thread instead of one per
    /// connection).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; SCRATCH_LEN]);
}
/// The largest single reservation for a large frame's payload.
const MAX_READ_CHUNK: usize = 1 << 20;
/// A read at least this long means bulk data: the next read between frames
/// goes straight into the connection's buffer, so large payloads are not
/// copied out of the scratch buffer first.
const BULK_READ: usize = 16 * 1024;

/// What the read loop needs from its transport.
pub(crate) trait Io {
    fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>>;
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>>;
    /// Writes, or hands off, everything in the connection's output.
    fn poll_write_out(&mut self, cx: &mut Context<'_>, conn: &mut Connection) -> Poll<Result<()>>;
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ready once fewer than `limit` bytes of what this loop produced (pongs,
    /// Close replies) wait to be written; otherwise registers for the wake-up
    /// when they drain.
    fn poll_backlog_below(&mut self, cx: &mut Context<'_>, conn: &Connection, limit: usize) -> Poll<()>;
}

#[derive(Debug)]
pub(crate) struct ReadLoop<I> {
    pub(crate) io: I,
    pub(crate) conn: Connection,
    sleep: Option<Pin<Box<Sleep>>>,
    /// `sleep` is set for the connection's current deadline (it is not once
    /// it fired or the timers stopped).
    sleep_armed: bool,
    /// An event held back until the Close frame it implies is written
    /// (boxed: it happens once, at the end).
    held: Option<Box<Event>>,
    read_eof: bool,
    finished: bool,
    /// The write high-water mark: the application's `send` waits above it,
    /// and reading pauses while this many bytes of our answers are unwritten.
    pub(crate) write_high_water: usize,
    /// The last read was bulk data (see [`BULK_READ`]).
    bulk: bool,
    linger: CompactLinger,
    /// After failing the connection: reading and discarding what the peer
    /// still sends (see [`Linger`]).
    lingering: Option<Box<Lingering>>,
}

#[derive(Debug)]
struct Lingering {
    /// When lingering ends, whatever happens.
    deadline: tokio::time::Instant,
    /// Fires after [`LINGER_QUIET`] without a byte from the peer.
    quiet: Pin<Box<Sleep>>,
    discarded: usize,
}

/// Lingering also ends once the peer has sent nothing for this long: it has
/// stopped sending (typically it read our Close and answered it), so nothing
/// more is in flight to be reset.
pub(crate) const LINGER_QUIET: std::time::Duration = std::time::Duration::from_millis(200);

/// How long, and how many bytes, the read loop keeps reading (and
/// discarding) after it failed the connection, before it lets the transport
/// go: closing a socket with unread data makes the kernel send a reset,
/// which can destroy our Close frame in the peer's receive buffer before the
/// peer reads it (RFC 9112 §9.6 describes the same for HTTP).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linger {
    pub(crate) time: std::time::Duration,
    pub(crate) bytes: usize,
}

/// [`Linger`] as the read loop keeps it: whole milliseconds (rounded up, so
/// a non-zero time stays non-zero) and bytes, each capped at `u32::MAX`.
/// 8 bytes instead of 24 in every connection.
#[derive(Debug, Clone, Copy)]
struct CompactLinger {
    millis: u32,
    bytes: u32,
}

impl From<Linger> for CompactLinger {
    fn from(l: Linger) -> Self {
        let millis = l.time.as_nanos().div_ceil(1_000_000);
        CompactLinger {
            millis: u32::try_from(millis).unwrap_or(u32::MAX),
            bytes: u32::try_from(l.bytes).unwrap_or(u32::MAX),
        }
    }
}

impl<I: Io> ReadLoop<I> {
    /// `write_high_water`: `send` waits above it, and reading stops while
    /// this many bytes of answers (pongs, Close replies) are unwritten, so a
    /// peer that sends pings but never reads is held back by TCP instead of
    /// growing our memory.
    pub(crate) fn new(io: I, conn: Connection, write_high_water: usize, linger: Linger) -> Self {
        ReadLoop {
            linger: linger.into(),
            lingering: None,
            io,
            conn,
            sleep: None,
            sleep_armed: false,
            held: None,
            read_eof: false,
            finished: false,
            write_high_water,
            bulk: false,
        }
    }

    /// Whether events were read and wait to be taken.
    pub(crate) fn has_unread(&self) -> bool {
        self.held.is_some() || self.conn.has_events() || self.read_eof
    }

    pub(crate) fn try_next_buffered(&mut self) -> Option<Result<Message>> {
        if self.held.is_some() {
            return None;
        }
        match self.conn.next_event()? {
            ev @ (Event::Close(_) | Event::Failed(_) | Event::TimedOut(_)) => {
                self.held = Some(Box::new(ev));
                None
            }
            ev => Some(Ok(event_to_message(ev).expect("data event"))),
        }
    }

    pub(crate) fn poll_drive_to_end(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while ready!(self.poll_next_message(cx)).is_some() {}
        Poll::Ready(())
    }

    /// Writes and flushes everything queued, for the application's `send`:
    /// while the transport will not take more, it also reads what the peer
    /// sent meanwhile. A peer that refuses a large message closes while we
    /// are still writing it, and may reset the connection right after its
    /// Close: read before the reset, the Close is kept.
    pub(crate) fn poll_flush_sending(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let r = self.poll_flush_all(cx);
        if r.is_pending() {
            self.read_while_blocked(cx);
        }
        r
    }

    /// One read, when nothing read earlier still waits to be taken (so what
    /// this buffers is bounded by one read until the application takes it).
    fn read_while_blocked(&mut self, cx: &mut Context<'_>) {
        if self.read_eof || self.finished || self.held.is_some() || self.conn.has_events() || !self.conn.wants_input() {
            return;
        }
        if let Poll::Ready(Err(e)) = self.poll_read_once(cx) {
            self.read_eof = true;
            self.conn.receive_eof();
            if !e.closed_io() {
                tracing::debug!(error = %e, "read failed while a send was waiting");
            }
        }
    }

    pub(crate) fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.io.poll_write_out(cx, &mut self.conn))?;
        ready!(self.io.poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// Tells the connection the time, fires what is due, and arms the sleep
    /// for its next deadline. Returns whether a timer fired.
    ///
    /// Inlined: the read loop calls it twice per message, and without
    /// timers (the library's default) it is one test.
    #[inline]
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.conn.timers_active() {
            self.sleep_armed = false;
            return false;
        }
        self.poll_active_timers(cx)
    }

    fn poll_active_timers(&mut self, cx: &mut Context<'_>) -> bool {
        if self.conn.handle_timeout(Instant::now()) {
            return true;
        }
        let Some(deadline) = self.conn.poll_timeout() else {
            self.sleep_armed = false;
            return false;
        };
        let at = tokio::time::Instant::from_std(deadline);
        match &mut self.sleep {
            Some(s) if self.sleep_armed && s.deadline() == at => {}
            Some(s) => s.as_mut().reset(at),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        self.sleep_armed = true;
        let sleep = self.sleep.as_mut().expect("armed above");
        if sleep.as_mut().poll(cx).is_ready() {
            self.sleep_armed = false;
            return self.conn.handle_timeout(Instant::now());
        }
        false
    }

    fn poll_read_once(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let between_frames = self.conn.read_buffer().is_empty();
        let n = if between_frames && !self.bulk {
            // Between frames: read into this thread's scratch buffer.
            let conn = &mut self.conn;
            let read = poll_read_scratch(&mut self.io, cx, |data| conn.receive(data));
            ready!(read)?
        } else {
            // A frame is under way (or bulk data is arriving): read straight
            // into the connection's buffer, sized for what the frame still
            // needs; the payloads handed out are slices of it, not copies.
            let hint = if between_frames {
                SCRATCH_LEN
            } else {
                self.conn.read_hint().clamp(READ_CHUNK, MAX_READ_CHUNK)
            };
            let buf = self.conn.read_buffer();
            if buf.capacity() - buf.len() < READ_CHUNK {
                buf.reserve(hint);
            }
            let n = match self.io.poll_read_buf(cx, buf) {
                Poll::Pending => {
                    if between_frames {
                        // Nothing arrived: give the buffer back, so a
                        // connection that goes idle after bulk data holds
                        // no read buffer while it waits.
                        *self.conn.read_buffer() = BytesMut::new();
                    }
                    return Poll::Pending;
                }
                Poll::Ready(r) => r?,
            };
            if n > 0 {
                self.conn.process();
            }
            n
        };
        self.bulk = n >= BULK_READ;
        if n == 0 {
            self.read_eof = true;
            self.conn.receive_eof();
        } else if self.conn.timers_active() {
            // Date the activity and any keepalive pong at arrival time,
            // before the events are handed out.
            self.conn.handle_timeout(Instant::now());
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            let event = self.held.take().map(|b| *b).or_else(|| self.conn.next_event());
            if let Some(ev) = event {
                if matches!(ev, Event::Close(_) | Event::Failed(_) | Event::TimedOut(_)) {
                    // The Close this event implies goes out before the
                    // application hears of it, so it is sent even if the
                    // application stops polling now.
                    match self.poll_flush_all(cx) {
                        Poll::Pending if !self.conn.wants_transport_closed() => {
                            // The peer is not reading: keep the close timer
                            // running, so it cannot hold the connection open.
                            self.held = Some(Box::new(ev));
                            if self.poll_timers(cx) {
                                continue;
                            }
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) if !e.closed_io() => return Poll::Ready(Some(Err(e))),
                        // Written, or given up on at the close timeout.
                        _ => {}
                    }
                }
                if matches!(ev, Event::Failed(_) | Event::TimedOut(Timeout::Keepalive))
                    && !self.read_eof
                    && self.poll_linger(cx).is_pending()
                {
                    self.held = Some(Box::new(ev));
                    return Poll::Pending;
                }
                match ev {
                    Event::Failed(e) => return Poll::Ready(Some(Err(Error::Protocol(e)))),
                    Event::TimedOut(Timeout::Keepalive) => return Poll::Ready(Some(Err(Error::KeepaliveTimeout))),
                    Event::TimedOut(Timeout::Close) => continue,
                    ev => return Poll::Ready(event_to_message(ev).map(Ok)),
                }
            }
            // Pongs and Close replies leave even if the application never sends.
            if !self.conn.output().is_empty() {
                if let Poll::Ready(Err(e)) = self.poll_flush_all(cx) {
                    // The transport cannot take more: what is queued can never
                    // leave, so drop it instead of waiting for it to drain.
                    let out = self.conn.output();
                    out.advance(out.len());
                    self.conn.receive_eof();
                    self.read_eof = true;
                    if !e.closed_io() {
                        self.finished = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    continue;
                }
            }
            if self.conn.wants_transport_closed() || (self.read_eof && self.conn.output().is_empty()) {
                let _ = ready!(self.io.poll_shutdown(cx));
                self.finished = true;
                self.sleep = None;
                return Poll::Ready(None);
            }
            if self.poll_timers(cx) {
                continue;
            }
            if self.read_eof {
                return Poll::Pending; // waiting for output to drain
            }
            // The peer is not reading our answers: read no more from it until
            // they drain (the timers above still run).
            // (At least 1: with a zero mark reading would never resume.)
            let pause_above = self.write_high_water.max(1);
            ready!(self.io.poll_backlog_below(cx, &self.conn, pause_above));
            if let Err(e) = ready!(self.poll_read_once(cx)) {
                self.read_eof = true;
                self.conn.receive_eof();
                if !e.closed_io() {
                    self.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl<I: Io> ReadLoop<I> {
    /// After our error Close is written: shuts our side down, then reads and
    /// discards until the peer closes, goes quiet for [`LINGER_QUIET`],
    /// [`Linger`]'s time passes or its byte count is read. Ready when done.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.linger.millis == 0 {
            return Poll::Ready(());
        }
        if self.lingering.is_none() {
            let _ = ready!(self.io.poll_shutdown(cx));
            let now = tokio::time::Instant::now();
            let deadline = now + std::time::Duration::from_millis(u64::from(self.linger.millis));
            self.lingering = Some(Box::new(Lingering {
                deadline,
                quiet: Box::pin(tokio::time::sleep_until((now + LINGER_QUIET).min(deadline))),
                discarded: 0,
            }));
        }
        let l = self.lingering.as_mut().expect("set above");
        loop {
            if l.discarded >= self.linger.bytes as usize || l.quiet.as_mut().poll(cx).is_ready() {
                break;
            }
            // Discarded: read into the scratch buffer and dropped.
            match ready!(poll_read_scratch(&mut self.io, cx, |_| ())) {
                Ok(n) if n > 0 => {
                    l.discarded += n;
                    let next_quiet = (tokio::time::Instant::now() + LINGER_QUIET).min(l.deadline);
                    l.quiet.as_mut().reset(next_quiet);
                }
                _ => break, // the peer closed (or reset): nothing left to protect
            }
        }
        self.lingering = None;
        self.read_eof = true;
        Poll::Ready(())
    }
}

/// One read into this thread's scratch buffer; `take` sees what arrived (if
/// anything). Returns how many bytes came (0: end of stream).
fn poll_read_scratch<I: Io>(io: &mut I, cx: &mut Context<'_>, take: impl FnOnce(&[u8])) -> Poll<io::Result<usize>> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let mut buf = tokio::io::ReadBuf::new(&mut scratch[..]);
        ready!(io.poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        if n > 0 {
            take(&scratch[..n]);
        }
        Poll::Ready(Ok(n))
    })
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
