//! WebSockets in axum 0.8, with the names and shapes of
//! `axum::extract::ws` (cargo feature `axum`).
//!
//! A handler written for axum's `ws` compiles with its `use` lines pointed
//! here: [`WebSocketUpgrade`] (with every method of axum's), [`WebSocket`]
//! (`recv`, `send`, `protocol`, a `Stream` and a `Sink`), [`Message`],
//! [`CloseFrame`] with public fields, [`CloseCode`], [`close_code`],
//! [`Utf8Bytes`], [`OnFailedUpgrade`], [`DefaultOnFailedUpgrade`] and
//! [`rejection`]. Errors are `axum::Error` (axum_core's), as in axum.
//!
//! On top of axum's: permessage-deflate is negotiated by default (turn it
//! off with [`no_deflate`](WebSocketUpgrade::no_deflate)); keepalive pings
//! ([`keepalive`](WebSocketUpgrade::keepalive)); every [`ServerConfig`]
//! policy (Origin check, request hook, limits) through
//! [`config`](WebSocketUpgrade::config); HTTP/1.1 and HTTP/2 (RFC 8441;
//! `axum::serve` advertises it). Route with `any(...)`: an HTTP/2 WebSocket
//! arrives as `CONNECT`.
//!
//! The settings do not depend on their order: `config(cfg)` is the base,
//! and each other setter changes only what it names, whether it is called
//! before or after.
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
//! use axum::{response::Response, routing::any, Router};
//! use wsbolt::axum::{Message, WebSocket, WebSocketUpgrade};
//!
//! async fn handler(ws: WebSocketUpgrade) -> Response {
//!     ws.protocols(["chat"]).on_upgrade(handle_socket)
//! }
//!
//! async fn handle_socket(mut socket: WebSocket) {
//!     while let Some(Ok(msg)) = socket.recv().await {
//!         if let Message::Text(t) = &msg {
//!             println!("got {t}");
//!         }
//!         if socket.send(msg).await.is_err() {
//!             return; // the client left
//!         }
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/ws", any(handler));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod message;
pub mod rejection;
mod socket;

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::HeaderValue;
use wsbolt_proto::handshake::server::{validate, Offer, Request};

pub use self::message::{close_code, CloseCode, CloseFrame, Message, Utf8Bytes};
use self::rejection::WebSocketUpgradeRejection;
pub use self::socket::WebSocket;
use crate::config::ServerConfig;
use crate::policy::{decide_offer, PeerAddr};
use crate::upgrade::{finish, from_http, Rejected};
use crate::{DeflateConfig, Keepalive};

/// What to do when the upgrade fails after the response was sent (the
/// client left before the connection was handed over), as axum's.
pub trait OnFailedUpgrade: Send + 'static {
    /// Called with the error.
    fn call(self, error: axum_core::Error);
}

impl<F: FnOnce(axum_core::Error) + Send + 'static> OnFailedUpgrade for F {
    fn call(self, error: axum_core::Error) {
        self(error)
    }
}

/// The default [`OnFailedUpgrade`]: the failure is logged at debug level.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnFailedUpgrade;

impl OnFailedUpgrade for DefaultOnFailedUpgrade {
    fn call(self, error: axum_core::Error) {
        tracing::debug!(%error, "WebSocket upgrade failed after the response");
    }
}

/// The settings given by the setters, each over the base
/// ([`WebSocketUpgrade::config`], or [`default_config`]).
#[derive(Debug, Default, Clone)]
struct Settings {
    max_message_size: Option<usize>,
    max_frame_size: Option<usize>,
    write_high_water: Option<usize>,
    deflate: Option<Option<DeflateConfig>>,
    keepalive: Option<Option<Keepalive>>,
}

/// Extractor for a WebSocket request (HTTP/1.1 Upgrade or HTTP/2 extended
/// CONNECT), as axum's. Refuses a request that is not a valid WebSocket
/// request with a [`WebSocketUpgradeRejection`].
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    request: Request,
    /// What the request offers, validated once when extracted.
    offer: Offer,
    requested: Vec<HeaderValue>,
    peer: Option<std::net::SocketAddr>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    base: Option<ServerConfig>,
    settings: Settings,
    /// The subprotocol to answer with, once chosen by `protocols`,
    /// `set_selected_protocol` or the base's `select_protocol`.
    selected: Option<HeaderValue>,
    /// Whether `protocols` or `set_selected_protocol` chose it (then the
    /// base's `select_protocol` is not asked).
    chosen_here: bool,
    on_failed: F,
}

impl<F> std::fmt::Debug for WebSocketUpgrade<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("target", &self.request.target)
            .field("http2", &self.request.is_http2())
            .field("selected_protocol", &self.selected)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The configuration the extractor starts from unless
/// [`config`](WebSocketUpgrade::config) gives another: [`ServerConfig::default`]
/// with permessage-deflate answered with 13-bit windows
/// ([`DeflateConfig::balanced`]: 56 KiB of codec memory per connection with
/// the context kept, where 15-bit windows take 176 KiB).
pub fn default_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.ws.deflate = Some(DeflateConfig::balanced());
    config
}

impl<F> WebSocketUpgrade<F> {
    /// The subprotocols this route speaks, in order of preference: the first
    /// of them that the client offered is selected (as axum's). Without this
    /// call none is selected, unless the [`config`](Self::config) selects one.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Cow<'static, str>>,
    {
        let requested = &self.requested;
        self.selected = protocols
            .into_iter()
            .map(Into::into)
            .find_map(|p| HeaderValue::from_str(&p).ok().filter(|v| requested.contains(v)));
        self.chosen_here = true;
        self
    }

    /// The subprotocols the client offered, in its order.
    pub fn requested_protocols(&self) -> impl Iterator<Item = &HeaderValue> {
        self.requested.iter()
    }

    /// Answers with this subprotocol, whatever was offered or selected.
    pub fn set_selected_protocol(&mut self, protocol: HeaderValue) {
        self.selected = Some(protocol);
        self.chosen_here = true;
    }

    /// The subprotocol the answer will carry, if any.
    pub fn selected_protocol(&self) -> Option<&HeaderValue> {
        self.selected.as_ref()
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

    /// The base configuration: every setting the other setters do not
    /// name comes from it, whether they are called before or after. Note
    /// that [`ServerConfig::default`] answers no permessage-deflate offer:
    /// start from [`default_config`] to keep it, or call
    /// [`deflate`](Self::deflate).
    pub fn config(mut self, config: ServerConfig) -> Self {
        if !self.chosen_here {
            self.selected = config
                .select_protocol
                .as_ref()
                .and_then(|select| select(&self.offer.protocols))
                .and_then(|p| HeaderValue::from_str(&p).ok());
        }
        self.base = Some(config);
        self
    }

    /// Does not answer permessage-deflate offers.
    pub fn no_deflate(mut self) -> Self {
        self.settings.deflate = Some(None);
        self
    }

    /// Answers permessage-deflate offers with `deflate`.
    pub fn deflate(mut self, deflate: DeflateConfig) -> Self {
        self.settings.deflate = Some(Some(deflate));
        self
    }

    /// Pings every `interval` while the connection is quiet, and closes it
    /// (1011) when no pong comes back within `timeout`.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.settings.keepalive = Some(Some(Keepalive::new(interval, timeout)));
        self
    }

    /// No keepalive pings (the default unless the base has them).
    pub fn no_keepalive(mut self) -> Self {
        self.settings.keepalive = Some(None);
        self
    }

    /// The largest message accepted, in bytes (larger ones close with 1009).
    /// Default 64 MiB, as [`wsbolt_proto::Config`].
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.settings.max_message_size = Some(max);
        self
    }

    /// The largest frame accepted, in bytes (larger ones close with 1009).
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.settings.max_frame_size = Some(max);
        self
    }

    /// Unwritten bytes past which sends wait for the client to read (the
    /// connection's write high-water mark). axum's `max_write_buffer_size`
    /// fails sends past it instead; here they wait, which is backpressure
    /// rather than an error.
    pub fn max_write_buffer_size(mut self, max: usize) -> Self {
        self.settings.write_high_water = Some(max);
        self
    }

    /// Accepted for axum's sake; no effect. wsbolt reads into a buffer that
    /// grows with what the socket has ready, so there is no size to set.
    pub fn read_buffer_size(self, _size: usize) -> Self {
        self
    }

    /// Accepted for axum's sake; no effect. wsbolt writes what is queued at
    /// each flush (a `send` flushes), so nothing waits in a buffer to fill.
    pub fn write_buffer_size(self, _size: usize) -> Self {
        self
    }

    /// Accepted for axum's sake; no effect: unmasked frames from a client
    /// are always refused (close 1002), as RFC 6455 §5.1 requires.
    pub fn accept_unmasked_frames(self, _accept: bool) -> Self {
        self
    }

    /// Calls `callback` instead of logging when the upgrade fails after the
    /// response (the client left before it got it).
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            request: self.request,
            offer: self.offer,
            requested: self.requested,
            peer: self.peer,
            on_upgrade: self.on_upgrade,
            base: self.base,
            settings: self.settings,
            selected: self.selected,
            chosen_here: self.chosen_here,
            on_failed: callback,
        }
    }

    /// The configuration the handshake will use: the base with the setters'
    /// settings and the selected subprotocol.
    fn effective_config(&mut self) -> ServerConfig {
        let mut config = self.base.take().unwrap_or_else(default_config);
        let s = &self.settings;
        if let Some(max) = s.max_message_size {
            config.ws.protocol.max_message_size = max;
        }
        if let Some(max) = s.max_frame_size {
            config.ws.protocol.max_frame_size = max;
        }
        if let Some(high) = s.write_high_water {
            config.ws.write_high_water = high;
        }
        if let Some(deflate) = s.deflate.clone() {
            config.ws.deflate = deflate;
        }
        if let Some(keepalive) = s.keepalive {
            config.ws.protocol.keepalive = keepalive;
        }
        // The subprotocol was decided before (by `protocols`,
        // `set_selected_protocol`, or the base's `select_protocol` when
        // `config` was called): answer with that, without asking again.
        let selected = self.selected.as_ref().and_then(|v| v.to_str().ok()).map(str::to_owned);
        config.select_protocol = selected.map(|p| Arc::new(move |_: &[String]| Some(p.clone())) as _);
        config
    }
}

impl<F: OnFailedUpgrade> WebSocketUpgrade<F> {
    /// Answers the request and, once the transport is handed over, runs
    /// `callback` with the WebSocket in a task of its own. Returns the
    /// response for the handler to return: 101 (HTTP/1.1), 200 (HTTP/2), or
    /// the refusal (403 from the Origin check, the request hook's response).
    pub fn on_upgrade<C, Fut>(mut self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let config = self.effective_config();
        let outcome = decide_offer(&self.request, self.offer, self.peer, &config)
            .map_err(Rejected::from)
            .and_then(|answer| finish(answer, self.on_upgrade, &config));
        let (head, pending) = match outcome {
            Ok(ok) => ok,
            Err(rejected) => return IntoResponse::into_response(rejected),
        };
        let on_failed = self.on_failed;
        tokio::spawn(async move {
            match pending.await {
                Ok(ws) => callback(WebSocket::new(ws)).await,
                Err(e) => on_failed.call(axum_core::Error::new(e)),
            }
        });
        head.map(|()| Body::empty())
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        let (response, _) = self.into_parts();
        response.map(Body::from)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade<DefaultOnFailedUpgrade> {
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request = from_http(
            &parts.method,
            &parts.uri,
            parts.version,
            &parts.headers,
            &parts.extensions,
        );
        let http2 = request.is_http2();
        let offer = validate(&request).map_err(|e| WebSocketUpgradeRejection::new(e, http2))?;
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(WebSocketUpgradeRejection::not_upgradable)?;
        // For the request hook; a middleware can insert it from axum's
        // `ConnectInfo<SocketAddr>`.
        let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0);
        let requested = offer
            .protocols
            .iter()
            .filter_map(|p| HeaderValue::from_str(p).ok())
            .collect();
        Ok(WebSocketUpgrade {
            request,
            offer,
            requested,
            peer,
            on_upgrade,
            base: None,
            settings: Settings::default(),
            selected: None,
            chosen_here: false,
            on_failed: DefaultOnFailedUpgrade,
        })
    }
}
