//! Connecting to Redis, again and again: backoff, link state, and log lines
//! that say what is wrong once per outage instead of once per attempt. A
//! command Redis refuses (out of memory, read-only …) keeps the connection
//! and waits instead (see `refusals`).

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::refusals::refusal_code;
use super::stats::Link;
use super::Shared;

/// First wait after a failed attempt; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Waits that double from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`], each drawn
/// from `[wait/2, wait]` so that the nodes of a cluster do not all come
/// back in the same millisecond.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: FIRST_BACKOFF }
    }

    /// Sleeps the next wait, and doubles the one after.
    async fn sleep(&mut self) {
        let jittered = self.next.mul_f64(0.5 + 0.5 * super::fraction());
        self.next = (self.next * 2).min(MAX_BACKOFF);
        tokio::time::sleep(jittered).await;
    }
}

/// A link's connection, made again after failures.
pub(super) struct Conn {
    link: Link,
    conn: Option<MultiplexedConnection>,
    /// Connected at least once, so the next connection counts as a reconnect.
    was_up: bool,
    /// The waits after refused commands, and when the last one ended.
    refused_waits: Backoff,
    refused_at: Option<Instant>,
}

impl Conn {
    pub(super) fn new(link: Link) -> Conn {
        Conn {
            link,
            conn: None,
            was_up: false,
            refused_waits: Backoff::new(),
            refused_at: None,
        }
    }

    /// The connection, made first if there is none (waiting with backoff
    /// for as long as Redis is unreachable). The bool says it is new.
    ///
    /// # Cancel safety
    /// Cancel-safe: a connection half made is dropped.
    pub(super) async fn get(&mut self, shared: &Shared) -> (&mut MultiplexedConnection, bool) {
        let fresh = self.conn.is_none();
        if fresh {
            let conn = connect(shared, self.link, self.was_up).await;
            self.was_up = true;
            self.conn = Some(conn);
        }
        (self.conn.as_mut().expect("connected above"), fresh)
    }

    /// After a command failed with `error`: a command Redis refused waits
    /// out a backoff on the same connection (the caller sends it again); a
    /// failed link is dropped, and the next [`Conn::get`] connects again.
    ///
    /// # Cancel safety
    /// Cancel-safe: only a wait is cut short.
    pub(super) async fn error(&mut self, shared: &Shared, error: &redis::RedisError) {
        match refusal_code(error) {
            Some(code) => self.refused(shared, code, error).await,
            None => self.failed(shared, error),
        }
    }

    /// Counts and (at most once a minute per kind) logs a refusal, then
    /// waits: 100 ms doubling to 5 s while refusals follow each other.
    async fn refused(&mut self, shared: &Shared, code: String, error: &redis::RedisError) {
        shared.stats.refusals.record(self.link, code, error, true);
        // A refusal long after the last one starts the waits over.
        if self.refused_at.is_none_or(|at| at.elapsed() > 2 * MAX_BACKOFF) {
            self.refused_waits = Backoff::new();
        }
        self.refused_waits.sleep().await;
        self.refused_at = Some(Instant::now());
    }

    /// Drops the connection after `error`; the next [`Conn::get`] connects again.
    fn failed(&mut self, shared: &Shared, error: &redis::RedisError) {
        if matches!(self.link, Link::Reader) {
            shared.catch_up.reader_lost();
        }
        if self.conn.take().is_some() {
            tracing::warn!(link = ?self.link, redis = %shared.url, %error, "lost the connection to Redis; reconnecting");
        }
        shared.stats.set_up(self.link, false);
    }
}

async fn connect(shared: &Shared, link: Link, was_up: bool) -> MultiplexedConnection {
    let mut waits = Backoff::new();
    let mut attempts = 0u32;
    loop {
        match shared.connect_once().await {
            Ok(conn) => {
                if was_up || attempts > 0 {
                    tracing::info!(?link, redis = %shared.url, "connected to Redis again");
                }
                if was_up {
                    shared
                        .stats
                        .reconnects
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                shared.stats.set_up(link, true);
                shared
                    .stats
                    .outage_reported
                    .store(false, std::sync::atomic::Ordering::Release);
                return conn;
            }
            Err(error) => {
                shared.stats.set_up(link, false);
                // One line per outage, whichever link notices first.
                if attempts == 0
                    && !shared
                        .stats
                        .outage_reported
                        .swap(true, std::sync::atomic::Ordering::AcqRel)
                {
                    tracing::warn!(
                        ?link,
                        redis = %shared.url,
                        error = %describe(&error),
                        "Redis unreachable: this node serves its own clients alone and keeps trying"
                    );
                } else {
                    tracing::debug!(?link, %error, attempts, "Redis still unreachable");
                }
            }
        }
        attempts += 1;
        waits.sleep().await;
    }
}

/// Whether retrying cannot help: a wrong password or user, a server that
/// wants one, or a TLS certificate this node does not trust.
pub(super) fn is_config_error(error: &redis::RedisError) -> bool {
    is_auth_error(error) || is_certificate_error(error)
}

fn is_auth_error(error: &redis::RedisError) -> bool {
    if error.kind() == redis::ErrorKind::AuthenticationFailed {
        return true;
    }
    let text = error.to_string();
    ["WRONGPASS", "NOAUTH", "invalid password", "invalid username-password"]
        .iter()
        .any(|needle| text.contains(needle))
}

fn is_certificate_error(error: &redis::RedisError) -> bool {
    let text = error.to_string();
    text.contains("invalid peer certificate") || text.contains("failed to read PEM")
}

/// An error in words a person reading the log can act on.
pub(super) fn describe(error: &redis::RedisError) -> String {
    if is_auth_error(error) {
        format!("authentication failed (check the user and password in the URL): {error}")
    } else if is_certificate_error(error) {
        format!("its TLS certificate is not trusted (rediss:// trusts the system's roots, or the file SSL_CERT_FILE names): {error}")
    } else if error.is_connection_refusal() {
        format!("connection refused (is redis-server running on that port?): {error}")
    } else if error.is_timeout() {
        format!("no answer in time: {error}")
    } else {
        error.to_string()
    }
}
