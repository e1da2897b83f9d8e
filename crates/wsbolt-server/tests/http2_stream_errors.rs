//! HTTP/2 stream errors end their stream, not the connection (issue 30,
//! item 4; RFC 9113 §6.9 and §5.1): two WebSockets share one connection, the
//! client breaks the rules on the first, and the second goes on. Before,
//! each case got GOAWAY `PROTOCOL_ERROR` and both WebSockets ended.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbolt_server::ServeConfig;

mod common;

use common::raw_h2::{
    connect, frame, websocket_connect, ws_frame, Frames, Tls, ACK, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS,
    RST_STREAM, SETTINGS, WINDOW_UPDATE,
};

const PROTOCOL_ERROR: u32 = 1;
const STREAM_CLOSED: u32 = 5;

/// A raw client with two WebSockets to /echo open on streams 1 and 3.
struct Client {
    io: Tls,
    frames: Frames,
    /// RST_STREAM codes by stream, GOAWAY's code, echoed texts on stream 3.
    resets: Vec<(u32, u32)>,
    goaway: Option<u32>,
    echoed: Vec<String>,
    seen_settings: bool,
}

impl Client {
    async fn open(port: u16) -> Client {
        let mut c = Client {
            io: connect(port).await,
            frames: Frames::default(),
            resets: Vec::new(),
            goaway: None,
            echoed: Vec::new(),
            seen_settings: false,
        };
        // The server's SETTINGS (extended CONNECT enabled), acknowledged.
        c.read_until(|c| c.seen_settings, "the server's SETTINGS").await;
        c.io.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
        for stream in [1, 3] {
            let block = websocket_connect("/echo");
            c.io.write_all(&frame(HEADERS, END_HEADERS, stream, &block))
                .await
                .unwrap();
        }
        c
    }

    /// Reads frames until `done` holds (or fails after 5 s).
    async fn read_until(&mut self, done: impl Fn(&Client) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = vec![0u8; 16 * 1024];
        while !done(self) {
            let n = match tokio::time::timeout_at(deadline.into(), self.io.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => panic!("waiting for {what}: {e}"),
                Err(_) => panic!(
                    "no {what} within 5 s (resets {:?}, GOAWAY {:?})",
                    self.resets, self.goaway
                ),
            };
            assert!(
                n > 0,
                "the server closed the connection waiting for {what} (GOAWAY {:?})",
                self.goaway
            );
            for (kind, flags, stream, payload) in self.frames.push(&buf[..n]) {
                self.on_frame(kind, flags, stream, &payload);
            }
        }
    }
}

impl Client {
    fn on_frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        match kind {
            SETTINGS if flags & ACK == 0 => self.seen_settings = true,
            RST_STREAM => self
                .resets
                .push((stream, u32::from_be_bytes(payload[..4].try_into().unwrap()))),
            GOAWAY => self.goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap())),
            HEADERS => assert_eq!(payload.first(), Some(&0x88), "stream {stream} was not answered 200"),
            // The echo server's text frames (unmasked, short).
            DATA if stream == 3 && payload.len() >= 2 && payload[0] == 0x81 => {
                let len = (payload[1] & 0x7f) as usize;
                self.echoed
                    .push(String::from_utf8_lossy(&payload[2..2 + len]).into_owned());
            }
            _ => {}
        }
    }

    /// The WebSocket on stream 3 still echoes.
    async fn stream_3_echoes(&mut self, text: &str) {
        self.io
            .write_all(&frame(DATA, 0, 3, &ws_frame(0x1, text.as_bytes())))
            .await
            .unwrap();
        let want = text.to_string();
        self.read_until(|c| c.echoed.contains(&want), "the echo on stream 3")
            .await;
    }
}

async fn start() -> common::Running {
    common::start(ServeConfig::default().tls_self_signed(true)).await
}

#[tokio::test]
async fn a_zero_window_update_on_a_stream_resets_that_stream_only() {
    let s = start().await;
    let mut c = Client::open(s.port).await;
    c.stream_3_echoes("before").await;
    c.io.write_all(&frame(WINDOW_UPDATE, 0, 1, &[0, 0, 0, 0]))
        .await
        .unwrap();
    c.read_until(|c| !c.resets.is_empty(), "RST_STREAM on stream 1").await;
    assert_eq!(c.resets, vec![(1, PROTOCOL_ERROR)]);
    c.stream_3_echoes("after").await;
    // Frames the client still sends on the reset stream are dropped, DATA
    // included (its bytes credited back to the connection's window).
    c.io.write_all(&frame(WINDOW_UPDATE, 0, 1, &[0, 0, 0, 0]))
        .await
        .unwrap();
    c.io.write_all(&frame(DATA, 0, 1, &ws_frame(0x1, b"late")))
        .await
        .unwrap();
    c.stream_3_echoes("still after").await;
    assert_eq!(c.goaway, None);
    assert_eq!(c.resets, vec![(1, PROTOCOL_ERROR)]);
    // On the connection, a zero increment is still a connection error.
    c.io.write_all(&frame(WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0]))
        .await
        .unwrap();
    c.read_until(|c| c.goaway.is_some(), "GOAWAY").await;
    assert_eq!(c.goaway, Some(PROTOCOL_ERROR));
    drop(c);
    s.shutdown().await;
}

#[tokio::test]
async fn data_after_the_clients_end_of_stream_resets_that_stream_only() {
    let s = start().await;
    let mut c = Client::open(s.port).await;
    c.stream_3_echoes("before").await;
    // The client ends stream 1, then sends on it (half-closed (remote) at
    // the server: §5.1 makes it a stream error STREAM_CLOSED).
    let mut both = frame(DATA, END_STREAM, 1, &[]);
    both.extend(frame(DATA, 0, 1, &ws_frame(0x1, b"too late")));
    c.io.write_all(&both).await.unwrap();
    c.read_until(
        |c| c.resets.iter().any(|r| r.1 == STREAM_CLOSED),
        "RST_STREAM STREAM_CLOSED",
    )
    .await;
    assert_eq!(c.resets.last(), Some(&(1, STREAM_CLOSED)));
    c.stream_3_echoes("after").await;
    assert_eq!(c.goaway, None);
    drop(c);
    s.shutdown().await;
}
