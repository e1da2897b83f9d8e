//! What `wsbolt connect` prints: messages on stdout, frames (`--trace`) and
//! failures on stderr.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use wsbolt::proto::frame::OpCode;
use wsbolt::proto::{Direction, FrameRecord};
use wsbolt::{Error, HandshakeError, Message};

/// How received messages are printed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Printer {
    /// Binary messages as raw bytes instead of hex.
    pub raw: bool,
    /// Text messages that parse as JSON, pretty-printed.
    pub json: bool,
}

impl Printer {
    pub(super) fn message(&self, msg: &Message) {
        let mut stdout = std::io::stdout().lock();
        match msg {
            Message::Text(t) => {
                let pretty = self
                    .json
                    .then(|| serde_json::from_str::<serde_json::Value>(t).ok())
                    .flatten()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok());
                let _ = writeln!(stdout, "{}", pretty.as_deref().unwrap_or(t));
            }
            Message::Binary(b) if self.raw => {
                let _ = stdout.write_all(b);
            }
            Message::Binary(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                let _ = writeln!(stdout, "{hex}");
            }
            _ => return,
        }
        let _ = stdout.flush();
    }
}

/// Prints every frame record waiting on `ws`, one line each, and says so
/// when records were dropped (more frames in one read than the core keeps).
/// `dropped` is how many were reported before.
pub(super) fn trace(ws: &mut wsbolt::WebSocketStream<wsbolt::MaybeTlsStream>, dropped: &mut u64) {
    let now = ws.frame_records_dropped();
    if now > *dropped {
        eprintln!(
            "... {} frames not shown (more arrived at once than the trace keeps)",
            now - *dropped
        );
        *dropped = now;
    }
    while let Some(r) = ws.next_frame_record() {
        eprintln!("{}", trace_line(&r, SystemTime::now()));
    }
}

/// `HH:MM:SS.mmm > TEXT fin=1 rsv1=1 wire=42 data=300 code=… reason="…"`:
/// time (UTC), `>` sent or `<` received, opcode, FIN, RSV1, payload bytes on
/// the wire and of message data (after inflating), and a Close's status.
pub(super) fn trace_line(r: &FrameRecord, at: SystemTime) -> String {
    let ms = at.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let day_ms = ms % 86_400_000;
    let (h, m, s, milli) = (
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000,
    );
    let dir = match r.direction {
        Direction::Sent => '>',
        Direction::Received => '<',
    };
    let op = match r.opcode {
        OpCode::Continuation => "CONT",
        OpCode::Text => "TEXT",
        OpCode::Binary => "BINARY",
        OpCode::Close => "CLOSE",
        OpCode::Ping => "PING",
        OpCode::Pong => "PONG",
    };
    let mut line = format!(
        "{h:02}:{m:02}:{s:02}.{milli:03} {dir} {op} fin={} rsv1={} wire={} data={}",
        u8::from(r.fin),
        u8::from(r.rsv1),
        r.wire_len,
        r.data_len
    );
    if let Some((code, reason)) = &r.close {
        line.push_str(&format!(" code={code} reason={reason:?}"));
    }
    line
}

/// The exit status for a connection that could not be made (see
/// `EXIT_STATUSES` in `connect/mod.rs`).
pub(super) fn failure_status(e: &Error) -> u8 {
    match e {
        Error::Url(_) | Error::Config(_) => 2,
        Error::Refused(_) | Error::Handshake(_) | Error::Redirect(_) => 5,
        Error::Tls(_) => 6,
        Error::Proxy(_) => 7,
        _ => 4,
    }
}

/// The exit status once a connection has ended: 0 for a normal close (1000,
/// 1001, a Close without a code (1005), or the close this client started,
/// answered), 3 when the server closed with another code, 1 when it ended
/// without a clean close.
pub(super) fn end_status(status: Option<&wsbolt::CloseStatus>, sent_by_us: Option<u16>) -> u8 {
    match status {
        Some(s) if s.was_clean() => {
            let code = s.code().as_u16();
            if matches!(code, 1000 | 1001 | 1005) || sent_by_us == Some(code) {
                0
            } else {
                3
            }
        }
        _ => 1,
    }
}

/// A one-line explanation of a connection failure.
pub(super) fn describe(e: &Error, url: &str) -> String {
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!("{url}: connection refused"),
        Error::Refused(r) => {
            let s = r.status();
            let mut line = format!(
                "{url}: the server answered HTTP {} {} instead of 101",
                s.as_u16(),
                s.canonical_reason().unwrap_or("")
            );
            if s.is_redirection() {
                if let Some(to) = r.headers().get("location").and_then(|v| v.to_str().ok()) {
                    line.push_str(&format!(" (a redirect to {to}: --follow follows it)"));
                }
            }
            if let Some(after) = e.retry_after() {
                line.push_str(&format!(" (retry after {} s)", after.as_secs()));
            }
            let content_type = r
                .headers()
                .get(wsbolt::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            if let Some(body) = quotable_body(content_type, r.body()) {
                line.push_str(&format!(": {body}"));
            }
            line
        }
        Error::Handshake(HandshakeError::UnexpectedStatus(s)) => {
            format!("{url}: the server answered HTTP {s} instead of 101")
        }
        Error::Tls(t) if t.kind() == wsbolt::TlsErrorKind::Certificate => {
            format!("{url}: {t} (--cacert FILE trusts a private CA; --insecure any certificate, for development)")
        }
        Error::Tls(t) if t.kind() == wsbolt::TlsErrorKind::ClientCertificate => {
            format!("{url}: {t} (--cert FILE --key FILE present one)")
        }
        other => format!("{url}: {other}"),
    }
}

/// The most characters of a refusal's body quoted in its one line.
const QUOTED_BODY: usize = 200;

/// A refusal's body as it is quoted: only when it is text or JSON (a page of
/// HTML, say, is not), on one line (runs of white space become one space),
/// at most [`QUOTED_BODY`] characters.
fn quotable_body(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let mime = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let quotable = mime == "text/plain" || mime == "application/json" || mime.ends_with("+json");
    if !quotable {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let mut one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return None;
    }
    if let Some((cut, _)) = one_line.char_indices().nth(QUOTED_BODY) {
        one_line.truncate(cut);
        one_line.push('…');
    }
    Some(one_line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_trace_line_says_time_direction_opcode_bits_sizes_and_status() {
        let at = UNIX_EPOCH + Duration::from_millis(86_400_000 * 3 + 13 * 3_600_000 + 4 * 60_000 + 5_678);
        let r = FrameRecord {
            direction: Direction::Received,
            opcode: OpCode::Close,
            fin: true,
            rsv1: false,
            wire_len: 5,
            data_len: 5,
            close: Some((1000, "bye".into())),
        };
        assert_eq!(
            trace_line(&r, at),
            "13:04:05.678 < CLOSE fin=1 rsv1=0 wire=5 data=5 code=1000 reason=\"bye\""
        );
    }

    #[test]
    fn a_refusal_quotes_only_a_short_text_or_json_body_on_one_line() {
        let html = b"<!DOCTYPE html>\n<html>\n<body>\n<h1>Not Found</h1>\n</body>\n</html>\n";
        assert_eq!(quotable_body(Some("text/html; charset=utf-8"), html), None);
        assert_eq!(quotable_body(None, b"no type"), None);
        assert_eq!(
            quotable_body(Some("text/plain; charset=utf-8"), b"too many\n  connections\n").as_deref(),
            Some("too many connections")
        );
        assert_eq!(
            quotable_body(Some("application/json"), b"{\"error\":\n \"token required\"}").as_deref(),
            Some("{\"error\": \"token required\"}")
        );
        let long = "x".repeat(500);
        assert_eq!(
            quotable_body(Some("text/plain"), long.as_bytes())
                .unwrap()
                .chars()
                .count(),
            QUOTED_BODY + 1
        );
        assert_eq!(quotable_body(Some("text/plain"), b"\xff\xfe"), None);
    }

    #[test]
    fn exit_statuses_tell_the_outcomes_apart() {
        assert_eq!(failure_status(&Error::Url("x".into())), 2);
        assert_eq!(failure_status(&Error::HandshakeTimeout), 4);
        assert_eq!(
            failure_status(&Error::Io(std::io::ErrorKind::ConnectionRefused.into())),
            4
        );
        assert_eq!(end_status(None, None), 1);
    }
}
