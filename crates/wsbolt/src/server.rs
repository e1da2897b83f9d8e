//! Accepting WebSocket connections on any transport.

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsbolt_proto::deflate::negotiate_server;
use wsbolt_proto::handshake::header::is_valid_field;
use wsbolt_proto::handshake::server::http_response;
use wsbolt_proto::handshake::server::{accept_response, reject_response, validate, Request, RequestReader};
use wsbolt_proto::handshake::{HandshakeError, HeadLimits};
use wsbolt_proto::Role;

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::stream::WebSocketStream;

/// Accepts a WebSocket on `io` with the default configuration.
///
/// ```no_run
/// use futures_util::StreamExt;
/// # async fn run() -> Result<(), wsbolt::Error> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let (tcp, _) = listener.accept().await?;
/// let mut ws = wsbolt::accept(tcp).await?;
/// while let Some(msg) = ws.next().await {
///     println!("{:?}", msg?);
/// }
/// # Ok(()) }
/// ```
pub async fn accept<S>(io: S) -> Result<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with_config(io, &ServerConfig::default()).await
}

/// Accepts a WebSocket on `io`: reads and validates the request, answers it
/// (101, or the error status), all within `handshake_timeout`.
pub async fn accept_with_config<S>(io: S, config: &ServerConfig) -> Result<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let timeout = config.ws.handshake_timeout;
    tokio::time::timeout(timeout, async {
        let hs = ServerHandshake::read_inner(io, config).await?;
        hs.accept_inner(config).await
    })
    .await
    .map_err(|_| Error::HandshakeTimeout)?
}

/// A request read from a transport, before it is accepted or refused: lets a
/// server route on the path, serve plain HTTP, or refuse with a status.
#[derive(Debug)]
pub struct ServerHandshake<S> {
    io: S,
    request: Request,
    rest: Bytes,
}

impl<S> ServerHandshake<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Reads a request head within `handshake_timeout`. A malformed or
    /// oversized head is answered (400, 431) and returned as an error.
    pub async fn read(io: S, config: &ServerConfig) -> Result<ServerHandshake<S>> {
        tokio::time::timeout(config.ws.handshake_timeout, Self::read_inner(io, config))
            .await
            .map_err(|_| Error::HandshakeTimeout)?
    }

    async fn read_inner(mut io: S, config: &ServerConfig) -> Result<ServerHandshake<S>> {
        let mut reader = RequestReader::new(config.head_limits.unwrap_or(HeadLimits::REQUEST));
        // Uninitialised capacity: read_buf does not zero it first (a zeroed
        // 4 KiB buffer was a tenth of a handshake's instructions).
        let mut buf = bytes::BytesMut::with_capacity(4096);
        loop {
            buf.clear();
            let n = io.read_buf(&mut buf).await?;
            if n == 0 {
                return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            match reader.feed(&buf[..n]) {
                Ok(Some((request, rest))) => return Ok(ServerHandshake { io, request, rest }),
                Ok(None) => {}
                Err(e) => {
                    write_and_close(&mut io, &reject_response(&e)).await;
                    return Err(Error::Handshake(e));
                }
            }
        }
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Validates the request and answers it: 101 and a connection, or the
    /// error's status (400, 403, 405, 426) and an error.
    pub async fn accept(self, config: &ServerConfig) -> Result<WebSocketStream<S>> {
        tokio::time::timeout(config.ws.handshake_timeout, self.accept_inner(config))
            .await
            .map_err(|_| Error::HandshakeTimeout)?
    }

    async fn accept_inner(mut self, config: &ServerConfig) -> Result<WebSocketStream<S>> {
        if let Some((name, _)) = config.response_headers.iter().find(|(n, v)| !is_valid_field(n, v)) {
            // A CR or LF here would inject header fields: refuse to send it.
            write_and_close(
                &mut self.io,
                &http_response(500, &[], "text/plain", b"server misconfigured\n"),
            )
            .await;
            return Err(Error::Config(format!("response header {name:?} is not a valid field")));
        }
        let offer = match validate(&self.request) {
            Ok(o) => o,
            Err(e) => return Err(self.refuse(e).await),
        };
        if let Some(check) = &config.check_origin {
            if !check(offer.origin.as_deref(), &self.request) {
                return Err(self.refuse(HandshakeError::Forbidden).await);
            }
        }
        let protocol = config
            .select_protocol
            .as_ref()
            .and_then(|select| select(&offer.protocols));
        // A selection callback must pick one of the offered protocols.
        let protocol = protocol.filter(|p| offer.protocols.contains(p));
        let deflate = config
            .ws
            .deflate
            .as_ref()
            .and_then(|cfg| negotiate_server(&offer.extensions, cfg));
        let (ext_answer, params) = deflate.map_or((None, None), |(a, p)| (Some(a), Some(p)));
        let response = accept_response(
            &offer.key,
            protocol.as_deref(),
            ext_answer.as_deref(),
            &config.response_headers,
        );
        self.io.write_all(&response).await?;
        self.io.flush().await?;
        let mut ws =
            WebSocketStream::from_raw_with_deflate(self.io, Role::Server, config.ws.clone(), params, &self.rest);
        ws.set_negotiated(protocol, ext_answer);
        Ok(ws)
    }

    /// Answers with the error's HTTP status and closes the transport.
    pub async fn reject(mut self, err: HandshakeError) -> Error {
        self.refuse(err).await
    }

    async fn refuse(&mut self, err: HandshakeError) -> Error {
        write_and_close(&mut self.io, &reject_response(&err)).await;
        Error::Handshake(err)
    }

    /// The transport, the request and the bytes read after it, for a server
    /// that answers this request as plain HTTP.
    pub fn into_parts(self) -> (S, Request, Bytes) {
        (self.io, self.request, self.rest)
    }
}

async fn write_and_close<S: AsyncWrite + Unpin>(io: &mut S, bytes: &[u8]) {
    // Best effort: the peer may already be gone.
    if io.write_all(bytes).await.is_ok() {
        let _ = io.shutdown().await;
    }
}
