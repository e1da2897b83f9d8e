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
use wsbolt::{CloseFrame, MaybeTlsStream, Message, PreparedMessage, WebSocketStream};

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
    ws.close_status().map_or(1006, |s| s.code().as_u16())
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
    /// A message to send, framed once for every member it goes to.
    Msg(PreparedMessage),
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
    pub fn taken(&self, msg: &PreparedMessage) {
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

    /// Sends `msg` to every member: it is framed once and every member's
    /// connection writes the same bytes (never compressed, so a broadcast
    /// costs one encoding, not one per recipient).
    pub fn publish(&self, msg: &Message, limit: usize) {
        let Some(prepared) = PreparedMessage::new(msg) else {
            return;
        };
        for m in self.members.lock().expect("room lock").values() {
            send_to(m, prepared.clone(), limit);
        }
    }

    /// Sends `msg` to one member.
    pub fn send(&self, id: u64, msg: Message, limit: usize) {
        let Some(prepared) = PreparedMessage::new(&msg) else {
            return;
        };
        if let Some(m) = self.members.lock().expect("room lock").get(&id) {
            send_to(m, prepared, limit);
        }
    }
}

fn send_to(m: &Member, msg: PreparedMessage, limit: usize) {
    let len = msg.len();
    if m.queued.load(Ordering::Acquire) + len > limit {
        let _ = m.tx.send(Out::Kick);
    } else {
        m.queued.fetch_add(len, Ordering::AcqRel);
        let _ = m.tx.send(Out::Msg(msg));
    }
}

/// Queues `msg` on the connection; false (the caller applies the
/// slow-consumer policy) if the client had already left more than
/// `max-outbound-queue` bytes unread. One message larger than the limit is
/// still sent when the backlog is small.
pub fn queue_out(ws: &mut Ws, msg: Message, ctx: &Ctx) -> bool {
    if ws.buffered_amount() > ctx.state.config.max_outbound_queue {
        return false;
    }
    let len = msg.len();
    if ws.queue(msg).is_ok() {
        ctx.state.metrics.sent(len);
    }
    true
}

/// [`queue_out`] for a message framed once for many connections.
pub fn queue_prepared_out(ws: &mut Ws, msg: &PreparedMessage, ctx: &Ctx) -> bool {
    if ws.buffered_amount() > ctx.state.config.max_outbound_queue {
        return false;
    }
    if ws.queue_prepared(msg).is_ok() {
        ctx.state.metrics.sent(msg.len());
    }
    true
}

/// Waits until the connection's backlog is written, for at most
/// `write-timeout` seconds; false if the client did not read it in time.
pub async fn drain(ws: &mut Ws, ctx: &Ctx) -> bool {
    let limit = std::time::Duration::from_secs(ctx.state.config.write_timeout.max(1));
    matches!(
        tokio::time::timeout(limit, futures_util::SinkExt::flush(ws)).await,
        Ok(Ok(()))
    )
}

/// Runs one room member's connection until it ends: messages the room sends
/// are queued to the client (the slow-consumer policy closes it if they
/// pile up), messages from the client go to `on_message`, and on shutdown
/// what is already queued is written before Close 1001. `on_leave` runs as
/// soon as the member stops receiving (before the closing handshake).
pub async fn member_loop(
    mut ws: Ws,
    ctx: &Ctx,
    mut me: Membership,
    mut on_message: impl FnMut(Message),
    on_leave: impl FnOnce(),
) -> u16 {
    let code = ctx.state.config.slow_consumer.code();
    let mut stop = ctx.stop.clone();
    let mut on_leave = Some(on_leave);
    let mut leave = || {
        if let Some(f) = on_leave.take() {
            f();
        }
    };
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => {
                leave();
                // Messages already queued for this client go out before the Close.
                while let Ok(Out::Msg(m)) = me.rx.try_recv() {
                    queue_prepared_out(&mut ws, &m, ctx);
                }
                going_away(&mut ws).await;
                break;
            }
            out = me.rx.recv() => {
                let kept_up = match out {
                    Some(Out::Msg(m)) => {
                        me.taken(&m);
                        queue_prepared_out(&mut ws, &m, ctx)
                    }
                    Some(Out::Kick) | None => false,
                };
                if !kept_up {
                    leave();
                    slow_consumer(&mut ws, code).await;
                    break;
                }
            }
            next = futures_util::StreamExt::next(&mut ws) => {
                let Some(Ok(msg)) = next else { break };
                if is_data(&msg) {
                    ctx.state.metrics.received(msg.len());
                    on_message(msg);
                }
            }
        }
    }
    leave();
    end_code(&ws)
}

/// Whether a message carries data (text or binary).
pub fn is_data(m: &Message) -> bool {
    matches!(m, Message::Text(_) | Message::Binary(_))
}
