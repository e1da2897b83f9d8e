//! The library's examples (`crates/wsbolt/examples`), run as a user runs
//! them: each against a real server, checked by what it prints and how it
//! exits. They live here, at the top layer, because the chat example talks
//! to `wsbolt serve`.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The path of an example's binary, built once per test run (cargo builds
/// them for `cargo test --workspace`; this makes `cargo test -p wsbolt-cli`
/// work too, and cheap when they are fresh).
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            // The whole workspace, so that the features match what
            // `cargo test --workspace` built (nothing is rebuilt then).
            .args(["build", "--quiet", "--workspace", "--examples"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the examples build");
        // target/debug/deps/examples-HASH → target/debug/examples
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("examples")
    });
    dir.join(name)
}

/// Starts an example with `args`; its stdout as lines.
fn start(name: &str, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut cmd = Command::new(example(name));
    // Loopback only: no proxy from the developer's environment.
    for k in wsbolt::proxy::VARIABLES {
        cmd.env_remove(k).env_remove(k.to_ascii_uppercase());
    }
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads lines until one starts with `prefix`; returns it.
async fn wait_for(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> String {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with(prefix) {
                return Some(line);
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| panic!("no line starting with {prefix:?} within 20 s"));
    found.unwrap_or_else(|| panic!("the output ended before {prefix:?}"))
}

/// Runs an example to its end; its exit success and stdout.
async fn run(name: &str, args: &[&str]) -> (bool, String) {
    let (mut child, mut lines) = start(name, args);
    let mut out = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            out.push_str(&line);
            out.push('\n');
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap_or_else(|_| panic!("{name} did not end within 20 s"));
    let status = child.wait().await.unwrap();
    (status.success(), out)
}

/// The echo server example on a free port; its URL.
async fn echo_server() -> (Child, String) {
    let (child, mut lines) = start("server", &["127.0.0.1:0"]);
    let line = wait_for(&mut lines, "listening on ").await;
    (child, line.trim_start_matches("listening on ").to_string())
}

#[tokio::test]
async fn the_client_example_talks_to_the_server_example() {
    let (_server, url) = echo_server().await;
    let (ok, out) = run("client", &[&url, "hello", "wörld"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("< hello\n< wörld\n"), "{out}");
    assert!(out.ends_with("closed: 1000 \"bye\" clean=true\n"), "{out}");
}

#[tokio::test]
async fn the_split_example_writes_from_a_task_and_reunites() {
    let (_server, url) = echo_server().await;
    let (ok, out) = run("split", &[&url, "7"]).await;
    assert!(ok, "{out}");
    for i in 1..=7 {
        assert!(out.contains(&format!("< message {i}\n")), "{out}");
    }
    assert!(out.ends_with("received 7 of 7\n"), "{out}");
}

#[tokio::test]
async fn the_reconnect_example_comes_back_when_the_server_does() {
    let (mut server, url) = echo_server().await;
    let addr = url.trim_start_matches("ws://").to_string();
    let (mut client, mut lines) = start("reconnect", &[&url, "2"]);
    wait_for(&mut lines, "connected (1)").await;
    assert_eq!(wait_for(&mut lines, "< ").await, "< hello 1");
    // The server goes away: the client sees the end and retries.
    server.kill().await.unwrap();
    wait_for(&mut lines, "disconnected").await;
    let retry = wait_for(&mut lines, "retrying in").await;
    assert!(retry.contains("ended early") || retry.contains("refused"), "{retry}");
    // The server comes back on the same address: so does the client.
    let (_server, mut server_lines) = start("server", &[&addr]);
    wait_for(&mut server_lines, "listening on ").await;
    wait_for(&mut lines, "connected (2)").await;
    assert_eq!(wait_for(&mut lines, "< ").await, "< hello 2");
    drop(_server);
    wait_for(&mut lines, "disconnected").await;
    let status = tokio::time::timeout(Duration::from_secs(10), client.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn the_hyper_example_serves_a_page_and_a_websocket_on_one_port() {
    let (_server, mut lines) = start("hyper_server", &["127.0.0.1:0"]);
    let line = wait_for(&mut lines, "listening on ").await;
    let addr = line.trim_start_matches("listening on http://").to_string();
    let get = |path: &'static str| {
        let addr = addr.clone();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            tcp.write_all(req.as_bytes()).await.unwrap();
            let mut answer = String::new();
            tcp.read_to_string(&mut answer).await.unwrap();
            answer
        }
    };
    let page = get("/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.ends_with("the WebSocket is at /ws\n"), "{page}");
    assert!(get("/nowhere").await.starts_with("HTTP/1.1 404"));
    // /ws without an upgrade: refused with the handshake's status.
    assert!(get("/ws").await.starts_with("HTTP/1.1 4"));
    let (ok, out) = run("client", &[&format!("ws://{addr}/ws"), "through hyper"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("< through hyper\n"), "{out}");
}

#[tokio::test]
async fn the_chat_example_chats_with_wsbolt_serve() {
    let base = common::start_server().await;
    // Someone already in the room sees the example's message.
    let (mut other, _) = wsbolt::connect(&format!("{base}/chat")).await.unwrap();
    let (ok, out) = run(
        "chat",
        &[&format!("{base}/chat"), "ann", "hello from rust", "<b>bold</b>"],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.starts_with("open (subprotocol \"json\")\n"), "{out}");
    assert!(out.contains("[ann] hello from rust\n"), "{out}");
    // The server strips tags, as MDN's server does.
    assert!(out.contains("[ann] bold\n"), "{out}");
    assert!(out.contains("closed: 1000 \"bye\" clean=true"), "{out}");
    use futures_util::StreamExt;
    let mut saw = false;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), other.next()).await {
        if let wsbolt::Message::Text(t) = m {
            if t.contains("hello from rust") {
                saw = true;
                break;
            }
        }
    }
    assert!(saw, "the other member got the message");
}
