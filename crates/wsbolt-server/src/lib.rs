//! # wsbolt-server
//!
//! The library behind `wsbolt serve`: a listener that accepts WebSocket
//! connections, routes them by path to endpoints, and answers plain HTTP.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let config = wsbolt_server::ServeConfig::default(); // 127.0.0.1:9998, echo at /echo
//! let server = wsbolt_server::Server::bind(config).await?;
//! println!("listening on {}", server.local_addr()?);
//! server.run(std::future::pending()).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod echo;
mod server;

pub use config::ServeConfig;
pub use server::Server;
