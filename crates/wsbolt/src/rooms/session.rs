//! The task behind a [`RoomsClient`](super::RoomsClient): connects with
//! [`Reconnect`], subscribes every followed room again with its last
//! position, answers the API's commands, and turns what the server sends
//! into [`Event`]s, dropping publications already delivered.

use std::collections::{HashMap, VecDeque};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::{member, position, publication, text, Command, Event, Position, RoomsError, OFFLINE_QUEUE};
use crate::{MaybeTlsStream, Message, Reconnect, WebSocketStream};

type Reply = oneshot::Sender<Result<Value, RoomsError>>;
type Ws = WebSocketStream<MaybeTlsStream>;

/// A room the client follows across connections.
struct Followed {
    presence: bool,
    /// The last position delivered (or the room's position when first
    /// subscribed); `None` until the server first answered.
    last: Option<Position>,
    /// A `subscribe` call made while not connected, answered once the
    /// subscription is made.
    waiting: Option<Reply>,
}

/// What a request in flight is, for its answer.
enum Pending {
    Plain(Reply),
    Subscribe(String, Reply),
    Resubscribe(String),
}

/// What lasts across connections.
struct State {
    rooms: HashMap<String, Followed>,
    /// Requests made while not connected, sent once connected.
    queued: VecDeque<Command>,
    token: Option<String>,
    next_id: u64,
    events: mpsc::Sender<Event>,
}

pub(super) async fn run(
    mut reconnect: Reconnect,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<Event>,
) {
    let mut state = State {
        rooms: HashMap::new(),
        queued: VecDeque::new(),
        token: None,
        next_id: 1,
        events,
    };
    loop {
        if let Some(token) = &state.token {
            let headers = &mut reconnect.config_mut().headers;
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
            headers.push(("Authorization".into(), format!("Bearer {token}")));
        }
        // Commands that come while connecting are answered at once; the
        // attempt (and its backoff) goes on undisturbed.
        let next = {
            let attempt = reconnect.next();
            tokio::pin!(attempt);
            loop {
                tokio::select! {
                    c = &mut attempt => break c,
                    cmd = commands.recv() => match cmd {
                        Some(cmd) => state.offline(cmd),
                        None => return,
                    },
                }
            }
        };
        let ws = match next {
            Some(Ok((ws, _response))) => ws,
            Some(Err(e)) => {
                let _ = state.events.send(Event::Failed(e)).await;
                return;
            }
            None => return,
        };
        if !state.connected(ws, &mut commands).await {
            return;
        }
        let _ = state.events.send(Event::Disconnected).await;
    }
}

impl State {
    /// A command while there is no connection: a subscription waits for
    /// the next one, a request is queued (up to [`OFFLINE_QUEUE`]).
    fn offline(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe { room, presence, reply } => {
                if self.rooms.contains_key(&room) {
                    let _ = reply.send(Err(already(&room)));
                    return;
                }
                let waiting = Some(reply);
                self.rooms.insert(
                    room,
                    Followed {
                        presence,
                        last: None,
                        waiting,
                    },
                );
            }
            Command::Unsubscribe { room, reply } => {
                // Not connected is not subscribed: nothing to tell the server.
                let answer = match self.rooms.remove(&room) {
                    Some(f) => {
                        if let Some(w) = f.waiting {
                            let _ = w.send(Err(RoomsError::new("unsubscribed", "unsubscribed before connecting")));
                        }
                        Ok(Value::Null)
                    }
                    None => Err(RoomsError::new("not_subscribed", format!("not following {room:?}"))),
                };
                let _ = reply.send(answer);
            }
            Command::Refresh { token, reply } => {
                self.token = Some(token);
                let _ = reply.send(Err(RoomsError::disconnected()));
            }
            Command::Request { body, reply } => {
                if self.queued.len() < OFFLINE_QUEUE {
                    self.queued.push_back(Command::Request { body, reply });
                } else {
                    let _ = reply.send(Err(RoomsError::disconnected()));
                }
            }
        }
    }

    /// Serves one connection until it ends (true) or the client is
    /// dropped (false).
    async fn connected(&mut self, mut ws: Ws, commands: &mut mpsc::UnboundedReceiver<Command>) -> bool {
        let mut pending: HashMap<u64, Pending> = HashMap::new();
        let rooms: Vec<(String, bool, Option<Position>, Option<Reply>)> = self
            .rooms
            .iter_mut()
            .map(|(name, f)| (name.clone(), f.presence, f.last.clone(), f.waiting.take()))
            .collect();
        for (room, presence, last, waiting) in rooms {
            let mut body = json!({"type": "subscribe", "room": room, "presence": presence});
            if let Some(p) = last {
                body["since"] = json!({"offset": p.offset, "epoch": p.epoch});
            }
            let p = match waiting {
                Some(reply) => Pending::Subscribe(room, reply),
                None => Pending::Resubscribe(room),
            };
            if !self.send(&mut ws, &mut pending, body, p).await {
                return true;
            }
        }
        while let Some(cmd) = self.queued.pop_front() {
            if !self.online(cmd, &mut ws, &mut pending).await {
                return true;
            }
        }
        loop {
            tokio::select! {
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => self.receive(t.as_str(), &mut pending).await,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => {
                        if !self.online(cmd, &mut ws, &mut pending).await {
                            break;
                        }
                    }
                    None => {
                        let _ = ws.close(crate::CloseFrame::new(1000u16, "").ok()).await;
                        return false;
                    }
                },
            }
        }
        for (_, p) in pending.drain() {
            if let Pending::Plain(reply) | Pending::Subscribe(_, reply) = p {
                let _ = reply.send(Err(RoomsError::disconnected()));
            }
        }
        true
    }

    /// Sends request `body` with a new id; false if the connection failed.
    async fn send(&mut self, ws: &mut Ws, pending: &mut HashMap<u64, Pending>, mut body: Value, p: Pending) -> bool {
        let id = self.next_id;
        self.next_id += 1;
        body["id"] = id.into();
        pending.insert(id, p);
        ws.send(Message::text(body.to_string())).await.is_ok()
    }

    /// A command on a live connection; false if the connection failed.
    async fn online(&mut self, cmd: Command, ws: &mut Ws, pending: &mut HashMap<u64, Pending>) -> bool {
        match cmd {
            Command::Subscribe { room, presence, reply } => {
                if self.rooms.contains_key(&room) {
                    let _ = reply.send(Err(already(&room)));
                    return true;
                }
                let followed = Followed {
                    presence,
                    last: None,
                    waiting: None,
                };
                self.rooms.insert(room.clone(), followed);
                let body = json!({"type": "subscribe", "room": room, "presence": presence});
                self.send(ws, pending, body, Pending::Subscribe(room, reply)).await
            }
            Command::Unsubscribe { room, reply } => {
                self.rooms.remove(&room);
                let body = json!({"type": "unsubscribe", "room": room});
                self.send(ws, pending, body, Pending::Plain(reply)).await
            }
            Command::Refresh { token, reply } => {
                self.token = Some(token.clone());
                let body = json!({"type": "refresh", "token": token});
                self.send(ws, pending, body, Pending::Plain(reply)).await
            }
            Command::Request { body, reply } => self.send(ws, pending, body, Pending::Plain(reply)).await,
        }
    }

    async fn emit(&self, event: Event) {
        // Waits while the application is behind: reading stops, and the
        // server's slow-consumer policy bounds what waits there.
        let _ = self.events.send(event).await;
    }

    /// One message from the server.
    async fn receive(&mut self, raw: &str, pending: &mut HashMap<u64, Pending>) {
        let Ok(v) = serde_json::from_str::<Value>(raw) else {
            return;
        };
        let kind = v["type"].as_str().unwrap_or_default();
        if let Some(p) = v["id"].as_u64().and_then(|id| pending.remove(&id)) {
            let answer = if kind == "error" {
                Err(RoomsError::new(
                    v["code"].as_str().unwrap_or("error"),
                    text(&v["message"]),
                ))
            } else {
                Ok(v)
            };
            return self.answered(p, answer).await;
        }
        let room = v["room"].as_str().unwrap_or_default();
        match kind {
            "welcome" => {
                let event = Event::Connected {
                    client: text(&v["client"]),
                    user: v["user"].as_str().map(str::to_owned),
                };
                self.emit(event).await;
            }
            "pub" => {
                let Some(p) = publication(&v) else { return };
                let Some(f) = self.rooms.get_mut(room) else { return };
                let seen = f
                    .last
                    .as_ref()
                    .is_some_and(|l| l.epoch == p.position.epoch && p.position.offset <= l.offset);
                if seen {
                    return;
                }
                // Another epoch while subscribed: the server lost the
                // room's history (Redis restarted empty, say).
                let lost = f
                    .last
                    .replace(p.position.clone())
                    .filter(|l| l.epoch != p.position.epoch);
                if let Some(previous) = lost {
                    let now = Position {
                        offset: p.position.offset.saturating_sub(1),
                        epoch: p.position.epoch.clone(),
                    };
                    let room = room.to_owned();
                    self.emit(Event::NotRecovered { room, previous, now }).await;
                }
                self.emit(Event::Publication(p)).await;
            }
            "join" | "leave" if self.rooms.contains_key(room) => {
                let (room, member) = (room.to_owned(), member(&v));
                let event = if kind == "join" {
                    Event::Join { room, member }
                } else {
                    Event::Leave { room, member }
                };
                self.emit(event).await;
            }
            "unsubscribed" if self.rooms.remove(room).is_some() => {
                let event = Event::Unsubscribed {
                    room: room.to_owned(),
                    reason: text(&v["reason"]),
                };
                self.emit(event).await;
            }
            "expired" => {
                let grace = v["grace"].as_u64().unwrap_or(0);
                self.emit(Event::Expired { grace }).await;
            }
            _ => {}
        }
    }

    /// The answer to a request of ours.
    async fn answered(&mut self, p: Pending, answer: Result<Value, RoomsError>) {
        match (p, answer) {
            (Pending::Plain(reply), answer) => {
                let _ = reply.send(answer);
            }
            (Pending::Subscribe(room, reply), answer) => {
                match &answer {
                    Ok(v) => {
                        if let Some(f) = self.rooms.get_mut(&room) {
                            f.last.get_or_insert_with(|| position(v));
                        }
                    }
                    Err(_) => {
                        self.rooms.remove(&room);
                    }
                }
                let _ = reply.send(answer);
            }
            (Pending::Resubscribe(room), Ok(v)) => {
                let now = position(&v);
                let Some(f) = self.rooms.get_mut(&room) else { return };
                let event = match f.last.clone() {
                    Some(previous) if !(v["recovered"] == true && previous.epoch == now.epoch) => {
                        f.last = Some(now.clone());
                        Event::NotRecovered { room, previous, now }
                    }
                    Some(_) => Event::Recovered {
                        room,
                        missed: v["missed"].as_u64().unwrap_or(0),
                    },
                    None => {
                        f.last = Some(now);
                        return;
                    }
                };
                self.emit(event).await;
            }
            (Pending::Resubscribe(room), Err(e)) => {
                if self.rooms.remove(&room).is_some() {
                    let reason = e.to_string();
                    self.emit(Event::Unsubscribed { room, reason }).await;
                }
            }
        }
    }
}

fn already(room: &str) -> RoomsError {
    RoomsError::new("already_subscribed", format!("already following {room:?}"))
}
