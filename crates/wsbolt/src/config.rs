//! Configuration of connections, servers and clients, with their defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wsbolt_proto::deflate::DeflateConfig;
use wsbolt_proto::handshake::HeadLimits;

use crate::proxy::ProxySetting;

/// Settings shared by both roles.
#[derive(Debug, Clone)]
#[non_exhaustive]
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

/// Builder-style setters: each sets the field of the same name (see its
/// documentation for the meaning and the default) and nothing else.
impl Config {
    /// Sets [`protocol`](Config::protocol).
    #[must_use]
    pub fn protocol(mut self, protocol: wsbolt_proto::Config) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets [`write_high_water`](Config::write_high_water).
    #[must_use]
    pub fn write_high_water(mut self, write_high_water: usize) -> Self {
        self.write_high_water = write_high_water;
        self
    }

    /// Sets [`handshake_timeout`](Config::handshake_timeout).
    #[must_use]
    pub fn handshake_timeout(mut self, handshake_timeout: Duration) -> Self {
        self.handshake_timeout = handshake_timeout;
        self
    }

    /// Sets [`deflate`](Config::deflate).
    #[must_use]
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

    /// Sets [`linger_time`](Config::linger_time).
    #[must_use]
    pub fn linger_time(mut self, linger_time: Duration) -> Self {
        self.linger_time = linger_time;
        self
    }

    /// Sets [`linger_bytes`](Config::linger_bytes).
    #[must_use]
    pub fn linger_bytes(mut self, linger_bytes: usize) -> Self {
        self.linger_bytes = linger_bytes;
        self
    }

    /// Sets [`frame_trace`](Config::frame_trace).
    #[must_use]
    pub fn frame_trace(mut self, frame_trace: bool) -> Self {
        self.frame_trace = frame_trace;
        self
    }
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
/// It sees the same `http::Request<()>` as [`OnRequest`] (one is made per
/// handshake when either hook is set), with the peer's address as a
/// [`PeerAddr`](crate::PeerAddr) extension when known.
pub type CheckOrigin = Arc<dyn Fn(Option<&str>, &http::Request<()>) -> bool + Send + Sync>;
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
#[non_exhaustive]
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

/// Builder-style setters: each sets the field of the same name (see its
/// documentation for the meaning and the default) and nothing else.
impl ServerConfig {
    /// Sets [`ws`](ServerConfig::ws).
    #[must_use]
    pub fn ws(mut self, ws: Config) -> Self {
        self.ws = ws;
        self
    }

    /// Sets [`head_limits`](ServerConfig::head_limits).
    #[must_use]
    pub fn head_limits(mut self, head_limits: Option<HeadLimits>) -> Self {
        self.head_limits = head_limits;
        self
    }

    /// Sets [`select_protocol`](ServerConfig::select_protocol).
    #[must_use]
    pub fn select_protocol(mut self, select_protocol: Option<SelectProtocol>) -> Self {
        self.select_protocol = select_protocol;
        self
    }

    /// Sets [`check_origin`](ServerConfig::check_origin).
    #[must_use]
    pub fn check_origin(mut self, check_origin: Option<CheckOrigin>) -> Self {
        self.check_origin = check_origin;
        self
    }

    /// Sets [`response_headers`](ServerConfig::response_headers).
    #[must_use]
    pub fn response_headers(mut self, response_headers: Vec<(String, String)>) -> Self {
        self.response_headers = response_headers;
        self
    }

    /// Sets [`on_request`](ServerConfig::on_request).
    #[must_use]
    pub fn on_request(mut self, on_request: Option<OnRequest>) -> Self {
        self.on_request = on_request;
        self
    }
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
#[non_exhaustive]
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

/// Builder-style setters: each sets the field of the same name (see its
/// documentation for the meaning and the default) and nothing else.
impl ClientConfig {
    /// Sets [`ws`](ClientConfig::ws).
    #[must_use]
    pub fn ws(mut self, ws: Config) -> Self {
        self.ws = ws;
        self
    }

    /// Sets [`protocols`](ClientConfig::protocols).
    #[must_use]
    pub fn protocols(mut self, protocols: Vec<String>) -> Self {
        self.protocols = protocols;
        self
    }

    /// Sets [`headers`](ClientConfig::headers).
    #[must_use]
    pub fn headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers = headers;
        self
    }

    /// Sets [`tls`](ClientConfig::tls).
    #[must_use]
    pub fn tls(mut self, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        self.tls = tls;
        self
    }

    /// Sets [`proxy`](ClientConfig::proxy).
    #[must_use]
    pub fn proxy(mut self, proxy: ProxySetting) -> Self {
        self.proxy = proxy;
        self
    }

    /// Sets [`max_redirects`](ClientConfig::max_redirects).
    #[must_use]
    pub fn max_redirects(mut self, max_redirects: usize) -> Self {
        self.max_redirects = max_redirects;
        self
    }

    /// Sets [`http2`](ClientConfig::http2).
    #[must_use]
    pub fn http2(mut self, http2: bool) -> Self {
        self.http2 = http2;
        self
    }
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
