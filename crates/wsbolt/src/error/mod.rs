//! The library's error type.

use std::{fmt, io};

use bytes::Bytes;
use wsbolt_proto::handshake::HandshakeError;
use wsbolt_proto::{ProtocolError, SendError};

mod proxy;
mod redirect;

pub use proxy::{ProxyError, ProxyErrorKind};
pub use redirect::{RedirectError, RedirectErrorKind};

/// Everything that can go wrong on a connection.
///
/// [`Error::is_retryable`] says whether trying again later can succeed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    Io(io::Error),
    /// The opening handshake failed (on the server, the peer was answered
    /// with [`HandshakeError::status`]).
    Handshake(HandshakeError),
    /// The handshake was refused with an HTTP response other than 101. On a
    /// client: the server's status, header fields and at most
    /// [`MAX_REFUSAL_BODY`](crate::http1::MAX_REFUSAL_BODY) of its body, so a
    /// client can act on `Retry-After` or `WWW-Authenticate`. On a server: the
    /// response it refused with.
    Refused(Box<http::Response<Bytes>>),
    /// The opening handshake did not finish within `handshake_timeout`.
    HandshakeTimeout,
    /// The peer broke the protocol; it was sent a Close with the error's code.
    Protocol(ProtocolError),
    /// A send that is not allowed now (after Close, an invalid close code, …).
    Send(SendError),
    /// The URL cannot be used for a WebSocket.
    Url(String),
    /// TLS setup or handshake failed; [`TlsError::kind`] says how.
    Tls(TlsError),
    /// The keepalive ping got no pong in time (sent Close 1011).
    KeepaliveTimeout,
    /// The connection is closed; nothing more can be read or sent.
    ConnectionClosed,
    /// The configuration cannot be used (e.g. a response header holding CR/LF).
    Config(String),
    /// The proxy could not be used; [`ProxyError::kind`] says how.
    Proxy(ProxyError),
    /// A redirect could not be followed (loop, too many, downgrade).
    Redirect(RedirectError),
}

impl Error {
    /// The transport was closed under us (reset, broken pipe, aborted).
    pub(crate) fn closed_io(&self) -> bool {
        matches!(self, Error::Io(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted))
    }

    /// Whether trying again (later, on a new connection) can succeed: the
    /// transport failed (refused, reset, unreachable, timed out), the
    /// handshake timed out, the keepalive timed out, the connection closed,
    /// or the server refused with 429, 500, 502, 503 or 504 (honour its
    /// `Retry-After`, see [`Error::retry_after`]). Not retryable: other
    /// refusals (4xx), protocol violations, certificate and TLS handshake
    /// failures, bad URLs and configuration.
    ///
    /// ```
    /// let e = wsbolt::Error::HandshakeTimeout;
    /// assert!(e.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Io(_) | Error::HandshakeTimeout | Error::KeepaliveTimeout | Error::ConnectionClosed => true,
            Error::Refused(r) => retryable_status(r.status().as_u16()),
            Error::Handshake(HandshakeError::UnexpectedStatus(s)) => retryable_status(*s),
            Error::Tls(t) => t.kind() == TlsErrorKind::Io,
            Error::Proxy(p) => p.is_retryable(),
            _ => false,
        }
    }

    /// The HTTP status of a refused handshake, if this is one.
    pub fn status(&self) -> Option<http::StatusCode> {
        match self {
            Error::Refused(r) => Some(r.status()),
            Error::Handshake(HandshakeError::UnexpectedStatus(s)) => http::StatusCode::from_u16(*s).ok(),
            _ => None,
        }
    }

    /// A refusal's `Retry-After`, when given in seconds.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        let Error::Refused(r) = self else { return None };
        let v = r.headers().get(http::header::RETRY_AFTER)?.to_str().ok()?;
        v.trim().parse::<u64>().ok().map(std::time::Duration::from_secs)
    }
}

fn retryable_status(s: u16) -> bool {
    matches!(s, 429 | 500 | 502 | 503 | 504)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Refused(r) => {
                let s = r.status();
                write!(
                    f,
                    "handshake refused: HTTP {} {}",
                    s.as_u16(),
                    s.canonical_reason().unwrap_or("")
                )
            }
            Error::HandshakeTimeout => f.write_str("handshake timed out"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Url(e) => write!(f, "invalid URL: {e}"),
            Error::Tls(e) => write!(f, "{e}"),
            Error::KeepaliveTimeout => f.write_str("keepalive ping timed out (sent Close 1011)"),
            Error::ConnectionClosed => f.write_str("connection closed"),
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
            Error::Proxy(e) => write!(f, "{e}"),
            Error::Redirect(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Tls(e) => Some(e),
            Error::Proxy(e) => Some(e),
            Error::Redirect(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

/// What kind of TLS failure a [`TlsError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The peer's certificate was refused (unknown issuer, expired, wrong
    /// name, …) or none was presented.
    Certificate,
    /// The server refused the client's certificate, or required one that
    /// was not sent (mutual TLS; see
    /// [`tls::with_client_certificate`](crate::tls::with_client_certificate)).
    ClientCertificate,
    /// The TLS handshake failed otherwise (no common version or cipher suite,
    /// an alert from the peer, a malformed message).
    Handshake,
    /// The transport failed during the TLS handshake.
    Io,
    /// The TLS configuration cannot be used (a bad server name, PEM that does
    /// not parse, an empty root store).
    Config,
}

/// A TLS failure: its [`kind`](TlsError::kind), and the underlying error as
/// its [`source`](std::error::Error::source) when there is one.
#[derive(Debug)]
pub struct TlsError {
    kind: TlsErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TlsError {
    /// What kind of failure this is.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        TlsError {
            kind: TlsErrorKind::Config,
            message: message.into(),
            source: None,
        }
    }

    /// Classifies an error from a TLS handshake (tokio-rustls reports
    /// rustls' errors inside an `io::Error`).
    pub(crate) fn from_handshake(e: io::Error) -> Self {
        let kind = match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            Some(
                rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::UnsupportedNameType
                | rustls::Error::InvalidCertRevocationList(_),
            ) => TlsErrorKind::Certificate,
            // The peer refused our certificate, or wanted one we did not send.
            Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::CertificateRequired
                | rustls::AlertDescription::BadCertificate
                | rustls::AlertDescription::UnknownCA
                | rustls::AlertDescription::CertificateUnknown
                | rustls::AlertDescription::CertificateExpired
                | rustls::AlertDescription::CertificateRevoked
                | rustls::AlertDescription::UnsupportedCertificate,
            )) => TlsErrorKind::ClientCertificate,
            Some(_) => TlsErrorKind::Handshake,
            None => TlsErrorKind::Io,
        };
        TlsError {
            kind,
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TlsErrorKind::Certificate => "TLS certificate refused",
            TlsErrorKind::ClientCertificate => "the server refused or required a client certificate",
            TlsErrorKind::Handshake => "TLS handshake failed",
            TlsErrorKind::Io => "transport failed during the TLS handshake",
            TlsErrorKind::Config => "TLS configuration",
        };
        write!(f, "{what}: {}", self.message)
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
