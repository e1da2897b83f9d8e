//! Configuration of connections, servers and clients, with their defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wsbolt_proto::deflate::DeflateConfig;
use wsbolt_proto::handshake::server::Request;
use wsbolt_proto::handshake::HeadLimits;

use crate::proxy::ProxySetting;

/// Settings shared by both roles.
#[derive(Debug, Clone)]
pub struct Config {
    /// Protocol limits and timers: frame and message sizes, fragment cap,
    /// close timeout (10 s), keepalive (off). See [`wsbolt_proto::Config`].
    pub protocol: wsbolt_proto::Config,
    /// Outbound high-water mark in bytes: `send` waits while more than this
    /// is queued and not yet accepted by the OS. Default 256 KiB. One message
    /// larger than this is still accepted when the queue is below the mark.
    pub write_high_water: usize,
    /// How long the opening handshake (TCP connect, TLS and HTTP on the
    /// client; request and response on the server) may take. Default 10 s.
    pub handshake_timeout: Duration,
    /// permessage-deflate (RFC 7692): `None` (the library's default) neither
    /// offers nor accepts it. See [`DeflateConfig`] for the parameters.
    pub deflate: Option<DeflateConfig>,
    /// After this end fails the connection (a protocol error such as 1009,
    /// a keepalive timeout) and its Close is written, it shuts its sending
    /// side down and keeps reading (and discarding) what the peer still sends
    /// for at most this long, so that closing the socket with unread data
    /// does not reset the connection before the peer has read the Close.
    /// It ends sooner when the peer closes or has sent nothing for 200 ms.
    /// Default 2 s; zero turns it off. The error is reported after it.
    pub linger_time: Duration,
    /// The most bytes discarded while lingering. Default 16 MiB.
    pub linger_bytes: usize,
    /// Start the frame trace with the connection (see
    /// [`WebSocketStream::next_frame_record`](crate::WebSocketStream::next_frame_record)),
    /// so that frames which came with the handshake's answer are recorded
    /// too. Default off.
    pub frame_trace: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocol: wsbolt_proto::Config::default(),
            write_high_water: 256 * 1024,
            handshake_timeout: Duration::from_secs(10),
            deflate: None,
            linger_time: Duration::from_secs(2),
            linger_bytes: 16 << 20,
            frame_trace: false,
        }
    }
}

/// Chooses a subprotocol from the client's list (in its order of preference).
pub type SelectProtocol = Arc<dyn Fn(&[String]) -> Option<String> + Send + Sync>;
/// Decides whether a request's `Origin` (if any) may connect; `false` → 403.
pub type CheckOrigin = Arc<dyn Fn(Option<&str>, &Request) -> bool + Send + Sync>;
/// Sees the whole request (method, URI with path and query, header fields,
/// and the peer's address as a [`PeerAddr`](crate::PeerAddr) extension when
/// known) and accepts it (`Ok`) or refuses it with any response (`Err`).
pub type OnRequest = Arc<dyn Fn(&http::Request<()>) -> Result<(), Refusal> + Send + Sync>;

/// The response a handshake is refused with: any `http::Response<Bytes>`
/// (boxed, so a `Result` carrying it stays small), or a
/// [`HandshakeError`](crate::HandshakeError)'s standard answer.
#[derive(Debug)]
pub struct Refusal(pub Box<http::Response<bytes::Bytes>>);

impl From<http::Response<bytes::Bytes>> for Refusal {
    fn from(r: http::Response<bytes::Bytes>) -> Self {
        Refusal(Box::new(r))
    }
}

impl From<crate::HandshakeError> for Refusal {
    fn from(e: crate::HandshakeError) -> Self {
        Refusal(Box::new(e.response()))
    }
}

/// Server-side settings.
#[derive(Clone, Default)]
pub struct ServerConfig {
    /// Settings shared with clients.
    pub ws: Config,
    /// Limits on the request head (default 8 KiB, 64 fields; 431 beyond).
    pub head_limits: Option<HeadLimits>,
    /// Subprotocol selection; by default none is chosen.
    pub select_protocol: Option<SelectProtocol>,
    /// Origin policy; by default every origin is allowed (the standalone
    /// server installs a stricter default).
    pub check_origin: Option<CheckOrigin>,
    /// Extra header fields for the 101 response.
    pub response_headers: Vec<(String, String)>,
    /// Admission: runs after the request is validated as a WebSocket
    /// handshake and the Origin check, before the answer. `Err(response)`
    /// refuses with that response (401 with `WWW-Authenticate`, 429 with
    /// `Retry-After`, a JSON body …). By default every request is admitted.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let mut cfg = wsbolt::ServerConfig::default();
    /// cfg.on_request = Some(Arc::new(|req: &http::Request<()>| {
    ///     if req.uri().query() == Some("token=secret") {
    ///         return Ok(());
    ///     }
    ///     let refusal = http::Response::builder()
    ///         .status(401)
    ///         .header("www-authenticate", "Bearer")
    ///         .body(bytes::Bytes::new())
    ///         .unwrap();
    ///     Err(refusal.into())
    /// }));
    /// ```
    pub on_request: Option<OnRequest>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("ws", &self.ws)
            .field("head_limits", &self.head_limits)
            .field("select_protocol", &self.select_protocol.is_some())
            .field("check_origin", &self.check_origin.is_some())
            .field("response_headers", &self.response_headers)
            .field("on_request", &self.on_request.is_some())
            .finish()
    }
}

/// Client-side settings.
#[derive(Clone, Default)]
pub struct ClientConfig {
    /// Settings shared with servers.
    pub ws: Config,
    /// Subprotocols to request, in order of preference.
    pub protocols: Vec<String>,
    /// Extra request header fields.
    pub headers: Vec<(String, String)>,
    /// TLS settings for `wss://`; by default the Mozilla root store
    /// (`webpki-roots`) with the `ring` provider.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The proxy to go through: by default the one the environment names
    /// (`wss_proxy`, `https_proxy`, `ws_proxy`, `http_proxy`, `all_proxy`,
    /// `no_proxy`; see [`ProxySetting::FromEnv`]).
    pub proxy: ProxySetting,
    /// How many redirects (301, 302, 303, 307, 308) to follow. Default 0:
    /// a redirect is returned as [`Error::Refused`](crate::Error::Refused),
    /// as browsers do for WebSockets. See [`DEFAULT_MAX_REDIRECTS`](crate::DEFAULT_MAX_REDIRECTS)
    /// for what following means.
    pub max_redirects: usize,
    /// WebSockets over HTTP/2 (RFC 8441) for `wss://`. Default false. When
    /// true, TLS offers `h2` and `http/1.1` by ALPN; a server that picks
    /// `h2` and advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL` gets an
    /// extended CONNECT, and every WebSocket to the same origin (host, port,
    /// TLS settings, proxy) shares that one connection while any is open.
    /// A server that picks `http/1.1`, or `h2` without RFC 8441, gets the
    /// HTTP/1.1 Upgrade (on a new connection in the second case). `ws://`
    /// always uses HTTP/1.1, as browsers do.
    pub http2: bool,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("ws", &self.ws)
            .field("protocols", &self.protocols)
            .field("headers", &self.headers)
            .field("tls", &self.tls.is_some())
            .field("proxy", &self.proxy)
            .field("max_redirects", &self.max_redirects)
            .field("http2", &self.http2)
            .finish()
    }
}
