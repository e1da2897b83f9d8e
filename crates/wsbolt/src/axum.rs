//! An axum 0.8 extractor for WebSockets, shaped like axum's own
//! `axum::extract::ws::WebSocketUpgrade` (cargo feature `axum`).
//!
//! Switching from axum's `ws` is an import change: the handler takes a
//! [`WebSocketUpgrade`], may call [`protocols`](WebSocketUpgrade::protocols),
//! and returns [`on_upgrade`](WebSocketUpgrade::on_upgrade)'s response. On
//! top of axum's: permessage-deflate is negotiated by default (the server
//! defaults of [`DeflateConfig`]: turn it off with
//! [`no_deflate`](WebSocketUpgrade::no_deflate)), and every
//! [`ServerConfig`] policy applies (Origin check, request hook, keepalive,
//! limits). HTTP/1.1 and HTTP/2 (RFC 8441; `axum::serve` advertises it)
//! both work. Route with `any(...)`, not `get(...)`: an HTTP/2 WebSocket
//! arrives as `CONNECT`.
//!
//! Over HTTP/2 every WebSocket of a browser tab shares one connection, and
//! flow control decides whether one the server does not read holds the
//! others back: hyper's defaults (used by `axum::serve`) give a stream and
//! the whole connection the same 1 MiB window, so it does. Serving with a
//! hyper builder whose connection window is many stream windows (the
//! repository's `examples/axum-app` uses 256 KiB per stream, 16 MiB per
//! connection) keeps the others going; its tests check it.
//!
//! ```no_run
//! use axum::{routing::any, routing::get, Router};
//! use futures_util::{SinkExt, StreamExt};
//! use wsbolt::axum::{WebSocket, WebSocketUpgrade};
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> axum::response::Response {
//!     upgrade.protocols(["chat"]).on_upgrade(|mut ws: WebSocket| async move {
//!         while let Some(Ok(msg)) = ws.next().await {
//!             if msg.is_data() && ws.send(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/", get(|| async { "hello" })).route("/ws", any(ws));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use wsbolt_proto::handshake::server::{validate, Offer, Request};
use wsbolt_proto::handshake::HandshakeError;

use crate::config::ServerConfig;
use crate::error::Error;
use crate::policy::decide_offer;
use crate::policy::PeerAddr;
use crate::stream::WebSocketStream;
use crate::upgrade::{finish, from_http, Rejected, Upgraded};
use crate::DeflateConfig;

/// The WebSocket a handler gets.
pub type WebSocket = WebSocketStream<Upgraded>;

/// Extractor for a WebSocket request (HTTP/1.1 Upgrade or HTTP/2 extended
/// CONNECT). Rejects a request that is not a valid WebSocket request with
/// its status (400, 405, 426).
pub struct WebSocketUpgrade {
    request: Request,
    /// What the request offers, validated once when extracted.
    offer: Offer,
    peer: Option<std::net::SocketAddr>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    config: ServerConfig,
    protocols: Option<Arc<[String]>>,
    on_failed: Option<Box<dyn FnOnce(Error) + Send>>,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("target", &self.request.target)
            .field("http2", &self.request.is_http2())
            .field("protocols", &self.protocols)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The configuration the extractor starts from: [`ServerConfig::default`]
/// with permessage-deflate answered ([`DeflateConfig::default`]).
pub fn default_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.ws.deflate = Some(DeflateConfig::default());
    config
}

impl WebSocketUpgrade {
    /// The subprotocols this route speaks: the first one the client offers
    /// that is in this list is selected (as axum's does). Without this call
    /// none is selected (unless [`config`](Self::config) selects one).
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Cow<'static, str>>,
    {
        let list: Arc<[String]> = protocols.into_iter().map(|p| p.into().into_owned()).collect();
        self.protocols = Some(list.clone());
        self.config.select_protocol = Some(Arc::new(move |offered: &[String]| {
            offered.iter().find(|o| list.contains(o)).cloned()
        }));
        self
    }

    /// The HTTP version the request came over (`HTTP_11`, or `HTTP_2` for
    /// RFC 8441).
    pub fn http_version(&self) -> http::Version {
        if self.request.is_http2() {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        }
    }

    /// The subprotocol that will be selected, if any.
    pub fn selected_protocol(&self) -> Option<String> {
        let offered = &self.offer.protocols;
        let select = self.config.select_protocol.as_ref()?;
        select(offered).filter(|p| offered.contains(p))
    }

    /// Replaces the whole configuration (a later [`protocols`](Self::protocols)
    /// call still sets the selection).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Does not answer permessage-deflate offers.
    pub fn no_deflate(mut self) -> Self {
        self.config.ws.deflate = None;
        self
    }

    /// Answers permessage-deflate offers with `deflate`.
    pub fn deflate(mut self, deflate: DeflateConfig) -> Self {
        self.config.ws.deflate = Some(deflate);
        self
    }

    /// The largest message accepted (bytes; larger ones close with 1009).
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.config.ws.protocol.max_message_size = max;
        self
    }

    /// Called instead of the callback when the upgrade fails after the
    /// response (the client left before it got it). Without it, the failure
    /// is logged at debug level.
    pub fn on_failed_upgrade(mut self, f: impl FnOnce(Error) + Send + 'static) -> Self {
        self.on_failed = Some(Box::new(f));
        self
    }

    /// Answers the request and, once the transport is handed over, runs
    /// `callback` with the WebSocket in a task of its own. Returns the
    /// response for the handler to return: 101 (HTTP/1.1), 200 (HTTP/2), or
    /// the refusal (403 from the Origin check, the request hook's response).
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = decide_offer(&self.request, self.offer, self.peer, &self.config)
            .map_err(Rejected::from)
            .and_then(|answer| finish(answer, self.on_upgrade, &self.config));
        let (head, pending) = match outcome {
            Ok(ok) => ok,
            Err(rejected) => return rejected.into_response_axum(),
        };
        let on_failed = self.on_failed;
        tokio::spawn(async move {
            match pending.await {
                Ok(ws) => callback(ws).await,
                Err(e) => match on_failed {
                    Some(f) => f(e),
                    None => tracing::debug!(error = %e, "WebSocket upgrade failed after the response"),
                },
            }
        });
        head.map(|()| Body::empty())
    }
}

impl Rejected {
    fn into_response_axum(self) -> Response {
        let (response, _) = self.into_parts();
        response.map(Body::from)
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        self.into_response_axum()
    }
}

/// Why the extractor refused a request: its standard response.
#[derive(Debug)]
pub struct WebSocketRejection(HandshakeError);

impl WebSocketRejection {
    /// The validation error.
    pub fn error(&self) -> &HandshakeError {
        &self.0
    }
}

impl std::fmt::Display for WebSocketRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WebSocketRejection {}

impl IntoResponse for WebSocketRejection {
    fn into_response(self) -> Response {
        self.0.response().map(Body::from)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = WebSocketRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request = from_http(
            &parts.method,
            &parts.uri,
            parts.version,
            &parts.headers,
            &parts.extensions,
        );
        let offer = validate(&request).map_err(WebSocketRejection)?;
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or(WebSocketRejection(HandshakeError::Malformed(
                "the connection cannot be upgraded (no hyper upgrade handle)".into(),
            )))?;
        // For the request hook; a middleware can insert it from axum's
        // `ConnectInfo<SocketAddr>`.
        let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0);
        Ok(WebSocketUpgrade {
            request,
            offer,
            peer,
            on_upgrade,
            config: default_config(),
            protocols: None,
            on_failed: None,
        })
    }
}
