//! `/rooms/{room}`: chat rooms for signed-in users, with keepalive and a
//! graceful shutdown that closes every WebSocket with 1001.
//!
//! - **Sign-in**: a token in `Authorization: Bearer TOKEN`, or `?token=TOKEN`
//!   for browsers (they cannot set headers on a WebSocket). No token, or
//!   one that names no user: `401` with `WWW-Authenticate: Bearer` and a
//!   JSON body `{"error": "...", "detail": "..."}`, before any upgrade.
//! - **Rooms**: every text message a member sends reaches every member of
//!   the room (the sender included) as
//!   `{"room": "...", "from": "USER", "text": "..."}`. A room exists while
//!   someone is in it. A member that falls more than [`ROOM_BACKLOG`]
//!   messages behind is closed with 1008 rather than left to grow memory.
//! - **Keepalive**: the server pings a quiet connection every
//!   [`Settings::keepalive`] and closes it (1011) when no pong comes.
//! - **Shutdown**: [`Shutdown::trigger`] closes every room WebSocket with
//!   `1001 server shutting down`; [`Shutdown::finished`] waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::{broadcast, watch};
use wsbolt::axum::rejection::WebSocketUpgradeRejection;
use wsbolt::axum::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};

/// How many messages a member may fall behind its room before it is closed.
pub const ROOM_BACKLOG: usize = 256;

/// The longest room name, in bytes (longer: 400).
pub const MAX_ROOM_NAME: usize = 64;

/// The rooms app's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Token → user name. The demo's default: `alice-token` → `alice`,
    /// `bob-token` → `bob`. A real app checks a signed token instead.
    pub tokens: HashMap<String, String>,
    /// How often a quiet connection is pinged (the pong timeout is the same).
    /// Default 20 s.
    pub keepalive: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        let tokens = [("alice-token", "alice"), ("bob-token", "bob")]
            .into_iter()
            .map(|(t, u)| (t.to_string(), u.to_string()))
            .collect();
        Settings {
            tokens,
            keepalive: Duration::from_secs(20),
        }
    }
}

/// Tells every open room WebSocket to close with 1001, and waits for them.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Shutdown {
    /// Closes every room WebSocket (1001 `server shutting down`), now and
    /// for any that opens later.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once every room WebSocket has finished closing.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn finished(&self) {
        self.tx.closed().await;
    }

    fn watch(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

/// The rooms' shared state.
#[derive(Debug, Clone)]
pub(crate) struct Rooms {
    settings: Arc<Settings>,
    shutdown: Shutdown,
    rooms: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>>,
}

impl Rooms {
    pub(crate) fn new(settings: Settings, shutdown: Shutdown) -> Rooms {
        Rooms {
            settings: Arc::new(settings),
            shutdown,
            rooms: Arc::default(),
        }
    }

    fn join(&self, room: &str) -> (broadcast::Sender<Arc<str>>, broadcast::Receiver<Arc<str>>) {
        let mut rooms = self.rooms.lock().unwrap();
        let tx = rooms
            .entry(room.to_string())
            .or_insert_with(|| broadcast::channel(ROOM_BACKLOG).0)
            .clone();
        let rx = tx.subscribe();
        (tx, rx)
    }

    fn leave(&self, room: &str) {
        let mut rooms = self.rooms.lock().unwrap();
        if rooms.get(room).is_some_and(|tx| tx.receiver_count() == 0) {
            rooms.remove(room);
        }
    }
}

/// A refusal before the upgrade: a status and a JSON body.
fn refuse(status: StatusCode, error: &str, detail: &str) -> Response {
    let body = serde_json::json!({ "error": error, "detail": detail }).to_string();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    response
}

/// The token of a request: `Authorization: Bearer`, else `?token=`.
fn token<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.or_else(|| uri.query()?.split('&').find_map(|pair| pair.strip_prefix("token=")))
}

pub(crate) async fn handler(
    State(rooms): State<Rooms>,
    Path(room): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    // Taken as a `Result` so that sign-in is checked first: a request
    // without a token gets 401 whether or not it is a valid upgrade.
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(token) = token(&headers, &uri) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a token: Authorization: Bearer TOKEN, or ?token=TOKEN",
        );
    };
    let Some(user) = rooms.settings.tokens.get(token).cloned() else {
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token");
    };
    if room.len() > MAX_ROOM_NAME {
        return refuse(StatusCode::BAD_REQUEST, "bad room", "room names are at most 64 bytes");
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let every = rooms.settings.keepalive;
    upgrade
        .keepalive(every, every)
        .on_upgrade(move |socket| member(socket, rooms, room, user))
}

/// One member's connection: its messages to the room, the room's to it,
/// until it leaves, falls too far behind, or the server shuts down.
async fn member(mut socket: WebSocket, rooms: Rooms, room: String, user: String) {
    let mut stop = rooms.shutdown.watch();
    let (tx, mut rx) = rooms.join(&room);
    let close = loop {
        if *stop.borrow_and_update() {
            break Some((close_code::AWAY, "server shutting down"));
        }
        tokio::select! {
            _ = stop.changed() => continue,
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let line = serde_json::json!({ "room": room, "from": user, "text": text.as_str() });
                    // No receiver can only mean the room is empty, and this
                    // member is in it: sending cannot fail here.
                    let _ = tx.send(Arc::from(line.to_string()));
                }
                Some(Ok(_)) => {}
                // The client closed (answered already) or vanished.
                Some(Err(_)) | None => break None,
            },
            outgoing = rx.recv() => match outgoing {
                Ok(line) => {
                    if socket.send(Message::text(&*line)).await.is_err() {
                        break None;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break Some((close_code::POLICY, "too far behind")),
                Err(broadcast::error::RecvError::Closed) => break None,
            },
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if socket.send(Message::Close(Some(frame))).await.is_ok() {
            // Wait (briefly) for the client's answer, so the close is clean.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Ok(_)) = socket.recv().await {}
            })
            .await;
        }
    }
    drop(rx);
    rooms.leave(&room);
}
