//! The axum promise: handlers written for `axum::extract::ws`, as axum's
//! docs write them, compile against `wsbolt::axum` with only the `use` line
//! changed, and behave the same on the wire.
//!
//! `axum_compat/handlers.rs` is compiled twice, once per module below; both
//! apps are served by `axum::serve` and driven by the same client script,
//! and their transcripts are compared. Where wsbolt does more than axum (a
//! too-large message closes with 1009 instead of dropping the TCP
//! connection), the test says so and checks wsbolt's answer.
//!
//! The second half checks that the extractor's settings do not depend on
//! their order.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbolt::{ClientConfig, CloseFrame, Message};

mod with_axum {
    use axum::extract::ws;
    include!("axum_compat/handlers.rs");
}

mod with_wsbolt {
    use wsbolt::axum as ws;
    include!("axum_compat/handlers.rs");
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One step of a client script.
#[derive(Clone)]
enum Step {
    Send(Message),
    /// Reads one message and writes it in the transcript.
    Recv,
    /// Reads two messages whose order is not promised (an automatic pong
    /// and a handler's reply race) and writes them sorted.
    RecvTwoUnordered,
    /// Reads until the connection ends, writing every message.
    ToEnd,
}

fn show(m: &Message) -> String {
    match m {
        Message::Text(t) => format!("text {t}"),
        Message::Binary(b) => format!("binary {:02x?}", b.as_ref()),
        Message::Ping(b) => format!("ping {}", String::from_utf8_lossy(b)),
        Message::Pong(b) => format!("pong {}", String::from_utf8_lossy(b)),
        Message::Close(None) => "close".into(),
        Message::Close(Some(f)) => format!("close {} {}", f.code().as_u16(), f.reason()),
    }
}

/// Runs `steps` against `path` and returns what the client saw: the
/// subprotocol of the answer, then every message read, then how it ended.
async fn transcript(addr: SocketAddr, path: &str, protocols: &[&str], steps: &[Step]) -> Vec<String> {
    let url = format!("ws://{addr}{path}");
    let config = ClientConfig::default().protocols(protocols.iter().map(|p| p.to_string()).collect());
    let (mut ws, response) = wsbolt::connect_with_config(&url, &config).await.unwrap();
    let mut seen = vec![format!("protocol {}", response.protocol.unwrap_or_default())];
    for step in steps {
        match step {
            Step::Send(m) => ws.send(m.clone()).await.unwrap(),
            Step::Recv => {
                let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
                    .await
                    .expect("a message");
                seen.push(match next {
                    Some(Ok(m)) => show(&m),
                    Some(Err(e)) => format!("error {e}"),
                    None => "end".into(),
                });
            }
            Step::RecvTwoUnordered => {
                let mut two = Vec::new();
                for _ in 0..2 {
                    let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
                        .await
                        .expect("a message");
                    two.push(show(&next.expect("a message").expect("a message")));
                }
                two.sort();
                seen.extend(two);
            }
            Step::ToEnd => loop {
                let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
                    .await
                    .expect("the end");
                match next {
                    Some(Ok(m)) => seen.push(show(&m)),
                    Some(Err(e)) => {
                        seen.push(format!("error {}", error_kind(&e)));
                        break;
                    }
                    None => {
                        seen.push("end".into());
                        break;
                    }
                }
            },
        }
    }
    seen
}

/// How a connection failed, without the details that differ by peer.
fn error_kind(e: &wsbolt::Error) -> &'static str {
    match e {
        wsbolt::Error::Io(_) => "io",
        _ => "other",
    }
}

fn text(s: &str) -> Message {
    Message::text(s)
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame::new(code, reason).unwrap()))
}

/// The scripts both apps run, by name.
fn scripts() -> Vec<(&'static str, &'static str, Vec<&'static str>, Vec<Step>)> {
    use Step::*;
    vec![
        (
            "recv/send echo",
            "/echo",
            vec![],
            vec![
                Send(text("hello")),
                Recv,
                Send(Message::binary(vec![1u8, 2, 3])),
                Recv,
                Send(close(1000, "done")),
                ToEnd,
            ],
        ),
        (
            "protocols, protocol(), CloseFrame literal",
            "/proto",
            vec!["chat", "graphql-transport-ws", "graphql-ws"],
            vec![ToEnd],
        ),
        ("no protocol in common", "/proto", vec!["chat"], vec![ToEnd]),
        (
            "StreamExt::split, sink first",
            "/split",
            vec![],
            vec![
                Send(text("a")),
                Recv,
                Send(text("b")),
                Recv,
                Send(close(1000, "")),
                ToEnd,
            ],
        ),
        (
            "requested_protocols, set_selected_protocol",
            "/info",
            vec!["soap", "wamp"],
            vec![Recv, Send(close(1000, "")), ToEnd],
        ),
        (
            "every setter",
            "/settings",
            vec![],
            vec![Send(text(&"x".repeat(1000))), Recv, Send(close(1000, "")), ToEnd],
        ),
        (
            "Result<WebSocketUpgrade, _> on a WebSocket",
            "/reject",
            vec![],
            vec![Send(text("hi")), Recv, Send(close(1000, "")), ToEnd],
        ),
        (
            "ping and pong as messages",
            "/ping",
            vec![],
            vec![
                Recv,
                Recv,
                Send(Message::Ping("x".into())),
                RecvTwoUnordered,
                Send(text("quiet")),
                Recv,
                Send(close(1000, "")),
                ToEnd,
            ],
        ),
        (
            "to_text, into_text, into_data, From, CloseCode",
            "/close",
            vec![],
            vec![Send(text("4001")), ToEnd],
        ),
    ]
}

#[tokio::test]
async fn axum_handlers_behave_the_same_on_both() {
    let axum_addr = serve(with_axum::app()).await;
    let wsbolt_addr = serve(with_wsbolt::app()).await;
    for (name, path, protocols, steps) in scripts() {
        let on_axum = transcript(axum_addr, path, &protocols, &steps).await;
        let on_wsbolt = transcript(wsbolt_addr, path, &protocols, &steps).await;
        let (axum_body, axum_end) = split_ending(&on_axum);
        let (wsbolt_body, wsbolt_end) = split_ending(&on_wsbolt);
        assert_eq!(wsbolt_body, axum_body, "{name}: wsbolt (left) and axum (right) differ");
        // wsbolt always ends with a Close frame; axum sometimes leaves
        // without answering the client's (the handler's `send` of the
        // echoed Close fails first), which a browser reports as 1006.
        assert!(
            wsbolt_end.len() == 2 && wsbolt_end[0].starts_with("close"),
            "{name}: {on_wsbolt:?}"
        );
        if axum_end.len() == 2 {
            assert_eq!(wsbolt_end, axum_end, "{name}: the Close frames differ");
        }
    }
}

/// A transcript without its ending (the last Close frame, if any, and how
/// the connection ended), and the ending.
fn split_ending(t: &[String]) -> (&[String], &[String]) {
    let mut cut = t.len().saturating_sub(1);
    if cut > 0 && t[cut - 1].starts_with("close") {
        cut -= 1;
    }
    t.split_at(cut)
}

#[tokio::test]
async fn the_transcripts_say_what_the_handlers_did() {
    // The comparison above would pass if both did nothing; pin what wsbolt's
    // side does.
    let addr = serve(with_wsbolt::app()).await;
    let all = scripts();
    let run = |i: usize| {
        let (_, path, protocols, steps) = all[i].clone();
        async move { transcript(addr, path, &protocols, &steps).await }
    };
    assert_eq!(
        run(0).await,
        [
            "protocol ",
            "text hello",
            "binary [01, 02, 03]",
            "close 1000 done",
            "end"
        ]
    );
    assert_eq!(
        run(1).await,
        [
            "protocol graphql-ws",
            "text protocol=graphql-ws",
            "close 1000 bye",
            "end"
        ]
    );
    assert_eq!(run(2).await, ["protocol ", "text protocol=", "close 1000 bye", "end"]);
    assert_eq!(run(3).await, ["protocol ", "text A", "text B", "close 1000 ", "end"]);
    assert_eq!(
        run(4).await,
        [
            "protocol wamp",
            "text requested=soap,wamp selected=wamp",
            "close 1000 ",
            "end"
        ]
    );
    assert_eq!(run(5).await[1], format!("text {}", "x".repeat(1000)));
    assert_eq!(run(6).await[1], "text hi");
    assert_eq!(
        run(7).await,
        [
            "protocol ",
            "ping are you there",
            "text pong are you there",
            "pong x",
            "text ping x",
            "text ok",
            "close 1000 ",
            "end"
        ]
    );
    assert_eq!(
        run(8).await,
        [
            "protocol ",
            "text 4001 4 4",
            "binary [01, 02, 03]",
            "close 4001 as asked",
            "end"
        ]
    );
}

#[tokio::test]
async fn a_message_over_max_message_size_is_refused_by_both() {
    // axum (tungstenite) drops the TCP connection; wsbolt closes with 1009
    // as RFC 6455 §7.4.1 says. Neither echoes it.
    let steps = [Step::Send(text(&"x".repeat(4096))), Step::ToEnd];
    let on_axum = transcript(serve(with_axum::app()).await, "/settings", &[], &steps).await;
    let on_wsbolt = transcript(serve(with_wsbolt::app()).await, "/settings", &[], &steps).await;
    assert!(!on_axum.iter().any(|l| l.starts_with("text")), "{on_axum:?}");
    assert_eq!(on_wsbolt[1..], ["close 1009 ", "end"]);
}

/// Sends a raw HTTP/1.1 request and returns the status and the body.
async fn raw(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn upgrade_request(method: &str, path: &str, fields: &[&str]) -> String {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n");
    for f in fields {
        r.push_str(f);
        r.push_str("\r\n");
    }
    r + "\r\n"
}

#[tokio::test]
async fn malformed_requests_get_the_same_status_from_both() {
    let on_axum = serve(with_axum::app()).await;
    let on_wsbolt = serve(with_wsbolt::app()).await;
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
    let cases = [
        (
            "no Upgrade at all",
            upgrade_request("GET", "/echo", &["Connection: close"]),
        ),
        (
            "POST",
            upgrade_request(
                "POST",
                "/echo",
                &[
                    "Upgrade: websocket",
                    "Connection: Upgrade, close",
                    "Sec-WebSocket-Version: 13",
                    key,
                ],
            ),
        ),
        (
            "version 8",
            upgrade_request(
                "GET",
                "/echo",
                &[
                    "Upgrade: websocket",
                    "Connection: Upgrade, close",
                    "Sec-WebSocket-Version: 8",
                    key,
                ],
            ),
        ),
        (
            "no key",
            upgrade_request(
                "GET",
                "/echo",
                &[
                    "Upgrade: websocket",
                    "Connection: Upgrade, close",
                    "Sec-WebSocket-Version: 13",
                ],
            ),
        ),
        (
            "the rejection as a value",
            upgrade_request("GET", "/reject", &["Connection: close"]),
        ),
    ];
    for (name, request) in cases {
        let (axum_status, axum_body) = raw(on_axum, &request).await;
        let (wsbolt_status, wsbolt_body) = raw(on_wsbolt, &request).await;
        if name == "version 8" {
            // RFC 6455 §4.4 names 426 Upgrade Required (with the versions
            // understood); axum answers 400.
            assert_eq!((wsbolt_status, axum_status), (426, 400));
        } else {
            assert_eq!(wsbolt_status, axum_status, "{name}: {wsbolt_body:?} vs {axum_body:?}");
        }
        assert!(wsbolt_status >= 400, "{name}");
        if name == "the rejection as a value" {
            assert_eq!(wsbolt_status, 418);
            assert_eq!(wsbolt_body, axum_body);
        }
    }
}

// ---- Settings that do not depend on their order ----

/// The five settings, applied in the order `order` gives (a permutation of
/// 0..5): a base `config` that says the opposite of every other setter, so
/// that a setter the base overwrote would show.
fn apply(mut ws: wsbolt::axum::WebSocketUpgrade, order: &[usize]) -> wsbolt::axum::WebSocketUpgrade {
    for &i in order {
        ws = match i {
            0 => {
                let mut base = wsbolt::ServerConfig::default();
                base.ws.protocol.max_message_size = 1 << 20;
                base.ws.protocol.keepalive = None;
                base.ws.deflate = None;
                base.select_protocol = Some(std::sync::Arc::new(|offered: &[String]| {
                    offered.iter().find(|p| *p == "base").cloned()
                }));
                ws.config(base)
            }
            1 => ws.max_message_size(1024),
            2 => ws.deflate(wsbolt::DeflateConfig::default()),
            3 => ws.keepalive(Duration::from_millis(50), Duration::from_secs(5)),
            4 => ws.protocols(["setter"]),
            _ => unreachable!(),
        };
    }
    ws
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(at, n - 1);
            all.push(p);
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_hold_in_every_order() {
    use axum::extract::Path;
    let orders = permutations(5);
    assert_eq!(orders.len(), 120);
    let table = std::sync::Arc::new(orders.clone());
    let app = axum::Router::new().route(
        "/order/{n}",
        axum::routing::any(move |Path(n): Path<usize>, ws: wsbolt::axum::WebSocketUpgrade| {
            let table = table.clone();
            async move {
                apply(ws, &table[n]).on_upgrade(|mut socket| async move {
                    while let Some(Ok(msg)) = socket.recv().await {
                        if msg.is_data() && socket.send(msg).await.is_err() {
                            return;
                        }
                    }
                })
            }
        }),
    );
    let addr = serve(app).await;
    let mut client = ClientConfig::default().protocols(vec!["base".into(), "setter".into()]);
    client.ws.deflate = Some(wsbolt::DeflateConfig::default());
    let runs = orders.iter().enumerate().map(|(n, order)| {
        let client = client.clone();
        async move {
            let url = format!("ws://{addr}/order/{n}");
            let (mut ws, response) = wsbolt::connect_with_config(&url, &client).await.unwrap();
            // protocols(["setter"]) beats the base's selection.
            assert_eq!(response.protocol.as_deref(), Some("setter"), "order {order:?}");
            // deflate(..) beats the base's None.
            let ext = response.extensions.unwrap_or_default();
            assert!(ext.contains("permessage-deflate"), "order {order:?}: {ext:?}");
            // keepalive(50 ms, ..) beats the base's None: a ping comes.
            let first = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
            assert!(
                matches!(first, Ok(Some(Ok(Message::Ping(_))))),
                "order {order:?}: {first:?}"
            );
            // max_message_size(1024) beats the base's 1 MiB.
            ws.send(text(&"y".repeat(2000))).await.unwrap();
            loop {
                match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
                    Some(Ok(Message::Close(Some(f)))) => {
                        assert_eq!(f.code().as_u16(), 1009, "order {order:?}");
                        break;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => panic!("order {order:?}: {other:?}"),
                }
            }
        }
    });
    futures_util::future::join_all(runs).await;
}
