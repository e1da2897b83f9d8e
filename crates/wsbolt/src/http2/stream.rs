//! One HTTP/2 stream as a byte transport (`AsyncRead + AsyncWrite`), for a
//! WebSocket over RFC 8441: DATA frames carry the WebSocket's bytes.
//!
//! Flow control is per stream: a WebSocket nobody reads stops its own
//! stream's window, not the connection's others (the connection window is
//! sized for [`super::STALLED_STREAMS`] stalled streams).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes one write hands to h2 at once (it frames them into DATA
/// frames of the peer's maximum frame size).
const MAX_WRITE: usize = 64 * 1024;

/// A WebSocket's HTTP/2 stream.
pub struct H2Stream {
    send: h2::SendStream<Bytes>,
    recv: h2::RecvStream,
    /// Received bytes not read yet.
    pending: Bytes,
    /// Keeps the shared connection alive while this stream is open.
    _conn: Arc<super::pool::Shared>,
}

impl std::fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Stream")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl H2Stream {
    pub(crate) fn new(send: h2::SendStream<Bytes>, recv: h2::RecvStream, conn: Arc<super::pool::Shared>) -> Self {
        H2Stream {
            send,
            recv,
            pending: Bytes::new(),
            _conn: conn,
        }
    }
}

fn to_io(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e.into_io().unwrap_or_else(|| io::Error::other("HTTP/2 I/O error"));
    }
    io::Error::new(io::ErrorKind::ConnectionReset, e)
}

impl AsyncRead for H2Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            match ready!(self.recv.poll_data(cx)) {
                // End of stream: end of file.
                None => return Poll::Ready(Ok(())),
                Some(Err(e)) => {
                    // The peer ended the stream with RST_STREAM(NO_ERROR)
                    // after its Close: an end, not an error.
                    if e.reason() == Some(h2::Reason::NO_ERROR) {
                        return Poll::Ready(Ok(()));
                    }
                    return Poll::Ready(Err(to_io(e)));
                }
                Some(Ok(data)) => {
                    // Reading is what opens the window again: an unread
                    // WebSocket holds its own stream back, nothing more.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.pending = data;
                }
            }
        }
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let want = buf.len().min(MAX_WRITE);
        self.send.reserve_capacity(want);
        loop {
            if let Poll::Ready(reset) = self.send.poll_reset(cx) {
                let e = match reset {
                    Ok(reason) => io::Error::new(io::ErrorKind::ConnectionReset, format!("stream reset: {reason}")),
                    Err(e) => to_io(e),
                };
                return Poll::Ready(Err(e));
            }
            // Capacity assigned earlier (and not used) counts too: poll_capacity
            // reports increases only.
            let available = self.send.capacity();
            if available > 0 {
                let n = available.min(want);
                self.send
                    .send_data(Bytes::copy_from_slice(&buf[..n]), false)
                    .map_err(to_io)?;
                return Poll::Ready(Ok(n));
            }
            match ready!(self.send.poll_capacity(cx)) {
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
                Some(Ok(_)) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // h2's connection task writes what the streams queued.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // END_STREAM: the TCP FIN of a WebSocket over HTTP/2 (RFC 8441 §4).
        // Already ended (or reset) is fine.
        let _ = self.send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}
