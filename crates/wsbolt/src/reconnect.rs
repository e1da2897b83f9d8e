//! Keeping a client connected across failures.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;
use wsbolt_proto::handshake::client::Response;

use crate::client::connect_with_config;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::stream::WebSocketStream;
use crate::tls::MaybeTlsStream;

/// How long to wait between attempts: exponential, with jitter so that many
/// clients cut off at once do not come back at once.
///
/// The n-th wait in a row (n from 0) is drawn uniformly from
/// `[d/2, d]` with `d = min(initial × factorⁿ, max)`; a refusal's
/// `Retry-After` (429, 503), when longer, is waited instead.
///
/// # What counts as a failure
///
/// - An attempt that does not open (refused, reset, timed out, a
///   retryable HTTP status) is a failure: n grows.
/// - A connection that opened and ended within [`min_uptime`](Self::min_uptime)
///   is a failure too, so a server that accepts and closes at once (a crash
///   loop) is backed off like one that refuses.
/// - A connection that lasted `min_uptime` or longer starts the waits over
///   (n = 0), and the next attempt is made after a short random wait in
///   `[0, initial / 10]` (0–100 ms by default), so that clients one restart
///   dropped together come back spread out. A server that drops every
///   connection after a second or more keeps its clients connected nearly
///   all the time.
/// - A handshake that succeeds resets the count that
///   [`max_attempts`](Self::max_attempts) limits: `Reconnect` gives up only
///   on attempts that never open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first wait's ceiling. Default 1 s.
    pub initial: Duration,
    /// How much each wait grows. Default 2.
    pub factor: f64,
    /// The longest wait. Default 60 s.
    pub max: Duration,
    /// A connection that ends sooner than this after opening counts as a
    /// failure (the waits keep growing); one that lasted longer starts the
    /// waits over. Default 1 s (a crash loop closes within milliseconds).
    pub min_uptime: Duration,
    /// Give up after this many attempts in a row that did not open
    /// (`None`: never). Connections that opened and ended early do not
    /// count. Default `None`.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(60),
            min_uptime: Duration::from_secs(1),
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The ceiling of the n-th wait in a row.
    fn ceiling(&self, n: u32) -> Duration {
        let secs = self.initial.as_secs_f64() * self.factor.max(1.0).powi(n.min(64) as i32);
        Duration::from_secs_f64(secs.min(self.max.as_secs_f64()))
    }

    fn delay(&self, n: u32) -> Duration {
        self.ceiling(n).mul_f64(0.5 + unit() * 0.5)
    }

    /// The wait after a connection that lasted: a spread, not a backoff.
    fn rejoin_delay(&self) -> Duration {
        (self.initial / 10).mul_f64(unit())
    }
}

/// A uniform draw from `[0, 1)`.
fn unit() -> f64 {
    use rand::{Rng, SeedableRng};
    // A wait is rare: a fresh generator from the OS each time is cheap enough.
    rand::rngs::StdRng::from_os_rng().random()
}

/// What a retry is about to wait for, passed to [`Reconnect::on_retry`].
#[derive(Debug)]
pub struct Retry<'a> {
    /// Why the last attempt failed (or why the last connection ended early:
    /// `None` then).
    pub error: Option<&'a Error>,
    /// How long it waits before the next attempt.
    pub delay: Duration,
    /// How many failures in a row (attempts that did not open and
    /// connections that ended early; see [`Backoff`]) led to this wait; 0
    /// for the short spread after a connection that lasted.
    pub attempt: u32,
}

type OnRetry = Box<dyn FnMut(&Retry<'_>) + Send>;

/// Connects again and again to one URL: each [`next`](Reconnect::next)
/// gives a new connection, after waiting out a [`Backoff`] when attempts
/// fail, retrying only what is worth retrying ([`Error::is_retryable`]:
/// refused or reset transports, timeouts, HTTP 429, 500, 502, 503, 504) and
/// giving up on the rest (other refusals, certificate errors, bad URLs) by
/// returning the error, after which `next` returns `None`.
///
/// ```no_run
/// use futures_util::StreamExt;
/// # async fn run() -> Result<(), wsbolt::Error> {
/// let mut connections = wsbolt::Reconnect::new("ws://127.0.0.1:9998/echo", Default::default());
/// while let Some(connection) = connections.next().await {
///     let (mut ws, _response) = connection?; // a failure not worth retrying
///     while let Some(Ok(message)) = ws.next().await {
///         println!("{message:?}");
///     }
///     // The connection ended: the loop connects again.
/// }
/// # Ok(()) }
/// ```
pub struct Reconnect {
    url: String,
    config: ClientConfig,
    backoff: Backoff,
    /// The wait level: failures in a row, early ends included.
    failures: u32,
    /// Attempts in a row that did not open (what `max_attempts` limits).
    unopened: u32,
    opened_at: Option<Instant>,
    done: bool,
    on_retry: Option<OnRetry>,
}

impl Reconnect {
    /// Connections to `url` with `config` and the default [`Backoff`].
    pub fn new(url: impl Into<String>, config: ClientConfig) -> Reconnect {
        Reconnect {
            url: url.into(),
            config,
            backoff: Backoff::default(),
            failures: 0,
            unopened: 0,
            opened_at: None,
            done: false,
            on_retry: None,
        }
    }

    /// Uses `backoff` instead of the default.
    pub fn backoff(mut self, backoff: Backoff) -> Reconnect {
        self.backoff = backoff;
        self
    }

    /// The settings of the coming attempts: change them between calls to
    /// [`next`](Reconnect::next), for example to send a new token in a
    /// header.
    ///
    /// ```
    /// let mut r = wsbolt::Reconnect::new("ws://127.0.0.1:9998/rooms", Default::default());
    /// r.config_mut().headers = vec![("Authorization".into(), "Bearer NEW".into())];
    /// ```
    pub fn config_mut(&mut self) -> &mut ClientConfig {
        &mut self.config
    }

    /// Calls `f` before each wait, to log or count retries.
    pub fn on_retry(mut self, f: impl FnMut(&Retry<'_>) + Send + 'static) -> Reconnect {
        self.on_retry = Some(Box::new(f));
        self
    }

    /// The next connection: at once the first time, after a short spread
    /// (0–`initial`/10) when the last connection lasted
    /// [`Backoff::min_uptime`], otherwise after a growing wait (see
    /// [`Backoff`] for the rule). `None` once an error was returned.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses no connection; the next call
    /// starts the current wait over.
    ///
    /// # Errors
    ///
    /// The first error that is not worth retrying, or the last one once
    /// [`Backoff::max_attempts`] failed in a row.
    pub async fn next(&mut self) -> Option<Result<(WebSocketStream<MaybeTlsStream>, Response)>> {
        if self.done {
            return None;
        }
        if let Some(opened) = self.opened_at.take() {
            if opened.elapsed() >= self.backoff.min_uptime {
                self.failures = 0;
                self.rejoin().await;
            } else {
                self.wait(None).await;
            }
        }
        loop {
            match connect_with_config(&self.url, &self.config).await {
                Ok(c) => {
                    self.opened_at = Some(Instant::now());
                    self.unopened = 0;
                    return Some(Ok(c));
                }
                Err(e) => {
                    self.unopened = self.unopened.saturating_add(1);
                    let exhausted = self.backoff.max_attempts.is_some_and(|m| self.unopened >= m);
                    if !e.is_retryable() || exhausted {
                        self.done = true;
                        return Some(Err(e));
                    }
                    self.wait(Some(&e)).await;
                }
            }
        }
    }

    /// The spread after a connection that lasted (see [`Backoff`]).
    async fn rejoin(&mut self) {
        let delay = self.backoff.rejoin_delay();
        self.pause(Retry {
            error: None,
            delay,
            attempt: 0,
        })
        .await;
    }

    /// A growing wait after a failure.
    async fn wait(&mut self, error: Option<&Error>) {
        let mut delay = self.backoff.delay(self.failures);
        if let Some(after) = error.and_then(Error::retry_after) {
            delay = delay.max(after);
        }
        self.failures = self.failures.saturating_add(1);
        let attempt = self.failures;
        self.pause(Retry { error, delay, attempt }).await;
    }

    /// Tells `on_retry`, then waits `retry.delay`.
    async fn pause(&mut self, retry: Retry<'_>) {
        if let Some(f) = self.on_retry.as_mut() {
            f(&retry);
        }
        tokio::time::sleep(retry.delay).await;
    }
}

impl fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("url", &self.url)
            .field("backoff", &self.backoff)
            .field("failures", &self.failures)
            .field("unopened", &self.unopened)
            .field("done", &self.done)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_cap_with_jitter_in_the_upper_half() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(8));
        assert_eq!(b.ceiling(10), Duration::from_secs(60));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(60));
        for n in 0..8 {
            let d = b.delay(n);
            assert!(d >= b.ceiling(n) / 2 && d <= b.ceiling(n), "{n}: {d:?}");
        }
    }
}
