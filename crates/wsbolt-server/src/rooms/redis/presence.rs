//! Cluster-wide names and user lists (presence), after Centrifugo's scheme:
//! per room a hash of names, a hash of members, a sorted set of join order
//! and a sorted set of expiry times that each node's heartbeat pushes
//! forward for its own members. A node that dies stops pushing, and the
//! next heartbeat of any node with members in the room removes its members
//! and says so ([`Rooms::departures`](crate::rooms::Rooms::departures)).
//!
//! Every change is one Lua script, so it is atomic in Redis; one task runs
//! them in the order this node asked, so a member's leave is done before
//! the user list that follows it is read.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis::Script;
use tokio::sync::{mpsc, oneshot};

use super::link::Conn;
use super::stats::Link;
use super::{now_ms, Shared};
use crate::rooms::MemberId;

/// Removes members whose time ran out. KEYS: names, members, order,
/// expiry. ARGV[1]: now (ms). Leaves `purged` counting them.
const PURGE: &str = r"
local names, members, order, expiry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = tonumber(ARGV[1])
local function drop(m)
  local n = redis.call('HGET', members, m)
  if n and redis.call('HGET', names, n) == m then redis.call('HDEL', names, n) end
  redis.call('HDEL', members, m)
  redis.call('ZREM', order, m)
  redis.call('ZREM', expiry, m)
end
local purged = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now)) do
  drop(m)
  purged = purged + 1
end
";

/// Gives each member (ARGV[3], ARGV[5], …) the name after it, made unique
/// with a number, and pushes its expiry to now + ARGV[2]. Also serves as
/// the heartbeat (a member's own name is never taken from it). Returns
/// `{purged, name, name, …}`.
const CLAIM: &str = r"
local out = {purged}
local expires = now + tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local m, wanted = ARGV[i], ARGV[i + 1]
  local name, n = wanted, 0
  while true do
    local holder = redis.call('HGET', names, name)
    if not holder or holder == m then break end
    n = n + 1
    name = wanted .. n
  end
  local old = redis.call('HGET', members, m)
  if old and old ~= name and redis.call('HGET', names, old) == m then redis.call('HDEL', names, old) end
  redis.call('HSET', names, name, m)
  redis.call('HSET', members, m, name)
  redis.call('ZADD', order, 'NX', now, m)
  redis.call('ZADD', expiry, expires, m)
  out[#out + 1] = name
end
return out
";

/// Returns `{purged, name, …}` in the order the members first took a name.
const USERS: &str = r"
local out = {purged}
for _, m in ipairs(redis.call('ZRANGE', order, 0, -1)) do
  local n = redis.call('HGET', members, m)
  if n then out[#out + 1] = n end
end
return out
";

/// Removes the members ARGV[2], ARGV[3], …; returns `{purged}`.
const LEAVE: &str = r"
for i = 2, #ARGV do drop(ARGV[i]) end
return {purged}
";

/// What the presence task is asked to do.
#[derive(Debug)]
pub(super) enum Cmd {
    Claim {
        room: String,
        id: MemberId,
        wanted: String,
        reply: oneshot::Sender<String>,
    },
    Users {
        room: String,
        reply: oneshot::Sender<Vec<String>>,
    },
    Leave {
        room: String,
        id: MemberId,
    },
    /// Takes every member of this node out (graceful shutdown).
    Close {
        reply: oneshot::Sender<()>,
    },
}

struct Scripts {
    claim: Script,
    users: Script,
    leave: Script,
}

/// The presence task: runs until its channel closes.
pub(super) async fn run(shared: Arc<Shared>, mut cmds: mpsc::Receiver<Cmd>) {
    let scripts = Scripts {
        claim: Script::new(&format!("{PURGE}{CLAIM}")),
        users: Script::new(&format!("{PURGE}{USERS}")),
        leave: Script::new(&format!("{PURGE}{LEAVE}")),
    };
    let mut conn = Conn::new(Link::Presence);
    let mut beat = tokio::time::interval(shared.config.heartbeat());
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A command that failed with the connection: done again once connected.
    let mut retry: Option<Cmd> = None;
    loop {
        let (c, fresh) = conn.get(&shared).await;
        if fresh {
            // Connected (again): Redis may have restarted empty, so put
            // this node's members back at once.
            if let Err(e) = heartbeat(&shared, &scripts, c).await {
                conn.error(&shared, &e).await;
                continue;
            }
            // The other nodes may have dropped this node's members while it
            // was away; they are back now, so every room they are in has a
            // new user list (the chat endpoint sends it to every node).
            for room in shared.local.room_names() {
                let _ = shared.departures.send(room);
            }
            // That was this period's beat (an interval's first tick is at once).
            beat.reset();
        }
        let cmd = match retry.take() {
            Some(cmd) => cmd,
            None => tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => cmd,
                    None => return,
                },
                _ = beat.tick() => {
                    match heartbeat(&shared, &scripts, c).await {
                        Ok(()) => shared.presence_slow.store(false, Ordering::Release),
                        Err(e) => conn.error(&shared, &e).await,
                    }
                    continue;
                }
            },
        };
        match execute(&shared, &scripts, c, &cmd).await {
            Ok(answer) => {
                shared.presence_slow.store(false, Ordering::Release);
                answer.send(cmd);
            }
            Err(e) => {
                conn.error(&shared, &e).await;
                retry = Some(cmd);
            }
        }
    }
}

/// What a command's script answered, to be sent to whoever asked.
enum Answer {
    Name(String),
    Users(Vec<String>),
    Done,
}

impl Answer {
    fn send(self, cmd: Cmd) {
        match (cmd, self) {
            (Cmd::Claim { reply, .. }, Answer::Name(n)) => {
                let _ = reply.send(n);
            }
            (Cmd::Users { reply, .. }, Answer::Users(u)) => {
                let _ = reply.send(u);
            }
            (Cmd::Close { reply }, _) => {
                let _ = reply.send(());
            }
            _ => {}
        }
    }
}

async fn execute(
    shared: &Shared,
    scripts: &Scripts,
    c: &mut redis::aio::MultiplexedConnection,
    cmd: &Cmd,
) -> redis::RedisResult<Answer> {
    match cmd {
        Cmd::Claim { room, id, wanted, .. } => {
            let member = shared.member_key(*id);
            let names = claim(shared, scripts, c, room, &[(member, wanted.clone())]).await?;
            let name = names.into_iter().next().unwrap_or_else(|| wanted.clone());
            // Also when the asker gave up waiting: the name is the member's now.
            shared.local.set_name(room, *id, name.clone());
            Ok(Answer::Name(name))
        }
        Cmd::Users { room, .. } => {
            let mut out: Vec<String> = invoke(shared, &scripts.users, c, room, &[]).await?;
            out.remove(0);
            Ok(Answer::Users(out))
        }
        Cmd::Leave { room, id } => {
            leave(shared, scripts, c, room, vec![shared.member_key(*id)]).await?;
            Ok(Answer::Done)
        }
        Cmd::Close { .. } => {
            for room in shared.local.room_names() {
                let members = shared.local.named(&room);
                let keys = members.iter().map(|(id, _)| shared.member_key(*id)).collect();
                leave(shared, scripts, c, &room, keys).await?;
            }
            Ok(Answer::Done)
        }
    }
}

/// Pushes forward the expiry of this node's members in every room it has
/// members in (claiming their names again if Redis forgot them), and
/// removes expired members of other nodes, telling the endpoints.
async fn heartbeat(
    shared: &Shared,
    scripts: &Scripts,
    c: &mut redis::aio::MultiplexedConnection,
) -> redis::RedisResult<()> {
    for room in shared.local.room_names() {
        let named = shared.local.named(&room);
        let pairs: Vec<(String, String)> = named
            .iter()
            .map(|(id, name)| (shared.member_key(*id), name.clone()))
            .collect();
        let names = claim(shared, scripts, c, &room, &pairs).await?;
        for ((id, had), got) in named.into_iter().zip(names) {
            if had != got {
                tracing::warn!(room, had, got, "a name was taken while Redis had forgotten it; renamed");
                shared.local.set_name(&room, id, got);
            }
        }
    }
    Ok(())
}

async fn claim(
    shared: &Shared,
    scripts: &Scripts,
    c: &mut redis::aio::MultiplexedConnection,
    room: &str,
    pairs: &[(String, String)],
) -> redis::RedisResult<Vec<String>> {
    let ttl = shared.config.presence_entry_ttl().as_millis() as u64;
    let mut args: Vec<String> = vec![ttl.to_string()];
    for (member, name) in pairs {
        args.push(member.clone());
        args.push(name.clone());
    }
    let mut out: Vec<String> = invoke(shared, &scripts.claim, c, room, &args).await?;
    out.remove(0);
    Ok(out)
}

async fn leave(
    shared: &Shared,
    scripts: &Scripts,
    c: &mut redis::aio::MultiplexedConnection,
    room: &str,
    members: Vec<String>,
) -> redis::RedisResult<()> {
    if members.is_empty() {
        return Ok(());
    }
    invoke::<Vec<String>>(shared, &scripts.leave, c, room, &members).await?;
    Ok(())
}

/// Runs `script` on `room`'s presence keys with now as ARGV[1]; the first
/// element of the answer (members whose time ran out) is acted on here.
async fn invoke<T: redis::FromRedisValue>(
    shared: &Shared,
    script: &Script,
    c: &mut redis::aio::MultiplexedConnection,
    room: &str,
    args: &[String],
) -> redis::RedisResult<Vec<T>> {
    let mut inv = script.prepare_invoke();
    for suffix in ["names", "members", "order", "expiry"] {
        inv.key(shared.key(room, suffix));
    }
    inv.arg(now_ms());
    for a in args {
        inv.arg(a);
    }
    let out: Vec<redis::Value> = inv.invoke_async(c).await?;
    let purged = out
        .first()
        .and_then(|v| redis::from_redis_value::<u64>(v.clone()).ok())
        .unwrap_or(0);
    if purged > 0 {
        tracing::info!(room, purged, "members of a node that stopped answering left the room");
        let _ = shared.departures.send(room.to_string());
    }
    // The count stays first, as a string like the names, for the callers.
    let mut converted = Vec::with_capacity(out.len());
    for v in out {
        converted.push(match v {
            redis::Value::Int(n) => redis::from_redis_value(redis::Value::BulkString(n.to_string().into_bytes()))?,
            v => redis::from_redis_value(v)?,
        });
    }
    Ok(converted)
}
