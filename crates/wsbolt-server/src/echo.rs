//! `/echo`: every text and binary message is sent back as received.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use wsbolt::{Message, WebSocketStream};

/// Echoes until the connection ends. All messages that one read brought in
/// are answered with one write.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocketStream<S>) {
    while let Some(next) = ws.next().await {
        let Ok(msg) = next else { break };
        if !is_data(&msg) {
            continue;
        }
        if ws.feed(msg).await.is_err() {
            break;
        }
        while let Some(Ok(more)) = ws.try_next_buffered() {
            if is_data(&more) && ws.queue(more).is_err() {
                break;
            }
        }
        if ws.flush().await.is_err() {
            break;
        }
    }
}

fn is_data(m: &Message) -> bool {
    matches!(m, Message::Text(_) | Message::Binary(_))
}
