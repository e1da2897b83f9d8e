//! One connection's life, in stages: admission and the handshake (TLS,
//! request, routing, answer) in one task, with the handshake boxed; then the
//! endpoint in a task of its own, sized by that endpoint alone. An idle
//! WebSocket costs its endpoint's state, not the largest handshake or
//! endpoint future.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::borrow::Cow;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wsbolt::{HandshakeError, MaybeTlsStream, ServerConfig, ServerHandshake};

use crate::endpoints::{Ctx, Done, Shutdown, Ws};
use crate::replay::Replay;
use crate::routes::{resolve, Routed};
use crate::server::{Slot, State};

/// Serves one accepted TCP connection to its end.
pub(crate) async fn handle(tcp: TcpStream, peer: SocketAddr, state: Arc<State>, stop: Shutdown) {
    let _ = tcp.set_nodelay(true);
    let slot = match state.admit(peer.ip()) {
        Ok(slot) => slot,
        Err(status) => {
            let refuse = Box::pin(refuse_at_once(tcp, status, &state));
            return refuse.await;
        }
    };
    // (Boxed in a statement of its own: a temporary of the awaiting
    // statement would keep its room in this future.)
    let stage = Box::pin(handshake(tcp, peer, &state));
    match stage.await {
        Stage::Ended => {}
        Stage::WebSocket(ws, routed) => start(ws, &state, stop, routed, Some(slot), false),
        Stage::Http1(io) => {
            let serve = Box::pin(crate::http::serve_http1(io, peer, state, stop, slot));
            serve.await
        }
        Stage::Http2(io) => {
            let serve = Box::pin(crate::http::serve_http2(io, peer, state, stop, slot));
            serve.await
        }
    }
}

/// Starts the endpoint of an accepted WebSocket in a task of its own; the
/// connection's places are given back when it ends.
pub(crate) fn start(ws: Ws, state: &State, stop: Shutdown, routed: Routed, slot: Option<Slot>, http2: bool) {
    state.metrics.accepted(http2);
    state.metrics.open.fetch_add(1, Ordering::Relaxed);
    let ctx = Ctx {
        env: state.env.clone(),
        stop,
    };
    let done = Done {
        _slot: slot,
        _permit: routed.permit,
        metrics: state.metrics.clone(),
        tasks: state.tasks.clone(),
    };
    (routed.serve)(ws, ctx, done);
}

/// The endpoint for a WebSocket request (both HTTP stacks): its route, or
/// 503 once shutdown has started.
pub(crate) fn route(state: &State, req: &wsbolt::Request, peer: SocketAddr) -> Result<Routed, HandshakeError> {
    let stopping = state.stopping.load(Ordering::Acquire);
    match resolve(req, peer, state.handlers.as_ref()) {
        // Shutting down: no new WebSockets.
        Ok(_) if stopping => Err(HandshakeError::Unavailable),
        other => other,
    }
}

/// The server's handshake policy with a route's subprotocol selected.
pub(crate) fn routed_config<'a>(state: &'a State, protocol: Option<&'static str>) -> Cow<'a, ServerConfig> {
    match protocol {
        None => Cow::Borrowed(&state.ws),
        Some(p) => {
            let mut cfg = state.ws.clone();
            cfg.select_protocol = Some(Arc::new(move |offered: &[String]| {
                offered.iter().find(|o| *o == p).cloned()
            }));
            Cow::Owned(cfg)
        }
    }
}

/// Over the connection limits: answered without reading (cheap under a flood).
async fn refuse_at_once(mut tcp: TcpStream, status: u16, state: &State) {
    state.metrics.handshake_failed(status);
    if state.tls.is_none() {
        let body = bytes::Bytes::from_static(b"too many connections\n");
        if let Ok(r) = http::Response::builder().status(status).body(body) {
            let _ = tcp.write_all(&wsbolt::http1::response_bytes(&r)).await;
        }
        let _ = tcp.shutdown().await;
    }
}

/// Where a connection goes after its first request head.
// Returned once per connection; boxing the WebSocket would cost every
// connection an allocation (the old `Option` of it had the same size).
#[allow(clippy::large_enum_variant)]
enum Stage {
    /// Answered or refused here; nothing more to do.
    Ended,
    /// An HTTP/1.1 WebSocket accepted on the direct path.
    WebSocket(Ws, Routed),
    /// Plain HTTP/1.1 (its first head replayed to hyper).
    Http1(Replay<MaybeTlsStream>),
    /// TLS that chose HTTP/2 by ALPN.
    Http2(MaybeTlsStream),
}

/// TLS, the first request, and the answer when it is a WebSocket upgrade
/// over HTTP/1.1 (the direct path); plain HTTP and HTTP/2 go to hyper.
async fn handshake(tcp: TcpStream, peer: SocketAddr, state: &State) -> Stage {
    let io = match &state.tls {
        None => MaybeTlsStream::Plain(tcp),
        Some(acceptor) => {
            let timeout = state.ws.ws.handshake_timeout;
            match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => MaybeTlsStream::ServerTls(Box::new(tls)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return Stage::Ended;
                }
                Err(_) => return Stage::Ended,
            }
        }
    };
    if let MaybeTlsStream::ServerTls(tls) = &io {
        if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
            return Stage::Http2(io);
        }
    }
    let hs = match ServerHandshake::read(io, &state.ws).await {
        Ok(hs) => hs,
        Err(e) => {
            record_failure(state, &e);
            tracing::debug!(%peer, error = %e, "bad request");
            return Stage::Ended;
        }
    };
    if !hs.request().is_upgrade() {
        let (io, req, rest) = hs.into_parts();
        return Stage::Http1(Replay::new(replayed_head(&req, &rest), io));
    }
    let routed = match route(state, hs.request(), peer) {
        Ok(r) => r,
        Err(e) => {
            record_failure(state, &hs.reject(e).await);
            return Stage::Ended;
        }
    };
    let hs = hs.with_peer_addr(peer);
    match hs.accept(&routed_config(state, routed.protocol)).await {
        Ok(ws) => Stage::WebSocket(ws, routed),
        Err(e) => {
            record_failure(state, &e);
            tracing::debug!(%peer, error = %e, "handshake refused");
            Stage::Ended
        }
    }
}

/// The head already read, written out again for hyper, then the bytes that
/// followed it. Only plain requests take this path (pages, `/metrics`).
fn replayed_head(req: &wsbolt::Request, rest: &[u8]) -> Bytes {
    let mut head = Vec::with_capacity(256 + rest.len());
    head.extend_from_slice(req.method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(req.target.as_bytes());
    head.extend_from_slice(if req.version == 0 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    for (name, value) in req.headers.iter() {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head.extend_from_slice(rest);
    head.into()
}

/// Counts a handshake the library refused, by the status it answered.
fn record_failure(state: &State, e: &wsbolt::Error) {
    match e {
        wsbolt::Error::Handshake(h) => state.metrics.handshake_failed(h.status().as_u16()),
        wsbolt::Error::Refused(r) => state.metrics.handshake_failed(r.status().as_u16()),
        _ => {}
    }
}
