//! The WebSocket endpoints, and what they share: the connection context and
//! rooms with bounded per-member queues.

pub mod broadcast;
pub mod chat;
pub mod echo;
pub mod handler;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use wsbolt::{CloseFrame, MaybeTlsStream, Message, WebSocketStream};

use crate::server::State;

/// The WebSocket type endpoints work on.
pub type Ws = WebSocketStream<MaybeTlsStream>;

/// What every endpoint gets.
pub struct Ctx {
    pub(crate) state: Arc<State>,
    /// Becomes true when the server shuts down.
    pub stop: watch::Receiver<bool>,
    /// The client's address.
    pub peer: SocketAddr,
}

/// Resolves once the server starts shutting down (the watch guard is
/// dropped inside, so the future stays `Send`).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// How a connection ended, for the metrics: its close code (1006 if none).
pub fn end_code(ws: &Ws) -> u16 {
    ws.close_status().map_or(1006, |s| s.code.0)
}

/// Closes with 1001 after writing what is queued (server shutdown).
pub async fn going_away(ws: &mut Ws) {
    let _ = ws.close(CloseFrame::new(1001u16, "server shutting down").ok()).await;
}

/// Closes a client that does not keep up, with the configured code.
pub async fn slow_consumer(ws: &mut Ws, code: u16) {
    tracing::info!(code, "closing a slow consumer");
    let _ = ws.close(CloseFrame::new(code, "slow consumer").ok()).await;
}

/// What a room hands to one member.
#[derive(Debug)]
pub enum Out {
    /// A message to send.
    Msg(Message),
    /// The member's queue overflowed: close it.
    Kick,
}

#[derive(Debug)]
pub(crate) struct Member {
    tx: mpsc::UnboundedSender<Out>,
    /// Bytes handed to the member and not yet taken by its task.
    queued: Arc<AtomicUsize>,
    pub name: Option<String>,
}

/// A set of connections that receive each other's messages. Each member's
/// queue is bounded by bytes: a member whose queue would pass the limit is
/// sent `Kick` instead, so one slow client costs at most the limit.
#[derive(Debug, Default)]
pub struct Room {
    next_id: AtomicU64,
    pub(crate) members: Mutex<BTreeMap<u64, Member>>,
}

/// A member's end of a room.
pub struct Membership {
    /// The member's id in the room.
    pub id: u64,
    /// What the room sends this member.
    pub rx: mpsc::UnboundedReceiver<Out>,
    queued: Arc<AtomicUsize>,
}

impl Membership {
    /// Records that `msg` was taken off the queue.
    pub fn taken(&self, msg: &Message) {
        self.queued.fetch_sub(msg.len(), Ordering::AcqRel);
    }
}

impl Room {
    /// Adds a member.
    pub fn join(&self) -> Membership {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        self.members.lock().expect("room lock").insert(
            id,
            Member {
                tx,
                queued: queued.clone(),
                name: None,
            },
        );
        Membership { id, rx, queued }
    }

    /// Removes a member.
    pub fn leave(&self, id: u64) {
        self.members.lock().expect("room lock").remove(&id);
    }

    /// Sends `msg` to every member (the payload is shared, not copied).
    pub fn publish(&self, msg: &Message, limit: usize) {
        for m in self.members.lock().expect("room lock").values() {
            send_to(m, msg.clone(), limit);
        }
    }

    /// Sends `msg` to one member.
    pub fn send(&self, id: u64, msg: Message, limit: usize) {
        if let Some(m) = self.members.lock().expect("room lock").get(&id) {
            send_to(m, msg, limit);
        }
    }
}

fn send_to(m: &Member, msg: Message, limit: usize) {
    let len = msg.len();
    if m.queued.load(Ordering::Acquire) + len > limit {
        let _ = m.tx.send(Out::Kick);
    } else {
        m.queued.fetch_add(len, Ordering::AcqRel);
        let _ = m.tx.send(Out::Msg(msg));
    }
}

/// Queues `msg` on the connection; false if the connection's own write
/// buffer passed the limit (the caller applies the slow-consumer policy).
pub fn queue_out(ws: &mut Ws, msg: Message, ctx: &Ctx) -> bool {
    let len = msg.len();
    if ws.queue(msg).is_ok() {
        ctx.state.metrics.sent(len);
    }
    ws.buffered_amount() <= ctx.state.config.max_outbound_queue
}

/// Whether a message carries data (text or binary).
pub fn is_data(m: &Message) -> bool {
    matches!(m, Message::Text(_) | Message::Binary(_))
}
