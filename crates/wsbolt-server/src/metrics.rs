//! Counters for the Prometheus `/metrics` endpoint.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub open: AtomicI64,
    /// WebSockets accepted over HTTP/1.1 (101 sent).
    pub accepted: AtomicU64,
    /// WebSockets accepted over HTTP/2 (RFC 8441: 200 sent).
    pub accepted_http2: AtomicU64,
    /// Data messages received.
    pub messages_in: AtomicU64,
    /// Data messages sent.
    pub messages_out: AtomicU64,
    /// Payload bytes received.
    pub bytes_in: AtomicU64,
    /// Payload bytes sent.
    pub bytes_out: AtomicU64,
    close_codes: Mutex<BTreeMap<u16, u64>>,
    handshake_failures: Mutex<BTreeMap<u16, u64>>,
}

/// Message counts an endpoint keeps while it works through the messages one
/// read brought, added to the shared [`Metrics`] before it waits: four atomic
/// additions per batch instead of per message (the counters' cache line is
/// shared by every worker thread).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    messages_in: u32,
    messages_out: u32,
    bytes_in: u64,
    bytes_out: u64,
}

impl Tally {
    pub(crate) fn received(&mut self, len: usize) {
        self.messages_in += 1;
        self.bytes_in += len as u64;
    }

    pub(crate) fn sent(&mut self, len: usize) {
        self.messages_out += 1;
        self.bytes_out += len as u64;
    }

    /// Adds `other`'s counts to these.
    pub(crate) fn absorb(&mut self, other: &Tally) {
        self.messages_in += other.messages_in;
        self.messages_out += other.messages_out;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
    }

    /// (messages in, bytes in, messages out, bytes out) so far.
    pub(crate) fn counts(&self) -> (u64, u64, u64, u64) {
        (
            u64::from(self.messages_in),
            self.bytes_in,
            u64::from(self.messages_out),
            self.bytes_out,
        )
    }

    /// Adds the counts to `metrics` and starts again from zero.
    pub(crate) fn flush(&mut self, metrics: &Metrics) {
        if self.messages_in > 0 {
            metrics
                .messages_in
                .fetch_add(u64::from(self.messages_in), Ordering::Relaxed);
            metrics.bytes_in.fetch_add(self.bytes_in, Ordering::Relaxed);
        }
        if self.messages_out > 0 {
            metrics
                .messages_out
                .fetch_add(u64::from(self.messages_out), Ordering::Relaxed);
            metrics.bytes_out.fetch_add(self.bytes_out, Ordering::Relaxed);
        }
        *self = Tally::default();
    }
}

impl Metrics {
    /// Counts an accepted WebSocket, by HTTP version.
    pub fn accepted(&self, http2: bool) {
        let counter = if http2 { &self.accepted_http2 } else { &self.accepted };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a received message of `len` bytes.
    pub fn received(&self, len: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// Counts a sent message of `len` bytes.
    pub fn sent(&self, len: usize) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// Counts how a connection ended.
    pub fn closed(&self, code: u16) {
        *self.close_codes.lock().expect("metrics lock").entry(code).or_default() += 1;
    }

    /// A WebSocket ended with `code`: one fewer open, its code counted.
    pub(crate) fn ended(&self, code: u16) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.closed(code);
    }

    /// Counts a refused handshake by HTTP status.
    pub fn handshake_failed(&self, status: u16) {
        *self
            .handshake_failures
            .lock()
            .expect("metrics lock")
            .entry(status)
            .or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = write!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{value}");
        };
        let g = |v: u64| v.to_string();
        metric(
            "wsbolt_connections_open",
            "gauge",
            "Open WebSocket connections.",
            format!("wsbolt_connections_open {}\n", self.open.load(Ordering::Relaxed)),
        );
        // Every connection, handler program and timer is a task: a count
        // that only grows is a leak (the soak script watches it).
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            metric(
                "wsbolt_tasks_alive",
                "gauge",
                "Tokio tasks alive in the server's runtime.",
                format!("wsbolt_tasks_alive {}\n", rt.metrics().num_alive_tasks()),
            );
        }
        metric(
            "wsbolt_connections_accepted_total",
            "counter",
            "WebSocket handshakes accepted, by HTTP version.",
            format!(
                "wsbolt_connections_accepted_total{{http=\"1.1\"}} {}\nwsbolt_connections_accepted_total{{http=\"2\"}} {}\n",
                self.accepted.load(Ordering::Relaxed),
                self.accepted_http2.load(Ordering::Relaxed)
            ),
        );
        for (name, help, v) in [
            (
                "wsbolt_messages_received_total",
                "Data messages received.",
                &self.messages_in,
            ),
            ("wsbolt_messages_sent_total", "Data messages sent.", &self.messages_out),
            ("wsbolt_bytes_received_total", "Payload bytes received.", &self.bytes_in),
            ("wsbolt_bytes_sent_total", "Payload bytes sent.", &self.bytes_out),
        ] {
            metric(
                name,
                "counter",
                help,
                format!("{name} {}\n", g(v.load(Ordering::Relaxed))),
            );
        }
        let labelled = |name: &str, label: &str, map: &BTreeMap<u16, u64>| {
            map.iter()
                .map(|(k, v)| format!("{name}{{{label}=\"{k}\"}} {v}\n"))
                .collect::<String>()
        };
        let codes = labelled(
            "wsbolt_close_codes_total",
            "code",
            &self.close_codes.lock().expect("metrics lock"),
        );
        metric(
            "wsbolt_close_codes_total",
            "counter",
            "Connections ended, by close code.",
            codes,
        );
        let fails = labelled(
            "wsbolt_handshake_failures_total",
            "status",
            &self.handshake_failures.lock().expect("metrics lock"),
        );
        metric(
            "wsbolt_handshake_failures_total",
            "counter",
            "Refused handshakes, by HTTP status.",
            fails,
        );
        s
    }
}
