//! The reader of `/rooms`' streams: follows every room this node keeps a
//! copy of, from where its copy stands, and hands each publication to
//! [`RoomLog::apply`](crate::rooms::RoomLog::apply) in stream order (which
//! is offset order). After a lost connection it first compares each copy
//! with Redis: a copy of another epoch (Redis lost its data, or the room
//! was forgotten there) is replaced and followed from its new start;
//! otherwise reading resumes where it stopped. It also reads each room's
//! presence stream and hands other nodes' joins and leaves to the log.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::streams::{StreamId, StreamReadReply};

use super::history::{present_entry, publication_of, text_field, RedisHistory};
use super::link::Conn;
use super::reader::xread;
use super::stats::Link;
use crate::rooms::RoomLog;

/// Where the reader stands in one stream of a room.
struct Cursor {
    room: String,
    /// The presence stream (joins and leaves), not the publications.
    presence: bool,
    last: String,
}

/// The reader task: runs until the store is dropped.
pub(super) async fn run(store: Weak<RedisHistory>) {
    let mut conn = Conn::new(Link::History);
    // By stream key.
    let mut cursors: HashMap<String, Cursor> = HashMap::new();
    loop {
        let Some(store) = store.upgrade() else { return };
        let follows = store.take_follows();
        cursors.retain(|_, cur| follows.iter().any(|(r, _)| *r == cur.room));
        for (room, from) in follows {
            let Some(from) = from else { continue };
            let (log_from, presence_from) = from.split_once(' ').unwrap_or((from.as_str(), "0-0"));
            for (key, presence, last) in [
                (store.stream_key(&room), false, log_from),
                (store.presence_log_key(&room), true, presence_from),
            ] {
                let room = room.clone();
                let last = last.to_string();
                cursors.insert(key, Cursor { room, presence, last });
            }
        }
        if cursors.is_empty() {
            let _ = tokio::time::timeout(Duration::from_secs(1), store.follow_changed.notified()).await;
            continue;
        }
        let (c, fresh) = conn.get(&store.shared).await;
        if fresh {
            if let Err(e) = resync(&store, c, &cursors).await {
                conn.error(&store.shared, &e).await;
            }
            // Rooms replaced come back with their new cursors.
            continue;
        }
        let cmd = xread(cursors.iter().map(|(key, c)| (key.as_str(), c.last.as_str())));
        match cmd.query_async::<Option<StreamReadReply>>(c).await {
            Ok(Some(reply)) => {
                let Some(log) = store.log() else { return };
                for stream in reply.keys {
                    let Some(cursor) = cursors.get_mut(&stream.key) else {
                        continue;
                    };
                    for entry in &stream.ids {
                        if cursor.presence {
                            presence_event(&store, &log, &cursor.room, entry);
                            continue;
                        }
                        match publication_of(entry) {
                            Some((epoch, publication)) => log.apply(&cursor.room, &epoch, publication),
                            None => tracing::debug!(
                                room = cursor.room,
                                id = entry.id,
                                "skipping an entry that is not a publication"
                            ),
                        }
                    }
                    if let Some(last) = stream.ids.last() {
                        cursor.last.clone_from(&last.id);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => conn.error(&store.shared, &e).await,
        }
    }
}

/// Hands another node's join or leave to the log.
fn presence_event(store: &RedisHistory, log: &RoomLog, room: &str, entry: &StreamId) {
    let text = |name| text_field(entry, name);
    let (Some(kind), Some(client), Some(value)) = (text("k"), text("c"), text("v")) else {
        return;
    };
    let Some((client, node, user)) = present_entry(client, value) else {
        return;
    };
    if node != store.node() {
        log.apply_presence(room, kind == "j", client, user.as_deref());
    }
}

/// Compares every followed room's copy with Redis after a new connection,
/// replacing copies of another epoch (which re-follows them).
async fn resync(
    store: &Arc<RedisHistory>,
    c: &mut redis::aio::MultiplexedConnection,
    cursors: &HashMap<String, Cursor>,
) -> redis::RedisResult<()> {
    let Some(log) = store.log() else { return Ok(()) };
    let size = log.limits().size;
    let rooms: std::collections::HashSet<&String> = cursors.values().map(|c| &c.room).collect();
    for room in rooms {
        let snapshot = store.snapshot_on(c, room, size, true).await?;
        if log.install(room, snapshot, true) {
            tracing::info!(
                room,
                "/rooms: Redis has another epoch for this room (it lost its data?): clients recover from the new one"
            );
        }
    }
    Ok(())
}
