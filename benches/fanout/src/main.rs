//! Fan-out load: `--clients` WebSocket clients spread evenly over the
//! `--url`s (each a node's `/broadcast`), and messages published at
//! `--rate` per second in all, round robin over one publisher per node.
//! Every client measures each message's time from publish to delivery
//! (all clients live in this process, so one clock dates both ends).
//!
//!   wsbolt-fanout --url ws://127.0.0.1:9001/broadcast [--url …] \
//!       [--clients 300] [--rate 1000] [--seconds 10] [--size 64] [--json]
//!       [--deflate] [--chat]
//!
//! `--deflate`: the clients offer permessage-deflate (as browsers do).
//! `--chat`: messages padded with chat-like JSON instead of `x`s.
//! `--rooms`: the URLs are `/rooms` endpoints (`wsbolt.rooms.v1`): every
//! client subscribes to one room and the payload travels as a publication's
//! `data` (a JSON string), so the figures include the protocol's JSON.
//!
//! Messages of the first second are a warm-up and not counted. Prints
//! published, expected and delivered deliveries, delivered/s, and latency
//! percentiles in microseconds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use wsbolt::{ClientConfig, Message};

struct Args {
    urls: Vec<String>,
    clients: usize,
    rate: u64,
    seconds: u64,
    size: usize,
    json: bool,
    deflate: bool,
    chat: bool,
    rooms: bool,
}

fn args() -> Args {
    let mut a = Args {
        urls: Vec::new(),
        clients: 300,
        rate: 1000,
        seconds: 10,
        size: 64,
        json: false,
        deflate: false,
        chat: false,
        rooms: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.urls.push(value()),
            "--clients" => a.clients = value().parse().unwrap(),
            "--rate" => a.rate = value().parse().unwrap(),
            "--seconds" => a.seconds = value().parse().unwrap(),
            "--size" => a.size = value().parse().unwrap(),
            "--json" => a.json = true,
            "--deflate" => a.deflate = true,
            "--chat" => a.chat = true,
            "--rooms" => a.rooms = true,
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!a.urls.is_empty(), "give at least one --url");
    a
}

const WARM_UP: Duration = Duration::from_secs(1);
const ROOMS_PROTOCOL: &str = "wsbolt.rooms.v1";
const ROOM: &str = "fanout";

type Ws = wsbolt::WebSocketStream<wsbolt::MaybeTlsStream>;

/// `--rooms`: waits for the welcome, subscribes to [`ROOM`] and waits for
/// the answer.
async fn join_room(ws: &mut Ws) {
    use futures_util::SinkExt;
    let subscribe = serde_json::json!({"type": "subscribe", "room": ROOM, "id": 1}).to_string();
    ws.send(Message::text(subscribe)).await.expect("subscribe");
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg.expect("rooms answer") {
            let v: serde_json::Value = serde_json::from_str(&t).expect("rooms JSON");
            match v["type"].as_str() {
                Some("subscribed") => return,
                Some("error") => panic!("subscribe refused: {t}"),
                _ => {}
            }
        }
    }
    panic!("closed before subscribed");
}

/// What a publisher sends for payload `text`: the text itself, or with
/// `--rooms` a `publish` request carrying it as `data`.
fn framed(rooms: bool, text: String) -> String {
    if rooms {
        serde_json::json!({"type": "publish", "room": ROOM, "data": text}).to_string()
    } else {
        text
    }
}

/// The `data` string of a rooms publication (`None` for other messages).
fn publication_data(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    (v["type"] == "pub").then(|| v["data"].as_str().map(str::to_owned))?
}

#[tokio::main]
async fn main() {
    let a = args();
    let mut config = ClientConfig::default().proxy(wsbolt::proxy::ProxySetting::Direct);
    if a.deflate {
        config.ws.deflate = Some(wsbolt::DeflateConfig::default());
    }
    if a.rooms {
        config = config.protocols(vec![ROOMS_PROTOCOL.into()]);
    }
    let epoch = Instant::now();
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap()));
    let delivered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    let mut readers = Vec::new();
    for i in 0..a.clients {
        let url = &a.urls[i % a.urls.len()];
        let (mut ws, _) = wsbolt::connect_with_config(url, &config).await.expect("connect");
        if a.rooms {
            join_room(&mut ws).await;
        }
        let (mut rx, tx) = ws.split();
        let rooms = a.rooms;
        if i < a.urls.len() {
            publishers.push(tx);
        } else {
            drop(tx);
        }
        let (hist, delivered, stop) = (hist.clone(), delivered.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut mine = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let mut n = 0u64;
            while let Some(Ok(msg)) = rx.next().await {
                let Message::Text(t) = msg else { continue };
                // Only --rooms pays for parsing: /broadcast reads the text as is.
                let t = if rooms {
                    match publication_data(&t) {
                        Some(data) => std::borrow::Cow::Owned(data),
                        None => continue,
                    }
                } else {
                    std::borrow::Cow::Borrowed(t.as_str())
                };
                let mut parts = t.split(' ');
                let (Some(sent_us), Some(counted)) = (parts.next(), parts.next()) else {
                    continue;
                };
                if counted == "1" {
                    let sent: u64 = sent_us.parse().unwrap();
                    let now = epoch.elapsed().as_micros() as u64;
                    mine.saturating_record(now.saturating_sub(sent).max(1));
                    n += 1;
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            hist.lock().unwrap().add(&mine).unwrap();
            delivered.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / a.rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let end = start + WARM_UP + Duration::from_secs(a.seconds);
    let mut published = 0u64;
    let mut published_total = 0u64;
    let mut k = 0usize;
    let pad = if a.chat {
        r#"{"type":"message","room":"lobby","user":"user42","text":"hello everyone, how is the weather where you are today?"} "#
            .repeat(a.size / 100 + 1)
    } else {
        "x".repeat(a.size)
    };
    while Instant::now() < end {
        tick.tick().await;
        let counted = start.elapsed() >= WARM_UP;
        let sent = epoch.elapsed().as_micros();
        let mut text = format!("{sent} {} ", u8::from(counted));
        if text.len() < a.size {
            text.push_str(&pad[..a.size - text.len()]);
        }
        let n = publishers.len();
        let p = &mut publishers[k % n];
        k += 1;
        p.send(Message::text(framed(a.rooms, text))).await.expect("publish");
        published += u64::from(counted);
        published_total += 1;
    }
    // Let the last messages arrive, then stop the readers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for p in &mut publishers {
        let _ = p.send(Message::text(framed(a.rooms, "0 0".to_owned()))).await;
    }
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
    }
    let h = hist.lock().unwrap();
    let delivered = delivered.load(Ordering::Relaxed);
    let expected = published * a.clients as u64;
    let per_sec = delivered as f64 / a.seconds as f64;
    let q = |p: f64| h.value_at_quantile(p);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "nodes": a.urls.len(), "clients": a.clients, "rate": a.rate, "seconds": a.seconds,
                "published": published, "published_total": published_total, "expected": expected, "delivered": delivered,
                "delivered_per_sec": per_sec, "p50_us": q(0.5), "p99_us": q(0.99), "max_us": h.max(),
            })
        );
    } else {
        println!(
            "{} node(s), {} clients, {} msg/s published: {delivered}/{expected} delivered ({per_sec:.0}/s), latency p50 {} µs, p99 {} µs, max {} µs",
            a.urls.len(), a.clients, a.rate, q(0.5), q(0.99), h.max()
        );
    }
}
