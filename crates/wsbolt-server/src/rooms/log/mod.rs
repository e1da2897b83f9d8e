//! Rooms with a history: the state behind `wsbolt.rooms.v1`
//! (docs/rooms-protocol.md). See [`RoomLog`].

mod history;
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
/// This backend keeps its history in this process: a restart (a new epoch)
/// loses it. Clients then learn `recovered: false`.
///
/// # Example
///
/// ```
/// use wsbolt_server::rooms::{HistoryLimits, RoomLog};
///
/// let log = RoomLog::new(HistoryLimits::default());
/// let (ann, _ann_inbox) = log.connect(Some("ann"), 1 << 20);
/// let start = log.subscribe(&ann, "news", None, false).now;
/// let data = serde_json::value::RawValue::from_string("\"hello\"".into()).unwrap();
/// log.publish(&ann, "news", &data);
///
/// // Bob was away since `start`: he gets the publication, then live ones.
/// let (bob, _bob_inbox) = log.connect(Some("bob"), 1 << 20);
/// let back = log.subscribe(&bob, "news", Some(&start), false);
/// assert!(back.recovered);
/// assert_eq!(back.missed.len(), 1);
/// ```
#[derive(Debug)]
pub struct RoomLog {
    state: Mutex<State>,
    next_client: AtomicU64,
    limits: HistoryLimits,
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
    pub fn subscribe(&self, client: &Client, room: &str, since: Option<&Position>, presence: bool) -> Subscribed {
        let mut state = self.state();
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
        }
        // Pinned first: a log nobody subscribes to is not kept.
        let recovery = state.histories.recover(room, since, Instant::now());
        Subscribed {
            now: recovery.now,
            recovered: recovery.recovered,
            missed: recovery.missed,
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
        true
    }

    /// Publishes `data` (any JSON) to `room` as `client`: numbered, kept in
    /// history and sent to every subscriber (the publisher too if it is
    /// one). Returns its position.
    pub fn publish(&self, client: &Client, room: &str, data: &RawValue) -> Position {
        let mut state = self.state();
        let user = client.user();
        let render = |at: &Position| wire::publication(room, at, user, data);
        let (at, text) = state.histories.append(room, Instant::now(), render);
        if let (Some(members), Some(msg)) = (state.members.get(room), PreparedMessage::new(&Message::Text(text))) {
            for m in members.values() {
                m.inbox.deliver(msg.clone());
            }
        }
        at
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
fn new_epoch() -> Arc<str> {
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
        let start = log.subscribe(&a, "r", None, false).now;
        log.publish(&a, "r", &data("1"));
        log.publish(&a, "r", &data("2"));
        let (b, mut b_in) = log.connect(None, 1 << 20);
        let back = log.subscribe(&b, "r", Some(&start), false);
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
