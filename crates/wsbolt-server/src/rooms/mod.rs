//! Rooms: named sets of connections that receive each other's messages, and
//! chat's registry of names, behind one seam ([`Rooms`]) so that a backend
//! shared by several nodes ([`RedisRooms`]) can replace the in-process one
//! ([`LocalRooms`]) without touching the endpoints.
//!
//! Each member has a queue bounded in bytes: a member whose queue would pass
//! its limit is sent [`Out::Kick`] instead, so one slow client costs at most
//! the limit. Messages are framed once ([`PreparedMessage`]) for all members
//! of a node.
//!
//! # Example: a relay of your own on the seam
//!
//! ```no_run
//! use std::sync::Arc;
//! use wsbolt_server::rooms::{LocalRooms, Out, RedisConfig, RedisRooms, Rooms};
//!
//! # async fn run(use_redis: bool) -> Result<(), Box<dyn std::error::Error>> {
//! // One process: LocalRooms. Several nodes that share rooms: RedisRooms.
//! let rooms: Arc<dyn Rooms> = if use_redis {
//!     Arc::new(RedisRooms::start(RedisConfig::new("redis://127.0.0.1:6379")).await?)
//! } else {
//!     Arc::new(LocalRooms::default())
//! };
//! let mut me = rooms.join("lobby", 1 << 20);
//! rooms.publish("lobby", &wsbolt::Message::text("hello, every node"));
//! while let Some(Out::Msg(msg)) = me.rx.recv().await {
//!     me.taken(&msg);
//!     // ws.queue_prepared(&msg)? for this member's WebSocket
//! }
//! rooms.leave("lobby", me.id);
//! # Ok(()) }
//! ```

mod local;
pub mod log;
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use wsbolt::{Message, PreparedMessage};

pub use self::local::LocalRooms;
pub use self::log::{HistoryLimits, Position, RoomLog};
pub use self::redis::{RedisConfig, RedisRooms, RedisStartError};

/// A member's id, unique within its node.
pub type MemberId = u64;

/// A boxed future, for the seam's methods that a shared backend answers over
/// the network.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a room hands to one member.
#[derive(Debug)]
pub enum Out {
    /// A message to send, framed once for every member it goes to.
    Msg(PreparedMessage),
    /// The member's queue overflowed: close it.
    Kick,
}

/// A member's end of a room.
#[derive(Debug)]
pub struct Membership {
    /// The member's id in the room.
    pub id: MemberId,
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

/// A member's queue as a room sees it: bounded in bytes, a member whose
/// queue would pass its limit is sent [`Out::Kick`] instead.
#[derive(Debug)]
pub(crate) struct Inbox {
    tx: mpsc::UnboundedSender<Out>,
    /// Bytes handed to the member and not yet taken by its task.
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl Inbox {
    /// A queue of at most `limit` bytes for member `id`, and the member's end.
    pub(crate) fn new(id: MemberId, limit: usize) -> (Inbox, Membership) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let inbox = Inbox {
            tx,
            queued: queued.clone(),
            limit,
        };
        (inbox, Membership { id, rx, queued })
    }

    /// Queues `msg`, or [`Out::Kick`] if it would pass the limit.
    pub(crate) fn deliver(&self, msg: PreparedMessage) {
        let len = msg.len();
        if self.queued.load(Ordering::Acquire) + len > self.limit {
            let _ = self.tx.send(Out::Kick);
        } else {
            self.queued.fetch_add(len, Ordering::AcqRel);
            let _ = self.tx.send(Out::Msg(msg));
        }
    }
}

/// The rooms of a server. Methods that only touch this node's members are
/// immediate; those that need the whole room (names, user lists) may need a
/// round trip to a shared backend and return a future.
pub trait Rooms: Send + Sync + fmt::Debug + 'static {
    /// Adds a member to `room` whose queue holds at most `queue_limit` bytes.
    fn join(&self, room: &str, queue_limit: usize) -> Membership;
    /// Removes a member (and its name).
    fn leave(&self, room: &str, id: MemberId);
    /// Sends `msg` to every member of `room` (on every node that shares the
    /// rooms), framed once per node, in the order this node published.
    fn publish(&self, room: &str, msg: &Message);
    /// Sends `msg` to one member of this node.
    fn send(&self, room: &str, id: MemberId, msg: &Message);
    /// Gives member `id` the name `wanted`, made unique in the room by
    /// appending a number; returns the name it got.
    fn claim_name<'a>(&'a self, room: &'a str, id: MemberId, wanted: &'a str) -> BoxFuture<'a, String>;
    /// The name of member `id`, if it has one.
    fn name(&self, room: &str, id: MemberId) -> Option<String>;
    /// The names of the room's members, in the order they joined (a shared
    /// backend: in the order they first took a name).
    fn users<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Vec<String>>;
    /// Rooms whose user list changed without a join or leave here: members
    /// that never said goodbye (of a node that died or was cut off) were
    /// dropped, or this node's members are back after it was cut off. Their
    /// lists should be sent again. The in-process backend has none: its
    /// channel is closed at once.
    fn departures(&self) -> broadcast::Receiver<String> {
        broadcast::channel(1).1
    }
    /// Takes this node's members out of the shared state and sends what is
    /// still queued for other nodes (bounded in time). Called once, when the
    /// server stops.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
    /// Appends the backend's metrics in the Prometheus text format.
    fn write_metrics(&self, out: &mut String) {
        let _ = out;
    }
    /// Where `/rooms` keeps its history (and presence) when the backend
    /// shares it with other nodes, with `limits` (the size and age of each
    /// room's history): [`RoomLog::with_store`] makes the server's log of
    /// it. `None`, the default: each node keeps its own history, as the
    /// in-process backend does. [`RedisRooms`] keeps it in Redis.
    fn history_store(&self, limits: HistoryLimits) -> Option<Arc<dyn log::store::HistoryStore>> {
        let _ = limits;
        None
    }
    /// Whether the backend reaches everything it shares rooms through (for
    /// `/readyz` with `redis-required`). The in-process backend always does.
    fn connected(&self) -> bool {
        true
    }
}
