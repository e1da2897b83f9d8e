//! An axum 0.8 app with wsbolt: a plain route and a WebSocket route on one
//! port, over HTTP/1.1 and (with TLS, or HTTP/2 with prior knowledge) HTTP/2.
//!
//! - `GET /` — a page that opens a WebSocket to `/ws` and echoes a message.
//! - `/ws` — WebSocket echo (subprotocol `echo` when offered;
//!   permessage-deflate negotiated by default).
//! - `GET /stats` — WebSockets accepted so far, by HTTP version, as JSON.
//! - `/rooms/{room}` — chat rooms for signed-in users (token auth refusing
//!   with 401 and a JSON body, keepalive, graceful shutdown with 1001): see
//!   [`rooms`].
//! - `/live` — the `wsbolt.rooms.v1` protocol of `wsbolt serve`'s `/rooms`
//!   (history, recovery, presence) from `wsbolt_server::RoomsService`, and
//!   `GET /wsbolt-rooms.js`, its browser client.
//!
//! `cargo run -p wsbolt-axum-example` serves it on 127.0.0.1:3000; Ctrl-C
//! closes every room WebSocket with 1001 and waits for them before exiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http;
use axum::response::{Html, Response};
use axum::routing::{any, get};
use axum::Router;
use futures_util::StreamExt;
use wsbolt::axum::{WebSocket, WebSocketUpgrade};

pub mod rooms;

pub use rooms::{Settings, Shutdown};

/// WebSockets accepted, by HTTP version.
#[derive(Debug, Default)]
pub struct Stats {
    http1: AtomicU64,
    http2: AtomicU64,
}

/// What the handlers share.
#[derive(Debug, Clone)]
struct AppState {
    stats: Arc<Stats>,
    rooms: rooms::Rooms,
    live: wsbolt_server::RoomsService,
}

impl FromRef<AppState> for wsbolt_server::RoomsService {
    fn from_ref(state: &AppState) -> Self {
        state.live.clone()
    }
}

impl FromRef<AppState> for Arc<Stats> {
    fn from_ref(state: &AppState) -> Self {
        state.stats.clone()
    }
}

impl FromRef<AppState> for rooms::Rooms {
    fn from_ref(state: &AppState) -> Self {
        state.rooms.clone()
    }
}

/// The app's routes, with the default [`Settings`] and a [`Shutdown`] no
/// one triggers.
pub fn app() -> Router {
    app_with(Settings::default(), Shutdown::default())
}

/// The app's routes; `shutdown` closes the room WebSockets.
pub fn app_with(settings: Settings, shutdown: Shutdown) -> Router {
    let live = wsbolt_server::RoomsService::new(&wsbolt_server::ServeConfig::default())
        .expect("the default settings need no key file");
    let state = AppState {
        stats: Arc::default(),
        rooms: rooms::Rooms::new(settings, shutdown),
        live,
    };
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/ws", any(ws))
        .route("/stats", get(stats))
        .route("/rooms/{room}", any(rooms::handler))
        .route("/live", any(live_rooms))
        .route("/wsbolt-rooms.js", get(live_client))
        .with_state(state)
}

/// `/live`: the rooms protocol, answered by the service.
async fn live_rooms(State(service): State<wsbolt_server::RoomsService>, mut req: axum::extract::Request) -> Response {
    service.upgrade(&mut req).map(axum::body::Body::new)
}

async fn live_client() -> ([(http::HeaderName, &'static str); 1], &'static str) {
    (
        [(http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        wsbolt_server::ROOMS_CLIENT_JS,
    )
}

async fn ws(State(stats): State<Arc<Stats>>, upgrade: WebSocketUpgrade) -> Response {
    let counter = if upgrade.http_version() == http::Version::HTTP_2 {
        &stats.http2
    } else {
        &stats.http1
    };
    counter.fetch_add(1, Ordering::Relaxed);
    // 16 MiB messages (1009 beyond), as `wsbolt serve`'s default.
    upgrade.protocols(["echo"]).max_message_size(16 << 20).on_upgrade(echo)
}

/// Sends every message back until the client closes.
async fn echo(mut ws: WebSocket) {
    while let Some(Ok(msg)) = ws.next().await {
        if msg.is_data() && ws.send(msg).await.is_err() {
            break;
        }
    }
}

async fn stats(State(stats): State<Arc<Stats>>) -> String {
    format!(
        "{{\"http1\":{},\"http2\":{}}}",
        stats.http1.load(Ordering::Relaxed),
        stats.http2.load(Ordering::Relaxed)
    )
}

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>wsbolt in axum</title>
<pre id="log"></pre>
<script>
const log = (s) => (document.getElementById("log").textContent += s + "\n");
const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`, ["echo"]);
ws.onopen = () => { log(`open: protocol=${ws.protocol} extensions=${ws.extensions}`); ws.send("hello over " + location.protocol); };
ws.onmessage = (e) => { log("echo: " + e.data); window.echoed = e.data; };
ws.onclose = (e) => log("closed " + e.code);
</script>
"#;

/// Serves `app` on `listener` with TLS (ALPN `h2` and `http/1.1`), over
/// HTTP/1.1 and HTTP/2 (RFC 8441 advertised), until the process ends.
pub async fn serve_tls(listener: tokio::net::TcpListener, app: Router, tls: tokio_rustls::TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tls_connection(tcp, app.clone(), tls.clone()));
    }
}

/// Serves one TCP connection with TLS, over whichever HTTP version ALPN chose.
pub async fn serve_tls_connection(tcp: tokio::net::TcpStream, app: Router, tls: tokio_rustls::TlsAcceptor) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    let Ok(stream) = tls.accept(tcp).await else { return };
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        tower_service::Service::call(&mut app.clone(), req)
    });
    let mut builder = Builder::new(TokioExecutor::new());
    // hyper's default windows are 1 MiB for a stream and 1 MiB for the whole
    // connection: one WebSocket the server does not read would hold every
    // other stream of the connection back. Give the connection room for
    // many stalled streams.
    builder
        .http2()
        .enable_connect_protocol()
        .initial_stream_window_size(256 * 1024)
        .initial_connection_window_size(16 * 1024 * 1024);
    let _ = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await;
}

/// A TLS acceptor with a self-signed certificate for localhost, offering
/// `h2` and `http/1.1` by ALPN.
pub fn self_signed_tls() -> Result<tokio_rustls::TlsAcceptor, String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let cert = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    let config =
        wsbolt::tls::server_config_from_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?;
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
