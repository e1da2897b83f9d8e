//! `/chat`: the JSON chat protocol of MDN's WebSocket chat example
//! (subprotocol `json`).
//!
//! - On connect the server sends `{"type":"id","id":N}`.
//! - `{"type":"username","name":…}` sets the sender's name, made unique by
//!   appending a number; if it had to change, the sender gets
//!   `{"type":"rejectusername","id":N,"name":unique}`. Everyone then gets
//!   `{"type":"userlist","users":[…]}` (also when someone leaves).
//! - `{"type":"message","text":…}` goes to everyone with the sender's `name`
//!   and `id` and with HTML tags stripped from `text`.

use std::sync::Arc;

use serde_json::{json, Value};
use wsbolt::Message;

use super::{member_loop, queue_out, Ctx, Done, NoAlarm, Ws};
use crate::rooms::{MemberId, Rooms};

const ROOM: &str = "chat";

/// The route's entry point: chats until the connection ends.
pub(crate) fn serve(mut ws: Ws, mut ctx: Ctx, done: Done) {
    let rooms = ctx.env.rooms.clone();
    let me = rooms.join(ROOM, ctx.env.limits.max_outbound_queue);
    let id = me.id;
    queue_out(
        &mut ws,
        Message::text(json!({"type": "id", "id": id}).to_string()),
        &ctx.env,
        &mut ctx.access,
    );
    let on_message = {
        let rooms = rooms.clone();
        move |msg: Message| handle(rooms.clone(), id, msg)
    };
    let on_leave = move || leave(rooms, id);
    done.spawn(member_loop(ws, ctx, me, on_message, on_leave, NoAlarm));
}

/// Acts on one message; the answers go through the room (chat answers
/// nothing directly).
async fn handle(rooms: Arc<dyn Rooms>, id: MemberId, msg: Message) -> Vec<Message> {
    act(rooms, id, msg).await;
    Vec::new()
}

async fn act(rooms: Arc<dyn Rooms>, id: MemberId, msg: Message) {
    let Message::Text(text) = msg else { return };
    let Ok(Value::Object(mut msg)) = serde_json::from_str::<Value>(text.as_str()) else {
        return;
    };
    match msg.get("type").and_then(Value::as_str) {
        Some("username") => {
            let wanted = msg.get("name").and_then(Value::as_str).unwrap_or("").trim().to_string();
            let wanted = if wanted.is_empty() {
                format!("user{id}")
            } else {
                strip_tags(&wanted)
            };
            let name = rooms.claim_name(ROOM, id, &wanted).await;
            if name != wanted {
                let reject = json!({"type": "rejectusername", "id": id, "name": name});
                rooms.send(ROOM, id, &Message::text(reject.to_string()));
            }
            send_userlist(&*rooms).await;
        }
        Some("message") => {
            let name = rooms.name(ROOM, id);
            let text = msg
                .get("text")
                .and_then(Value::as_str)
                .map(strip_tags)
                .unwrap_or_default();
            msg.insert("text".into(), Value::String(text));
            msg.insert("name".into(), name.map_or(Value::Null, Value::String));
            msg.insert("id".into(), json!(id));
            rooms.publish(ROOM, &Message::text(Value::Object(msg).to_string()));
        }
        _ => {}
    }
}

async fn leave(rooms: Arc<dyn Rooms>, id: MemberId) {
    let had_name = rooms.name(ROOM, id).is_some();
    rooms.leave(ROOM, id);
    if had_name {
        send_userlist(&*rooms).await;
    }
}

/// The route's background work: [`resend_userlists`] in a task of its own.
pub(crate) fn start(env: &super::Env, stop: super::Shutdown) {
    tokio::spawn(resend_userlists(env.rooms.clone(), stop));
}

/// Sends the user list again when a shared backend dropped the users of a
/// node that stopped answering. Runs until the server stops.
async fn resend_userlists(rooms: Arc<dyn Rooms>, stop: super::Shutdown) {
    let mut departures = rooms.departures();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            room = departures.recv() => match room {
                Ok(room) if room == ROOM => send_userlist(&*rooms).await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => send_userlist(&*rooms).await,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

async fn send_userlist(rooms: &dyn Rooms) {
    let users = rooms.users(ROOM).await;
    rooms.publish(
        ROOM,
        &Message::text(json!({"type": "userlist", "users": users}).to_string()),
    );
}

/// Removes HTML tags (`<` then at least one character then `>`), as the MDN
/// example's server does, so chat text cannot inject markup.
pub(crate) fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('>') {
            Some(end) if end > 0 => rest = &after[end + 1..],
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::strip_tags;

    #[test]
    fn tags_are_stripped() {
        assert_eq!(strip_tags("hi <b>there</b>"), "hi there");
        assert_eq!(strip_tags("<script>alert(1)</script>x"), "alert(1)x");
        assert_eq!(strip_tags("a < b and c <> d"), "a  d");
        assert_eq!(strip_tags("1 < 2"), "1 < 2");
        assert_eq!(strip_tags("<img src=x onerror=alert(1)>"), "");
    }
}
