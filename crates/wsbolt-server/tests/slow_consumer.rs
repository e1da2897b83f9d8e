//! A slow consumer gets its Close (issue 30, item 5): a client that reads
//! slowly is closed with 1008 "slow consumer", and that Close reaches it
//! right after what was already on its way, not behind the whole backlog it
//! was closed for. Before, over HTTP/2, the Close waited behind the backlog
//! (up to the 256 KiB limit and a message): the client below, reading
//! 16 KiB/s, got 208 KiB of data in 13 s and then the end of the stream, as
//! the close timeout (10 s) passed, and no Close (1006 in a browser).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use wsbolt::{ClientConfig, Message};
use wsbolt_server::ServeConfig;

mod common;

/// HTTP/2's initial flow-control window (the slow client keeps it), and how
/// fast that client reads.
const WINDOW: usize = 65_535;
const READ_PER_SECOND: usize = 16 * 1024;
/// What the fast client sends to everyone on /broadcast.
const CHUNK: usize = 16 * 1024;

/// Server frames (unmasked) read from a byte stream: counts data bytes and
/// finds the Close.
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
    data_bytes: usize,
    close: Option<(u16, String)>,
}

impl Frames {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        loop {
            let b = &self.buf;
            if b.len() < 2 {
                return;
            }
            let (ext, len) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (2, u16::from_be_bytes([b[2], b[3]]) as usize),
                127 if b.len() >= 10 => (8, u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize),
                126 | 127 => return,
                n => (0, n as usize),
            };
            assert_eq!(b[1] & 0x80, 0, "a server frame is never masked");
            let end = 2 + ext + len;
            if b.len() < end {
                return;
            }
            let payload = &b[2 + ext..end];
            match b[0] & 0x0f {
                0x8 => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    self.close = Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
                }
                0x0..=0x2 => self.data_bytes += len,
                _ => {}
            }
            self.buf.drain(..end);
        }
    }
}

/// An RFC 8441 WebSocket on its own HTTP/2 connection: the response's body
/// and the request's send half (kept open).
async fn h2_websocket(port: u16, path: &str) -> (h2::RecvStream, h2::SendStream<Bytes>) {
    let mut tls = (*wsbolt::tls::insecure_client_config()).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let io = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .unwrap();
    let (send, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut send = send.ready().await.unwrap();
    // Extended CONNECT needs the server's SETTINGS, which come right after
    // the handshake.
    let t = Instant::now();
    while !send.is_extended_connect_protocol_enabled() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the server never enabled extended CONNECT"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        send = send.ready().await.unwrap();
    }
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("https://localhost:{port}{path}"))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    req.extensions_mut().insert(h2::ext::Protocol::from_static("websocket"));
    let (resp, stream) = send.send_request(req, false).unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    (resp.into_body(), stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_slow_consumer_gets_its_close_before_the_close_timeout() {
    let s = common::start(
        ServeConfig::default()
            .tls_self_signed(true)
            .max_outbound_queue(256 * 1024),
    )
    .await;
    let (mut slow, keep_open) = h2_websocket(s.port, "/broadcast").await;
    let cfg = ClientConfig::default().tls(Some(wsbolt::tls::insecure_client_config()));
    let (mut fast, _) = wsbolt::connect_with_config(&s.wss("/broadcast"), &cfg).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // 640 KiB to everyone: far more than the slow client's window and the
    // server's outbound limit, so the slow one is closed while it holds back.
    let fast_reader = tokio::spawn(async move {
        let chunk = Message::binary(vec![7u8; CHUNK]);
        for _ in 0..40 {
            fast.send(chunk.clone()).await.unwrap();
        }
        let mut got = 0;
        while got < 40 {
            match tokio::time::timeout(Duration::from_secs(10), fast.next()).await {
                Ok(Some(Ok(m))) if m.is_data() => got += 1,
                Ok(Some(Ok(_))) => {}
                other => panic!("the fast client lost its messages: {other:?}"),
            }
        }
        fast
    });
    let mut fast = fast_reader.await.unwrap();

    // Now read slowly, the way a congested client does.
    let started = Instant::now();
    let mut frames = Frames::default();
    while frames.close.is_none() && started.elapsed() < Duration::from_secs(30) {
        match tokio::time::timeout(Duration::from_secs(15), slow.data()).await {
            Ok(Some(Ok(chunk))) => {
                frames.push(&chunk);
                tokio::time::sleep(Duration::from_secs_f64(chunk.len() as f64 / READ_PER_SECOND as f64)).await;
                let _ = slow.flow_control().release_capacity(chunk.len());
            }
            Ok(Some(Err(e))) => panic!(
                "the stream ended without a Close after {} data bytes in {:?}: {e}",
                frames.data_bytes,
                started.elapsed()
            ),
            Ok(None) => break,
            Err(_) => panic!("nothing for 15 s"),
        }
    }
    assert_eq!(
        frames.close,
        Some((1008, "slow consumer".to_string())),
        "{} data bytes in {:?}",
        frames.data_bytes,
        started.elapsed()
    );
    // What came before the Close: what the server had handed to HTTP/2
    // (the window, and up to one 64 KiB write that h2 holds until the window
    // opens; 64 to 112 KiB seen), and at most one message half written; not
    // the 256 KiB backlog the client was closed for.
    assert!(
        frames.data_bytes <= WINDOW + 64 * 1024 + CHUNK,
        "{} data bytes came before the Close",
        frames.data_bytes
    );

    // Leave (the server would otherwise wait its close timeout for our Close).
    drop((slow, keep_open));

    // The fast client is unaffected.
    fast.send(Message::text("still fine")).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), fast.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "still fine" => break,
            Ok(Some(Ok(_))) => {}
            other => panic!("{other:?}"),
        }
    }
    s.shutdown().await;
}
