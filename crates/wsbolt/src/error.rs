//! The library's error type.

use std::{fmt, io};

use wsbolt_proto::handshake::HandshakeError;
use wsbolt_proto::{ProtocolError, SendError};

/// Everything that can go wrong on a connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    Io(io::Error),
    /// The opening handshake failed (on the server, the peer was answered
    /// with [`HandshakeError::status`]).
    Handshake(HandshakeError),
    /// The opening handshake did not finish within `handshake_timeout`.
    HandshakeTimeout,
    /// The peer broke the protocol; it was sent a Close with the error's code.
    Protocol(ProtocolError),
    /// A send that is not allowed now (after Close, an invalid close code, …).
    Send(SendError),
    /// The URL cannot be used for a WebSocket.
    Url(String),
    /// TLS setup or handshake failed.
    Tls(String),
    /// The keepalive ping got no pong in time (sent Close 1011).
    KeepaliveTimeout,
    /// The connection is closed; nothing more can be read or sent.
    ConnectionClosed,
    /// The configuration cannot be used (e.g. a response header holding CR/LF).
    Config(String),
}

impl Error {
    /// The transport was closed under us (reset, broken pipe, aborted).
    pub(crate) fn closed_io(&self) -> bool {
        matches!(self, Error::Io(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::HandshakeTimeout => f.write_str("handshake timed out"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Url(e) => write!(f, "invalid URL: {e}"),
            Error::Tls(e) => write!(f, "TLS error: {e}"),
            Error::KeepaliveTimeout => f.write_str("keepalive ping timed out"),
            Error::ConnectionClosed => f.write_str("connection closed"),
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
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

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
