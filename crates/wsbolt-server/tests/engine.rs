//! `/echo` on the serving engine (`engine-threads`) and on tokio tasks
//! (`engine-threads = 0`): the same answers, the same ends, over real
//! sockets. The other suites run on the default (the engine).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbolt::{CloseCode, Message};
use wsbolt_server::ServeConfig;

mod common;

use common::start;

/// The upgrade request and, in the same write, a masked text frame "hi":
/// the frame arrives with the handshake.
const UPGRADE_AND_FRAME: &[u8] = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\
\x81\x82\x01\x02\x03\x04\x69\x6b";

/// Reads until `want` bytes past the response head arrived (or 5 s); returns
/// the bytes after the head.
async fn after_head(tcp: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            got.extend_from_slice(&buf[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                if got.len() >= end + 4 + want {
                    return;
                }
            }
        }
    })
    .await;
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    assert!(got.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&got));
    got.split_off(end)
}

/// The value of counter `name` in `/metrics`.
async fn metric(addr: &str, name: &str) -> u64 {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {text}"))
}

#[tokio::test]
async fn both_paths_echo_the_same_and_count_it() {
    for threads in [0, 1, 2] {
        let s = start(ServeConfig::default().engine_threads(threads)).await;
        // A frame that came with the handshake is answered.
        let mut tcp = TcpStream::connect(&s.addr).await.unwrap();
        tcp.write_all(UPGRADE_AND_FRAME).await.unwrap();
        assert_eq!(after_head(&mut tcp, 4).await, b"\x81\x02hi", "threads {threads}");
        // Many clients at once, small and large messages, a ping.
        let mut clients = Vec::new();
        for _ in 0..20 {
            clients.push(wsbolt::connect(&s.url("/echo")).await.unwrap().0);
        }
        for (i, ws) in clients.iter_mut().enumerate() {
            for msg in [
                Message::text(format!("m{i}")),
                Message::binary(vec![i as u8; 300_000]),
                Message::Ping(bytes::Bytes::from_static(b"p")),
            ] {
                ws.send(msg).await.unwrap();
            }
        }
        for (i, ws) in clients.iter_mut().enumerate() {
            assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(format!("m{i}")));
            assert_eq!(
                ws.next().await.unwrap().unwrap(),
                Message::binary(vec![i as u8; 300_000])
            );
            assert_eq!(
                ws.next().await.unwrap().unwrap(),
                Message::Pong(bytes::Bytes::from_static(b"p"))
            );
            ws.close(None).await.unwrap();
        }
        drop(tcp);
        // 1 + 40 in, as many out; every connection counted closed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while metric(&s.addr, "wsbolt_connections_open").await != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "threads {threads}: connections left open"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            metric(&s.addr, "wsbolt_messages_received_total").await,
            41,
            "threads {threads}"
        );
        assert_eq!(
            metric(&s.addr, "wsbolt_messages_sent_total").await,
            41,
            "threads {threads}"
        );
        s.shutdown().await;
    }
}

#[tokio::test]
async fn a_protocol_error_gets_1002_on_both_paths() {
    for threads in [0, 1] {
        let s = start(ServeConfig::default().engine_threads(threads)).await;
        let mut tcp = TcpStream::connect(&s.addr).await.unwrap();
        let mut req = UPGRADE_AND_FRAME[..UPGRADE_AND_FRAME.len() - 8].to_vec();
        // An unmasked frame from a client: a protocol error (RFC 6455 §5.1).
        req.extend_from_slice(b"\x81\x02hi");
        tcp.write_all(&req).await.unwrap();
        let close = after_head(&mut tcp, 4).await;
        assert_eq!(&close[..4], b"\x88\x02\x03\xea", "threads {threads}: {close:?}");
        // Then the server ends the connection (after lingering).
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "threads {threads}: the connection stayed open");
        s.shutdown().await;
    }
}

#[tokio::test]
async fn a_client_that_does_not_answer_pings_is_closed_1011() {
    for threads in [0, 1] {
        let s = start(
            ServeConfig::default()
                .engine_threads(threads)
                .ping_interval(1)
                .ping_timeout(1),
        )
        .await;
        // A raw client: it never answers the server's pings.
        let mut tcp = TcpStream::connect(&s.addr).await.unwrap();
        tcp.write_all(&UPGRADE_AND_FRAME[..UPGRADE_AND_FRAME.len() - 8])
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let mut frames = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(8), tcp.read_to_end(&mut frames)).await;
        let end = frames.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let frames = &frames[end..];
        // A ping (empty or not), then a Close 1011.
        assert_eq!(frames[0], 0x89, "threads {threads}: {frames:?}");
        let close = frames.windows(4).position(|w| w == b"\x88\x02\x03\xf3");
        assert!(close.is_some(), "threads {threads}: no Close 1011 in {frames:?}");
        assert!(started.elapsed() < Duration::from_secs(8), "threads {threads}");
        s.shutdown().await;
    }
}

#[tokio::test]
async fn shutdown_closes_engine_connections_with_1001_and_ends() {
    let s = start(ServeConfig::default().engine_threads(2)).await;
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(wsbolt::connect(&s.url("/echo")).await.unwrap().0);
    }
    // Every connection is on the engine and has echoed once.
    for ws in &mut clients {
        ws.send(Message::text("before")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("before"));
    }
    let stopping = tokio::spawn(s.shutdown());
    for ws in &mut clients {
        let mut code = None;
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Close(f) = m {
                code = f.map(|f| f.code());
            }
        }
        assert_eq!(code, Some(CloseCode::GOING_AWAY));
    }
    // The server's run ends once the engine's threads have (within 20 s).
    stopping.await.unwrap();
}
