//! The rooms of one process.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use wsbolt::{Message, PreparedMessage};

use super::{BoxFuture, Inbox, MemberId, Membership, Rooms};

#[derive(Debug)]
struct Member {
    inbox: Inbox,
    name: Option<String>,
}

/// The rooms of one process.
#[derive(Debug, Default)]
pub struct LocalRooms {
    next_id: AtomicU64,
    rooms: Mutex<HashMap<String, BTreeMap<MemberId, Member>>>,
}

impl LocalRooms {
    /// Rooms whose member ids start after `base` (a shared backend gives
    /// each node its own range, so ids stay unique across nodes).
    pub(super) fn with_id_base(base: u64) -> LocalRooms {
        LocalRooms {
            next_id: AtomicU64::new(base),
            rooms: Mutex::default(),
        }
    }

    fn with_room<T>(&self, room: &str, f: impl FnOnce(&mut BTreeMap<MemberId, Member>) -> T) -> T {
        let mut rooms = self.rooms.lock().expect("rooms lock");
        let members = rooms.entry(room.to_string()).or_default();
        let out = f(members);
        if members.is_empty() {
            rooms.remove(room);
        }
        out
    }

    /// Sets member `id`'s name as a shared backend decided it.
    pub(super) fn set_name(&self, room: &str, id: MemberId, name: String) {
        self.with_room(room, |m| {
            if let Some(m) = m.get_mut(&id) {
                m.name = Some(name);
            }
        });
    }

    /// The members of `room` that have a name, with their names.
    pub(super) fn named(&self, room: &str) -> Vec<(MemberId, String)> {
        let rooms = self.rooms.lock().expect("rooms lock");
        let Some(members) = rooms.get(room) else {
            return Vec::new();
        };
        members
            .iter()
            .filter_map(|(id, m)| Some((*id, m.name.clone()?)))
            .collect()
    }

    /// Whether `room` has members on this node.
    pub(super) fn has_members(&self, room: &str) -> bool {
        self.rooms.lock().expect("rooms lock").contains_key(room)
    }

    /// The rooms that have members on this node.
    pub(super) fn room_names(&self) -> Vec<String> {
        self.rooms.lock().expect("rooms lock").keys().cloned().collect()
    }
}

impl Rooms for LocalRooms {
    fn join(&self, room: &str, queue_limit: usize) -> Membership {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (inbox, membership) = Inbox::new(id, queue_limit);
        let member = Member { inbox, name: None };
        self.with_room(room, |m| m.insert(id, member));
        membership
    }

    fn leave(&self, room: &str, id: MemberId) {
        self.with_room(room, |m| m.remove(&id));
    }

    fn publish(&self, room: &str, msg: &Message) {
        let Some(prepared) = PreparedMessage::new(msg) else {
            return;
        };
        self.with_room(room, |members| {
            for m in members.values() {
                m.inbox.deliver(prepared.clone());
            }
        });
    }

    fn send(&self, room: &str, id: MemberId, msg: &Message) {
        let Some(prepared) = PreparedMessage::new(msg) else {
            return;
        };
        self.with_room(room, |members| {
            if let Some(m) = members.get(&id) {
                m.inbox.deliver(prepared);
            }
        });
    }

    fn claim_name<'a>(&'a self, room: &'a str, id: MemberId, wanted: &'a str) -> BoxFuture<'a, String> {
        let name = self.with_room(room, |members| {
            let taken = |n: &str| {
                members
                    .iter()
                    .any(|(other, m)| *other != id && m.name.as_deref() == Some(n))
            };
            let mut name = wanted.to_string();
            let mut suffix = 1;
            while taken(&name) {
                name = format!("{wanted}{suffix}");
                suffix += 1;
            }
            if let Some(m) = members.get_mut(&id) {
                m.name = Some(name.clone());
            }
            name
        });
        Box::pin(std::future::ready(name))
    }

    fn name(&self, room: &str, id: MemberId) -> Option<String> {
        self.with_room(room, |m| m.get(&id).and_then(|m| m.name.clone()))
    }

    fn users<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Vec<String>> {
        let users = self.with_room(room, |m| m.values().filter_map(|m| m.name.clone()).collect());
        Box::pin(std::future::ready(users))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::Out;

    fn now<T>(f: BoxFuture<'_, T>) -> T {
        futures_util::FutureExt::now_or_never(f).expect("the local backend answers at once")
    }

    #[test]
    fn names_are_unique_and_published_messages_reach_every_member_once() {
        let rooms = LocalRooms::default();
        let mut a = rooms.join("chat", 1 << 20);
        let mut b = rooms.join("chat", 1 << 20);
        let mut other = rooms.join("elsewhere", 1 << 20);
        assert_eq!(now(rooms.claim_name("chat", a.id, "ann")), "ann");
        assert_eq!(now(rooms.claim_name("chat", b.id, "ann")), "ann1");
        assert_eq!(now(rooms.users("chat")), ["ann", "ann1"]);
        rooms.publish("chat", &Message::text("hi"));
        for m in [&mut a, &mut b] {
            assert!(matches!(m.rx.try_recv(), Ok(Out::Msg(_))));
            assert!(m.rx.try_recv().is_err());
        }
        assert!(other.rx.try_recv().is_err(), "other rooms hear nothing");
        rooms.leave("chat", a.id);
        assert_eq!(now(rooms.users("chat")), ["ann1"]);
        assert_eq!(rooms.name("chat", b.id).as_deref(), Some("ann1"));
    }

    #[test]
    fn a_member_whose_queue_would_pass_its_limit_is_kicked() {
        let rooms = LocalRooms::default();
        let mut m = rooms.join("r", 10);
        rooms.publish("r", &Message::text("12345"));
        rooms.publish("r", &Message::text("1234567890"));
        assert!(matches!(m.rx.try_recv(), Ok(Out::Msg(_))));
        assert!(matches!(m.rx.try_recv(), Ok(Out::Kick)));
    }

    #[test]
    fn empty_rooms_are_forgotten() {
        let rooms = LocalRooms::default();
        let m = rooms.join("r", 10);
        rooms.leave("r", m.id);
        assert!(rooms.rooms.lock().unwrap().is_empty());
    }
}
