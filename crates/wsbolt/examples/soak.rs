//! The soak client behind `scripts/soak`: many connections to an echo
//! server for a set time, with random message sizes and random disconnect
//! points, checking that every echo comes back exactly once and in order,
//! while sampling the server's RSS, descriptors and tasks.
//!
//! ```text
//! cargo run --release -p wsbolt --example soak -- \
//!     ws://127.0.0.1:9998/echo --pid <server pid> --connections 1000 --seconds 600
//! ```
//!
//! Each of the `--connections` slots loops until the deadline, choosing for
//! each session one of:
//! - a normal session (80%): up to 200 messages (sizes mostly under 128 B,
//!   some up to 64 KiB, a few of 1 MiB; text or binary) with up to 4 in
//!   flight, each echo checked byte for byte and in order; it then either
//!   closes cleanly (the Close must be answered) or drops the connection
//!   with messages in flight;
//! - a raw session (20%) that disconnects mid-handshake, mid-frame,
//!   mid-fragment or mid-close.
//!
//! `--deflate` offers permessage-deflate on the normal sessions.
//!
//! Prints a sample line every 10 s and a JSON summary; exits non-zero on any
//! lost, duplicated, reordered or corrupted echo, if the server's descriptors
//! or tasks do not return to their starting counts, if its RSS keeps growing,
//! or if its RSS is not back within 10 MiB of the idle server's within 60 s
//! of the last client leaving.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbolt::{CloseFrame, Message};

#[derive(Default)]
struct Counters {
    sessions: AtomicU64,
    clean_closes: AtomicU64,
    dropped_mid_stream: AtomicU64,
    raw_disconnects: AtomicU64,
    messages_verified: AtomicU64,
    bytes_verified: AtomicU64,
    connect_failures: AtomicU64,
    failures: AtomicU64,
}

/// xorshift64*: enough randomness for choosing sizes and cut points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn message_size(rng: &mut Rng) -> usize {
    match rng.below(1000) {
        0..=4 => 1 << 20,
        5..=99 => rng.below(64 * 1024) as usize,
        _ => rng.below(128) as usize,
    }
}

/// A message whose bytes encode its session, sequence number and size.
fn make_message(rng: &mut Rng, seq: u64) -> Message {
    let len = message_size(rng).max(16);
    let tag = format!("{seq:016x}");
    let mut body = String::with_capacity(len);
    body.push_str(&tag);
    let fill = (b'a' + (seq % 26) as u8) as char;
    body.extend(std::iter::repeat_n(fill, len - tag.len()));
    if rng.below(2) == 0 {
        Message::text(body)
    } else {
        Message::binary(body.into_bytes())
    }
}

async fn normal_session(url: &str, config: &wsbolt::ClientConfig, rng: &mut Rng, c: &Counters) -> Result<(), String> {
    let (mut ws, _) = match wsbolt::connect_with_config(url, config).await {
        Ok(ok) => ok,
        Err(e) => {
            c.connect_failures.fetch_add(1, Ordering::Relaxed);
            return Err(format!("connect: {e}"));
        }
    };
    let total = 1 + rng.below(200);
    let drop_at = if rng.below(4) == 0 {
        Some(rng.below(total))
    } else {
        None
    };
    let mut seq = 0;
    while seq < total {
        let batch = (1 + rng.below(4)).min(total - seq);
        let sent: Vec<Message> = (0..batch).map(|i| make_message(rng, seq + i)).collect();
        for m in &sent {
            ws.feed(m.clone()).await.map_err(|e| format!("send: {e}"))?;
        }
        ws.flush().await.map_err(|e| format!("flush: {e}"))?;
        if drop_at.is_some_and(|d| d <= seq) {
            // Leave with the batch in flight.
            c.dropped_mid_stream.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        for want in sent {
            let got = loop {
                match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                    Ok(Some(Ok(m))) => break m,
                    Ok(other) => return Err(format!("echo {seq}: {other:?}")),
                    Err(_) => return Err(format!("echo {seq}: nothing for 30 s")),
                }
            };
            if got != want {
                return Err(format!(
                    "echo {seq}: got {} bytes that differ from the {} sent",
                    got.len(),
                    want.len()
                ));
            }
            c.messages_verified.fetch_add(1, Ordering::Relaxed);
            c.bytes_verified.fetch_add(got.len() as u64, Ordering::Relaxed);
            seq += 1;
        }
    }
    ws.close(Some(CloseFrame::new(1000u16, "done").unwrap()))
        .await
        .map_err(|e| format!("close: {e}"))?;
    match ws.close_status() {
        Some(s) if s.was_clean() && s.code().as_u16() == 1000 => {
            c.clean_closes.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        other => Err(format!("close status {other:?}")),
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A client frame (masked with a zero key: the bytes stay readable).
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(payload);
    f
}

async fn raw_session(addr: &str, path: &str, rng: &mut Rng) -> Result<(), String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("raw connect: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let kind = rng.below(4);
    if kind == 0 {
        // Mid-handshake.
        let cut = 1 + rng.below(request.len() as u64 - 1) as usize;
        let _ = s.write_all(&request.as_bytes()[..cut]).await;
        return Ok(());
    }
    s.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut b)).await {
            Ok(Ok(1)) => head.push(b[0]),
            _ => return Err("raw handshake: no answer".into()),
        }
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(format!("raw handshake: {}", String::from_utf8_lossy(&head)));
    }
    let payload = vec![b'x'; 1000];
    let bytes = match kind {
        1 => {
            // Mid-frame: part of a 1000-byte text frame.
            let f = frame(0x81, &payload);
            f[..1 + rng.below(f.len() as u64 - 1) as usize].to_vec()
        }
        2 => frame(0x01, &payload),      // mid-fragment: a message's first fragment only
        _ => frame(0x88, &[0x03, 0xe8]), // mid-close: a Close, then gone without the reply
    };
    let _ = s.write_all(&bytes).await;
    Ok(())
}

struct Sample {
    rss_kib: u64,
    fds: usize,
    tasks: u64,
    open: u64,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn metrics(addr: &str) -> (u64, u64) {
    let get = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        let value = |name: &str| {
            out.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        };
        Some((value("wsbolt_tasks_alive ")?, value("wsbolt_connections_open ")?))
    };
    tokio::time::timeout(Duration::from_secs(10), get)
        .await
        .ok()
        .flatten()
        .unwrap_or((0, 0))
}

async fn sample(pid: u32, addr: &str) -> Sample {
    // The metrics request itself is one connection and one task: take the
    // descriptor count first, and subtract the request's own task.
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let (tasks, open) = metrics(addr).await;
    Sample {
        rss_kib: rss_kib(pid),
        fds,
        tasks: tasks.saturating_sub(1),
        open,
    }
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "ws://127.0.0.1:9998/echo".into());
    let pid = arg(&args, "--pid", 0) as u32;
    let conns = arg(&args, "--connections", 1000);
    let seconds = arg(&args, "--seconds", 600);
    let seed = arg(&args, "--seed", 0x5eed);
    let mut config = wsbolt::ClientConfig::default();
    if args.iter().any(|a| a == "--deflate") {
        config.ws.deflate = Some(wsbolt::DeflateConfig::default());
    }
    let config = Arc::new(config);
    let rest = url.strip_prefix("ws://").expect("a ws:// URL");
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (addr, path) = (addr.to_string(), if path.is_empty() { "/" } else { path }.to_string());

    let start = sample(pid, &addr).await;
    println!(
        "start: rss {} KiB, fds {}, tasks {}, open {}",
        start.rss_kib, start.fds, start.tasks, start.open
    );
    let counters = Arc::new(Counters::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut slots = Vec::new();
    for i in 0..conns {
        let (url, addr, path, c) = (url.clone(), addr.clone(), path.clone(), counters.clone());
        let config = config.clone();
        slots.push(tokio::spawn(async move {
            let mut rng = Rng(seed ^ (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            // Spread the first connections over a second.
            tokio::time::sleep(Duration::from_millis(rng.below(1000))).await;
            while Instant::now() < deadline {
                c.sessions.fetch_add(1, Ordering::Relaxed);
                let r = if rng.below(5) == 0 {
                    c.raw_disconnects.fetch_add(1, Ordering::Relaxed);
                    raw_session(&addr, &path, &mut rng).await
                } else {
                    normal_session(&url, &config, &mut rng, &c).await
                };
                if let Err(e) = r {
                    c.failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("slot {i}: {e}");
                }
            }
        }));
    }
    let mut samples = Vec::new();
    let t0 = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(10).min(deadline - Instant::now())).await;
        let s = sample(pid, &addr).await;
        println!(
            "t={:>4}s rss {:>7} KiB fds {:>5} tasks {:>5} open {:>5} | sessions {} verified {} msgs {} MiB failures {}",
            t0.elapsed().as_secs(),
            s.rss_kib,
            s.fds,
            s.tasks,
            s.open,
            counters.sessions.load(Ordering::Relaxed),
            counters.messages_verified.load(Ordering::Relaxed),
            counters.bytes_verified.load(Ordering::Relaxed) >> 20,
            counters.failures.load(Ordering::Relaxed),
        );
        samples.push(s);
    }
    for s in slots {
        let _ = s.await;
    }
    // Let the server notice the last disconnects (handshake and close timeouts).
    let mut end = sample(pid, &addr).await;
    for _ in 0..30 {
        if end.fds <= start.fds && end.tasks <= start.tasks {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        end = sample(pid, &addr).await;
    }
    // Memory that comes back: within 10 MiB of the idle server's within 60 s
    // of the last client leaving (freed memory may sit in the allocator for
    // a while; `wsbolt serve` hands it back to the system every 10 s).
    let left = Instant::now();
    let mut back = sample(pid, &addr).await;
    while back.rss_kib > start.rss_kib + 10 * 1024 && left.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        back = sample(pid, &addr).await;
    }
    let back_after = left.elapsed().as_secs();
    println!(
        "after the last client left: rss {} KiB at {} s (idle start {} KiB)",
        back.rss_kib, back_after, start.rss_kib
    );
    let second_half = &samples[samples.len() / 2..];
    let first_half = &samples[..samples.len() / 2];
    let max_rss = |s: &[Sample]| s.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let c = &counters;
    let failures = c.failures.load(Ordering::Relaxed);
    let summary = serde_json::json!({
        "connections": conns,
        "seconds": seconds,
        "sessions": c.sessions.load(Ordering::Relaxed),
        "clean_closes": c.clean_closes.load(Ordering::Relaxed),
        "dropped_mid_stream": c.dropped_mid_stream.load(Ordering::Relaxed),
        "raw_disconnects": c.raw_disconnects.load(Ordering::Relaxed),
        "messages_verified": c.messages_verified.load(Ordering::Relaxed),
        "bytes_verified": c.bytes_verified.load(Ordering::Relaxed),
        "connect_failures": c.connect_failures.load(Ordering::Relaxed),
        "failures": failures,
        "rss_kib": {"start": start.rss_kib, "max_first_half": max_rss(first_half),
                    "max_second_half": max_rss(second_half), "end": end.rss_kib,
                    "after_clients_left": back.rss_kib, "seconds_to_come_back": back_after},
        "fds": {"start": start.fds, "max": samples.iter().map(|s| s.fds).max(), "end": end.fds},
        "tasks": {"start": start.tasks, "max": samples.iter().map(|s| s.tasks).max(), "end": end.tasks},
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    let mut ok = failures == 0;
    if end.fds > start.fds || end.tasks > start.tasks {
        eprintln!("descriptors or tasks did not return to their starting counts");
        ok = false;
    }
    if back.rss_kib > start.rss_kib + 10 * 1024 {
        eprintln!("RSS did not come back within 10 MiB of the idle server's within 60 s");
        ok = false;
    }
    // Flat: the busiest second half may not hold more than the first half
    // plus 10% (allocator noise), once the working set is warm.
    if max_rss(second_half) > max_rss(first_half) + max_rss(first_half) / 10 {
        eprintln!("RSS kept growing in the second half");
        ok = false;
    }
    std::process::exit(if ok { 0 } else { 1 });
}
