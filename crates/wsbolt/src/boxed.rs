//! One type for the transports that are not a TCP stream of their own: a
//! stream of a shared HTTP/2 connection (RFC 8441), a connection hyper handed
//! over after an upgrade, and whatever comes next (HTTP/3 one day). Each
//! hides behind a box, the way hyper's `Upgraded` hides its IO, so adding one
//! touches its own module and not [`MaybeTlsStream`](crate::MaybeTlsStream).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a boxed transport must be.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A WebSocket's transport that is not a TCP stream of its own, boxed: an
/// HTTP/2 stream ([`is_http2`](BoxedStream::is_http2)) or a connection that
/// hyper handed over after an upgrade (feature `hyper`).
///
/// It is the [`MaybeTlsStream::Boxed`](crate::MaybeTlsStream::Boxed) variant.
/// Reads and writes go through one dynamic call, which matters little next to
/// what HTTP/2 framing or hyper's own buffering cost.
pub struct BoxedStream {
    io: Box<dyn Io>,
    http2: bool,
}

impl BoxedStream {
    /// A stream of an HTTP/2 connection (which may carry other WebSockets).
    pub(crate) fn http2(io: impl AsyncRead + AsyncWrite + Send + Unpin + 'static) -> Self {
        BoxedStream {
            io: Box::new(io),
            http2: true,
        }
    }

    /// A connection (HTTP/1.1) or stream (HTTP/2) that hyper handed over.
    #[cfg(feature = "hyper")]
    pub(crate) fn upgraded(io: impl AsyncRead + AsyncWrite + Send + Unpin + 'static, http2: bool) -> Self {
        BoxedStream {
            io: Box::new(io),
            http2,
        }
    }

    /// Whether this is a stream of an HTTP/2 connection rather than a
    /// connection of its own.
    pub fn is_http2(&self) -> bool {
        self.http2
    }
}

impl fmt::Debug for BoxedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxedStream")
            .field("http2", &self.http2)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for BoxedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for BoxedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_pass_through_both_ways() {
        let (a, b) = tokio::io::duplex(64);
        let mut boxed = BoxedStream::http2(a);
        assert!(boxed.is_http2());
        let mut b = b;
        boxed.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        b.write_all(b"pong").await.unwrap();
        boxed.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
    }
}
