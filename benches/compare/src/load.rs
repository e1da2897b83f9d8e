//! The echo load generator: one thread, one `epoll` (through `mio`), no
//! async runtime. Each connection keeps `inflight` pre-masked frames
//! outstanding and sends one more for each complete answer; answers are
//! counted by their length, never parsed. Per readiness it makes one `read`
//! (more only while the buffer came back full) and one `write` of every
//! frame that read earned, so it costs less per message than the servers it
//! drives and the server's core, not the client's, sets the pace (the harness
//! prints the generator's own CPU to show it).

use std::io::{self, Read, Write};
use std::net::TcpStream as StdStream;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// One connection's state.
struct Conn {
    s: TcpStream,
    /// Bytes of frames still to write (always whole frames once written).
    unsent: usize,
    /// Where the next write starts within a frame.
    offset: usize,
    /// Bytes of the answer under way.
    got: usize,
}

/// What one window measured.
pub struct Counts {
    /// Complete answers received in the window.
    pub answers: u64,
    /// The window's actual length.
    pub elapsed: Duration,
}

/// One run's shape.
pub struct Plan<'a> {
    pub conns: usize,
    /// The masked frame every message is.
    pub frame: &'a [u8],
    /// The length of one answer on the wire.
    pub answer_len: usize,
    /// Frames outstanding per connection.
    pub inflight: usize,
    pub warmup: Duration,
    pub window: Duration,
}

/// Opens the plan's connections with `open` (blocking; each returned ready
/// for WebSocket frames), drives them for the warm-up, then counts answers
/// for the window. `measure` runs once at each edge of the window (to sample
/// the server's and this process's CPU).
pub fn run(plan: &Plan, open: impl Fn() -> io::Result<StdStream>, mut measure: impl FnMut()) -> io::Result<Counts> {
    let Plan {
        conns,
        frame,
        answer_len,
        inflight,
        warmup,
        window,
    } = *plan;
    // The frames one write may carry: `inflight` copies back to back, so any
    // run of whole frames a read earned is one contiguous slice.
    let burst: Vec<u8> = frame.repeat(inflight);
    let mut poll = Poll::new()?;
    let mut all = Vec::with_capacity(conns);
    for i in 0..conns {
        let std = open()?;
        std.set_nonblocking(true)?;
        let mut s = TcpStream::from_std(std);
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        all.push(Conn {
            s,
            unsent: burst.len(),
            offset: 0,
            got: 0,
        });
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 * 1024];
    let mut answers = 0u64;
    let start = Instant::now();
    let mut window_start: Option<(Instant, u64)> = None;
    loop {
        let now = Instant::now();
        match window_start {
            None if now >= start + warmup => {
                measure();
                window_start = Some((Instant::now(), answers));
            }
            Some((t0, n0)) if now >= t0 + window => {
                measure();
                return Ok(Counts {
                    answers: answers - n0,
                    elapsed: t0.elapsed(),
                });
            }
            _ => {}
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for ev in events.iter() {
            let c = &mut all[ev.token().0];
            if ev.is_readable() {
                loop {
                    let n = match c.s.read(&mut buf) {
                        Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    };
                    c.got += n;
                    let complete = c.got / answer_len;
                    c.got %= answer_len;
                    answers += complete as u64;
                    c.unsent += complete * frame.len();
                    // Less than a full buffer: the socket is drained (the
                    // next arrival is a new edge).
                    if n < buf.len() {
                        break;
                    }
                }
            }
            write_some(c, &burst, frame.len())?;
        }
    }
}

/// Writes as much of the connection's unsent frames as the socket takes.
/// `unsent` is the rest of the frame under way (from `offset`) plus whole
/// frames, at most `inflight` in all, so it is one slice of `burst`.
fn write_some(c: &mut Conn, burst: &[u8], frame_len: usize) -> io::Result<()> {
    while c.unsent > 0 {
        let end = (c.offset + c.unsent).min(burst.len());
        match c.s.write(&burst[c.offset..end]) {
            Ok(n) => {
                c.unsent -= n;
                c.offset = (c.offset + n) % frame_len;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
