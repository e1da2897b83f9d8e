//! Accepting WebSocket connections on any transport.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsbolt_proto::handshake::server::{accept_response, Request, RequestReader};
use wsbolt_proto::handshake::{HandshakeError, HeadLimits};
use wsbolt_proto::Role;

use crate::config::{Refusal, ServerConfig};
use crate::error::{Error, Result};
use crate::http1::response_bytes;
use crate::policy::{decide, to_http, Refuse};
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
///
/// # Cancel safety
///
/// Not cancel-safe: a dropped future leaves the handshake half done.
///
/// # Errors
///
/// As [`accept_with_config`].
pub async fn accept<S>(io: S) -> Result<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Boxed for the handshake only: see `accept_with_config`.
    let handshake = Box::pin(async move { handshake(io, &ServerConfig::default()).await });
    handshake.await
}

/// Accepts a WebSocket on `io`: reads and validates the request, answers it
/// (101, or the error status), all within `handshake_timeout`.
///
/// # Cancel safety
///
/// Not cancel-safe: a dropped future leaves the handshake half done.
///
/// # Errors
///
/// [`Error::Handshake`] when the request is refused (the client got the
/// error's status); [`Error::Refused`] when [`ServerConfig::on_request`]
/// refused it; [`Error::Config`] for response headers that are not valid
/// fields (the client got 500); [`Error::Io`]; [`Error::HandshakeTimeout`].
pub async fn accept_with_config<S>(io: S, config: &ServerConfig) -> Result<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The handshake's state (the request, its buffer, the timer: about 1 KiB)
    // lives on the heap while it runs and is freed when it ends, so the
    // caller's task, which lives as long as the connection, is not sized by
    // it (an idle connection's memory is mostly its task).
    let handshake = Box::pin(handshake(io, config));
    handshake.await
}

/// Reads, validates and answers the request within `handshake_timeout`.
async fn handshake<S>(io: S, config: &ServerConfig) -> Result<WebSocketStream<S>>
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
    /// The head as read; the request's fields share its buffer.
    head: Bytes,
    rest: Bytes,
    peer: Option<SocketAddr>,
}

impl<S> ServerHandshake<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Reads a request head within `handshake_timeout`. A malformed or
    /// oversized head is answered (400, 431) and returned as an error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: bytes read before the drop are lost.
    ///
    /// # Errors
    ///
    /// [`Error::Handshake`] (400, 431, already answered); [`Error::Io`];
    /// [`Error::HandshakeTimeout`].
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
            match reader.feed_head(&buf[..n]) {
                Ok(Some((request, head, rest))) => {
                    return Ok(ServerHandshake {
                        io,
                        request,
                        head,
                        rest,
                        peer: None,
                    })
                }
                Ok(None) => {}
                Err(e) => {
                    write_and_close(&mut io, &response_bytes(&e.response())).await;
                    return Err(Error::Handshake(e));
                }
            }
        }
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The client's address, for [`ServerConfig::on_request`] (as a
    /// [`PeerAddr`](crate::PeerAddr) extension of the request it sees).
    pub fn with_peer_addr(mut self, addr: SocketAddr) -> Self {
        self.peer = Some(addr);
        self
    }

    /// The request as an `http::Request` (method, URI, version, header
    /// fields; the peer address as a [`PeerAddr`](crate::PeerAddr) extension when known).
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Malformed`] for a method, target or field the `http`
    /// crate does not accept.
    pub fn http_request(&self) -> Result<http::Request<()>, HandshakeError> {
        to_http(&self.request, self.peer)
    }

    /// Validates the request and answers it: 101 and a connection, or the
    /// error's status (400, 403, 405, 426) and an error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the answer may be partly written.
    ///
    /// # Errors
    ///
    /// As [`accept_with_config`].
    pub async fn accept(self, config: &ServerConfig) -> Result<WebSocketStream<S>> {
        tokio::time::timeout(config.ws.handshake_timeout, self.accept_inner(config))
            .await
            .map_err(|_| Error::HandshakeTimeout)?
    }

    /// The answer, then the stream. An `async move` block rather than an
    /// `async fn` (whose arguments are stored twice), with the refusal path
    /// boxed: every connection's task is sized by this future.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    fn accept_inner<'a>(mut self, config: &'a ServerConfig) -> impl Future<Output = Result<WebSocketStream<S>>> + 'a
    where
        S: 'a,
    {
        async move {
            let answer = match decide(&self.request, self.peer, config) {
                Ok(answer) => answer,
                Err(refusal) => {
                    let refused = Box::pin(self.send_refusal(refusal));
                    return Err(refused.await);
                }
            };
            let response = accept_response(
                answer.offer.key.as_deref().unwrap_or_default(),
                answer.protocol.as_deref(),
                answer.extensions.as_deref(),
                &config.response_headers,
            );
            self.io.write_all(&response).await?;
            self.io.flush().await?;
            let mut ws = WebSocketStream::from_raw_with_deflate(
                self.io,
                Role::Server,
                config.ws.clone(),
                answer.deflate,
                &self.rest,
            );
            ws.set_negotiated(answer.protocol, answer.extensions);
            Ok(ws)
        }
    }

    /// Answers a refusal and closes the transport; returns the error to report.
    async fn send_refusal(mut self, refusal: Refuse) -> Error {
        let (response, error) = refusal.into_parts();
        write_and_close(&mut self.io, &response_bytes(&response)).await;
        error
    }

    /// Refuses the handshake with `response` (any status, header fields and
    /// body, as an `http::Response<Bytes>`; a [`HandshakeError`] converts
    /// into its standard answer) and
    /// closes the transport. Returns the error to report:
    /// [`Error::Handshake`] for a `HandshakeError`'s status, otherwise
    /// [`Error::Refused`] with the response sent.
    ///
    /// Writing the response is best effort (the client may be gone); the
    /// transport is closed either way. Not cancel-safe.
    ///
    /// ```no_run
    /// # async fn f(tcp: tokio::net::TcpStream) -> wsbolt::Result<()> {
    /// let cfg = wsbolt::ServerConfig::default();
    /// let hs = wsbolt::ServerHandshake::read(tcp, &cfg).await?;
    /// if hs.request().headers.get("authorization").is_none() {
    ///     let refusal = http::Response::builder()
    ///         .status(401)
    ///         .header("www-authenticate", "Bearer")
    ///         .body(bytes::Bytes::from_static(b"{\"error\":\"token required\"}"))
    ///         .unwrap();
    ///     return Err(hs.reject(refusal).await);
    /// }
    /// let ws = hs.accept(&cfg).await?;
    /// # drop(ws); Ok(()) }
    /// ```
    pub async fn reject(mut self, response: impl Into<Refusal>) -> Error {
        let Refusal(response) = response.into();
        write_and_close(&mut self.io, &response_bytes(&response)).await;
        Error::Refused(response)
    }

    /// The request head exactly as read (request line, header fields and
    /// the blank line), for a server that hands the connection to another
    /// HTTP stack: replaying it with the bytes of [`into_parts`] is a true
    /// rewind.
    ///
    /// [`into_parts`]: ServerHandshake::into_parts
    pub fn head(&self) -> &Bytes {
        &self.head
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
