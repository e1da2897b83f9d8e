//! `/rooms`' presence across nodes: who is subscribed to a room, on every
//! node, in a Redis hash per room, and joins and leaves in a stream per
//! room that every node following the room reads (`history_reader`).
//!
//! One task per node writes this node's joins and leaves in order, and
//! every heartbeat ([`RedisConfig::heartbeat`](super::RedisConfig)):
//! marks this node alive (a key that expires after the presence timeout),
//! and reconciles each room it wrote to with this node's subscribers (so a
//! join or leave dropped while Redis was away is repaired) and with the
//! other nodes' liveness (the clients of a node that died are removed, with
//! a `leave` each).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use redis::aio::MultiplexedConnection;
use redis::Script;
use tokio::sync::mpsc;

use super::history::{presence_value as value, present_entry, Op, RedisHistory};
use super::link::Conn;
use super::stats::Link;

/// Joins and leaves waiting for the writer; beyond it they are dropped and
/// the next reconciliation repairs them.
pub(super) const QUEUE: usize = 4096;

/// How long the presence keys outlive their last write (each heartbeat
/// pushes forward the lists of rooms with subscribers here).
const TTL_MS: u64 = 24 * 3600 * 1000;

/// Joins and leaves kept in a room's presence stream (approximately).
const PRESENCE_LOG_LENGTH: usize = 1000;

/// KEYS: present, presence log. ARGV: client, value, TTL ms, log length.
/// A client listed already gets no second `join`.
const PRESENT: &str = r"
local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if new == 0 then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'k', 'j', 'c', ARGV[1], 'v', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
";

/// KEYS: present, presence log. ARGV: client, TTL ms, log length.
const ABSENT: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'k', 'l', 'c', ARGV[1], 'v', v)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
";

/// The key that says `node` is alive.
fn alive_key(store: &RedisHistory, node: &str) -> String {
    format!("{}:rooms-node:{node}", store.shared.config.key_prefix)
}

struct Writer {
    present: Script,
    absent: Script,
    /// Rooms this node wrote presence to and may still have entries in.
    written: HashSet<String>,
}

/// The writer task: runs until the store is dropped.
pub(super) async fn run(store: Weak<RedisHistory>, mut ops: mpsc::Receiver<Op>) {
    let mut conn = Conn::new(Link::History);
    let mut w = Writer {
        present: Script::new(PRESENT),
        absent: Script::new(ABSENT),
        written: HashSet::new(),
    };
    let every = match store.upgrade() {
        Some(s) => s.shared.config.heartbeat(),
        None => return,
    };
    let mut beat = tokio::time::interval(every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut alive_once = false;
    loop {
        tokio::select! {
            // Alive before the first entry, so that no node takes this
            // node's clients for a dead node's.
            op = ops.recv(), if alive_once => {
                let Some(op) = op else { return };
                let Some(store) = store.upgrade() else { return };
                let (c, _) = conn.get(&store.shared).await;
                if let Err(e) = w.write(&store, c, op).await {
                    conn.error(&store.shared, &e).await;
                }
            }
            _ = beat.tick() => {
                let Some(store) = store.upgrade() else { return };
                let (c, _) = conn.get(&store.shared).await;
                match w.heartbeat(&store, c).await {
                    Ok(()) => alive_once = true,
                    Err(e) => conn.error(&store.shared, &e).await,
                }
            }
        }
    }
}

impl Writer {
    async fn write(&mut self, store: &RedisHistory, c: &mut MultiplexedConnection, op: Op) -> redis::RedisResult<()> {
        match op {
            Op::Present { room, client, user } => {
                self.join(store, c, &room, client, user.as_deref()).await?;
                self.written.insert(room);
            }
            Op::Absent { room, client } => self.leave(store, c, &room, client).await?,
        }
        Ok(())
    }

    async fn join(
        &self,
        store: &RedisHistory,
        c: &mut MultiplexedConnection,
        room: &str,
        client: u64,
        user: Option<&str>,
    ) -> redis::RedisResult<()> {
        let mut inv = self.present.key(store.presence_key(room));
        inv.key(store.presence_log_key(room))
            .arg(client)
            .arg(value(store.node(), user))
            .arg(TTL_MS)
            .arg(PRESENCE_LOG_LENGTH);
        inv.invoke_async::<i64>(c).await.map(drop)
    }

    async fn leave(
        &self,
        store: &RedisHistory,
        c: &mut MultiplexedConnection,
        room: &str,
        client: u64,
    ) -> redis::RedisResult<()> {
        let mut inv = self.absent.key(store.presence_key(room));
        inv.key(store.presence_log_key(room))
            .arg(client)
            .arg(TTL_MS)
            .arg(PRESENCE_LOG_LENGTH);
        inv.invoke_async::<i64>(c).await.map(drop)
    }

    /// Marks this node alive, then reconciles every room it wrote to.
    async fn heartbeat(&mut self, store: &Arc<RedisHistory>, c: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let ttl = store.shared.config.presence_timeout.as_millis().max(1) as u64;
        redis::cmd("SET")
            .arg(alive_key(store, store.node()))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .query_async::<()>(c)
            .await?;
        let Some(log) = store.log() else { return Ok(()) };
        let mut alive: HashMap<String, bool> = HashMap::new();
        // Rooms with subscribers here too: their joins may have been dropped.
        self.written.extend(store.followed_rooms());
        let rooms: Vec<String> = self.written.iter().cloned().collect();
        for room in rooms {
            let here: HashMap<u64, Option<String>> = log.presence(&room).into_iter().collect();
            let all: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(store.presence_key(&room))
                .query_async(c)
                .await?;
            let mut listed = HashSet::new();
            for (id, v) in &all {
                let Some((id, node, _)) = present_entry(id, v) else {
                    continue;
                };
                if node == store.node() {
                    listed.insert(id);
                    if !here.contains_key(&id) {
                        self.leave(store, c, &room, id).await?;
                    }
                    continue;
                }
                let is_alive = match alive.get(&node) {
                    Some(a) => *a,
                    None => {
                        let a: bool = redis::cmd("EXISTS").arg(alive_key(store, &node)).query_async(c).await?;
                        alive.insert(node.clone(), a);
                        a
                    }
                };
                if !is_alive {
                    self.leave(store, c, &room, id).await?;
                }
            }
            for (id, user) in &here {
                if !listed.contains(id) {
                    self.join(store, c, &room, *id, user.as_deref()).await?;
                }
            }
            if here.is_empty() {
                self.written.remove(&room);
            } else {
                redis::cmd("PEXPIRE")
                    .arg(store.presence_key(&room))
                    .arg(TTL_MS)
                    .query_async::<()>(c)
                    .await?;
            }
        }
        Ok(())
    }
}
