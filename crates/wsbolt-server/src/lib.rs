//! # wsbolt-server
//!
//! The library behind `wsbolt serve`: a listener that accepts WebSocket
//! connections (plain or TLS), routes them by path to endpoints (`/echo`,
//! `/chat`, `/broadcast`, handler programs), answers plain HTTP with demo
//! pages and `/metrics` (HTTP/1.1 with keep-alive, and HTTP/2 on TLS, where
//! WebSockets also come over RFC 8441), enforces the Origin policy and limits, and shuts
//! down gracefully. With [`ServeConfig::redis`] set, `/chat` and
//! `/broadcast` are shared by every node on that Redis ([`rooms`]).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let config = wsbolt_server::ServeConfig::default(); // 127.0.0.1:9998
//! let server = wsbolt_server::Server::bind(config).await?;
//! println!("listening on {}", server.local_addr()?);
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod admission;
mod config;
mod connection;
mod dispatch;
mod endpoints;
mod engine;
mod h2_stream_errors;
mod http;
mod metrics;
mod origin;
mod replay;
pub mod rooms;
mod rooms_service;
mod routes;
mod server;
mod server_pages;
mod shutdown;
mod state;
mod tls;
pub mod tokens;
mod web;

pub use config::{ServeConfig, SlowConsumer};
pub use http::{H2_CONNECTION_WINDOW, H2_MAX_CONCURRENT_STREAMS, H2_MAX_HEADER_LIST_SIZE, H2_STREAM_WINDOW};
pub use metrics::Metrics;
pub use rooms_service::RoomsService;

/// The browser client of `/rooms` (an ES module, no dependencies), as
/// `wsbolt serve` serves it at `/wsbolt-rooms.js`: serve it from an app of
/// your own beside [`RoomsService`].
pub const ROOMS_CLIENT_JS: &str = include_str!("../client/wsbolt-rooms.js");

/// The TypeScript declarations of [`ROOMS_CLIENT_JS`] (`/wsbolt-rooms.d.ts`).
pub const ROOMS_CLIENT_DTS: &str = include_str!("../client/wsbolt-rooms.d.ts");
pub use server::Server;
pub use tls::TlsReloader;
