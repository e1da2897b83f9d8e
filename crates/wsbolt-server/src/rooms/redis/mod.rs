//! Rooms shared by every node connected to one Redis: see [`RedisRooms`].

mod catch_up;
mod config;
mod history;
mod history_presence;
mod history_reader;
mod link;
mod outbox;
mod presence;
mod reader;
mod refusals;
mod stats;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, Notify};
use wsbolt::Message;

use self::config::redact;
pub use self::config::{RedisConfig, RedisStartError};
use self::outbox::{Entry, Job};
use self::presence::Cmd;
use self::stats::{Link, Stats};
use super::{BoxFuture, LocalRooms, MemberId, Membership, Rooms};

/// What the backend's tasks share.
struct Shared {
    config: RedisConfig,
    /// The URL without its password, for logs.
    url: String,
    client: redis::Client,
    /// This process's id in the streams' entries.
    node: String,
    /// This node's members.
    local: LocalRooms,
    stats: Stats,
    /// Rooms with members here -> when the first of them joined (this
    /// node's clock, ms): the reader follows each from then.
    follow: Mutex<HashMap<String, i64>>,
    follow_changed: Notify,
    /// Redis' clock minus this node's, in ms.
    clock_offset_ms: AtomicI64,
    /// A presence answer took longer than [`PRESENCE_WAIT`]; cleared by the
    /// next answer.
    presence_slow: AtomicBool,
    departures: broadcast::Sender<String>,
    /// The reader catching up after an outage before the publisher appends.
    catch_up: catch_up::CatchUp,
}

impl Shared {
    fn key(&self, room: &str, suffix: &str) -> String {
        format!("{{{}:{}}}:{}", self.config.key_prefix, room, suffix)
    }

    fn stream_key(&self, room: &str) -> String {
        self.key(room, "stream")
    }

    fn member_key(&self, id: MemberId) -> String {
        format!("{}:{}", self.node, id)
    }

    async fn connect_once(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.response_timeout))
            .set_response_timeout(Some(self.config.response_timeout));
        self.client.get_multiplexed_async_connection_with_config(&config).await
    }

    /// The rooms to follow, forgetting those without members here.
    fn followed(&self) -> Vec<(String, i64)> {
        let mut follow = self.follow.lock().expect("follow lock");
        follow.retain(|room, _| self.local.has_members(room));
        follow.iter().map(|(r, s)| (r.clone(), *s)).collect()
    }
}

/// Rooms shared through Redis by every node that uses the same Redis and key
/// prefix; [`Rooms`] is the API.
///
/// - **Messages**: a node delivers a message to its own members at once and
///   appends it to the room's Redis Stream (`XADD … MAXLEN ~ stream-length`)
///   tagged with its node id and a sequence number per room. Each node reads
///   the streams of its rooms with blocking `XREAD` from the last offset it
///   saw, so a node that lost Redis for a while resumes where it stopped,
///   and a copy (an append sent again after a lost answer) is dropped by its
///   sequence number: every message reaches every member once, in the order
///   its node published it. Messages published while Redis is away wait in a
///   bounded outbox (`outbox-limit` bytes) and go when it is back.
/// - **Presence**: names unique across nodes and user lists of the whole
///   cluster (per room a hash of names, a hash of members and a sorted set
///   of join order, each change one Lua script), and members of a node that
///   died dropped within [`RedisConfig::presence_timeout`] (a sorted set of
///   expiry times that each node's heartbeat pushes forward for its own
///   members; any node's heartbeat removes the expired and reports the room
///   through [`Rooms::departures`]).
/// - **Faults**: three connections (publisher, reader, presence), each made
///   again with backoff; while Redis is away or slow, local delivery goes on
///   and names and user lists are answered from this node alone.
///
/// Keys are `{PREFIX:ROOM}:stream`, `:names`, `:members`, `:order` and
/// `:expiry`; the braces keep a room's keys in one Redis Cluster slot.
///
/// Dropping it stops its tasks; [`Rooms::close`] first takes this node's
/// members out of the user lists and sends what is queued.
pub struct RedisRooms {
    shared: Arc<Shared>,
    jobs: mpsc::UnboundedSender<Job>,
    presence: mpsc::Sender<Cmd>,
    /// This node's next sequence number per room (one per room ever
    /// published to here).
    seqs: Mutex<HashMap<String, u64>>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl fmt::Debug for RedisRooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRooms")
            .field("redis", &self.shared.url)
            .field("node", &self.shared.node)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisRooms {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// How long presence answers may take before a caller answers from this
/// node alone (so a slow Redis never holds a client's messages for long).
const PRESENCE_WAIT: Duration = Duration::from_secs(1);

/// Commands waiting for the presence task; beyond it, answers come from
/// this node alone.
const PRESENCE_QUEUE: usize = 1024;

impl RedisRooms {
    /// Starts the backend: checks the URL, tries Redis once, and starts the
    /// publisher, reader and presence tasks on the current tokio runtime.
    ///
    /// Redis being unreachable is not an error: the node serves its own
    /// members, says so in the log, and joins the others once Redis answers.
    ///
    /// # Errors
    /// A URL that is not a Redis URL, credentials Redis refuses, or (with
    /// `rediss://`) a certificate this node does not trust: retrying cannot
    /// fix those.
    pub async fn start(config: RedisConfig) -> Result<RedisRooms, RedisStartError> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| RedisStartError(format!("--redis {}: not a Redis URL: {e}", redact(&config.url))))?;
        let (departures, _) = broadcast::channel(64);
        let node = node_id();
        let shared = Arc::new(Shared {
            url: redact(&config.url),
            config,
            client,
            local: LocalRooms::with_id_base(id_base(&node)),
            node,
            stats: Stats::default(),
            follow: Mutex::new(HashMap::new()),
            follow_changed: Notify::new(),
            clock_offset_ms: AtomicI64::new(0),
            presence_slow: AtomicBool::new(false),
            departures,
            catch_up: catch_up::CatchUp::default(),
        });
        match shared.connect_once().await {
            Ok(_) => tracing::info!(redis = %shared.url, node = %shared.node, "rooms are shared through Redis"),
            Err(e) if link::is_config_error(&e) => {
                return Err(RedisStartError(format!(
                    "Redis at {} refused this node: {}",
                    shared.url,
                    link::describe(&e)
                )))
            }
            // The tasks say so and keep trying.
            Err(_) => {}
        }
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let (presence, presence_rx) = mpsc::channel(PRESENCE_QUEUE);
        let tasks = vec![
            tokio::spawn(outbox::run(shared.clone(), jobs_rx)).abort_handle(),
            tokio::spawn(reader::run(shared.clone())).abort_handle(),
            tokio::spawn(presence::run(shared.clone(), presence_rx)).abort_handle(),
        ];
        Ok(RedisRooms {
            shared,
            jobs,
            presence,
            seqs: Mutex::new(HashMap::new()),
            tasks,
        })
    }

    /// Asks the presence task, answering with `fallback` if Redis is away,
    /// the queue is full or the answer takes longer than [`PRESENCE_WAIT`].
    /// Once one wait ran out, later calls answer at once until the task
    /// answers again.
    async fn ask<T>(&self, what: &str, cmd: impl FnOnce(oneshot::Sender<T>) -> Cmd, fallback: impl FnOnce() -> T) -> T {
        let shared = &self.shared;
        if shared.stats.is_up(Link::Presence) && !shared.presence_slow.load(Ordering::Acquire) {
            let (tx, rx) = oneshot::channel();
            if self.presence.try_send(cmd(tx)).is_ok() {
                match tokio::time::timeout(PRESENCE_WAIT, rx).await {
                    Ok(Ok(answer)) => return answer,
                    Ok(Err(_)) => {}
                    Err(_) => shared.presence_slow.store(true, Ordering::Release),
                }
            }
        }
        shared.stats.presence_fallbacks.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(what, "answered from this node alone: Redis unreachable or slow");
        fallback()
    }
}

impl Rooms for RedisRooms {
    fn join(&self, room: &str, queue_limit: usize) -> Membership {
        let mut follow = self.shared.follow.lock().expect("follow lock");
        let member = self.shared.local.join(room, queue_limit);
        if !follow.contains_key(room) {
            follow.insert(room.to_string(), now_ms());
            self.shared.follow_changed.notify_one();
        }
        member
    }

    fn leave(&self, room: &str, id: MemberId) {
        let named = self.shared.local.name(room, id).is_some();
        self.shared.local.leave(room, id);
        if named {
            // If the queue is full, the member's entry expires instead.
            let _ = self.presence.try_send(Cmd::Leave {
                room: room.to_string(),
                id,
            });
        }
    }

    fn publish(&self, room: &str, msg: &Message) {
        self.shared.local.publish(room, msg);
        let (binary, data) = match msg {
            Message::Text(t) => (false, t.clone().into_bytes()),
            Message::Binary(b) => (true, b.clone()),
            _ => return,
        };
        let queued = self.shared.stats.outbox_bytes.fetch_add(data.len(), Ordering::AcqRel);
        if queued + data.len() > self.shared.config.outbox_limit {
            self.shared.stats.outbox_bytes.fetch_sub(data.len(), Ordering::AcqRel);
            self.shared.stats.outbox_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Numbered and queued under one lock, so numbers follow queue order.
        let mut seqs = self.seqs.lock().expect("seqs lock");
        let seq = seqs.entry(room.to_string()).or_default();
        *seq += 1;
        let _ = self.jobs.send(Job::Append(Entry {
            room: room.to_string(),
            seq: *seq,
            binary,
            data,
        }));
    }

    fn send(&self, room: &str, id: MemberId, msg: &Message) {
        self.shared.local.send(room, id, msg);
    }

    fn claim_name<'a>(&'a self, room: &'a str, id: MemberId, wanted: &'a str) -> BoxFuture<'a, String> {
        Box::pin(async move {
            // Named locally from now on, so that a leave while the claim is
            // in flight is sent too (after it, in order) and the claimed
            // name does not linger until it expires.
            self.shared.local.set_name(room, id, wanted.to_string());
            let cmd = |reply| Cmd::Claim {
                room: room.to_string(),
                id,
                wanted: wanted.to_string(),
                reply,
            };
            // Unique among this node's members at least; the heartbeat
            // registers it once Redis answers.
            let local = || {
                futures_util::FutureExt::now_or_never(self.shared.local.claim_name(room, id, wanted))
                    .unwrap_or_else(|| wanted.to_string())
            };
            self.ask("claim_name", cmd, local).await
        })
    }

    fn name(&self, room: &str, id: MemberId) -> Option<String> {
        self.shared.local.name(room, id)
    }

    fn users<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let cmd = |reply| Cmd::Users {
                room: room.to_string(),
                reply,
            };
            let local = || futures_util::FutureExt::now_or_never(self.shared.local.users(room)).unwrap_or_default();
            self.ask("users", cmd, local).await
        })
    }

    fn departures(&self) -> broadcast::Receiver<String> {
        self.shared.departures.subscribe()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (flushed, flushed_rx) = oneshot::channel();
            let _ = self.jobs.send(Job::Flush(flushed));
            let (left, left_rx) = oneshot::channel();
            let _ = self.presence.try_send(Cmd::Close { reply: left });
            let both = async {
                let _ = left_rx.await;
                let _ = flushed_rx.await;
            };
            if tokio::time::timeout(CLOSE_WAIT, both).await.is_err() {
                tracing::warn!(redis = %self.shared.url, "Redis did not take this node's last messages and departures in time");
            }
        })
    }

    fn write_metrics(&self, out: &mut String) {
        self.shared.stats.render(out);
    }

    /// `/rooms`' history kept in this Redis: a stream and an epoch per
    /// room, offsets given by a Lua script (docs/rooms-protocol.md, "With
    /// `--redis`"). Starts its reader and presence tasks on the current
    /// tokio runtime; they stop when the store is dropped.
    fn history_store(
        &self,
        limits: crate::rooms::HistoryLimits,
    ) -> Option<Arc<dyn crate::rooms::log::store::HistoryStore>> {
        let (ops, ops_rx) = mpsc::channel(history_presence::QUEUE);
        let store = Arc::new(history::RedisHistory::new(self.shared.clone(), limits, ops));
        tokio::spawn(history_reader::run(Arc::downgrade(&store)));
        tokio::spawn(history_presence::run(Arc::downgrade(&store), ops_rx));
        Some(store)
    }

    fn connected(&self) -> bool {
        let stats = &self.shared.stats;
        [Link::Publisher, Link::Reader, Link::Presence]
            .into_iter()
            .all(|link| stats.is_up(link))
    }
}

/// How long [`Rooms::close`] waits for Redis.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// Milliseconds since the Unix epoch on this node's clock.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A number in [0, 1) that differs between calls and processes (jitter).
fn fraction() -> f64 {
    use std::hash::BuildHasher;
    let h = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A random id for this process.
fn node_id() -> String {
    use std::hash::BuildHasher;
    let h = std::collections::hash_map::RandomState::new().hash_one((std::process::id(), now_ms()));
    format!("{h:016x}")
}

/// Where this node's member ids start: a random multiple of 2^32 below
/// 2^52, so ids of different nodes differ (two nodes share a range with
/// odds of one in a million) and stay exact as JavaScript numbers.
fn id_base(node: &str) -> u64 {
    (u64::from_str_radix(node, 16).unwrap_or(0) & 0xF_FFFF) << 32
}
