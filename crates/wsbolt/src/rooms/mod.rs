//! A client for `wsbolt.rooms.v1`, the rooms protocol of `wsbolt serve`'s
//! `/rooms` (docs/rooms-protocol.md in the repository): subscribe, publish,
//! history, presence, and recovery of what was missed while disconnected.
//!
//! [`RoomsClient`] keeps one connection up with [`Reconnect`]: after a
//! reconnect it subscribes to every room again with the last position it
//! saw, and drops a publication it already delivered, so
//! [`Event::Publication`]s of a room come once and in order, or an
//! [`Event::NotRecovered`] says that the server could not fill the gap.
//!
//! ```no_run
//! use wsbolt::rooms::{Event, RoomsClient};
//! # async fn run() -> Result<(), wsbolt::rooms::RoomsError> {
//! let mut client = RoomsClient::new("ws://127.0.0.1:9998/rooms", Default::default());
//! client.subscribe("lobby", false).await?;
//! client.publish("lobby", &serde_json::json!({"text": "hi"})).await?;
//! while let Some(event) = client.next().await {
//!     match event {
//!         Event::Publication(p) => println!("{} #{}: {}", p.room, p.position.offset, p.data),
//!         Event::NotRecovered { room, .. } => println!("{room}: reload it from the application"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Needs the `rooms` feature.

mod session;

use std::fmt;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::{Backoff, ClientConfig, Reconnect};

/// The subprotocol.
pub const PROTOCOL: &str = "wsbolt.rooms.v1";

/// How many requests made while the client is connecting wait for the
/// connection; more fail with `disconnected` at once.
pub const OFFLINE_QUEUE: usize = 256;

/// How many events wait for [`RoomsClient::next`] before the client stops
/// reading from the server (which then applies its slow-consumer policy).
pub const EVENT_QUEUE: usize = 1024;

/// A position in a room: its offset and the epoch it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// 1 for a room's first publication, then one more for each.
    pub offset: u64,
    /// Which life of the room's history the offset counts in.
    pub epoch: String,
}

/// A publication as delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    /// Its room.
    pub room: String,
    /// Where it stands in the room.
    pub position: Position,
    /// The publisher's user, when the server takes tokens.
    pub user: Option<String>,
    /// What was published.
    pub data: Value,
}

/// A client in a room, as presence lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The connection's id on its server.
    pub client: String,
    /// Its user, when the server takes tokens.
    pub user: Option<String>,
}

/// What happens on the connection, in the order it happened.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A connection opened (the server's welcome).
    Connected {
        /// This connection's id.
        client: String,
        /// The token's user, if any.
        user: Option<String>,
    },
    /// The connection ended; the client connects again.
    Disconnected,
    /// A publication in a subscribed room, each once and in order.
    Publication(Publication),
    /// A room was subscribed again after a reconnect and got what it
    /// missed (`missed` publications, delivered next).
    Recovered {
        /// The room.
        room: String,
        /// How many publications were missed and follow.
        missed: u64,
    },
    /// A room was subscribed again after a reconnect but the server could
    /// not give what was missed (history trimmed, another epoch), or a
    /// publication came in another epoch (the server lost the room's
    /// history: a single node restarted, Redis restarted empty): reload the
    /// room from the application; delivery goes on after `now`.
    NotRecovered {
        /// The room.
        room: String,
        /// The last position this client had.
        previous: Position,
        /// Where the room stands now.
        now: Position,
    },
    /// A client subscribed to a room followed with presence.
    Join {
        /// The room.
        room: String,
        /// Who.
        member: Member,
    },
    /// A client left a room followed with presence.
    Leave {
        /// The room.
        room: String,
        /// Who.
        member: Member,
    },
    /// The server ended a subscription (a new token does not allow it).
    Unsubscribed {
        /// The room.
        room: String,
        /// Why.
        reason: String,
    },
    /// The token expired: call [`RoomsClient::refresh`] within `grace`
    /// seconds or the server closes with 4001.
    Expired {
        /// Seconds left.
        grace: u64,
    },
    /// [`Reconnect`] gave up (an error not worth retrying, such as 401): no
    /// more connections; [`RoomsClient::next`] ends after it.
    Failed(crate::Error),
}

/// Why a request failed: the server's refusal (its `code`, as in the
/// protocol's list) or the client's own (`disconnected`, `closed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomsError {
    code: String,
    message: String,
}

impl RoomsError {
    fn new(code: &str, message: impl Into<String>) -> RoomsError {
        RoomsError {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    fn disconnected() -> RoomsError {
        RoomsError::new("disconnected", "not connected to the server")
    }

    /// The code: the server's (`forbidden`, `bad_room`, …) or
    /// `disconnected` (no connection when it was sent, or it ended before
    /// the answer) or `closed` (the client is closed).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Why, for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the request did not reach the server or got no answer:
    /// worth sending again once connected.
    pub fn is_disconnected(&self) -> bool {
        self.code == "disconnected"
    }
}

impl fmt::Display for RoomsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for RoomsError {}

/// What the API asks of the connection's task.
enum Command {
    /// Follow a room (kept across reconnects) and subscribe now.
    Subscribe {
        room: String,
        presence: bool,
        reply: oneshot::Sender<Result<Value, RoomsError>>,
    },
    /// Stop following a room.
    Unsubscribe {
        room: String,
        reply: oneshot::Sender<Result<Value, RoomsError>>,
    },
    /// Any other request, sent as is.
    Request {
        body: Value,
        reply: oneshot::Sender<Result<Value, RoomsError>>,
    },
    /// A new token: sent now, and used for the next connections.
    Refresh {
        token: String,
        reply: oneshot::Sender<Result<Value, RoomsError>>,
    },
}

/// A `wsbolt.rooms.v1` client that stays connected. Requests are methods;
/// what the server sends comes from [`next`](RoomsClient::next). Dropping it
/// closes the connection.
///
/// Requests made while it is connecting (at first, or after a connection
/// ended) wait for the connection, at most [`OFFLINE_QUEUE`] of them; a
/// subscription made then is made on the next connection. A request in
/// flight when a connection ends fails with `disconnected` (it may or may
/// not have been carried out).
pub struct RoomsClient {
    /// Its end is the task's signal to close the connection and stop.
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<Event>,
}

impl RoomsClient {
    /// A client of `url` (a `/rooms` endpoint) with `config` (the
    /// subprotocol is added) and the default [`Backoff`].
    pub fn new(url: impl Into<String>, config: ClientConfig) -> RoomsClient {
        RoomsClient::with_backoff(url, config, Backoff::default())
    }

    /// A client that waits `backoff` between attempts.
    pub fn with_backoff(url: impl Into<String>, mut config: ClientConfig, backoff: Backoff) -> RoomsClient {
        if !config.protocols.iter().any(|p| p == PROTOCOL) {
            config.protocols.insert(0, PROTOCOL.to_owned());
        }
        let reconnect = Reconnect::new(url, config).backoff(backoff);
        let (commands, rx) = mpsc::unbounded_channel();
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(session::run(reconnect, rx, tx));
        RoomsClient { commands, events }
    }

    /// A client that sends `token` as `Authorization: Bearer` (replaced by
    /// [`refresh`](RoomsClient::refresh) for later connections).
    pub fn with_token(url: impl Into<String>, mut config: ClientConfig, token: &str) -> RoomsClient {
        config.headers.push(("Authorization".into(), format!("Bearer {token}")));
        RoomsClient::new(url, config)
    }

    /// The next event; `None` once the client is closed or gave up.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an event is lost only if it was returned.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    async fn ask(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<Value, RoomsError>>) -> Command,
    ) -> Result<Value, RoomsError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .map_err(|_| RoomsError::new("closed", "the client is closed"))?;
        answer
            .await
            .unwrap_or_else(|_| Err(RoomsError::new("closed", "the client is closed")))
    }

    /// Subscribes to `room` (with `presence`, join and leave events too) and
    /// keeps it subscribed across reconnects. Returns where the room stands.
    ///
    /// # Errors
    ///
    /// The server's refusal (`forbidden`, `bad_room`, `too_many_subscriptions`,
    /// …; the room is then not followed), `already_subscribed` when the
    /// client follows it already, or `disconnected` (the connection ended
    /// before the answer): the room stays followed and is subscribed at the
    /// next connection.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: once polled, the subscription may be made without
    /// its answer being returned.
    pub async fn subscribe(&self, room: &str, presence: bool) -> Result<Position, RoomsError> {
        let room = room.to_owned();
        let v = self.ask(|reply| Command::Subscribe { room, presence, reply }).await?;
        Ok(position(&v))
    }

    /// Stops following `room`.
    ///
    /// # Errors
    ///
    /// `not_subscribed`, or `disconnected` (it is not followed any more
    /// either way).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, as [`subscribe`](RoomsClient::subscribe).
    pub async fn unsubscribe(&self, room: &str) -> Result<(), RoomsError> {
        let room = room.to_owned();
        self.ask(|reply| Command::Unsubscribe { room, reply }).await.map(drop)
    }

    /// Publishes `data` to `room`; returns its position.
    ///
    /// # Errors
    ///
    /// The server's refusal (`forbidden`, `bad_room`, …), or `disconnected`:
    /// the connection ended before the answer (it may have been published),
    /// or more than [`OFFLINE_QUEUE`] requests were waiting for one.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: once polled, it may be published.
    pub async fn publish(&self, room: &str, data: &Value) -> Result<Position, RoomsError> {
        let body = json!({"type": "publish", "room": room, "data": data});
        let v = self.ask(|reply| Command::Request { body, reply }).await?;
        Ok(position(&v))
    }

    /// The last `limit` publications of `room` the server keeps, oldest
    /// first (`None`: all it keeps).
    ///
    /// # Errors
    ///
    /// As [`publish`](RoomsClient::publish).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the answer is dropped.
    pub async fn history(&self, room: &str, limit: Option<u64>) -> Result<Vec<Publication>, RoomsError> {
        let mut body = json!({"type": "history", "room": room});
        if let Some(l) = limit {
            body["limit"] = l.into();
        }
        let v = self.ask(|reply| Command::Request { body, reply }).await?;
        Ok(v["publications"]
            .as_array()
            .map(|list| list.iter().filter_map(publication).collect())
            .unwrap_or_default())
    }

    /// The clients subscribed to `room` on the server.
    ///
    /// # Errors
    ///
    /// As [`publish`](RoomsClient::publish).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the answer is dropped.
    pub async fn presence(&self, room: &str) -> Result<Vec<Member>, RoomsError> {
        let body = json!({"type": "presence", "room": room});
        let v = self.ask(|reply| Command::Request { body, reply }).await?;
        Ok(v["clients"]
            .as_array()
            .map(|list| list.iter().map(member).collect())
            .unwrap_or_default())
    }

    /// Replaces the token, on this connection and for the next ones;
    /// returns its expiry (Unix seconds).
    ///
    /// # Errors
    ///
    /// `bad_token`, or `disconnected` (not connected now: the next
    /// connection sends it).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: once polled, the token may be replaced.
    pub async fn refresh(&self, token: &str) -> Result<u64, RoomsError> {
        let token = token.to_owned();
        let v = self.ask(|reply| Command::Refresh { token, reply }).await?;
        Ok(v["expires"].as_u64().unwrap_or(0))
    }

    /// Closes the connection (a Close 1000 handshake, in the background)
    /// and stops reconnecting; dropping the client does the same.
    pub fn close(self) {}
}

impl fmt::Debug for RoomsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomsClient").finish_non_exhaustive()
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn position(v: &Value) -> Position {
    Position {
        offset: v["offset"].as_u64().unwrap_or(0),
        epoch: text(&v["epoch"]),
    }
}

fn member(v: &Value) -> Member {
    Member {
        client: text(&v["client"]),
        user: v["user"].as_str().map(str::to_owned),
    }
}

fn publication(v: &Value) -> Option<Publication> {
    Some(Publication {
        room: v["room"].as_str()?.to_owned(),
        position: position(v),
        user: v["user"].as_str().map(str::to_owned),
        data: v.get("data")?.clone(),
    })
}
