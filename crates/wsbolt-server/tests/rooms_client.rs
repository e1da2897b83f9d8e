//! The library's `wsbolt::rooms::RoomsClient` against `/rooms`: requests
//! and refusals, and recovery across connections cut under a publisher.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use wsbolt::rooms::{Event, RoomsClient};
use wsbolt::{Backoff, ClientConfig};
use wsbolt_server::ServeConfig;

mod common;

/// A TCP relay to `to` whose connections `cut` ends.
struct Relay {
    addr: String,
    open: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(to: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let open: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let conns = open.clone();
        tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let to = to.clone();
                conns.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(&to).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                }));
            }
        });
        Relay { addr, open }
    }

    /// Waits until a connection through the relay is open.
    async fn connected(&self) {
        for _ in 0..500 {
            if self.open.lock().unwrap().iter().any(|h| !h.is_finished()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no connection through the relay within 5 s");
    }

    /// Ends every connection through the relay; how many there were.
    fn cut(&self) -> usize {
        let mut open = self.open.lock().unwrap();
        let n = open.iter().filter(|h| !h.is_finished()).count();
        for h in open.drain(..) {
            h.abort();
        }
        n
    }
}

fn quick() -> Backoff {
    Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
        min_uptime: Duration::ZERO,
        ..Backoff::default()
    }
}

async fn event(c: &mut RoomsClient) -> Event {
    tokio::time::timeout(Duration::from_secs(10), c.next())
        .await
        .expect("an event within 10 s")
        .expect("the client goes on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answers_and_refusals() {
    let s = common::start(ServeConfig::default()).await;
    let mut c = RoomsClient::new(s.url("/rooms"), ClientConfig::default());
    assert!(matches!(event(&mut c).await, Event::Connected { user: None, .. }));
    let at = c.subscribe("lobby", true).await.unwrap();
    assert_eq!(at.offset, 0, "a new room");
    assert_eq!(
        c.subscribe("lobby", true).await.unwrap_err().code(),
        "already_subscribed"
    );
    let p = c.publish("lobby", &json!({"text": "hi"})).await.unwrap();
    assert_eq!((p.offset, p.epoch.len()), (1, 16));
    let Event::Publication(got) = event(&mut c).await else {
        panic!("a publication")
    };
    assert_eq!(
        (got.room.as_str(), &got.position, &got.data),
        ("lobby", &p, &json!({"text": "hi"}))
    );
    let history = c.history("lobby", Some(10)).await.unwrap();
    assert_eq!(history, vec![got]);
    assert_eq!(c.presence("lobby").await.unwrap().len(), 1);
    let e = c.subscribe("", false).await.unwrap_err();
    assert_eq!(e.code(), "bad_room", "{e}");
    let e = c.unsubscribe("nowhere").await.unwrap_err();
    assert_eq!(e.code(), "not_subscribed");
    c.unsubscribe("lobby").await.unwrap();
    assert!(c.presence("lobby").await.unwrap().is_empty());
    c.close();
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_lose_and_repeat_nothing() {
    let s = common::start(ServeConfig::default()).await;
    let relay = Relay::start(s.addr.clone()).await;
    let mut reader = RoomsClient::with_backoff(format!("ws://{}/rooms", relay.addr), ClientConfig::default(), quick());
    reader.subscribe("feed", false).await.unwrap();
    let publisher = RoomsClient::new(s.url("/rooms"), ClientConfig::default());
    let count = 200u64;
    let publishing = tokio::spawn(async move {
        for n in 1..=count {
            publisher.publish("feed", &json!(n)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        publisher
    });
    let mut cuts = 0;
    for _ in 0..5 {
        relay.connected().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        cuts += relay.cut();
    }
    let _publisher = publishing.await.unwrap();
    let (mut got, mut recovered, mut disconnected) = (Vec::new(), 0, 0);
    while (got.len() as u64) < count {
        match event(&mut reader).await {
            Event::Publication(p) => got.push(p.data.as_u64().unwrap()),
            Event::Recovered { .. } => recovered += 1,
            Event::Disconnected => disconnected += 1,
            Event::NotRecovered { .. } => panic!("the history covers a short cut"),
            _ => {}
        }
    }
    assert_eq!(got, (1..=count).collect::<Vec<_>>(), "every publication once, in order");
    assert_eq!(cuts, 5, "each cut ended the reader's connection");
    assert_eq!((disconnected, recovered), (5, 5));
    s.shutdown().await;
}
