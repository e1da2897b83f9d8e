//! The server's settings, with the defaults `wsbolt serve` documents.

use std::net::SocketAddr;
use std::time::Duration;

use wsbolt::{DeflateConfig, Keepalive};

/// Settings of `wsbolt serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on. Default `127.0.0.1:9998`.
    pub listen: SocketAddr,
    /// The largest message accepted (and the largest frame). Default 16 MiB.
    pub max_message_size: usize,
    /// How long a client may take to send its opening handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// Keepalive pings: interval and pong timeout. Default 30 s / 20 s.
    /// `None` turns keepalive off.
    pub keepalive: Option<Keepalive>,
    /// Per-connection outbound high-water mark in bytes. Default 256 KiB.
    pub write_high_water: usize,
    /// permessage-deflate, answered when a client offers it (browsers
    /// always do). Default on, with [`DeflateConfig`]'s defaults.
    pub deflate: Option<DeflateConfig>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9998)),
            max_message_size: 16 << 20,
            handshake_timeout: Duration::from_secs(10),
            keepalive: Some(Keepalive {
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(20),
            }),
            write_high_water: 256 * 1024,
            deflate: Some(DeflateConfig::default()),
        }
    }
}

impl ServeConfig {
    /// The library configuration these settings imply.
    pub fn ws_config(&self) -> wsbolt::ServerConfig {
        let mut ws = wsbolt::Config::default();
        ws.protocol.max_message_size = self.max_message_size;
        ws.protocol.max_frame_size = self.max_message_size;
        ws.protocol.keepalive = self.keepalive;
        ws.handshake_timeout = self.handshake_timeout;
        ws.write_high_water = self.write_high_water;
        ws.deflate = self.deflate.clone();
        wsbolt::ServerConfig {
            ws,
            ..Default::default()
        }
    }
}
