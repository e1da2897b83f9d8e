//! # wsbolt
//!
//! WebSocket client and server on tokio, over the sans-I/O
//! [`wsbolt_proto`] core: RFC 6455 with permessage-deflate (RFC 7692), over
//! HTTP/1.1 and HTTP/2 (RFC 8441), with TLS, proxies, redirects and
//! reconnection for clients, and adapters for hyper and axum.
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use wsbolt::Message;
//!
//! # async fn run() -> Result<(), wsbolt::Error> {
//! // A server that echoes every message.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! tokio::spawn(async move {
//!     while let Ok((tcp, _)) = listener.accept().await {
//!         tokio::spawn(async move {
//!             let mut ws = wsbolt::accept(tcp).await?;
//!             while let Some(Ok(msg)) = ws.next().await {
//!                 if matches!(msg, Message::Text(_) | Message::Binary(_)) {
//!                     ws.send(msg).await?;
//!                 }
//!             }
//!             Ok::<_, wsbolt::Error>(())
//!         });
//!     }
//! });
//! // A client.
//! let (mut ws, _) = wsbolt::connect("ws://127.0.0.1:9001").await?;
//! ws.send(Message::text("hi")).await?;
//! assert_eq!(ws.next().await.unwrap()?, Message::text("hi"));
//! ws.close(None).await?;
//! # Ok(()) }
//! ```
//!
//! The [`guide`] explains each topic with examples; the programs in
//! `crates/wsbolt/examples` run as they are.
//!
//! # Map of the API
//!
//! | to … | use |
//! | --- | --- |
//! | connect as a client | [`connect`], [`connect_with_config`] with a [`ClientConfig`]; [`client_handshake`] on a transport of your own |
//! | stay connected | [`Reconnect`] with a [`Backoff`] |
//! | follow rooms of `wsbolt serve`, recovering what was missed | `wsbolt::rooms::RoomsClient` (cargo feature `rooms`) |
//! | accept on a socket | [`accept`], [`accept_with_config`] with a [`ServerConfig`]; [`ServerHandshake`] to route or refuse by hand |
//! | accept in axum | `wsbolt::axum` (cargo feature `axum`): axum's `ws` API, item for item |
//! | accept in hyper | `wsbolt::upgrade` (cargo feature `hyper`) |
//! | send and receive | [`WebSocketStream`] (a `Stream` and a `Sink` of [`Message`]); [`WebSocketStream::split`] gives [`WsReader`] and [`WsWriter`], put back with [`WsReader::reunite`] |
//! | write as in a browser | [`websocket::WebSocket`], the WHATWG API |
//! | send one message to many | [`PreparedMessage`] (framed and compressed once) |
//! | close and learn how it ended | [`WebSocketStream::close`], [`CloseFrame`], [`CloseCode`], [`CloseStatus`] |
//! | set limits and features | [`Config`] (shared), [`proto::Config`] (frame and message limits, keepalive), [`Keepalive`], [`DeflateConfig`] |
//! | decide on a handshake | [`ServerConfig`]'s [`OnRequest`], [`CheckOrigin`], [`SelectProtocol`]; [`Refusal`]; [`PeerAddr`] |
//! | TLS | [`tls`]: default roots, private CAs, client certificates; [`MaybeTlsStream`] |
//! | proxies and redirects | [`proxy`], [`ClientConfig::max_redirects`], [`DEFAULT_MAX_REDIRECTS`] |
//! | handle errors | [`Error`] ([`Error::is_retryable`], [`Error::status`]), [`TlsError`], [`RedirectError`], [`proxy::ProxyError`] |
//! | work without a runtime | [`proto`] (the `wsbolt-proto` crate) |
//!
//! # Cargo features
//!
//! - `hyper`: `wsbolt::upgrade`, WebSockets on requests hyper 1.x served.
//! - `axum`: `wsbolt::axum` (implies `hyper`).
//! - `rooms`: `wsbolt::rooms`, a client of `wsbolt serve`'s `/rooms`
//!   protocol (adds `serde_json`).
//!
//! All are off by default.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(unreachable_pub)]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod boxed;
mod client;
mod client_handshake;
mod config;
mod error;
#[doc = include_str!("guide.md")]
pub mod guide {}
pub mod http1;
pub mod http2;
mod policy;
pub mod proxy;
mod read_loop;
mod reconnect;
mod redirect;
#[cfg(feature = "rooms")]
#[cfg_attr(docsrs, doc(cfg(feature = "rooms")))]
pub mod rooms;
mod server;
mod split;
mod stream;
mod target;
pub mod tls;
mod transport;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod upgrade;
pub mod websocket;

pub use boxed::BoxedStream;
pub use client::{connect, connect_with_config};
pub use client_handshake::handshake as client_handshake;
pub use config::{CheckOrigin, ClientConfig, Config, OnRequest, Refusal, SelectProtocol, ServerConfig};
pub use error::{Error, RedirectError, RedirectErrorKind, Result, TlsError, TlsErrorKind};
pub use policy::PeerAddr;
pub use reconnect::{Backoff, Reconnect, Retry};
pub use redirect::DEFAULT_MAX_REDIRECTS;
pub use server::{accept, accept_with_config, ServerHandshake};
pub use split::{ReuniteError, WsReader, WsWriter};
pub use stream::WebSocketStream;
pub use target::Target;
pub use tls::MaybeTlsStream;
pub use wsbolt_proto as proto;
pub use wsbolt_proto::deflate::DeflateConfig;
pub use wsbolt_proto::handshake::client::Response;
pub use wsbolt_proto::handshake::server::Request;
pub use wsbolt_proto::handshake::HandshakeError;
pub use wsbolt_proto::{
    CloseCode, CloseFrame, CloseStatus, Keepalive, Message, PreparedMessage, ProtocolError, Role, State, Utf8Bytes,
};
pub use {bytes, http};

/// The README's examples, compiled as doctests so they stay true. The README
/// opens with the axum extractor, so they need the `axum` feature (which
/// `cargo test --workspace` has: the example app enables it).
#[doc = include_str!("../../../README.md")]
#[cfg(all(doctest, feature = "axum"))]
pub struct ReadmeDoctests;
