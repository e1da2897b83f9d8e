use std::fmt;

use bytes::Bytes;
use http::{header, StatusCode};

/// Why an opening handshake failed. Server-side variants map to the HTTP
/// status they are answered with ([`HandshakeError::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The bytes are not an HTTP/1.1 message (400 on the server side).
    Malformed(String),
    /// The request is not HTTP/1.1 or later (400).
    HttpVersion,
    /// The head is larger than the limit (431).
    HeadTooLarge,
    /// More header fields than the limit (431).
    TooManyHeaders,
    /// A method other than GET (405, with `Allow: GET`).
    MethodNotAllowed,
    /// No `Host` header (400).
    MissingHost,
    /// No `Upgrade: websocket` (400 on the server side).
    MissingUpgrade,
    /// No `Connection: Upgrade` (400 on the server side).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` absent or not 13 (426, with `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
    /// No `Sec-WebSocket-Key` (400).
    MissingKey,
    /// A `Sec-WebSocket-Key` that is not base64 of 16 bytes (400).
    InvalidKey,
    /// A header that may appear once appeared more often (400).
    DuplicateHeader(&'static str),
    /// The Origin check refused the request (403).
    Forbidden,
    /// Nothing is served at the path (404).
    NotFound,
    /// The request lacks valid credentials, for the reason given (401, with
    /// `WWW-Authenticate: Bearer`).
    Unauthorized(String),
    /// The server is shutting down or full (503).
    Unavailable,
    /// The server answered with a status other than 101 (client side).
    UnexpectedStatus(u16),
    /// `Sec-WebSocket-Accept` missing or not the expected value (client side).
    BadAccept,
    /// The server chose a subprotocol the client did not request (client side).
    UnrequestedProtocol(String),
    /// The server answered with an extension the client did not offer (client side).
    UnofferedExtension(String),
    /// An extension header that does not parse (client side).
    InvalidExtensionHeader,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            HandshakeError::HeadTooLarge | HandshakeError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HandshakeError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HandshakeError::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::Forbidden => StatusCode::FORBIDDEN,
            HandshakeError::NotFound => StatusCode::NOT_FOUND,
            HandshakeError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HandshakeError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The response a server refuses the handshake with: the error's status,
    /// the fields that status requires (`Allow: GET` with 405,
    /// `Sec-WebSocket-Version: 13` with 426) and the error as a short text body.
    ///
    /// ```
    /// use wsbolt_proto::handshake::HandshakeError;
    /// let r = HandshakeError::UnsupportedVersion.response();
    /// assert_eq!(r.status(), 426);
    /// assert_eq!(r.headers()["sec-websocket-version"], "13");
    /// ```
    pub fn response(&self) -> http::Response<Bytes> {
        let mut b = http::Response::builder()
            .status(self.status())
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
        match self {
            HandshakeError::MethodNotAllowed => b = b.header(header::ALLOW, "GET"),
            HandshakeError::UnsupportedVersion => b = b.header(header::SEC_WEBSOCKET_VERSION, "13"),
            HandshakeError::Unauthorized(_) => b = b.header(header::WWW_AUTHENTICATE, "Bearer"),
            _ => {}
        }
        b.body(Bytes::from(format!("{self}\n")))
            .expect("static status and header fields are valid")
    }
}

impl From<HandshakeError> for http::Response<Bytes> {
    fn from(e: HandshakeError) -> Self {
        e.response()
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Malformed(m) => write!(f, "malformed HTTP message: {m}"),
            HandshakeError::HttpVersion => f.write_str("HTTP/1.1 or later is required"),
            HandshakeError::HeadTooLarge => f.write_str("HTTP head too large"),
            HandshakeError::TooManyHeaders => f.write_str("too many HTTP header fields"),
            HandshakeError::MethodNotAllowed => f.write_str("only GET can open a WebSocket"),
            HandshakeError::MissingHost => f.write_str("missing Host header"),
            HandshakeError::MissingUpgrade => f.write_str("missing or wrong Upgrade header (expected websocket)"),
            HandshakeError::MissingConnectionUpgrade => f.write_str("Connection header does not contain Upgrade"),
            HandshakeError::UnsupportedVersion => f.write_str("Sec-WebSocket-Version must be 13"),
            HandshakeError::MissingKey => f.write_str("missing Sec-WebSocket-Key"),
            HandshakeError::InvalidKey => f.write_str("Sec-WebSocket-Key is not base64 of 16 bytes"),
            HandshakeError::DuplicateHeader(h) => write!(f, "header {h} appears more than once"),
            HandshakeError::Forbidden => f.write_str("origin not allowed"),
            HandshakeError::NotFound => f.write_str("no WebSocket endpoint at this path"),
            HandshakeError::Unauthorized(why) => write!(f, "unauthorized: {why}"),
            HandshakeError::Unavailable => f.write_str("server unavailable"),
            HandshakeError::UnexpectedStatus(s) => {
                write!(f, "server answered HTTP {s} instead of 101")
            }
            HandshakeError::BadAccept => f.write_str("missing or wrong Sec-WebSocket-Accept"),
            HandshakeError::UnrequestedProtocol(p) => {
                write!(f, "server chose subprotocol {p:?}, which was not requested")
            }
            HandshakeError::UnofferedExtension(e) => {
                write!(f, "server answered with extension {e:?}, which was not offered")
            }
            HandshakeError::InvalidExtensionHeader => f.write_str("Sec-WebSocket-Extensions does not parse"),
        }
    }
}

impl std::error::Error for HandshakeError {}
