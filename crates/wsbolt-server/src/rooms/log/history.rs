//! The rooms' histories on one node: per room an epoch, the last offset and
//! the latest publications, bounded by count and age per room and by bytes
//! across rooms. No I/O and no clock of its own: the caller passes `now`.
//!
//! A room's log lives while it has subscribers or publications; when both
//! are gone it is forgotten, and a room that comes back gets a new epoch
//! (its clients learn they cannot recover across the gap).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsbolt::Utf8Bytes;

/// How much history the rooms keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Publications kept per room. Default 100.
    pub size: usize,
    /// How long a publication is kept. Default 5 minutes.
    pub age: Duration,
    /// Bytes of history across all rooms (publications and their
    /// bookkeeping); beyond it the oldest publications of any room go
    /// first. Default 64 MiB.
    pub memory: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            size: 100,
            age: Duration::from_secs(300),
            memory: 64 << 20,
        }
    }
}

/// Bytes a kept publication costs besides its text: its slot in the room's
/// queue (offset, time, stamp, the text's handle) and the shared buffer's
/// header.
pub(crate) const ENTRY_OVERHEAD: usize = 80;

/// Where a room's log stands: its epoch and the offset of its last
/// publication (0 before the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The publication's number in its room, from 1, without gaps.
    pub offset: u64,
    /// Names one run of the room's log: offsets compare only within an
    /// epoch. It changes when the log is lost (a restart, the room
    /// forgotten, a backend that lost the stream).
    pub epoch: Arc<str>,
}

/// What a subscriber coming back with a position gets.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// Where the room stands now.
    pub now: Position,
    /// Whether `missed` is everything published after the position given.
    pub recovered: bool,
    /// The publications after the position given, in order (empty unless
    /// recovered).
    pub missed: Vec<Utf8Bytes>,
}

#[derive(Debug)]
struct Entry {
    offset: u64,
    at: Instant,
    /// Order of appends across rooms: the global age and memory trims take
    /// the smallest first.
    stamp: u64,
    text: Utf8Bytes,
}

#[derive(Debug)]
struct Log {
    epoch: Arc<str>,
    last: u64,
    entries: VecDeque<Entry>,
    subscribers: usize,
    /// Without subscribers and entries since (this time, this stamp): the
    /// log is kept for the age limit, so that a client coming back to a
    /// quiet room recovers, and then forgotten.
    idle: Option<(Instant, u64)>,
}

impl Log {
    /// When the log's oldest thing (its first entry, or its idleness) began.
    fn oldest_time(&self) -> Option<Instant> {
        self.entries.front().map(|e| e.at).or(self.idle.map(|(at, _)| at))
    }
}

/// Every room's log on this node.
#[derive(Debug)]
pub(crate) struct Histories {
    limits: HistoryLimits,
    logs: HashMap<Arc<str>, Log>,
    /// (stamp of the room's first kept entry, or of its idleness, room) for
    /// every room with entries or idle: the first is the oldest of all.
    oldest: BTreeSet<(u64, Arc<str>)>,
    next_stamp: u64,
    /// Bytes of kept entries ([`ENTRY_OVERHEAD`] each besides the text) and
    /// idle logs ([`IDLE_OVERHEAD`] each besides the name).
    bytes: usize,
    entries: usize,
    new_epoch: fn() -> Arc<str>,
}

/// Bytes an idle log costs besides its room's name.
pub(crate) const IDLE_OVERHEAD: usize = 96;

impl Histories {
    pub(crate) fn new(limits: HistoryLimits, new_epoch: fn() -> Arc<str>) -> Histories {
        Histories {
            limits,
            logs: HashMap::new(),
            oldest: BTreeSet::new(),
            next_stamp: 0,
            bytes: 0,
            entries: 0,
            new_epoch,
        }
    }

    /// (rooms, kept publications, bytes) for the metrics.
    pub(crate) fn usage(&self) -> (usize, usize, usize) {
        (self.logs.len(), self.entries, self.bytes)
    }

    fn stamp(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }

    /// `room`'s log, made (with a new epoch) if it has none; true if made.
    fn log(&mut self, room: &str) -> (&mut Log, bool) {
        let made = !self.logs.contains_key(room);
        if made {
            let log = Log {
                epoch: (self.new_epoch)(),
                last: 0,
                entries: VecDeque::new(),
                subscribers: 0,
                idle: None,
            };
            self.logs.insert(room.into(), log);
        }
        (self.logs.get_mut(room).expect("just inserted"), made)
    }

    /// `room` is in use again: it is no longer idle.
    fn wake(&mut self, room: &str) {
        let Some(log) = self.logs.get_mut(room) else { return };
        if let Some((_, stamp)) = log.idle.take() {
            self.oldest.remove(&(stamp, Arc::from(room)));
            self.bytes -= IDLE_OVERHEAD + room.len();
        }
    }

    /// Marks `room` idle if nothing uses it any more.
    fn settle(&mut self, room: &str, now: Instant) {
        let stamp = self.next_stamp + 1;
        let Some(log) = self.logs.get_mut(room) else { return };
        if log.subscribers == 0 && log.entries.is_empty() && log.idle.is_none() {
            self.next_stamp = stamp;
            log.idle = Some((now, stamp));
            self.oldest.insert((stamp, room.into()));
            self.bytes += IDLE_OVERHEAD + room.len();
        }
    }

    /// A subscriber joined `room`: its log lives at least until
    /// [`unpin`](Self::unpin).
    pub(crate) fn pin(&mut self, room: &str) {
        self.log(room).0.subscribers += 1;
        self.wake(room);
    }

    /// A subscriber left `room`; a log left without subscribers and entries
    /// is kept for the age limit.
    pub(crate) fn unpin(&mut self, room: &str, now: Instant) {
        if let Some(log) = self.logs.get_mut(room) {
            log.subscribers = log.subscribers.saturating_sub(1);
            self.settle(room, now);
        }
    }

    /// Appends a publication: `render` makes its text from its position.
    /// Returns the position and the text.
    pub(crate) fn append(
        &mut self,
        room: &str,
        now: Instant,
        render: impl FnOnce(&Position) -> Utf8Bytes,
    ) -> (Position, Utf8Bytes) {
        self.trim(now);
        let (log, _) = self.log(room);
        let position = Position {
            offset: log.last + 1,
            epoch: log.epoch.clone(),
        };
        let text = render(&position);
        self.push(room, position.offset, now, now, text.clone());
        (position, text)
    }

    /// Whether `room` has a log on this node.
    pub(crate) fn has(&self, room: &str) -> bool {
        self.logs.contains_key(room)
    }

    /// The epoch of `room`'s log, if it has one.
    pub(crate) fn epoch(&self, room: &str) -> Option<Arc<str>> {
        self.logs.get(room).map(|log| log.epoch.clone())
    }

    /// The offset of `room`'s last publication (0 without a log).
    pub(crate) fn last_offset(&self, room: &str) -> u64 {
        self.logs.get(room).map_or(0, |log| log.last)
    }

    /// Empties `room`'s log (made if missing, keeping its subscribers) and
    /// starts it over at `epoch`, `last`: a copy of a shared store's log
    /// that lost track of it.
    pub(crate) fn reset(&mut self, room: &str, epoch: Arc<str>, last: u64) {
        self.clear(room);
        let (log, _) = self.log(room);
        log.epoch = epoch;
        log.last = last;
    }

    /// Drops `room`'s entries (and its idleness), keeping the index and
    /// the counts.
    fn clear(&mut self, room: &str) {
        self.wake(room);
        let Some(log) = self.logs.get_mut(room) else { return };
        if let Some(first) = log.entries.front() {
            self.oldest.remove(&(first.stamp, Arc::from(room)));
        }
        for e in log.entries.drain(..) {
            self.bytes -= e.text.len() + ENTRY_OVERHEAD;
            self.entries -= 1;
        }
    }

    /// Forgets `room`'s log if nobody here subscribes to it (a copy of a
    /// shared store's log is not kept without subscribers: nothing keeps it
    /// up to date).
    pub(crate) fn forget_unused(&mut self, room: &str) -> bool {
        if self.logs.get(room).is_none_or(|log| log.subscribers > 0) {
            return false;
        }
        self.clear(room);
        self.logs.remove(room);
        true
    }

    /// Adds the publication at `at` (read from a shared store, published
    /// `age` before `now`) to `room`'s log, if the log exists and it is
    /// new: false for one already kept (same epoch, offset not after the
    /// last). Another epoch, or a gap in the offsets, starts the log over
    /// from it: subscribers from before cannot recover across it.
    pub(crate) fn insert(&mut self, room: &str, at: &Position, time: Instant, now: Instant, text: Utf8Bytes) -> bool {
        let Some(log) = self.logs.get(room) else {
            return false;
        };
        if at.epoch == log.epoch && at.offset <= log.last {
            return false;
        }
        if at.epoch != log.epoch || at.offset != log.last + 1 {
            self.reset(room, at.epoch.clone(), at.offset.saturating_sub(1));
        }
        self.trim(now);
        if !self.has(room) {
            // Only possible for a room without subscribers.
            return false;
        }
        self.push(room, at.offset, time, now, text);
        true
    }

    /// Keeps `text` as `room`'s publication `offset` (its log's new last),
    /// published at `at`, within the count and memory limits.
    fn push(&mut self, room: &str, offset: u64, at: Instant, now: Instant, text: Utf8Bytes) {
        self.wake(room);
        let stamp = self.stamp();
        let (log, _) = self.log(room);
        log.last = offset;
        let was_empty = log.entries.is_empty();
        let len = text.len();
        log.entries.push_back(Entry {
            offset,
            at,
            stamp,
            text,
        });
        let over = log.entries.len() > self.limits.size;
        self.bytes += len + ENTRY_OVERHEAD;
        self.entries += 1;
        if was_empty {
            self.oldest.insert((stamp, room.into()));
        }
        if over {
            self.drop_oldest(room, now, true);
        }
        while self.bytes > self.limits.memory {
            let Some((_, oldest)) = self.oldest.first().cloned() else {
                break;
            };
            // Short of memory, a log left empty is forgotten at once
            // rather than kept idle (which costs memory too).
            self.drop_oldest(&oldest, now, false);
        }
    }

    /// Drops entries and idle logs older than the age limit.
    pub(crate) fn trim(&mut self, now: Instant) {
        while let Some((_, room)) = self.oldest.first().cloned() {
            let expired = self.logs[&room]
                .oldest_time()
                .is_some_and(|at| now.saturating_duration_since(at) >= self.limits.age);
            if !expired {
                break;
            }
            self.drop_oldest(&room, now, true);
        }
    }

    /// Removes `room`'s first entry, or the room if it is idle, keeping the
    /// index and the counts. A log left without entries and subscribers
    /// becomes idle with `idle_ok`, else it is forgotten.
    fn drop_oldest(&mut self, room: &str, now: Instant, idle_ok: bool) {
        let Some(log) = self.logs.get_mut(room) else { return };
        let Some(entry) = log.entries.pop_front() else {
            if log.idle.is_some() {
                self.wake(room);
                self.logs.remove(room);
            }
            return;
        };
        self.oldest.remove(&(entry.stamp, Arc::from(room)));
        self.bytes -= entry.text.len() + ENTRY_OVERHEAD;
        self.entries -= 1;
        match log.entries.front() {
            Some(next) => {
                self.oldest.insert((next.stamp, room.into()));
            }
            None if idle_ok => self.settle(room, now),
            None if log.subscribers == 0 => {
                self.logs.remove(room);
            }
            None => {}
        }
    }

    /// Where `room` stands, and whether a subscriber at `since` can have
    /// everything after it: the same epoch, and nothing after it trimmed.
    pub(crate) fn recover(&mut self, room: &str, since: Option<&Position>, now: Instant) -> Recovery {
        self.trim(now);
        let (log, made) = self.log(room);
        let now = Position {
            offset: log.last,
            epoch: log.epoch.clone(),
        };
        let first_kept = log.entries.front().map_or(log.last + 1, |e| e.offset);
        let (recovered, missed) = match since {
            None => (true, Vec::new()),
            Some(since) if since.epoch == log.epoch && since.offset <= log.last && since.offset + 1 >= first_kept => {
                let missed = log.entries.iter().filter(|e| e.offset > since.offset);
                (true, missed.map(|e| e.text.clone()).collect())
            }
            Some(_) => (false, Vec::new()),
        };
        if made && log.subscribers == 0 {
            // A room nobody uses, only asked about: nothing to keep.
            self.logs.remove(room);
        }
        Recovery { now, recovered, missed }
    }

    /// The last `limit` publications of `room` (fewer if fewer are kept),
    /// oldest first, and where the room stands.
    pub(crate) fn last(&mut self, room: &str, limit: usize, now: Instant) -> (Position, Vec<Utf8Bytes>) {
        let Recovery { now: position, .. } = self.recover(room, None, now);
        let texts = self.logs.get(room).map_or_else(Vec::new, |log| {
            let skip = log.entries.len().saturating_sub(limit);
            log.entries.iter().skip(skip).map(|e| e.text.clone()).collect()
        });
        (position, texts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs() -> Arc<str> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        format!("e{}", N.fetch_add(1, Ordering::Relaxed)).into()
    }

    fn text(p: &Position) -> Utf8Bytes {
        Utf8Bytes::from(format!("{}", p.offset))
    }

    fn limits(size: usize, age_s: u64, memory: usize) -> HistoryLimits {
        HistoryLimits {
            size,
            age: Duration::from_secs(age_s),
            memory,
        }
    }

    fn offsets(texts: &[Utf8Bytes]) -> Vec<u64> {
        texts.iter().map(|t| t.as_str().parse().unwrap()).collect()
    }

    #[test]
    fn a_subscriber_within_the_history_gets_everything_after_its_offset_in_order() {
        let mut h = Histories::new(limits(5, 60, 1 << 20), epochs);
        let t = Instant::now();
        h.pin("r");
        let start = h.recover("r", None, t).now;
        assert_eq!(start.offset, 0);
        for _ in 0..4 {
            h.append("r", t, text);
        }
        let r = h.recover("r", Some(&start), t);
        assert!(r.recovered);
        assert_eq!((offsets(&r.missed), r.now.offset), (vec![1, 2, 3, 4], 4));
        let mid = Position {
            offset: 2,
            ..start.clone()
        };
        assert_eq!(offsets(&h.recover("r", Some(&mid), t).missed), [3, 4]);
        // Up to date: recovered, nothing missed.
        let r = h.recover("r", Some(&r.now), t);
        assert!(r.recovered && r.missed.is_empty());
    }

    #[test]
    fn trimmed_history_another_epoch_or_an_offset_from_the_future_is_not_recovered() {
        let mut h = Histories::new(limits(3, 60, 1 << 20), epochs);
        let t = Instant::now();
        h.pin("r");
        let start = h.recover("r", None, t).now;
        for _ in 0..5 {
            h.append("r", t, text);
        }
        // Offsets 3..=5 kept: from 2 on is recoverable, from 1 is not.
        assert!(
            h.recover(
                "r",
                Some(&Position {
                    offset: 2,
                    ..start.clone()
                }),
                t
            )
            .recovered
        );
        let r = h.recover(
            "r",
            Some(&Position {
                offset: 1,
                ..start.clone()
            }),
            t,
        );
        assert!(!r.recovered && r.missed.is_empty());
        assert_eq!(
            r.now,
            Position {
                offset: 5,
                ..start.clone()
            }
        );
        let other = Position {
            offset: 5,
            epoch: "elsewhere".into(),
        };
        assert!(!h.recover("r", Some(&other), t).recovered);
        assert!(!h.recover("r", Some(&Position { offset: 6, ..start }), t).recovered);
    }

    #[test]
    fn age_trims_and_a_forgotten_room_comes_back_with_a_new_epoch() {
        let mut h = Histories::new(limits(100, 10, 1 << 20), epochs);
        let t = Instant::now();
        let (first, _) = h.append("r", t, text);
        h.append("r", t + Duration::from_secs(5), text);
        // At 12 s the first is gone: a subscriber at 0 cannot recover, at 1 can.
        let zero = Position {
            offset: 0,
            ..first.clone()
        };
        let later = t + Duration::from_secs(12);
        assert!(!h.recover("r", Some(&zero), later).recovered);
        assert_eq!(offsets(&h.recover("r", Some(&first), later).missed), [2]);
        // At 15 s both are gone; nobody subscribes: the room is idle, kept
        // for the age limit so that a client that saw everything recovers.
        let at_15 = t + Duration::from_secs(15);
        h.trim(at_15);
        assert_eq!(h.usage(), (1, 0, IDLE_OVERHEAD + 1));
        assert!(
            !h.recover("r", Some(&first), at_15).recovered,
            "2 was missed and is gone"
        );
        let second = Position {
            offset: 2,
            ..first.clone()
        };
        assert!(h.recover("r", Some(&second), at_15).recovered);
        // Idle for the age limit: forgotten; it comes back with a new epoch.
        let at_25 = t + Duration::from_secs(25);
        h.trim(at_25);
        assert_eq!(h.usage(), (0, 0, 0));
        let r = h.recover("r", Some(&second), at_25);
        assert!(!r.recovered);
        assert_ne!(r.now.epoch, first.epoch);
        assert_eq!(r.now.offset, 0);
    }

    #[test]
    fn a_subscribed_room_keeps_its_epoch_without_publications() {
        let mut h = Histories::new(limits(100, 10, 1 << 20), epochs);
        let t = Instant::now();
        h.pin("r");
        let (p, _) = h.append("r", t, text);
        let later = t + Duration::from_secs(60);
        let r = h.recover("r", Some(&p), later);
        assert!(r.recovered, "the entry aged out, but nothing after offset 1 was lost");
        assert_eq!(r.now, p);
        h.unpin("r", later);
        assert_eq!(h.usage().0, 1, "idle: kept for the age limit");
        h.pin("r");
        h.unpin("r", later);
        assert_eq!(h.usage(), (1, 0, IDLE_OVERHEAD + 1), "counted once");
        h.trim(later + Duration::from_secs(10));
        assert_eq!(h.usage(), (0, 0, 0));
    }

    #[test]
    fn memory_is_bounded_across_rooms_oldest_first() {
        let entry = 10 + ENTRY_OVERHEAD;
        let mut h = Histories::new(limits(100, 60, 3 * entry), epochs);
        let t = Instant::now();
        let ten = |_: &Position| Utf8Bytes::from("0123456789");
        h.append("a", t, ten);
        h.append("b", t, ten);
        h.append("a", t, ten);
        assert_eq!(h.usage(), (2, 3, 3 * entry));
        // A fourth goes over: the oldest of all (a's first) is dropped.
        let (p, _) = h.append("c", t, ten);
        assert_eq!(h.usage(), (3, 3, 3 * entry));
        assert_eq!(h.last("a", 10, t).1.len(), 1);
        h.append("c", t, ten);
        // Then b's only entry: b is forgotten.
        assert_eq!(h.usage(), (2, 3, 3 * entry));
        assert_eq!(h.last("c", 10, t).0, Position { offset: 2, ..p });
    }

    #[test]
    fn a_copy_takes_the_next_publication_skips_repeats_and_restarts_at_a_gap_or_new_epoch() {
        let mut h = Histories::new(limits(10, 60, 1 << 20), epochs);
        let t = Instant::now();
        let at = |offset, epoch: &str| Position {
            offset,
            epoch: epoch.into(),
        };
        let txt = |p: &Position| text(p);
        assert!(
            !h.insert("r", &at(1, "E"), t, t, txt(&at(1, "E"))),
            "no copy of the room"
        );
        h.pin("r");
        h.reset("r", "E".into(), 4);
        assert!(h.insert("r", &at(5, "E"), t, t, txt(&at(5, "E"))));
        assert!(!h.insert("r", &at(5, "E"), t, t, txt(&at(5, "E"))), "a repeat");
        assert!(h.insert("r", &at(6, "E"), t, t, txt(&at(6, "E"))));
        let from_4 = at(4, "E");
        assert_eq!(offsets(&h.recover("r", Some(&from_4), t).missed), [5, 6]);
        // A gap: what was before it cannot be recovered any more.
        assert!(h.insert("r", &at(9, "E"), t, t, txt(&at(9, "E"))));
        assert!(!h.recover("r", Some(&from_4), t).recovered);
        assert_eq!(offsets(&h.recover("r", Some(&at(8, "E")), t).missed), [9]);
        // Another epoch (the store lost the room): starts over from it.
        assert!(h.insert("r", &at(1, "F"), t, t, txt(&at(1, "F"))));
        assert!(!h.recover("r", Some(&at(9, "E")), t).recovered);
        let r = h.recover("r", Some(&at(0, "F")), t);
        assert_eq!((offsets(&r.missed), r.now), (vec![1], at(1, "F")));
        assert_eq!(
            h.usage(),
            (1, 1, 1 + ENTRY_OVERHEAD),
            "the old epoch's entries are gone"
        );
        h.unpin("r", t);
        assert!(h.forget_unused("r"));
        assert_eq!(h.usage(), (0, 0, 0));
    }

    #[test]
    fn last_gives_at_most_the_limit_oldest_first() {
        let mut h = Histories::new(limits(4, 60, 1 << 20), epochs);
        let t = Instant::now();
        for _ in 0..6 {
            h.append("r", t, text);
        }
        assert_eq!(offsets(&h.last("r", 2, t).1), [5, 6]);
        assert_eq!(offsets(&h.last("r", 100, t).1), [3, 4, 5, 6]);
        assert!(h.last("nowhere", 5, t).1.is_empty());
        assert_eq!(h.usage().0, 1, "asking about a room does not keep it");
    }
}
