//! The access log (`access-log`): one line per WebSocket when it ends.
//!
//! A connection carries an [`Access`] record only when the log is on (a
//! null pointer otherwise: 8 bytes in its context), so an idle connection
//! without it costs nothing more.

use std::net::SocketAddr;
use std::time::Instant;

/// What the access line of one WebSocket says, gathered while it runs.
#[derive(Debug)]
pub(crate) struct Access {
    peer: SocketAddr,
    path: Box<str>,
    protocol: Option<Box<str>>,
    http2: bool,
    start: Instant,
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
}

/// A connection's access record: `None` when the log is off.
pub(crate) type AccessRecord = Option<Box<Access>>;

impl Access {
    /// A record for a WebSocket to `path` from `peer`, accepted now.
    pub(crate) fn start(peer: SocketAddr, path: Box<str>, protocol: Option<&str>, http2: bool) -> Box<Access> {
        Box::new(Access {
            peer,
            path,
            protocol: protocol.map(Into::into),
            http2,
            start: Instant::now(),
            messages_in: 0,
            bytes_in: 0,
            messages_out: 0,
            bytes_out: 0,
        })
    }
}

/// Counts a data message received.
pub(crate) fn received(record: &mut AccessRecord, len: usize) {
    if let Some(a) = record {
        a.messages_in += 1;
        a.bytes_in += len as u64;
    }
}

/// Counts `messages` data messages of `bytes` in all sent.
pub(crate) fn sent(record: &mut AccessRecord, messages: u64, bytes: u64) {
    if let Some(a) = record {
        a.messages_out += messages;
        a.bytes_out += bytes;
    }
}

/// Counts `messages` data messages of `bytes` in all received.
pub(crate) fn received_many(record: &mut AccessRecord, messages: u64, bytes: u64) {
    if let Some(a) = record {
        a.messages_in += messages;
        a.bytes_in += bytes;
    }
}

/// Counts what `tally` counted (data messages each way).
pub(crate) fn counted(record: &mut AccessRecord, tally: &crate::metrics::Tally) {
    if record.is_some() {
        let (messages_in, bytes_in, messages_out, bytes_out) = tally.counts();
        received_many(record, messages_in, bytes_in);
        sent(record, messages_out, bytes_out);
    }
}

/// Writes the line of a WebSocket that ended with `code`.
pub(crate) fn log(record: AccessRecord, code: u16) {
    let Some(a) = record else { return };
    tracing::info!(
        target: "wsbolt::access",
        peer = %a.peer,
        path = %a.path,
        protocol = a.protocol.as_deref().unwrap_or("-"),
        http = if a.http2 { "2" } else { "1.1" },
        duration_ms = a.start.elapsed().as_millis() as u64,
        messages_in = a.messages_in,
        bytes_in = a.bytes_in,
        messages_out = a.messages_out,
        bytes_out = a.bytes_out,
        close = code,
        "websocket"
    );
}
