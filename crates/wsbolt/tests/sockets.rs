//! The async library over real sockets on 127.0.0.1, both roles.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsbolt::{ClientConfig, CloseCode, CloseFrame, Error, Keepalive, Message, ServerConfig, State};

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    (l, url)
}

/// An echo server for one connection with `config`.
async fn echo_server(config: ServerConfig) -> String {
    let (l, url) = listener().await;
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let Ok(mut ws) = wsbolt::accept_with_config(tcp, &config).await else {
            return;
        };
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(msg, Message::Text(_) | Message::Binary(_)) && ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    url
}

#[tokio::test]
async fn echo_round_trips_text_binary_and_large_messages() {
    let url = echo_server(ServerConfig::default()).await;
    let (mut ws, resp) = wsbolt::connect(&url).await.unwrap();
    assert_eq!(resp.status, 101);
    let big = vec![0xabu8; 3 << 20];
    for msg in [
        Message::text("héllo"),
        Message::binary(vec![1u8, 2, 3]),
        Message::binary(big),
        Message::text(""),
    ] {
        ws.send(msg.clone()).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), msg);
    }
    ws.close(Some(CloseFrame::new(1000u16, "done").unwrap())).await.unwrap();
    let st = ws.close_status().unwrap();
    assert_eq!((st.code(), st.was_clean()), (CloseCode::NORMAL, true));
    assert!(ws.next().await.is_none());
}

#[tokio::test]
async fn many_small_messages_sent_together_all_come_back_in_order() {
    let url = echo_server(ServerConfig::default()).await;
    let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
    for i in 0..1000 {
        ws.feed(Message::text(format!("m{i}"))).await.unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..1000 {
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(format!("m{i}")));
    }
}

#[tokio::test]
async fn server_initiated_close_is_seen_with_its_code_and_reason() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wsbolt::accept(tcp).await.unwrap();
        ws.close(Some(CloseFrame::new(4000u16, "bye").unwrap())).await.unwrap();
        ws.close_status().cloned().unwrap()
    });
    let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
    let msg = ws.next().await.unwrap().unwrap();
    assert_eq!(msg, Message::Close(Some(CloseFrame::new(4000u16, "bye").unwrap())));
    assert!(ws.next().await.is_none());
    let st = ws.close_status().unwrap();
    assert_eq!((st.code().as_u16(), st.reason(), st.was_clean()), (4000, "bye", true));
    let server_status = server.await.unwrap();
    assert_eq!((server_status.code().as_u16(), server_status.was_clean()), (4000, true));
}

#[tokio::test]
async fn pongs_go_out_while_the_application_only_reads() {
    let (l, url) = listener().await;
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wsbolt::accept(tcp).await.unwrap();
        // Only reads.
        while ws.next().await.is_some() {}
    });
    let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
    ws.send(Message::Ping("are you there".into())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Pong("are you there".into()));
}

#[tokio::test]
async fn next_is_cancel_safe_in_select() {
    let url = echo_server(ServerConfig::default()).await;
    let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
    let n = 200;
    let sender = async {
        // Sent slowly, so many `next()` calls are cancelled mid-wait.
        for i in 0..n {
            tokio::time::sleep(Duration::from_micros(200)).await;
            let _ = i;
        }
    };
    tokio::pin!(sender);
    for i in 0..n {
        ws.send(Message::text(format!("{i}"))).await.unwrap();
    }
    let mut got = Vec::new();
    let mut cancelled = 0;
    while got.len() < n {
        tokio::select! {
            m = ws.next() => got.push(m.unwrap().unwrap()),
            _ = tokio::time::sleep(Duration::from_micros(50)) => cancelled += 1,
        }
    }
    let want: Vec<_> = (0..n).map(|i| Message::text(format!("{i}"))).collect();
    assert_eq!(got, want);
    let _ = cancelled; // how often the read was cancelled depends on timing; the order must not
}

#[tokio::test]
async fn handshake_timeout_drops_a_silent_connection() {
    let (l, url) = listener().await;
    let mut cfg = ServerConfig::default();
    cfg.ws.handshake_timeout = Duration::from_millis(200);
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        wsbolt::accept_with_config(tcp, &cfg).await.err()
    });
    let mut tcp = TcpStream::connect(url.trim_start_matches("ws://")).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\n").await.unwrap(); // and then nothing
    let err = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(err, Some(Error::HandshakeTimeout)), "{err:?}");
    // The server closed the connection.
    let mut buf = [0u8; 16];
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn bad_requests_get_their_status() {
    let (l, url) = listener().await;
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = wsbolt::accept(tcp).await;
            });
        }
    });
    let addr = url.trim_start_matches("ws://").to_string();
    let cases: [(&str, &str); 4] = [
        ("POST / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            "HTTP/1.1 426 Upgrade Required",
        ),
        ("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ("\x16\x03\x01\x00\x25\x01\x00\x00\x21\x03\x03\r\n", "HTTP/1.1 400 Bad Request"),
    ];
    for (req, status) in cases {
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut resp = Vec::new();
        tcp.read_to_end(&mut resp).await.unwrap();
        let text = String::from_utf8_lossy(&resp);
        assert!(text.starts_with(status), "{req:?} → {text}");
    }
}

#[tokio::test]
async fn origin_check_refuses_with_403_and_protocols_are_negotiated() {
    let (l, url) = listener().await;
    let cfg = ServerConfig::default()
        .check_origin(Some(Arc::new(|origin: Option<&str>, _req: &http::Request<()>| {
            origin == Some("http://good.example")
        })))
        .select_protocol(Some(Arc::new(|offered: &[String]| {
            offered.iter().find(|p| *p == "v2").cloned()
        })));
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let cfg = cfg.clone();
            tokio::spawn(async move {
                if let Ok(mut ws) = wsbolt::accept_with_config(tcp, &cfg).await {
                    while ws.next().await.is_some() {}
                }
            });
        }
    });
    let mut client = ClientConfig::default()
        .protocols(vec!["v1".into(), "v2".into()])
        .headers(vec![("Origin".into(), "http://evil.example".into())]);
    let err = wsbolt::connect_with_config(&url, &client).await.unwrap_err();
    assert!(matches!(err, Error::Refused(ref r) if r.status() == 403), "{err:?}");
    client.headers = vec![("Origin".into(), "http://good.example".into())];
    let (ws, resp) = wsbolt::connect_with_config(&url, &client).await.unwrap();
    assert_eq!((ws.protocol(), resp.protocol.as_deref()), (Some("v2"), Some("v2")));
}

#[tokio::test]
async fn close_timeout_drops_a_peer_that_never_answers_close() {
    let (l, url) = listener().await;
    let mut cfg = ServerConfig::default();
    cfg.ws.protocol.close_timeout = Duration::from_millis(300);
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wsbolt::accept_with_config(tcp, &cfg).await.unwrap();
        let started = std::time::Instant::now();
        ws.close(None).await.unwrap();
        (started.elapsed(), ws.close_status().cloned().unwrap())
    });
    // A raw client that completes the handshake and then never reads or answers.
    let mut tcp = TcpStream::connect(url.trim_start_matches("ws://")).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").await.unwrap();
    let (elapsed, status) = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert_eq!((status.code(), status.was_clean()), (CloseCode::ABNORMAL, false));
    drop(tcp);
}

#[tokio::test]
async fn keepalive_detects_a_silent_peer_and_measures_rtt_on_a_live_one() {
    // A live peer: RTT measured.
    let url = echo_server(ServerConfig::default()).await;
    let mut cfg = ClientConfig::default();
    cfg.ws.protocol.keepalive = Some(Keepalive::new(Duration::from_millis(50), Duration::from_millis(500)));
    let (mut ws, _) = wsbolt::connect_with_config(&url, &cfg).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(ws.keepalive_rtt().is_some());

    // A silent peer: a raw socket that answers the handshake, then nothing.
    let (l, url) = listener().await;
    tokio::spawn(async move {
        let (mut tcp, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tcp.read(&mut buf).await.unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        let key = req
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .trim()
            .to_string();
        let accept = wsbolt::proto::handshake::accept_key(key.as_bytes());
        let resp = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
        tcp.write_all(resp.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    cfg.ws.protocol.keepalive = Some(Keepalive::new(Duration::from_millis(50), Duration::from_millis(100)));
    let (mut ws, _) = wsbolt::connect_with_config(&url, &cfg).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap();
    assert!(matches!(got, Some(Err(Error::KeepaliveTimeout))), "{got:?}");
    assert_eq!(ws.state(), State::Closed);
}

#[tokio::test]
async fn send_waits_at_the_high_water_mark_when_the_peer_does_not_read() {
    let (l, url) = listener().await;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let _ws = wsbolt::accept(tcp).await.unwrap();
        let _ = done_rx.await; // never reads
    });
    let mut cfg = ClientConfig::default();
    cfg.ws.write_high_water = 64 * 1024;
    let (mut ws, _) = wsbolt::connect_with_config(&url, &cfg).await.unwrap();
    let chunk = Message::binary(vec![0u8; 16 * 1024]);
    let mut sent = 0usize;
    // Kernel buffers absorb a few MB; after that, send must stop completing.
    let blocked = loop {
        match tokio::time::timeout(Duration::from_millis(500), ws.send(chunk.clone())).await {
            Ok(r) => {
                r.unwrap();
                sent += 1;
                assert!(sent < 10_000, "send never applied backpressure");
            }
            Err(_) => break true,
        }
    };
    assert!(blocked);
    assert!(
        ws.buffered_amount() <= cfg.ws.write_high_water + 16 * 1024 + 14,
        "{}",
        ws.buffered_amount()
    );
    let _ = done_tx.send(());
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let server_tls =
        wsbolt::tls::server_config_from_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())
            .unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate aborts here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut ws = wsbolt::accept(tls).await.unwrap();
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(_) = msg {
                        ws.send(msg).await.unwrap();
                    }
                }
            });
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(wsbolt::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let cfg = ClientConfig::default().tls(Some(Arc::new(tls)));
    let (mut ws, _) = wsbolt::connect_with_config(&format!("wss://localhost:{port}/"), &cfg)
        .await
        .unwrap();
    ws.send(Message::text("secure")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("secure"));
    // And an untrusted certificate is a TLS error, not a panic.
    let err = wsbolt::connect(&format!("wss://localhost:{port}/")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Tls(t) if t.kind() == wsbolt::TlsErrorKind::Certificate),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn urls_that_cannot_be_websockets_are_refused() {
    for url in ["http://127.0.0.1/", "ws://127.0.0.1/#frag", "not a url", "ftp://x/"] {
        assert!(matches!(wsbolt::connect(url).await, Err(Error::Url(_))), "{url}");
    }
}

#[tokio::test]
async fn response_headers_cannot_inject_fields() {
    let (l, url) = listener().await;
    let cfg = ServerConfig::default().response_headers(vec![("X-Ok".into(), "a\r\nSet-Cookie: evil=1".into())]);
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        wsbolt::accept_with_config(tcp, &cfg).await.err()
    });
    let err = wsbolt::connect(&url).await.unwrap_err();
    assert!(matches!(err, Error::Refused(ref r) if r.status() == 500), "{err:?}");
    assert!(matches!(server.await.unwrap(), Some(Error::Config(_))));
}

#[tokio::test]
async fn permessage_deflate_end_to_end() {
    let mut server_cfg = ServerConfig::default();
    server_cfg.ws.deflate = Some(wsbolt::DeflateConfig::default());
    let url = echo_server(server_cfg).await;
    let mut cfg = ClientConfig::default();
    cfg.ws.deflate = Some(wsbolt::DeflateConfig::default());
    let (mut ws, resp) = wsbolt::connect_with_config(&url, &cfg).await.unwrap();
    assert_eq!(resp.extensions.as_deref(), Some("permessage-deflate"));
    assert_eq!(ws.extensions(), Some("permessage-deflate"));
    let text = "compressible ".repeat(10_000);
    for _ in 0..3 {
        ws.send(Message::text(text.as_str())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text.as_str()));
    }
    ws.queue_uncompressed(Message::binary(vec![1u8; 1000])).unwrap();
    ws.flush().await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(vec![1u8; 1000]));
    // A server without deflate declines; the connection works uncompressed.
    let url = echo_server(ServerConfig::default()).await;
    let (mut ws, resp) = wsbolt::connect_with_config(&url, &cfg).await.unwrap();
    assert_eq!((resp.extensions, ws.extensions()), (None, None));
    ws.send(Message::text(text.as_str())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text.as_str()));
}

#[tokio::test]
async fn close_timeout_drops_a_peer_that_never_reads_even_with_output_queued() {
    let (l, url) = listener().await;
    let mut cfg = ServerConfig::default();
    cfg.ws.protocol.close_timeout = Duration::from_millis(300);
    cfg.ws.write_high_water = usize::MAX; // queue without waiting
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wsbolt::accept_with_config(tcp, &cfg).await.unwrap();
        // Far more than the kernel buffers hold: the peer never reads.
        for _ in 0..64 {
            ws.queue(Message::binary(vec![0u8; 1 << 20])).unwrap();
        }
        let started = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(10), ws.close(None))
            .await
            .expect("close must give up at the close timeout")
            .unwrap();
        started.elapsed()
    });
    let mut tcp = TcpStream::connect(url.trim_start_matches("ws://")).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").await.unwrap();
    let elapsed = tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .unwrap()
        .unwrap();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    drop(tcp);
}

/// Refused while the peer is still uploading: the server's Close 1009 must
/// reach a client that is still writing, instead of being destroyed by the
/// reset that closing a socket with unread data causes. Measured both ways:
/// with the linger (the default) and without it (`linger_time` zero).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_close_reaches_a_peer_that_is_still_sending() {
    async fn run(linger: Duration) -> Option<u16> {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", l.local_addr().unwrap());
        let mut cfg = ServerConfig::default();
        cfg.ws.protocol.max_message_size = 1 << 20;
        cfg.ws.protocol.max_frame_size = 1 << 20;
        cfg.ws.linger_time = linger;
        tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut ws = wsbolt::accept_with_config(tcp, &cfg).await.unwrap();
            while ws.next().await.is_some() {}
        });
        let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
        // 8 MiB in one frame: refused at its header, while the client is
        // still writing the payload.
        let _ = ws.send(Message::binary(vec![7u8; 8 << 20])).await;
        while let Some(Ok(_)) = ws.next().await {}
        ws.close_status().map(|s| s.code().as_u16())
    }
    let mut lingered = Vec::new();
    for _ in 0..5 {
        lingered.push(run(Duration::from_secs(2)).await);
    }
    assert!(lingered.iter().all(|c| *c == Some(1009)), "{lingered:?}");
    let mut abrupt = Vec::new();
    for _ in 0..5 {
        abrupt.push(run(Duration::ZERO).await);
    }
    eprintln!("with linger: {lingered:?}; without: {abrupt:?}");
}
