//! `/rooms` (`wsbolt.rooms.v1`) over real sockets: the requests and their
//! errors, recovery after a reconnect, the limits.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use wsbolt::{ClientConfig, MaybeTlsStream, Message, WebSocketStream};
use wsbolt_server::ServeConfig;

mod common;

use common::start;

type Ws = WebSocketStream<MaybeTlsStream>;

async fn open(url: &str) -> (Ws, Value) {
    let cfg = ClientConfig::default().protocols(vec!["wsbolt.rooms.v1".into()]);
    let (mut ws, resp) = wsbolt::connect_with_config(url, &cfg).await.unwrap();
    assert_eq!(resp.protocol.as_deref(), Some("wsbolt.rooms.v1"));
    let welcome = next(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Close(c))) => panic!("closed: {c:?}"),
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// Sends a request and returns the next message (its reply, when nothing
/// else is under way).
async fn ask(ws: &mut Ws, v: Value) -> Value {
    send(ws, v).await;
    next(ws).await
}

#[tokio::test]
async fn requests_replies_publications_and_presence() {
    let s = start(ServeConfig::default()).await;
    let (mut a, welcome) = open(&s.url("/rooms")).await;
    assert_eq!(welcome["limits"], json!({"subscriptions": 128, "history": 100}));
    let (mut b, _) = open(&s.url("/rooms")).await;

    let sub = ask(
        &mut a,
        json!({"type": "subscribe", "id": 1, "room": "news", "presence": true}),
    )
    .await;
    assert_eq!(
        (&sub["type"], &sub["id"], &sub["offset"], &sub["recovered"]),
        (&json!("subscribed"), &json!(1), &json!(0), &json!(true))
    );
    let epoch = sub["epoch"].as_str().unwrap().to_string();
    assert_eq!(epoch.len(), 16);
    ask(&mut b, json!({"type": "subscribe", "id": 1, "room": "news"})).await;
    let join = next(&mut a).await;
    assert_eq!((&join["type"], &join["room"]), (&json!("join"), &json!("news")));

    let published = ask(
        &mut b,
        json!({"type": "publish", "id": 2, "room": "news", "data": {"text": "hi"}}),
    )
    .await;
    assert_eq!(
        published,
        json!({"type": "published", "id": 2, "room": "news", "offset": 1, "epoch": epoch})
    );
    let expected = json!({"type": "pub", "room": "news", "offset": 1, "epoch": epoch, "data": {"text": "hi"}});
    assert_eq!(next(&mut a).await, expected);
    assert_eq!(next(&mut b).await, expected, "the publisher is subscribed too");

    let history = ask(&mut a, json!({"type": "history", "id": 3, "room": "news", "limit": 10})).await;
    assert_eq!(history["publications"], json!([expected]));
    assert_eq!(history["offset"], 1);
    let presence = ask(&mut a, json!({"type": "presence", "id": 4, "room": "news"})).await;
    assert_eq!(presence["clients"].as_array().unwrap().len(), 2);

    let bye = ask(&mut b, json!({"type": "unsubscribe", "id": 5, "room": "news"})).await;
    assert_eq!(bye, json!({"type": "unsubscribed", "id": 5, "room": "news"}));
    assert_eq!(next(&mut a).await["type"], "leave");
    // b is out: a's next publication reaches a only.
    ask(&mut a, json!({"type": "publish", "room": "news", "data": 2})).await;
    assert_eq!(next(&mut a).await["offset"], 2);
    let again = ask(&mut b, json!({"type": "presence", "id": 6, "room": "news"})).await;
    assert_eq!(again["type"], "presence", "b got nothing in between: {again}");

    // A connection that ends leaves its rooms (a hears it).
    ask(&mut b, json!({"type": "subscribe", "room": "news"})).await;
    assert_eq!(next(&mut a).await["type"], "join");
    drop(b);
    assert_eq!(next(&mut a).await["type"], "leave");
    let metrics = reqwest_metrics(&s.addr).await;
    assert!(metrics.contains("wsbolt_rooms_history_publications 2\n"), "{metrics}");
    assert!(metrics.contains("wsbolt_rooms_log_subscriptions 1\n"), "{metrics}");
}

/// `/metrics` over a plain socket.
async fn reqwest_metrics(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn bad_requests_get_errors_and_binary_closes_1003() {
    let s = start(ServeConfig::default()).await;
    let (mut ws, _) = open(&s.url("/rooms")).await;
    let cases = [
        ("not json", None, "bad_request"),
        ("[1,2]", None, "bad_request"),
        (r#"{"id":7}"#, Some(7), "bad_request"),
        (r#"{"type":"dance","id":8}"#, Some(8), "unknown_type"),
        (r#"{"type":"subscribe","id":9}"#, Some(9), "bad_request"),
        (r#"{"type":"subscribe","id":10,"room":""}"#, Some(10), "bad_room"),
        (r#"{"type":"publish","id":11,"room":"r"}"#, Some(11), "bad_request"),
        (
            r#"{"type":"unsubscribe","id":12,"room":"r"}"#,
            Some(12),
            "not_subscribed",
        ),
        (r#"{"type":"subscribe","id":1e400,"room":"r"}"#, None, "bad_request"),
        (r#"{"type":"subscribe","id":"x","room":"r"}"#, None, "bad_request"),
        (
            r#"{"type":"subscribe","room":"r","since":{"offset":-1,"epoch":"e"}}"#,
            None,
            "bad_request",
        ),
    ];
    for (text, id, code) in cases {
        ws.send(Message::text(text)).await.unwrap();
        let e = next(&mut ws).await;
        assert_eq!((&e["type"], &e["code"]), (&json!("error"), &json!(code)), "{text}: {e}");
        assert_eq!(e.get("id").and_then(Value::as_u64), id, "{text}: {e}");
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    let long_id = format!(r#"{{"type":"x","id":"{}"}}"#, "9".repeat(100_000));
    ws.send(Message::text(long_id)).await.unwrap();
    assert_eq!(next(&mut ws).await["code"], "bad_request");
    ask(&mut ws, json!({"type": "subscribe", "id": 1, "room": "r"})).await;
    let again = ask(&mut ws, json!({"type": "subscribe", "id": 2, "room": "r"})).await;
    assert_eq!(again["code"], "already_subscribed");

    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(closed.map(|f| f.code().as_u16()), Some(1003));
}

#[tokio::test]
async fn ten_thousand_subscriptions_stop_at_the_limit_and_history_at_its_size() {
    let s = start(ServeConfig::default().rooms_history_size(5)).await;
    let (ws, _) = open(&s.url("/rooms")).await;
    // Sent as fast as the socket takes them, read after.
    let (mut rx, mut tx) = ws.split();
    let sender = tokio::spawn(async move {
        for i in 0..10_000 {
            let req = json!({"type": "subscribe", "id": i, "room": format!("room{i}")});
            tx.feed(Message::text(req.to_string())).await.unwrap();
        }
        tx.flush().await.unwrap();
        tx
    });
    let (mut ok, mut refused) = (0, 0);
    for i in 0..10_000u64 {
        let v: Value = match tokio::time::timeout(Duration::from_secs(10), rx.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(v["id"], i);
        match v["type"].as_str().unwrap() {
            "subscribed" => ok += 1,
            "error" if v["code"] == "too_many_subscriptions" => refused += 1,
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!((ok, refused), (128, 10_000 - 128));
    let tx = sender.await.unwrap();
    let mut ws = rx.reunite(tx).map_err(|_| "reunite").unwrap();
    for i in 0..8 {
        ask(&mut ws, json!({"type": "publish", "room": "room0", "data": i})).await;
        next(&mut ws).await; // the publication itself
    }
    let h = ask(&mut ws, json!({"type": "history", "room": "room0", "limit": 1_000_000})).await;
    let offsets: Vec<u64> = h["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [4, 5, 6, 7, 8], "at most the history's size, oldest first");
}

/// Subscribes to `room` from `since` and returns the reply.
async fn subscribe(ws: &mut Ws, room: &str, since: Option<(u64, &str)>) -> Value {
    let mut req = json!({"type": "subscribe", "id": 1, "room": room});
    if let Some((offset, epoch)) = since {
        req["since"] = json!({"offset": offset, "epoch": epoch});
    }
    let reply = ask(ws, req).await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    reply
}

#[tokio::test]
async fn a_client_that_comes_back_gets_what_it_missed_or_is_told_it_cannot() {
    let s = start(ServeConfig::default().rooms_history_size(10)).await;
    let (mut publisher, _) = open(&s.url("/rooms")).await;
    let (mut away, _) = open(&s.url("/rooms")).await;
    let at = subscribe(&mut away, "r", None).await;
    let epoch = at["epoch"].as_str().unwrap().to_string();
    drop(away);
    for i in 1..=4 {
        ask(&mut publisher, json!({"type": "publish", "room": "r", "data": i})).await;
    }
    // Back within the history: the 4 it missed, then live ones.
    let (mut back, _) = open(&s.url("/rooms")).await;
    let reply = subscribe(&mut back, "r", Some((0, &epoch))).await;
    assert_eq!(
        (&reply["recovered"], &reply["missed"], &reply["offset"]),
        (&json!(true), &json!(4), &json!(4))
    );
    for i in 1..=4 {
        let p = next(&mut back).await;
        assert_eq!((&p["offset"], &p["data"]), (&json!(i), &json!(i)));
    }
    ask(&mut publisher, json!({"type": "publish", "room": "r", "data": 5})).await;
    assert_eq!(next(&mut back).await["offset"], 5);
    drop(back);

    // Away for more than the history holds: not recovered, told where the room is.
    for i in 6..=20 {
        ask(&mut publisher, json!({"type": "publish", "room": "r", "data": i})).await;
    }
    let (mut late, _) = open(&s.url("/rooms")).await;
    let reply = subscribe(&mut late, "r", Some((5, &epoch))).await;
    assert_eq!(
        (&reply["recovered"], &reply["missed"], &reply["offset"]),
        (&json!(false), &json!(0), &json!(20))
    );
    assert_eq!(reply["epoch"], epoch.as_str());
    // Another epoch (a restart): not recovered.
    let reply = subscribe(&mut late, "s", Some((0, "0123456789abcdef"))).await;
    assert_eq!(reply["recovered"], false);
    // Nothing else arrives for `late`: its next message is the next reply.
    assert_eq!(
        ask(&mut late, json!({"type": "presence", "room": "r"})).await["type"],
        "presence"
    );
}

#[tokio::test]
async fn history_older_than_its_age_is_not_recovered() {
    let s = start(ServeConfig::default().rooms_history_age(1)).await;
    let (mut publisher, _) = open(&s.url("/rooms")).await;
    let (mut away, _) = open(&s.url("/rooms")).await;
    let at = subscribe(&mut away, "r", None).await;
    let epoch = at["epoch"].as_str().unwrap().to_string();
    drop(away);
    ask(&mut publisher, json!({"type": "publish", "room": "r", "data": 1})).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (mut back, _) = open(&s.url("/rooms")).await;
    let reply = subscribe(&mut back, "r", Some((0, &epoch))).await;
    assert_eq!((&reply["recovered"], &reply["offset"]), (&json!(false), &json!(1)));
}

/// The seam: a client that drops and comes back again and again while a
/// publisher never pauses ends up with every publication exactly once, in
/// order.
#[tokio::test]
async fn reconnecting_under_a_steady_publisher_loses_and_repeats_nothing() {
    const TOTAL: u64 = 3_000;
    let s = start(ServeConfig::default().rooms_history_size(TOTAL as usize)).await;
    let url = s.url("/rooms");
    let (mut setup, _) = open(&url).await;
    let first = subscribe(&mut setup, "feed", None).await;
    let epoch = first["epoch"].as_str().unwrap().to_string();
    let publisher = tokio::spawn({
        let url = url.clone();
        async move {
            let (ws, _) = open(&url).await;
            let (_rx, mut tx) = ws.split();
            for i in 1..=TOTAL {
                let req = json!({"type": "publish", "room": "feed", "data": i});
                tx.send(Message::text(req.to_string())).await.unwrap();
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
    });
    let mut seen: Vec<u64> = Vec::new();
    let mut reconnects = 0;
    while seen.len() < TOTAL as usize {
        let (mut ws, _) = open(&url).await;
        let last = seen.last().copied().unwrap_or(0);
        let reply = subscribe(&mut ws, "feed", Some((last, &epoch))).await;
        assert_eq!(reply["recovered"], true, "{reply}");
        // Read a few then drop the connection without a word.
        for _ in 0..(97 + reconnects % 13) {
            if seen.len() == TOTAL as usize {
                break;
            }
            let p = next(&mut ws).await;
            assert_eq!(p["type"], "pub", "{p}");
            assert_eq!(p["offset"], p["data"]);
            seen.push(p["offset"].as_u64().unwrap());
        }
        reconnects += 1;
    }
    publisher.await.unwrap();
    assert!(reconnects > 20, "{reconnects}");
    assert_eq!(
        seen,
        (1..=TOTAL).collect::<Vec<_>>(),
        "every publication once, in order"
    );
}
