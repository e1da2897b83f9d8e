//! # wsbolt-server
//!
//! The library behind `wsbolt serve`: a listener that accepts WebSocket
//! connections (plain or TLS), routes them by path to endpoints (`/echo`,
//! `/chat`, `/broadcast`, handler programs), answers plain HTTP with demo
//! pages and `/metrics`, enforces the Origin policy and limits, and shuts
//! down gracefully.
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
#![warn(missing_docs)]

mod config;
pub mod endpoints;
mod metrics;
mod origin;
mod server;
mod tls;
pub mod web;

pub use config::{ServeConfig, SlowConsumer};
pub use metrics::Metrics;
pub use server::Server;
