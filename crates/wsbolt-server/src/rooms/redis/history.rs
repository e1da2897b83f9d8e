//! `/rooms`' history in Redis: per room a hash `{PREFIX:ROOM}:meta` (its
//! epoch `e` and last offset `o`) and a stream `{PREFIX:ROOM}:log` of its
//! publications (fields `e` epoch, `o` offset, `t` time in ms on the
//! publishing node's clock, `u` user if any, `d` the JSON data), trimmed to
//! about the history size and expiring after the history age; the epoch is
//! kept for [`EPOCH_TTL`] after the last publication. Offsets and epochs are
//! assigned by one Lua script per publication, so every node numbers the
//! same way; a Redis that lost its data starts every room at a new epoch.
//!
//! Each node copies the rooms its clients subscribe to ([`RoomLog`]) and
//! follows their streams (`history_reader`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamRangeReply};
use redis::{Script, Value};
use serde_json::value::RawValue;
use tokio::sync::Notify;

use super::refusals::refusal_code;
use super::{now_ms, Shared};
use crate::rooms::log::store::{Clients, HistoryStore, Snapshot, Stored, Unavailable};
use crate::rooms::log::{new_epoch, HistoryLimits, Position, RoomLog};
use crate::rooms::BoxFuture;

/// How long a room's epoch and last offset outlive its last publication (its
/// publications themselves go after the history age): a client that saw
/// everything and comes back within it recovers without a reload.
pub(crate) const EPOCH_TTL: Duration = Duration::from_secs(24 * 3600);

/// After a failed connection, requests fail at once for this long instead
/// of each waiting for Redis.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// KEYS: meta, log. ARGV: new epoch, size, epoch TTL ms, age ms, time ms,
/// data, user, has user. Returns {epoch, offset}.
const APPEND: &str = r"
local e = redis.call('HGET', KEYS[1], 'e')
if not e then
  e = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', e, 'o', 0)
  redis.call('DEL', KEYS[2])
end
local o = redis.call('HINCRBY', KEYS[1], 'o', 1)
if ARGV[8] == '1' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', e, 'o', o, 't', ARGV[5], 'd', ARGV[6], 'u', ARGV[7])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', e, 'o', o, 't', ARGV[5], 'd', ARGV[6])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {e, o}
";

/// KEYS: meta, log, presence log. ARGV: new epoch, count, create, epoch TTL
/// ms. Returns {epoch or '', offset, cursor, entries newest first}; the
/// cursor is the last ids of the log and of the presence log.
const SNAPSHOT: &str = r"
local w = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local wc = '0-0'
if #w > 0 then
  wc = w[1][1]
end
local e = redis.call('HGET', KEYS[1], 'e')
local o = redis.call('HGET', KEYS[1], 'o')
if not e then
  if ARGV[3] ~= '1' then
    return {'', '0', '0-0 ' .. wc, {}}
  end
  e = ARGV[1]
  o = '0'
  redis.call('HSET', KEYS[1], 'e', e, 'o', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('DEL', KEYS[2])
end
local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[2])
local cursor = '0-0'
if #entries > 0 then
  cursor = entries[1][1]
end
return {e, o, cursor .. ' ' .. wc, entries}
";

/// A change of this node's presence, for the presence writer.
#[derive(Debug)]
pub(crate) enum Op {
    Present {
        room: String,
        client: u64,
        user: Option<String>,
    },
    Absent {
        room: String,
        client: u64,
    },
}

/// A presence entry's value.
pub(super) fn presence_value(node: &str, user: Option<&str>) -> String {
    serde_json::json!({"n": node, "u": user}).to_string()
}

/// (client id, node, user) from a presence entry: a client id and its
/// value, as the hash and the presence stream both keep them.
pub(super) fn present_entry(client: &str, value: &str) -> Option<(u64, String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(value).ok()?;
    let node = v["n"].as_str()?.to_string();
    Some((client.parse().ok()?, node, v["u"].as_str().map(str::to_string)))
}

/// A text field of a stream entry.
pub(super) fn text_field<'a>(entry: &'a StreamId, name: &str) -> Option<&'a str> {
    match entry.map.get(name) {
        Some(Value::BulkString(b)) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// The Redis side of [`RoomLog`]'s history ([`HistoryStore`]).
pub(crate) struct RedisHistory {
    pub(super) shared: Arc<Shared>,
    limits: HistoryLimits,
    conn: Mutex<Option<MultiplexedConnection>>,
    failed_at: Mutex<Option<Instant>>,
    /// Rooms to follow -> where from, until the reader took it.
    follow: Mutex<HashMap<String, Option<String>>>,
    pub(super) follow_changed: Notify,
    log: OnceLock<Weak<RoomLog>>,
    append: Script,
    snapshot: Script,
    /// Joins and leaves for the presence writer; when it is full (Redis
    /// away for long), its reconciliation repairs what was dropped.
    presence_ops: tokio::sync::mpsc::Sender<Op>,
}

impl std::fmt::Debug for RedisHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHistory")
            .field("redis", &self.shared.url)
            .finish_non_exhaustive()
    }
}

impl RedisHistory {
    pub(super) fn new(
        shared: Arc<Shared>,
        limits: HistoryLimits,
        presence_ops: tokio::sync::mpsc::Sender<Op>,
    ) -> RedisHistory {
        RedisHistory {
            presence_ops,
            shared,
            limits,
            conn: Mutex::new(None),
            failed_at: Mutex::new(None),
            follow: Mutex::new(HashMap::new()),
            follow_changed: Notify::new(),
            log: OnceLock::new(),
            append: Script::new(APPEND),
            snapshot: Script::new(SNAPSHOT),
        }
    }

    /// The log the reader feeds, while it lives.
    pub(super) fn log(&self) -> Option<Arc<RoomLog>> {
        self.log.get().and_then(Weak::upgrade)
    }

    /// The rooms followed, each with the cursor to restart it from if it
    /// was (re)installed since the last call.
    pub(super) fn take_follows(&self) -> Vec<(String, Option<String>)> {
        let mut follow = self.follow.lock().expect("follow lock");
        follow
            .iter_mut()
            .map(|(room, from)| (room.clone(), from.take()))
            .collect()
    }

    /// The rooms followed.
    pub(super) fn followed_rooms(&self) -> Vec<String> {
        self.follow.lock().expect("follow lock").keys().cloned().collect()
    }

    pub(super) fn stream_key(&self, room: &str) -> String {
        self.shared.key(room, "log")
    }

    /// The hash of the room's subscribers on every node (client id → JSON
    /// `{"n": node, "u": user}`).
    pub(super) fn presence_key(&self, room: &str) -> String {
        self.shared.key(room, "present")
    }

    /// The stream of the room's joins and leaves (`k` `j` or `l`, `c` the
    /// client id, `v` as in [`presence_key`](Self::presence_key)).
    pub(super) fn presence_log_key(&self, room: &str) -> String {
        self.shared.key(room, "presence")
    }

    /// This node's id in presence entries.
    pub(super) fn node(&self) -> &str {
        &self.shared.node
    }

    /// The connection for requests, made if there is none (at most once per
    /// [`RETRY_AFTER`] while Redis is away).
    async fn conn(&self) -> Result<MultiplexedConnection, Unavailable> {
        if let Some(c) = self.conn.lock().expect("conn lock").clone() {
            return Ok(c);
        }
        if self
            .failed_at
            .lock()
            .expect("failed lock")
            .is_some_and(|at| at.elapsed() < RETRY_AFTER)
        {
            return Err(unreachable());
        }
        match self.shared.connect_once().await {
            Ok(c) => {
                *self.conn.lock().expect("conn lock") = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                *self.failed_at.lock().expect("failed lock") = Some(Instant::now());
                tracing::debug!(error = %e, "/rooms: Redis unreachable");
                Err(unreachable())
            }
        }
    }

    /// After a request failed: a refusal keeps the connection, anything
    /// else drops it.
    fn failed(&self, error: &redis::RedisError) -> Unavailable {
        match refusal_code(error) {
            Some(code) => {
                self.shared
                    .stats
                    .refusals
                    .record(super::stats::Link::History, code, error, false);
                Unavailable::new(format!("Redis refused the request: {error}"))
            }
            None => {
                *self.conn.lock().expect("conn lock") = None;
                *self.failed_at.lock().expect("failed lock") = Some(Instant::now());
                tracing::debug!(%error, "/rooms: lost the connection to Redis");
                unreachable()
            }
        }
    }

    /// Reads `room` as the store has it, on connection `c`.
    pub(super) async fn snapshot_on(
        &self,
        c: &mut MultiplexedConnection,
        room: &str,
        limit: usize,
        create: bool,
    ) -> redis::RedisResult<Snapshot> {
        let mut inv = self.snapshot.key(self.shared.key(room, "meta"));
        inv.key(self.stream_key(room))
            .key(self.presence_log_key(room))
            .arg(&*new_epoch())
            .arg(limit.max(1))
            .arg(if create { "1" } else { "0" })
            .arg(EPOCH_TTL.as_millis() as u64);
        let (epoch, offset, cursor, entries): (String, u64, String, StreamRangeReply) = inv.invoke_async(c).await?;
        let now = (!epoch.is_empty()).then(|| Position {
            offset,
            epoch: epoch.as_str().into(),
        });
        let mut publications: Vec<Stored> = entries
            .ids
            .iter()
            .filter_map(|e| publication_of(e).map(|(_, p)| p))
            .collect();
        publications.reverse();
        if limit == 0 {
            publications.clear();
        }
        Ok(Snapshot {
            now,
            publications,
            cursor,
        })
    }
}

fn unreachable() -> Unavailable {
    Unavailable::new("Redis is unreachable: try again")
}

/// A publication and its epoch from its stream entry; `None` for an entry
/// that is not one.
pub(super) fn publication_of(entry: &StreamId) -> Option<(Arc<str>, Stored)> {
    let text = |name| text_field(entry, name);
    let epoch: Arc<str> = text("e")?.into();
    let offset = text("o")?.parse().ok()?;
    let time: i64 = text("t")?.parse().ok()?;
    let data = serde_json::from_str::<Box<RawValue>>(text("d")?).ok()?;
    let age = Duration::from_millis((now_ms() - time).max(0) as u64);
    let user = text("u").map(str::to_string);
    Some((
        epoch,
        Stored {
            offset,
            user,
            data,
            age,
        },
    ))
}

impl HistoryStore for RedisHistory {
    fn append<'a>(
        &'a self,
        room: &'a str,
        user: Option<&'a str>,
        data: &'a RawValue,
    ) -> BoxFuture<'a, Result<Position, Unavailable>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            let mut inv = self.append.key(self.shared.key(room, "meta"));
            inv.key(self.stream_key(room))
                .arg(&*new_epoch())
                .arg(self.limits.size.max(1))
                .arg(EPOCH_TTL.as_millis() as u64)
                .arg(self.limits.age.as_millis().max(1) as u64)
                .arg(now_ms())
                .arg(data.get())
                .arg(user.unwrap_or(""))
                .arg(if user.is_some() { "1" } else { "0" });
            let (epoch, offset): (String, u64) = inv.invoke_async(&mut c).await.map_err(|e| self.failed(&e))?;
            Ok(Position {
                offset,
                epoch: epoch.into(),
            })
        })
    }

    fn snapshot<'a>(
        &'a self,
        room: &'a str,
        limit: usize,
        create: bool,
    ) -> BoxFuture<'a, Result<Snapshot, Unavailable>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            self.snapshot_on(&mut c, room, limit, create)
                .await
                .map_err(|e| self.failed(&e))
        })
    }

    fn follow(&self, room: &str, cursor: &str) {
        self.follow
            .lock()
            .expect("follow lock")
            .insert(room.to_string(), Some(cursor.to_string()));
        self.follow_changed.notify_one();
    }

    fn unfollow(&self, room: &str) {
        self.follow.lock().expect("follow lock").remove(room);
    }

    fn attach(&self, log: Weak<RoomLog>) {
        let _ = self.log.set(log);
    }

    fn id_base(&self) -> u64 {
        super::id_base(&self.shared.node)
    }

    fn present(&self, room: &str, client: u64, user: Option<&str>) {
        let op = Op::Present {
            room: room.to_string(),
            client,
            user: user.map(str::to_string),
        };
        let _ = self.presence_ops.try_send(op);
    }

    fn absent(&self, room: &str, client: u64) {
        let op = Op::Absent {
            room: room.to_string(),
            client,
        };
        let _ = self.presence_ops.try_send(op);
    }

    fn presence<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Clients, Unavailable>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            let all: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(self.presence_key(room))
                .query_async(&mut c)
                .await
                .map_err(|e| self.failed(&e))?;
            let mut clients: Clients = all
                .iter()
                .filter_map(|(id, v)| present_entry(id, v).map(|(id, _, user)| (id, user)))
                .collect();
            clients.sort();
            Ok(clients)
        })
    }
}
