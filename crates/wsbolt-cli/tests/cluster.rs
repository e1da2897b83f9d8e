//! `wsbolt serve --redis`: rooms shared by several nodes through a real
//! `redis-server`. Ignored in a plain `cargo test` (a fresh machine has no
//! redis-server); `tests/cluster/run` installs it and runs these and the
//! fault tests in `cluster_faults.rs`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::cluster::{lists, Client, Node, Redis};

const SENDERS_PER_NODE: usize = 2;
const MESSAGES: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: run tests/cluster/run"]
async fn broadcast_reaches_every_client_on_every_node_exactly_once_in_order() {
    let redis = Redis::start(&[]).await;
    let nodes = [
        Node::start(&redis.url(), &[]).await,
        Node::start(&redis.url(), &[]).await,
        Node::start(&redis.url(), &[]).await,
    ];
    let mut clients = Vec::new();
    for node in &nodes {
        for _ in 0..SENDERS_PER_NODE {
            clients.push(Client::connect(&node.ws("/broadcast")).await);
        }
    }
    for (c, client) in clients.iter_mut().enumerate() {
        for n in 0..MESSAGES {
            client.send(&format!("{c}:{n}")).await;
        }
    }
    let senders = clients.len();
    let total = senders * MESSAGES;
    for (me, client) in clients.iter_mut().enumerate() {
        // Per sender: the numbers in the order they came.
        let mut from: HashMap<usize, Vec<usize>> = HashMap::new();
        for _ in 0..total {
            let text = client.next().await;
            let (c, n) = text.split_once(':').unwrap();
            from.entry(c.parse().unwrap()).or_default().push(n.parse().unwrap());
        }
        assert!(
            client.next_within(Duration::from_millis(500)).await.is_none(),
            "client {me} got more than {total} messages"
        );
        let want: Vec<usize> = (0..MESSAGES).collect();
        for c in 0..senders {
            assert_eq!(from.get(&c), Some(&want), "client {me}: messages of client {c}");
        }
    }
    for node in &nodes {
        assert_eq!(node.metric("wsbolt_redis_duplicates_total").await, 0.0);
        assert_eq!(node.metric("wsbolt_redis_lost_total").await, 0.0);
        assert_eq!(
            node.metric("wsbolt_redis_published_total").await,
            (SENDERS_PER_NODE * MESSAGES) as f64
        );
        assert_eq!(
            node.metric("wsbolt_redis_received_total").await,
            ((nodes.len() - 1) * SENDERS_PER_NODE * MESSAGES) as f64
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server: run tests/cluster/run"]
async fn chat_names_and_user_lists_span_the_cluster_and_dead_nodes_drop_out_in_time() {
    let redis = Redis::start(&[]).await;
    let a = Node::start(&redis.url(), &[]).await;
    let mut b = Node::start(&redis.url(), &[]).await;
    let mut c = Node::start(&redis.url(), &[]).await;

    let (mut ann, name) = Client::chat_as(&a.ws("/chat"), "ann").await;
    assert_eq!(name, "ann");
    // The same name on another node is made unique, as on one node.
    let (mut ann1, name) = Client::chat_as(&b.ws("/chat"), "ann").await;
    assert_eq!(name, "ann1", "a name taken on node A is made unique on node B");
    let (_cy, name) = Client::chat_as(&c.ws("/chat"), "cy").await;
    assert_eq!(name, "cy");
    ann.until_json(Duration::from_secs(5), |v| lists(v, &["ann", "ann1", "cy"]))
        .await;
    ann1.until_json(Duration::from_secs(5), |v| lists(v, &["ann", "ann1", "cy"]))
        .await;

    // Chat messages cross nodes with the sender's cluster-wide name, and
    // ids differ across nodes.
    ann1.send(r#"{"type":"message","text":"hi <b>there</b>"}"#).await;
    let msg = ann.until_json(Duration::from_secs(5), |v| v["type"] == "message").await;
    assert_eq!(
        (msg["name"].as_str(), msg["text"].as_str()),
        (Some("ann1"), Some("hi there"))
    );

    // Graceful shutdown of B: its user leaves the others' lists at once.
    let start = Instant::now();
    b.terminate();
    ann.until_json(Duration::from_secs(5), |v| lists(v, &["ann", "cy"]))
        .await;
    let graceful = start.elapsed();
    drop(ann1);
    b.wait_exit().await;

    // C dies without a word: its user leaves within the default bound (15 s).
    let start = Instant::now();
    c.kill().await;
    ann.until_json(Duration::from_secs(20), |v| lists(v, &["ann"])).await;
    let killed = start.elapsed();
    println!("user list updated {graceful:?} after SIGTERM, {killed:?} after SIGKILL");
    assert!(graceful < Duration::from_secs(1), "graceful leave took {graceful:?}");
    assert!(
        killed <= Duration::from_secs(15),
        "dead node's user still listed after {killed:?}"
    );
    // The names of the dead node are free again.
    let (_cy2, name) = Client::chat_as(&a.ws("/chat"), "cy").await;
    assert_eq!(name, "cy");
}
