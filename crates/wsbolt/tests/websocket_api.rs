//! The browser-style `WebSocket`, tested against real servers in this
//! process. Each test ports behaviour from the web-platform-tests
//! `websockets/` suite that applies outside a browser; the WPT file it
//! follows is named above it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wsbolt::websocket::{CloseEvent, DomException, Event, MessageData, ReadyState, WebSocket};
use wsbolt::{CloseFrame, Message};

/// An echo server accepting any number of connections; answers subprotocol
/// `echo` if offered.
async fn echo_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    let cfg = wsbolt::ServerConfig::default().select_protocol(Some(std::sync::Arc::new(|p: &[String]| {
        p.iter().find(|p| *p == "echo").cloned()
    })));
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let cfg = cfg.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = wsbolt::accept_with_config(tcp, &cfg).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if matches!(m, Message::Text(_) | Message::Binary(_)) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

/// A server that runs `f` on each accepted WebSocket.
async fn server_with<F, Fut>(f: F) -> String
where
    F: Fn(wsbolt::WebSocketStream<tokio::net::TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    let f = std::sync::Arc::new(f);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let f = f.clone();
            tokio::spawn(async move {
                if let Ok(ws) = wsbolt::accept(tcp).await {
                    f(ws).await;
                }
            });
        }
    });
    url
}

/// A raw TCP server that answers the handshake with `respond(accept_key)`.
async fn raw_server(respond: fn(&str) -> Vec<u8>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = tcp.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let key = req
                    .lines()
                    .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let accept = wsbolt::proto::handshake::accept_key(key.as_bytes());
                let _ = tcp.write_all(&respond(&accept)).await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            });
        }
    });
    url
}

async fn next(ws: &mut WebSocket) -> Event {
    tokio::time::timeout(Duration::from_secs(10), ws.next_event())
        .await
        .expect("event within 10 s")
        .expect("an event")
}

async fn open(url: &str) -> WebSocket {
    let mut ws = WebSocket::new(url).unwrap();
    assert_eq!(next(&mut ws).await, Event::Open);
    ws
}

fn syntax(r: Result<WebSocket, DomException>) -> bool {
    matches!(r, Err(DomException::SyntaxError(_)))
}

// Create-invalid-urls.any.js, Create-non-absolute-url.any.js,
// Create-url-with-space.any.js, Create-url-with-fragment.any.js,
// Create-http-urls.any.js (http/https map to ws/wss).
#[tokio::test]
async fn constructor_url_rules() {
    for bad in [
        "",
        "ws://",
        "/echo",
        "echo",
        "ws://exa mple.com/",
        "ftp://127.0.0.1/",
        "file:///x",
        "javascript:x",
        "ws://127.0.0.1/#",
        "ws://127.0.0.1/#frag",
        "http://127.0.0.1/a#b",
    ] {
        assert!(syntax(WebSocket::new(bad)), "{bad:?} must be a SyntaxError");
    }
    let ws = WebSocket::new("http://127.0.0.1:1/path?q=1").unwrap();
    assert_eq!(ws.url(), "ws://127.0.0.1:1/path?q=1");
    let ws = WebSocket::new("HTTPS://Example.COM").unwrap();
    assert_eq!(ws.url(), "wss://example.com/");
    let ws = WebSocket::new("ws://127.0.0.1:80/").unwrap();
    assert_eq!(ws.url(), "ws://127.0.0.1/", "the URL parser drops the default port");
    assert_eq!(ws.ready_state(), ReadyState::Connecting);
}

// Create-protocol-with-space.any.js, Create-protocols-repeated.any.js,
// Create-protocols-repeated-case-insensitive.any.js,
// Create-invalid-protocol-characters (non-token characters, control characters, empty).
#[tokio::test]
async fn constructor_protocol_rules() {
    let url = "ws://127.0.0.1:1/";
    for bad in [
        &["ec ho"][..],
        &[""],
        &["a,b"],
        &["echo", "echo"],
        &["echo", "eCho"],
        &["\u{7}"],
        &["é"],
        &["a/b"],
        &["a\"b"],
    ] {
        assert!(
            syntax(WebSocket::with_protocols(url, bad)),
            "{bad:?} must be a SyntaxError"
        );
    }
    assert!(WebSocket::with_protocols(url, &["chat", "superchat", "v1.json", "x-y_z~"]).is_ok());
}

// Create-valid-url.any.js, Create-valid-url-protocol.any.js,
// Create-valid-url-protocol-setCorrectly.any.js, Create-valid-url-protocol-empty.any.js,
// readyState/003.html (values 0-3).
#[tokio::test]
async fn ready_state_protocol_and_extensions_through_a_connection() {
    assert_eq!(
        [
            ReadyState::Connecting,
            ReadyState::Open,
            ReadyState::Closing,
            ReadyState::Closed
        ]
        .map(|s| s as u8),
        [0, 1, 2, 3]
    );
    let url = echo_server().await;
    let mut ws = WebSocket::with_protocols(&url, &["echo", "chat"]).unwrap();
    assert_eq!(
        (ws.ready_state(), ws.protocol(), ws.extensions()),
        (ReadyState::Connecting, String::new(), String::new())
    );
    assert_eq!(next(&mut ws).await, Event::Open);
    assert_eq!((ws.ready_state(), ws.protocol().as_str()), (ReadyState::Open, "echo"));
    ws.close(None, None).unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    let Event::Close(c) = next(&mut ws).await else { panic!() };
    assert!(c.was_clean);
    assert_eq!(c.code, 1005, "a Close without status is reported as 1005");
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert_eq!(ws.next_event().await, None, "exactly one close event");
    // No protocol offered: empty string.
    let ws = open(&url).await;
    assert_eq!(ws.protocol(), "");
}

// Send-before-open.any.js (InvalidStateError), Send-data.any.js,
// Send-binary-arraybuffer.any.js, Send-0byte-data.any.js, Send-65K-data.any.js,
// Send-Unpaired-Surrogates (not applicable: Rust strings are valid UTF-8),
// message event origin (MessageEvent.origin).
#[tokio::test]
async fn send_in_each_state_and_messages_round_trip() {
    let url = echo_server().await;
    let mut ws = WebSocket::new(&url).unwrap();
    assert!(matches!(ws.send("too early"), Err(DomException::InvalidStateError(_))));
    assert_eq!(ws.buffered_amount(), 0, "a throwing send adds nothing");
    assert_eq!(next(&mut ws).await, Event::Open);
    let origin = url.clone();
    ws.send("Message to send").unwrap();
    ws.send(vec![1u8, 2, 3]).unwrap();
    ws.send("").unwrap();
    ws.send("x".repeat(65_000)).unwrap();
    let want = [
        MessageData::Text("Message to send".into()),
        MessageData::Binary(vec![1u8, 2, 3].into()),
        MessageData::Text(String::new()),
        MessageData::Text("x".repeat(65_000)),
    ];
    for data in want {
        let Event::Message(m) = next(&mut ws).await else {
            panic!()
        };
        assert_eq!(m.data, data);
        assert_eq!(m.origin, origin);
    }
    assert_eq!(ws.buffered_amount(), 0, "everything was written");
    // CLOSING: nothing sent, nothing thrown, bufferedAmount still rises.
    ws.close(Some(1000), None).unwrap();
    ws.send("abc").unwrap();
    assert_eq!(ws.buffered_amount(), 3);
    let Event::Close(_) = next(&mut ws).await else { panic!() };
    // CLOSED: likewise (bufferedAmount-after-close: it never falls).
    ws.send(vec![0u8; 10]).unwrap();
    assert_eq!(ws.buffered_amount(), 13);
}

// bufferedAmount-defineProperty-getter / bufferedAmount-arraybuffer:
// rises by the byte length (UTF-8 for strings) and falls as data is written.
#[tokio::test]
async fn buffered_amount_rises_by_byte_length_and_falls() {
    // A server that does not read for a while, so data stays queued.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(Some(rx)));
    let url = server_with(move |mut ws| {
        let rx = rx.clone();
        async move {
            if let Some(rx) = rx.lock().await.take() {
                let _ = rx.await;
            }
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
    let mut ws = open(&url).await;
    ws.send("héllo").unwrap(); // 6 bytes of UTF-8
    assert_eq!(ws.buffered_amount(), 6);
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..32 {
        ws.send(chunk.clone()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stuck = ws.buffered_amount();
    assert!(stuck > 0, "with the peer not reading, some data must still be buffered");
    tx.send(()).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ws.buffered_amount() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bufferedAmount stuck at {}",
            ws.buffered_amount()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ws.close(None, None).unwrap();
    while let Some(Event::Message(_)) | Some(Event::Open) = ws.next_event().await {}
}

// Close-1000.any.js, Close-1000-reason.any.js, Close-1000-verify-code.any.js,
// Close-3000-reason.any.js, Close-4999-reason.any.js, Close-Reason-124Bytes.any.js,
// Close-Reason-Unpaired-surrogates (n/a), Close-undefined.any.js, Close-reason-unpaired,
// Close-server-initiated-close.any.js, Close-onlyReason.any.js (reason without code → 1000),
// Close-NaN / Close-null (code 0 → InvalidAccessError), Close-delayed.any.js.
#[tokio::test]
async fn close_validation_codes_and_close_event_fields() {
    let url = echo_server().await;
    let ws = open(&url).await;
    for bad in [0u16, 999, 1001, 1005, 1006, 2999, 5000, 65535] {
        assert!(
            matches!(ws.close(Some(bad), None), Err(DomException::InvalidAccessError(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        ws.close(Some(1000), Some(&"a".repeat(124))),
        Err(DomException::SyntaxError(_))
    ));
    // 41 three-byte characters = 123 bytes: allowed; 42 = 126 bytes: not.
    assert!(matches!(
        ws.close(Some(1000), Some(&"€".repeat(42))),
        Err(DomException::SyntaxError(_))
    ));
    assert_eq!(ws.ready_state(), ReadyState::Open, "failed checks change nothing");

    for (code, reason, want_code) in [
        (Some(1000), "Clean Close", 1000),
        (Some(3000), "x", 3000),
        (Some(4999), &*"€".repeat(41), 4999),
        (None, "only reason", 1000),
    ] {
        let mut ws = open(&url).await;
        ws.close(code, Some(reason)).unwrap();
        let Event::Close(c) = next(&mut ws).await else { panic!() };
        assert_eq!(
            c,
            CloseEvent {
                code: want_code,
                reason: reason.to_string(),
                was_clean: true
            }
        );
        // Checks come before the state check: still thrown when CLOSED.
        assert!(matches!(
            ws.close(Some(1001), None),
            Err(DomException::InvalidAccessError(_))
        ));
        // And a valid close when CLOSED does nothing.
        ws.close(Some(1000), None).unwrap();
        assert_eq!(ws.next_event().await, None);
    }
}

// Close-server-initiated-close.any.js, plus a Close without status (1005).
#[tokio::test]
async fn server_initiated_close_with_and_without_status() {
    let url = server_with(|mut ws| async move {
        ws.close(Some(CloseFrame::new(4001u16, "server says bye").unwrap()))
            .await
            .unwrap();
    })
    .await;
    let mut ws = open(&url).await;
    let Event::Close(c) = next(&mut ws).await else { panic!() };
    assert_eq!(
        c,
        CloseEvent {
            code: 4001,
            reason: "server says bye".into(),
            was_clean: true
        }
    );
    assert_eq!(ws.ready_state(), ReadyState::Closed);

    let url = server_with(|mut ws| async move {
        ws.close(None).await.unwrap();
    })
    .await;
    let mut ws = open(&url).await;
    let Event::Close(c) = next(&mut ws).await else { panic!() };
    assert_eq!(
        c,
        CloseEvent {
            code: 1005,
            reason: String::new(),
            was_clean: true
        }
    );
}

// Abrupt loss of the TCP connection: 1006, not clean, no error event (the
// connection closed; it was not failed by the user agent).
#[tokio::test]
async fn abrupt_tcp_loss_is_1006_not_clean() {
    let url = server_with(|ws| async move {
        drop(ws);
    })
    .await;
    let mut ws = open(&url).await;
    assert_eq!(
        next(&mut ws).await,
        Event::Close(CloseEvent {
            code: 1006,
            reason: String::new(),
            was_clean: false
        })
    );
    assert_eq!(ws.next_event().await, None);
}

// Open comes before any message, even when the first frame arrives in the
// same packet as the 101 response.
#[tokio::test]
async fn open_precedes_the_first_message() {
    let url = raw_server(|accept| {
        let mut r = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").into_bytes();
        r.extend_from_slice(&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']);
        r
    })
    .await;
    let mut ws = WebSocket::new(&url).unwrap();
    assert_eq!(next(&mut ws).await, Event::Open);
    let Event::Message(m) = next(&mut ws).await else {
        panic!()
    };
    assert_eq!(m.data, MessageData::Text("hello".into()));
}

// Handshake failures: each fails the connection — Error, then Close 1006,
// not clean, never Open (the WPT handshake tests: bad Accept, unrequested
// subprotocol, unoffered extension, non-101 status, wrong Upgrade).
#[tokio::test]
async fn handshake_failures_fire_error_then_close_1006() {
    let responses: [fn(&str) -> Vec<u8>; 6] = [
        |_| {
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n".as_bytes().to_vec()
        },
        |a| {
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {a}\r\nSec-WebSocket-Protocol: unrequested\r\n\r\n").into_bytes()
        },
        |a| {
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {a}\r\nSec-WebSocket-Extensions: x-unoffered\r\n\r\n").into_bytes()
        },
        |_| "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".as_bytes().to_vec(),
        |_| {
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
                .as_bytes()
                .to_vec()
        },
        |a| {
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {a}\r\n\r\n").into_bytes()
        },
    ];
    for respond in responses {
        let url = raw_server(respond).await;
        let mut ws = WebSocket::new(&url).unwrap();
        let ev = next(&mut ws).await;
        assert!(
            matches!(&ev, Event::Error(e) if e.error().is_some()),
            "{ev:?} for {}",
            String::from_utf8_lossy(&respond("KEY"))
        );
        assert_eq!(
            next(&mut ws).await,
            Event::Close(CloseEvent {
                code: 1006,
                reason: String::new(),
                was_clean: false
            })
        );
        assert_eq!(ws.ready_state(), ReadyState::Closed);
        assert_eq!(ws.next_event().await, None);
    }
    // Nothing listening: the same.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    drop(l);
    let mut ws = WebSocket::new(&url).unwrap();
    // The error event says what happened: the connection was refused.
    let ev = next(&mut ws).await;
    let Event::Error(e) = &ev else { panic!("{ev:?}") };
    assert!(
        matches!(e.error(), Some(wsbolt::Error::Io(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused),
        "{e}"
    );
    assert!(e.error().unwrap().is_retryable());
    assert!(matches!(
        next(&mut ws).await,
        Event::Close(CloseEvent {
            code: 1006,
            was_clean: false,
            ..
        })
    ));
}

// Close-Connecting.any.js: close() while CONNECTING fails the connection.
#[tokio::test]
async fn close_while_connecting_fails_the_connection() {
    let url = echo_server().await;
    let mut ws = WebSocket::new(&url).unwrap();
    ws.close(None, None).unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    let ev = next(&mut ws).await;
    assert!(matches!(&ev, Event::Error(e) if e.error().is_none()), "{ev:?}");
    assert_eq!(
        next(&mut ws).await,
        Event::Close(CloseEvent {
            code: 1006,
            reason: String::new(),
            was_clean: false
        })
    );
    assert_eq!(ws.ready_state(), ReadyState::Closed);
}

// A protocol error by the server fails the connection: Error, then Close 1006.
#[tokio::test]
async fn a_protocol_error_by_the_server_fails_the_connection() {
    let url = raw_server(|a| {
        // A masked frame from the server is a protocol error.
        let mut r = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {a}\r\n\r\n").into_bytes();
        r.extend_from_slice(&[0x81, 0x80, 0, 0, 0, 0]);
        r
    })
    .await;
    let mut ws = WebSocket::new(&url).unwrap();
    assert_eq!(next(&mut ws).await, Event::Open);
    let ev = next(&mut ws).await;
    assert!(
        matches!(&ev, Event::Error(e) if matches!(e.error(), Some(wsbolt::Error::Protocol(_)))),
        "{ev:?}"
    );
    assert_eq!(
        next(&mut ws).await,
        Event::Close(CloseEvent {
            code: 1006,
            reason: String::new(),
            was_clean: false
        })
    );
}

// Messages that arrive after close() (state CLOSING) are not delivered.
#[tokio::test]
async fn no_message_events_after_close_is_called() {
    let url = server_with(|mut ws| async move {
        for i in 0..100 {
            if ws.send(Message::text(format!("{i}"))).await.is_err() {
                break;
            }
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let mut ws = open(&url).await;
    ws.close(Some(1000), None).unwrap();
    let mut got = Vec::new();
    while let Some(e) = ws.next_event().await {
        got.push(e);
    }
    assert!(matches!(got.as_slice(), [Event::Close(_)]), "{got:?}");
}

/// A consumer that never takes its events: the connection stops reading once
/// the event queue is full, so the server's sends stall (TCP pushes back)
/// instead of the client buffering everything; once the consumer reads,
/// every message arrives, in order.
#[tokio::test]
async fn a_consumer_that_does_not_read_pushes_back_on_the_server() {
    const N: usize = 64;
    const SIZE: usize = 1 << 20;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wsbolt::accept(tcp).await.unwrap();
        for i in 0..N {
            let mut m = vec![0u8; SIZE];
            m[0] = i as u8;
            ws.send(wsbolt::Message::binary(m)).await.unwrap();
            let _ = sent_tx.send(i + 1);
        }
        while ws.next().await.is_some() {}
    });
    let mut ws = WebSocket::with_config(&url, &[], wsbolt::ClientConfig::default()).unwrap();
    assert_eq!(next(&mut ws).await, Event::Open);
    // Do not read for a second: the server gets only as far as the event
    // queue (16 messages) plus what the socket buffers hold.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut sent = 0;
    while let Ok(n) = sent_rx.try_recv() {
        sent = n;
    }
    assert!(
        sent < N / 2,
        "the server wrote {sent} MiB to a client that read none of it: nothing pushed back"
    );
    for i in 0..N {
        let Event::Message(m) = next(&mut ws).await else {
            panic!()
        };
        let MessageData::Binary(b) = m.data else { panic!() };
        assert_eq!((b.len(), b[0]), (SIZE, i as u8));
    }
    ws.close(None, None).unwrap();
}
