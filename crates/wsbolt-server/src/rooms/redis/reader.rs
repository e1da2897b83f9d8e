//! The reader: follows the stream of every room that has members on this
//! node, from the moment the room got its first member here, and hands the
//! other nodes' messages to the local members (framed once per node).
//!
//! Offsets make it resumable: after a lost connection it reads on from the
//! last entry it saw, so what was appended meanwhile still arrives, as long
//! as the stream has not trimmed it (`stream-length` entries per room).
//! Sequence numbers per sender and room drop copies (an append retried after
//! a lost answer) and count what was trimmed before it was read.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::streams::{StreamId, StreamReadReply};
use redis::Value;
use wsbolt::{Message, Utf8Bytes};

use super::link::Conn;
use super::stats::Link;
use super::{now_ms, Shared};
use crate::rooms::Rooms;

/// How long one blocking read waits for new entries. A room that gets its
/// first member here is followed from its join time, so this only bounds
/// how late the first messages of such a room may come.
const BLOCK: Duration = Duration::from_millis(250);
/// A room is followed from this long before its first member here joined,
/// so that an error in the measured clock offset never skips a message
/// sent after the join (the member may get one sent just before instead).
const FOLLOW_MARGIN_MS: i64 = 100;
/// Most entries taken in one read.
const COUNT: usize = 512;
/// A sender not heard from for this long is forgotten (its node is gone,
/// or it has not published for a long while: its next message just starts
/// a new count).
const FORGET_SENDER: Duration = Duration::from_secs(600);

/// The last sequence number seen per sender and room.
#[derive(Default)]
struct Seen {
    last: HashMap<(String, String), (u64, Instant)>,
    pruned: Option<Instant>,
}

enum Verdict {
    New,
    Duplicate,
}

impl Seen {
    fn check(&mut self, shared: &Shared, node: &str, room: &str, seq: u64) -> Verdict {
        let now = Instant::now();
        let key = (node.to_string(), room.to_string());
        let verdict = match self.last.get(&key) {
            Some(&(last, _)) if seq <= last => return Verdict::Duplicate,
            Some(&(last, _)) => {
                let missed = seq - last - 1;
                if missed > 0 {
                    shared.stats.lost.fetch_add(missed, Ordering::Relaxed);
                    tracing::warn!(
                        room,
                        node,
                        missed,
                        "messages trimmed from the stream before this node read them"
                    );
                }
                Verdict::New
            }
            None => Verdict::New,
        };
        self.last.insert(key, (seq, now));
        if self.pruned.is_none_or(|t| now.duration_since(t) > FORGET_SENDER) {
            self.last.retain(|_, (_, at)| now.duration_since(*at) < FORGET_SENDER);
            self.pruned = Some(now);
        }
        verdict
    }

    fn forget_room(&mut self, room: &str) {
        self.last.retain(|(_, r), _| r != room);
    }
}

/// Where the reader stands in one room's stream.
struct Cursor {
    /// The stream's key, made once.
    key: String,
    /// The id of the last entry read (or the start).
    last: String,
}

/// A blocking `XREAD` of at most [`COUNT`] entries per stream, waiting
/// [`BLOCK`], of each (stream key, last id read) given.
pub(super) fn xread<'a>(streams: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> redis::Cmd {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(COUNT)
        .arg("BLOCK")
        .arg(BLOCK.as_millis() as u64)
        .arg("STREAMS");
    // Keys, then ids, in the same order.
    for (key, _) in streams.clone() {
        cmd.arg(key);
    }
    for (_, last) in streams {
        cmd.arg(last);
    }
    cmd
}

/// The reader task: runs until cancelled.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut conn = Conn::new(Link::Reader);
    let mut cursors: HashMap<String, Cursor> = HashMap::new();
    let mut seen = Seen::default();
    loop {
        let (c, fresh) = conn.get(&shared).await;
        if fresh {
            if let Err(e) = measure_clock(&shared, c).await {
                conn.error(&shared, &e).await;
                continue;
            }
        }
        let follow = shared.followed();
        cursors.retain(|room, _| {
            let keep = follow.iter().any(|(r, _)| r == room);
            if !keep {
                seen.forget_room(room);
            }
            keep
        });
        let offset = shared.clock_offset_ms.load(Ordering::Acquire);
        for (room, since) in follow {
            cursors.entry(room).or_insert_with_key(|room| Cursor {
                key: shared.stream_key(room),
                last: format!("{}-0", (since + offset - FOLLOW_MARGIN_MS).max(0)),
            });
        }
        if cursors.is_empty() {
            // Nothing to read is nothing to catch up on.
            caught_up(&shared);
            let _ = tokio::time::timeout(Duration::from_secs(1), shared.follow_changed.notified()).await;
            continue;
        }
        let cmd = xread(cursors.values().map(|c| (c.key.as_str(), c.last.as_str())));
        match cmd.query_async::<Option<StreamReadReply>>(c).await {
            Ok(Some(reply)) => {
                // Fewer entries than asked for in every stream: this read
                // reaches the end of each.
                let at_end = reply.keys.iter().all(|stream| stream.ids.len() < COUNT);
                for stream in reply.keys {
                    let Some((room, cursor)) = cursors.iter_mut().find(|(_, cur)| cur.key == stream.key) else {
                        continue;
                    };
                    for entry in &stream.ids {
                        deliver(&shared, &mut seen, room, entry);
                    }
                    if let Some(last) = stream.ids.last() {
                        cursor.last.clone_from(&last.id);
                    }
                }
                if at_end {
                    caught_up(&shared);
                }
            }
            // Nothing new within the block time: at the end of every stream.
            Ok(None) => caught_up(&shared),
            Err(e) => conn.error(&shared, &e).await,
        }
    }
}

/// The reader reached the end of its streams. The first time after an
/// outage, the user lists it just delivered from the backlog are stale: the
/// other nodes wrote them while this node's users were away (and listed
/// without them). The endpoints send them again, after the stale ones.
fn caught_up(shared: &Shared) {
    if shared.catch_up.reader_caught_up() {
        for room in shared.local.room_names() {
            let _ = shared.departures.send(room);
        }
    }
}

/// Hands one entry to this node's members of `room`, unless this node wrote
/// it (its members had it at once) or it is a copy.
fn deliver(shared: &Shared, seen: &mut Seen, room: &str, entry: &StreamId) {
    let field = |name: &str| match entry.map.get(name) {
        Some(Value::BulkString(b)) => Some(b.as_slice()),
        _ => None,
    };
    let (Some(node), Some(seq), Some(kind), Some(data)) = (field("n"), field("s"), field("k"), field("d")) else {
        tracing::debug!(room, id = entry.id, "skipping an entry that is not ours");
        return;
    };
    let Ok(node) = std::str::from_utf8(node) else { return };
    if node == shared.node {
        return;
    }
    let Some(seq) = std::str::from_utf8(seq).ok().and_then(|s| s.parse::<u64>().ok()) else {
        return;
    };
    if let Verdict::Duplicate = seen.check(shared, node, room, seq) {
        shared.stats.duplicates.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let data = Bytes::copy_from_slice(data);
    let msg = if kind == b"b" {
        Message::binary(data)
    } else {
        match Utf8Bytes::try_from(data) {
            Ok(text) => Message::text(text),
            Err(_) => return,
        }
    };
    shared.local.publish(room, &msg);
    shared.stats.received.fetch_add(1, Ordering::Relaxed);
    if let Some(ms) = entry.id.split('-').next().and_then(|ms| ms.parse::<i64>().ok()) {
        let offset = shared.clock_offset_ms.load(Ordering::Acquire);
        let lag = now_ms() + offset - ms;
        shared.stats.lag_ms.store(lag.max(0), Ordering::Relaxed);
    }
}

/// Learns how far Redis' clock (which dates stream entries) is from this
/// node's, so that a room can be followed from a member's join time.
async fn measure_clock(shared: &Shared, c: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<()> {
    let before = now_ms();
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(c).await?;
    let after = now_ms();
    let redis_ms = secs * 1000 + micros / 1000;
    shared
        .clock_offset_ms
        .store(redis_ms - (before + after) / 2, Ordering::Release);
    Ok(())
}
