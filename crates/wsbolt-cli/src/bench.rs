//! `wsbolt bench URL`: a load generator for any WebSocket echo server.
//!
//! Echo mode (default): N connections, each keeping K messages in flight
//! (closed loop: a message is sent when an echo comes back), for a set
//! duration; reports messages/s, bytes/s and round-trip latency percentiles
//! (HDR histogram). Handshake mode (`--handshakes`): N loops that connect,
//! complete the handshake and close, as fast as they can.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use wsbolt::{ClientConfig, Message};

use crate::proxy_flags::ProxyFlags;
use crate::tls_flags::TlsFlags;

/// Arguments of `wsbolt bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The echo server's URL, e.g. ws://127.0.0.1:9998/echo.
    url: String,
    /// Concurrent connections.
    #[arg(short = 'c', long, default_value_t = 10)]
    connections: usize,
    /// Message size in bytes.
    #[arg(short = 's', long, default_value_t = 20)]
    size: usize,
    /// Messages in flight per connection.
    #[arg(short = 'k', long, default_value_t = 1)]
    in_flight: usize,
    /// Seconds to run (after all connections are open).
    #[arg(short = 'd', long, default_value_t = 10.0)]
    duration: f64,
    /// Send binary messages instead of text.
    #[arg(long)]
    binary: bool,
    /// Offer permessage-deflate.
    #[arg(long)]
    deflate: bool,
    /// For wss://, WebSockets over HTTP/2 when the server supports RFC 8441
    /// (all connections then share one TCP connection).
    #[arg(long)]
    http2: bool,
    #[command(flatten)]
    tls: TlsFlags,
    /// Measure handshakes per second instead of echoes.
    #[arg(long)]
    handshakes: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
    /// Also write a self-contained HTML page (no network needed to view it)
    /// with throughput over time and the latency distribution as charts.
    #[arg(long, value_name = "FILE.html")]
    report: Option<std::path::PathBuf>,
    #[command(flatten)]
    proxy: ProxyFlags,
}

impl BenchArgs {
    /// What is counted: "messages" (echo mode) or "handshakes".
    fn unit(&self) -> &'static str {
        if self.handshakes {
            "handshakes"
        } else {
            "messages"
        }
    }
}

#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

pub fn run(args: BenchArgs) -> ExitCode {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = args.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.enable_all().build().expect("tokio runtime");
    match rt.block_on(bench(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsbolt bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn histogram() -> Histogram<u64> {
    // Nanoseconds from 1 µs to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("valid bounds")
}

async fn bench(args: BenchArgs) -> Result<(), String> {
    let mut config = ClientConfig::default();
    config.ws.protocol.max_message_size = args.size.max(16 << 20);
    config.ws.protocol.max_frame_size = args.size.max(16 << 20);
    if args.deflate {
        config.ws.deflate = Some(wsbolt::DeflateConfig::default());
    }
    config.http2 = args.http2;
    args.tls.apply(&mut config)?;
    args.proxy.apply(&mut config).map_err(|e| e.to_string())?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let duration = Duration::from_secs_f64(args.duration.max(0.1));

    // Open every connection first, so the measured window is steady state.
    let mut conns = Vec::new();
    if !args.handshakes {
        for _ in 0..args.connections {
            let (ws, _) = wsbolt::connect_with_config(&args.url, &config)
                .await
                .map_err(|e| format!("{}: {e}", args.url))?;
            conns.push(ws);
        }
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    if args.handshakes {
        for _ in 0..args.connections {
            let (url, config, counters, stop) = (args.url.clone(), config.clone(), counters.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut hist = histogram();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match wsbolt::connect_with_config(&url, &config).await {
                        Ok((mut ws, _)) => {
                            hist.saturating_record(t.elapsed().as_nanos() as u64);
                            counters.messages.fetch_add(1, Ordering::Relaxed);
                            let _ = ws.close(None).await;
                        }
                        Err(_) => {
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                hist
            }));
        }
    } else {
        let payload = vec![b'x'; args.size];
        for mut ws in conns {
            let (counters, stop, binary, k) = (counters.clone(), stop.clone(), args.binary, args.in_flight.max(1));
            let msg = if binary {
                Message::binary(payload.clone())
            } else {
                Message::text(String::from_utf8(payload.clone()).expect("ASCII"))
            };
            tasks.push(tokio::spawn(async move {
                let mut hist = histogram();
                let mut sent: VecDeque<Instant> = VecDeque::with_capacity(k);
                for _ in 0..k {
                    sent.push_back(Instant::now());
                    if ws.feed(msg.clone()).await.is_err() {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        return hist;
                    }
                }
                if ws.flush().await.is_err() {
                    return hist;
                }
                'run: while let Some(Ok(first)) = ws.next().await {
                    // This echo and every other one the same read brought in.
                    let mut next = Some(first);
                    while let Some(m) = next.take() {
                        if matches!(m, Message::Text(_) | Message::Binary(_)) {
                            if let Some(t) = sent.pop_front() {
                                hist.saturating_record(t.elapsed().as_nanos() as u64);
                            }
                            counters.messages.fetch_add(1, Ordering::Relaxed);
                            counters.bytes.fetch_add(m.len() as u64, Ordering::Relaxed);
                            // Closed loop: one echo back, one message out.
                            if !stop.load(Ordering::Relaxed) {
                                sent.push_back(Instant::now());
                                if ws.queue(msg.clone()).is_err() {
                                    break 'run;
                                }
                            }
                        }
                        next = ws.try_next_buffered().and_then(Result::ok);
                    }
                    if stop.load(Ordering::Relaxed) && sent.is_empty() {
                        break;
                    }
                    // Everything queued for this read leaves in one write.
                    if ws.flush().await.is_err() {
                        break;
                    }
                }
                let _ = ws.close(None).await;
                hist
            }));
        }
    }

    // Throughput sampled four times a second (kept for --report), progress
    // once a second, then stop.
    let tick = Duration::from_millis(250);
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let (mut last, mut last_t) = (0u64, 0.0f64);
    let (mut shown, mut shown_t) = (0u64, 0.0f64);
    while start.elapsed() < duration {
        tokio::time::sleep(tick.min(duration.saturating_sub(start.elapsed()))).await;
        let now = counters.messages.load(Ordering::Relaxed);
        let t = start.elapsed().as_secs_f64();
        if t > last_t {
            samples.push((t, (now - last) as f64 / (t - last_t)));
        }
        (last, last_t) = (now, t);
        if !args.quiet && t - shown_t >= 0.999 {
            let what = args.unit();
            eprint!("\r{t:>6.1} s  {:>10.0} {what}/s ", (now - shown) as f64 / (t - shown_t));
            (shown, shown_t) = (now, t);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total = counters.messages.load(Ordering::Relaxed);
    let bytes = counters.bytes.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    if !args.quiet {
        eprintln!();
    }
    let mut hist = histogram();
    for t in tasks {
        if let Ok(Ok(h)) = tokio::time::timeout(Duration::from_secs(15), t).await {
            let _ = hist.add(&h);
        }
    }
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let rate = total as f64 / elapsed;
    let result = serde_json::json!({
        "mode": if args.handshakes { "handshakes" } else { "echo" },
        "url": args.url,
        "connections": args.connections,
        "size": args.size,
        "in_flight": args.in_flight,
        "seconds": elapsed,
        "count": total,
        "per_second": rate,
        "bytes_per_second": bytes as f64 / elapsed,
        "errors": counters.errors.load(Ordering::Relaxed),
        "latency_us": {"p50": us(0.5), "p99": us(0.99), "p99.9": us(0.999), "max": hist.max() as f64 / 1000.0},
    });
    if args.json {
        println!("{result}");
    } else {
        let what = args.unit();
        println!(
            "{total} {what} in {elapsed:.2} s: {rate:.0} {what}/s, {:.1} MB/s",
            bytes as f64 / elapsed / 1e6
        );
        println!(
            "latency: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
            us(0.5),
            us(0.99),
            us(0.999),
            hist.max() as f64 / 1000.0
        );
        if counters.errors.load(Ordering::Relaxed) > 0 {
            println!("errors: {}", counters.errors.load(Ordering::Relaxed));
        }
    }
    if let Some(path) = &args.report {
        let page = report_page(&args, &result, samples, &hist);
        std::fs::write(path, page).map_err(|e| format!("--report {}: {e}", path.display()))?;
    }
    if total == 0 {
        return Err("no message completed".into());
    }
    Ok(())
}

/// The `--report` page for a finished run.
fn report_page(
    args: &BenchArgs,
    result: &serde_json::Value,
    throughput: Vec<(f64, f64)>,
    hist: &Histogram<u64>,
) -> String {
    let unit = args.unit();
    let num = |k: &str| result[k].as_f64().unwrap_or(0.0);
    let lat = |k: &str| format!("{:.1} µs", result["latency_us"][k].as_f64().unwrap_or(0.0));
    let mut settings = vec![
        ("mode", if args.handshakes { "handshakes" } else { "echo" }.to_string()),
        ("connections", args.connections.to_string()),
    ];
    if !args.handshakes {
        settings.push((
            "message size",
            format!("{} B ({})", args.size, if args.binary { "binary" } else { "text" }),
        ));
        settings.push(("in flight per connection", args.in_flight.max(1).to_string()));
    }
    settings.push((
        "permessage-deflate",
        if args.deflate { "offered" } else { "off" }.to_string(),
    ));
    settings.push(("seconds", format!("{:.2}", num("seconds"))));
    let mut results = vec![
        ("completed", format!("{} {unit}", num("count"))),
        ("rate", format!("{:.0} {unit}/s", num("per_second"))),
    ];
    if !args.handshakes {
        results.push(("bytes echoed", format!("{:.2} MB/s", num("bytes_per_second") / 1e6)));
    }
    results.extend([
        ("latency p50", lat("p50")),
        ("latency p99", lat("p99")),
        ("latency p99.9", lat("p99.9")),
        ("latency max", lat("max")),
        ("errors", num("errors").to_string()),
    ]);
    let latency = crate::report::latency_quantiles()
        .map(|q| (q, hist.value_at_quantile(q) as f64 / 1000.0))
        .collect();
    crate::report::render(&crate::report::Report {
        unit,
        url: &args.url,
        settings,
        results,
        throughput,
        latency,
    })
}
