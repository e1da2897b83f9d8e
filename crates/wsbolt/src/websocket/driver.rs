//! The task that drives one connection for a [`WebSocket`](super::WebSocket):
//! connects, moves messages both ways, and ends with one `Close` event.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures_core::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;
use wsbolt_proto::{CloseFrame, Message};

use crate::config::ClientConfig;
use crate::error::Error;

use super::events::{CloseEvent, ErrorEvent, Event, MessageData, MessageEvent, ReadyState, SendData};

/// What the [`WebSocket`](super::WebSocket) handle asks of its task.
#[derive(Debug)]
pub(super) enum Cmd {
    Send(SendData),
    Close(Option<CloseFrame>),
}

/// What the handle reads without asking the task: `readyState`,
/// `bufferedAmount`, and the negotiated protocol and extensions.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) state: AtomicU8,
    pub(super) buffered: AtomicU64,
    pub(super) negotiated: Mutex<(String, String)>,
}

/// The connection task: connects, then moves messages both ways, keeping
/// `readyState` and `bufferedAmount` true, and ends with one `Close` event.
/// While the event queue is full it stops reading (and keeps writing).
pub(super) async fn run(
    url: String,
    origin: String,
    config: ClientConfig,
    shared: Arc<Shared>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    events: mpsc::Sender<Event>,
) {
    let set = |s: ReadyState| shared.state.store(s as u8, Ordering::Release);
    let connect = crate::client::connect_with_config(&url, &config);
    // close() while CONNECTING fails the connection at once.
    let connected = tokio::select! {
        r = connect => r,
        _ = wait_close(&mut cmds) => {
            set(ReadyState::Closed);
            return finish(&events, Some(None), 1006, String::new(), false).await;
        }
    };
    let mut ws = match connected {
        Ok((ws, _)) => ws,
        Err(e) => {
            tracing::debug!(%url, error = %e, "WebSocket connection failed");
            set(ReadyState::Closed);
            return finish(&events, Some(Some(e)), 1006, String::new(), false).await;
        }
    };
    if let Ok(mut n) = shared.negotiated.lock() {
        *n = (
            ws.protocol().unwrap_or_default().to_string(),
            ws.extensions().unwrap_or_default().to_string(),
        );
    }
    // close() may have raced the handshake: it still fails the connection.
    let opened = shared.state.compare_exchange(
        ReadyState::Connecting as u8,
        ReadyState::Open as u8,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    if opened.is_err() {
        drop(ws);
        set(ReadyState::Closed);
        return finish(&events, Some(None), 1006, String::new(), false).await;
    }
    if events.send(Event::Open).await.is_err() {
        return;
    }

    let mut sender = PollSender::new(events.clone());
    // A received message waiting for room in the event queue.
    let mut held: Option<Event> = None;
    // Bytes of each queued message, to lower bufferedAmount as the output drains.
    let mut pending: VecDeque<(u64, u64)> = VecDeque::new(); // (end offset in output, payload length)
    let mut queued_total: u64 = 0;
    let mut received_close = false;
    let mut failure: Option<Error> = None;
    let mut cmds_open = true;
    loop {
        let next = std::future::poll_fn(|cx| {
            while cmds_open {
                match cmds.poll_recv(cx) {
                    Poll::Ready(Some(Cmd::Send(data))) => {
                        if shared.state.load(Ordering::Acquire) != ReadyState::Open as u8 {
                            continue; // counted, never sent
                        }
                        let len = data.len();
                        let msg = match data {
                            SendData::Text(t) => Message::text(t),
                            SendData::Binary(b) => Message::Binary(b),
                        };
                        let before = ws.buffered_amount() as u64;
                        if ws.queue(msg).is_ok() {
                            queued_total += ws.buffered_amount() as u64 - before;
                            pending.push_back((queued_total, len));
                        }
                    }
                    Poll::Ready(Some(Cmd::Close(frame))) => {
                        let before = ws.buffered_amount() as u64;
                        if ws.queue(Message::Close(frame)).is_ok() {
                            queued_total += ws.buffered_amount() as u64 - before;
                        }
                    }
                    Poll::Ready(None) => cmds_open = false,
                    Poll::Pending => break,
                }
            }
            let r = if held.is_some() {
                // The queue is full: hand over the held message when there is
                // room, and read nothing meanwhile; keep writing.
                let _ = futures_sink::Sink::poll_flush(std::pin::Pin::new(&mut ws), cx);
                match sender.poll_reserve(cx) {
                    Poll::Ready(Ok(())) => {
                        let _ = sender.send_item(held.take().expect("checked"));
                        Poll::Ready(Step::Handed)
                    }
                    // The WebSocket was dropped: nobody reads events any more.
                    Poll::Ready(Err(_)) => {
                        held = None;
                        Poll::Ready(Step::Handed)
                    }
                    Poll::Pending => Poll::Pending,
                }
            } else {
                Stream::poll_next(std::pin::Pin::new(&mut ws), cx).map(Step::Next)
            };
            // Everything before `written` has been handed to the OS.
            let written = queued_total.saturating_sub(ws.buffered_amount() as u64);
            while let Some(&(end, len)) = pending.front() {
                if end > written {
                    break;
                }
                pending.pop_front();
                shared.buffered.fetch_sub(len, Ordering::AcqRel);
            }
            r
        })
        .await;
        // Messages that arrive once the state is not OPEN are dropped.
        let open = shared.state.load(Ordering::Acquire) == ReadyState::Open as u8;
        let Step::Next(next) = next else { continue };
        let data = match next {
            Some(Ok(Message::Text(t))) => MessageData::Text(t.as_str().to_string()),
            Some(Ok(Message::Binary(b))) => MessageData::Binary(b),
            Some(Ok(Message::Close(_))) => {
                // The peer started (or answered) the closing handshake.
                received_close = true;
                set(ReadyState::Closing);
                continue;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                // A protocol error by the server, a keepalive timeout, or a
                // transport error: the connection is failed.
                tracing::debug!(%url, error = %e, "WebSocket connection failed");
                if !matches!(e, Error::ConnectionClosed) {
                    failure = Some(e);
                }
                continue;
            }
            None => break,
        };
        if open {
            held = Some(Event::Message(MessageEvent {
                data,
                origin: origin.clone(),
            }));
        }
    }
    set(ReadyState::Closed);
    let status = ws.close_status().cloned();
    let failed = failure.is_some();
    let (code, reason, was_clean) = match (&status, received_close && !failed) {
        (Some(s), true) => (s.code().as_u16(), s.reason().to_string(), s.was_clean()),
        _ => (1006, String::new(), false),
    };
    drop(sender);
    finish(&events, failed.then_some(failure), code, reason, was_clean).await;
}

/// What one turn of the connection task's poll brought.
enum Step {
    /// A held message went into the event queue (or was dropped, the
    /// `WebSocket` being gone).
    Handed,
    /// What the connection produced.
    Next(Option<crate::Result<Message>>),
}

/// The last events: `error` (with its cause, if the connection failed),
/// then `close`. They wait for room in the queue; if the `WebSocket` is gone
/// nobody needs them.
async fn finish(
    events: &mpsc::Sender<Event>,
    error: Option<Option<Error>>,
    code: u16,
    reason: String,
    was_clean: bool,
) {
    if let Some(e) = error {
        let ev = ErrorEvent { error: e.map(Arc::new) };
        if events.send(Event::Error(ev)).await.is_err() {
            return;
        }
    }
    let _ = events
        .send(Event::Close(CloseEvent {
            code,
            reason,
            was_clean,
        }))
        .await;
}

/// Resolves when a close command arrives (sends before that are dropped:
/// `send` refuses them while CONNECTING).
async fn wait_close(cmds: &mut mpsc::UnboundedReceiver<Cmd>) -> Option<Cmd> {
    loop {
        match cmds.recv().await {
            Some(c @ Cmd::Close(_)) => return Some(c),
            Some(Cmd::Send(_)) => continue,
            None => return std::future::pending().await,
        }
    }
}
