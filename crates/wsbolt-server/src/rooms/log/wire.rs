//! The JSON of `wsbolt.rooms.v1` (docs/rooms-protocol.md): requests as a
//! client sends them, and what the server sends back.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use wsbolt::Utf8Bytes;

use super::history::Position;
use super::MemberId;

/// The subprotocol.
pub const PROTOCOL: &str = "wsbolt.rooms.v1";

/// The largest request id: integers a JavaScript number holds exactly.
pub(crate) const MAX_ID: u64 = (1 << 53) - 1;

/// The longest room name, in bytes.
pub const MAX_ROOM_LEN: usize = 128;

/// A request as sent: every field optional, checked per type.
#[derive(Debug, Deserialize)]
pub(crate) struct Raw<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    pub room: Option<String>,
    pub since: Option<Since>,
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
    pub limit: Option<u64>,
    #[serde(default)]
    pub presence: bool,
    pub token: Option<String>,
}

/// A position as a client sends it back.
#[derive(Debug, Deserialize)]
pub(crate) struct Since {
    pub offset: u64,
    pub epoch: String,
}

/// A refused request: its code (docs/rooms-protocol.md lists them) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The error's code, for programs.
    pub code: &'static str,
    /// Why, for people.
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// Reads a request: the parsed fields and its id, or a refusal (with the id
/// if one could be read).
pub(crate) fn parse(text: &str) -> Result<(Raw<'_>, Option<u64>), (Refusal, Option<u64>)> {
    let raw: Raw<'_> = serde_json::from_str(text).map_err(|e| {
        let id = serde_json::from_str::<IdOnly>(text).ok().and_then(|i| i.id);
        (Refusal::new("bad_request", format!("not a request: {e}")), id)
    })?;
    let id = match raw.id {
        None => None,
        Some(v) => match serde_json::from_str::<u64>(v.get()) {
            Ok(id) if id <= MAX_ID => Some(id),
            _ => {
                return Err((
                    Refusal::new("bad_request", format!("id must be an integer from 0 to {MAX_ID}")),
                    None,
                ))
            }
        },
    };
    Ok((raw, id))
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<u64>,
}

/// Checks a room name: 1 to [`MAX_ROOM_LEN`] bytes, no control characters.
pub(crate) fn room(name: Option<&str>) -> Result<&str, Refusal> {
    let name = name.ok_or_else(|| Refusal::new("bad_request", "this request needs a room"))?;
    if name.is_empty() || name.len() > MAX_ROOM_LEN || name.chars().any(char::is_control) {
        return Err(Refusal::new(
            "bad_room",
            format!("a room name is 1 to {MAX_ROOM_LEN} bytes without control characters"),
        ));
    }
    Ok(name)
}

fn with_id(mut v: Value, id: Option<u64>) -> Utf8Bytes {
    if let (Some(id), Value::Object(map)) = (id, &mut v) {
        map.insert("id".into(), id.into());
    }
    Utf8Bytes::from(v.to_string())
}

/// `welcome`: the client's id, its user, and the limits that apply to it.
pub(crate) fn welcome(client: MemberId, user: Option<&str>, max_subscriptions: usize, history: usize) -> Utf8Bytes {
    let v = json!({
        "type": "welcome",
        "protocol": PROTOCOL,
        "client": client.to_string(),
        "user": user,
        "limits": {"subscriptions": max_subscriptions, "history": history},
    });
    Utf8Bytes::from(v.to_string())
}

/// `error`: a refused request.
pub(crate) fn error(id: Option<u64>, refusal: &Refusal) -> Utf8Bytes {
    with_id(
        json!({"type": "error", "code": refusal.code, "message": refusal.message}),
        id,
    )
}

/// `subscribed`: where the room stands and whether what was missed follows.
pub(crate) fn subscribed(id: Option<u64>, room: &str, now: &Position, recovered: bool, missed: usize) -> Utf8Bytes {
    with_id(
        json!({
            "type": "subscribed", "room": room, "offset": now.offset, "epoch": &*now.epoch,
            "recovered": recovered, "missed": missed,
        }),
        id,
    )
}

/// A reply that names its request's type and room (`unsubscribed`).
pub(crate) fn done(kind: &str, id: Option<u64>, room: &str) -> Utf8Bytes {
    with_id(json!({"type": kind, "room": room}), id)
}

/// `published`: where the publication went.
pub(crate) fn published(id: Option<u64>, room: &str, at: &Position) -> Utf8Bytes {
    with_id(
        json!({"type": "published", "room": room, "offset": at.offset, "epoch": &*at.epoch}),
        id,
    )
}

/// `pub`: a publication, as subscribers get it and as history keeps it.
pub(crate) fn publication(room: &str, at: &Position, user: Option<&str>, data: &RawValue) -> Utf8Bytes {
    let mut s = String::with_capacity(80 + room.len() + data.get().len());
    s.push_str("{\"type\":\"pub\",\"room\":");
    push_json(&mut s, room);
    s.push_str(",\"offset\":");
    s.push_str(&at.offset.to_string());
    s.push_str(",\"epoch\":");
    push_json(&mut s, &at.epoch);
    if let Some(user) = user {
        s.push_str(",\"user\":");
        push_json(&mut s, user);
    }
    s.push_str(",\"data\":");
    s.push_str(data.get());
    s.push('}');
    Utf8Bytes::from(s)
}

fn push_json(s: &mut String, text: &str) {
    s.push_str(&Value::from(text).to_string());
}

/// `history`: the last publications of a room, oldest first, each as `pub`
/// would carry it.
pub(crate) fn history(id: Option<u64>, room: &str, now: &Position, publications: &[Utf8Bytes]) -> Utf8Bytes {
    let head = with_id(
        json!({"type": "history", "room": room, "offset": now.offset, "epoch": &*now.epoch}),
        id,
    );
    let mut s = String::with_capacity(head.len() + 32 + publications.iter().map(|p| p.len() + 1).sum::<usize>());
    s.push_str(&head[..head.len() - 1]);
    s.push_str(",\"publications\":[");
    for (i, p) in publications.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(p);
    }
    s.push_str("]}");
    Utf8Bytes::from(s)
}

/// `presence`: who is subscribed to a room.
pub(crate) fn presence(id: Option<u64>, room: &str, clients: &[(MemberId, Option<String>)]) -> Utf8Bytes {
    let list: Vec<Value> = clients
        .iter()
        .map(|(c, u)| json!({"client": c.to_string(), "user": u}))
        .collect();
    with_id(json!({"type": "presence", "room": room, "clients": list}), id)
}

/// `expired`: the client's token expired; a `refresh` must come within
/// `grace` seconds.
pub(crate) fn expired(grace: u64) -> Utf8Bytes {
    Utf8Bytes::from(json!({"type": "expired", "grace": grace}).to_string())
}

/// `refreshed`: the new token is in force until `expires`.
pub(crate) fn refreshed(id: Option<u64>, expires: u64) -> Utf8Bytes {
    with_id(json!({"type": "refreshed", "expires": expires}), id)
}

/// `unsubscribed` without a request: the server ended the subscription.
pub(crate) fn dropped(room: &str, reason: &str) -> Utf8Bytes {
    Utf8Bytes::from(json!({"type": "unsubscribed", "room": room, "reason": reason}).to_string())
}

/// `join` or `leave`: a client subscribed to or left a room.
pub(crate) fn join_leave(kind: &str, room: &str, client: MemberId, user: Option<&str>) -> Utf8Bytes {
    Utf8Bytes::from(json!({"type": kind, "room": room, "client": client.to_string(), "user": user}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_and_bad_ones_refused_with_their_id_when_readable() {
        let (raw, id) = parse(r#"{"type":"publish","id":7,"room":"a","data":{"x":[1,2]}}"#).unwrap();
        assert_eq!(
            (raw.kind.as_str(), id, raw.room.as_deref()),
            ("publish", Some(7), Some("a"))
        );
        assert_eq!(raw.data.unwrap().get(), r#"{"x":[1,2]}"#);
        let (e, id) = parse(r#"{"id":3,"room":"a"}"#).unwrap_err();
        assert_eq!((e.code, id), ("bad_request", Some(3)));
        assert!(e.message.contains("missing field `type`"), "{}", e.message);
        assert_eq!(parse("not json").unwrap_err().0.code, "bad_request");
        assert_eq!(parse("[1]").unwrap_err().0.code, "bad_request");
        for bad in [r#""x""#, "-1", "1.5", "9007199254740992", &"9".repeat(400)] {
            let (e, id) = parse(&format!(r#"{{"type":"history","id":{bad}}}"#)).unwrap_err();
            assert_eq!((e.code, id), ("bad_request", None), "{bad}");
        }
        assert!(parse(&format!(r#"{{"type":"x","id":{MAX_ID}}}"#)).is_ok());
    }

    #[test]
    fn room_names_are_bounded() {
        assert_eq!(room(Some("news")), Ok("news"));
        assert_eq!(room(None).unwrap_err().code, "bad_request");
        for bad in [String::new(), "a".repeat(MAX_ROOM_LEN + 1), "a\nb".into()] {
            assert_eq!(room(Some(&bad)).unwrap_err().code, "bad_room");
        }
        assert!(room(Some(&"é".repeat(MAX_ROOM_LEN / 2))).is_ok());
    }

    #[test]
    fn a_publication_is_json_with_its_position_and_history_splices_them() {
        let at = Position {
            offset: 42,
            epoch: "e1".into(),
        };
        let data = RawValue::from_string(r#"{"t":"hi \"you\""}"#.into()).unwrap();
        let p = publication("a\"b", &at, Some("ann"), &data);
        let v: Value = serde_json::from_str(&p).unwrap();
        assert_eq!(
            v,
            json!({"type":"pub","room":"a\"b","offset":42,"epoch":"e1","user":"ann","data":{"t":"hi \"you\""}})
        );
        let h = history(Some(1), "a\"b", &at, &[p.clone(), p]);
        let v: Value = serde_json::from_str(&h).unwrap();
        assert_eq!(
            (v["id"].as_u64(), v["publications"].as_array().unwrap().len()),
            (Some(1), 2)
        );
        let h: Value = serde_json::from_str(&history(None, "r", &at, &[])).unwrap();
        assert_eq!(h["publications"], json!([]));
    }
}
