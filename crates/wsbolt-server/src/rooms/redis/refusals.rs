//! Commands Redis answered with an error (`OOM`, `READONLY`, `NOSCRIPT`,
//! `WRONGTYPE` …), told apart from a lost connection: the connection is
//! fine, so it is kept; the command waits and goes again. They are counted
//! by kind for `/metrics` and logged once per kind per minute, with how many
//! there were, so that a Redis refusing every write (out of memory) costs a
//! line a minute instead of a reconnect and a line per command.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one log line per kind in this long.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Kinds counted apart; further ones are counted as `OTHER`.
const MAX_KINDS: usize = 16;

/// The code Redis answered a refused command with (`OOM`, `READONLY` …), or
/// `None` when the error is not an answer of Redis (the link failed: I/O,
/// a reply that cannot be parsed …).
pub(super) fn refusal_code(error: &redis::RedisError) -> Option<String> {
    let errors = error.clone().into_server_errors()?;
    let (_, first) = errors.first()?;
    let code = first.code();
    // Codes are short upper-case words; anything else is not a label value
    // worth keeping apart.
    let plain = !code.is_empty() && code.len() <= 24 && code.bytes().all(|b| b.is_ascii_uppercase());
    Some(if plain { code.to_string() } else { "OTHER".to_string() })
}

#[derive(Debug, Default)]
struct Kind {
    total: u64,
    /// Refusals since the last log line.
    unlogged: u64,
    logged_at: Option<Instant>,
}

/// Refusals by kind, for `/metrics` and the log.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    kinds: Mutex<BTreeMap<String, Kind>>,
}

impl Refusals {
    /// Counts one refusal of `code` on `link` (a `stats::Link`, named in
    /// the log), and logs it unless its kind was logged within the last
    /// minute. `retried`: the command waits and goes again (else it was
    /// answered as failed, `/rooms`' `unavailable`).
    pub(super) fn record(&self, link: impl std::fmt::Debug, code: String, error: &redis::RedisError, retried: bool) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let code = if kinds.len() >= MAX_KINDS && !kinds.contains_key(&code) {
            "OTHER".to_string()
        } else {
            code
        };
        let kind = kinds.entry(code.clone()).or_default();
        kind.total += 1;
        kind.unlogged += 1;
        if kind.logged_at.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            // `/rooms`' requests are answered `unavailable`; the other
            // links wait and send again.
            let what = if retried {
                "Redis refuses commands; they wait and go again (logged once a minute per kind)"
            } else {
                "Redis refuses commands; /rooms answers them `unavailable` (logged once a minute per kind)"
            };
            tracing::warn!(?link, code, count = kind.unlogged, %error, "{what}");
            kind.unlogged = 0;
            kind.logged_at = Some(Instant::now());
        }
    }

    /// Writes `wsbolt_redis_refused_total{kind="…"}`.
    pub(super) fn render(&self, out: &mut String) {
        let name = "wsbolt_redis_refused_total";
        let _ = write!(
            out,
            "# HELP {name} Commands Redis refused, by the code of its answer (OOM, READONLY, NOSCRIPT, WRONGTYPE …); each waits and goes again.\n# TYPE {name} counter\n"
        );
        let kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        for (code, kind) in kinds.iter() {
            let _ = writeln!(out, "{name}{{kind=\"{code}\"}} {}", kind.total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::redis::stats::Link;

    fn server_error(text: &str) -> redis::RedisError {
        // What the client makes of a `-CODE message` reply.
        let reply = format!("-{text}\r\n");
        let value = redis::parse_redis_value(reply.as_bytes()).unwrap();
        value.extract_error().unwrap_err()
    }

    #[test]
    fn answers_of_redis_are_refusals_and_io_errors_are_not() {
        let oom = server_error("OOM command not allowed when used memory > 'maxmemory'.");
        assert_eq!(refusal_code(&oom).as_deref(), Some("OOM"));
        let wrongtype = server_error("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(refusal_code(&wrongtype).as_deref(), Some("WRONGTYPE"));
        let io = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(refusal_code(&io), None);
    }

    #[test]
    fn kinds_are_counted_apart_and_bounded() {
        let r = Refusals::default();
        let oom = server_error("OOM no");
        for _ in 0..3 {
            r.record(Link::Publisher, "OOM".into(), &oom, true);
        }
        for i in 0..40 {
            r.record(Link::Presence, format!("K{i}"), &oom, true);
        }
        let mut out = String::new();
        r.render(&mut out);
        assert!(out.contains("wsbolt_redis_refused_total{kind=\"OOM\"} 3\n"), "{out}");
        let samples = out
            .lines()
            .filter(|l| l.starts_with("wsbolt_redis_refused_total{"))
            .count();
        assert_eq!(samples, MAX_KINDS + 1, "{out}");
        assert!(out.contains("{kind=\"OTHER\"} 25\n"), "{out}");
    }
}
