//! One engine thread: its `epoll`, its connections (a slot list indexed by
//! the `mio` token), and their deadlines (one heap).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use mio::{Events, Interest, Poll, Registry, Token};

use super::conn::{Conn, Next};
use super::{Inbox, Settings};

/// The token of the inbox's waker.
pub(super) const WAKE: Token = Token(usize::MAX);
/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 1024;

/// A connection's place: its generation tells a deadline of the slot's
/// earlier occupant from its own.
struct Slot {
    generation: u32,
    conn: Option<Box<Conn>>,
}

/// The thread's connections and deadlines.
struct Conns {
    /// The thread's `epoll`, to add write readiness to a connection.
    registry: Registry,
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
    /// (when, slot, generation); an entry is stale once its connection
    /// moved or dropped that deadline (checked when it comes up).
    deadlines: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// Connections to visit again after the others (see [`Next::Again`]).
    again: Vec<usize>,
}

/// Runs the thread until shutdown has closed all its connections.
pub(super) fn run(mut poll: Poll, inbox: &Inbox, mut s: Settings) {
    let mut events = Events::with_capacity(EVENTS);
    let registry = match poll.registry().try_clone() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "engine: cannot start a thread");
            return;
        }
    };
    let mut conns = Conns {
        registry,
        slots: Vec::new(),
        free: Vec::new(),
        live: 0,
        deadlines: BinaryHeap::new(),
        again: Vec::new(),
    };
    let mut stopping = false;
    loop {
        let timeout = if conns.again.is_empty() {
            conns
                .deadlines
                .peek()
                .map(|Reverse((at, ..))| at.saturating_duration_since(Instant::now()))
        } else {
            Some(std::time::Duration::ZERO)
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                tracing::error!(error = %e, "engine: epoll failed; its connections are dropped");
                break;
            }
        }
        let now = Instant::now();
        let mut woken = false;
        for event in events.iter() {
            match event.token() {
                WAKE => woken = true,
                Token(i) => conns.visit(i, &mut s, |c, s| c.turn(s, now)),
            }
        }
        if woken {
            let adopted = std::mem::take(&mut *inbox.adopted.lock().unwrap_or_else(|p| p.into_inner()));
            for a in adopted {
                conns.adopt(a, &mut s, now, stopping);
            }
            if !stopping && inbox.stop.load(Ordering::Acquire) {
                stopping = true;
                for i in 0..conns.slots.len() {
                    conns.visit(i, &mut s, |c, s| c.go_away(s, now));
                }
            }
        }
        conns.fire_deadlines(&mut s, now);
        for i in std::mem::take(&mut conns.again) {
            conns.visit(i, &mut s, |c, s| c.turn(s, now));
        }
        s.tell_metrics();
        if stopping && conns.live == 0 {
            break;
        }
    }
    // Connections left only after an epoll failure: ended as they are.
    for slot in conns.slots.drain(..) {
        if let Some(conn) = slot.conn {
            conn.finish(&mut s);
        }
    }
}

impl Conns {
    /// Registers a connection handed over from tokio and takes what came
    /// with its handshake.
    fn adopt(&mut self, a: super::Adopted, s: &mut Settings, now: Instant, stopping: bool) {
        let tcp = mio::net::TcpStream::from_std(a.tcp);
        let mut conn = Box::new(Conn::new(tcp, a.ws, a.done.into_slot(), a.access));
        let i = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                conn: None,
            });
            self.slots.len() - 1
        });
        if let Err(e) = self.registry.register(conn.socket(), Token(i), Interest::READABLE) {
            tracing::warn!(error = %e, "engine: cannot register a connection");
            self.free.push(i);
            return conn.finish(s);
        }
        self.slots[i].conn = Some(conn);
        self.live += 1;
        if stopping {
            self.visit(i, s, |c, s| c.go_away(s, now));
        } else {
            self.visit(i, s, |c, s| c.start(s, now));
        }
    }

    /// Runs `step` on slot `i`'s connection (if it has one) and does what
    /// the step asks: wait (with its deadline in the heap), come again, or
    /// remove it.
    fn visit(&mut self, i: usize, s: &mut Settings, step: impl FnOnce(&mut Conn, &mut Settings) -> Next) {
        let Some(slot) = self.slots.get_mut(i) else { return };
        let Some(conn) = slot.conn.as_mut() else { return };
        match step(conn, s) {
            Next::Remove => {
                let conn = slot.conn.take().expect("checked above");
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(i);
                self.live -= 1;
                conn.finish(s);
            }
            next => {
                if next == Next::Again {
                    self.again.push(i);
                }
                if conn.needs_write_interest() {
                    let both = Interest::READABLE | Interest::WRITABLE;
                    match self.registry.reregister(conn.socket(), Token(i), both) {
                        Ok(()) => conn.write_interest = true,
                        Err(e) => tracing::warn!(error = %e, "engine: cannot watch a connection for writing"),
                    }
                }
                // Only an earlier deadline is pushed; a later one is found
                // when the earlier entry comes up (keepalive moves its
                // deadline on every message).
                if let Some(at) = conn.deadline() {
                    if conn.armed.is_none_or(|armed| at < armed) {
                        conn.armed = Some(at);
                        self.deadlines.push(Reverse((at, i, slot.generation)));
                    }
                }
            }
        }
    }

    /// Every deadline due by `now`: the connection told, or its entry
    /// dropped if stale, or pushed again for a deadline that moved later.
    fn fire_deadlines(&mut self, s: &mut Settings, now: Instant) {
        while let Some(&Reverse((at, i, generation))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(slot) = self.slots.get_mut(i) else { continue };
            let Some(conn) = slot.conn.as_mut() else { continue };
            if slot.generation != generation || conn.armed != Some(at) {
                continue;
            }
            conn.armed = None;
            match conn.deadline() {
                Some(due) if due > now => {
                    conn.armed = Some(due);
                    self.deadlines.push(Reverse((due, i, generation)));
                }
                _ => self.visit(i, s, |c, s| c.on_deadline(s, now)),
            }
        }
    }
}
