//! What can go wrong on the way through a proxy.

use std::{fmt, io};

use super::{Error, TlsError};

/// What kind of proxy failure a [`ProxyError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// The proxy could not be reached (refused, unreachable, reset).
    Unreachable,
    /// TLS to an `https://` proxy failed; the [`TlsError`] is the source.
    Tls,
    /// The HTTP proxy answered 407 Proxy Authentication Required (or 401,
    /// as some proxies do for wrong credentials): no credentials were
    /// given, or it refused them.
    AuthRequired,
    /// The SOCKS5 proxy refused the credentials, or requires credentials
    /// none were given for.
    AuthFailed,
    /// The proxy would not or could not reach the target: an HTTP status
    /// other than 2xx and 407 ([`ProxyError::status`]), or a SOCKS5 reply
    /// other than success ([`ProxyError::socks_reply`]).
    Refused,
    /// The proxy broke its protocol (a malformed or oversized answer).
    Protocol,
    /// The proxy URL cannot be used.
    Config,
}

/// A failure on the way through a proxy: its [`kind`](ProxyError::kind),
/// the proxy's address, and what the proxy answered.
#[derive(Debug)]
pub struct ProxyError {
    /// Boxed: an `Error` is moved with every message read, so its largest
    /// variant should stay small.
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ProxyErrorKind,
    message: String,
    status: Option<http::StatusCode>,
    socks_reply: Option<u8>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ProxyError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ProxyErrorKind {
        self.inner.kind
    }

    /// The HTTP proxy's status, when it answered `CONNECT` with a failure.
    pub fn status(&self) -> Option<http::StatusCode> {
        self.inner.status
    }

    /// The SOCKS5 reply code (RFC 1928 §6), when the proxy refused the
    /// connection: 1 general failure, 2 not allowed by ruleset, 3 network
    /// unreachable, 4 host unreachable, 5 connection refused, 6 TTL expired,
    /// 7 command not supported, 8 address type not supported.
    pub fn socks_reply(&self) -> Option<u8> {
        self.inner.socks_reply
    }

    /// Whether trying again later can succeed: the proxy was unreachable,
    /// answered 500, 502, 503 or 504 (tinyproxy answers 500 when the target
    /// refuses), or its SOCKS reply says the target was
    /// unreachable or refused (1, 3, 4, 5, 6).
    pub fn is_retryable(&self) -> bool {
        match self.inner.kind {
            ProxyErrorKind::Unreachable => true,
            ProxyErrorKind::Refused => {
                self.inner.status.is_some_and(|s| matches!(s.as_u16(), 500 | 502..=504))
                    || self.inner.socks_reply.is_some_and(|r| matches!(r, 1 | 3..=6))
            }
            _ => false,
        }
    }

    fn new(kind: ProxyErrorKind, message: String) -> Self {
        ProxyError {
            inner: Box::new(Inner {
                kind,
                message,
                status: None,
                socks_reply: None,
                source: None,
            }),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        ProxyError::new(ProxyErrorKind::Config, message.into())
    }

    pub(crate) fn unreachable(proxy: &dyn fmt::Display, e: io::Error) -> Self {
        let mut err = ProxyError::new(
            ProxyErrorKind::Unreachable,
            format!("proxy {proxy} is unreachable: {e}"),
        );
        err.inner.source = Some(Box::new(e));
        err
    }

    pub(crate) fn tls(proxy: &dyn fmt::Display, e: TlsError) -> Self {
        let mut err = ProxyError::new(ProxyErrorKind::Tls, format!("proxy {proxy}: {e}"));
        err.inner.source = Some(Box::new(e));
        err
    }

    pub(crate) fn protocol(proxy: &dyn fmt::Display, what: impl fmt::Display) -> Self {
        ProxyError::new(ProxyErrorKind::Protocol, format!("proxy {proxy}: {what}"))
    }

    pub(crate) fn auth_required(
        proxy: &dyn fmt::Display,
        status: http::StatusCode,
        sent_credentials: bool,
        challenge: Option<&str>,
    ) -> Self {
        let code = format!("HTTP {} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
        let mut message = if sent_credentials {
            format!("proxy {proxy} refused the credentials ({code})")
        } else {
            format!("proxy {proxy} requires authentication ({code}; give user:password in the proxy URL)")
        };
        if let Some(c) = challenge {
            message.push_str(&format!(", it asks for {c:?}"));
        }
        let mut err = ProxyError::new(ProxyErrorKind::AuthRequired, message);
        err.inner.status = Some(status);
        err
    }

    pub(crate) fn refused_status(proxy: &dyn fmt::Display, target: &str, status: http::StatusCode) -> Self {
        let mut err = ProxyError::new(
            ProxyErrorKind::Refused,
            format!(
                "proxy {proxy} did not open a tunnel to {target}: HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        );
        err.inner.status = Some(status);
        err
    }

    pub(crate) fn auth_failed(proxy: &dyn fmt::Display, what: &str) -> Self {
        ProxyError::new(ProxyErrorKind::AuthFailed, format!("SOCKS5 proxy {proxy}: {what}"))
    }

    pub(crate) fn socks_refused(proxy: &dyn fmt::Display, target: &str, reply: u8) -> Self {
        let meaning = match reply {
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unassigned reply code",
        };
        let mut err = ProxyError::new(
            ProxyErrorKind::Refused,
            format!("SOCKS5 proxy {proxy} could not connect to {target}: reply {reply} ({meaning})"),
        );
        err.inner.socks_reply = Some(reply);
        err
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<ProxyError> for Error {
    fn from(e: ProxyError) -> Self {
        Error::Proxy(e)
    }
}
