//! The adversarial suite: each case attacks the library over real loopback
//! sockets and asserts the exact outcome (the HTTP status or close code on
//! the wire), that nothing panicked, that heap memory stayed within a bound
//! (a counting allocator), and that file descriptors and tokio tasks went
//! back to their baseline afterwards.
//!
//! Cases run one at a time (a process-wide lock), so the allocator's counters
//! and the descriptor count belong to the case being measured. The expected
//! outcome of each case is written next to it.

#[path = "../../../benches/common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsbolt::proto::handshake::accept_key;
use wsbolt::{DeflateConfig, Error, Keepalive, Message, ServerConfig};

// ---- measurement --------------------------------------------------------------

static GATE: Mutex<()> = Mutex::new(());

/// Heap a case may leave behind: each runtime worker thread allocates its
/// 64 KiB read scratch buffer once, on its first read (2 workers here).
const SETTLE_SLACK: isize = 2 * 64 * 1024 + 16 * 1024;
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Runs one case alone on a fresh runtime, with panics counted.
fn case<F: Future<Output = ()>>(f: impl FnOnce() -> F) {
    let _gate: MutexGuard<'_, ()> = GATE.lock().unwrap_or_else(|p| p.into_inner());
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(f());
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// What a case starts from: descriptors, tasks, live heap.
struct Baseline {
    fds: usize,
    tasks: usize,
    live: isize,
    panics: usize,
}

impl Baseline {
    fn take() -> Baseline {
        counting_alloc::reset_peak();
        Baseline {
            fds: open_fds(),
            tasks: alive_tasks(),
            live: counting_alloc::live(),
            panics: PANICS.load(Ordering::SeqCst),
        }
    }

    /// The most heap the case used on top of the baseline so far.
    fn peak_growth(&self) -> isize {
        counting_alloc::peak() - self.live
    }

    /// Waits (up to 5 s) for descriptors, tasks and heap to come back, then
    /// asserts they did and that nothing panicked.
    async fn settle(self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (fds, tasks, live) = (open_fds(), alive_tasks(), counting_alloc::live());
            let back = fds <= self.fds && tasks <= self.tasks && live - self.live < SETTLE_SLACK;
            if back || Instant::now() > deadline {
                assert!(fds <= self.fds, "{what}: {fds} descriptors open, {} before", self.fds);
                assert!(
                    tasks <= self.tasks,
                    "{what}: {tasks} tasks alive, {} before",
                    self.tasks
                );
                assert!(
                    live - self.live < SETTLE_SLACK,
                    "{what}: heap grew by {} bytes and stayed",
                    live - self.live
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(PANICS.load(Ordering::SeqCst), self.panics, "{what}: something panicked");
    }
}

// ---- the server under attack ------------------------------------------------------

/// Short timers so the cases that wait for them finish quickly.
fn server_config() -> ServerConfig {
    let mut cfg = ServerConfig::default();
    cfg.ws.protocol.max_frame_size = 1 << 20;
    cfg.ws.protocol.max_message_size = 1 << 20;
    cfg.ws.protocol.close_timeout = Duration::from_millis(500);
    cfg.ws.handshake_timeout = Duration::from_millis(500);
    cfg.ws.deflate = Some(DeflateConfig::default());
    cfg
}

/// An echo server; it runs until the runtime ends. `hold` is called with
/// each accepted connection instead of echoing when given.
async fn serve(cfg: ServerConfig) -> SocketAddr {
    serve_with(cfg, |mut ws| async move {
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(msg, Message::Text(_) | Message::Binary(_)) && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
    .await
}

async fn serve_with<F, Fut>(cfg: ServerConfig, handler: F) -> SocketAddr
where
    F: Fn(wsbolt::WebSocketStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (cfg, handler) = (cfg.clone(), handler.clone());
            tokio::spawn(async move {
                if let Ok(ws) = wsbolt::accept_with_config(tcp, &cfg).await {
                    handler(ws).await;
                }
            });
        }
    });
    addr
}

// ---- a hand-written client ---------------------------------------------------------

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn request(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A frame header and payload, masked (a client's) or not (a server's).
fn frame(b0: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![b0];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n < 65536 => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        f.extend_from_slice(&MASK);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const TEXT: u8 = 1;
const BINARY: u8 = 2;
const CLOSE: u8 = 8;
const PING: u8 = 9;

fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, true)
}

/// Reads an HTTP head; returns it (status line first).
async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await {
            Ok(Ok(1)) => head.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

async fn upgraded(addr: SocketAddr, extra: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(request(extra).as_bytes()).await.unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "not upgraded: {head}");
    s
}

/// One frame as the peer sent it.
#[derive(Debug)]
struct Frame {
    b0: u8,
    payload: Vec<u8>,
}

/// Reads one frame (either masking), or `None` at end of stream or after 5 s.
async fn read_frame(s: &mut TcpStream) -> Option<Frame> {
    let fut = async {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).await.ok()?;
        let mut len = (h[1] & 0x7f) as u64;
        if len == 126 {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await.ok()?;
            len = u16::from_be_bytes(b) as u64;
        } else if len == 127 {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await.ok()?;
            len = u64::from_be_bytes(b);
        }
        let mut mask = None;
        if h[1] & 0x80 != 0 {
            let mut m = [0u8; 4];
            s.read_exact(&mut m).await.ok()?;
            mask = Some(m);
        }
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload).await.ok()?;
        if let Some(m) = mask {
            payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= m[i % 4]);
        }
        Some(Frame { b0: h[0], payload })
    };
    tokio::time::timeout(Duration::from_secs(5), fut).await.ok().flatten()
}

/// Reads frames until a Close; returns its code (`Some(1005)` for an empty
/// Close, `None` if the stream ended or stalled first) and the data frames
/// seen before it.
async fn close_code(s: &mut TcpStream) -> (Option<u16>, Vec<Frame>) {
    let mut before = Vec::new();
    while let Some(f) = read_frame(s).await {
        if f.b0 & 0x0f == CLOSE {
            let code = if f.payload.len() >= 2 {
                u16::from_be_bytes([f.payload[0], f.payload[1]])
            } else {
                1005
            };
            return (Some(code), before);
        }
        before.push(f);
    }
    (None, before)
}

/// After a Close, the server drops the transport: reads see end of stream.
async fn expect_eof(s: &mut TcpStream, within: Duration) {
    let mut buf = [0u8; 256];
    let r = tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "the transport was not closed within {within:?}");
}

/// Sends `bytes` after the handshake and asserts the server answers with a
/// Close carrying `code` and then closes the transport.
async fn expect_server_close(addr: SocketAddr, extra: &str, bytes: &[u8], code: u16, what: &str) {
    let mut s = upgraded(addr, extra).await;
    // The server may close before everything is written: ignore write errors.
    let _ = s.write_all(bytes).await;
    let (got, _) = close_code(&mut s).await;
    assert_eq!(got, Some(code), "{what}");
    expect_eof(&mut s, Duration::from_secs(2)).await;
}

// ---- handshake ---------------------------------------------------------------------

/// Expected: every malformed request gets its HTTP status and the transport
/// is closed; nothing is leaked.
#[test]
fn handshake_refusals_get_their_status() {
    case(|| async {
        let addr = serve(server_config()).await;
        let base = Baseline::take();
        let long_value = format!("X-Long: {}\r\n", "a".repeat(16 * 1024));
        let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            // (what, bytes, expected status line prefix)
            ("oversized header value", request(&long_value).into_bytes(), "HTTP/1.1 431"),
            ("too many headers", request(&many).into_bytes(), "HTTP/1.1 431"),
            (
                "missing Sec-WebSocket-Key",
                b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec(),
                "HTTP/1.1 400",
            ),
            (
                "duplicated Sec-WebSocket-Key",
                request(&format!("Sec-WebSocket-Key: {KEY}\r\n")).into_bytes(),
                "HTTP/1.1 400",
            ),
            (
                "missing Upgrade",
                format!("GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").into_bytes(),
                "HTTP/1.1 400",
            ),
            (
                "missing Host",
                format!("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").into_bytes(),
                "HTTP/1.1 400",
            ),
            ("wrong method", request("").replacen("GET", "POST", 1).into_bytes(), "HTTP/1.1 405"),
            (
                "wrong version",
                request("").replace("Version: 13", "Version: 8").into_bytes(),
                "HTTP/1.1 426",
            ),
            ("garbage bytes", vec![0x00, 0xff, 0x13, 0x37, b'\r', b'\n', b'\r', b'\n'], "HTTP/1.1 400"),
            ("a TLS ClientHello on the plain port", tls_client_hello_start(), "HTTP/1.1 400"),
            ("HTTP/1.0", request("").replace("HTTP/1.1", "HTTP/1.0").into_bytes(), "HTTP/1.1 400"),
        ];
        for (what, bytes, want) in cases {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let _ = s.write_all(&bytes).await;
            let head = read_head(&mut s).await;
            assert!(head.starts_with(want), "{what}: expected {want}, got {head:?}");
            expect_eof(&mut s, Duration::from_secs(2)).await;
        }
        base.settle("handshake refusals").await;
    });
}

/// The first bytes of a TLS 1.2/1.3 ClientHello record.
fn tls_client_hello_start() -> Vec<u8> {
    vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]
}

/// Expected: a request trickled a byte at a time, and a connection that sends
/// nothing, are dropped at the handshake deadline (500 ms here) while a real
/// client arriving meanwhile is served at once.
#[test]
fn slowloris_and_silent_connections_end_at_the_handshake_deadline() {
    case(|| async {
        let addr = serve(server_config()).await;
        let base = Baseline::take();
        let started = Instant::now();
        let slow = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            for b in request("").bytes() {
                if s.write_all(&[b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut buf = [0u8; 512];
            // The server gave up: end of stream (or a reset) before the head ends.
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            started.elapsed()
        });
        let silent = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut buf = [0u8; 16];
            let n = s.read(&mut buf).await.unwrap_or(0);
            (n, started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = Instant::now();
        let mut real = upgraded(addr, "").await;
        real.write_all(&client_frame(FIN | TEXT, b"hi")).await.unwrap();
        let echo = read_frame(&mut real).await.unwrap();
        assert_eq!(echo.payload, b"hi");
        let real_rtt = t.elapsed();
        assert!(
            real_rtt < Duration::from_millis(250),
            "a real client waited {real_rtt:?}"
        );
        drop(real);
        let slow_end = slow.await.unwrap();
        let (n, silent_end) = silent.await.unwrap();
        assert_eq!(n, 0, "the silent connection got bytes instead of being closed");
        for (what, end) in [("slowloris", slow_end), ("silent", silent_end)] {
            assert!(
                end >= Duration::from_millis(450) && end < Duration::from_millis(1500),
                "{what} connection ended after {end:?}, expected the 500 ms deadline"
            );
        }
        base.settle("slowloris").await;
    });
}

/// Expected: hostile `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions`
/// values of 1 MiB (the head limit raised to allow them) are answered in
/// linear time: well under a second, where a quadratic parser would take
/// minutes. An extension offer that cannot be parsed (beyond the parser's
/// caps, or malformed) is declined: 101 without the extension.
#[test]
fn hostile_protocol_and_extension_values_are_parsed_in_linear_time() {
    case(|| async {
        let mut cfg = server_config();
        cfg.head_limits = Some(wsbolt::proto::handshake::HeadLimits::new(2 << 20, 64));
        let addr = serve(cfg).await;
        let base = Baseline::take();
        let values = [
            // Empty list elements are allowed (RFC 9110 §5.6.1): no protocol asked.
            (
                "protocol commas",
                format!("Sec-WebSocket-Protocol: {}\r\n", ",".repeat(1 << 20)),
                "HTTP/1.1 101",
            ),
            (
                "many protocols",
                format!("Sec-WebSocket-Protocol: {}\r\n", "a, ".repeat(300_000)),
                "HTTP/1.1 101",
            ),
            (
                "one extension, endless parameters",
                format!(
                    "Sec-WebSocket-Extensions: permessage-deflate{}\r\n",
                    "; a=1".repeat(200_000)
                ),
                "HTTP/1.1 101",
            ),
            (
                "endless extensions",
                format!("Sec-WebSocket-Extensions: {}\r\n", "x, ".repeat(300_000)),
                "HTTP/1.1 101",
            ),
            (
                "endless quoted string",
                format!("Sec-WebSocket-Extensions: x; a=\"{}\r\n", "\\\"".repeat(400_000)),
                "HTTP/1.1 101",
            ),
        ];
        for (what, header, want) in values {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let t = Instant::now();
            s.write_all(request(&header).as_bytes()).await.unwrap();
            let head = read_head(&mut s).await;
            let took = t.elapsed();
            assert!(
                head.starts_with(want),
                "{what}: expected {want}, got {:?}",
                &head[..head.len().min(80)]
            );
            assert!(took < Duration::from_secs(1), "{what}: answered after {took:?}");
        }
        base.settle("hostile header values").await;
    });
}

// ---- framing -----------------------------------------------------------------------

/// Expected: each malformed frame is answered with a Close carrying the
/// code RFC 6455 asks for, then the transport is closed.
#[test]
fn malformed_frames_get_their_close_code() {
    case(|| async {
        let addr = serve(server_config()).await;
        let base = Baseline::take();
        let len16 = |b0: u8, n: u16| {
            let mut f = vec![b0, 0x80 | 126];
            f.extend_from_slice(&n.to_be_bytes());
            f.extend_from_slice(&MASK);
            f.extend(std::iter::repeat_n(b'a' ^ MASK[0], n as usize)); // contents irrelevant
            f
        };
        let len64 = |b0: u8, n: u64| {
            let mut f = vec![b0, 0x80 | 127];
            f.extend_from_slice(&n.to_be_bytes());
            f.extend_from_slice(&MASK);
            f
        };
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("unmasked client frame", frame(FIN | TEXT, b"hi", false), 1002),
            (
                "RSV1 without permessage-deflate",
                client_frame(FIN | RSV1 | TEXT, b"hi"),
                1002,
            ),
            ("RSV2", client_frame(FIN | 0x20 | TEXT, b"hi"), 1002),
            ("RSV3", client_frame(FIN | 0x10 | TEXT, b"hi"), 1002),
            ("reserved data opcode 3", client_frame(FIN | 3, b""), 1002),
            ("reserved control opcode 0xB", client_frame(FIN | 0xb, b""), 1002),
            ("ping of 126 bytes", client_frame(FIN | PING, &[0; 126]), 1002),
            ("fragmented ping", client_frame(PING, b"p"), 1002),
            ("fragmented close", client_frame(CLOSE, &[3, 232]), 1002),
            ("64-bit length with the top bit set", len64(FIN | BINARY, 1 << 63), 1002),
            ("5 bytes in the 16-bit form", len16(FIN | BINARY, 5), 1002),
            ("200 bytes in the 64-bit form", len64(FIN | BINARY, 200), 1002),
            (
                "frame over max_frame_size (1 MiB)",
                len64(FIN | BINARY, (1 << 20) + 1),
                1009,
            ),
            ("continuation without a start", client_frame(FIN, b"x"), 1002),
            (
                "a new message inside a fragmented one",
                [client_frame(TEXT, b"a"), client_frame(FIN | TEXT, b"b")].concat(),
                1002,
            ),
        ];
        for (what, bytes, code) in cases {
            expect_server_close(addr, "", &bytes, code, what).await;
        }
        base.settle("malformed frames").await;
    });
}

/// Expected: a header declaring 2^40 bytes, then silence, is refused with
/// 1009 as soon as the header arrives, with no allocation for the payload.
#[test]
fn a_huge_declared_length_allocates_nothing() {
    case(|| async {
        let mut cfg = server_config();
        cfg.ws.protocol.max_frame_size = usize::MAX; // only the message limit stands
        let addr = serve(cfg).await;
        let base = Baseline::take();
        let mut f = vec![FIN | BINARY, 0x80 | 127];
        f.extend_from_slice(&(1u64 << 40).to_be_bytes());
        f.extend_from_slice(&MASK);
        expect_server_close(addr, "", &f, 1009, "2^40-byte frame header").await;
        let grown = base.peak_growth();
        assert!(
            grown < 256 * 1024,
            "the server allocated {grown} bytes for a declared 2^40"
        );
        base.settle("2^40 header").await;
    });
}

/// Expected: thousands of frames in one write, and one byte stream split at
/// every point, give the same echoed messages in the same order.
#[test]
fn any_split_of_the_stream_gives_the_same_messages() {
    case(|| async {
        let addr = serve(server_config()).await;
        let base = Baseline::take();
        // Thousands of frames in one write, with fragments and pings mixed in.
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for i in 0..3000u32 {
            let body = format!("message {i} {}", "x".repeat((i % 97) as usize));
            if i % 7 == 0 {
                let (a, b) = body.as_bytes().split_at(body.len() / 2);
                stream.extend(client_frame(TEXT, a));
                stream.extend(client_frame(FIN | PING, b"p"));
                stream.extend(client_frame(FIN, b));
            } else {
                stream.extend(client_frame(FIN | TEXT, body.as_bytes()));
            }
            want.push(body.into_bytes());
        }
        let mut s = upgraded(addr, "").await;
        s.write_all(&stream).await.unwrap();
        let mut got = Vec::new();
        while got.len() < want.len() {
            let f = read_frame(&mut s).await.expect("echo");
            if f.b0 & 0x0f == TEXT {
                got.push(f.payload);
            }
        }
        assert!(got == want, "3000 frames in one write: echoes differ");
        drop((s, stream, want, got));

        // A short stream split at every byte (two writes, a pause between).
        let parts = [
            client_frame(TEXT, "κό".as_bytes()),
            client_frame(FIN, "σμε".as_bytes()),
            client_frame(FIN | BINARY, &[0u8; 130]),
            client_frame(FIN | PING, b"abc"),
            client_frame(FIN | TEXT, b"end"),
        ];
        let short: Vec<u8> = parts.concat();
        for cut in 1..short.len() {
            let mut s = upgraded(addr, "").await;
            s.write_all(&short[..cut]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
            s.write_all(&short[cut..]).await.unwrap();
            let mut got = Vec::new();
            while got.len() < 3 {
                let f = read_frame(&mut s)
                    .await
                    .unwrap_or_else(|| panic!("cut at {cut}: no echo"));
                if f.b0 & 0x0f != 0xa {
                    got.push(f.payload);
                }
            }
            assert_eq!(
                got,
                vec!["κόσμε".as_bytes().to_vec(), vec![0u8; 130], b"end".to_vec()],
                "cut at {cut}"
            );
        }
        base.settle("split stream").await;
    });
}

// ---- messages ----------------------------------------------------------------------

/// Expected: the fragment whose header takes the message past
/// max_message_size (1 MiB) is refused with 1009 before its payload is sent.
#[test]
fn the_fragment_crossing_the_message_limit_is_refused_at_its_header() {
    case(|| async {
        let addr = serve(server_config()).await;
        let base = Baseline::take();
        let mut s = upgraded(addr, "").await;
        s.write_all(&client_frame(BINARY, &vec![1u8; 600 * 1024]))
            .await
            .unwrap();
        // Only the next fragment's header: 600 KiB more would cross 1 MiB.
        let mut h = vec![0x00, 0x80 | 127];
        h.extend_from_slice(&(600u64 * 1024).to_be_bytes());
        h.extend_from_slice(&MASK);
        s.write_all(&h).await.unwrap();
        let (code, _) = close_code(&mut s).await;
        assert_eq!(code, Some(1009));
        expect_eof(&mut s, Duration::from_secs(2)).await;
        drop(s);
        base.settle("message limit").await;
    });
}

/// Expected: endless empty continuation frames end with 1009 at the fragment
/// cap, the heap stays flat while they arrive, and another client's echoes
/// keep their latency.
#[test]
fn endless_empty_continuations_hit_the_fragment_cap() {
    case(|| async {
        let mut cfg = server_config();
        cfg.ws.protocol.max_fragments = 131_072; // the default
        let addr = serve(cfg).await;
        let base = Baseline::take();
        let mut other = upgraded(addr, "").await;
        let flood = tokio::spawn(async move {
            let mut s = upgraded(addr, "").await;
            s.write_all(&client_frame(TEXT, b"")).await.unwrap();
            let empty = client_frame(0, b"");
            let batch: Vec<u8> = std::iter::repeat_n(&empty, 4096).flatten().copied().collect();
            let mut sent = 0;
            while sent < 200_000 {
                if s.write_all(&batch).await.is_err() {
                    break;
                }
                sent += 4096;
            }
            close_code(&mut s).await.0
        });
        let mut worst = Duration::ZERO;
        for i in 0..50 {
            let t = Instant::now();
            other
                .write_all(&client_frame(FIN | TEXT, format!("{i}").as_bytes()))
                .await
                .unwrap();
            let f = read_frame(&mut other).await.expect("echo during the flood");
            assert_eq!(f.payload, format!("{i}").as_bytes());
            worst = worst.max(t.elapsed());
        }
        assert_eq!(flood.await.unwrap(), Some(1009), "fragment flood");
        assert!(
            worst < Duration::from_millis(200),
            "another client's echo took {worst:?} during the flood"
        );
        let grown = base.peak_growth();
        assert!(grown < 1 << 20, "heap grew by {grown} bytes during the flood");
        drop(other);
        base.settle("fragment flood").await;
    });
}

/// Expected: a message that never completes holds only the bytes received,
/// and a peer that also ignores pings is failed by keepalive (1011).
#[test]
fn a_message_that_never_completes_ends_with_the_keepalive() {
    case(|| async {
        let mut cfg = server_config();
        cfg.ws.protocol.keepalive = Some(Keepalive::new(Duration::from_millis(200), Duration::from_millis(200)));
        let addr = serve(cfg).await;
        let base = Baseline::take();
        let mut s = upgraded(addr, "").await;
        s.write_all(&client_frame(TEXT, &[b'a'; 10_000])).await.unwrap();
        let t = Instant::now();
        let (code, before) = close_code(&mut s).await;
        assert_eq!(code, Some(1011), "silent peer");
        assert!(before.iter().any(|f| f.b0 & 0x0f == PING), "a ping came first");
        assert!(t.elapsed() < Duration::from_secs(2));
        let grown = base.peak_growth();
        assert!(
            grown < 256 * 1024,
            "heap grew by {grown} bytes for a 10 kB partial message"
        );
        expect_eof(&mut s, Duration::from_secs(2)).await;
        drop(s);
        base.settle("incomplete message").await;
    });
}

// ---- UTF-8 -------------------------------------------------------------------------

/// Expected: every invalid sequence gets 1007; code points split across
/// fragments are fine; an invalid first byte of a huge text message gets 1007
/// before the rest of it is sent.
#[test]
fn invalid_utf8_gets_1007() {
    case(|| async {
        let addr = serve(server_config()).await;
        let base = Baseline::take();
        let bad: [(&str, &[u8]); 7] = [
            ("invalid byte", b"ab\xffcd"),
            ("overlong '/'", b"\xc0\xaf"),
            ("overlong 3-byte", b"\xe0\x80\xaf"),
            ("surrogate", b"\xed\xa0\x80"),
            ("above U+10FFFF", b"\xf4\x90\x80\x80"),
            ("5-byte form", b"\xf8\x88\x80\x80\x80"),
            ("truncated at the end", b"ab\xe2\x82"),
        ];
        for (what, payload) in bad {
            expect_server_close(addr, "", &client_frame(FIN | TEXT, payload), 1007, what).await;
            let split = [client_frame(TEXT, &payload[..1]), client_frame(FIN, &payload[1..])].concat();
            expect_server_close(addr, "", &split, 1007, what).await;
        }
        // A valid code point split across three fragments is echoed whole.
        let mut s = upgraded(addr, "").await;
        let euro = "€".as_bytes();
        s.write_all(
            &[
                client_frame(TEXT, &euro[..1]),
                client_frame(0, &euro[1..2]),
                client_frame(FIN, &euro[2..]),
            ]
            .concat(),
        )
        .await
        .unwrap();
        assert_eq!(read_frame(&mut s).await.unwrap().payload, euro);
        drop(s);
        // 900 kB declared, an invalid first byte, and nothing more.
        let mut s = upgraded(addr, "").await;
        let mut h = vec![FIN | TEXT, 0x80 | 127];
        h.extend_from_slice(&(900u64 * 1024).to_be_bytes());
        h.extend_from_slice(&MASK);
        h.extend([0xff ^ MASK[0], b'a' ^ MASK[1]]);
        s.write_all(&h).await.unwrap();
        assert_eq!(
            close_code(&mut s).await.0,
            Some(1007),
            "invalid start of a huge message"
        );
        drop(s);
        base.settle("utf-8").await;
    });
}

// ---- close -------------------------------------------------------------------------

/// Expected: a 1-byte Close and each invalid code get 1002, an invalid UTF-8
/// reason 1007; a valid Close is echoed and data after it is ignored.
#[test]
fn close_frames_are_validated() {
    case(|| async {
        let addr = serve(server_config()).await;
        let base = Baseline::take();
        expect_server_close(addr, "", &client_frame(FIN | CLOSE, &[3]), 1002, "1-byte close").await;
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            let what = format!("close code {code}");
            expect_server_close(addr, "", &client_frame(FIN | CLOSE, &code.to_be_bytes()), 1002, &what).await;
        }
        expect_server_close(
            addr,
            "",
            &client_frame(FIN | CLOSE, b"\x03\xe8\xff"),
            1007,
            "bad reason",
        )
        .await;
        let mut s = upgraded(addr, "").await;
        let bytes = [
            client_frame(FIN | CLOSE, b"\x0f\xa0bye"),
            client_frame(FIN | TEXT, b"late"),
        ]
        .concat();
        s.write_all(&bytes).await.unwrap();
        let (code, before) = close_code(&mut s).await;
        assert_eq!(code, Some(4000), "the peer's code echoed");
        assert!(before.is_empty(), "nothing echoed around the Close: {before:?}");
        assert!(read_frame(&mut s).await.is_none(), "data after Close was answered");
        drop(s);
        base.settle("close validation").await;
    });
}

/// Expected: a peer that never answers our Close is dropped at the close
/// timeout (500 ms here), and a reset in the middle of a frame frees
/// everything.
#[test]
fn unanswered_close_and_reset_mid_frame_free_everything() {
    case(|| async {
        let addr = serve_with(server_config(), |mut ws| async move {
            if ws.next().await.is_some() {
                let _ = ws.close(Some(wsbolt::CloseFrame::new(1000u16, "").unwrap())).await;
            }
        })
        .await;
        let base = Baseline::take();
        let mut s = upgraded(addr, "").await;
        s.write_all(&client_frame(FIN | TEXT, b"go")).await.unwrap();
        assert_eq!(close_code(&mut s).await.0, Some(1000));
        let t = Instant::now();
        expect_eof(&mut s, Duration::from_secs(2)).await;
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(400),
            "dropped after {took:?}, before the close timeout"
        );
        drop(s);

        let mut s = upgraded(addr, "").await;
        let mut half = client_frame(FIN | BINARY, &[7u8; 1000]);
        half.truncate(500);
        s.write_all(&half).await.unwrap();
        // A zero linger makes the close send RST instead of FIN: the
        // deprecation warns that it blocks on drop, which it cannot here.
        #[allow(deprecated)]
        s.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
        base.settle("unanswered close, reset").await;
    });
}

// ---- ping --------------------------------------------------------------------------

/// Expected: a ping flood from a peer that never reads cannot grow the
/// server's memory: it stops reading once its unwritten pongs pass the write
/// high-water mark (256 KiB), and TCP pushes back on the flooder.
#[test]
fn a_ping_flood_from_a_peer_that_never_reads_is_held_back() {
    case(|| async {
        let addr = serve(server_config()).await;
        let base = Baseline::take();
        let mut s = upgraded(addr, "").await;
        let ping = client_frame(FIN | PING, &[b'p'; 125]);
        let batch: Vec<u8> = std::iter::repeat_n(&ping, 1000).flatten().copied().collect();
        let mut sent = 0usize;
        // 200 MB of pings; the writes must stall long before that.
        let stalled = loop {
            match tokio::time::timeout(Duration::from_millis(500), s.write_all(&batch)).await {
                Ok(Ok(())) => sent += batch.len(),
                Ok(Err(e)) => panic!("write failed: {e}"),
                Err(_) => break true,
            }
            if sent > 200 << 20 {
                break false;
            }
        };
        assert!(
            stalled,
            "the server kept reading pings it could not answer ({sent} bytes)"
        );
        let grown = base.peak_growth();
        assert!(
            grown < 2 << 20,
            "heap grew by {grown} bytes during the ping flood ({sent} bytes sent)"
        );
        // Leaving with unread pongs resets the connection; the paused server
        // must notice (its write fails) and free everything.
        drop((s, batch));
        base.settle("ping flood").await;
    });
}

// ---- compression -------------------------------------------------------------------

fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 100 + 1024);
    c.compress_vec(data, &mut out, flate2::FlushCompress::Sync).unwrap();
    while c.total_in() < data.len() as u64 {
        out.reserve(1 << 20);
        let done = c.total_in() as usize;
        c.compress_vec(&data[done..], &mut out, flate2::FlushCompress::Sync)
            .unwrap();
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

const DEFLATE: &str = "Sec-WebSocket-Extensions: permessage-deflate\r\n";

/// Expected: a 1 GiB bomb (in one frame, and across many fragments) gets
/// 1009 with the heap bounded by the message limit (1 MiB) plus one inflate
/// chunk; corrupt data gets 1007; RSV1 on a continuation or control frame
/// gets 1002.
#[test]
fn compression_bombs_and_corrupt_streams() {
    case(|| async {
        let addr = serve(server_config()).await;
        let bomb = deflate_raw(&vec![0u8; 1 << 30]);
        assert!(bomb.len() < 2 << 20, "1 GiB of zeros deflates to {} bytes", bomb.len());
        let one_frame = client_frame(FIN | RSV1 | BINARY, &bomb);
        let base = Baseline::take();
        expect_server_close(addr, DEFLATE, &one_frame, 1009, "bomb in one frame").await;
        drop(one_frame);
        let grown = base.peak_growth();
        assert!(grown < 4 << 20, "heap grew by {grown} bytes for a 1 GiB bomb");

        let pieces: Vec<&[u8]> = bomb.chunks(1000).collect();
        let mut frames = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            let first = i == 0;
            let last = i + 1 == pieces.len();
            let b0 = if first { RSV1 | BINARY } else { 0 } | if last { FIN } else { 0 };
            frames.extend(client_frame(b0, p));
        }
        let before = counting_alloc::live();
        counting_alloc::reset_peak();
        expect_server_close(addr, DEFLATE, &frames, 1009, "bomb across fragments").await;
        let grown = counting_alloc::peak() - before;
        assert!(grown < 4 << 20, "heap grew by {grown} bytes for a fragmented bomb");

        let corrupt = client_frame(FIN | RSV1 | TEXT, &[0xff, 0xff, 0xff, 0x00, 0x12]);
        expect_server_close(addr, DEFLATE, &corrupt, 1007, "corrupt deflate data").await;
        // A block cut short: what remains cannot end the message.
        let mut cut = deflate_raw(b"hello hello hello hello");
        cut.truncate(cut.len() - 3);
        let cut_frame = client_frame(FIN | RSV1 | TEXT, &cut);
        expect_server_close(addr, DEFLATE, &cut_frame, 1007, "missing end of the deflate stream").await;
        let msg = deflate_raw(b"abc");
        let rsv1_cont = [client_frame(RSV1 | TEXT, &msg), client_frame(FIN | RSV1, &msg)].concat();
        expect_server_close(addr, DEFLATE, &rsv1_cont, 1002, "RSV1 on a continuation").await;
        expect_server_close(
            addr,
            DEFLATE,
            &client_frame(FIN | RSV1 | PING, b""),
            1002,
            "RSV1 on a ping",
        )
        .await;
        drop((bomb, frames));
        base.settle("compression").await;
    });
}

// ---- backpressure ------------------------------------------------------------------

/// Expected: a server sending to a client that never reads stops at the
/// write high-water mark (`send` waits); its heap stays near that mark.
#[test]
fn sending_to_a_client_that_never_reads_is_capped() {
    case(|| async {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let addr = serve_with(server_config(), move |mut ws| {
            let counter = counter.clone();
            async move {
                let msg = Message::binary(vec![9u8; 64 * 1024]);
                while ws.send(msg.clone()).await.is_ok() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .await;
        let base = Baseline::take();
        let s = upgraded(addr, "").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let a = sent.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let b = sent.load(Ordering::SeqCst);
        assert_eq!(a, b, "the server kept sending to a client that does not read");
        assert!(a < 200, "{a} messages of 64 KiB went out to a non-reader");
        let grown = base.peak_growth();
        assert!(grown < 2 << 20, "heap grew by {grown} bytes");
        drop(s);
        base.settle("non-reading client").await;
    });
}

/// Expected: connections that received bulk data (read straight into each
/// connection's buffer, not through the per-thread scratch buffer) hold no
/// read buffer once they go idle. 20 connections each echo 4 messages of
/// 256 KiB and then wait: the heap comes back to within 256 KiB of where it
/// was before the traffic (a 64 KiB buffer kept per side would be 2.5 MiB).
#[test]
fn connections_idle_after_bulk_data_hold_no_read_buffer() {
    case(|| async {
        let mut cfg = server_config();
        cfg.ws.deflate = None;
        let addr = serve(cfg).await;
        let base = Baseline::take();
        // The clients run on the runtime's workers, as the servers do: the
        // suite allows one scratch read buffer per worker thread.
        let client = tokio::spawn(async move {
            let mut clients = Vec::new();
            for _ in 0..20 {
                let (mut ws, _) = wsbolt::connect(&format!("ws://{addr}/")).await.unwrap();
                // A small exchange first: the worker threads' scratch buffers
                // exist before the measurement starts.
                ws.send(Message::text("warm")).await.unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("warm"));
                clients.push(ws);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let idle_before = counting_alloc::live();
            for ws in clients.iter_mut() {
                for i in 0..4u8 {
                    let big = Message::binary(vec![i; 256 * 1024]);
                    ws.send(big.clone()).await.unwrap();
                    assert_eq!(ws.next().await.unwrap().unwrap(), big);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let grown = counting_alloc::live() - idle_before;
            assert!(
                grown < 256 * 1024,
                "idle connections kept {grown} bytes after bulk data"
            );
        });
        client.await.unwrap();
        base.settle("idle after bulk data").await;
    });
}

/// Expected: a handler slower than its input holds at most what it has read:
/// the library reads only when asked, so TCP pushes back on the sender.
#[test]
fn a_slow_handler_pushes_back_through_tcp() {
    case(|| async {
        let addr = serve_with(server_config(), |mut ws| async move {
            while let Some(Ok(_)) = ws.next().await {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        let base = Baseline::take();
        let mut s = upgraded(addr, "").await;
        let msg = client_frame(FIN | BINARY, &vec![5u8; 64 * 1024]);
        let mut sent = 0usize;
        let stalled = loop {
            match tokio::time::timeout(Duration::from_millis(500), s.write_all(&msg)).await {
                Ok(Ok(())) => sent += msg.len(),
                Ok(Err(e)) => panic!("write failed: {e}"),
                Err(_) => break true,
            }
            if sent > 100 << 20 {
                break false;
            }
        };
        assert!(
            stalled,
            "100 MB went to a handler that reads ten 64 kB messages a second"
        );
        let grown = base.peak_growth();
        assert!(grown < 2 << 20, "heap grew by {grown} bytes");
        // Reset, so the kernel discards what the handler has not read yet.
        #[allow(deprecated)]
        s.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
        // The test's own 64 kB frame is not the server's to give back.
        drop(msg);
        base.settle("slow handler").await;
    });
}

// ---- the client role ---------------------------------------------------------------

/// A server that completes the handshake by hand, then sends `bytes`, and
/// reports the Close code the client answers with.
async fn hostile_server(bytes: Vec<u8>, deflate: bool) -> (String, tokio::task::JoinHandle<Option<u16>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let head = read_head(&mut s).await;
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("key")
            .trim()
            .to_string();
        let ext = if deflate {
            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
        } else {
            ""
        };
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{ext}\r\n",
            accept_key(key.as_bytes())
        );
        s.write_all(resp.as_bytes()).await.unwrap();
        let _ = s.write_all(&bytes).await;
        close_code(&mut s).await.0
    });
    (url, task)
}

/// Expected: the client refuses a hostile server's frames with the same
/// codes the server uses, and reports the error to the application.
#[test]
fn the_client_refuses_hostile_servers() {
    case(|| async {
        // Warm up what the first client connection sets up once per process
        // (the TLS root store), so the baseline holds it.
        let (url, warm) = hostile_server(frame(FIN | CLOSE, b"", false), false).await;
        let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
        while ws.next().await.is_some() {}
        let _ = warm.await;
        drop(ws);
        let base = Baseline::take();
        let mut len64 = vec![FIN | BINARY, 127];
        len64.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let bomb = deflate_raw(&vec![0u8; 256 << 20]);
        let cases: Vec<(&str, Vec<u8>, bool, u16)> = vec![
            ("masked server frame", client_frame(FIN | TEXT, b"hi"), false, 1002),
            ("reserved bits", frame(FIN | 0x20 | TEXT, b"hi", false), false, 1002),
            ("reserved opcode", frame(FIN | 0xc, b"", false), false, 1002),
            ("2^40-byte header", len64, false, 1009),
            ("invalid UTF-8", frame(FIN | TEXT, b"\xed\xa0\x80", false), false, 1007),
            ("1-byte close", frame(FIN | CLOSE, &[3], false), false, 1002),
            ("continuation without a start", frame(FIN, b"x", false), false, 1002),
            ("256 MiB bomb", frame(FIN | RSV1 | BINARY, &bomb, false), true, 1009),
        ];
        for (what, bytes, deflate, code) in cases {
            let (url, server) = hostile_server(bytes, deflate).await;
            let mut cfg = wsbolt::ClientConfig::default();
            cfg.ws.protocol.max_message_size = 1 << 20;
            if deflate {
                cfg.ws.deflate = Some(DeflateConfig::default());
            }
            let before = counting_alloc::live();
            counting_alloc::reset_peak();
            let (mut ws, _) = wsbolt::connect_with_config(&url, &cfg).await.unwrap();
            match ws.next().await {
                Some(Err(Error::Protocol(e))) => assert_eq!(e.close_code().as_u16(), code, "{what}: {e}"),
                other => panic!("{what}: expected a protocol error, got {other:?}"),
            }
            assert_eq!(server.await.unwrap(), Some(code), "{what}: the Close on the wire");
            let grown = counting_alloc::peak() - before;
            assert!(grown < 4 << 20, "{what}: heap grew by {grown} bytes");
            drop(ws);
        }
        drop(bomb);
        base.settle("hostile servers").await;
    });
}
