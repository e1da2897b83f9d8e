//! The side-by-side harness: starts each echo server in turn (pinned to one
//! core), drives it from this process (pinned to the other) with one lean
//! load generator that is the same for every server, and prints medians and
//! ratios.
//!
//! ```text
//! benches/compare/run              # the full matrix, 3 repeats
//! benches/compare/run --quick      # 1 repeat, 2 s per run
//! ```
//!
//! The load generator sends pre-built masked frames and counts the bytes
//! of the answers (for the TCP echo server, the same frames come back; for
//! WebSocket servers, unmasked frames): every server does the same byte
//! exchange the WebSocket way, and the client costs the same for all.
//! Server CPU comes from `/proc/<pid>/stat` (user and system time) over the
//! measured window, and idle memory from the server's RSS.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod load;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `wsbolt-serve` is the `wsbolt serve` binary (echo at /echo, run with
/// `--no-deflate --ping-interval 0` and limits raised for one client
/// address); `uws` is an external uWebSockets echo server given with
/// `--uws PATH` (run as `PATH PORT`; never built or fetched by this
/// repository); the others are `compare-server` kinds.
// `wsbolt-serve` runs /echo on its serving engine (the default);
// `wsbolt-serve-tasks` is the same build with `--engine-threads 0`, /echo on
// tokio tasks: the engine's gain side by side.
const SERVERS: [&str; 7] = [
    "tcp",
    "wsbolt",
    "wsbolt-serve",
    "wsbolt-serve-tasks",
    "fastwebsockets",
    "tungstenite",
    "uws",
];

/// The uWebSockets binary, from `--uws PATH` or `WSBOLT_COMPARE_UWS`.
fn uws_binary() -> Option<std::path::PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    let flag = args
        .iter()
        .position(|a| a == "--uws")
        .and_then(|i| args.get(i + 1))
        .cloned();
    flag.or_else(|| std::env::var("WSBOLT_COMPARE_UWS").ok())
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
}
const PORT: u16 = 9990;

/// One row of the matrix.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    conns: usize,
    size: usize,
    inflight: usize,
}

const CASES: [Case; 8] = [
    Case {
        name: "100 x 20 B",
        conns: 100,
        size: 20,
        inflight: 1,
    },
    Case {
        name: "500 x 512 B",
        conns: 500,
        size: 512,
        inflight: 1,
    },
    Case {
        name: "100 x 1 KiB",
        conns: 100,
        size: 1024,
        inflight: 1,
    },
    Case {
        name: "200 x 16 KiB",
        conns: 200,
        size: 16 * 1024,
        inflight: 1,
    },
    Case {
        name: "50 x 64 KiB",
        conns: 50,
        size: 64 * 1024,
        inflight: 1,
    },
    Case {
        name: "1 x 20 B",
        conns: 1,
        size: 20,
        inflight: 1,
    },
    Case {
        name: "pipelined 10 x 16 x 20 B",
        conns: 10,
        size: 20,
        inflight: 16,
    },
    Case {
        name: "1 x 16 MiB",
        conns: 1,
        size: 16 << 20,
        inflight: 1,
    },
];

struct Server {
    child: Child,
}

impl Server {
    fn start(kind: &str, core: Option<usize>) -> Server {
        let listen = format!("127.0.0.1:{PORT}");
        let (exe, args): (std::path::PathBuf, Vec<String>) = if kind.starts_with("wsbolt-serve") {
            // The workspace's release build of the CLI (`run` builds it),
            // or another build named by WSBOLT_COMPARE_SERVE (a before/after).
            let exe = std::env::var_os("WSBOLT_COMPARE_SERVE").map_or_else(
                || {
                    std::env::current_exe()
                        .unwrap()
                        .ancestors()
                        .nth(5)
                        .expect("benches/compare/target/release/x")
                        .join("target/release/wsbolt")
                },
                std::path::PathBuf::from,
            );
            let mut args = vec![
                "serve",
                "--listen",
                &listen,
                "--ping-interval",
                "0",
                "--max-connections",
                "1000000",
                "--max-connections-per-ip",
                "1000000",
                "--log",
                "warn",
            ];
            // `wsbolt-serve+deflate`: serve's deflate defaults;
            // `wsbolt-serve+deflate-nct`: no context takeover (shared codecs).
            match kind {
                "wsbolt-serve" => args.push("--no-deflate"),
                "wsbolt-serve-tasks" => args.extend(["--no-deflate", "--engine-threads", "0"]),
                "wsbolt-serve+deflate" => {}
                "wsbolt-serve+deflate-nct" => args.push("--deflate-no-context-takeover"),
                other => panic!("unknown server {other}"),
            }
            (exe, args.iter().map(|a| a.to_string()).collect())
        } else if kind == "uws" {
            (uws_binary().expect("--uws PATH"), vec![PORT.to_string()])
        } else {
            let exe = std::env::current_exe().unwrap().with_file_name("compare-server");
            (exe, vec![kind.to_string(), listen])
        };
        let mut cmd = match core {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", &c.to_string()]).arg(&exe);
                cmd
            }
            None => Command::new(&exe),
        };
        let child = cmd
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", exe.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err() {
            assert!(Instant::now() < deadline, "{kind} server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Server { child }
    }

    /// User and system CPU time used so far, in seconds.
    fn cpu(&self) -> (f64, f64) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        let tick = 100.0; // USER_HZ on Linux
        (
            f[11].parse::<f64>().unwrap() / tick,
            f[12].parse::<f64>().unwrap() / tick,
        )
    }

    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap()
            * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Let the port and the kernel settle before the next server.
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn masked_frame(size: usize) -> Vec<u8> {
    let mut f = vec![0x82];
    match size {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    f.extend_from_slice(&mask);
    f.extend((0..size).map(|i| (b'a' + (i % 26) as u8) ^ mask[i % 4]));
    f
}

fn server_frame_len(size: usize) -> usize {
    size + match size {
        n if n < 126 => 2,
        n if n < 65536 => 4,
        _ => 10,
    }
}

async fn upgrade(addr: &str) -> std::io::Result<TcpStream> {
    upgrade_with(addr, "").await
}

/// The upgrade with `extra` header lines (each ending in CRLF).
async fn upgrade_with(addr: &str, extra: &str) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let request = format!(
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    s.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(b[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(std::io::Error::other(String::from_utf8_lossy(&head).into_owned()));
    }
    if !extra.is_empty()
        && !String::from_utf8_lossy(&head)
            .to_ascii_lowercase()
            .contains("permessage-deflate")
    {
        return Err(std::io::Error::other("the server declined permessage-deflate"));
    }
    Ok(s)
}

/// A connection that negotiated permessage-deflate (context takeover as the
/// server chooses) and has echoed one compressed 300-byte text message, so
/// the server has made its compressor and decompressor.
async fn deflate_connection(addr: &str) -> std::io::Result<TcpStream> {
    let mut s = upgrade_with(
        addr,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    )
    .await?;
    let text: Vec<u8> = (0..300).map(|i| b"chat message text "[i % 18]).collect();
    let mut c = wsbolt::proto::deflate::Compressor::new(1, 15, 8, true);
    let mut payload = Vec::new();
    assert!(c.compress(&text, true, &mut payload));
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0xc1, 0x80 | 126];
    frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    if payload.len() < 126 {
        frame.truncate(1);
        frame.push(0x80 | payload.len() as u8);
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).await?;
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    if head[0] != 0xc1 {
        return Err(std::io::Error::other(format!(
            "expected a compressed text frame, got {:#x}",
            head[0]
        )));
    }
    let len = match head[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await?;
            u16::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    Ok(s)
}

struct Echo {
    msgs_per_s: f64,
    bytes_per_s: f64,
    user_us_per_msg: f64,
    sys_us_per_msg: f64,
    /// The server's system calls per message (`None` without `perf`).
    syscalls_per_msg: Option<f64>,
    /// The load generator's CPU use over the window (1.0 = its whole core):
    /// near 1.0, the client may have set the pace (its system time per
    /// message is the server's: see docs/performance.md).
    client_cpu: f64,
    /// The load generator's own user and system CPU per message.
    client_us_per_msg: (f64, f64),
}

/// This process's user and system CPU seconds so far.
fn own_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    (
        f[11].parse::<f64>().unwrap() / 100.0,
        f[12].parse::<f64>().unwrap() / 100.0,
    )
}

fn echo_run(kind: &str, case: Case, warmup: Duration, window: Duration, core: Option<usize>) -> Echo {
    let server = Server::start(kind, core);
    let frame = masked_frame(case.size);
    let answer_len = if kind == "tcp" {
        frame.len()
    } else {
        server_frame_len(case.size)
    };
    let open = || {
        let s = std::net::TcpStream::connect(("127.0.0.1", PORT))?;
        s.set_nodelay(true)?;
        if kind != "tcp" {
            upgrade_blocking(&s)?;
        }
        Ok(s)
    };
    // Sampled at both edges of the window: the server's CPU, this process's,
    // and the server's system calls (counted by `perf` over the window).
    let mut edges = Vec::new();
    let mut syscalls = None;
    let plan = load::Plan {
        conns: case.conns,
        frame: &frame,
        answer_len,
        inflight: case.inflight,
        warmup,
        window,
    };
    let counts = load::run(&plan, open, || {
        if edges.is_empty() {
            syscalls = syscall_counter(server.child.id(), window);
        }
        edges.push((server.cpu(), own_cpu()));
    })
    .unwrap_or_else(|e| panic!("{kind}, {}: {e}", case.name));
    let syscalls = syscalls.and_then(SyscallCounter::finish);
    drop(server);
    let ((c0, o0), (c1, o1)) = (edges[0], edges[1]);
    let msgs = counts.answers as f64 / counts.elapsed.as_secs_f64();
    let per_msg = |cpu_s: f64| cpu_s / (counts.answers.max(1) as f64) * 1e6;
    Echo {
        msgs_per_s: msgs,
        bytes_per_s: msgs * case.size as f64,
        user_us_per_msg: per_msg(c1.0 - c0.0),
        sys_us_per_msg: per_msg(c1.1 - c0.1),
        // perf counts over its own `sleep` of one window: a rate, per message.
        syscalls_per_msg: syscalls.map(|n| n as f64 / window.as_secs_f64() / msgs.max(1.0)),
        client_cpu: (o1.0 - o0.0 + o1.1 - o0.1) / counts.elapsed.as_secs_f64(),
        client_us_per_msg: (per_msg(o1.0 - o0.0), per_msg(o1.1 - o0.1)),
    }
}

/// The WebSocket upgrade on a blocking socket, answer read byte by byte (so
/// nothing after it is consumed).
fn upgrade_blocking(mut s: &std::net::TcpStream) -> std::io::Result<()> {
    use std::io::{Read, Write};
    s.write_all(
        b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )?;
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(b[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(std::io::Error::other(String::from_utf8_lossy(&head).into_owned()));
    }
    Ok(())
}

/// `perf stat -e raw_syscalls:sys_enter -p PID` over one window: the
/// server's system calls, all threads. `None` where perf is missing or not
/// allowed (the column then shows "–").
struct SyscallCounter(Child);

fn syscall_counter(pid: u32, window: Duration) -> Option<SyscallCounter> {
    let child = Command::new("perf")
        .args([
            "stat",
            "-x",
            ",",
            "-e",
            "raw_syscalls:sys_enter",
            "-p",
            &pid.to_string(),
            "--",
            "sleep",
        ])
        .arg(format!("{:.3}", window.as_secs_f64()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    Some(SyscallCounter(child))
}

impl SyscallCounter {
    fn finish(self) -> Option<u64> {
        let out = self.0.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find(|l| l.contains("raw_syscalls:sys_enter"))
            .and_then(|l| l.split(',').next()?.trim().parse().ok())
    }
}

/// Handshakes per second with 4 concurrent connectors, and the server's CPU
/// (user + system) per completed handshake. Each connection upgrades, then
/// resets (no TIME_WAIT pile-up).
fn handshake_run(kind: &str, window: Duration, core: Option<usize>) -> (f64, f64, f64) {
    let server = Server::start(kind, core);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let addr = format!("127.0.0.1:{PORT}");
    let r = rt.block_on(async {
        for _ in 0..4 {
            let (done, stop, addr) = (done.clone(), stop.clone(), addr.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(s) = upgrade(&addr).await {
                        done.fetch_add(1, Ordering::Relaxed);
                        #[allow(deprecated)] // a reset on drop is the point: no TIME_WAIT
                        let _ = s.set_linger(Some(Duration::ZERO));
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (n0, c0, t0) = (done.load(Ordering::Relaxed), server.cpu(), Instant::now());
        tokio::time::sleep(window).await;
        let (n1, c1, t1) = (done.load(Ordering::Relaxed), server.cpu(), Instant::now());
        stop.store(true, Ordering::Relaxed);
        let n = (n1 - n0) as f64;
        let secs = (t1 - t0).as_secs_f64();
        (n / secs, (c1.0 - c0.0) / n * 1e6, (c1.1 - c0.1) / n * 1e6)
    });
    rt.shutdown_background();
    r
}

/// Server RSS growth per open idle connection, with `n` connections.
fn idle_run(kind: &str, n: usize, core: Option<usize>, deflate: bool) -> f64 {
    let server = Server::start(kind, core);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = format!("127.0.0.1:{PORT}");
    let per_conn = rt.block_on(async {
        // One connection first: whatever the server allocates once is not
        // per connection.
        let open_one = || async {
            if kind == "tcp" {
                TcpStream::connect(&addr).await.unwrap()
            } else if deflate {
                deflate_connection(&addr).await.unwrap()
            } else {
                upgrade(&addr).await.unwrap()
            }
        };
        let warm = open_one().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = server.rss_bytes();
        let mut open = Vec::with_capacity(n);
        for _ in 0..n {
            open.push(open_one().await);
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let after = server.rss_bytes();
        drop((warm, open));
        (after as f64 - before as f64) / n as f64
    });
    rt.shutdown_background();
    per_conn
}

/// One server in one case of the summary: the medians the echo table
/// printed for it (user µs and system calls per message, echo rate paired
/// with uWebSockets').
struct ServerFigures {
    kind: &'static str,
    user_us: f64,
    syscalls: Option<f64>,
    rate_to_uws: Option<f64>,
}

/// One case of the summary, with the load generator's median user and
/// system µs per message over every server's runs.
struct SummaryRow {
    case: &'static str,
    per_server: Vec<ServerFigures>,
    client_us: (f64, f64),
}

/// The issue's table: user CPU, system calls and echo rate per server, one
/// line a case, with the load generator's own CPU per message beside them.
fn print_summary(rows: &[SummaryRow], wanted: &dyn Fn(&str) -> bool) {
    let Some(first) = rows.first() else { return };
    let names: Vec<&str> = first.per_server.iter().map(|p| p.kind).collect();
    let joined = names.join(" / ");
    println!("\n## Summary (medians; echo rate paired with uWebSockets in each repeat)\n");
    println!("| case | server user µs/msg: {joined} | syscalls/msg: {joined} | echo rate vs uWS: {joined} | load generator µs/msg, user / sys |");
    println!("| --- | --- | --- | --- | --- |");
    let fmt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    for row in rows {
        let col = |f: &dyn Fn(&ServerFigures) -> String| row.per_server.iter().map(f).collect::<Vec<_>>().join(" / ");
        println!(
            "| {} | {} | {} | {} | {:.3} / {:.3} |",
            row.case,
            col(&|p| format!("{:.3}", p.user_us)),
            col(&|p| fmt(p.syscalls)),
            col(&|p| fmt(p.rate_to_uws)),
            row.client_us.0,
            row.client_us.1
        );
    }
    if !wanted("uws") {
        println!("\n(no uWebSockets: give --uws PATH for the rate column)");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| args.iter().position(|a| a == f).and_then(|i| args.get(i + 1)).cloned();
    let quick = has("--quick");
    let repeats: usize = value("--repeats")
        .map(|v| v.parse().unwrap())
        .unwrap_or(if quick { 1 } else { 3 });
    let window = Duration::from_secs_f64(value("--seconds").map(|v| v.parse().unwrap()).unwrap_or(if quick {
        2.0
    } else {
        4.0
    }));
    let warmup = Duration::from_millis(if quick { 500 } else { 1000 });
    // Pin the servers to core 0; `run` pins this process to core 1.
    let core = if has("--no-pin") { None } else { Some(0) };
    // `--table`: the four cases of the round-3 issue's table (100 x 20 B,
    // pipelined, 200 x 16 KiB, 1 x 20 B) for the TCP floor, uWebSockets, the
    // library and `wsbolt serve`, with the handshake and idle runs.
    let table = has("--table");
    let only: Option<Vec<String>> = value("--cases")
        .or(table.then(|| "0,6,3,5".to_string()))
        .map(|v| v.split(',').map(str::to_string).collect());
    let idle_n: usize = value("--idle-connections")
        .map(|v| v.parse().unwrap())
        .unwrap_or(10_000);
    // `--servers wsbolt,wsbolt-serve`: run only these (tcp is always run
    // for the echo ratios).
    let picked: Option<Vec<String>> = value("--servers")
        .or(table.then(|| "wsbolt,wsbolt-serve,wsbolt-serve-tasks,uws".to_string()))
        .map(|v| v.split(',').map(str::to_string).collect());
    let uws = uws_binary();
    match &uws {
        Some(p) if !p.is_file() => panic!("--uws {}: no such file", p.display()),
        Some(p) => println!("uWebSockets: {}\n", p.display()),
        None => println!("uWebSockets: skipped (no --uws PATH or WSBOLT_COMPARE_UWS)\n"),
    }
    let wanted = |kind: &str| {
        kind == "tcp" || (kind != "uws" || uws.is_some()) && picked.as_ref().is_none_or(|p| p.iter().any(|k| k == kind))
    };
    let uws_i = SERVERS.iter().position(|k| *k == "uws").filter(|_| wanted("uws"));
    let mut json = serde_json::Map::new();
    let mut summary = Vec::new();

    println!("## Echo (median of {repeats}; {window:?} windows; server pinned to core 0, client to core 1)\n");
    // Two ratios: of the medians, and the median of each repeat's ratio (the
    // servers of one repeat run back to back, so drift between repeats,
    // which is large on a shared VM, cancels out of the paired ratio).
    println!("| case | server | msgs/s | MB/s | ratio to TCP | paired ratio to TCP | paired ratio to uWS | server user µs/msg | server sys µs/msg | server syscalls/msg | uWS's server CPU/msg ÷ this one's | client CPU | client user / sys µs/msg |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (ci, case) in CASES.iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&ci.to_string())) {
            continue;
        }
        let mut runs: Vec<Vec<Echo>> = SERVERS.iter().map(|_| Vec::new()).collect();
        for _ in 0..repeats {
            // Interleave the servers, so drift hits them alike.
            for (si, kind) in SERVERS.iter().enumerate() {
                if wanted(kind) {
                    runs[si].push(echo_run(kind, *case, warmup, window, core));
                }
            }
        }
        let med = |si: usize, f: fn(&Echo) -> f64| median(runs[si].iter().map(f).collect());
        let tcp = med(0, |e| e.msgs_per_s);
        let mut row = serde_json::Map::new();
        let mut per_server = Vec::new();
        let mut client: Vec<(f64, f64)> = Vec::new();
        for (si, kind) in SERVERS.iter().enumerate() {
            if !wanted(kind) {
                continue;
            }
            let m = med(si, |e| e.msgs_per_s);
            let paired = median(
                runs[si]
                    .iter()
                    .zip(&runs[0])
                    .map(|(e, t)| e.msgs_per_s / t.msgs_per_s)
                    .collect(),
            );
            let to_uws = uws_i.map(|ui| {
                median(
                    runs[si]
                        .iter()
                        .zip(&runs[ui])
                        .map(|(e, t)| e.msgs_per_s / t.msgs_per_s)
                        .collect(),
                )
            });
            let (u, s) = (med(si, |e| e.user_us_per_msg), med(si, |e| e.sys_us_per_msg));
            // Server CPU per message (user + system), paired with uWS's in
            // the same repeat: the efficiency ratio, whoever set the pace.
            let cpu = |e: &Echo| e.user_us_per_msg + e.sys_us_per_msg;
            let sys_calls = runs[si]
                .iter()
                .map(|e| e.syscalls_per_msg)
                .collect::<Option<Vec<f64>>>()
                .map(median);
            let cpu_to_uws =
                uws_i.map(|ui| median(runs[si].iter().zip(&runs[ui]).map(|(e, t)| cpu(t) / cpu(e)).collect()));
            println!(
                "| {} | {kind} | {} | {:.1} | {:.3} | {paired:.3} | {} | {u:.3} | {s:.3} | {} | {} | {:.0}% | {:.3} / {:.3} |",
                case.name,
                fmt_rate(m),
                med(si, |e| e.bytes_per_s) / 1e6,
                m / tcp,
                to_uws.map_or("–".to_string(), |r| format!("{r:.3}")),
                sys_calls.map_or("–".to_string(), |r| format!("{r:.3}")),
                cpu_to_uws.map_or("–".to_string(), |r| format!("{r:.3}")),
                med(si, |e| e.client_cpu) * 100.0,
                med(si, |e| e.client_us_per_msg.0),
                med(si, |e| e.client_us_per_msg.1),
            );
            row.insert(
                kind.to_string(),
                serde_json::json!({"msgs_per_s": m, "ratio_to_tcp": m / tcp, "paired_ratio_to_tcp": paired,
                                   "paired_ratio_to_uws": to_uws, "uws_cpu_ratio": cpu_to_uws, "client_cpu": med(si, |e| e.client_cpu),
                                   "user_us_per_msg": u, "sys_us_per_msg": s, "syscalls_per_msg": sys_calls,
                                   "client_user_us_per_msg": med(si, |e| e.client_us_per_msg.0),
                                   "client_sys_us_per_msg": med(si, |e| e.client_us_per_msg.1),
                                   "all_msgs_per_s": runs[si].iter().map(|e| e.msgs_per_s).collect::<Vec<_>>()}),
            );
            per_server.push(ServerFigures {
                kind,
                user_us: u,
                syscalls: sys_calls,
                rate_to_uws: to_uws,
            });
            client.extend(runs[si].iter().map(|e| e.client_us_per_msg));
        }
        summary.push(SummaryRow {
            case: case.name,
            per_server,
            client_us: (
                median(client.iter().map(|c| c.0).collect()),
                median(client.iter().map(|c| c.1).collect()),
            ),
        });
        json.insert(case.name.to_string(), serde_json::Value::Object(row));
    }
    print_summary(&summary, &wanted);

    if !has("--no-handshakes") {
        println!("\n## Handshakes (4 concurrent connectors, median of {repeats})\n");
        println!("| server | handshakes/s | server user µs/handshake | server sys µs/handshake |");
        println!("| --- | --- | --- | --- |");
        for kind in SERVERS[1..].iter().filter(|k| wanted(k)) {
            let runs: Vec<(f64, f64, f64)> = (0..repeats).map(|_| handshake_run(kind, window, core)).collect();
            let (r, u, s) = (
                median(runs.iter().map(|r| r.0).collect()),
                median(runs.iter().map(|r| r.1).collect()),
                median(runs.iter().map(|r| r.2).collect()),
            );
            println!("| {kind} | {} | {u:.1} | {s:.1} |", fmt_rate(r));
            json.insert(
                format!("handshake {kind}"),
                serde_json::json!({"per_s": r, "user_us": u, "sys_us": s}),
            );
        }
    }

    if !has("--no-idle") {
        println!("\n## Idle memory ({idle_n} open connections; server RSS growth per connection)\n");
        println!("| server | bytes per idle connection |");
        println!("| --- | --- |");
        for kind in SERVERS.into_iter().filter(|k| wanted(k)) {
            let b = idle_run(kind, idle_n, core, false);
            println!("| {kind} | {b:.0} |");
            json.insert(format!("idle {kind}"), serde_json::json!({"bytes_per_conn": b}));
        }
    }
    if has("--idle-deflate") {
        // Each connection negotiated permessage-deflate and echoed one
        // compressed message, so the server holds whatever codec memory a
        // connection keeps between messages.
        println!("\n## Idle memory with permessage-deflate ({idle_n} connections, one compressed message each)\n");
        println!("| server | bytes per idle connection |");
        println!("| --- | --- |");
        for kind in ["wsbolt-serve+deflate", "wsbolt-serve+deflate-nct"] {
            let b = idle_run(kind, idle_n, core, true);
            println!("| {kind} | {b:.0} |");
            json.insert(format!("idle {kind}"), serde_json::json!({"bytes_per_conn": b}));
        }
    }
    if let Some(path) = value("--json") {
        std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    }
}
