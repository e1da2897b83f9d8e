//! Issue 30's acceptance run: three nodes, each behind its own relay to one
//! Redis; on every node a `/broadcast` client and a `/chat` user publish
//! every 50 ms throughout, while one node at a time is cut off from Redis
//! for 5 s or more and healed: in turn, its connections closed (cut), its
//! link stalled with connections open (blackhole), and every node's
//! connections killed by Redis each second (`CLIENT KILL`). Every client on every node must get every
//! message exactly once and in order per sender, `wsbolt_redis_lost_total`
//! must stay 0, and after each heal every chat user list must list all three
//! users again within the presence timeout (8 s here: a cut longer than that
//! drops the node's users from the other nodes' lists first).
//!
//! Ignored in a plain `cargo test`; `tests/cluster/run` runs 3 cycles of
//! 5–8 s. The full run (20 cycles of 5–30 s, about 10 minutes):
//!
//! ```text
//! WSBOLT_CHAOS_CYCLES=20 WSBOLT_CHAOS_MAX_CUT_SECS=30 \
//!   cargo test -p wsbolt-cli --test cluster_chaos -- --ignored --nocapture
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use wsbolt::Message;

mod common;

use common::cluster::{Client, Node, Redis, Relay};

const PRESENCE_TIMEOUT_SECS: u64 = 8;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What one client received.
#[derive(Default)]
struct Tally {
    /// The next sequence number expected from each sender.
    next: HashMap<String, u64>,
    faults: Vec<String>,
    /// The users of the latest user list (chat clients).
    users: Vec<String>,
}

impl Tally {
    fn record(&mut self, sender: &str, seq: u64) {
        let next = self.next.entry(sender.to_string()).or_default();
        if seq == *next {
            *next += 1;
        } else if self.faults.len() < 20 {
            let what = if seq < *next { "again" } else { "after a gap" };
            self.faults
                .push(format!("{sender}:{seq} came {what} (expected {next})"));
        }
    }

    fn take(&mut self, text: &str) {
        if let Some(rest) = text.strip_prefix("b:") {
            self.take_numbered(rest);
            return;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
            return;
        };
        match v["type"].as_str() {
            Some("message") => {
                if let Some(rest) = v["text"].as_str().and_then(|t| t.strip_prefix("c:")) {
                    self.take_numbered(rest);
                }
            }
            Some("userlist") => {
                let mut users: Vec<String> = v["users"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|u| u.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                users.sort_unstable();
                self.users = users;
            }
            _ => {}
        }
    }

    fn take_numbered(&mut self, rest: &str) {
        match rest.rsplit_once(':').and_then(|(s, n)| Some((s, n.parse().ok()?))) {
            Some((sender, seq)) => self.record(sender, seq),
            None if self.faults.len() < 20 => self.faults.push(format!("unreadable: {rest}")),
            None => {}
        }
    }
}

/// A client that publishes `make(seq)` every 50 ms while `publishing` is
/// true and reads everything into its tally; gives the count it sent.
fn participant(
    mut client: Client,
    make: impl Fn(u64) -> String + Send + 'static,
    publishing: tokio::sync::watch::Receiver<bool>,
    tally: Arc<Mutex<Tally>>,
) -> (Arc<std::sync::atomic::AtomicU64>, tokio::task::JoinHandle<()>) {
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if *publishing.borrow() {
                        let seq = counter.load(std::sync::atomic::Ordering::Relaxed);
                        client.send(&make(seq)).await;
                        counter.store(seq + 1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                msg = client.ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => tally.lock().unwrap().take(t.as_str()),
                    Some(Ok(_)) => {}
                    other => panic!("a client's connection ended: {other:?}"),
                }
            }
        }
    });
    (sent, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: run tests/cluster/run"]
async fn cut_and_heal_cycles_lose_nothing_and_lists_come_back() {
    let cycles = env("WSBOLT_CHAOS_CYCLES", 3);
    let max_cut = env("WSBOLT_CHAOS_MAX_CUT_SECS", 8).max(5);
    let redis = Redis::start(&[]).await;
    let presence = PRESENCE_TIMEOUT_SECS.to_string();
    let mut relays = Vec::new();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let relay = Relay::start(redis.port).await;
        nodes.push(Node::start(&relay.url(), &["--redis-presence-timeout", &presence]).await);
        relays.push(relay);
    }
    let (publish, publishing) = tokio::sync::watch::channel(false);
    let mut tallies = Vec::new();
    let mut senders = Vec::new();
    let mut names = Vec::new();
    let mut tasks = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let client = Client::connect(&node.ws("/broadcast")).await;
        let me = format!("n{i}");
        let (sent, task) = participant(
            client,
            move |s| format!("b:{me}:{s}"),
            publishing.clone(),
            tally.clone(),
        );
        senders.push((format!("n{i}"), sent));
        tasks.push(task);
        tallies.push(tally);

        let tally = Arc::new(Mutex::new(Tally::default()));
        let (client, name) = Client::chat_as(&node.ws("/chat"), &format!("u{i}")).await;
        let me = name.clone();
        let make = move |s| serde_json::json!({"type": "message", "text": format!("c:{me}:{s}")}).to_string();
        let (sent, task) = participant(client, make, publishing.clone(), tally.clone());
        senders.push((name.clone(), sent));
        tasks.push(task);
        names.push(name);
        tallies.push(tally);
    }
    names.sort_unstable();
    let chat_tallies: Vec<_> = tallies.iter().skip(1).step_by(2).cloned().collect();
    let lists_all = |within: Duration| {
        let (chat_tallies, names) = (chat_tallies.clone(), names.clone());
        async move {
            let t = Instant::now();
            while !chat_tallies.iter().all(|c| c.lock().unwrap().users == names) {
                if t.elapsed() > within {
                    let lists: Vec<Vec<String>> =
                        chat_tallies.iter().map(|c| c.lock().unwrap().users.clone()).collect();
                    panic!("user lists still wrong {within:?} after the heal: {lists:?}, want {names:?} everywhere");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // A user list reaches everyone when someone joins or leaves: one more
    // user coming and going gives every participant its first.
    let (probe, _) = Client::chat_as(&nodes[0].ws("/chat"), "probe").await;
    drop(probe);
    lists_all(Duration::from_secs(10)).await;
    publish.send(true).unwrap();

    let mut seed = 0x2545_f491_u64;
    for cycle in 0..cycles {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let cut = 5 + seed % (max_cut - 4);
        let (i, fault) = (
            (cycle + cycle / 3) as usize % 3,
            ["cut", "blackhole", "client kill"][cycle as usize % 3],
        );
        let reconnects = nodes[i].metric("wsbolt_redis_reconnects_total").await;
        match fault {
            "cut" => relays[i].cut(),
            "blackhole" => relays[i].blackhole(),
            _ => {}
        }
        let until = Instant::now() + Duration::from_secs(cut);
        while Instant::now() < until {
            if fault == "client kill" {
                redis.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        relays[i].heal();
        let healed = Instant::now();
        nodes[i]
            .wait_metric("wsbolt_redis_up", Duration::from_secs(30), |v| v == 1.0)
            .await;
        let up = healed.elapsed();
        // The fault was felt (the node lost its link and made a new one).
        assert!(
            nodes[i].metric("wsbolt_redis_reconnects_total").await > reconnects,
            "node {i} did not notice the {fault}"
        );
        lists_all(Duration::from_secs(PRESENCE_TIMEOUT_SECS)).await;
        let listed = healed.elapsed();
        for node in &nodes {
            assert_eq!(node.metric("wsbolt_redis_lost_total").await, 0.0);
        }
        println!(
            "cycle {cycle}: node {i} {fault} {cut} s; up again {up:?}, every list right {listed:?} after the heal"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // Publishing stops; everything sent must arrive everywhere.
    publish.send(false).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent: HashMap<String, u64> = senders
        .iter()
        .map(|(s, n)| (s.clone(), n.load(std::sync::atomic::Ordering::Relaxed)))
        .collect();
    let t = Instant::now();
    loop {
        let behind: Vec<String> = tallies
            .iter()
            .enumerate()
            .flat_map(|(k, tally)| {
                let tally = tally.lock().unwrap();
                // Broadcast clients (even k) hear broadcast senders, chat
                // clients the chat users.
                let wanted: Vec<(String, u64)> = senders
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| j % 2 == k % 2)
                    .map(|(_, (s, _))| (s.clone(), sent[s]))
                    .collect();
                wanted
                    .into_iter()
                    .filter(|(s, n)| tally.next.get(s).copied().unwrap_or(0) != *n)
                    .map(|(s, n)| format!("client {k}: {s} {} of {n}", tally.next.get(&s).copied().unwrap_or(0)))
                    .collect::<Vec<_>>()
            })
            .collect();
        if behind.is_empty() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "missing after 60 s: {behind:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (k, tally) in tallies.iter().enumerate() {
        let faults = &tally.lock().unwrap().faults;
        assert!(faults.is_empty(), "client {k}: {faults:?}");
    }
    for node in &nodes {
        assert_eq!(node.metric("wsbolt_redis_lost_total").await, 0.0);
    }
    // The clients go before the nodes do (their ends are no failure then).
    for task in &tasks {
        task.abort();
    }
    let total: u64 = sent.values().sum();
    println!(
        "{cycles} cycles: {total} messages sent, each delivered to every client of its endpoint once and in order"
    );
}
