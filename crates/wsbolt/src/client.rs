//! Connecting to WebSocket servers (`ws://` and `wss://`).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;
use wsbolt_proto::deflate::{self, accept_client, client_offer};
use wsbolt_proto::handshake::client::{ClientHandshake, ClientRequest, Response};
use wsbolt_proto::handshake::generate_key;
use wsbolt_proto::handshake::header::is_valid_field;
use wsbolt_proto::handshake::HandshakeError;
use wsbolt_proto::Role;

use crate::config::ClientConfig;
use crate::error::{Error, Result, TlsError};
use crate::http1::read_refusal_body;
use crate::proxy::Tunnel;
use crate::stream::WebSocketStream;
use crate::tls::{default_client_config, server_name, MaybeTlsStream};

/// Connects to `url` (`ws://` or `wss://`) with the default configuration.
///
/// ```no_run
/// # async fn run() -> Result<(), wsbolt::Error> {
/// let (ws, response) = wsbolt::connect("ws://127.0.0.1:9998/echo").await?;
/// assert_eq!(response.status, 101);
/// # Ok(()) }
/// ```
///
/// # Cancel safety
///
/// Not cancel-safe: dropping the future drops the connection being made.
///
/// # Errors
///
/// As [`connect_with_config`].
pub async fn connect(url: &str) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    connect_with_config(url, &ClientConfig::default()).await
}

/// A parsed `ws://` or `wss://` URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// Whether TLS is used.
    pub secure: bool,
    /// The host, without brackets for IPv6.
    pub host: String,
    /// The port (default 80 or 443).
    pub port: u16,
    /// The `Host` header value.
    pub host_header: String,
    /// Path and query.
    pub resource: String,
}

impl Target {
    /// Parses and checks a WebSocket URL: scheme `ws` or `wss`, a host, no fragment.
    pub fn parse(url: &str) -> Result<Target> {
        let u = Url::parse(url).map_err(|e| Error::Url(format!("{url:?}: {e}")))?;
        Target::from_url(&u)
    }

    /// Checks an already parsed URL.
    pub fn from_url(u: &Url) -> Result<Target> {
        let secure = match u.scheme() {
            "ws" => false,
            "wss" => true,
            s => return Err(Error::Url(format!("scheme {s:?} is not ws or wss"))),
        };
        if u.fragment().is_some() {
            return Err(Error::Url("WebSocket URLs cannot have a fragment".into()));
        }
        let host = u
            .host_str()
            .ok_or_else(|| Error::Url("missing host".into()))?
            .to_string();
        let port = u.port_or_known_default().unwrap_or(if secure { 443 } else { 80 });
        let host_header = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let mut resource = u.path().to_string();
        if let Some(q) = u.query() {
            resource.push('?');
            resource.push_str(q);
        }
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        Ok(Target {
            secure,
            host,
            port,
            host_header,
            resource,
        })
    }
}

/// Connects to `url` with `config`: TCP (with `TCP_NODELAY`), through the
/// proxy [`ClientConfig::proxy`] names if any, TLS for `wss://`, then the
/// opening handshake, all within `handshake_timeout`; then, if
/// [`ClientConfig::max_redirects`] allows, the same for each redirect's
/// target (each with a `handshake_timeout` of its own).
///
/// # Cancel safety
///
/// Not cancel-safe: dropping the future drops the connection being made.
///
/// # Errors
///
/// [`Error::Url`] for a URL that is not `ws://` or `wss://`; [`Error::Io`]
/// when TCP fails (refused, unreachable); [`Error::Proxy`] when the proxy
/// fails (see [`ProxyErrorKind`](crate::proxy::ProxyErrorKind)); [`Error::Tls`] (see
/// [`TlsError::kind`](crate::TlsError::kind)); [`Error::Refused`] when the
/// server answers with another status than 101 (status, header fields,
/// bounded body), a redirect included unless redirects are followed;
/// [`Error::Redirect`] when following one fails; [`Error::Handshake`] for
/// an invalid 101; [`Error::HandshakeTimeout`]. [`Error::is_retryable`]
/// sorts them.
pub async fn connect_with_config(
    url: &str,
    config: &ClientConfig,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    let parsed = Url::parse(url).map_err(|e| Error::Url(format!("{url:?}: {e}")))?;
    let target = Target::from_url(&parsed)?;
    if config.max_redirects == 0 {
        return connect_target(&target, config).await;
    }
    crate::redirect::follow(parsed, target, config).await
}

/// One connection attempt to `target`: transport and handshake within
/// `handshake_timeout`.
pub(crate) async fn connect_target(
    target: &Target,
    config: &ClientConfig,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    tokio::time::timeout(config.ws.handshake_timeout, async {
        if config.http2 && target.secure {
            return crate::http2::connect(target, config).await;
        }
        let io = open_transport(target, config, &[]).await?;
        handshake(io, target, config).await
    })
    .await
    .map_err(|_| Error::HandshakeTimeout)?
}

/// TCP to the target or a tunnel through the proxy, then TLS for `wss://`.
/// TCP (through the proxy, if any) and TLS for `wss://`; `alpn` is the list
/// TLS offers (none when empty).
pub(crate) async fn open_transport(target: &Target, config: &ClientConfig, alpn: &[&[u8]]) -> Result<MaybeTlsStream> {
    let tunnel = match config.proxy.resolve(target)? {
        Some(proxy) => proxy.tunnel(target, config.tls.as_ref()).await?,
        None => {
            let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            Tunnel::Plain(tcp)
        }
    };
    if !target.secure {
        return Ok(match tunnel {
            Tunnel::Plain(tcp) => MaybeTlsStream::Plain(tcp),
            Tunnel::Tls(to_proxy) => MaybeTlsStream::ClientTls(to_proxy),
        });
    }
    let mut tls = config.tls.clone().unwrap_or_else(default_client_config);
    if !alpn.is_empty() {
        let mut with_alpn = (*tls).clone();
        with_alpn.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tls = std::sync::Arc::new(with_alpn);
    }
    Ok(match tunnel {
        Tunnel::Plain(tcp) => MaybeTlsStream::ClientTls(Box::new(tls_over(tcp, target, tls).await?)),
        Tunnel::Tls(to_proxy) => MaybeTlsStream::ClientTlsInTls(Box::new(tls_over(*to_proxy, target, tls).await?)),
    })
}

async fn tls_over<S>(
    io: S,
    target: &Target,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let connector = tokio_rustls::TlsConnector::from(tls);
    Ok(connector
        .connect(server_name(&target.host)?, io)
        .await
        .map_err(TlsError::from_handshake)?)
}

/// Runs the client handshake over an established transport (no timeout of
/// its own: wrap it in `tokio::time::timeout` if the transport may stall).
///
/// # Cancel safety
///
/// Not cancel-safe: a dropped handshake leaves the transport mid-request.
///
/// # Errors
///
/// [`Error::Refused`], [`Error::Handshake`], [`Error::Io`], as
/// [`connect_with_config`].
pub async fn handshake<S>(mut io: S, target: &Target, config: &ClientConfig) -> Result<(WebSocketStream<S>, Response)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = client_request(target, config, generate_key())?;
    let (mut hs, bytes) = ClientHandshake::new(&request);
    io.write_all(&bytes).await?;
    io.flush().await?;
    // Uninitialised capacity: read_buf does not zero it first.
    let mut buf = bytes::BytesMut::with_capacity(4096);
    loop {
        buf.clear();
        let n = io.read_buf(&mut buf).await?;
        if n == 0 {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during the handshake",
            )));
        }
        let fed = match hs.feed(&buf[..n]) {
            Err(HandshakeError::UnexpectedStatus(status)) => {
                // A refusal: hand the application its status, fields and
                // (bounded) body.
                let Some((parts, start)) = hs.take_refusal() else {
                    return Err(Error::Handshake(HandshakeError::UnexpectedStatus(status)));
                };
                let body = read_refusal_body(&mut io, &parts.headers, start).await;
                return Err(Error::Refused(Box::new(http::Response::from_parts(parts, body))));
            }
            other => other?,
        };
        if let Some((response, rest)) = fed {
            let params = match &config.ws.deflate {
                Some(cfg) => accept_client(response.extensions.as_deref(), cfg)?,
                None => None,
            };
            let mut ws = WebSocketStream::from_raw_with_deflate(io, Role::Client, config.ws.clone(), params, &rest);
            ws.set_negotiated(response.protocol.clone(), response.extensions.clone());
            return Ok((ws, response));
        }
    }
}

/// The opening request `config` asks for (both HTTP versions).
pub(crate) fn client_request(target: &Target, config: &ClientConfig, key: String) -> Result<ClientRequest> {
    for (n, v) in &config.headers {
        if !is_valid_field(n, v) {
            return Err(Error::Url(format!("invalid request header {n:?}")));
        }
    }
    Ok(ClientRequest {
        host: target.host_header.clone(),
        target: target.resource.clone(),
        protocols: config.protocols.clone(),
        extensions: config
            .ws
            .deflate
            .as_ref()
            .map(|d| (client_offer(d), vec![deflate::NAME.to_string()])),
        headers: config.headers.clone(),
        key,
    })
}
