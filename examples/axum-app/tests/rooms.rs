//! The rooms route of the axum example: token auth (401 with a JSON body),
//! messages reaching the room and only the room, keepalive pings, and a
//! graceful shutdown that closes every WebSocket with 1001.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbolt::{ClientConfig, Error, Message};
use wsbolt_axum_example::{Settings, Shutdown};

async fn serve(settings: Settings, shutdown: Shutdown) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = wsbolt_axum_example::app_with(settings, shutdown);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

type Ws = wsbolt::WebSocketStream<wsbolt::MaybeTlsStream>;

async fn join(addr: std::net::SocketAddr, room: &str, bearer: &str) -> Ws {
    let config = ClientConfig::default().headers(vec![("Authorization".into(), format!("Bearer {bearer}"))]);
    wsbolt::connect_with_config(&format!("ws://{addr}/rooms/{room}"), &config)
        .await
        .unwrap()
        .0
}

/// The next data message as JSON, skipping pings.
async fn next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn no_token_or_an_unknown_one_is_refused_with_401_and_json() {
    let addr = serve(Settings::default(), Shutdown::default()).await;
    for (path, detail) in [
        ("/rooms/lobby", "send a token"),
        ("/rooms/lobby?token=nope", "unknown token"),
    ] {
        let e = wsbolt::connect(&format!("ws://{addr}{path}")).await.unwrap_err();
        let Error::Refused(refusal) = e else { panic!("{e:?}") };
        assert_eq!(refusal.status(), 401, "{path}");
        let body: serde_json::Value = serde_json::from_slice(refusal.body()).unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert!(body["detail"].as_str().unwrap().starts_with(detail), "{body}");
        assert_eq!(refusal.headers()["www-authenticate"], "Bearer");
    }
    // Before any upgrade: a plain GET gets the same answer.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /rooms/lobby HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
}

#[tokio::test]
async fn a_message_reaches_its_room_and_only_its_room() {
    let addr = serve(Settings::default(), Shutdown::default()).await;
    let mut alice = join(addr, "lobby", "alice-token").await;
    // A browser cannot set Authorization: the query form works too.
    let (mut bob, _) = wsbolt::connect(&format!("ws://{addr}/rooms/lobby?token=bob-token"))
        .await
        .unwrap();
    let mut elsewhere = join(addr, "kitchen", "bob-token").await;
    alice.send(Message::text("hi bob")).await.unwrap();
    let expected = serde_json::json!({ "room": "lobby", "from": "alice", "text": "hi bob" });
    assert_eq!(next_json(&mut bob).await, expected);
    assert_eq!(next_json(&mut alice).await, expected);
    elsewhere.send(Message::text("anyone?")).await.unwrap();
    // The kitchen's own message is the first thing the kitchen sees: the
    // lobby's never reached it.
    assert_eq!(next_json(&mut elsewhere).await["text"], "anyone?");
    bob.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_json(&mut alice).await["from"], "bob");
}

#[tokio::test]
async fn a_quiet_member_is_pinged() {
    let settings = Settings {
        keepalive: Duration::from_millis(100),
        ..Settings::default()
    };
    let addr = serve(settings, Shutdown::default()).await;
    let mut alice = join(addr, "lobby", "alice-token").await;
    let first = tokio::time::timeout(Duration::from_secs(5), alice.next())
        .await
        .unwrap();
    assert!(matches!(first, Some(Ok(Message::Ping(_)))), "{first:?}");
}

#[tokio::test]
async fn shutdown_closes_every_member_with_1001_and_waits_for_them() {
    let shutdown = Shutdown::default();
    let addr = serve(Settings::default(), shutdown.clone()).await;
    let mut alice = join(addr, "lobby", "alice-token").await;
    let mut bob = join(addr, "kitchen", "bob-token").await;
    // Both are in their rooms once a message of theirs came back.
    for ws in [&mut alice, &mut bob] {
        ws.send(Message::text("here")).await.unwrap();
        next_json(ws).await;
    }
    shutdown.trigger();
    for ws in [&mut alice, &mut bob] {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(f.code().as_u16(), 1001);
                assert_eq!(f.reason(), "server shutting down");
            }
            other => panic!("{other:?}"),
        }
        // The client's answer completes the handshake; the stream ends.
        assert!(ws.next().await.is_none());
    }
    tokio::time::timeout(Duration::from_secs(5), shutdown.finished())
        .await
        .expect("every member finished");
    // One that comes after the shutdown is closed at once.
    let mut late = join(addr, "lobby", "alice-token").await;
    let first = tokio::time::timeout(Duration::from_secs(5), late.next()).await.unwrap();
    assert!(
        matches!(first, Some(Ok(Message::Close(Some(ref f)))) if f.code().as_u16() == 1001),
        "{first:?}"
    );
}

#[tokio::test]
async fn the_binary_closes_rooms_with_1001_on_sigint_and_exits() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wsbolt-axum-example"))
        .arg("127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let mut alice = join(addr, "lobby", "alice-token").await;
    alice.send(Message::text("here")).await.unwrap();
    next_json(&mut alice).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    match tokio::time::timeout(Duration::from_secs(5), alice.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code().as_u16(), 1001),
        other => panic!("{other:?}"),
    }
    assert!(alice.next().await.is_none());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
