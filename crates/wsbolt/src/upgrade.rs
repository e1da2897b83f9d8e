//! WebSockets on requests that hyper 1.x served: HTTP/1.1 `Upgrade` and
//! HTTP/2 extended CONNECT (RFC 8441), under the same [`ServerConfig`]
//! policy as [`accept`](crate::accept) (cargo feature `hyper`).
//!
//! [`upgrade`] judges the request (the sans-I/O core validates both HTTP
//! versions; this module only maps types) and returns the response for
//! hyper to send — `101 Switching Protocols` over HTTP/1.1, `200 OK` over
//! HTTP/2 — and a [`PendingUpgrade`] that resolves to the
//! [`WebSocketStream`] once hyper hands the connection (or the HTTP/2
//! stream) over.
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use http_body_util::Full;
//! use hyper::body::{Bytes, Incoming};
//!
//! async fn serve(mut req: http::Request<Incoming>) -> Result<http::Response<Full<Bytes>>, hyper::Error> {
//!     let config = wsbolt::ServerConfig::default();
//!     match wsbolt::upgrade::upgrade(&mut req, &config) {
//!         Ok((response, pending)) => {
//!             tokio::spawn(async move {
//!                 let mut ws = pending.await?;
//!                 while let Some(Ok(msg)) = ws.next().await {
//!                     if msg.is_data() {
//!                         ws.send(msg).await?;
//!                     }
//!                 }
//!                 Ok::<_, wsbolt::Error>(())
//!             });
//!             Ok(response)
//!         }
//!         // Not a WebSocket request, or refused: the refusal's status, fields and body.
//!         Err(rejected) => Ok(rejected.into_response()),
//!     }
//! }
//! ```
//!
//! A hyper server that serves HTTP/2 must advertise RFC 8441 for browsers to
//! use it: `hyper::server::conn::http2::Builder::enable_connect_protocol`.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use wsbolt_proto::deflate::DeflateParams;
use wsbolt_proto::handshake::header::Headers;
use wsbolt_proto::handshake::server::{accept_head, Request};
use wsbolt_proto::Role;

use crate::boxed::BoxedStream;
use crate::config::{Config, ServerConfig};
use crate::error::{Error, Result};
use crate::policy::{decide, Answer, PeerAddr, Refuse};
use crate::stream::WebSocketStream;
use crate::tls::MaybeTlsStream;

/// The transport of a WebSocket that hyper handed over: the upgraded
/// HTTP/1.1 connection or the HTTP/2 stream, as a tokio `AsyncRead +
/// AsyncWrite`.
pub type Upgraded = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;

/// A request that is not upgraded: the response to send (any status, fields
/// and body: 400/405/426 from validation, 403 from the Origin check, the
/// request hook's own) and the error it reports.
#[derive(Debug)]
pub struct Rejected {
    response: Box<http::Response<Bytes>>,
    error: Error,
}

impl Rejected {
    /// Why the request was refused.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The refusal to send, as hyper takes it.
    pub fn into_response(self) -> http::Response<Full<Bytes>> {
        self.response.map(Full::new)
    }

    /// The refusal and the error.
    pub fn into_parts(self) -> (http::Response<Bytes>, Error) {
        (*self.response, self.error)
    }

    pub(crate) fn from(refuse: Refuse) -> Rejected {
        let (response, error) = refuse.into_parts();
        Rejected {
            response: Box::new(response),
            error,
        }
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebSocket upgrade refused with {}: {}",
            self.response.status(),
            self.error
        )
    }
}

impl std::error::Error for Rejected {}

/// Judges `req` under `config` and, when accepted, takes hyper's upgrade
/// handle out of it. Returns the response to send and the future of the
/// WebSocket.
///
/// Works for HTTP/1.1 (`GET` with `Upgrade: websocket`) and HTTP/2
/// (`CONNECT` with `:protocol: websocket`, which hyper stores as a
/// `hyper::ext::Protocol` extension). The peer address, when the request
/// carries a [`PeerAddr`] extension, is passed on to
/// [`ServerConfig::on_request`].
///
/// # Errors
///
/// [`Rejected`] with the response to send instead: the request is not a
/// valid WebSocket request (400, 405, 426), the Origin check refused it
/// (403), the request hook refused it (its response), or the server's
/// response headers are unusable (500).
pub fn upgrade<B>(
    req: &mut http::Request<B>,
    config: &ServerConfig,
) -> std::result::Result<(http::Response<Full<Bytes>>, PendingUpgrade), Rejected> {
    let request = request_head(req);
    let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
    let answer = decide(&request, peer, config).map_err(Rejected::from)?;
    let on_upgrade = hyper::upgrade::on(req);
    let (response, pending) = finish(answer, on_upgrade, config)?;
    Ok((response.map(|()| Full::new(Bytes::new())), pending))
}

/// The request's head as the core sees it (method, target, fields; over
/// HTTP/2 the `:protocol` and `:authority`), for a server that routes on it
/// before [`upgrade`].
pub fn request_head<B>(req: &http::Request<B>) -> Request {
    from_http(req.method(), req.uri(), req.version(), req.headers(), req.extensions())
}

/// The accepted answer's response head and its pending WebSocket.
pub(crate) fn finish(
    answer: Answer,
    on_upgrade: hyper::upgrade::OnUpgrade,
    config: &ServerConfig,
) -> std::result::Result<(http::Response<()>, PendingUpgrade), Rejected> {
    let head = accept_head(
        &answer.offer,
        answer.protocol.as_deref(),
        answer.extensions.as_deref(),
        &config.response_headers,
    )
    .map_err(|e| Rejected::from(Refuse::Misconfigured(format!("response header: {e}"))))?;
    let pending = PendingUpgrade {
        on_upgrade,
        ready: Some(Ready {
            config: config.ws.clone(),
            deflate: answer.deflate,
            protocol: answer.protocol,
            extensions: answer.extensions,
            // RFC 8441 has no key: an offer without one came over HTTP/2.
            http2: answer.offer.key.is_none(),
        }),
    };
    Ok((head, pending))
}

/// Maps an `http` request head onto the core's [`Request`]: over HTTP/2 the
/// `:protocol` pseudo-header (hyper's `Protocol` extension) and
/// `:authority` (as `Host`) are carried over.
pub(crate) fn from_http(
    method: &http::Method,
    uri: &http::Uri,
    version: http::Version,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> Request {
    let http2 = version == http::Version::HTTP_2;
    // One buffer for every name and value, sliced: two allocations in all
    // rather than two per field.
    let authority = uri
        .authority()
        .filter(|_| http2 && !headers.contains_key(http::header::HOST));
    let size = headers.iter().map(|(n, v)| n.as_str().len() + v.len()).sum::<usize>()
        + authority.map_or(0, |a| 4 + a.as_str().len());
    let mut buf = bytes::BytesMut::with_capacity(size);
    let mut spans = Vec::with_capacity(headers.len() + 1);
    let mut push = |name: &[u8], value: &[u8]| {
        let at = buf.len();
        buf.extend_from_slice(name);
        buf.extend_from_slice(value);
        spans.push((at, name.len(), value.len()));
    };
    if let Some(a) = authority {
        push(b"host", a.as_str().as_bytes());
    }
    for (n, v) in headers {
        push(n.as_str().as_bytes(), v.as_bytes());
    }
    let buf = buf.freeze();
    let fields: Headers = spans
        .into_iter()
        .map(|(at, n, v)| (buf.slice(at..at + n), buf.slice(at + n..at + n + v)))
        .collect();
    let extended_connect = http2.then(|| {
        extensions
            .get::<hyper::ext::Protocol>()
            .map_or_else(String::new, |p| p.as_str().to_string())
    });
    Request {
        method: method.as_str().to_string(),
        target: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        version: u8::from(version != http::Version::HTTP_10),
        headers: fields,
        extended_connect,
    }
}

/// What the WebSocket is made with once the transport arrives.
#[derive(Debug)]
struct Ready {
    config: Config,
    deflate: Option<DeflateParams>,
    protocol: Option<String>,
    extensions: Option<String>,
    http2: bool,
}

/// Resolves to the accepted [`WebSocketStream`] once hyper has sent the
/// response and handed the transport over.
///
/// # Cancel safety
///
/// Dropping it drops the transport (the client sees the connection, or the
/// HTTP/2 stream, end).
///
/// # Errors
///
/// [`Error::Io`] when hyper could not hand the transport over (the client
/// left before the response was sent, or the request was not upgradable).
#[derive(Debug)]
#[must_use = "the WebSocket exists once this future resolves"]
pub struct PendingUpgrade {
    on_upgrade: hyper::upgrade::OnUpgrade,
    ready: Option<Ready>,
}

impl PendingUpgrade {
    /// The same WebSocket with its transport as a
    /// [`MaybeTlsStream::Boxed`], the type [`accept`](crate::accept) on
    /// a listener's connections gives: for servers that keep WebSockets of
    /// both kinds together.
    ///
    /// # Cancel safety
    ///
    /// As awaiting `self`.
    ///
    /// # Errors
    ///
    /// As awaiting `self`.
    pub async fn into_maybe_tls(mut self) -> Result<WebSocketStream<MaybeTlsStream>> {
        let http2 = self.ready.as_ref().is_some_and(|r| r.http2);
        std::future::poll_fn(|cx| self.poll_with(cx, |io| MaybeTlsStream::Boxed(BoxedStream::upgraded(io, http2))))
            .await
    }

    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        wrap: impl FnOnce(Upgraded) -> T,
    ) -> Poll<Result<WebSocketStream<T>>>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let upgraded =
            ready!(Pin::new(&mut self.on_upgrade).poll(cx)).map_err(|e| Error::Io(std::io::Error::other(e)))?;
        let Some(r) = self.ready.take() else {
            return Poll::Ready(Err(Error::ConnectionClosed));
        };
        let io = wrap(hyper_util::rt::TokioIo::new(upgraded));
        let mut ws = WebSocketStream::from_raw_with_deflate(io, Role::Server, r.config, r.deflate, &[]);
        ws.set_negotiated(r.protocol, r.extensions);
        Poll::Ready(Ok(ws))
    }
}

impl Future for PendingUpgrade {
    type Output = Result<WebSocketStream<Upgraded>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_with(cx, |io| io)
    }
}
