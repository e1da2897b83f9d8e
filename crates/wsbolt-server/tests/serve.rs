//! `wsbolt serve`'s library over real sockets: statuses, Origin, limits,
//! endpoints, handler programs, TLS and graceful shutdown.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbolt::{ClientConfig, CloseCode, Error, Message};
use wsbolt_server::ServeConfig;

mod common;

use common::start;

/// Sends `request` and reads the answer: to its `Content-Length` (plain
/// HTTP keeps the connection alive), or until the server closes (refusals),
/// at most 5 s.
async fn raw(addr: &str, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            out.extend_from_slice(&buf[..n]);
            if complete(&out) {
                return;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `out` holds a whole response with a `Content-Length` body.
fn complete(out: &[u8]) -> bool {
    let text = String::from_utf8_lossy(out);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let len = head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    len.is_some_and(|len| body.len() >= len)
}

fn upgrade(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

async fn text(ws: &mut wsbolt::WebSocketStream<wsbolt::MaybeTlsStream>) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Close(c))) => panic!("closed: {c:?}"),
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
}

async fn json_msg(ws: &mut wsbolt::WebSocketStream<wsbolt::MaybeTlsStream>) -> Value {
    serde_json::from_str(&text(ws).await).unwrap()
}

#[tokio::test]
async fn every_http_status() {
    let s = start(ServeConfig::default()).await;
    let cases = [
        (upgrade("/echo", ""), "HTTP/1.1 101 Switching Protocols"),
        (upgrade("/nope", ""), "HTTP/1.1 404 Not Found"),
        (
            upgrade("/echo", "Origin: http://evil.example\r\n"),
            "HTTP/1.1 403 Forbidden",
        ),
        (
            upgrade("/echo", "Origin: http://localhost\r\n"),
            "HTTP/1.1 101 Switching Protocols",
        ),
        (
            "POST /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n".to_string(),
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            upgrade("/echo", "").replace("Version: 13", "Version: 8"),
            "HTTP/1.1 426 Upgrade Required",
        ),
        (
            upgrade("/echo", "").replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            upgrade("/echo", &format!("X-Big: {}\r\n", "a".repeat(10_000))),
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
        ("\x16\x03\x01\x00\x05hello".to_string(), "HTTP/1.1 400 Bad Request"),
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_string(), "HTTP/1.1 200 OK"),
        (
            "GET /echo.html HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            "HTTP/1.1 200 OK",
        ),
        (
            "GET /missing.html HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            "HTTP/1.1 404 Not Found",
        ),
        (
            "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n".to_string(),
            "HTTP/1.1 200 OK",
        ),
        ("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n".to_string(), "HTTP/1.1 200 OK"),
        (upgrade("/healthz", ""), "HTTP/1.1 404 Not Found"),
    ];
    for (req, status) in cases {
        let resp = raw(&s.addr, &req).await;
        assert!(
            resp.starts_with(status),
            "{:?} → {}",
            &req[..req.len().min(60)],
            &resp[..resp.len().min(120)]
        );
    }
    let page = raw(&s.addr, "GET /chat.js HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(page
        .to_ascii_lowercase()
        .contains("content-type: text/javascript; charset=utf-8"));
    let metrics = raw(&s.addr, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(
        metrics.contains("wsbolt_handshake_failures_total{status=\"403\"} 1"),
        "{metrics}"
    );
    // Two: /nope, and an upgrade to /healthz (a plain-HTTP path).
    assert!(
        metrics.contains("wsbolt_handshake_failures_total{status=\"404\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("wsbolt_connections_accepted_total{http=\"1.1\"} 2"),
        "{metrics}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn connection_limits_refuse_the_excess_and_spare_the_rest() {
    let s = start(ServeConfig::default().max_connections(3)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(wsbolt::connect(&s.url("/echo")).await.unwrap().0);
    }
    let resp = raw(&s.addr, &upgrade("/echo", "")).await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    for ws in &mut held {
        ws.send(Message::text("still here")).await.unwrap();
        assert_eq!(text(ws).await, "still here");
    }
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(wsbolt::connect(&s.url("/echo")).await.is_ok(), "places are given back");
    s.shutdown().await;

    let s = start(ServeConfig::default().max_connections_per_ip(2)).await;
    let _a = wsbolt::connect(&s.url("/echo")).await.unwrap();
    let _b = wsbolt::connect(&s.url("/echo")).await.unwrap();
    let resp = raw(&s.addr, &upgrade("/echo", "")).await;
    assert!(resp.starts_with("HTTP/1.1 429"), "{resp}");
    s.shutdown().await;
}

#[tokio::test]
async fn chat_protocol() {
    let s = start(ServeConfig::default()).await;
    let cfg = ClientConfig::default().protocols(vec!["json".into()]);
    let (mut a, resp) = wsbolt::connect_with_config(&s.url("/chat"), &cfg).await.unwrap();
    assert_eq!(resp.protocol.as_deref(), Some("json"));
    let id_a = json_msg(&mut a).await;
    assert_eq!(id_a["type"], "id");
    a.send(Message::text(json!({"type": "username", "name": "alice"}).to_string()))
        .await
        .unwrap();
    assert_eq!(json_msg(&mut a).await, json!({"type": "userlist", "users": ["alice"]}));

    let (mut b, _) = wsbolt::connect_with_config(&s.url("/chat"), &cfg).await.unwrap();
    let id_b = json_msg(&mut b).await;
    assert_ne!(id_a["id"], id_b["id"]);
    // A name collision: renamed, told, and everyone gets the list.
    b.send(Message::text(json!({"type": "username", "name": "alice"}).to_string()))
        .await
        .unwrap();
    assert_eq!(
        json_msg(&mut b).await,
        json!({"type": "rejectusername", "id": id_b["id"], "name": "alice1"})
    );
    assert_eq!(
        json_msg(&mut b).await,
        json!({"type": "userlist", "users": ["alice", "alice1"]})
    );
    assert_eq!(
        json_msg(&mut a).await,
        json!({"type": "userlist", "users": ["alice", "alice1"]})
    );
    // Messages go to everyone, with the sender's name and HTML stripped.
    b.send(Message::text(
        json!({"type": "message", "text": "hi <b>all</b><script>x</script>", "date": 5}).to_string(),
    ))
    .await
    .unwrap();
    for ws in [&mut a, &mut b] {
        let m = json_msg(ws).await;
        assert_eq!(
            (
                m["type"].as_str(),
                m["name"].as_str(),
                m["text"].as_str(),
                m["date"].as_i64()
            ),
            (Some("message"), Some("alice1"), Some("hi allx"), Some(5))
        );
    }
    // Leaving updates the list.
    b.close(None).await.unwrap();
    assert_eq!(json_msg(&mut a).await, json!({"type": "userlist", "users": ["alice"]}));
    s.shutdown().await;
}

#[tokio::test]
async fn broadcast_reaches_everyone() {
    let s = start(ServeConfig::default()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(wsbolt::connect(&s.url("/broadcast")).await.unwrap().0);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    clients[1].send(Message::text("to all")).await.unwrap();
    for c in &mut clients {
        assert_eq!(text(c).await, "to all");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_slow_consumer_is_closed_and_others_are_unaffected() {
    let s = start(ServeConfig::default().max_outbound_queue(256 * 1024)).await;
    let (mut slow, _) = wsbolt::connect(&s.url("/broadcast")).await.unwrap();
    let (mut fast, _) = wsbolt::connect(&s.url("/broadcast")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let chunk = Message::binary(vec![0u8; 64 * 1024]);
    // `fast` floods and keeps reading; `slow` never reads until the end.
    let mut echoed = 0;
    for _ in 0..400 {
        fast.send(chunk.clone()).await.unwrap();
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(1), fast.next()).await {
            echoed += 1;
        }
    }
    assert!(echoed > 0);
    // The slow one was closed with 1008 (policy violation).
    let mut code = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(15), slow.next()).await {
        if let Ok(Message::Close(Some(f))) = msg {
            code = Some(f.code());
        }
    }
    assert_eq!(code, Some(CloseCode::new(1008)));
    fast.send(Message::text("still fine")).await.unwrap();
    loop {
        if let Message::Text(t) = fast.next().await.unwrap().unwrap() {
            assert_eq!(t.as_str(), "still fine");
            break;
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn echo_of_one_message_larger_than_the_outbound_queue() {
    // Autobahn 9.*: one 16 MiB message must come back, not trip the slow-consumer policy.
    let s = start(ServeConfig::default().max_message_size(32 << 20)).await;
    let mut cfg = ClientConfig::default();
    cfg.ws.protocol.max_message_size = 32 << 20;
    cfg.ws.protocol.max_frame_size = 32 << 20;
    let (mut ws, _) = wsbolt::connect_with_config(&s.url("/echo"), &cfg).await.unwrap();
    let big = Message::binary(vec![0x42u8; 16 << 20]);
    for _ in 0..2 {
        ws.send(big.clone()).await.unwrap();
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
            big
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn an_echo_client_that_stops_reading_is_closed_after_the_write_timeout() {
    let s = start(ServeConfig::default().write_timeout(1)).await;
    let (ws, _) = wsbolt::connect(&s.url("/echo")).await.unwrap();
    let (mut rd, mut wr) = ws.split();
    // Send far more than the socket buffers hold, without reading.
    let flood = tokio::spawn(async move {
        for _ in 0..64 {
            if tokio::time::timeout(Duration::from_secs(3), wr.send(Message::binary(vec![1u8; 1 << 20])))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Now read: the backlog, then the server's Close.
    let mut code = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(15), rd.next()).await {
        match msg {
            Ok(Message::Close(f)) => code = f.map(|f| f.code()),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(CloseCode::new(1008)));
    flood.abort();
    s.shutdown().await;
}

fn handlers_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wsbolt-handlers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write("upper", "#!/bin/sh\necho \"hello $QUERY_STRING from $REMOTE_ADDR\"\nwhile read line; do echo \"$line\" | tr a-z A-Z; done\n");
    write("count", "#!/bin/sh\nfor i in 1 2 3; do echo $i; done\n");
    write("crash", "#!/bin/sh\necho about to fail\nexit 3\n");
    write("cat", "#!/bin/sh\nexec cat\n");
    // Plain print, no flush: the server asks Python for unbuffered output.
    write(
        "pyupper",
        "#!/usr/bin/env python3\nimport sys\nfor line in sys.stdin:\n    print(line.strip().upper())\n",
    );
    write(
        "linger",
        "#!/bin/sh\necho $$ > \"$QUERY_STRING\"\necho started\nexec sleep 300\n",
    );
    write(
        "nodeecho",
        "#!/usr/bin/env node\nrequire('readline').createInterface({ input: process.stdin }).on('line', (l) => console.log(l));\n",
    );
    // A C program that echoes with printf and never flushes (built here with
    // the system's cc, which the fuzz step needs too).
    let source = dir.join("cecho.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\nint main(void) { char b[4096]; while (fgets(b, sizeof b, stdin)) printf(\"%s\", b); return 0; }\n",
    )
    .unwrap();
    let built = std::process::Command::new("cc")
        .arg("-o")
        .arg(dir.join("cecho"))
        .arg(&source)
        .status()
        .expect("cc, to build the C handler of the tests");
    assert!(built.success(), "cc failed");
    std::fs::remove_file(&source).unwrap();
    std::fs::write(dir.join("not-executable"), "#!/bin/sh\necho no\n").unwrap();
    dir
}

#[tokio::test]
async fn handler_programs() {
    let s = start(ServeConfig::default().handlers(Some(handlers_dir()))).await;
    let (mut ws, _) = wsbolt::connect(&s.url("/upper?x=1")).await.unwrap();
    assert_eq!(text(&mut ws).await, "hello x=1 from 127.0.0.1");
    ws.send(Message::text("shout this")).await.unwrap();
    assert_eq!(text(&mut ws).await, "SHOUT THIS");
    ws.close(None).await.unwrap();

    // Python's print, C's printf and Node's console.log reach the client
    // without a flush.
    for (path, sent, got) in [
        ("/pyupper", "no flush", "NO FLUSH"),
        ("/cecho", "from C", "from C"),
        ("/nodeecho", "from Node", "from Node"),
    ] {
        let (mut ws, _) = wsbolt::connect(&s.url(path)).await.unwrap();
        ws.send(Message::text(sent)).await.unwrap();
        assert_eq!(text(&mut ws).await, got, "{path}");
        ws.close(None).await.unwrap();
    }

    // Exit → 1000, after all its output.
    let (mut ws, _) = wsbolt::connect(&s.url("/count")).await.unwrap();
    for n in ["1", "2", "3"] {
        assert_eq!(text(&mut ws).await, n);
    }
    while ws.next().await.is_some() {}
    assert_eq!(ws.close_status().unwrap().code(), CloseCode::new(1000));

    // Crash → 1011.
    let (mut ws, _) = wsbolt::connect(&s.url("/crash")).await.unwrap();
    assert_eq!(text(&mut ws).await, "about to fail");
    while ws.next().await.is_some() {}
    assert_eq!(ws.close_status().unwrap().code(), CloseCode::new(1011));

    // Not executable, or trying to leave the folder: 404.
    for path in ["/not-executable", "/..%2Fupper", "/.hidden"] {
        let err = wsbolt::connect(&s.url(path)).await.unwrap_err();
        assert!(
            matches!(err, Error::Refused(ref r) if r.status() == 404),
            "{path}: {err:?}"
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_that_leaves_ends_its_program() {
    let s = start(ServeConfig::default().handlers(Some(handlers_dir()))).await;
    let pid_file = std::env::temp_dir().join(format!("wsbolt-linger-{}", std::process::id()));
    let (mut ws, _) = wsbolt::connect(&s.url(&format!("/linger?{}", pid_file.display())))
        .await
        .unwrap();
    assert_eq!(text(&mut ws).await, "started");
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    let proc_dir = format!("/proc/{pid}");
    assert!(
        std::path::Path::new(&proc_dir).exists(),
        "the program runs while the client is there"
    );
    drop(ws); // the client vanishes without a closing handshake
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // Gone, or a zombie awaiting its parent's wait(): either way no longer running.
    let running = || std::fs::read_to_string(format!("{proc_dir}/stat")).is_ok_and(|st| !st.contains(") Z "));
    while running() {
        assert!(tokio::time::Instant::now() < deadline, "handler {pid} still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = std::fs::remove_file(&pid_file);
    s.shutdown().await;
}

#[tokio::test]
async fn handler_processes_are_bounded() {
    let s = start(
        ServeConfig::default()
            .handlers(Some(handlers_dir()))
            .max_handler_processes(1),
    )
    .await;
    let (mut first, _) = wsbolt::connect(&s.url("/upper")).await.unwrap();
    assert!(text(&mut first).await.starts_with("hello"));
    let err = wsbolt::connect(&s.url("/upper")).await.unwrap_err();
    assert!(matches!(err, Error::Refused(ref r) if r.status() == 503), "{err:?}");
    first.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        wsbolt::connect(&s.url("/upper")).await.is_ok(),
        "the slot is given back"
    );
    s.shutdown().await;
}

/// A handler that echoes a client's binary (non-UTF-8) bytes in text mode
/// used to wedge the session: the Close went unanswered, the process was
/// never reaped, and its slot never freed (64 such clients made every
/// handler route 503). Now the line goes out as binary, the session goes on,
/// closes cleanly, and the single slot serves the next client each time.
#[tokio::test]
async fn non_utf8_handler_output_goes_out_as_binary_and_frees_the_slot() {
    let s = start(
        ServeConfig::default()
            .handlers(Some(handlers_dir()))
            .max_handler_processes(1),
    )
    .await;
    for round in 0..3 {
        let (mut ws, _) = wsbolt::connect(&s.url("/cat")).await.unwrap();
        ws.send(Message::binary(vec![0xff, 0xfe, b'x', b'\n'])).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap();
        assert_eq!(
            got.unwrap().unwrap(),
            Message::binary(vec![0xff, 0xfe, b'x']),
            "round {round}"
        );
        ws.send(Message::text("still here")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap();
        assert_eq!(got.unwrap().unwrap(), Message::text("still here"));
        tokio::time::timeout(Duration::from_secs(5), ws.close(None))
            .await
            .expect("the Close is answered")
            .unwrap();
        assert!(ws.close_status().unwrap().was_clean());
        // The slot comes back once the program is reaped.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let metrics = raw(&s.addr, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").await;
            if metrics.contains("wsbolt_connections_open 0") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{metrics}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_sends_queued_messages_then_1001() {
    let s = start(ServeConfig::default()).await;
    let (mut echo, _) = wsbolt::connect(&s.url("/echo")).await.unwrap();
    let (mut bc, _) = wsbolt::connect(&s.url("/broadcast")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Messages the server accepted just before shutdown must all arrive.
    for i in 0..100 {
        echo.feed(Message::text(format!("e{i}"))).await.unwrap();
        bc.feed(Message::text(format!("b{i}"))).await.unwrap();
    }
    echo.flush().await.unwrap();
    bc.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A handshake in flight when shutdown starts: accepted, then closed
    // with 1001 at once (a client reconnects; a 503 would be a failure).
    let mut pending = TcpStream::connect(&s.addr).await.unwrap();
    pending
        .write_all(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let addr = s.addr.clone();
    let stopping = tokio::spawn(s.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    pending
        .write_all(b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), pending.read_to_end(&mut resp)).await;
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    // After the head: a Close frame with 1001 (0x03e9), unmasked from a server.
    let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(resp[head_end], 0x88, "{text}");
    assert_eq!(&resp[head_end + 2..head_end + 4], &[0x03, 0xe9], "{text}");
    for (ws, prefix) in [(&mut echo, "e"), (&mut bc, "b")] {
        let mut got = Vec::new();
        let mut close = None;
        while let Some(Ok(m)) = ws.next().await {
            match m {
                Message::Text(t) => got.push(t.to_string()),
                Message::Close(f) => close = f,
                _ => {}
            }
        }
        let want: Vec<String> = (0..100).map(|i| format!("{prefix}{i}")).collect();
        assert_eq!(got, want, "nothing accepted is lost");
        assert_eq!(close.map(|f| f.code()), Some(CloseCode::GOING_AWAY));
    }
    stopping.await.unwrap();
    // No longer accepting.
    assert!(TcpStream::connect(&addr).await.is_err());
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate() {
    let s = start(ServeConfig::default().tls_self_signed(true)).await;
    let cfg = ClientConfig::default().tls(Some(wsbolt::tls::insecure_client_config()));
    let port = s.addr.rsplit(':').next().unwrap().to_string();
    let (mut ws, _) = wsbolt::connect_with_config(&format!("wss://localhost:{port}/echo"), &cfg)
        .await
        .unwrap();
    ws.send(Message::text("over tls")).await.unwrap();
    assert_eq!(text(&mut ws).await, "over tls");
    // Without trusting it: a TLS error.
    assert!(matches!(
        wsbolt::connect(&format!("wss://localhost:{port}/echo")).await,
        Err(Error::Tls(_))
    ));
    s.shutdown().await;
}

/// `/readyz` with `redis-required`: 503 while Redis is out of reach (here:
/// nothing listens on its port), 200 without the setting; `/healthz` says
/// the process answers either way.
#[tokio::test]
async fn readiness_follows_redis_when_it_is_required() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let redis = Some(format!("redis://{closed}"));
    let required = start(ServeConfig::default().redis(redis.clone()).redis_required(true)).await;
    let optional = start(ServeConfig::default().redis(redis)).await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
    let resp = raw(&required.addr, &get("/readyz")).await;
    assert!(
        resp.starts_with("HTTP/1.1 503") && resp.contains("Redis is out of reach"),
        "{resp}"
    );
    assert!(raw(&required.addr, &get("/healthz")).await.starts_with("HTTP/1.1 200"));
    let resp = raw(&optional.addr, &get("/readyz")).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    required.shutdown().await;
    optional.shutdown().await;
}
