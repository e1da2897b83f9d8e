//! `/rooms` across `wsbolt serve --redis` nodes, against a real
//! `redis-server`: the history lives in Redis, so a client recovers on any
//! node; Redis restarted empty gives every room a new epoch; Redis away
//! makes publishing fail plainly. Ignored in a plain `cargo test`;
//! `tests/cluster/run` runs them.

mod common;

use std::time::Duration;

use common::cluster::{Client, Node, Redis};
use serde_json::{json, Value};
use wsbolt::rooms::{Event, RoomsClient};

const WAIT: Duration = Duration::from_secs(10);

/// A `/rooms` client that keeps the publications that come before a reply.
struct Rooms {
    c: Client,
    pubs: std::collections::VecDeque<Value>,
}

async fn rooms_client(node: &Node) -> Rooms {
    let mut c = Client::connect_as(&node.ws("/rooms"), "wsbolt.rooms.v1").await;
    c.until_json(WAIT, |v| v["type"] == "welcome").await;
    Rooms {
        c,
        pubs: Default::default(),
    }
}

async fn request(r: &mut Rooms, msg: Value) -> Value {
    let id = msg["id"].clone();
    r.c.send(&msg.to_string()).await;
    loop {
        let v = r.c.until_json(WAIT, |_| true).await;
        if v["id"] == id {
            return v;
        }
        if v["type"] == "pub" {
            r.pubs.push_back(v);
        }
    }
}

async fn subscribe(c: &mut Rooms, id: u64, room: &str, since: Option<&Value>) -> Value {
    let mut msg = json!({"type": "subscribe", "id": id, "room": room});
    if let Some(since) = since {
        msg["since"] = since.clone();
    }
    request(c, msg).await
}

async fn publish(c: &mut Rooms, id: u64, room: &str, data: Value) -> Value {
    request(c, json!({"type": "publish", "id": id, "room": room, "data": data})).await
}

async fn next_pub(r: &mut Rooms) -> Value {
    match r.pubs.pop_front() {
        Some(v) => v,
        None => r.c.until_json(WAIT, |v| v["type"] == "pub").await,
    }
}

/// The Rust client's next event that is not a (re)connection.
async fn rust_event(c: &mut RoomsClient) -> Option<Event> {
    loop {
        match tokio::time::timeout(WAIT, c.next())
            .await
            .expect("an event within 10 s")
        {
            Some(Event::Connected { .. }) => continue,
            other => return other,
        }
    }
}

#[tokio::test]
#[ignore = "needs redis-server: run tests/cluster/run"]
async fn a_client_recovers_on_another_node_and_offsets_are_the_clusters() {
    let redis = Redis::start(&[]).await;
    let a = Node::start(&redis.url(), &[]).await;
    let b = Node::start(&redis.url(), &[]).await;
    let mut on_a = rooms_client(&a).await;
    let mut on_b = rooms_client(&b).await;
    let start = subscribe(&mut on_a, 1, "news", None).await;
    assert_eq!(start["type"], "subscribed", "{start}");
    let epoch = start["epoch"].clone();
    let first = subscribe(&mut on_b, 1, "news", None).await;
    assert_eq!(first["epoch"], epoch, "one epoch for the room across nodes");

    // Both nodes publish; one numbering, and each subscriber gets all.
    for i in 0..6u64 {
        let publisher = if i % 2 == 0 { &mut on_a } else { &mut on_b };
        let ack = publish(publisher, 10 + i, "news", json!(i)).await;
        assert_eq!(ack["type"], "published", "{ack}");
    }
    for c in [&mut on_a, &mut on_b] {
        let mut offsets = Vec::new();
        for _ in 0..6 {
            let p = next_pub(c).await;
            assert_eq!(p["epoch"], epoch);
            offsets.push(p["offset"].as_u64().unwrap());
        }
        assert_eq!(offsets, [1, 2, 3, 4, 5, 6]);
    }

    // A client of A leaves after offset 2, more is published on B, and it
    // comes back on B: it gets 3..=9 once, in order, then live ones.
    drop(on_a);
    for i in 6..9u64 {
        publish(&mut on_b, 20 + i, "news", json!(i)).await;
    }
    let mut back = rooms_client(&b).await;
    let since = json!({"offset": 2, "epoch": epoch});
    let sub = subscribe(&mut back, 1, "news", Some(&since)).await;
    assert_eq!(
        (sub["recovered"].clone(), sub["missed"].clone()),
        (json!(true), json!(7)),
        "{sub}"
    );
    for want in 3..=9u64 {
        assert_eq!(next_pub(&mut back).await["offset"], want);
    }
    // A third node that never saw the room recovers too.
    let c = Node::start(&redis.url(), &[]).await;
    let mut on_c = rooms_client(&c).await;
    let sub = subscribe(&mut on_c, 1, "news", Some(&json!({"offset": 7, "epoch": epoch}))).await;
    assert_eq!(
        (sub["recovered"].clone(), sub["missed"].clone()),
        (json!(true), json!(2)),
        "{sub}"
    );
    assert_eq!(next_pub(&mut on_c).await["offset"], 8);
    assert_eq!(next_pub(&mut on_c).await["offset"], 9);
    publish(&mut on_b, 40, "news", json!("live")).await;
    assert_eq!(next_pub(&mut back).await["offset"], 10);
    let live = next_pub(&mut on_c).await;
    assert_eq!(
        (live["offset"].clone(), live["data"].clone()),
        (json!(10), json!("live"))
    );
    // History comes from Redis on a node without subscribers to the room.
    let mut reader = rooms_client(&a).await;
    let h = request(
        &mut reader,
        json!({"type": "history", "id": 5, "room": "news", "limit": 3}),
    )
    .await;
    let offsets: Vec<u64> = h["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [8, 9, 10], "{h}");
}

#[tokio::test]
#[ignore = "needs redis-server: run tests/cluster/run"]
async fn redis_restarted_empty_starts_a_new_epoch_and_delivery_resumes() {
    let mut redis = Redis::start(&[]).await;
    let a = Node::start(&redis.url(), &[]).await;
    let b = Node::start(&redis.url(), &[]).await;
    let mut on_a = rooms_client(&a).await;
    let mut on_b = rooms_client(&b).await;
    let old = subscribe(&mut on_a, 1, "r", None).await["epoch"].clone();
    subscribe(&mut on_b, 1, "r", None).await;
    // The Rust client too, on node A.
    let mut rust = RoomsClient::new(a.ws("/rooms"), Default::default());
    rust.subscribe("r", false).await.unwrap();
    publish(&mut on_b, 2, "r", json!(1)).await;
    assert_eq!(next_pub(&mut on_a).await["offset"], 1);
    match rust_event(&mut rust).await {
        Some(Event::Publication(p)) => assert_eq!(p.position.offset, 1),
        other => panic!("{other:?}"),
    }

    redis.kill().await;
    // While Redis is away, publishing says so.
    let refused = publish(&mut on_b, 3, "r", json!(2)).await;
    assert_eq!(
        (refused["type"].clone(), refused["code"].clone()),
        (json!("error"), json!("unavailable")),
        "{refused}"
    );
    redis.up().await;

    // The nodes find a new epoch once they reconnect; a client coming back
    // with the old one cannot recover.
    let mut back = rooms_client(&a).await;
    let since = json!({"offset": 1, "epoch": old});
    let mut sub = Value::Null;
    for _ in 0..50 {
        sub = subscribe(&mut back, 1, "r", Some(&since)).await;
        if sub["type"] == "subscribed" && sub["epoch"] != old {
            break;
        }
        if sub["type"] == "subscribed" {
            request(&mut back, json!({"type": "unsubscribe", "id": 2, "room": "r"})).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sub["recovered"], false, "{sub}");
    let new = sub["epoch"].clone();
    assert_ne!(new, old);
    // Live delivery resumes, in the new epoch, for old and new subscribers.
    let mut ack = Value::Null;
    for i in 0..50 {
        ack = publish(&mut on_b, 100 + i, "r", json!("again")).await;
        if ack["type"] == "published" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        (ack["epoch"].clone(), ack["offset"].clone()),
        (new.clone(), json!(1)),
        "{ack}"
    );
    for c in [&mut on_a, &mut back] {
        let p = next_pub(c).await;
        assert_eq!(
            (p["epoch"].clone(), p["data"].clone()),
            (new.clone(), json!("again")),
            "{p}"
        );
    }
}

#[tokio::test]
#[ignore = "needs redis-server: run tests/cluster/run"]
async fn presence_lists_and_announces_the_clients_of_every_node_and_drops_a_dead_nodes() {
    let redis = Redis::start(&[]).await;
    let fast = ["--redis-presence-timeout", "2"];
    let a = Node::start(&redis.url(), &fast).await;
    let mut b = Node::start(&redis.url(), &fast).await;
    let mut watcher = rooms_client(&a).await;
    let sub = request(
        &mut watcher,
        json!({"type": "subscribe", "id": 1, "room": "p", "presence": true}),
    )
    .await;
    assert_eq!(sub["type"], "subscribed", "{sub}");
    // A client of B joins: the watcher on A hears it and both are listed.
    let mut c = Client::connect_as(&b.ws("/rooms"), "wsbolt.rooms.v1").await;
    let welcome = c.until_json(WAIT, |v| v["type"] == "welcome").await;
    let mut on_b = Rooms {
        c,
        pubs: Default::default(),
    };
    subscribe(&mut on_b, 1, "p", None).await;
    let join = watcher.c.until_json(WAIT, |v| v["type"] == "join").await;
    assert_eq!(join["client"], welcome["client"], "{join}");
    // Several heartbeats reconcile meanwhile: no second join for it.
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Some(text) = watcher
        .c
        .next_within(until.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        assert!(!text.contains("\"join\""), "a second join: {text}");
    }
    let mut listed = Value::Null;
    for i in 0..50 {
        listed = request(&mut watcher, json!({"type": "presence", "id": 100 + i, "room": "p"})).await;
        if listed["clients"].as_array().is_some_and(|c| c.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ids: Vec<&Value> = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["client"])
        .collect();
    assert!(ids.contains(&&welcome["client"]), "{listed}");
    assert_eq!(ids.len(), 2, "{listed}");
    // B dies without a word: its client leaves within the presence timeout.
    b.kill().await;
    let leave = watcher
        .c
        .until_json(Duration::from_secs(8), |v| v["type"] == "leave")
        .await;
    assert_eq!(leave["client"], welcome["client"], "{leave}");
    let listed = request(&mut watcher, json!({"type": "presence", "id": 200, "room": "p"})).await;
    assert_eq!(listed["clients"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test]
#[ignore = "needs redis-server: run tests/cluster/run"]
async fn redis_out_of_memory_answers_unavailable_and_loses_no_offset() {
    let redis = Redis::start(&[]).await;
    let a = Node::start(&redis.url(), &[]).await;
    let mut c = rooms_client(&a).await;
    subscribe(&mut c, 1, "m", None).await;
    assert_eq!(publish(&mut c, 2, "m", json!(1)).await["offset"], 1);
    redis.cli(&["config", "set", "maxmemory-policy", "noeviction"]);
    redis.cli(&["config", "set", "maxmemory", "1"]);
    for id in 3..8 {
        let refused = publish(&mut c, id, "m", json!(id)).await;
        assert_eq!(
            (refused["type"].clone(), refused["code"].clone()),
            (json!("error"), json!("unavailable")),
            "{refused}"
        );
        assert!(refused["message"].as_str().unwrap().contains("OOM"), "{refused}");
    }
    redis.cli(&["config", "set", "maxmemory", "0"]);
    let ack = publish(&mut c, 9, "m", json!("after")).await;
    assert_eq!(ack["offset"], 2, "a refused publication takes no offset: {ack}");
    assert_eq!(next_pub(&mut c).await["offset"], 1);
    let p = next_pub(&mut c).await;
    assert_eq!((p["offset"].clone(), p["data"].clone()), (json!(2), json!("after")));
    let log = a.log();
    let lines = log.lines().filter(|l| l.contains("Redis refuses commands")).count();
    assert_eq!(lines, 1, "one log line for five refusals:\n{log}");
}
