//! One connection's life, in stages: admission and the handshake (TLS,
//! request, routing, answer) in one task, with the handshake boxed; then the
//! endpoint in a task of its own, sized by that endpoint alone. An idle
//! WebSocket costs its endpoint's state, not the largest handshake or
//! endpoint future.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wsbolt::{HandshakeError, MaybeTlsStream, ServerHandshake};

use crate::endpoints::{Ctx, Done, Shutdown, Ws};
use crate::routes::{resolve, Routed};
use crate::server::State;

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
    let stage = Box::pin(handshake(tcp, peer, &state, stop));
    let Some((ws, ctx, routed)) = stage.await else {
        return;
    };
    state.metrics.accepted.fetch_add(1, Ordering::Relaxed);
    state.metrics.open.fetch_add(1, Ordering::Relaxed);
    let done = Done {
        _slot: slot,
        _permit: routed.permit,
        metrics: state.metrics.clone(),
        tasks: state.tasks.clone(),
    };
    (routed.serve)(ws, ctx, done);
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

/// An accepted connection, its context, and what serves it.
type Accepted = (Ws, Ctx, Routed);

/// TLS, the request, plain HTTP or routing, and the answer. `None` when the
/// connection ended here (a page was served, or the request was refused).
async fn handshake(tcp: TcpStream, peer: SocketAddr, state: &State, stop: Shutdown) -> Option<Accepted> {
    let io = match &state.tls {
        None => MaybeTlsStream::Plain(tcp),
        Some(acceptor) => {
            let timeout = state.ws.ws.handshake_timeout;
            match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => MaybeTlsStream::ServerTls(Box::new(tls)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return None;
                }
                Err(_) => return None,
            }
        }
    };
    let hs = match ServerHandshake::read(io, &state.ws).await {
        Ok(hs) => hs,
        Err(e) => {
            record_failure(state, &e);
            tracing::debug!(%peer, error = %e, "bad request");
            return None;
        }
    };
    if !hs.request().is_upgrade() {
        let (io, req, _) = hs.into_parts();
        crate::web::answer(io, &req, state).await;
        return None;
    }
    let stopping = state.stopping.load(Ordering::Acquire);
    let routed = match resolve(hs.request(), peer, state.handlers.as_ref()) {
        // Shutting down: no new WebSockets.
        Ok(_) if stopping => Err(HandshakeError::Unavailable),
        other => other,
    };
    let routed = match routed {
        Ok(r) => r,
        Err(e) => {
            record_failure(state, &hs.reject(e).await);
            return None;
        }
    };
    let hs = hs.with_peer_addr(peer);
    let accepted = match routed.protocol {
        None => hs.accept(&state.ws).await,
        Some(p) => {
            let mut cfg = state.ws.clone();
            cfg.select_protocol = Some(Arc::new(move |offered: &[String]| {
                offered.iter().find(|o| *o == p).cloned()
            }));
            hs.accept(&cfg).await
        }
    };
    match accepted {
        Ok(ws) => {
            let ctx = Ctx {
                env: state.env.clone(),
                stop,
            };
            Some((ws, ctx, routed))
        }
        Err(e) => {
            record_failure(state, &e);
            tracing::debug!(%peer, error = %e, "handshake refused");
            None
        }
    }
}

/// Counts a handshake the library refused, by the status it answered.
fn record_failure(state: &State, e: &wsbolt::Error) {
    match e {
        wsbolt::Error::Handshake(h) => state.metrics.handshake_failed(h.status().as_u16()),
        wsbolt::Error::Refused(r) => state.metrics.handshake_failed(r.status().as_u16()),
        _ => {}
    }
}
