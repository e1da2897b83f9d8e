//! A real `redis-server` and `wsbolt serve` nodes as separate processes (so
//! that they can be killed, paused and restarted), and WebSocket clients of
//! them, for the cluster tests. Every process is started on a free loopback
//! port and killed when its handle drops.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use wsbolt::{ClientConfig, MaybeTlsStream, Message, WebSocketStream};

/// A free loopback port (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts on `port`.
pub async fn wait_listening(port: u16, within: Duration) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            start.elapsed() < within,
            "nothing listens on port {port} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// A `redis-server` with persistence off, on a port of its own.
pub struct Redis {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Redis {
    pub async fn start(extra: &[&str]) -> Redis {
        let mut r = Redis {
            port: free_port(),
            args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        r.up().await;
        r
    }

    /// A handle for a port where Redis is not running yet.
    pub fn not_started() -> Redis {
        Redis {
            port: free_port(),
            args: Vec::new(),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port.
    pub async fn up(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(&self.args)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (Debian package redis-server; tests/cluster/run installs it)");
        self.child = Some(child);
        wait_listening(self.port, Duration::from_secs(10)).await;
    }

    /// Kills it (everything in it is lost: persistence is off).
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.unwrap();
    }

    pub fn pause(&self) {
        signal(self.child.as_ref().unwrap().id().unwrap(), "STOP");
    }

    pub fn resume(&self) {
        signal(self.child.as_ref().unwrap().id().unwrap(), "CONT");
    }

    /// Runs `redis-cli ARGS` against it; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.start_kill();
        }
    }
}

/// A `wsbolt serve --redis` process.
pub struct Node {
    pub port: u16,
    pub child: Child,
    log: std::path::PathBuf,
}

impl Node {
    pub async fn start(redis: &str, extra: &[&str]) -> Node {
        Node::start_with_env(redis, extra, &[]).await
    }

    pub async fn start_with_env(redis: &str, extra: &[&str], env: &[(&str, &str)]) -> Node {
        let node = Node::spawn_with_env(redis, extra, env);
        wait_listening(node.port, Duration::from_secs(20)).await;
        node
    }

    /// Starts the process without waiting for it to listen.
    pub fn spawn(redis: &str, extra: &[&str]) -> Node {
        Node::spawn_with_env(redis, extra, &[])
    }

    pub fn spawn_with_env(redis: &str, extra: &[&str], env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("wsbolt-cluster-{}-{port}.log", std::process::id()));
        let file = std::fs::File::create(&log).unwrap();
        let child = super::wsbolt(env)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--redis", redis])
            .args(["--ping-interval", "0", "--shutdown-grace", "2"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Node { port, child, log }
    }

    pub fn ws(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    pub fn pause(&self) {
        signal(self.child.id().unwrap(), "STOP");
    }

    pub fn resume(&self) {
        signal(self.child.id().unwrap(), "CONT");
    }

    /// SIGTERM: graceful shutdown starts.
    pub fn terminate(&self) {
        signal(self.child.id().unwrap(), "TERM");
    }

    /// SIGTERM, then waits for the exit.
    pub async fn stop(&mut self) {
        self.terminate();
        self.wait_exit().await;
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self) {
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("graceful shutdown in time")
            .unwrap();
    }

    /// One value of `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    }

    /// Waits until metric `name` satisfies `ok`.
    pub async fn wait_metric(&self, name: &str, within: Duration, ok: impl Fn(f64) -> bool) -> f64 {
        let start = Instant::now();
        loop {
            let v = self.metric(name).await;
            if ok(v) {
                return v;
            }
            assert!(
                start.elapsed() < within,
                "{name} = {v} after {within:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A WebSocket client of a node.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        Client::connect_as(url, "json").await
    }

    /// Connects offering subprotocol `protocol`.
    pub async fn connect_as(url: &str, protocol: &str) -> Client {
        let config = ClientConfig::default()
            .protocols(vec![protocol.into()])
            .proxy(wsbolt::proxy::ProxySetting::Direct);
        let (ws, _) = wsbolt::connect_with_config(url, &config).await.unwrap();
        Client { ws }
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next text message, if one comes within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<String> {
        loop {
            match tokio::time::timeout(within, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return Some(t.as_str().to_string()),
                Ok(Some(Ok(_))) => continue,
                Ok(other) => panic!("connection ended: {other:?}"),
                Err(_) => return None,
            }
        }
    }

    /// The next text message (within 10 s).
    pub async fn next(&mut self) -> String {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a message within 10 s")
    }

    /// Reads JSON messages until one satisfies `ok`, within `within`; gives it.
    pub async fn until_json(&mut self, within: Duration, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let text = self
                .next_within(left)
                .await
                .unwrap_or_else(|| panic!("no matching message within {within:?}"));
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if ok(&v) {
                return v;
            }
        }
    }

    /// Joins the chat as `name`; gives the name the cluster gave. Reads
    /// until the chat is quiet for a moment: a user list from another node
    /// may come before this member's `rejectusername`.
    pub async fn chat_as(url: &str, name: &str) -> (Client, String) {
        let mut c = Client::connect(url).await;
        let id = c.next().await;
        assert!(id.contains("\"id\""), "{id}");
        c.send(&serde_json::json!({"type": "username", "name": name}).to_string())
            .await;
        let mut got = name.to_string();
        let mut listed = false;
        loop {
            let quiet = if listed { 700 } else { 5_000 };
            let Some(text) = c.next_within(Duration::from_millis(quiet)).await else {
                break;
            };
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "rejectusername" {
                got = v["name"].as_str().unwrap().to_string();
            }
            listed |= v["type"] == "userlist";
        }
        assert!(listed, "no user list after taking a name");
        (c, got)
    }
}

/// Whether a user-list message lists exactly `users` (in any order).
pub fn lists(v: &serde_json::Value, users: &[&str]) -> bool {
    if v["type"] != "userlist" {
        return false;
    }
    let mut got: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    got.sort_unstable();
    let mut want = users.to_vec();
    want.sort_unstable();
    got == want
}

/// A TCP relay in front of Redis for one node, that can cut that node off
/// (every relayed connection closed, new ones closed at once), blackhole it
/// (nothing moves either way, connections stay open, as behind a network
/// partition) and heal.
pub struct Relay {
    pub port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stalled: tokio::sync::watch::Sender<bool>,
    /// Bumped by `cut`: relayed connections of an older epoch end.
    epoch: tokio::sync::watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(redis_port: u16) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (epoch, _) = tokio::sync::watch::channel(0u64);
        let (stalled, _) = tokio::sync::watch::channel(false);
        let (is_cut, epochs, stalls) = (cut.clone(), epoch.clone(), stalled.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_cut.load(Ordering::Acquire) {
                    continue; // dropped: closed at once
                }
                let mut ended = epochs.subscribe();
                let (up, down) = (stalls.subscribe(), stalls.subscribe());
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", redis_port)).await else {
                        return;
                    };
                    let (from_node, to_node) = inbound.split();
                    let (from_redis, to_redis) = outbound.into_split();
                    tokio::select! {
                        _ = pump(from_node, to_redis, up) => {}
                        _ = pump(from_redis, to_node, down) => {}
                        _ = ended.changed() => {}
                    }
                });
            }
        });
        Relay {
            port,
            cut,
            stalled,
            epoch,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Closes every connection through the relay and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::Release);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Stops every byte both ways, connections kept open.
    pub fn blackhole(&self) {
        self.stalled.send_replace(true);
    }

    /// Ends a cut or a blackhole.
    pub fn heal(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::Release);
        self.stalled.send_replace(false);
    }
}

/// Copies `from` to `to`, holding every byte while `stalled` is true.
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        let n = tokio::select! {
            n = from.read(&mut buf) => match n {
                Ok(n) if n > 0 => n,
                _ => return,
            },
            _ = stalled.wait_for(|s| *s) => continue,
        };
        // Read just before a blackhole: held until it ends.
        if stalled.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
