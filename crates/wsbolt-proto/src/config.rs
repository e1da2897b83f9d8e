//! Protocol limits and timers, with their defaults.

use std::time::Duration;

/// Limits and timers of one connection. Every field has a safe default.
///
/// ```
/// use wsbolt_proto::Config;
/// let cfg = Config::default().max_message_size(1 << 20);
/// assert_eq!(cfg.max_frame_size, 16 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted; a longer frame is refused with
    /// 1009 as soon as its header arrives. Default 16 MiB.
    pub max_frame_size: usize,
    /// The largest message accepted (all fragments, after decompression); the
    /// fragment that crosses it is refused with 1009 before its payload is
    /// buffered. Default 64 MiB.
    pub max_message_size: usize,
    /// The most fragments one message may have, so that endless (even empty)
    /// continuation frames cannot hold a message open. Default 131,072: a
    /// 4 MiB message in 64-byte fragments fits, and a flood of empty
    /// fragments ends after under 1 MB of headers. Exceeding it closes with 1009.
    pub max_fragments: u32,
    /// Answer pings with pongs automatically. Default on.
    pub auto_pong: bool,
    /// After sending a Close, how long to wait for the peer's before the
    /// transport is dropped. Default 10 s.
    pub close_timeout: Duration,
    /// Send a ping after this much silence and fail the connection (1011) if
    /// no pong comes within `timeout`. Default off in the library.
    pub keepalive: Option<Keepalive>,
}

/// Builder-style setters: each sets the field of the same name (see its
/// documentation for the meaning and the default) and nothing else.
impl Config {
    /// Sets [`max_frame_size`](Config::max_frame_size).
    #[must_use]
    pub fn max_frame_size(mut self, max_frame_size: usize) -> Self {
        self.max_frame_size = max_frame_size;
        self
    }

    /// Sets [`max_message_size`](Config::max_message_size).
    #[must_use]
    pub fn max_message_size(mut self, max_message_size: usize) -> Self {
        self.max_message_size = max_message_size;
        self
    }

    /// Sets [`max_fragments`](Config::max_fragments).
    #[must_use]
    pub fn max_fragments(mut self, max_fragments: u32) -> Self {
        self.max_fragments = max_fragments;
        self
    }

    /// Sets [`auto_pong`](Config::auto_pong).
    #[must_use]
    pub fn auto_pong(mut self, auto_pong: bool) -> Self {
        self.auto_pong = auto_pong;
        self
    }

    /// Sets [`close_timeout`](Config::close_timeout).
    #[must_use]
    pub fn close_timeout(mut self, close_timeout: Duration) -> Self {
        self.close_timeout = close_timeout;
        self
    }

    /// Sets [`keepalive`](Config::keepalive).
    #[must_use]
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }
}

/// Keepalive ping settings.
///
/// ```
/// use std::time::Duration;
/// let k = wsbolt_proto::Keepalive::new(Duration::from_secs(20), Duration::from_secs(10));
/// let cfg = wsbolt_proto::Config::default().keepalive(Some(k));
/// assert_eq!(cfg.keepalive.unwrap().timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// Silence after which a ping is sent.
    pub interval: Duration,
    /// How long a ping may wait for its pong.
    pub timeout: Duration,
}

impl Keepalive {
    /// A ping after `interval` of silence, answered within `timeout`.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Keepalive { interval, timeout }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_fragments: 131_072,
            auto_pong: true,
            close_timeout: Duration::from_secs(10),
            keepalive: None,
        }
    }
}
