//! Rooms with a history: the state behind `wsbolt.rooms.v1`
//! (docs/rooms-protocol.md). See [`RoomLog`].

mod history;
pub mod store;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::value::RawValue;
use wsbolt::{Message, PreparedMessage, Utf8Bytes};

use self::history::{Histories, ENTRY_OVERHEAD};
pub use self::history::{HistoryLimits, Position};
use self::store::{HistoryStore, Snapshot, Stored, Unavailable};
use super::{Inbox, MemberId, Membership};

/// Rooms whose publications are numbered and kept for a while, so that a
/// client that comes back with the last position it saw gets what it
/// missed, once and in order, or learns that it cannot.
///
/// Every publication gets the next **offset** of its room (from 1, without
/// gaps) within the room's **epoch**; the room keeps the last
/// [`HistoryLimits::size`] publications for at most [`HistoryLimits::age`],
/// and all rooms together at most [`HistoryLimits::memory`] bytes.
/// Subscribing, publishing and delivering happen under one lock, so a
/// subscriber gets exactly the publications after the position it gives:
/// those kept in history first, then live ones, with nothing lost or
/// repeated at the seam.
///
/// Made with [`RoomLog::new`], it keeps its history in this process: a
/// restart (a new epoch) loses it, and clients then learn `recovered:
/// false`. `wsbolt serve --redis` makes it a copy of a history kept in
/// Redis instead (numbered there, so a client may come back on any node);
/// see docs/rooms-protocol.md.
///
/// # Example
///
/// ```
/// use wsbolt_server::rooms::{HistoryLimits, RoomLog};
///
/// let log = RoomLog::new(HistoryLimits::default());
/// let (ann, _ann_inbox) = log.connect(Some("ann"), 1 << 20);
/// let start = log.subscribe(&ann, "news", None, false).unwrap().now;
/// let data = serde_json::value::RawValue::from_string("\"hello\"".into()).unwrap();
/// log.publish(&ann, "news", &data);
///
/// // Bob was away since `start`: he gets the publication, then live ones.
/// let (bob, _bob_inbox) = log.connect(Some("bob"), 1 << 20);
/// let back = log.subscribe(&bob, "news", Some(&start), false).unwrap();
/// assert!(back.recovered);
/// assert_eq!(back.missed.len(), 1);
/// ```
#[derive(Debug)]
pub struct RoomLog {
    state: Mutex<State>,
    next_client: AtomicU64,
    limits: HistoryLimits,
    /// Where the history lives when several nodes share it: this log is
    /// then a copy of the rooms subscribed to here.
    store: Option<Arc<dyn HistoryStore>>,
}

#[derive(Debug)]
struct State {
    histories: Histories,
    members: HashMap<Arc<str>, BTreeMap<MemberId, Member>>,
    subscriptions: usize,
}

#[derive(Debug)]
struct Member {
    inbox: Arc<Inbox>,
    user: Option<Arc<str>>,
    /// Wants `join` and `leave` events.
    presence: bool,
}

/// One connection's identity in a [`RoomLog`]: made by
/// [`RoomLog::connect`], what it receives comes out of the [`Membership`]
/// made with it.
#[derive(Debug)]
pub struct Client {
    id: MemberId,
    user: Option<Arc<str>>,
    inbox: Arc<Inbox>,
}

impl Client {
    /// The client's id, unique in its log.
    pub fn id(&self) -> MemberId {
        self.id
    }

    /// The user it speaks for, if it said.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
}

/// What [`RoomLog::subscribe`] answers.
#[derive(Debug)]
pub struct Subscribed {
    /// Where the room stands: the position of its last publication.
    pub now: Position,
    /// Whether `missed` holds everything after the position given (true
    /// when none was given).
    pub recovered: bool,
    /// The publications after the position given, oldest first, as `pub`
    /// messages; send them before anything from the subscriber's inbox.
    pub missed: Vec<Utf8Bytes>,
}

impl RoomLog {
    /// An empty log with these limits.
    pub fn new(limits: HistoryLimits) -> RoomLog {
        RoomLog {
            state: Mutex::new(State {
                histories: Histories::new(limits, new_epoch),
                members: HashMap::new(),
                subscriptions: 0,
            }),
            next_client: AtomicU64::new(0),
            limits,
            store: None,
        }
    }

    /// A log whose history lives in `store`, shared with other nodes: this
    /// log is then a copy of the rooms subscribed to on this node. Client
    /// ids start at the store's [`id_base`](HistoryStore::id_base).
    pub fn with_store(limits: HistoryLimits, store: Arc<dyn HistoryStore>) -> Arc<RoomLog> {
        let log = Arc::new(RoomLog {
            store: Some(store.clone()),
            next_client: AtomicU64::new(store.id_base()),
            ..RoomLog::new(limits)
        });
        store.attach(Arc::downgrade(&log));
        log
    }

    /// The log for the rooms of `rooms`: a copy of its shared history if it
    /// has one ([`Rooms::history_store`](crate::rooms::Rooms::history_store)),
    /// else a log of this node alone.
    pub fn for_rooms(limits: HistoryLimits, rooms: &dyn crate::rooms::Rooms) -> Arc<RoomLog> {
        match rooms.history_store(limits) {
            Some(store) => RoomLog::with_store(limits, store),
            None => Arc::new(RoomLog::new(limits)),
        }
    }

    /// The limits it keeps history within.
    pub fn limits(&self) -> HistoryLimits {
        self.limits
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("room log lock")
    }

    /// A new client speaking for `user`, whose inbox holds at most
    /// `queue_limit` bytes (then it gets [`Out::Kick`](super::Out::Kick)).
    pub fn connect(&self, user: Option<&str>, queue_limit: usize) -> (Client, Membership) {
        let id = self.next_client.fetch_add(1, Ordering::Relaxed) + 1;
        let (inbox, membership) = Inbox::new(id, queue_limit);
        let client = Client {
            id,
            user: user.map(Arc::from),
            inbox: Arc::new(inbox),
        };
        (client, membership)
    }

    /// Subscribes `client` to `room`, from `since` if given (the position of
    /// the last publication it saw); with `presence` it also gets `join` and
    /// `leave` events. Subscribing again replaces the subscription.
    ///
    /// `None` only for a log [with a store](RoomLog::with_store) that has
    /// no copy of `room`: await [`ready`](Self::ready) first (and again if
    /// the copy was dropped in between, its last subscriber here gone).
    pub fn subscribe(
        &self,
        client: &Client,
        room: &str,
        since: Option<&Position>,
        presence: bool,
    ) -> Option<Subscribed> {
        let mut state = self.state();
        if self.store.is_some() && !state.histories.has(room) {
            return None;
        }
        let members = state.members.entry(room.into()).or_default();
        let member = Member {
            inbox: client.inbox.clone(),
            user: client.user.clone(),
            presence,
        };
        if members.insert(client.id, member).is_none() {
            state.histories.pin(room);
            state.subscriptions += 1;
            let join = wire::join_leave("join", room, client.id, client.user());
            announce(&state.members[room], client.id, join);
            if let Some(store) = &self.store {
                store.present(room, client.id, client.user());
            }
        }
        // Pinned first: a log nobody subscribes to is not kept.
        let recovery = state.histories.recover(room, since, Instant::now());
        Some(Subscribed {
            now: recovery.now,
            recovered: recovery.recovered,
            missed: recovery.missed,
        })
    }

    /// Makes `room` ready for [`subscribe`](Self::subscribe): with a
    /// shared history, copies the room's last publications from the store
    /// first (once, while the room has subscribers here). Immediate for a
    /// log of this node alone.
    ///
    /// # Errors
    /// The store cannot be reached.
    ///
    /// # Cancel safety
    /// Cancel-safe: a copy is installed only once the store answered.
    pub async fn ready(&self, room: &str) -> Result<(), Unavailable> {
        let Some(store) = &self.store else { return Ok(()) };
        if self.state().histories.has(room) {
            return Ok(());
        }
        let snapshot = store.snapshot(room, self.limits.size, true).await?;
        self.install(room, snapshot, false);
        Ok(())
    }

    /// Makes `snapshot` this node's copy of `room`: without `replace` if it
    /// has none, with `replace` if it has one of another epoch; then follows
    /// the room from it.
    /// Returns whether it did.
    pub fn install(&self, room: &str, snapshot: Snapshot, replace: bool) -> bool {
        let (Some(store), Some(now)) = (&self.store, snapshot.now) else {
            return false;
        };
        let mut state = self.state();
        let keep = match (state.histories.epoch(room), replace) {
            (None, false) => false,
            (Some(epoch), true) => epoch == now.epoch,
            // Replacing: only a copy this node still keeps.
            (None, true) | (Some(_), false) => true,
        };
        if keep {
            return false;
        }
        let at = Instant::now();
        let recent: Vec<Stored> = snapshot
            .publications
            .into_iter()
            .filter(|p| p.age < self.limits.age && p.offset <= now.offset)
            .collect();
        let first = recent.first().map_or(now.offset, |p| p.offset - 1);
        state.histories.reset(room, now.epoch.clone(), first);
        for p in recent {
            let (position, text) = stored_publication(room, &now.epoch, &p);
            state
                .histories
                .insert(room, &position, at.checked_sub(p.age).unwrap_or(at), at, text);
        }
        if state.histories.epoch(room).is_some_and(|e| e == now.epoch)
            && state.histories.last_offset(room) != now.offset
        {
            // Its newest publications did not come with it: start after them.
            state.histories.reset(room, now.epoch.clone(), now.offset);
        }
        store.follow(room, &snapshot.cursor);
        true
    }

    /// Adds a publication the store's reader read to the copy of `room`
    /// and sends it to its subscribers here, unless it has it already (or
    /// no copy of the room).
    pub fn apply(&self, room: &str, epoch: &Arc<str>, p: Stored) {
        let (at, text) = stored_publication(room, epoch, &p);
        let now = Instant::now();
        let time = now.checked_sub(p.age).unwrap_or(now);
        let mut state = self.state();
        if !state.members.contains_key(room) {
            // Copied for a subscription that did not happen (its
            // connection ended first, or it will copy the room again).
            self.forget_copy(&mut state, room);
            return;
        }
        if state.histories.insert(room, &at, time, now, text.clone()) {
            deliver(state.members.get(room), text);
        }
    }

    /// Takes `client` out of `room`; false if it was not in it.
    pub fn unsubscribe(&self, client: &Client, room: &str) -> bool {
        let mut state = self.state();
        let Some(members) = state.members.get_mut(room) else {
            return false;
        };
        if members.remove(&client.id).is_none() {
            return false;
        }
        let leave = wire::join_leave("leave", room, client.id, client.user());
        announce(members, client.id, leave);
        if members.is_empty() {
            state.members.remove(room);
        }
        state.histories.unpin(room, Instant::now());
        state.subscriptions -= 1;
        if let Some(store) = &self.store {
            store.absent(room, client.id);
            self.forget_copy(&mut state, room);
        }
        true
    }

    /// Drops this node's copy of `room` if nobody here subscribes to it
    /// (nothing keeps it up to date then), and stops following it.
    fn forget_copy(&self, state: &mut State, room: &str) {
        let Some(store) = &self.store else { return };
        if state.histories.forget_unused(room) {
            store.unfollow(room);
        }
    }

    /// Publishes `data` (any JSON) to `room` as `client`: numbered, kept in
    /// history and sent to every subscriber (the publisher too if it is
    /// one). Returns its position.
    pub fn publish(&self, client: &Client, room: &str, data: &RawValue) -> Position {
        self.publish_as(client.user(), room, data)
    }

    fn publish_as(&self, user: Option<&str>, room: &str, data: &RawValue) -> Position {
        let mut state = self.state();
        let render = |at: &Position| wire::publication(room, at, user, data);
        let (at, text) = state.histories.append(room, Instant::now(), render);
        deliver(state.members.get(room), text);
        at
    }

    /// A client of another node joined (`join` true) or left `room`: tells
    /// this node's subscribers that asked for presence events.
    pub fn apply_presence(&self, room: &str, join: bool, client: MemberId, user: Option<&str>) {
        let state = self.state();
        if let Some(members) = state.members.get(room) {
            let kind = if join { "join" } else { "leave" };
            announce(members, client, wire::join_leave(kind, room, client, user));
        }
    }

    /// [`presence`](Self::presence) on every node that shares the history
    /// (this node's alone without a store).
    ///
    /// # Cancel safety
    /// Cancel-safe: it only reads.
    pub(crate) async fn presence_shared(&self, room: &str) -> Result<Vec<(MemberId, Option<String>)>, Unavailable> {
        match &self.store {
            Some(store) => store.presence(room).await,
            None => Ok(self.presence(room)),
        }
    }

    /// Publishes `data` to `room` as `user`: with a shared history through
    /// the store (every node's subscribers get it from there), else as
    /// [`publish`](Self::publish) does. Returns its position.
    ///
    /// # Cancel safety
    /// Not cancel-safe: cancelled after the store took it, it is published
    /// without its position being known.
    pub(crate) async fn publish_shared(
        &self,
        user: Option<&str>,
        room: &str,
        data: &RawValue,
    ) -> Result<Position, Unavailable> {
        match &self.store {
            Some(store) => store.append(room, user, data).await,
            None => Ok(self.publish_as(user, room, data)),
        }
    }

    /// [`history`](Self::history), read from the shared store when there is
    /// one (a room nobody here subscribes to has no copy on this node).
    ///
    /// # Cancel safety
    /// Cancel-safe: it only reads.
    pub(crate) async fn history_shared(
        &self,
        room: &str,
        limit: usize,
    ) -> Result<(Position, Vec<Utf8Bytes>), Unavailable> {
        let Some(store) = &self.store else {
            return Ok(self.history(room, limit));
        };
        let snapshot = store.snapshot(room, limit, false).await?;
        let Some(now) = snapshot.now else {
            // A room never published to: an epoch nobody else will see.
            return Ok((
                Position {
                    offset: 0,
                    epoch: new_epoch(),
                },
                Vec::new(),
            ));
        };
        let texts = snapshot
            .publications
            .iter()
            .filter(|p| p.age < self.limits.age)
            .map(|p| stored_publication(room, &now.epoch, p).1)
            .collect();
        Ok((now, texts))
    }

    /// The last `limit` publications of `room` (at most the history's size),
    /// oldest first, and where the room stands.
    pub fn history(&self, room: &str, limit: usize) -> (Position, Vec<Utf8Bytes>) {
        self.state().histories.last(room, limit, Instant::now())
    }

    /// The clients subscribed to `room` and their users, in the order of
    /// their ids.
    pub fn presence(&self, room: &str) -> Vec<(MemberId, Option<String>)> {
        let state = self.state();
        state.members.get(room).map_or_else(Vec::new, |members| {
            members
                .iter()
                .map(|(id, m)| (*id, m.user.as_deref().map(str::to_string)))
                .collect()
        })
    }

    /// Appends the log's gauges in the Prometheus text format.
    pub fn write_metrics(&self, out: &mut String) {
        let (rooms, entries, bytes, subscriptions) = {
            let mut state = self.state();
            state.histories.trim(Instant::now());
            let (rooms, entries, bytes) = state.histories.usage();
            (rooms, entries, bytes, state.subscriptions)
        };
        let gauges = [
            (
                "wsbolt_rooms_log_rooms",
                "Rooms kept: with subscribers, history, or idle for less than the history age.",
                rooms,
            ),
            (
                "wsbolt_rooms_log_subscriptions",
                "Subscriptions to rooms.",
                subscriptions,
            ),
            (
                "wsbolt_rooms_history_publications",
                "Publications kept in history.",
                entries,
            ),
            (
                "wsbolt_rooms_history_bytes",
                "Bytes of history: publications and their bookkeeping.",
                bytes,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
    }
}

/// A publication a shared store kept, at its position in `epoch`, and its
/// `pub` text.
fn stored_publication(room: &str, epoch: &Arc<str>, p: &Stored) -> (Position, Utf8Bytes) {
    let at = Position {
        offset: p.offset,
        epoch: epoch.clone(),
    };
    let text = wire::publication(room, &at, p.user.as_deref(), &p.data);
    (at, text)
}

/// Sends a publication to every member of a room.
fn deliver(members: Option<&BTreeMap<MemberId, Member>>, text: Utf8Bytes) {
    if let (Some(members), Some(msg)) = (members, PreparedMessage::new(&Message::Text(text))) {
        for m in members.values() {
            m.inbox.deliver(msg.clone());
        }
    }
}

/// Sends a `join` or `leave` to the members of a room that asked for them,
/// except the client it is about.
fn announce(members: &BTreeMap<MemberId, Member>, about: MemberId, text: Utf8Bytes) {
    let mut msg = None;
    for (id, m) in members {
        if m.presence && *id != about {
            let msg = msg.get_or_insert_with(|| PreparedMessage::new(&Message::Text(text.clone())));
            if let Some(msg) = msg {
                m.inbox.deliver(msg.clone());
            }
        }
    }
}

/// A new epoch: 64 random bits in hex (std's hasher keys are random per
/// process, and the clock and a counter vary them within one).
pub(crate) fn new_epoch() -> Arc<str> {
    use std::hash::BuildHasher;
    static N: AtomicU64 = AtomicU64::new(0);
    let seed = (Instant::now(), N.fetch_add(1, Ordering::Relaxed), std::process::id());
    let h = std::collections::hash_map::RandomState::new().hash_one(seed);
    format!("{h:016x}").into()
}

/// Bytes one kept publication of `text_len` bytes costs (for capacity
/// planning in the docs and tests).
pub fn history_cost(text_len: usize) -> usize {
    text_len + ENTRY_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::Out;

    fn data(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    fn texts(m: &mut Membership) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(Out::Msg(msg)) = m.rx.try_recv() {
            m.taken(&msg);
            let frame = msg.frame();
            // An unmasked server text frame of < 126 bytes: two bytes of head.
            out.push(String::from_utf8(frame[2..].to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn live_publications_follow_the_recovered_ones_without_gap_or_repeat() {
        let log = RoomLog::new(HistoryLimits::default());
        let (a, mut a_in) = log.connect(Some("ann"), 1 << 20);
        let start = log.subscribe(&a, "r", None, false).unwrap().now;
        log.publish(&a, "r", &data("1"));
        log.publish(&a, "r", &data("2"));
        let (b, mut b_in) = log.connect(None, 1 << 20);
        let back = log.subscribe(&b, "r", Some(&start), false).unwrap();
        assert!(back.recovered);
        assert_eq!(back.missed.len(), 2);
        log.publish(&a, "r", &data("3"));
        let live = texts(&mut b_in);
        assert_eq!(live.len(), 1);
        assert!(
            live[0].contains("\"offset\":3") && live[0].ends_with("\"data\":3}"),
            "{live:?}"
        );
        assert_eq!(texts(&mut a_in).len(), 3, "the publisher is a subscriber too");
    }

    #[test]
    fn presence_lists_subscribers_and_tells_those_who_asked() {
        let log = RoomLog::new(HistoryLimits::default());
        let (a, mut a_in) = log.connect(Some("ann"), 1 << 20);
        let (b, mut b_in) = log.connect(Some("bob"), 1 << 20);
        log.subscribe(&a, "r", None, true);
        log.subscribe(&b, "r", None, false);
        assert_eq!(
            log.presence("r"),
            [(a.id(), Some("ann".to_string())), (b.id(), Some("bob".to_string()))]
        );
        assert!(log.unsubscribe(&b, "r"));
        assert!(!log.unsubscribe(&b, "r"));
        let events = texts(&mut a_in);
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events[0].contains("\"type\":\"join\"") && events[1].contains("\"type\":\"leave\""));
        assert!(texts(&mut b_in).is_empty(), "b did not ask for presence events");
        assert!(log.unsubscribe(&a, "r"));
        let mut metrics = String::new();
        log.write_metrics(&mut metrics);
        assert!(metrics.contains("wsbolt_rooms_log_rooms 1\n"), "kept idle: {metrics}");
        assert!(metrics.contains("wsbolt_rooms_log_subscriptions 0\n"), "{metrics}");
    }
}
