//! `ServeConfig`'s builder-style setters, one per field (generated from
//! the fields; kept apart so the settings' definitions read on their own).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{ServeConfig, SlowConsumer};

/// Builder-style setters: each sets the field of the same name (see its
/// documentation for the meaning and the default) and nothing else.
impl ServeConfig {
    /// Sets [`listen`](ServeConfig::listen).
    #[must_use]
    pub fn listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// Sets [`max_message_size`](ServeConfig::max_message_size).
    #[must_use]
    pub fn max_message_size(mut self, max_message_size: usize) -> Self {
        self.max_message_size = max_message_size;
        self
    }

    /// Sets [`handshake_timeout`](ServeConfig::handshake_timeout).
    #[must_use]
    pub fn handshake_timeout(mut self, handshake_timeout: u64) -> Self {
        self.handshake_timeout = handshake_timeout;
        self
    }

    /// Sets [`ping_interval`](ServeConfig::ping_interval).
    #[must_use]
    pub fn ping_interval(mut self, ping_interval: u64) -> Self {
        self.ping_interval = ping_interval;
        self
    }

    /// Sets [`ping_timeout`](ServeConfig::ping_timeout).
    #[must_use]
    pub fn ping_timeout(mut self, ping_timeout: u64) -> Self {
        self.ping_timeout = ping_timeout;
        self
    }

    /// Sets [`deflate`](ServeConfig::deflate).
    #[must_use]
    pub fn deflate(mut self, deflate: bool) -> Self {
        self.deflate = deflate;
        self
    }

    /// Sets [`deflate_no_context_takeover`](ServeConfig::deflate_no_context_takeover).
    #[must_use]
    pub fn deflate_no_context_takeover(mut self, deflate_no_context_takeover: bool) -> Self {
        self.deflate_no_context_takeover = deflate_no_context_takeover;
        self
    }

    /// Sets [`deflate_level`](ServeConfig::deflate_level).
    #[must_use]
    pub fn deflate_level(mut self, deflate_level: u32) -> Self {
        self.deflate_level = deflate_level;
        self
    }

    /// Sets [`deflate_window_bits`](ServeConfig::deflate_window_bits).
    #[must_use]
    pub fn deflate_window_bits(mut self, deflate_window_bits: u8) -> Self {
        self.deflate_window_bits = deflate_window_bits;
        self
    }

    /// Sets [`http2`](ServeConfig::http2).
    #[must_use]
    pub fn http2(mut self, http2: bool) -> Self {
        self.http2 = http2;
        self
    }

    /// Sets [`max_connections`](ServeConfig::max_connections).
    #[must_use]
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Sets [`max_connections_per_ip`](ServeConfig::max_connections_per_ip).
    #[must_use]
    pub fn max_connections_per_ip(mut self, max_connections_per_ip: usize) -> Self {
        self.max_connections_per_ip = max_connections_per_ip;
        self
    }

    /// Sets [`allow_origin`](ServeConfig::allow_origin).
    #[must_use]
    pub fn allow_origin(mut self, allow_origin: Vec<String>) -> Self {
        self.allow_origin = allow_origin;
        self
    }

    /// Sets [`web_root`](ServeConfig::web_root).
    #[must_use]
    pub fn web_root(mut self, web_root: Option<PathBuf>) -> Self {
        self.web_root = web_root;
        self
    }

    /// Sets [`handlers`](ServeConfig::handlers).
    #[must_use]
    pub fn handlers(mut self, handlers: Option<PathBuf>) -> Self {
        self.handlers = handlers;
        self
    }

    /// Sets [`handlers_binary`](ServeConfig::handlers_binary).
    #[must_use]
    pub fn handlers_binary(mut self, handlers_binary: bool) -> Self {
        self.handlers_binary = handlers_binary;
        self
    }

    /// Sets [`max_handler_processes`](ServeConfig::max_handler_processes).
    #[must_use]
    pub fn max_handler_processes(mut self, max_handler_processes: usize) -> Self {
        self.max_handler_processes = max_handler_processes;
        self
    }

    /// Sets [`max_outbound_queue`](ServeConfig::max_outbound_queue).
    #[must_use]
    pub fn max_outbound_queue(mut self, max_outbound_queue: usize) -> Self {
        self.max_outbound_queue = max_outbound_queue;
        self
    }

    /// Sets [`slow_consumer`](ServeConfig::slow_consumer).
    #[must_use]
    pub fn slow_consumer(mut self, slow_consumer: SlowConsumer) -> Self {
        self.slow_consumer = slow_consumer;
        self
    }

    /// Sets [`engine_threads`](ServeConfig::engine_threads) (0: no engine).
    #[must_use]
    pub fn engine_threads(mut self, engine_threads: usize) -> Self {
        self.engine_threads = engine_threads;
        self
    }

    /// Sets [`write_timeout`](ServeConfig::write_timeout).
    #[must_use]
    pub fn write_timeout(mut self, write_timeout: u64) -> Self {
        self.write_timeout = write_timeout;
        self
    }

    /// Sets [`tls_cert`](ServeConfig::tls_cert).
    #[must_use]
    pub fn tls_cert(mut self, tls_cert: Option<PathBuf>) -> Self {
        self.tls_cert = tls_cert;
        self
    }

    /// Sets [`tls_key`](ServeConfig::tls_key).
    #[must_use]
    pub fn tls_key(mut self, tls_key: Option<PathBuf>) -> Self {
        self.tls_key = tls_key;
        self
    }

    /// Sets [`tls_self_signed`](ServeConfig::tls_self_signed).
    #[must_use]
    pub fn tls_self_signed(mut self, tls_self_signed: bool) -> Self {
        self.tls_self_signed = tls_self_signed;
        self
    }

    /// Sets [`shutdown_grace`](ServeConfig::shutdown_grace).
    #[must_use]
    pub fn shutdown_grace(mut self, shutdown_grace: u64) -> Self {
        self.shutdown_grace = shutdown_grace;
        self
    }

    /// Sets [`redis`](ServeConfig::redis).
    #[must_use]
    pub fn redis(mut self, redis: Option<String>) -> Self {
        self.redis = redis;
        self
    }

    /// Sets [`redis_required`](ServeConfig::redis_required).
    #[must_use]
    pub fn redis_required(mut self, redis_required: bool) -> Self {
        self.redis_required = redis_required;
        self
    }

    /// Sets [`redis_prefix`](ServeConfig::redis_prefix).
    #[must_use]
    pub fn redis_prefix(mut self, redis_prefix: String) -> Self {
        self.redis_prefix = redis_prefix;
        self
    }

    /// Sets [`redis_presence_timeout`](ServeConfig::redis_presence_timeout).
    #[must_use]
    pub fn redis_presence_timeout(mut self, redis_presence_timeout: u64) -> Self {
        self.redis_presence_timeout = redis_presence_timeout;
        self
    }

    /// Sets [`redis_stream_length`](ServeConfig::redis_stream_length).
    #[must_use]
    pub fn redis_stream_length(mut self, redis_stream_length: usize) -> Self {
        self.redis_stream_length = redis_stream_length;
        self
    }

    /// Sets [`redis_outbox_limit`](ServeConfig::redis_outbox_limit).
    #[must_use]
    pub fn redis_outbox_limit(mut self, redis_outbox_limit: usize) -> Self {
        self.redis_outbox_limit = redis_outbox_limit;
        self
    }

    /// Sets [`rooms_history_size`](ServeConfig::rooms_history_size).
    #[must_use]
    pub fn rooms_history_size(mut self, rooms_history_size: usize) -> Self {
        self.rooms_history_size = rooms_history_size;
        self
    }

    /// Sets [`rooms_history_age`](ServeConfig::rooms_history_age).
    #[must_use]
    pub fn rooms_history_age(mut self, rooms_history_age: u64) -> Self {
        self.rooms_history_age = rooms_history_age;
        self
    }

    /// Sets [`rooms_history_memory`](ServeConfig::rooms_history_memory).
    #[must_use]
    pub fn rooms_history_memory(mut self, rooms_history_memory: usize) -> Self {
        self.rooms_history_memory = rooms_history_memory;
        self
    }

    /// Sets [`rooms_max_subscriptions`](ServeConfig::rooms_max_subscriptions).
    #[must_use]
    pub fn rooms_max_subscriptions(mut self, rooms_max_subscriptions: usize) -> Self {
        self.rooms_max_subscriptions = rooms_max_subscriptions;
        self
    }

    /// Sets [`rooms_token_key`](ServeConfig::rooms_token_key).
    #[must_use]
    pub fn rooms_token_key(mut self, rooms_token_key: Option<PathBuf>) -> Self {
        self.rooms_token_key = rooms_token_key;
        self
    }

    /// Sets [`rooms_token_grace`](ServeConfig::rooms_token_grace).
    #[must_use]
    pub fn rooms_token_grace(mut self, rooms_token_grace: u64) -> Self {
        self.rooms_token_grace = rooms_token_grace;
        self
    }

    /// Sets [`access_log`](ServeConfig::access_log).
    #[must_use]
    pub fn access_log(mut self, access_log: bool) -> Self {
        self.access_log = access_log;
        self
    }
}
