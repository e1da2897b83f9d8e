//! [`WebSocket`]: the socket a handler gets, with axum's methods and
//! message types over wsbolt's connection.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::stream::FusedStream;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use http::HeaderValue;

use super::message::Message;
use crate::stream::WebSocketStream;
use crate::upgrade::Upgraded;

/// An accepted WebSocket, as axum's: [`recv`](Self::recv),
/// [`send`](Self::send), [`protocol`](Self::protocol), a `Stream` of
/// messages and a `Sink` for them (so `StreamExt::split` gives the sink
/// first, as axum's docs use it).
///
/// wsbolt's own API (queueing without waiting, owned split halves with
/// `reunite`, the close status, keepalive round-trip time) is on the
/// connection underneath: [`get_ref`](Self::get_ref),
/// [`get_mut`](Self::get_mut), [`into_inner`](Self::into_inner).
#[derive(Debug)]
pub struct WebSocket {
    inner: WebSocketStream<Upgraded>,
    protocol: Option<HeaderValue>,
    ended: bool,
}

impl WebSocket {
    pub(crate) fn new(inner: WebSocketStream<Upgraded>) -> Self {
        let protocol = inner.protocol().and_then(|p| HeaderValue::from_str(p).ok());
        WebSocket {
            inner,
            protocol,
            ended: false,
        }
    }

    /// The next message; `None` once the connection has ended. Pings are
    /// answered while it waits; the peer's Close is returned as
    /// [`Message::Close`] (and answered) before the end.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a message is never lost when the future is dropped.
    pub async fn recv(&mut self) -> Option<Result<Message, axum_core::Error>> {
        self.next().await
    }

    /// Sends a message and waits until it is written.
    ///
    /// # Errors
    ///
    /// The connection is closed or failed, or the message cannot be sent (a
    /// Close code that may not be sent, a control payload over 125 bytes).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: if the future is dropped the message may have been
    /// queued or partly written.
    pub async fn send(&mut self, msg: Message) -> Result<(), axum_core::Error> {
        SinkExt::send(self, msg).await
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&HeaderValue> {
        self.protocol.as_ref()
    }

    /// wsbolt's connection underneath.
    pub fn get_ref(&self) -> &WebSocketStream<Upgraded> {
        &self.inner
    }

    /// wsbolt's connection underneath, mutably.
    pub fn get_mut(&mut self) -> &mut WebSocketStream<Upgraded> {
        &mut self.inner
    }

    /// wsbolt's connection underneath, for its whole API.
    pub fn into_inner(self) -> WebSocketStream<Upgraded> {
        self.inner
    }
}

fn wrap(e: crate::Error) -> axum_core::Error {
    axum_core::Error::new(e)
}

impl Stream for WebSocket {
    type Item = Result<Message, axum_core::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let next = ready!(self.inner.poll_next_unpin(cx));
        if next.is_none() {
            self.ended = true;
        }
        Poll::Ready(next.map(|r| r.map(Message::from).map_err(wrap)))
    }
}

impl FusedStream for WebSocket {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl Sink<Message> for WebSocket {
    type Error = axum_core::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready_unpin(cx).map_err(wrap)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        let msg = crate::Message::try_from(item).map_err(wrap)?;
        self.inner.start_send_unpin(msg).map_err(wrap)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_flush_unpin(cx).map_err(wrap)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_close_unpin(cx).map_err(wrap)
    }
}
