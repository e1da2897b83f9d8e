//! `wsbolt serve` over hyper: HTTP/2 on TLS (pages, `/metrics` and every
//! WebSocket endpoint over RFC 8441 on one connection), HTTP/1.1 keep-alive
//! for plain requests, a WebSocket on a kept-alive connection, refusals,
//! `--no-http2`, and graceful shutdown of HTTP/2 WebSockets.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbolt::{ClientConfig, Error, Message};
use wsbolt_server::ServeConfig;

mod common;

use common::start;

fn tls_server() -> ServeConfig {
    ServeConfig::default().tls_self_signed(true)
}

fn client(http2: bool, protocols: &[&str]) -> ClientConfig {
    ClientConfig::default()
        .tls(Some(wsbolt::tls::insecure_client_config()))
        .http2(http2)
        .protocols(protocols.iter().map(|p| p.to_string()).collect())
}

/// A GET over HTTP/2 (TLS with ALPN `h2`): status and body.
async fn h2_get(port: u16, path: &str) -> (u16, String) {
    let mut tls = (*wsbolt::tls::insecure_client_config()).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let io = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut send = send.ready().await.unwrap();
    let req = http::Request::get(format!("https://localhost:{port}{path}"))
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    (status, String::from_utf8_lossy(&out).into_owned())
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

async fn text(ws: &mut wsbolt::WebSocketStream<wsbolt::MaybeTlsStream>) -> String {
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_and_page_over_http2() {
    let s = start(tls_server()).await;
    let (status, page) = h2_get(s.port, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<html") || page.contains("<!doctype"), "{page}");
    // Echo, with deflate.
    let mut cfg = client(true, &[]);
    cfg.ws.deflate = Some(wsbolt::DeflateConfig::default());
    let (mut echo, resp) = wsbolt::connect_with_config(&s.wss("/echo"), &cfg).await.unwrap();
    assert!(echo.get_ref().is_http2());
    assert_eq!(resp.status, 200);
    assert!(echo.extensions().unwrap().starts_with("permessage-deflate"));
    echo.send(Message::text("h2 ".repeat(1000))).await.unwrap();
    assert_eq!(text(&mut echo).await, "h2 ".repeat(1000));
    // Chat (subprotocol json) and broadcast, on the same connection.
    let (mut chat, _) = wsbolt::connect_with_config(&s.wss("/chat"), &client(true, &["json"]))
        .await
        .unwrap();
    assert_eq!(chat.protocol(), Some("json"));
    chat.send(Message::text(r#"{"type":"username","name":"ann"}"#))
        .await
        .unwrap();
    let mut seen_list = false;
    for _ in 0..5 {
        let v: Value = serde_json::from_str(&text(&mut chat).await).unwrap();
        if v["type"] == "userlist" {
            assert_eq!(v["users"], serde_json::json!(["ann"]));
            seen_list = true;
            break;
        }
    }
    assert!(seen_list);
    let (mut b1, _) = wsbolt::connect_with_config(&s.wss("/broadcast"), &client(true, &[]))
        .await
        .unwrap();
    let (mut b2, _) = wsbolt::connect_with_config(&s.wss("/broadcast"), &client(true, &[]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    b1.send(Message::text("to all")).await.unwrap();
    assert_eq!(text(&mut b2).await, "to all");
    // The metrics say HTTP/2 for all four, read over HTTP/2 too.
    let (status, metrics) = h2_get(s.port, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(metric(&metrics, "wsbolt_connections_accepted_total{http=\"2\"}"), 4);
    assert_eq!(metric(&metrics, "wsbolt_connections_accepted_total{http=\"1.1\"}"), 0);
    // The health endpoints answer over HTTP/2 too.
    assert_eq!(h2_get(s.port, "/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(h2_get(s.port, "/readyz").await, (200, "ready\n".to_string()));
    // A route that does not exist, over HTTP/2: 404 as a refusal.
    match wsbolt::connect_with_config(&s.wss("/nope"), &client(true, &[])).await {
        Err(Error::Refused(r)) => assert_eq!(r.status(), 404),
        other => panic!("expected 404, got {other:?}"),
    }
    // Shutdown: every HTTP/2 WebSocket gets Close 1001.
    let stop = tokio::spawn(s.shutdown());
    for ws in [&mut echo, &mut chat, &mut b1, &mut b2] {
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(f))) => return f.map(|f| f.code().as_u16()),
                    Some(Ok(_)) => {}
                    _ => return ws.close_status().map(|s| s.code().as_u16()),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(end, Some(1001));
    }
    stop.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_http2_the_client_falls_back_to_http1() {
    let s = start(tls_server().http2(false)).await;
    let (mut ws, resp) = wsbolt::connect_with_config(&s.wss("/echo"), &client(true, &[]))
        .await
        .unwrap();
    assert_eq!(resp.status, 101);
    assert!(!ws.get_ref().is_http2());
    ws.send(Message::text("one")).await.unwrap();
    assert_eq!(text(&mut ws).await, "one");
    ws.close(None).await.unwrap();
    s.shutdown().await;
}

/// Reads one response with a `Content-Length` body from `tcp`.
async fn read_response(tcp: &mut tokio::net::TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            if body.len() >= len {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http1_keeps_the_connection_alive_and_can_upgrade_later() {
    let s = start(ServeConfig::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    for path in ["/", "/metrics", "/style.css"] {
        tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let r = read_response(&mut tcp).await;
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {r}");
    }
    tcp.write_all(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
    // (HEAD: the GET's length, no body; the next request still works.)
    tcp.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("405") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n") && got.contains("allow: GET, HEAD"),
        "{got}"
    );
    // The same connection upgrades to a WebSocket (through hyper this time).
    let target = wsbolt::Target::parse(&format!("ws://127.0.0.1:{}/echo", s.port)).unwrap();
    let (mut ws, resp) = wsbolt::client_handshake(tcp, &target, &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(resp.status, 101);
    ws.send(Message::text("after keep-alive")).await.unwrap();
    match ws.next().await {
        Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), "after keep-alive"),
        other => panic!("{other:?}"),
    }
    ws.close(None).await.unwrap();
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_limits_hold_streams_and_header_lists() {
    let s = start(tls_server()).await;
    // 100 concurrent streams per connection: the 101st WebSocket waits for a
    // free stream (here: past its handshake timeout), and gets one once a
    // WebSocket closes.
    let mut cfg = client(true, &[]);
    cfg.ws.handshake_timeout = Duration::from_secs(2);
    let mut open = Vec::new();
    for _ in 0..wsbolt_server::H2_MAX_CONCURRENT_STREAMS {
        let (ws, _) = wsbolt::connect_with_config(&s.wss("/echo"), &cfg).await.unwrap();
        assert!(ws.get_ref().is_http2());
        open.push(ws);
    }
    match wsbolt::connect_with_config(&s.wss("/echo"), &cfg).await {
        Err(Error::HandshakeTimeout) => {}
        other => panic!("the 101st stream should wait, got {other:?}"),
    }
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    drop(first);
    let (mut extra, _) = wsbolt::connect_with_config(&s.wss("/echo"), &cfg).await.unwrap();
    extra.send(Message::text("the 101st")).await.unwrap();
    assert_eq!(text(&mut extra).await, "the 101st");
    // A header list over 16 KiB is refused; one under it is not.
    let big = "x".repeat(wsbolt_server::H2_MAX_HEADER_LIST_SIZE as usize);
    let mut cfg = client(true, &[]);
    cfg.headers = vec![("x-big".into(), big)];
    match wsbolt::connect_with_config(&s.wss("/echo"), &cfg).await {
        Err(Error::Refused(r)) => assert_eq!(r.status(), 431, "{r:?}"),
        Err(e) => panic!("refused some other way: {e:?}"),
        Ok(_) => panic!("a 16 KiB header field was accepted"),
    }
    cfg.headers = vec![("x-small".into(), "y".repeat(8 * 1024))];
    let (ws, _) = wsbolt::connect_with_config(&s.wss("/echo"), &cfg).await.unwrap();
    assert!(ws.get_ref().is_http2());
    drop((open, ws, extra));
    s.shutdown().await;
}
