//! The adversarial suite's process-level cases: `wsbolt serve` run as a
//! user runs it, attacked over loopback. Each case states its expected
//! outcome; descriptor counts are read from `/proc/<pid>/fd`.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use wsbolt::Message;

/// A running `wsbolt serve`, killed when dropped.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    /// Starts `wsbolt serve` on a free port with `args`, under `ulimit -n`
    /// when given, and waits until it accepts connections.
    async fn start(args: &str, nofile: Option<u32>) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin = env!("CARGO_BIN_EXE_wsbolt");
        let limit = nofile.map(|n| format!("ulimit -n {n} && ")).unwrap_or_default();
        let child = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{limit}exec {bin} serve --listen 127.0.0.1:{port} --log warn {args}"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).await.is_err() {
            assert!(Instant::now() < deadline, "wsbolt serve did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Serve { child, addr }
    }

    fn fds(&self) -> usize {
        let pid = self.child.id().expect("running");
        std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
    }

    /// Waits (up to 5 s) for the server's descriptor count to fall to `n`.
    async fn fds_back_to(&self, n: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = self.fds();
            if now <= n || Instant::now() > deadline {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Connects, sends an upgrade to /echo, and returns the socket and the
/// status line (empty if nothing came within `wait`).
async fn try_upgrade(addr: &str, wait: Duration) -> (Option<TcpStream>, String) {
    // A server out of descriptors leaves connections in its backlog, and
    // once that is full the kernel drops SYNs: give up on those quickly.
    let Ok(Ok(mut s)) = tokio::time::timeout(wait, TcpStream::connect(addr)).await else {
        return (None, String::new());
    };
    if s.write_all(upgrade_request("/echo").as_bytes()).await.is_err() {
        return (None, String::new());
    }
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    let read = tokio::time::timeout(wait, async {
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b).await {
                Ok(1) => head.push(b[0]),
                _ => break,
            }
        }
    })
    .await;
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_string();
    if read.is_err() {
        return (Some(s), String::new());
    }
    (Some(s), line)
}

async fn echo_once(url: &str) -> String {
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(5), wsbolt::connect(url))
        .await
        .expect("connect in time")
        .expect("connect");
    ws.send(Message::text("still here")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("echo in time");
    let _ = ws.close(None).await;
    match got {
        Some(Ok(Message::Text(t))) => t.to_string(),
        other => panic!("{other:?}"),
    }
}

/// Expected: with `ulimit -n 256`, a flood of 600 connections exhausts the
/// descriptors; the accept loop survives EMFILE (it backs off and retries),
/// the connections it could take are upgraded, and once the flood leaves a
/// new client is served and the descriptor count is back to its baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_loop_survives_descriptor_exhaustion() {
    let serve = Serve::start("--max-connections 100000 --max-connections-per-ip 100000", Some(256)).await;
    let baseline = serve.fds();
    // 600 connections at once, each waiting up to 2 s for its 101.
    let attempts: Vec<_> = (0..600)
        .map(|_| {
            let addr = serve.addr.clone();
            tokio::spawn(async move { try_upgrade(&addr, Duration::from_secs(2)).await })
        })
        .collect();
    let mut flood = Vec::new();
    let mut upgraded = 0;
    for a in attempts {
        let (s, line) = a.await.unwrap();
        if line.starts_with("HTTP/1.1 101") {
            upgraded += 1;
        }
        flood.extend(s);
    }
    assert!(
        upgraded > 150 && upgraded < 256,
        "{upgraded} of 600 upgraded under a 256-descriptor limit"
    );
    assert!(serve.fds() <= 256);
    drop(flood);
    let after = serve.fds_back_to(baseline).await;
    assert!(
        after <= baseline,
        "{after} descriptors open after the flood, {baseline} before"
    );
    let url = format!("ws://{}/echo", serve.addr);
    assert_eq!(echo_once(&url).await, "still here", "served after the flood");
}

/// Expected: past --max-connections the excess gets 503 at once, and the
/// connections already open keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_refused_and_the_rest_unaffected() {
    let serve = Serve::start("--max-connections 50 --max-connections-per-ip 1000", None).await;
    let url = format!("ws://{}/echo", serve.addr);
    let mut open = Vec::new();
    for _ in 0..50 {
        open.push(wsbolt::connect(&url).await.unwrap().0);
    }
    for _ in 0..20 {
        let (_, line) = try_upgrade(&serve.addr, Duration::from_secs(2)).await;
        assert!(line.starts_with("HTTP/1.1 503"), "over the limit: {line:?}");
    }
    for (i, ws) in open.iter_mut().enumerate() {
        ws.send(Message::text(format!("{i}"))).await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), format!("{i}")),
            other => panic!("connection {i}: {other:?}"),
        }
    }
}

/// Expected: SIGTERM while 20 clients stream messages: every client gets
/// Close 1001, the echoes each received are exactly its messages 0..k in
/// order (none lost in the middle, none twice), and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_loses_nothing() {
    let mut serve = Serve::start("--shutdown-grace 5", None).await;
    let url = format!("ws://{}/echo", serve.addr);
    let mut clients = Vec::new();
    for c in 0..20 {
        let (ws, _) = wsbolt::connect(&url).await.unwrap();
        let (mut rx, mut tx) = ws.split();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_w = stop.clone();
        let writer = tokio::spawn(async move {
            let mut i = 0u64;
            while !stop_w.load(Ordering::Relaxed) {
                if tx.send(Message::text(format!("{c}:{i}"))).await.is_err() {
                    break;
                }
                i += 1;
                if i.is_multiple_of(16) {
                    tokio::task::yield_now().await;
                }
            }
            i
        });
        let reader = tokio::spawn(async move {
            let mut next = 0u64;
            let mut close = None;
            while let Some(item) = rx.next().await {
                match item {
                    Ok(Message::Text(t)) => {
                        assert_eq!(t.as_str(), format!("{c}:{next}"), "client {c}: out of order or lost");
                        next += 1;
                    }
                    Ok(Message::Close(f)) => {
                        close = f.map(|f| f.code().as_u16());
                        stop.store(true, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => panic!("client {c}: {e}"),
                }
            }
            stop.store(true, Ordering::Relaxed);
            (next, close)
        });
        clients.push((writer, reader));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = serve.child.id().unwrap();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(Duration::from_secs(15), serve.child.wait())
        .await
        .expect("exits within the grace period")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let mut total = 0;
    for (c, (writer, reader)) in clients.into_iter().enumerate() {
        let (echoed, close) = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .unwrap()
            .unwrap();
        let sent = writer.await.unwrap();
        assert_eq!(close, Some(1001), "client {c}");
        assert!(
            echoed <= sent && echoed > 0,
            "client {c}: {echoed} echoed of {sent} sent"
        );
        total += echoed;
    }
    assert!(total > 1000, "only {total} messages echoed before the shutdown");
}

/// Expected on a wss port (handshake timeout 1 s): half a ClientHello is
/// dropped at the deadline; a plain HTTP request is dropped at once without
/// an HTTP answer. On the plain port a ClientHello gets 400 at once (the
/// library's suite checks that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_ports_drop_cut_hellos_at_the_deadline_and_plain_http_at_once() {
    let serve = Serve::start("--tls-self-signed --handshake-timeout 1", None).await;
    let baseline = serve.fds();
    let mut s = TcpStream::connect(&serve.addr).await.unwrap();
    // A record header announcing 512 bytes of ClientHello, and 6 of them.
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])
        .await
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("closed");
    let took = t.elapsed();
    assert!(matches!(n, Ok(0) | Err(_)), "got {n:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "dropped after {took:?}"
    );

    let mut s = TcpStream::connect(&serve.addr).await.unwrap();
    s.write_all(upgrade_request("/echo").as_bytes()).await.unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("closed");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "plain HTTP held for {:?}",
        t.elapsed()
    );
    assert!(!out.starts_with(b"HTTP/"), "answered plain HTTP on the TLS port");
    drop(s);
    let after = serve.fds_back_to(baseline).await;
    assert!(after <= baseline, "{after} descriptors open, {baseline} before");
}
