//! What hyper serves: plain HTTP (pages, `/metrics`) over HTTP/1.1 with
//! keep-alive and over HTTP/2, WebSockets over HTTP/2 (RFC 8441), and a
//! WebSocket upgrade that comes later on a kept-alive HTTP/1.1 connection.
//!
//! A connection whose first request is a WebSocket upgrade over HTTP/1.1
//! never comes here: it takes the direct path of `crate::connection`,
//! which costs fewer instructions and less memory per connection than
//! hyper's upgrade (a boxed transport and a channel hand-off).
//!
//! HTTP/2 limits (defaults, documented in docs/cli.md): at most
//! [`H2_MAX_CONCURRENT_STREAMS`] streams per connection, header lists up to
//! [`H2_MAX_HEADER_LIST_SIZE`] bytes; a stream's window
//! [`H2_STREAM_WINDOW`], the connection's [`H2_CONNECTION_WINDOW`] (room for
//! 64 stalled WebSockets before the others wait). The h2 crate refuses the
//! known floods itself: rapid reset (CVE-2023-44487: at most 20 streams
//! reset before they are accepted, then GOAWAY), CONTINUATION floods
//! (CVE-2024-27316: the header list limit applies to the frames as they
//! come), and SETTINGS/PING floods (acknowledgements are bounded by its send
//! buffer).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use wsbolt::PeerAddr;

use crate::admission::Slot;
use crate::dispatch::{route, routed_config, start};
use crate::endpoints::Shutdown;
use crate::state::State;

/// Most concurrent streams (WebSockets and requests) per HTTP/2 connection.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Largest header list an HTTP/2 request may send (bytes, decoded).
pub const H2_MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;
/// Each HTTP/2 stream's receive window (bytes).
pub const H2_STREAM_WINDOW: u32 = 256 * 1024;
/// An HTTP/2 connection's receive window (bytes).
pub const H2_CONNECTION_WINDOW: u32 = 64 * H2_STREAM_WINDOW;

/// What every request of one connection shares.
struct Conn {
    peer: SocketAddr,
    state: Arc<State>,
    stop: Shutdown,
    /// The connection's place in the limits: an HTTP/1.1 connection's
    /// WebSocket takes it along (hyper lets go of the connection then); an
    /// HTTP/2 connection keeps it while any stream is open.
    slot: Mutex<Option<Slot>>,
}

type Response = http::Response<Full<Bytes>>;

/// Serves an HTTP/1.1 connection with keep-alive until it ends, is
/// upgraded, or the server stops.
pub(crate) async fn serve_http1<I>(io: I, peer: SocketAddr, state: Arc<State>, stop: Shutdown, slot: Slot)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let timeout = state.ws.ws.handshake_timeout;
    let conn = Arc::new(Conn {
        peer,
        state,
        stop: stop.clone(),
        slot: Mutex::new(Some(slot)),
    });
    let service = hyper::service::service_fn(move |req| handle(req, conn.clone()));
    let mut builder = hyper::server::conn::http1::Builder::new();
    // An idle kept-alive connection is closed after the handshake timeout.
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout)
        .keep_alive(true);
    let serving = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
    run_until_stopped(serving, stop, |c| c.graceful_shutdown()).await;
}

/// Serves an HTTP/2 connection (ALPN `h2`) until it ends or the server
/// stops (GOAWAY; WebSockets already open get Close 1001 from their
/// endpoints).
pub(crate) async fn serve_http2<I>(io: I, peer: SocketAddr, state: Arc<State>, stop: Shutdown, slot: Slot)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(Conn {
        peer,
        state,
        stop: stop.clone(),
        slot: Mutex::new(None),
    });
    let service = hyper::service::service_fn(move |req| handle(req, conn.clone()));
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .enable_connect_protocol()
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST_SIZE)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW);
    // A peer's stream error ends its stream, not every WebSocket on the
    // connection (see the module).
    let io = crate::h2_stream_errors::StreamErrors::new(io);
    let serving = builder.serve_connection(TokioIo::new(io), service);
    run_until_stopped(serving, stop, |c| c.graceful_shutdown()).await;
    // The connection's place is given back only now, when its last stream ended.
    drop(slot);
}

/// Drives a hyper connection; when the server starts stopping, asks it to
/// finish gracefully and drives it to its end.
async fn run_until_stopped<C, F>(conn: C, mut stop: Shutdown, graceful: F)
where
    C: std::future::Future,
    F: FnOnce(std::pin::Pin<&mut C>),
{
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = &mut stop => graceful(conn.as_mut()),
    }
    let _ = conn.await;
}

async fn handle(req: http::Request<Incoming>, conn: Arc<Conn>) -> Result<Response, Infallible> {
    let head = wsbolt::upgrade::request_head(&req);
    if head.is_upgrade() || (head.is_http2() && req.method() == http::Method::CONNECT) {
        return Ok(websocket(req, &head, &conn));
    }
    let state = &conn.state;
    let own = crate::server_pages::answer(head.path(), state);
    let response = crate::web::respond(req.method(), head.path(), &state.web, own).await;
    Ok(response.map(Full::new))
}

/// Routes and answers a WebSocket request; the endpoint starts once hyper
/// hands the transport over.
fn websocket(mut req: http::Request<Incoming>, head: &wsbolt::Request, conn: &Arc<Conn>) -> Response {
    let state = &conn.state;
    let routed = match route(state, head, conn.peer) {
        Ok(r) => r,
        Err(e) => {
            state.metrics.handshake_failed(e.status().as_u16());
            return e.response().map(Full::new);
        }
    };
    req.extensions_mut().insert(PeerAddr(conn.peer));
    let config = routed_config(state, routed.protocol);
    let (response, pending) = match wsbolt::upgrade::upgrade(&mut req, &config) {
        Ok(ok) => ok,
        Err(rejected) => {
            let (response, error) = rejected.into_parts();
            state.metrics.handshake_failed(response.status().as_u16());
            tracing::debug!(peer = %conn.peer, %error, "handshake refused");
            return response.map(Full::new);
        }
    };
    let http2 = head.is_http2();
    // An HTTP/1.1 connection's place goes with its WebSocket; over HTTP/2
    // the connection keeps it.
    let slot = if http2 {
        None
    } else {
        conn.slot.lock().expect("slot lock").take()
    };
    let (state, stop, peer) = (conn.state.clone(), conn.stop.clone(), conn.peer);
    conn.state.tasks.spawn(async move {
        match pending.into_maybe_tls().await {
            Ok(ws) => start(ws, &state, stop, routed, slot, http2),
            Err(e) => tracing::debug!(%peer, error = %e, "upgrade not completed"),
        }
    });
    response
}
