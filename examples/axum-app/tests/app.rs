//! The axum example app driven by wsbolt's client: over HTTP/1.1 (axum::serve)
//! and over HTTP/2 with TLS (RFC 8441), with permessage-deflate negotiated.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbolt::{ClientConfig, Message};

async fn plain_app() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, wsbolt_axum_example::app()).await });
    addr
}

/// The app with TLS; counts the TCP connections it accepted.
async fn tls_app() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = wsbolt_axum_example::self_signed_tls().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let app = wsbolt_axum_example::app();
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(wsbolt_axum_example::serve_tls_connection(tcp, app.clone(), tls.clone()));
        }
    });
    (addr, accepted)
}

fn client(http2: bool) -> ClientConfig {
    let mut c = ClientConfig::default()
        .protocols(vec!["echo".into()])
        .http2(http2)
        .tls(Some(wsbolt::tls::insecure_client_config()));
    c.ws.deflate = Some(wsbolt::DeflateConfig::default());
    c
}

/// A plain HTTP/1.1 GET; the status line and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_plain_route_and_websocket_route_share_the_port() {
    let addr = plain_app().await;
    let (status, body) = get(addr, "/").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("new WebSocket"));
    let (mut ws, resp) = wsbolt::connect_with_config(&format!("ws://{addr}/ws"), &client(false))
        .await
        .unwrap();
    assert_eq!(resp.protocol.as_deref(), Some("echo"));
    assert!(resp.extensions.as_deref().unwrap().starts_with("permessage-deflate"));
    assert_eq!(ws.protocol(), Some("echo"));
    assert!(!ws.get_ref().is_http2());
    let text = "axum ".repeat(2000);
    ws.send(Message::text(text.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text));
    ws.close(None).await.unwrap();
    let (_, stats) = get(addr, "/stats").await;
    assert_eq!(stats, r#"{"http1":1,"http2":0}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_standard_status() {
    let addr = plain_app().await;
    let cases = [
        ("POST", "Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "405"),
        ("GET", "Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "426"),
        ("GET", "Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n", "400"),
        ("GET", "", "400"),
    ];
    for (method, fields, want) in cases {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("{method} /ws HTTP/1.1\r\nHost: x\r\n{fields}Connection-Close: 1\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0; 512];
        let n = tcp.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(
            head.starts_with(&format!("HTTP/1.1 {want}")),
            "{method} {fields:?}: {head}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_websockets_share_one_connection_with_deflate() {
    let (addr, accepted) = tls_app().await;
    let url = format!("wss://127.0.0.1:{}/ws", addr.port());
    let config = client(true);
    let (mut a, resp) = wsbolt::connect_with_config(&url, &config).await.unwrap();
    let (mut b, _) = wsbolt::connect_with_config(&url, &config).await.unwrap();
    assert!(a.get_ref().is_http2() && b.get_ref().is_http2());
    assert_eq!(resp.status, 200);
    assert_eq!(a.protocol(), Some("echo"));
    assert!(a.extensions().unwrap().starts_with("permessage-deflate"));
    for (i, ws) in [&mut a, &mut b].into_iter().enumerate() {
        let msg = Message::binary(vec![i as u8; 100_000]);
        ws.send(msg.clone()).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), msg);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "both WebSockets on one TCP connection"
    );
    a.close(None).await.unwrap();
    // The other stream is unaffected by the first one's end.
    b.send(Message::text("still here")).await.unwrap();
    assert_eq!(b.next().await.unwrap().unwrap(), Message::text("still here"));
    b.close(None).await.unwrap();
    // Over HTTP/1.1 from the same client settings without http2.
    let (mut c, _) = wsbolt::connect_with_config(&url, &client(false)).await.unwrap();
    assert!(!c.get_ref().is_http2());
    c.close(None).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_http2_websocket_does_not_stall_the_others() {
    let (addr, accepted) = tls_app().await;
    let url = format!("wss://127.0.0.1:{}/ws", addr.port());
    let mut config = client(true);
    // Incompressible payloads below, so no deflate needed.
    config.ws.deflate = None;
    let (stalled, _) = wsbolt::connect_with_config(&url, &config).await.unwrap();
    let (mut live, _) = wsbolt::connect_with_config(&url, &config).await.unwrap();
    let (mut stalled_rx, mut stalled_tx) = stalled.split();
    // The stalled one sends 4 MiB and does not read: its echoes fill its own
    // stream window, then the server stops reading it, then its sends wait.
    let writer = tokio::spawn(async move {
        let chunk = Message::binary(vec![7u8; 64 * 1024]);
        for _ in 0..64 {
            stalled_tx.send(chunk.clone()).await.unwrap();
        }
        stalled_tx
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !writer.is_finished(),
        "the stalled WebSocket's sends should be held back by flow control"
    );
    // The other WebSocket on the same connection still echoes at once.
    for i in 0..20u8 {
        let msg = Message::binary(vec![i; 32 * 1024]);
        let round = tokio::time::timeout(Duration::from_secs(5), async {
            live.send(msg.clone()).await.unwrap();
            live.next().await.unwrap().unwrap()
        })
        .await
        .expect("the live WebSocket was stalled by the other one");
        assert_eq!(round, msg);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // Reading the stalled one again lets everything through, nothing lost.
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        for _ in 0..64 {
            match stalled_rx.next().await {
                Some(Ok(Message::Binary(b))) => assert!(b.len() == 64 * 1024 && b.iter().all(|&x| x == 7)),
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stalled WebSocket's echoes did not all arrive");
    let tx = writer.await.unwrap();
    let mut ws = stalled_rx.reunite(tx).unwrap();
    ws.close(None).await.unwrap();
    live.close(None).await.unwrap();
}

/// The app behind an HTTP/2 server that does not enable RFC 8441: the
/// client sees `h2` by ALPN, no SETTINGS_ENABLE_CONNECT_PROTOCOL after its
/// PING, and falls back to the HTTP/1.1 Upgrade on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_server_without_rfc8441_gets_the_http1_upgrade() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = wsbolt_axum_example::self_signed_tls().unwrap();
    let alpn = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = alpn.clone();
    tokio::spawn(async move {
        let app = wsbolt_axum_example::app();
        while let Ok((tcp, _)) = listener.accept().await {
            let (tls, app, seen) = (tls.clone(), app.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(stream) = tls.accept(tcp).await else { return };
                let proto = stream
                    .get_ref()
                    .1
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned());
                seen.lock().unwrap().push(proto.unwrap_or_default());
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    tower_service::Service::call(&mut app.clone(), req)
                });
                // No enable_connect_protocol().
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let url = format!("wss://127.0.0.1:{}/ws", addr.port());
    let (mut ws, resp) = wsbolt::connect_with_config(&url, &client(true)).await.unwrap();
    assert_eq!(resp.status, 101);
    assert!(!ws.get_ref().is_http2());
    ws.send(Message::text("fell back")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("fell back"));
    ws.close(None).await.unwrap();
    assert_eq!(*alpn.lock().unwrap(), ["h2", "http/1.1"]);
}

/// `axum::serve` itself over HTTP/2 (cleartext, prior knowledge: what
/// `axum::serve` speaks without TLS), driven frame by frame with the h2
/// crate: it advertises RFC 8441, answers the extended CONNECT with 200 and
/// deflate, and echoes a masked WebSocket frame on the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_serve_speaks_rfc8441_over_cleartext_http2() {
    let addr = plain_app().await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, mut conn) = h2::client::handshake(tcp).await.unwrap();
    let mut ping = conn.ping_pong().unwrap();
    tokio::spawn(conn);
    ping.ping(h2::Ping::opaque()).await.unwrap();
    assert!(
        send.is_extended_connect_protocol_enabled(),
        "axum::serve advertises SETTINGS_ENABLE_CONNECT_PROTOCOL"
    );
    let mut send = send.ready().await.unwrap();
    let req = http::Request::builder()
        .method("CONNECT")
        .uri(format!("http://{addr}/ws"))
        .extension(h2::ext::Protocol::from_static("websocket"))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "echo")
        .header("sec-websocket-extensions", "permessage-deflate")
        .body(())
        .unwrap();
    let (resp, mut stream) = send.send_request(req, false).unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["sec-websocket-protocol"], "echo");
    assert!(resp.headers()["sec-websocket-extensions"]
        .to_str()
        .unwrap()
        .starts_with("permessage-deflate"));
    let mut body = resp.into_body();
    // A masked, uncompressed text frame "hi" (RSV1 clear: deflate is per message).
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | 2];
    frame.extend_from_slice(&mask);
    frame.extend(b"hi".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    stream.send_data(bytes::Bytes::from(frame), false).unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(5), body.data())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let _ = body.flow_control().release_capacity(echoed.len());
    // The echo may come compressed (RSV1) since deflate was negotiated: it is
    // a final text frame from the server, unmasked.
    assert_eq!(echoed[0] & 0x8f, 0x81, "{echoed:?}");
    assert_eq!(echoed[1] & 0x80, 0, "server frames are not masked");
    let (_, stats) = get(addr, "/stats").await;
    assert_eq!(stats, r#"{"http1":0,"http2":1}"#);
}

/// `/live`: `wsbolt serve`'s rooms protocol inside the axum app, from the
/// library's client over HTTP/1.1 and over TLS with HTTP/2 offered; the
/// browser client beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_rooms_in_axum_plain_and_over_tls() {
    use wsbolt::rooms::{Event, RoomsClient};
    let plain = plain_app().await;
    let (tls, _) = tls_app().await;
    let h1 = RoomsClient::new(format!("ws://{plain}/live"), ClientConfig::default());
    let tls_config = ClientConfig::default()
        .http2(true)
        .tls(Some(wsbolt::tls::insecure_client_config()));
    let mut h2 = RoomsClient::new(format!("wss://127.0.0.1:{}/live", tls.port()), tls_config);
    // Two apps, two services: each client publishes to its own.
    for c in [&h1, &h2] {
        c.subscribe("news", false).await.unwrap();
        c.publish("news", &serde_json::json!("hello")).await.unwrap();
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(5), h2.next())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Publication(p) => {
                assert_eq!(
                    (p.room.as_str(), p.position.offset, p.data),
                    ("news", 1, serde_json::json!("hello"))
                );
                break;
            }
            Event::Connected { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let (status, body) = get(plain, "/wsbolt-rooms.js").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("export class RoomsClient"));
}
