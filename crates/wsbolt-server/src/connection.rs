//! One connection's life, in stages: admission and the handshake (TLS,
//! request, routing, answer) in one task, with the handshake boxed; then the
//! endpoint in a task of its own, sized by that endpoint alone. An idle
//! WebSocket costs its endpoint's state, not the largest handshake or
//! endpoint future.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wsbolt::{MaybeTlsStream, ServerHandshake};

use crate::dispatch::{route, routed_config, start};
use crate::endpoints::{Shutdown, Ws};
use crate::replay::Replay;
use crate::routes::Routed;
use crate::state::State;

/// Serves one accepted TCP connection to its end.
pub(crate) async fn handle(tcp: TcpStream, peer: SocketAddr, state: Arc<State>, stop: Shutdown) {
    let _ = tcp.set_nodelay(true);
    let slot = match state.admission.admit(peer.ip()) {
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
        let head = hs.head().clone();
        let (io, _req, rest) = hs.into_parts();
        return Stage::Http1(Replay::new(replayed(&head, &rest), io));
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

/// The head exactly as read, then the bytes that followed it: what hyper
/// reads first. Only plain requests take this path (pages, `/metrics`).
fn replayed(head: &Bytes, rest: &[u8]) -> Bytes {
    let mut bytes = BytesMut::with_capacity(head.len() + rest.len());
    bytes.extend_from_slice(head);
    bytes.extend_from_slice(rest);
    bytes.freeze()
}

/// Counts a handshake the library refused, by the status it answered.
fn record_failure(state: &State, e: &wsbolt::Error) {
    match e {
        wsbolt::Error::Handshake(h) => state.metrics.handshake_failed(h.status().as_u16()),
        wsbolt::Error::Refused(r) => state.metrics.handshake_failed(r.status().as_u16()),
        _ => {}
    }
}
