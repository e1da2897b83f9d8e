//! The known HTTP/2 floods against `wsbolt serve` (TLS, ALPN `h2`), each
//! from a raw frame writer: rapid reset (CVE-2023-44487), CONTINUATION
//! (CVE-2024-27316), SETTINGS and PING floods. hyper and h2 carry the
//! protections; these tests check that they hold as `wsbolt serve`
//! configures them: the attacking connection is ended or held back by
//! flow of its own bytes, the server's memory stays bounded, and other
//! clients are served throughout.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use wsbolt::{ClientConfig, Message};
use wsbolt_server::ServeConfig;

mod common;

use common::raw_h2::{
    connect as h2_connection, frame, Tls, CONTINUATION, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING, RST_STREAM,
    SETTINGS,
};

/// `wsbolt serve` with TLS (ALPN `h2` first) on a free port.
async fn start() -> (u16, common::Running) {
    let s = common::start(ServeConfig::default().tls_self_signed(true)).await;
    (s.port, s)
}

/// `GET /` for localhost, HPACK-coded from the static table (no dynamic
/// table entries).
fn get_root() -> Vec<u8> {
    let mut h = vec![0x82, 0x87, 0x84, 0x01, 9];
    h.extend_from_slice(b"localhost");
    h
}

/// What the server did with the connection, as read by [`watch`].
#[derive(Debug, Default)]
struct Seen {
    goaway: Option<u32>,
    eof: bool,
    bytes: usize,
}

/// Reads the server's frames until GOAWAY, end of stream or `within`.
async fn watch(mut rx: ReadHalf<Tls>, within: Duration) -> Seen {
    let mut seen = Seen::default();
    let mut buf = Vec::new();
    let deadline = Instant::now() + within;
    let mut chunk = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        let n = match tokio::time::timeout_at(deadline.into(), rx.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                seen.eof = true;
                return seen;
            }
            Ok(Ok(n)) => n,
            Err(_) => return seen,
        };
        seen.bytes += n;
        buf.extend_from_slice(&chunk[..n]);
        while buf.len() >= 9 {
            let len = (buf[0] as usize) << 16 | (buf[1] as usize) << 8 | buf[2] as usize;
            if buf.len() < 9 + len {
                break;
            }
            if buf[3] == GOAWAY && len >= 8 {
                seen.goaway = Some(u32::from_be_bytes(buf[13..17].try_into().unwrap()));
            }
            buf.drain(..9 + len);
        }
    }
    seen
}

/// Writes `frames` over and over until `budget` bytes are written, a write
/// fails (the server closed), or no write completes for a second (the server
/// stopped reading). Returns the bytes written.
async fn flood(tx: &mut WriteHalf<Tls>, frames: &[u8], budget: usize) -> usize {
    let mut written = 0;
    while written < budget {
        match tokio::time::timeout(Duration::from_secs(1), tx.write_all(frames)).await {
            Ok(Ok(())) => written += frames.len(),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    written
}

/// The server's resident memory (this process: the server runs in it).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap()
}

/// Another client is served while (and after) the flood runs.
async fn others_are_served(port: u16) {
    let cfg = ClientConfig::default()
        .tls(Some(wsbolt::tls::insecure_client_config()))
        .http2(true)
        .proxy(wsbolt::proxy::ProxySetting::Direct);
    let url = format!("wss://localhost:{port}/echo");
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(5), wsbolt::connect_with_config(&url, &cfg))
        .await
        .expect("connect in time")
        .unwrap();
    ws.send(Message::text("still served")).await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap();
    assert_eq!(back.unwrap().unwrap(), Message::text("still served"));
    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_gets_goaway() {
    let (port, _stop) = start().await;
    let (rx, mut tx) = tokio::io::split(h2_connection(port).await);
    let watcher = tokio::spawn(watch(rx, Duration::from_secs(10)));
    // 1,000 requests, each cancelled at once, written in batches of 100.
    let mut batch = Vec::new();
    let mut sent = 0;
    for i in 0..1000u32 {
        let id = 2 * i + 1;
        batch.extend(frame(HEADERS, END_STREAM | END_HEADERS, id, &get_root()));
        batch.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes())); // CANCEL
        if batch.len() > 100 * 40 {
            if tx.write_all(&batch).await.is_err() {
                break;
            }
            sent = i + 1;
            batch.clear();
        }
    }
    let seen = watcher.await.unwrap();
    eprintln!("rapid reset: {seen:?} after {sent} streams written");
    // ENHANCE_YOUR_CALM (0xb) from h2's pending-reset limit, then the end.
    assert_eq!(seen.goaway, Some(0xb), "{seen:?} after {sent} reset streams");
    others_are_served(port).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_flood_is_cut_off() {
    let (port, _stop) = start().await;
    let (rx, mut tx) = tokio::io::split(h2_connection(port).await);
    let watcher = tokio::spawn(watch(rx, Duration::from_secs(10)));
    let before = rss_kib();
    // A HEADERS frame without END_HEADERS, then CONTINUATION frames of
    // 16 KiB of header fields each, never ending the header block.
    let mut start = frame(HEADERS, END_STREAM, 1, &get_root());
    let mut field = vec![0x00, 0x01, b'x', 0x7f, 0x81, 0x7f]; // literal "x": 16,382-byte value
    field.extend(std::iter::repeat_n(b'a', 16_382));
    start.extend(frame(CONTINUATION, 0, 1, &field));
    tx.write_all(&start).await.unwrap();
    let written = flood(&mut tx, &frame(CONTINUATION, 0, 1, &field), 256 << 20).await;
    let seen = watcher.await.unwrap();
    let grown = rss_kib().saturating_sub(before);
    eprintln!("CONTINUATION flood: {seen:?}, {written} bytes written, server grew {grown} KiB");
    assert!(
        seen.goaway.is_some() || seen.eof,
        "the connection was not ended: {seen:?}, {written} bytes written"
    );
    assert!(written < 16 << 20, "{written} bytes of CONTINUATION accepted");
    assert!(grown < 32 * 1024, "the server grew by {grown} KiB");
    others_are_served(port).await;
}

/// SETTINGS or PING frames, each asking for an acknowledgement, written
/// without ever reading one.
async fn ack_flood(kind: u8, payload: &[u8]) {
    let (port, _stop) = start().await;
    let io = h2_connection(port).await;
    let (_rx, mut tx) = tokio::io::split(io);
    let before = rss_kib();
    let one = frame(kind, 0, 0, payload);
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 4096).collect();
    let budget = 256 << 20;
    let written = tokio::spawn(async move { flood(&mut tx, &batch, budget).await });
    // Others are served while the flood runs.
    others_are_served(port).await;
    let written = written.await.unwrap();
    let grown = rss_kib().saturating_sub(before);
    eprintln!("frame type {kind} flood: {written} bytes written before it stalled, server grew {grown} KiB");
    // Unread acknowledgements stop the server reading this connection
    // (bounded by its send buffer): the flood stalls long before its budget,
    // and memory does not follow the bytes sent.
    assert!(written < budget / 4, "{written} bytes of {kind} frames accepted");
    assert!(
        grown < 32 * 1024,
        "the server grew by {grown} KiB after {written} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_flood_is_held_back() {
    ack_flood(SETTINGS, &[0, 4, 0, 1, 0, 0]).await; // INITIAL_WINDOW_SIZE 65,536
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_is_held_back() {
    ack_flood(PING, &[1, 2, 3, 4, 5, 6, 7, 8]).await;
}
