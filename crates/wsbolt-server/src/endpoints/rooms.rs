//! `/rooms`: the `wsbolt.rooms.v1` protocol (docs/rooms-protocol.md) on
//! this node's [`RoomLog`]: subscribe with recovery, publish, history,
//! presence.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use wsbolt::{CloseFrame, Message, Utf8Bytes};

use super::{member_loop, queue_out, Ctx, Done, Ws};
use crate::rooms::log::wire::{self, Refusal};
use crate::rooms::log::Client;
use crate::rooms::{Position, RoomLog};

/// The route's entry point: serves the protocol until the connection ends.
pub(crate) fn serve(mut ws: Ws, mut ctx: Ctx, done: Done) {
    let log = ctx.env.room_log.clone();
    let (client, inbox) = log.connect(None, ctx.env.limits.max_outbound_queue);
    let welcome = wire::welcome(client.id(), client.user(), ctx.env.max_subscriptions, log.limits().size);
    queue_out(&mut ws, Message::Text(welcome), &ctx.env, &mut ctx.access);
    let session = Arc::new(Mutex::new(Session {
        log,
        client,
        rooms: HashSet::new(),
        max_subscriptions: ctx.env.max_subscriptions,
    }));
    let on_message = {
        let session = session.clone();
        move |msg: Message| std::future::ready(session.lock().expect("session lock").answer(msg))
    };
    let on_leave = move || {
        session.lock().expect("session lock").leave_all();
        std::future::ready(())
    };
    done.spawn(member_loop(ws, ctx, inbox, on_message, on_leave));
}

/// One connection's side of the protocol.
struct Session {
    log: Arc<RoomLog>,
    client: Client,
    /// The rooms it is subscribed to.
    rooms: HashSet<Box<str>>,
    max_subscriptions: usize,
}

impl Session {
    /// The answers to one message from the client.
    fn answer(&mut self, msg: Message) -> Vec<Message> {
        let Message::Text(text) = msg else {
            let why = "wsbolt.rooms.v1 messages are JSON text";
            return vec![Message::Close(CloseFrame::new(1003u16, why).ok())];
        };
        let (request, id) = match wire::parse(&text) {
            Ok(parsed) => parsed,
            Err((refusal, id)) => return vec![Message::Text(wire::error(id, &refusal))],
        };
        match self.act(&request, id) {
            Ok(answers) => answers.into_iter().map(Message::Text).collect(),
            Err(refusal) => vec![Message::Text(wire::error(id, &refusal))],
        }
    }

    /// Carries out request `id`: its answers (the reply first), or why not.
    fn act(&mut self, r: &wire::Raw<'_>, id: Option<u64>) -> Result<Vec<Utf8Bytes>, Refusal> {
        match r.kind.as_str() {
            "subscribe" => self.subscribe(r, id),
            "unsubscribe" => {
                let room = wire::room(r.room.as_deref())?;
                if !self.rooms.remove(room) {
                    return Err(Refusal::new("not_subscribed", format!("not subscribed to {room:?}")));
                }
                self.log.unsubscribe(&self.client, room);
                Ok(vec![wire::done("unsubscribed", id, room)])
            }
            "publish" => {
                let room = wire::room(r.room.as_deref())?;
                let data = r
                    .data
                    .ok_or_else(|| Refusal::new("bad_request", "publish needs data (any JSON value)"))?;
                let at = self.log.publish(&self.client, room, data);
                Ok(vec![wire::published(id, room, &at)])
            }
            "history" => {
                let room = wire::room(r.room.as_deref())?;
                let size = self.log.limits().size;
                let limit = r.limit.map_or(size, |l| l.min(size as u64) as usize);
                let (now, publications) = self.log.history(room, limit);
                Ok(vec![wire::history(id, room, &now, &publications)])
            }
            "presence" => {
                let room = wire::room(r.room.as_deref())?;
                Ok(vec![wire::presence(id, room, &self.log.presence(room))])
            }
            other => Err(Refusal::new(
                "unknown_type",
                format!(
                    "unknown request type {:?}: subscribe, unsubscribe, publish, history or presence",
                    other.chars().take(64).collect::<String>()
                ),
            )),
        }
    }

    fn subscribe(&mut self, r: &wire::Raw<'_>, id: Option<u64>) -> Result<Vec<Utf8Bytes>, Refusal> {
        let room = wire::room(r.room.as_deref())?;
        if self.rooms.contains(room) {
            return Err(Refusal::new(
                "already_subscribed",
                format!("already subscribed to {room:?}"),
            ));
        }
        if self.rooms.len() >= self.max_subscriptions {
            return Err(Refusal::new(
                "too_many_subscriptions",
                format!("at most {} rooms per connection", self.max_subscriptions),
            ));
        }
        let since = r.since.as_ref().map(|s| Position {
            offset: s.offset,
            epoch: s.epoch.as_str().into(),
        });
        let s = self.log.subscribe(&self.client, room, since.as_ref(), r.presence);
        self.rooms.insert(room.into());
        let mut answers = Vec::with_capacity(1 + s.missed.len());
        answers.push(wire::subscribed(id, room, &s.now, s.recovered, s.missed.len()));
        answers.extend(s.missed);
        Ok(answers)
    }

    /// Leaves every room (the connection ended).
    fn leave_all(&mut self) {
        for room in self.rooms.drain() {
            self.log.unsubscribe(&self.client, &room);
        }
    }
}
