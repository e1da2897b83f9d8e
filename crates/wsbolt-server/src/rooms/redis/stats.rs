//! What the Redis backend counts, for `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use super::refusals::Refusals;

/// The backend's three links to Redis, each with a connection of its own.
#[derive(Debug, Clone, Copy)]
pub(super) enum Link {
    /// Appends this node's messages to the rooms' streams.
    Publisher = 0,
    /// Reads the other nodes' messages (blocking reads).
    Reader = 1,
    /// Names, user lists and the presence heartbeat.
    Presence = 2,
    /// Reads `/rooms`' streams (connected once a room is subscribed to).
    History = 3,
}

#[derive(Debug, Default)]
pub(super) struct Stats {
    up: [AtomicBool; 4],
    pub(super) reconnects: AtomicU64,
    pub(super) published: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) lost: AtomicU64,
    pub(super) outbox_dropped: AtomicU64,
    /// Bytes waiting in the outbox.
    pub(super) outbox_bytes: AtomicUsize,
    /// Age in milliseconds of the last entry read from another node, when
    /// it was read.
    pub(super) lag_ms: AtomicI64,
    pub(super) presence_fallbacks: AtomicU64,
    /// An outage was logged and no link has connected since.
    pub(super) outage_reported: AtomicBool,
    /// Commands Redis refused, by kind.
    pub(super) refusals: Refusals,
}

impl Stats {
    pub(super) fn set_up(&self, link: Link, up: bool) {
        self.up[link as usize].store(up, Ordering::Release);
    }

    pub(super) fn is_up(&self, link: Link) -> bool {
        self.up[link as usize].load(Ordering::Acquire)
    }

    pub(super) fn render(&self, out: &mut String) {
        let all_up = [Link::Publisher, Link::Reader, Link::Presence]
            .into_iter()
            .all(|link| self.is_up(link));
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
        };
        metric(
            "wsbolt_redis_up",
            "gauge",
            "1 when all three links to Redis (publisher, reader, presence) are connected.",
            u8::from(all_up).to_string(),
        );
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        for (name, help, v) in [
            (
                "wsbolt_redis_reconnects_total",
                "Connections to Redis made again after a failure.",
                &self.reconnects,
            ),
            (
                "wsbolt_redis_published_total",
                "Messages this node appended to the rooms' streams.",
                &self.published,
            ),
            (
                "wsbolt_redis_received_total",
                "Messages from other nodes delivered here.",
                &self.received,
            ),
            (
                "wsbolt_redis_duplicates_total",
                "Entries read twice (a retried append) and dropped.",
                &self.duplicates,
            ),
            (
                "wsbolt_redis_lost_total",
                "Messages of other nodes trimmed from a stream before this node read them.",
                &self.lost,
            ),
            (
                "wsbolt_redis_outbox_dropped_total",
                "Messages not sent to other nodes because the outbox was full.",
                &self.outbox_dropped,
            ),
            (
                "wsbolt_redis_presence_fallbacks_total",
                "Name claims and user lists answered from this node alone (Redis unreachable or slow).",
                &self.presence_fallbacks,
            ),
        ] {
            metric(name, "counter", help, n(v));
        }
        metric(
            "wsbolt_redis_outbox_bytes",
            "gauge",
            "Bytes of messages waiting to be appended to Redis.",
            self.outbox_bytes.load(Ordering::Relaxed).to_string(),
        );
        let lag = self.lag_ms.load(Ordering::Relaxed).max(0) as f64 / 1000.0;
        metric(
            "wsbolt_redis_replication_lag_seconds",
            "gauge",
            "Age of the last message read from another node, when it was read (Redis' clock against this node's).",
            format!("{lag:.3}"),
        );
        self.refusals.render(out);
    }
}
