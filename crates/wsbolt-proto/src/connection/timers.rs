//! Time: the close timeout and keepalive. The connection never reads a
//! clock: [`Connection::handle_timeout`] is told the time (it dates what
//! happened since the last call and fires what is due) and
//! [`Connection::poll_timeout`] only reads.

use std::time::{Duration, Instant};

use super::closing::Phase;
use super::{Connection, Event, Timeout};
use crate::close::CloseCode;
use crate::frame::OpCode;

#[derive(Debug, Default)]
pub(super) struct Timers {
    /// The last time passed in.
    clock: Option<Instant>,
    close_deadline: Option<Instant>,
    pub(super) close_expired: bool,
    last_activity: Option<Instant>,
    /// Input arrived since the last `handle_timeout` (dated by it).
    activity: bool,
    ping_sent_at: Option<Instant>,
    ping_counter: u64,
    /// The keepalive's pong arrived since the last `handle_timeout`.
    pong_received: bool,
    rtt: Option<Duration>,
}

impl Timers {
    pub(super) fn note_activity(&mut self) {
        self.activity = true;
    }

    /// Whether `payload` answers the keepalive's latest ping (or a late one
    /// of the same number); notes the pong for the RTT if it was awaited.
    pub(super) fn take_keepalive_pong(&mut self, payload: &[u8]) -> bool {
        if self.ping_counter == 0 || payload != keepalive_payload(self.ping_counter) {
            return false;
        }
        if self.ping_sent_at.is_some() {
            self.pong_received = true;
        }
        true
    }
}

/// The payload of keepalive ping number `n`: a tag that an application's own
/// pings are unlikely to carry, then the counter, so its pong is recognised
/// and kept inside the library.
fn keepalive_payload(n: u64) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(b"wsbolt-k");
    p[8..].copy_from_slice(&n.to_be_bytes());
    p
}

impl Connection {
    /// The round-trip time measured by the last answered keepalive ping.
    pub fn keepalive_rtt(&self) -> Option<Duration> {
        self.timers.as_ref()?.rtt
    }

    /// Whether any timer can be running (close timeout or keepalive), so an
    /// I/O layer can skip reading the clock when none is.
    pub fn timers_active(&self) -> bool {
        self.config.keepalive.is_some() || self.close_timer_running()
    }

    fn close_timer_running(&self) -> bool {
        self.sent_close() && !self.close_expired() && !self.eof
    }

    /// Whether the close timer ran out.
    pub(super) fn close_expired(&self) -> bool {
        self.timers.as_ref().is_some_and(|t| t.close_expired)
    }

    /// The next instant at which [`Connection::handle_timeout`] must be
    /// called, if any. Only reads. A timer that a state change started since
    /// the last `handle_timeout` (a Close just queued, input to date) is due
    /// at once: this returns the last time passed in.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self.timers.as_deref()?;
        let clock = t.clock?;
        let mut next: Option<Instant> = None;
        let mut arm = |d: Instant| next = Some(next.map_or(d, |n: Instant| n.min(d)));
        if self.close_timer_running() {
            arm(t.close_deadline.unwrap_or(clock));
        }
        if let (Some(ka), Phase::Open) = (self.config.keepalive, &self.phase) {
            if t.activity || t.pong_received {
                arm(clock);
            }
            match (t.ping_sent_at, t.last_activity) {
                (Some(sent), _) => arm(sent + ka.timeout),
                (None, Some(last)) => arm(last + ka.interval),
                (None, None) => arm(clock),
            }
        }
        next
    }

    /// Tells the connection the time is `now`: dates what happened since the
    /// last call (input, for keepalive; the keepalive pong, for the RTT; a
    /// Close just queued, for the close timer), then fires what is due: the
    /// close timeout ends the connection (1006), a missing pong fails it
    /// (Close 1011), a quiet connection gets a ping. Returns whether anything
    /// fired (an event or output was queued).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        self.date_pending(now);
        let (events, output) = (self.events.len(), self.out.len());
        let t = self.timers.as_mut().expect("created by date_pending");
        if let Some(d) = t.close_deadline {
            if now >= d && !t.close_expired {
                t.close_expired = true;
                self.close_timed_out();
            }
        }
        if let (Some(ka), Phase::Open) = (self.config.keepalive, &self.phase) {
            let t = self.timers.as_mut().expect("created by date_pending");
            match t.ping_sent_at {
                Some(sent) if now >= sent + ka.timeout => {
                    self.fail_with(CloseCode::INTERNAL_ERROR);
                    self.events.push_back(Event::TimedOut(Timeout::Keepalive));
                }
                None if t.last_activity.is_some_and(|l| now >= l + ka.interval) => {
                    t.ping_counter += 1;
                    t.ping_sent_at = Some(now);
                    let payload = keepalive_payload(t.ping_counter);
                    self.write_frame(OpCode::Ping, true, &payload);
                }
                _ => {}
            }
        }
        self.events.len() != events || self.out.len() != output
    }

    fn date_pending(&mut self, now: Instant) {
        let running = self.close_timer_running();
        let close_timeout = self.config.close_timeout;
        // Created the first time a time is passed in: a connection that
        // never needs a timer never holds their state.
        let t = self.timers.get_or_insert_with(Box::default);
        t.clock = Some(t.clock.map_or(now, |c| c.max(now)));
        if running && t.close_deadline.is_none() {
            t.close_deadline = Some(now + close_timeout);
        }
        if t.activity || t.last_activity.is_none() {
            t.activity = false;
            t.last_activity = Some(now);
        }
        if t.pong_received {
            t.pong_received = false;
            if let Some(sent) = t.ping_sent_at.take() {
                t.rtt = Some(now.saturating_duration_since(sent));
            }
        }
    }
}
