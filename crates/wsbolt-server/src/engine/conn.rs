//! One `/echo` WebSocket on an engine thread: its socket, its protocol
//! state, and what one readiness does with them (read what arrived, answer
//! every message it held, write the answers at once).
//!
//! The steps mirror the library's read loop (`wsbolt`'s `read_loop.rs`) for
//! a server that owns its thread: no waker, no task, no timer object; the
//! deadlines go to the thread's heap.

use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use wsbolt::proto::{Connection, DataRef, Event, Message, Timeout};

use super::{sys, Settings};
use crate::admission::Slot;
use crate::endpoints::access::{self, AccessRecord};
use crate::endpoints::{ended_with, going_away_frame, slow_consumer_frame, Limits};
use crate::metrics::Tally;

/// Reads one readiness may take before the other connections of the thread
/// get their turn (the connection is visited again after them).
const READS_PER_TURN: usize = 32;
/// The most slices handed to one vectored write.
const MAX_IOV: usize = 16;
/// Lingering after a failure ends once the peer sent nothing for this
/// long, as in the library.
const LINGER_QUIET: Duration = Duration::from_millis(200);

/// What a turn asks of the event loop.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Wait for the socket or the next deadline.
    Wait,
    /// More may be readable: visit again after the other connections.
    Again,
    /// The connection ended: remove it.
    Remove,
}

/// After a protocol failure (our Close is written): reading and discarding
/// what the peer still sends, so closing the socket does not reset the
/// connection before the peer reads our Close.
struct Lingering {
    deadline: Instant,
    quiet_until: Instant,
    discarded: usize,
}

/// One connection of an engine thread.
pub(super) struct Conn {
    tcp: TcpStream,
    ws: Connection,
    /// The connection's place in the limits, given back when it ends.
    _slot: Option<Slot>,
    access: AccessRecord,
    lingering: Option<Box<Lingering>>,
    /// The deadline the thread's heap holds for this connection, if any.
    pub(super) armed: Option<Instant>,
    /// While reading is paused for an unwritten backlog: by when the client
    /// must have read it (`write-timeout`), or it is a slow consumer.
    drain_by: Option<Instant>,
    read_eof: bool,
    /// Registered for write readiness too (see [`Conn::needs_write_interest`]).
    pub(super) write_interest: bool,
    /// The peer broke the protocol or missed a keepalive: linger once our
    /// Close is written.
    failed: bool,
}

impl Conn {
    pub(super) fn new(tcp: TcpStream, ws: Connection, slot: Option<Slot>, access: AccessRecord) -> Conn {
        Conn {
            tcp,
            ws,
            _slot: slot,
            access,
            lingering: None,
            armed: None,
            drain_by: None,
            read_eof: false,
            write_interest: false,
            failed: false,
        }
    }

    pub(super) fn socket(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// One turn: everything the socket has (up to [`READS_PER_TURN`] reads)
    /// read and answered, the answers written with one write.
    pub(super) fn turn(&mut self, s: &mut Settings, now: Instant) -> Next {
        self.turn_reading(s, now, true)
    }

    /// A new connection's first turn: what came with the handshake answered,
    /// without a read (registering the socket reports data already there).
    pub(super) fn start(&mut self, s: &mut Settings, now: Instant) -> Next {
        self.turn_reading(s, now, false)
    }

    fn turn_reading(&mut self, s: &mut Settings, now: Instant, read: bool) -> Next {
        let mut tally = Tally::default();
        let next = self.turn_counted(s, now, &mut tally, read);
        access::counted(&mut self.access, &tally);
        // The shared counters are told once per wake-up of the thread
        // (`Settings::tell_metrics`), not per connection.
        s.tally.absorb(&tally);
        next
    }

    fn turn_counted(&mut self, s: &mut Settings, now: Instant, tally: &mut Tally, read: bool) -> Next {
        if self.lingering.is_some() {
            return self.linger(s, now);
        }
        if self.ws.timers_active() {
            // Fires what is due and starts the clocks of a new connection
            // (its keepalive starts at the first call).
            self.ws.handle_timeout(now);
        }
        let mut reads = 0;
        let mut drained = false;
        loop {
            self.take_events(s, tally);
            if let Err(e) = self.write_out() {
                // What is queued can never leave: drop it and end.
                let out = self.ws.output();
                out.advance(out.len());
                self.ws.receive_eof();
                self.read_eof = true;
                tracing::debug!(error = %e, "write failed");
            }
            let flushed = self.ws.output().is_empty();
            if self.failed && flushed && !self.read_eof && s.linger_time > Duration::ZERO {
                return self.start_linger(s, now);
            }
            if self.ws.wants_transport_closed() || (self.read_eof && flushed) {
                return Next::Remove;
            }
            if self.read_eof {
                return Next::Wait; // for the output to drain
            }
            // The client is not reading our answers: read no more from it
            // until they drain, for at most `write-timeout`.
            if self.ws.output_len() > s.high_water {
                self.drain_by.get_or_insert(now + s.limits.write_timeout);
                return Next::Wait;
            }
            self.drain_by = None;
            if drained || !read {
                return Next::Wait;
            }
            if reads == READS_PER_TURN {
                return Next::Again;
            }
            reads += 1;
            match self.read_once(s, tally) {
                // A read that did not fill the buffer emptied the socket:
                // data that comes later brings a new edge, so the read that
                // would only say "would block" is skipped (one system call
                // per message fewer; tokio does the same).
                Ok(Some(n)) => drained = n > 0 && n < s.scratch.len(),
                Ok(None) => return Next::Wait,
                Err(e) => {
                    tracing::debug!(error = %e, "read failed");
                    self.ws.receive_eof();
                    self.read_eof = true;
                }
            }
            if self.ws.timers_active() {
                // Date the activity (and a keepalive pong) at arrival.
                self.ws.handle_timeout(now);
            }
        }
    }

    /// A deadline passed: the drain deadline here, the protocol's timers
    /// in the turn.
    pub(super) fn on_deadline(&mut self, s: &mut Settings, now: Instant) -> Next {
        if self.drain_by.is_some_and(|by| by <= now) {
            self.drain_by = None;
            if self.ws.output_len() > s.high_water {
                slow_consumer(&mut self.ws, &s.limits);
            }
        }
        self.turn(s, now)
    }

    /// Server shutdown: Close 1001 after what is queued.
    pub(super) fn go_away(&mut self, s: &mut Settings, now: Instant) -> Next {
        let _ = self.ws.close(going_away_frame());
        self.turn(s, now)
    }

    /// Whether the socket must now be watched for write readiness: a
    /// connection is registered for reading only, so a new one costs no
    /// wake-up for the writable socket it starts with; only once a write
    /// left output behind is write readiness added (and kept).
    pub(super) fn needs_write_interest(&self) -> bool {
        !self.write_interest && self.ws.output_len() > 0
    }

    /// When the thread must look at this connection again, if ever.
    pub(super) fn deadline(&self) -> Option<Instant> {
        // Asked after every turn: the usual answer (no timers, nothing to
        // drain, not lingering) comes without building anything.
        let mut at = self.drain_by;
        if self.ws.timers_active() {
            at = earliest(at, self.ws.poll_timeout());
        }
        if let Some(l) = &self.lingering {
            at = earliest(at, Some(l.quiet_until.min(l.deadline)));
        }
        at
    }

    /// The connection ended: the socket shut down, the metrics and the
    /// access log told, its places given back.
    pub(super) fn finish(self, s: &mut Settings) {
        let _ = self.tcp.shutdown(std::net::Shutdown::Write);
        let code = ended_with(self.ws.close_status(), self.access);
        // Its messages are counted before it is counted closed, so the
        // metrics never show a closed connection's messages missing.
        s.tell_metrics();
        s.metrics.ended(code);
    }

    /// The messages the usual path queued (those that did not lie whole in
    /// one read: large ones, fragmented ones) and every other event.
    fn take_events(&mut self, s: &mut Settings, tally: &mut Tally) {
        while let Some(event) = self.ws.next_event() {
            let msg = match event {
                Event::Text(t) => Message::Text(t),
                Event::Binary(b) => Message::Binary(b),
                Event::Failed(e) => {
                    tracing::debug!(error = %e, "protocol error");
                    self.failed = true;
                    continue;
                }
                Event::TimedOut(Timeout::Keepalive) => {
                    self.failed = true;
                    continue;
                }
                // Pongs and Close replies are already queued.
                _ => continue,
            };
            let len = msg.len();
            // Sent as the shared bytes it came in: a large payload is
            // written from there without a copy.
            if echo_allowed(&mut self.ws, &s.limits, tally, len) && self.ws.send(msg).is_ok() {
                tally.sent(len);
            }
        }
    }

    /// Writes what is queued until the socket takes no more.
    fn write_out(&mut self) -> io::Result<()> {
        let out = self.ws.output();
        while !out.is_empty() {
            let written = if out.is_single_chunk() {
                sys::write(&self.tcp, out.first_chunk())
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let k = out.chunks_vectored(&mut slices);
                sys::write_vectored(&self.tcp, &slices[..k])
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One read into the thread's buffer: how many bytes came (0: the
    /// end), `None` when the socket had nothing. Each message that lies
    /// whole in it is answered from there (`receive_in_place`: no copy into
    /// the connection, no event); the rest (a frame cut by the read, control
    /// frames, fragments) is copied into the connection, so an idle
    /// connection holds no read buffer, and comes back as events.
    ///
    /// A message larger than one read is copied once more than the
    /// library's read loop does (it reads a frame under way straight into
    /// the connection's buffer, through tokio's uninitialised-buffer reads).
    /// Reading there from safe code means zeroing the room first, which cost
    /// more than the copy (a 64 KiB `memset` per read at 16 KiB messages).
    fn read_once(&mut self, s: &mut Settings, tally: &mut Tally) -> io::Result<Option<usize>> {
        let n = loop {
            match sys::read(&self.tcp, &mut s.scratch) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.ws.receive_eof();
            self.read_eof = true;
            return Ok(Some(0));
        }
        // Whole messages are answered straight from the thread's buffer;
        // the rest is copied into the connection and queued as events.
        let limits = &s.limits;
        self.ws.receive_in_place(&mut s.scratch[..n], |ws, msg| {
            if echo_allowed(ws, limits, tally, msg.len()) {
                let sent = match msg {
                    DataRef::Text(t) => ws.send_text(t),
                    DataRef::Binary(b) => ws.send_binary(b),
                };
                if sent.is_ok() {
                    tally.sent(msg.len());
                }
            }
        });
        Ok(Some(n))
    }

    /// Our Close is written after a failure: our side shut, then reading
    /// and discarding (see [`Lingering`]).
    fn start_linger(&mut self, s: &mut Settings, now: Instant) -> Next {
        let _ = self.tcp.shutdown(std::net::Shutdown::Write);
        let deadline = now + s.linger_time;
        self.lingering = Some(Box::new(Lingering {
            deadline,
            quiet_until: (now + LINGER_QUIET).min(deadline),
            discarded: 0,
        }));
        self.linger(s, now)
    }

    fn linger(&mut self, s: &mut Settings, now: Instant) -> Next {
        let Some(l) = self.lingering.as_mut() else {
            return Next::Remove;
        };
        loop {
            if l.discarded >= s.linger_bytes || now >= l.quiet_until {
                return Next::Remove;
            }
            match sys::read(&self.tcp, &mut s.scratch) {
                Ok(0) => return Next::Remove,
                Ok(n) => {
                    l.discarded += n;
                    l.quiet_until = (now + LINGER_QUIET).min(l.deadline);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Remove,
            }
        }
    }
}

/// `/echo`'s rule for one received message of `len` bytes: counted, and sent
/// back unless we are closing or the client has left more than
/// `max-outbound-queue` unread (a slow consumer: closed instead).
fn echo_allowed(ws: &mut Connection, limits: &Limits, tally: &mut Tally, len: usize) -> bool {
    tally.received(len);
    if ws.close_sent() {
        return false;
    }
    if ws.output_len() > limits.max_outbound_queue {
        slow_consumer(ws, limits);
        return false;
    }
    true
}

/// Closes a client that does not keep up, dropping what it has not begun
/// to receive so the Close is the next frame it reads.
fn slow_consumer(ws: &mut Connection, limits: &Limits) {
    let frame = slow_consumer_frame(limits.slow_consumer_code, ws.output_len());
    let _ = ws.close_discarding_unsent(frame);
}

/// The earlier of two optional instants.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
