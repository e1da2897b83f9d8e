//! The seam between a [`RoomLog`] and a history shared by
//! several nodes ([`HistoryStore`]; the Redis backend is one): the store
//! numbers publications and keeps them; each node's log is a copy of the
//! rooms its clients subscribe to, seeded from a [`Snapshot`] and kept up to
//! date by the store's reader, which hands what it reads to
//! [`RoomLog::apply`] and [`RoomLog::apply_presence`].
//!
//! A backend of [`Rooms`](crate::rooms::Rooms) that shares `/rooms`'
//! history returns its store from
//! [`Rooms::history_store`](crate::rooms::Rooms::history_store).

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::value::RawValue;

use super::{Position, RoomLog};
use crate::rooms::BoxFuture;

/// A history shared by several nodes: it gives publications their
/// positions (one numbering for every node), keeps them, and follows the
/// rooms a node copies, handing their new publications and other nodes'
/// joins and leaves to the node's [`RoomLog`].
pub trait HistoryStore: Send + Sync + fmt::Debug + 'static {
    /// Appends a publication to `room`; the store gives it its position.
    fn append<'a>(
        &'a self,
        room: &'a str,
        user: Option<&'a str>,
        data: &'a RawValue,
    ) -> BoxFuture<'a, Result<Position, Unavailable>>;

    /// Where `room` stands and its last `limit` publications (oldest
    /// first). With `create`, a room the store has no epoch for gets one;
    /// without, [`Snapshot::now`] is `None` for it.
    fn snapshot<'a>(
        &'a self,
        room: &'a str,
        limit: usize,
        create: bool,
    ) -> BoxFuture<'a, Result<Snapshot, Unavailable>>;

    /// From now on, hands `room`'s publications after `cursor` (a
    /// snapshot's) to [`RoomLog::apply`], in order, and other nodes'
    /// joins and leaves to [`RoomLog::apply_presence`], until
    /// [`unfollow`](Self::unfollow).
    fn follow(&self, room: &str, cursor: &str);

    /// Stops following `room`.
    fn unfollow(&self, room: &str);

    /// Called once, with the log the store's reader feeds.
    fn attach(&self, log: Weak<RoomLog>);

    /// Where this node's client ids start (unique across the nodes).
    fn id_base(&self) -> u64;

    /// Client `client` of this node (speaking for `user`) subscribed to
    /// `room`: listed for every node, and a `join` for their subscribers.
    fn present(&self, room: &str, client: u64, user: Option<&str>);

    /// Client `client` of this node left `room`.
    fn absent(&self, room: &str, client: u64);

    /// The clients subscribed to `room` on every node, by id.
    fn presence<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Clients, Unavailable>>;
}

/// Clients in a room by id, each with its user if it has one.
pub type Clients = Vec<(u64, Option<String>)>;

/// A room as the store has it.
#[derive(Debug)]
pub struct Snapshot {
    /// Where the room stands (`None`: no epoch yet, and none made).
    pub now: Option<Position>,
    /// The last publications, oldest first.
    pub publications: Vec<Stored>,
    /// Where to follow the room from, right after these.
    pub cursor: String,
}

/// One publication as the store keeps it.
#[derive(Debug)]
pub struct Stored {
    /// Its offset in its room's epoch.
    pub offset: u64,
    /// The publisher's user, if it had one.
    pub user: Option<String>,
    /// What was published (any JSON).
    pub data: Box<RawValue>,
    /// How long ago it was published.
    pub age: Duration,
}

/// The shared store cannot be reached, or refused: the request can be tried
/// again later (clients get the `unavailable` error with this message).
#[derive(Debug, Clone)]
pub struct Unavailable(Arc<str>);

impl Unavailable {
    /// Unavailable, for the reason `why` (shown to the client).
    pub fn new(why: impl Into<Arc<str>>) -> Unavailable {
        Unavailable(why.into())
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}
