//! `/rooms`: the `wsbolt.rooms.v1` protocol (docs/rooms-protocol.md) on
//! the server's [`RoomLog`] (this node's, or a copy of Redis' with
//! `--redis`): subscribe with recovery, publish, history,
//! presence, and with `rooms-token-key` the token's rooms and expiry.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::value::RawValue;
use tokio::time::Instant;
use wsbolt::{CloseFrame, Message, Utf8Bytes};

use super::{member_loop, queue_out, Alarm, Ctx, Done, Env, Ws};
use crate::rooms::log::store::Unavailable;
use crate::rooms::log::wire::{self, Refusal};
use crate::rooms::log::Client;
use crate::rooms::Position;
use crate::tokens::{Grant, TOKEN_EXPIRED};

/// The route's entry point without tokens.
pub(crate) fn serve(ws: Ws, ctx: Ctx, done: Done) {
    start(ws, ctx, done, None);
}

/// The route's entry point for a client whose token was verified.
pub(crate) fn serve_granted(ws: Ws, ctx: Ctx, done: Done, grant: Grant) {
    start(ws, ctx, done, Some(grant));
}

fn start(mut ws: Ws, mut ctx: Ctx, done: Done, grant: Option<Grant>) {
    let env = ctx.env.clone();
    let user = grant.as_ref().map(|g| g.user.as_str());
    let (client, inbox) = env.room_log.connect(user, env.limits.max_outbound_queue);
    let welcome = wire::welcome(
        client.id(),
        client.user(),
        env.max_subscriptions,
        env.room_log.limits().size,
    );
    queue_out(&mut ws, Message::Text(welcome), &env, &mut ctx.access);
    let session = Shared(Arc::new(Mutex::new(Session {
        env,
        client,
        rooms: HashSet::new(),
        token: grant.map(Token::new),
    })));
    let on_message = {
        let session = session.clone();
        move |msg: Message| {
            let session = session.clone();
            async move { session.answer(msg).await }
        }
    };
    let on_leave = {
        let session = session.clone();
        move || {
            session.lock().leave_all();
            std::future::ready(())
        }
    };
    done.spawn(member_loop(ws, ctx, inbox, on_message, on_leave, session));
}

/// One connection's side of the protocol.
struct Session {
    env: Arc<Env>,
    client: Client,
    /// The rooms it is subscribed to.
    rooms: HashSet<Box<str>>,
    /// With tokens on: what the client's token allows, and until when.
    token: Option<Token>,
}

struct Token {
    grant: Grant,
    /// When the token expires, on this process's clock.
    expires_at: Instant,
    /// When the client was told its token expired.
    told: Option<Instant>,
}

impl Token {
    fn new(grant: Grant) -> Token {
        Token {
            expires_at: Instant::now() + grant.time_left(),
            grant,
            told: None,
        }
    }
}

/// The session as the connection's callbacks and its alarm share it.
#[derive(Clone)]
struct Shared(Arc<Mutex<Session>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Session> {
        self.0.lock().expect("session lock")
    }

    /// The answers to one message from the client: at once, or after the
    /// history's store answered (with `--redis`).
    async fn answer(&self, msg: Message) -> Vec<Message> {
        let later = match self.lock().answer(msg) {
            Step::Now(answers) => return answers,
            Step::Later(later) => later,
        };
        let id = later.id();
        match self.finish(later).await {
            Ok(answers) => answers.into_iter().map(Message::Text).collect(),
            Err(refusal) => vec![Message::Text(wire::error(id, &refusal))],
        }
    }

    /// Carries out a request that may wait for the store, with the
    /// session unlocked meanwhile.
    async fn finish(&self, later: Later) -> Result<Vec<Utf8Bytes>, Refusal> {
        let (log, user) = {
            let s = self.lock();
            (s.env.room_log.clone(), s.client.user().map(str::to_string))
        };
        match later {
            Later::Publish { id, room, data } => {
                let at = log
                    .publish_shared(user.as_deref(), &room, &data)
                    .await
                    .map_err(unavailable)?;
                Ok(vec![wire::published(id, &room, &at)])
            }
            Later::Presence { id, room } => {
                let clients = log.presence_shared(&room).await.map_err(unavailable)?;
                Ok(vec![wire::presence(id, &room, &clients)])
            }
            Later::History { id, room, limit } => {
                let (now, publications) = log.history_shared(&room, limit).await.map_err(unavailable)?;
                Ok(vec![wire::history(id, &room, &now, &publications)])
            }
            Later::Subscribe {
                id,
                room,
                since,
                presence,
            } => {
                // A room whose copy is dropped between being made ready and
                // the subscription (its last subscriber here left) is made
                // ready again.
                for _ in 0..3 {
                    log.ready(&room).await.map_err(unavailable)?;
                    let mut s = self.lock();
                    if let Some(sub) = log.subscribe(&s.client, &room, since.as_ref(), presence) {
                        s.rooms.insert(room.as_str().into());
                        let mut answers = Vec::with_capacity(1 + sub.missed.len());
                        answers.push(wire::subscribed(id, &room, &sub.now, sub.recovered, sub.missed.len()));
                        answers.extend(sub.missed);
                        return Ok(answers);
                    }
                }
                Err(Refusal::new("unavailable", "the room's history is changing: try again"))
            }
        }
    }
}

/// What [`Session::answer`] gives: the answers, or a request to finish
/// once the history's store answers.
enum Step {
    Now(Vec<Message>),
    Later(Later),
}

/// A request that may wait for the history's store.
enum Later {
    Subscribe {
        id: Option<u64>,
        room: String,
        since: Option<Position>,
        presence: bool,
    },
    Publish {
        id: Option<u64>,
        room: String,
        data: Box<RawValue>,
    },
    History {
        id: Option<u64>,
        room: String,
        limit: usize,
    },
    Presence {
        id: Option<u64>,
        room: String,
    },
}

impl Later {
    fn id(&self) -> Option<u64> {
        match self {
            Later::Subscribe { id, .. }
            | Later::Publish { id, .. }
            | Later::History { id, .. }
            | Later::Presence { id, .. } => *id,
        }
    }
}

fn unavailable(why: Unavailable) -> Refusal {
    Refusal::new("unavailable", why.to_string())
}

/// A token's expiry: at it the client is told, a grace period later (with
/// no new token) closed with [`TOKEN_EXPIRED`].
impl Alarm for Shared {
    fn next(&mut self) -> Option<Instant> {
        let s = self.lock();
        let grace = s.env.token_grace;
        s.token
            .as_ref()
            .map(|t| t.told.map_or(t.expires_at, |told| told + grace))
    }

    fn ring(&mut self) -> Vec<Message> {
        let mut s = self.lock();
        let grace = s.env.token_grace;
        let Some(token) = s.token.as_mut() else {
            return Vec::new();
        };
        if token.told.is_none() {
            token.told = Some(Instant::now());
            return vec![Message::Text(wire::expired(grace.as_secs()))];
        }
        vec![Message::Close(CloseFrame::new(TOKEN_EXPIRED, "token expired").ok())]
    }
}

impl Session {
    /// The answers to one message from the client, or what is left to do
    /// once the history's store answers.
    fn answer(&mut self, msg: Message) -> Step {
        let Message::Text(text) = msg else {
            let why = "wsbolt.rooms.v1 messages are JSON text";
            return Step::Now(vec![Message::Close(CloseFrame::new(1003u16, why).ok())]);
        };
        let (request, id) = match wire::parse(&text) {
            Ok(parsed) => parsed,
            Err((refusal, id)) => return Step::Now(vec![Message::Text(wire::error(id, &refusal))]),
        };
        match self.act(&request, id) {
            Ok(Step::Now(answers)) => Step::Now(answers),
            Ok(later) => later,
            Err(refusal) => Step::Now(vec![Message::Text(wire::error(id, &refusal))]),
        }
    }

    /// Carries out request `id`: its answers (the reply first), what is
    /// left to do, or why not.
    fn act(&mut self, r: &wire::Raw<'_>, id: Option<u64>) -> Result<Step, Refusal> {
        let now = |answers: Vec<Utf8Bytes>| Step::Now(answers.into_iter().map(Message::Text).collect());
        if r.kind == "refresh" {
            return self.refresh(r, id).map(now);
        }
        if self.token.as_ref().is_some_and(|t| t.told.is_some()) {
            return Err(Refusal::new("token_expired", "the token expired: send a refresh"));
        }
        let log = &self.env.room_log;
        match r.kind.as_str() {
            "subscribe" => self.subscribe(r, id),
            "unsubscribe" => {
                let room = wire::room(r.room.as_deref())?;
                if !self.rooms.remove(room) {
                    return Err(Refusal::new("not_subscribed", format!("not subscribed to {room:?}")));
                }
                log.unsubscribe(&self.client, room);
                Ok(now(vec![wire::done("unsubscribed", id, room)]))
            }
            "publish" => {
                let room = self.allowed(r, Grant::may_publish, "publishing to")?;
                let data = r
                    .data
                    .ok_or_else(|| Refusal::new("bad_request", "publish needs data (any JSON value)"))?;
                Ok(Step::Later(Later::Publish {
                    id,
                    room: room.to_string(),
                    data: data.to_owned(),
                }))
            }
            "history" => {
                let room = self.allowed(r, Grant::may_subscribe, "reading")?;
                let size = log.limits().size;
                let limit = r.limit.map_or(size, |l| l.min(size as u64) as usize);
                Ok(Step::Later(Later::History {
                    id,
                    room: room.to_string(),
                    limit,
                }))
            }
            "presence" => {
                let room = self.allowed(r, Grant::may_subscribe, "reading")?;
                Ok(Step::Later(Later::Presence {
                    id,
                    room: room.to_string(),
                }))
            }
            other => Err(Refusal::new(
                "unknown_type",
                format!(
                    "unknown request type {:?}: subscribe, unsubscribe, publish, history, presence or refresh",
                    other.chars().take(64).collect::<String>()
                ),
            )),
        }
    }

    /// The request's room, if it is a valid name the token allows (`may`;
    /// `what` says what for the refusal).
    fn allowed<'r>(&self, r: &'r wire::Raw<'_>, may: fn(&Grant, &str) -> bool, what: &str) -> Result<&'r str, Refusal> {
        let room = wire::room(r.room.as_deref())?;
        match &self.token {
            Some(t) if !may(&t.grant, room) => Err(Refusal::new(
                "forbidden",
                format!("the token does not allow {what} {room:?}"),
            )),
            _ => Ok(room),
        }
    }

    fn subscribe(&mut self, r: &wire::Raw<'_>, id: Option<u64>) -> Result<Step, Refusal> {
        let room = self.allowed(r, Grant::may_subscribe, "subscribing to")?;
        if self.rooms.contains(room) {
            return Err(Refusal::new(
                "already_subscribed",
                format!("already subscribed to {room:?}"),
            ));
        }
        let max = self.env.max_subscriptions;
        if self.rooms.len() >= max {
            return Err(Refusal::new(
                "too_many_subscriptions",
                format!("at most {max} rooms per connection"),
            ));
        }
        let since = r.since.as_ref().map(|s| Position {
            offset: s.offset,
            epoch: s.epoch.as_str().into(),
        });
        Ok(Step::Later(Later::Subscribe {
            id,
            room: room.to_string(),
            since,
            presence: r.presence,
        }))
    }

    /// Replaces the token (same user): its rooms and expiry apply from now
    /// on; subscriptions it no longer allows end.
    fn refresh(&mut self, r: &wire::Raw<'_>, id: Option<u64>) -> Result<Vec<Utf8Bytes>, Refusal> {
        let (Some(tokens), Some(old)) = (&self.env.tokens, &self.token) else {
            return Err(Refusal::new("bad_request", "this server takes no tokens"));
        };
        let token = r
            .token
            .as_deref()
            .ok_or_else(|| Refusal::new("bad_request", "refresh needs a token"))?;
        let grant = tokens.verify(token).map_err(|why| Refusal::new("bad_token", why))?;
        if grant.user != old.grant.user {
            return Err(Refusal::new("bad_token", "the new token is for another user"));
        }
        let expires = grant.expires;
        let mut answers = vec![wire::refreshed(id, expires)];
        let ended: Vec<Box<str>> = self.rooms.iter().filter(|r| !grant.may_subscribe(r)).cloned().collect();
        for room in ended {
            self.rooms.remove(&room);
            self.env.room_log.unsubscribe(&self.client, &room);
            answers.push(wire::dropped(&room, "the new token does not allow it"));
        }
        self.token = Some(Token::new(grant));
        Ok(answers)
    }

    /// Leaves every room (the connection ended).
    fn leave_all(&mut self) {
        for room in self.rooms.drain() {
            self.env.room_log.unsubscribe(&self.client, &room);
        }
    }
}
