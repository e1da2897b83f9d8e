//! The command itself: shell completions, manual pages, the log formats and the access log.

mod common;

fn run(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(common::WSBOLT).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn completions_cover_every_command_in_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, script) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        for word in ["serve", "connect", "bench", "print-config", "follow"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    assert_eq!(run(&["completions", "tcsh"]).0, 2);
}

#[test]
fn manual_pages_for_the_command_and_each_subcommand() {
    let (code, page) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(page.starts_with(".ie") || page.contains(".TH wsbolt 1"), "{page}");
    for sub in ["serve", "connect", "bench"] {
        assert!(page.contains(sub), "wsbolt(1) does not name {sub}");
    }
    let (code, page) = run(&["man", "serve"]);
    assert_eq!(code, 0);
    assert!(
        page.contains(".TH wsbolt-serve 1") && page.contains("print\\-config"),
        "{page}"
    );
    let (code, page) = run(&["man", "connect"]);
    assert_eq!(code, 0);
    assert!(
        page.contains("Exit status"),
        "wsbolt-connect(1) lacks the exit statuses"
    );
    assert_eq!(run(&["man", "nope"]).0, 2);
}

/// `--log-format json`: every log line is one JSON object a log shipper can
/// read (level, message, time), the start-up lines included.
#[test]
fn serve_logs_one_json_object_per_line() {
    use std::io::{BufRead, BufReader};
    let mut server = std::process::Command::new(common::WSBOLT)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log",
            "info",
        ])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"] == "INFO", "{line}");
        let message = v["fields"]["message"].as_str().unwrap_or_default().to_string();
        seen.push(message.clone());
        if message.starts_with("listening on") {
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        seen.iter().any(|m| m.starts_with("routes: /echo (built-in)")),
        "{seen:?}"
    );
    assert!(
        seen.last()
            .is_some_and(|m| m.starts_with("listening on ws://127.0.0.1:")),
        "{seen:?}"
    );
}

/// `--access-log`: one line per WebSocket when it ends, with the peer, path,
/// subprotocol, HTTP version, duration, messages and bytes each way and the
/// close code; none without the flag.
#[tokio::test]
async fn access_log_has_a_line_per_websocket() {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::AsyncBufReadExt;
    let start = |access: bool| {
        let mut cmd = common::wsbolt(&[]);
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log",
            "info",
        ]);
        if access {
            cmd.arg("--access-log");
        }
        let mut server = cmd
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = tokio::io::BufReader::new(server.stderr.take().unwrap()).lines();
        (server, lines)
    };
    // The next log line whose message starts with `want`, as JSON.
    async fn next_with(
        lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
        want: &str,
    ) -> serde_json::Value {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let line = lines.next_line().await.unwrap().expect("the log ended");
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                if v["fields"]["message"].as_str().is_some_and(|m| m.starts_with(want)) {
                    return v;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line starting {want:?}"))
    }
    let addr_of = |v: &serde_json::Value| {
        let m = v["fields"]["message"].as_str().unwrap();
        m.trim_start_matches("listening on ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };

    let (_server, mut lines) = start(true);
    let addr = addr_of(&next_with(&mut lines, "listening on").await);
    let (mut ws, _) = wsbolt::connect(format!("ws://{addr}/echo").as_str()).await.unwrap();
    let local = ws.get_ref().tcp().unwrap().local_addr().unwrap();
    ws.send(wsbolt::Message::text("hello")).await.unwrap();
    ws.send(wsbolt::Message::binary(vec![1u8, 2, 3])).await.unwrap();
    ws.next().await.unwrap().unwrap();
    ws.next().await.unwrap().unwrap();
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    let line = next_with(&mut lines, "websocket").await;
    assert_eq!(line["target"], "wsbolt::access", "{line}");
    let f = &line["fields"];
    assert_eq!(f["peer"], local.to_string(), "{line}");
    assert_eq!(f["path"], "/echo", "{line}");
    assert_eq!(f["protocol"], "-", "{line}");
    assert_eq!(f["http"], "1.1", "{line}");
    assert!(f["duration_ms"].is_u64(), "{line}");
    assert_eq!(
        (f["messages_in"].as_u64(), f["bytes_in"].as_u64()),
        (Some(2), Some(8)),
        "{line}"
    );
    assert_eq!(
        (f["messages_out"].as_u64(), f["bytes_out"].as_u64()),
        (Some(2), Some(8)),
        "{line}"
    );
    assert_eq!(f["close"], 1005, "{line}");

    // /chat with its subprotocol: the welcome message out, one in; a close code.
    let config = wsbolt::ClientConfig::default().protocols(vec!["json".into()]);
    let (mut chat, _) = wsbolt::connect_with_config(format!("ws://{addr}/chat").as_str(), &config)
        .await
        .unwrap();
    chat.next().await.unwrap().unwrap();
    chat.send(wsbolt::Message::text(r#"{"type":"nick","nick":"ann"}"#))
        .await
        .unwrap();
    chat.close(wsbolt::CloseFrame::new(4000u16, "bye").ok()).await.unwrap();
    while chat.next().await.is_some() {}
    let line = next_with(&mut lines, "websocket").await;
    let f = &line["fields"];
    assert_eq!(
        (f["path"].as_str(), f["protocol"].as_str()),
        (Some("/chat"), Some("json")),
        "{line}"
    );
    assert_eq!(f["messages_in"], 1, "{line}");
    assert!(f["messages_out"].as_u64() >= Some(1), "{line}");
    assert_eq!(f["close"], 4000, "{line}");

    // Off by default: no access line, though the connection is logged nowhere else.
    let (_quiet, mut lines) = start(false);
    let addr = addr_of(&next_with(&mut lines, "listening on").await);
    let (mut ws, _) = wsbolt::connect(format!("ws://{addr}/echo").as_str()).await.unwrap();
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    let quiet = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        next_with(&mut lines, "websocket"),
    )
    .await;
    assert!(quiet.is_err(), "an access line without --access-log");
}
