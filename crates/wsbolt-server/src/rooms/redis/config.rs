//! The Redis backend's settings and its start-up error.

use std::fmt;
use std::time::Duration;

/// Settings of the Redis backend, with the defaults `wsbolt serve` documents.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `redis://[USER:PASSWORD@]HOST:PORT[/DB]`, or `rediss://` for TLS
    /// (trusting the system's roots, or the PEM file `SSL_CERT_FILE` names).
    pub url: String,
    /// Prefix of every key, so that several clusters can share one Redis.
    /// Default `wsbolt`.
    pub key_prefix: String,
    /// Longest time a member of a node that died without a word stays in the
    /// user lists. Default 15 s. Heartbeats go every fifth of it.
    pub presence_timeout: Duration,
    /// Entries each room's stream keeps (approximately, `MAXLEN ~`): how far
    /// behind a node may fall, or how long it may lose Redis, without
    /// missing messages. Default 10,000.
    pub stream_length: usize,
    /// Bytes of messages waiting for Redis on one node (while it is
    /// unreachable or slow); beyond it, messages reach this node's members
    /// only (counted in `wsbolt_redis_outbox_dropped_total`). Default 16 MiB.
    pub outbox_limit: usize,
    /// Longest wait for an answer from Redis before the connection counts
    /// as lost. Default 2 s.
    pub response_timeout: Duration,
}

impl RedisConfig {
    /// The defaults, with `url`.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            key_prefix: "wsbolt".into(),
            presence_timeout: Duration::from_secs(15),
            stream_length: 10_000,
            outbox_limit: 16 << 20,
            response_timeout: Duration::from_secs(2),
        }
    }

    /// Every how long a node pushes its members' expiry forward.
    pub(super) fn heartbeat(&self) -> Duration {
        (self.presence_timeout / 5).max(Duration::from_millis(200))
    }

    /// How long a member's entry lives without a heartbeat. A dead node's
    /// members are then removed by the next heartbeat of another node, so
    /// the worst case is this plus one heartbeat plus the time the dead
    /// node's last beat was old: within `presence_timeout`.
    pub(super) fn presence_entry_ttl(&self) -> Duration {
        self.presence_timeout.saturating_sub(self.heartbeat() * 2)
    }
}

/// Why [`RedisRooms::start`](super::RedisRooms::start) refused to start.
#[derive(Debug)]
pub struct RedisStartError(pub(super) String);

impl fmt::Display for RedisStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedisStartError {}

/// `url` without its password.
pub(super) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presence_bound_holds_by_construction() {
        for secs in [1, 5, 15, 60] {
            let c = RedisConfig {
                presence_timeout: Duration::from_secs(secs),
                ..RedisConfig::new("redis://x")
            };
            // Worst case: the last beat was one heartbeat old at death, the
            // entry lives its ttl, and the next purge comes one heartbeat later.
            let worst = c.heartbeat() + c.presence_entry_ttl() + c.heartbeat();
            assert!(worst <= c.presence_timeout, "{secs} s: {worst:?}");
            assert!(
                c.presence_entry_ttl() >= c.heartbeat() * 2,
                "an entry survives a missed beat"
            );
        }
    }

    #[test]
    fn passwords_stay_out_of_the_logs() {
        assert_eq!(redact("redis://u:secret@h:1/2"), "redis://u:***@h:1/2");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}
