//! The client's WebSockets over HTTP/2 (RFC 8441), opted into with
//! [`ClientConfig::http2`](crate::ClientConfig::http2).
//!
//! TLS offers `h2` and `http/1.1`. When the server picks `h2`, the client
//! waits for its SETTINGS (a PING's answer comes after them) and, if they
//! enable the extended CONNECT, opens the WebSocket as a stream: `CONNECT`
//! with `:protocol: websocket`, answered 200. Otherwise it falls back to the
//! HTTP/1.1 Upgrade.

mod pool;
mod stream;

use std::sync::Arc;

use bytes::Bytes;
use wsbolt_proto::deflate::accept_client;
use wsbolt_proto::handshake::client::{validate_http2_response, Response};
use wsbolt_proto::handshake::header::Headers;
use wsbolt_proto::Role;

pub use stream::H2Stream;

use crate::boxed::BoxedStream;
use crate::client_handshake::{client_request, handshake};
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::stream::WebSocketStream;
use crate::target::Target;
use crate::tls::MaybeTlsStream;
use crate::transport::open_transport;
use pool::{Origin, Shared};

/// Each stream's receive window: what a WebSocket nobody reads can hold
/// back before its server stops sending on it.
const STREAM_WINDOW: u32 = 256 * 1024;

/// Stalled streams (each holding a full window) that leave the connection's
/// other streams their whole window.
pub(crate) const STALLED_STREAMS: u32 = 64;

/// The most of a refusal's body kept for [`Error::Refused`].
const MAX_REFUSAL_BODY: usize = 64 * 1024;

fn h2_error(e: h2::Error) -> Error {
    Error::Io(std::io::Error::other(e))
}

/// Connects to a `wss://` target, over HTTP/2 when the server offers RFC
/// 8441, otherwise over HTTP/1.1.
pub(crate) async fn connect(
    target: &Target,
    config: &ClientConfig,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    let origin = Origin {
        host: target.host.clone(),
        port: target.port,
        tls: config.tls.as_ref().map_or(0, |t| Arc::as_ptr(t) as usize),
        proxy: config
            .proxy
            .resolve(target)?
            .map(|p| p.sharing_key())
            .unwrap_or_default(),
    };
    if let Some(conn) = pool::get(&origin) {
        match open_stream(&conn, target, config).await {
            Err(Error::Io(_)) => pool::forget(&origin), // a dead connection: open another
            other => return other,
        }
    }
    let io = open_transport(target, config, &[b"h2", b"http/1.1"]).await?;
    if alpn(&io) != Some(b"h2") {
        return handshake(io, target, config).await;
    }
    let (send, mut conn) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(STREAM_WINDOW * (STALLED_STREAMS + 1))
        .handshake::<_, Bytes>(io)
        .await
        .map_err(h2_error)?;
    let mut ping = conn.ping_pong().expect("a new connection's ping handle");
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "HTTP/2 connection ended");
        }
    });
    // The server's SETTINGS come first on its side: once our PING is
    // answered, we know whether it enables the extended CONNECT.
    ping.ping(h2::Ping::opaque()).await.map_err(h2_error)?;
    if !send.is_extended_connect_protocol_enabled() {
        // An HTTP/2 server without RFC 8441: HTTP/1.1 on a new connection.
        drop(send);
        let io = open_transport(target, config, &[b"http/1.1"]).await?;
        return handshake(io, target, config).await;
    }
    let conn = Arc::new(Shared { send });
    pool::put(origin, &conn);
    open_stream(&conn, target, config).await
}

/// The protocol TLS agreed on, if any.
fn alpn(io: &MaybeTlsStream) -> Option<&[u8]> {
    match io {
        MaybeTlsStream::ClientTls(s) => s.get_ref().1.alpn_protocol(),
        MaybeTlsStream::ClientTlsInTls(s) => s.get_ref().1.alpn_protocol(),
        _ => None,
    }
}

/// Opens one WebSocket as a stream of `conn`.
async fn open_stream(
    conn: &Arc<Shared>,
    target: &Target,
    config: &ClientConfig,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    let request = client_request(target, config, String::new())?;
    let mut b = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("https://{}{}", target.host_header, target.resource))
        .extension(h2::ext::Protocol::from_static("websocket"))
        .header(http::header::SEC_WEBSOCKET_VERSION, "13");
    if !request.protocols.is_empty() {
        b = b.header(http::header::SEC_WEBSOCKET_PROTOCOL, request.protocols.join(", "));
    }
    if let Some((offer, _)) = &request.extensions {
        b = b.header(http::header::SEC_WEBSOCKET_EXTENSIONS, offer.as_str());
    }
    for (n, v) in &request.headers {
        b = b.header(n.as_str(), v.as_str());
    }
    let req = b.body(()).map_err(|e| Error::Url(format!("request: {e}")))?;
    let mut send = conn.send.clone().ready().await.map_err(h2_error)?;
    let (answer, stream) = send.send_request(req, false).map_err(h2_error)?;
    let (parts, mut body) = answer.await.map_err(h2_error)?.into_parts();
    let status = parts.status.as_u16();
    if status != 200 {
        let body = read_bounded(&mut body).await;
        return Err(Error::Refused(Box::new(http::Response::from_parts(parts, body))));
    }
    let headers: Headers = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), Bytes::copy_from_slice(v.as_bytes())))
        .collect();
    let response = validate_http2_response(&request, status, headers)?;
    let params = match &config.ws.deflate {
        Some(cfg) => accept_client(response.extensions.as_deref(), cfg)?,
        None => None,
    };
    let io = MaybeTlsStream::Boxed(BoxedStream::http2(H2Stream::new(stream, body, conn.clone())));
    let mut ws = WebSocketStream::from_raw_with_deflate(io, Role::Client, config.ws.clone(), params, &[]);
    ws.set_negotiated(response.protocol.clone(), response.extensions.clone());
    Ok((ws, response))
}

/// A refusal's body, up to [`MAX_REFUSAL_BODY`].
async fn read_bounded(body: &mut h2::RecvStream) -> Bytes {
    let mut out = bytes::BytesMut::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        let room = MAX_REFUSAL_BODY - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_REFUSAL_BODY {
            break;
        }
    }
    out.freeze()
}
