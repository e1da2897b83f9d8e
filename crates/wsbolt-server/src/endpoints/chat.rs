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

use serde_json::{json, Value};
use wsbolt::Message;

use super::{member_loop, queue_out, Ctx, Ws};
use crate::endpoints::Room;

/// Chats until the connection ends.
pub async fn run(mut ws: Ws, ctx: &Ctx) -> u16 {
    let room = &ctx.state.chat;
    let limit = ctx.state.config.max_outbound_queue;
    let me = room.join();
    let id = me.id;
    queue_out(&mut ws, Message::text(json!({"type": "id", "id": id}).to_string()), ctx);
    let on_message = |msg: Message| {
        if let Message::Text(t) = &msg {
            handle(room, id, t.as_str(), limit);
        }
    };
    member_loop(ws, ctx, me, on_message, || leave(room, id, limit)).await
}

fn handle(room: &Room, id: u64, text: &str, limit: usize) {
    let Ok(Value::Object(mut msg)) = serde_json::from_str::<Value>(text) else {
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
            let (name, changed) = {
                let mut members = room.members.lock().expect("room lock");
                let taken = |n: &str| {
                    members
                        .iter()
                        .any(|(other, m)| *other != id && m.name.as_deref() == Some(n))
                };
                let mut name = wanted.clone();
                let mut suffix = 1;
                while taken(&name) {
                    name = format!("{wanted}{suffix}");
                    suffix += 1;
                }
                if let Some(m) = members.get_mut(&id) {
                    m.name = Some(name.clone());
                }
                let changed = name != wanted;
                (name, changed)
            };
            if changed {
                let reject = json!({"type": "rejectusername", "id": id, "name": name});
                room.send(id, Message::text(reject.to_string()), limit);
            }
            send_userlist(room, limit);
        }
        Some("message") => {
            let name = room
                .members
                .lock()
                .expect("room lock")
                .get(&id)
                .and_then(|m| m.name.clone());
            let text = msg
                .get("text")
                .and_then(Value::as_str)
                .map(strip_tags)
                .unwrap_or_default();
            msg.insert("text".into(), Value::String(text));
            msg.insert("name".into(), name.map_or(Value::Null, Value::String));
            msg.insert("id".into(), json!(id));
            room.publish(&Message::text(Value::Object(msg).to_string()), limit);
        }
        _ => {}
    }
}

fn leave(room: &Room, id: u64, limit: usize) {
    let had_name = room
        .members
        .lock()
        .expect("room lock")
        .remove(&id)
        .is_some_and(|m| m.name.is_some());
    if had_name {
        send_userlist(room, limit);
    }
}

fn send_userlist(room: &Room, limit: usize) {
    let users: Vec<String> = room
        .members
        .lock()
        .expect("room lock")
        .values()
        .filter_map(|m| m.name.clone())
        .collect();
    room.publish(
        &Message::text(json!({"type": "userlist", "users": users}).to_string()),
        limit,
    );
}

/// Removes HTML tags (`<` then at least one character then `>`), as the MDN
/// example's server does, so chat text cannot inject markup.
pub fn strip_tags(s: &str) -> String {
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
