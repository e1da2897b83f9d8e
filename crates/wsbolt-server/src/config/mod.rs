//! The server's settings, with the defaults `wsbolt serve` documents. The
//! same names serve as command-line flags and as TOML keys.

mod setters;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wsbolt::{DeflateConfig, Keepalive};

/// What to do with a client that does not read fast enough: once its
/// outbound queue is full, it is closed with this code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlowConsumer {
    /// Close 1008 (policy violation).
    Close1008,
    /// Close 1013 (try again later).
    Close1013,
}

impl SlowConsumer {
    /// The close code.
    pub fn code(self) -> u16 {
        match self {
            SlowConsumer::Close1008 => 1008,
            SlowConsumer::Close1013 => 1013,
        }
    }
}

/// Settings of `wsbolt serve`. Every field has a default; a TOML file sets
/// any of them with the flag's name (`max-message-size = 1048576`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Address to listen on. Default `127.0.0.1:9998`.
    pub listen: SocketAddr,
    /// The largest message accepted (and the largest frame). Default 16 MiB.
    pub max_message_size: usize,
    /// Seconds a client may take to send its opening handshake. Default 10.
    pub handshake_timeout: u64,
    /// Seconds of silence before a keepalive ping; 0 turns keepalive off. Default 30.
    pub ping_interval: u64,
    /// Seconds a ping may wait for its pong (then Close 1011). Default 20.
    pub ping_timeout: u64,
    /// Answer permessage-deflate offers. Default true.
    pub deflate: bool,
    /// Use permessage-deflate without context takeover in both directions:
    /// every message is compressed on its own, by a compressor (and
    /// decompressor) the connections of one thread share, so an idle
    /// connection holds no deflate memory. Default false.
    pub deflate_no_context_takeover: bool,
    /// permessage-deflate compression level, 1–9. Default 6: near zlib
    /// level 6's size; 1 costs a tenth of the CPU on small JSON messages
    /// for 15–40% more bytes (docs/compression.md).
    pub deflate_level: u32,
    /// permessage-deflate window, 9–15 bits, both ways (the client's when
    /// its offer lets the server choose). Default 13: 56 KiB of codec
    /// memory per connection with the context kept, chat-like JSON to 0.29
    /// of its size; 15 costs 176 KiB for about 6% fewer bytes
    /// (docs/compression.md).
    pub deflate_window_bits: u8,
    /// Offer HTTP/2 by ALPN on TLS (pages, `/metrics` and WebSockets over
    /// RFC 8441). Default true.
    pub http2: bool,
    /// Most open connections (WebSocket and HTTP); beyond it new ones get
    /// 503 at once. Default 10,000.
    pub max_connections: usize,
    /// Most open connections from one IP address; beyond it 429. Default 256.
    pub max_connections_per_ip: usize,
    /// Origins allowed besides the server's own (`*` allows any). By default
    /// only same-origin pages and clients that send no `Origin` connect;
    /// others get 403.
    pub allow_origin: Vec<String>,
    /// Serve the files of this folder for plain HTTP GETs instead of the
    /// built-in demo pages.
    pub web_root: Option<PathBuf>,
    /// Each executable `DIR/NAME` answers WebSockets at `/NAME`.
    pub handlers: Option<PathBuf>,
    /// Handler programs exchange raw binary messages instead of text lines.
    pub handlers_binary: bool,
    /// Most handler programs running at once; beyond it 503. Default 64.
    pub max_handler_processes: usize,
    /// Bytes queued for one client before the slow-consumer policy applies. Default 1 MiB.
    pub max_outbound_queue: usize,
    /// Close code for slow consumers: `close1008` or `close1013`. Default close1008.
    pub slow_consumer: SlowConsumer,
    /// Seconds a client may leave the server's answers unread (while the
    /// server waits before reading more) before it is a slow consumer. Default 30.
    pub write_timeout: u64,
    /// Engine threads serving plain-TCP `/echo` WebSockets after their
    /// handshake (one `epoll` each, no task per connection); 0 keeps them on
    /// tokio tasks like the other endpoints. Default: one per CPU the
    /// process may run on.
    pub engine_threads: usize,
    /// PEM certificate chain: serve wss:// and https://.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls-cert`.
    pub tls_key: Option<PathBuf>,
    /// Development only: serve TLS with a self-signed certificate for
    /// localhost made at start-up.
    pub tls_self_signed: bool,
    /// Seconds open connections get to finish after SIGINT/SIGTERM. Default 5.
    pub shutdown_grace: u64,
    /// Share `/chat` and `/broadcast` with every node connected to this
    /// Redis: `redis://[USER:PASSWORD@]HOST:PORT[/DB]` or `rediss://`.
    /// Default: none (rooms live in this process).
    pub redis: Option<String>,
    /// With `redis`: `/readyz` answers 503 while any link to Redis is down
    /// (an orchestrator then sends clients to nodes that share rooms).
    /// Default off: a node cut off from Redis still serves its own clients.
    pub redis_required: bool,
    /// Prefix of the Redis keys, so that clusters can share one Redis. Default `wsbolt`.
    pub redis_prefix: String,
    /// Seconds at most before the users of a node that died leave the user
    /// lists of the others. Default 15.
    pub redis_presence_timeout: u64,
    /// Entries kept in each room's Redis stream: how far a node may fall
    /// behind, or how long it may lose Redis, without missing messages. Default 10,000.
    pub redis_stream_length: usize,
    /// Bytes of messages one node keeps for Redis while it is unreachable;
    /// beyond it they reach this node's clients only. Default 16 MiB.
    pub redis_outbox_limit: usize,
    /// `/rooms`: publications kept per room for clients that come back.
    /// Default 100.
    pub rooms_history_size: usize,
    /// `/rooms`: seconds a publication is kept. Default 300.
    pub rooms_history_age: u64,
    /// `/rooms`: bytes of history across all rooms (each publication costs
    /// its JSON plus 80 bytes); beyond it the oldest go first. Default 64 MiB.
    pub rooms_history_memory: usize,
    /// `/rooms`: rooms one connection may subscribe to. Default 128.
    pub rooms_max_subscriptions: usize,
    /// `/rooms` takes only clients with a JSON Web Token verified with this
    /// key: a PEM public key (RS256 or ES256) or a file holding an HS256
    /// secret of at least 32 bytes. Default: none (no tokens, anyone may use
    /// any room).
    pub rooms_token_key: Option<PathBuf>,
    /// `/rooms` with tokens: seconds a client whose token expired has to send
    /// a new one before Close 4001. Default 10.
    pub rooms_token_grace: u64,
    /// Log one line per WebSocket when it ends (target `wsbolt::access`, at
    /// `info`): peer, path, subprotocol, HTTP version, duration, messages and
    /// bytes each way, close code. Default off.
    pub access_log: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9998)),
            max_message_size: 16 << 20,
            handshake_timeout: 10,
            ping_interval: 30,
            ping_timeout: 20,
            deflate: true,
            deflate_no_context_takeover: false,
            deflate_level: 6,
            deflate_window_bits: 13,
            http2: true,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            allow_origin: Vec::new(),
            web_root: None,
            handlers: None,
            handlers_binary: false,
            max_handler_processes: 64,
            max_outbound_queue: 1 << 20,
            slow_consumer: SlowConsumer::Close1008,
            write_timeout: 30,
            engine_threads: std::thread::available_parallelism().map_or(1, usize::from),
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            shutdown_grace: 5,
            redis: None,
            redis_required: false,
            redis_prefix: "wsbolt".into(),
            redis_presence_timeout: 15,
            redis_stream_length: 10_000,
            redis_outbox_limit: 16 << 20,
            rooms_history_size: 100,
            rooms_history_age: 300,
            rooms_history_memory: 64 << 20,
            rooms_max_subscriptions: 128,
            rooms_token_key: None,
            rooms_token_grace: 10,
            access_log: false,
        }
    }
}

impl ServeConfig {
    /// Reads a TOML file (any subset of the settings).
    pub fn from_toml_file(path: &std::path::Path) -> Result<ServeConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let config: ServeConfig = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let in_range = |key: &str, value: u32, range: std::ops::RangeInclusive<u32>| {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "{}: {key} must be {} to {}, not {value}",
                    path.display(),
                    range.start(),
                    range.end()
                ))
            }
        };
        in_range("deflate-level", config.deflate_level, 1..=9)?;
        in_range("deflate-window-bits", u32::from(config.deflate_window_bits), 9..=15)?;
        Ok(config)
    }

    /// The library configuration these settings imply.
    pub fn ws_config(&self) -> wsbolt::ServerConfig {
        let mut ws = wsbolt::Config::default();
        ws.protocol.max_message_size = self.max_message_size;
        ws.protocol.max_frame_size = self.max_message_size;
        ws.protocol.keepalive = (self.ping_interval > 0).then(|| {
            Keepalive::new(
                Duration::from_secs(self.ping_interval),
                Duration::from_secs(self.ping_timeout.max(1)),
            )
        });
        ws.handshake_timeout = Duration::from_secs(self.handshake_timeout.max(1));
        ws.write_high_water = self.max_outbound_queue.min(256 * 1024);
        ws.deflate = self.deflate.then(|| {
            let bits = self.deflate_window_bits.clamp(9, 15);
            DeflateConfig::balanced()
                .server_max_window_bits(bits)
                .client_max_window_bits(bits)
                .server_no_context_takeover(self.deflate_no_context_takeover)
                .client_no_context_takeover(self.deflate_no_context_takeover)
                .level(self.deflate_level.clamp(1, 9))
        });
        wsbolt::ServerConfig::default().ws(ws)
    }

    /// The Redis backend's settings, if `redis` is set.
    pub fn redis_config(&self) -> Option<crate::rooms::RedisConfig> {
        let url = self.redis.clone()?;
        let mut c = crate::rooms::RedisConfig::new(url);
        c.key_prefix = self.redis_prefix.clone();
        c.presence_timeout = Duration::from_secs(self.redis_presence_timeout.max(1));
        c.stream_length = self.redis_stream_length.max(1);
        c.outbox_limit = self.redis_outbox_limit;
        Some(c)
    }

    /// The history `/rooms` keeps.
    pub fn history_limits(&self) -> crate::rooms::HistoryLimits {
        crate::rooms::HistoryLimits {
            size: self.rooms_history_size,
            age: Duration::from_secs(self.rooms_history_age),
            memory: self.rooms_history_memory,
        }
    }

    /// The scheme pages are served with.
    pub fn tls(&self) -> bool {
        self.tls_self_signed || self.tls_cert.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_uses_the_flag_names_and_refuses_unknown_keys() {
        let c: ServeConfig = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nmax-message-size = 1024\nallow-origin = [\"https://a.example\"]\nslow-consumer = \"close1013\"\n",
        )
        .unwrap();
        assert_eq!(
            (c.listen.port(), c.max_message_size, c.slow_consumer),
            (9000, 1024, SlowConsumer::Close1013)
        );
        assert_eq!(c.allow_origin, ["https://a.example"]);
        assert_eq!(c.ping_interval, 30, "unset keys keep their defaults");
        assert!(toml::from_str::<ServeConfig>("max-mesage-size = 1").is_err());
        let c: ServeConfig = toml::from_str(
            "redis = \"redis://127.0.0.1:6379/2\"\nredis-prefix = \"blue\"\nredis-presence-timeout = 5\n",
        )
        .unwrap();
        let redis = c.redis_config().expect("redis set");
        assert_eq!(
            (redis.url.as_str(), redis.key_prefix.as_str(), redis.presence_timeout),
            ("redis://127.0.0.1:6379/2", "blue", Duration::from_secs(5))
        );
        assert_eq!(redis.stream_length, 10_000, "unset keys keep their defaults");
        assert!(ServeConfig::default().redis_config().is_none());
    }

    #[test]
    fn deflate_settings_reach_the_library_and_a_bad_level_is_refused() {
        let c: ServeConfig = toml::from_str("deflate-level = 1\ndeflate-no-context-takeover = true\n").unwrap();
        let d = c.ws_config().ws.deflate.expect("deflate on");
        assert_eq!(d.level, 1);
        assert!(d.server_no_context_takeover && d.client_no_context_takeover);
        let d = ServeConfig::default().ws_config().ws.deflate.expect("deflate on");
        assert_eq!((d.level, d.server_no_context_takeover), (6, false));
        let path = std::env::temp_dir().join(format!("wsbolt-deflate-level-{}.toml", std::process::id()));
        std::fs::write(&path, "deflate-level = 12\n").unwrap();
        let err = ServeConfig::from_toml_file(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains("deflate-level must be 1 to 9, not 12"), "{err}");
        std::fs::write(&path, "deflate-window-bits = 8\n").unwrap();
        let err = ServeConfig::from_toml_file(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains("deflate-window-bits must be 9 to 15, not 8"), "{err}");
        // The window reaches the library, both ways.
        let d = ServeConfig::default().ws_config().ws.deflate.expect("deflate on");
        assert_eq!((d.server_max_window_bits, d.client_max_window_bits), (13, 13));
    }
}
