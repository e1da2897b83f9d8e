//! permessage-deflate in `wsbolt serve`: context takeover by default, and
//! `deflate-no-context-takeover` (pooled codecs, every message on its own),
//! seen on the wire by a raw client.

mod common;

use common::start;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbolt::Message;
use wsbolt_server::ServeConfig;

/// Upgrades to `/echo` offering permessage-deflate; returns the socket and
/// the server's `Sec-WebSocket-Extensions` answer.
async fn raw_upgrade(addr: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).await.unwrap(), 1, "closed during the handshake");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let ext = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("sec-websocket-extensions: ")
                .or_else(|| l.strip_prefix("Sec-WebSocket-Extensions: "))
        })
        .unwrap_or_default()
        .to_string();
    (s, ext)
}

/// Sends `text` uncompressed (a client may) and returns the echo's frame:
/// its first byte and payload length.
async fn echo_frame(s: &mut TcpStream, text: &[u8]) -> (u8, usize) {
    let mask = [9u8, 8, 7, 6];
    let mut f = vec![0x81, 0x80 | 126];
    f.extend_from_slice(&(text.len() as u16).to_be_bytes());
    f.extend_from_slice(&mask);
    f.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&f).await.unwrap();
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    let len = match h[1] {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await.unwrap();
            u16::from_be_bytes(l) as usize
        }
        n => usize::from(n),
    };
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    (h[0], len)
}

fn message() -> Vec<u8> {
    (0..40)
        .map(|i| format!("{{\"user\":\"u{}\",\"text\":\"message {i} in the lobby\"}}", i % 7))
        .collect::<String>()
        .into_bytes()
}

#[tokio::test]
async fn context_takeover_by_default_makes_a_repeated_message_cheaper() {
    let s = start(ServeConfig::default()).await;
    let (mut c, ext) = raw_upgrade(&s.addr).await;
    // The browser-style offer lets the server choose the client's window:
    // the default is 13 bits (`deflate_window_bits`).
    assert_eq!(ext, "permessage-deflate; client_max_window_bits=13");
    let msg = message();
    let (first_byte, first) = echo_frame(&mut c, &msg).await;
    assert_eq!(first_byte, 0xc1, "a compressed text frame");
    let (_, second) = echo_frame(&mut c, &msg).await;
    assert!(
        second * 4 < first,
        "the repeat refers back to the first: {first} then {second} bytes"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn without_context_takeover_every_message_stands_alone_and_connections_share_codecs() {
    let cfg = ServeConfig::default().deflate_no_context_takeover(true);
    let s = start(cfg).await;
    let (mut a, ext) = raw_upgrade(&s.addr).await;
    assert_eq!(
        ext,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=13"
    );
    let (mut b, _) = raw_upgrade(&s.addr).await;
    let msg = message();
    // Interleaved on two connections: each answer is compressed on its own,
    // the same size every time, whichever connection used the codec before.
    let mut sizes = Vec::new();
    for _ in 0..3 {
        for c in [&mut a, &mut b] {
            let (first_byte, len) = echo_frame(c, &msg).await;
            assert_eq!(first_byte, 0xc1);
            sizes.push(len);
        }
    }
    assert!(sizes.iter().all(|&n| n == sizes[0]), "{sizes:?}");
    assert!(
        sizes[0] < msg.len() / 2,
        "still compressed: {} of {}",
        sizes[0],
        msg.len()
    );
    // wsbolt's own client agrees to it and echoes compressed messages.
    let mut cfg = wsbolt::ClientConfig::default();
    cfg.ws.deflate = Some(wsbolt::DeflateConfig::default());
    let (mut ws, _) = wsbolt::connect_with_config(&s.url("/echo"), &cfg).await.unwrap();
    for i in 0..5 {
        let text = format!("{i} ").repeat(500);
        ws.send(Message::text(text.clone())).await.unwrap();
        let back = ws.next().await.unwrap().unwrap();
        assert_eq!(back, Message::text(text));
    }
    s.shutdown().await;
}

#[tokio::test]
async fn the_window_setting_reaches_the_answer() {
    for (bits, answer) in [
        (15u8, "permessage-deflate"),
        (9, "permessage-deflate; client_max_window_bits=9"),
    ] {
        let s = start(ServeConfig::default().deflate_window_bits(bits)).await;
        let (mut c, ext) = raw_upgrade(&s.addr).await;
        assert_eq!(ext, answer);
        let msg = message();
        let (first_byte, len) = echo_frame(&mut c, &msg).await;
        assert_eq!(first_byte, 0xc1);
        assert!(len < msg.len() / 2, "{bits} bits: {len} of {}", msg.len());
        s.shutdown().await;
    }
}
