//! Protocol limits and timers, with their defaults.

use std::time::Duration;

/// Limits and timers of one connection. Every field has a safe default.
///
/// ```
/// use wsbolt_proto::Config;
/// let cfg = Config { max_message_size: 1 << 20, ..Config::default() };
/// assert_eq!(cfg.max_frame_size, 16 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Keepalive ping settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Silence after which a ping is sent.
    pub interval: Duration,
    /// How long a ping may wait for its pong.
    pub timeout: Duration,
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
