//! Connecting to WebSocket servers (`ws://` and `wss://`): the one place
//! that owns the loop of a client's way in.
//!
//! The layers below it, leaf first, each knowing only those before it:
//! [`Target`] (the URL taken apart) → `transport` (TCP, proxy tunnel, TLS,
//! TLS in TLS) → the handshake (`client_handshake` for HTTP/1.1, `http2`
//! for RFC 8441) → [`WebSocketStream`]. `redirect` decides, without I/O,
//! whether a refusal is a redirect to follow; this module follows it, falls
//! back from HTTP/2 to HTTP/1.1 (inside `http2`) and applies the timeout.

use url::Url;
use wsbolt_proto::handshake::client::Response;

use crate::client_handshake::handshake;
use crate::config::ClientConfig;
use crate::error::{Error, Result, TlsError};
use crate::redirect::Redirects;
use crate::stream::WebSocketStream;
use crate::target::Target;
use crate::tls::MaybeTlsStream;
use crate::transport::open_transport;

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
    let mut target = Target::from_url(&parsed)?;
    if config.max_redirects == 0 {
        return connect_target(&target, config).await;
    }
    let mut redirects = Redirects::new(parsed, config.max_redirects);
    // Set once the redirects leave the first origin: the configuration
    // without the credentials meant for it.
    let mut hop_config: Option<ClientConfig> = None;
    loop {
        let cfg = hop_config.as_ref().unwrap_or(config);
        let refusal = match connect_target(&target, cfg).await {
            Err(Error::Refused(r)) => r,
            other => return other,
        };
        let Some(hop) = redirects.follow(&refusal)? else {
            return Err(Error::Refused(refusal));
        };
        if hop.cross_origin && hop_config.is_none() {
            hop_config = Some(without_credentials(cfg));
        }
        target = hop.target;
    }
}

/// `config` without the `Authorization` and `Cookie` fields: credentials
/// meant for one origin are not handed to another.
fn without_credentials(config: &ClientConfig) -> ClientConfig {
    let mut c = config.clone();
    c.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization") && !n.eq_ignore_ascii_case("cookie"));
    c
}

/// A TLS alert that arrives after the TLS handshake, while the WebSocket
/// handshake is read (TLS 1.3 servers check a client certificate there: a
/// missing or refused one is `CertificateRequired` or `BadCertificate` on
/// the first read), is a TLS error, not an I/O one.
fn tls_after_handshake(e: Error) -> Error {
    match e {
        Error::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            Error::Tls(TlsError::from_handshake(io))
        }
        other => other,
    }
}

/// One connection attempt to `target`: transport and handshake within
/// `handshake_timeout`.
async fn connect_target(target: &Target, config: &ClientConfig) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    tokio::time::timeout(config.ws.handshake_timeout, async {
        if config.http2 && target.secure {
            return crate::http2::connect(target, config).await;
        }
        let io = open_transport(target, config, &[]).await?;
        handshake(io, target, config).await.map_err(tls_after_handshake)
    })
    .await
    .map_err(|_| Error::HandshakeTimeout)?
}
