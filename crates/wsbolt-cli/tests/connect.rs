//! `wsbolt connect` as a user runs it: lines on stdin, messages on stdout,
//! exit codes and messages on failure.

use std::process::Stdio;
use std::time::Duration;

mod common;

use common::{connect, start_server};

#[tokio::test]
async fn typed_lines_round_trip_and_the_close_is_clean() {
    let url = start_server().await;
    let (code, out, err) = connect(&[&format!("{url}/echo")], "hello\nwörld\n\nlast line\n".as_bytes()).await;
    assert_eq!(out, "hello\nwörld\n\nlast line\n", "stderr: {err}");
    assert!(err.contains("closed: 1000"), "{err}");
    assert_eq!(code, 0);
}

#[tokio::test]
async fn binary_mode_prints_hex_or_raw() {
    let url = start_server().await;
    let (code, out, _) = connect(&["--binary", &format!("{url}/echo")], b"AB\n").await;
    assert_eq!((code, out.as_str()), (0, "4142\n"));
    let (code, out, _) = connect(&["--binary", "--raw", &format!("{url}/echo")], b"AB\n").await;
    assert_eq!((code, out.as_str()), (0, "AB"));
}

#[tokio::test]
async fn close_code_and_reason_are_sent() {
    let url = start_server().await;
    let (code, _, err) = connect(
        &[
            "--close-code",
            "4000",
            "--close-reason",
            "bye now",
            &format!("{url}/echo"),
        ],
        b"x\n",
    )
    .await;
    assert_eq!(code, 0);
    assert!(err.contains("closed: 4000 bye now"), "{err}");
    let (code, _, err) = connect(&["--close-code", "1005", &format!("{url}/echo")], b"").await;
    assert_eq!(code, 2);
    assert!(err.contains("--close-code"), "{err}");
}

#[tokio::test]
async fn failures_exit_non_zero_with_a_clear_message() {
    // Refused.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let (code, _, err) = connect(&[&format!("ws://127.0.0.1:{port}/")], b"").await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("connection refused"), "{err}");
    // Bad handshake: the status is shown.
    let url = start_server().await;
    let (code, _, err) = connect(&[&format!("{url}/no-such-endpoint")], b"").await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("HTTP 404 Not Found"), "{err}");
    // TLS to a plain server.
    let wss = url.replacen("ws://", "wss://", 1);
    let (code, _, err) = connect(&[&format!("{wss}/echo")], b"").await;
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("TLS"), "{err}");
    // Not a WebSocket URL.
    let (code, _, err) = connect(&["ftp://127.0.0.1/"], b"").await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid URL"), "{err}");
}

/// A server that closes with an error code is a failure a script can see:
/// exit 3 (it was 0, as for any clean close), the code on one line.
#[tokio::test]
async fn a_close_with_an_error_code_from_the_server_exits_3() {
    use futures_util::StreamExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = wsbolt::accept(tcp).await.unwrap();
        let _ = ws.close(wsbolt::CloseFrame::new(1011u16, "handler crashed").ok()).await;
        while let Some(Ok(_)) = ws.next().await {}
    });
    let (code, _, err) = connect(&[&format!("ws://{addr}/")], b"").await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("closed by the server: 1011 handler crashed"), "{err}");
}

/// A refusal that comes with an HTML page is one line without the page; a
/// short text or JSON body is quoted on that line.
#[tokio::test]
async fn a_refusal_is_one_line_quoting_only_a_text_or_json_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn refuse_once(content_type: &'static str, body: &'static str) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut head = vec![0u8; 4096];
            let _ = tcp.read(&mut head).await;
            let answer = format!(
                "HTTP/1.1 404 Not Found\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tcp.write_all(answer.as_bytes()).await;
        });
        addr
    }
    let page =
        "<!DOCTYPE html>\n<html>\n<head><title>404</title></head>\n<body>\n<h1>Not Found</h1>\n</body>\n</html>\n";
    let addr = refuse_once("text/html", page).await;
    let (code, _, err) = connect(&[&format!("ws://{addr}/")], b"").await;
    assert_eq!(code, 5, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("HTTP 404 Not Found") && !err.contains("<"), "{err}");
    let addr = refuse_once("application/json", "{\"error\":\n  \"token required\"}\n").await;
    let (code, _, err) = connect(&[&format!("ws://{addr}/")], b"").await;
    assert_eq!(code, 5, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(": {\"error\": \"token required\"}"), "{err}");
}

async fn bench(args: &[&str]) -> (i32, String, String) {
    let out = common::wsbolt(&[]).arg("bench").args(args).output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--report FILE.html`: a page that needs nothing else (no script, no
/// link, no network), with both charts filled. Chromium draws it in
/// tests/browser.
#[tokio::test]
async fn bench_writes_a_self_contained_html_report() {
    let url = start_server().await;
    let file = std::env::temp_dir().join(format!("wsbolt-report-{}.html", std::process::id()));
    let path = file.display().to_string();
    let (code, out, err) = bench(&[
        &format!("{url}/echo"),
        "-c",
        "2",
        "-d",
        "1.1",
        "--quiet",
        "--report",
        &path,
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let page = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    for external in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!page.contains(external), "{external} in the page");
    }
    let points = |id: &str| -> usize {
        let at = page
            .find(&format!("<svg id=\"{id}\" data-points=\""))
            .unwrap_or_else(|| panic!("no {id} chart"));
        page[at..].split('"').nth(3).unwrap().parse().unwrap()
    };
    assert!(points("throughput") >= 4, "four samples a second");
    assert_eq!(points("latency"), 101);
    assert!(page.contains("messages/s</td>"));
}

#[tokio::test]
async fn bench_reports_echoes_and_handshakes_as_json() {
    let url = start_server().await;
    let echo = format!("{url}/echo");
    let (code, out, err) = bench(&[
        &echo, "-c", "4", "-k", "2", "-s", "64", "-d", "0.5", "--json", "--quiet",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["mode"], "echo");
    assert!(v["count"].as_u64().unwrap() > 0);
    assert_eq!(v["errors"], 0);
    assert!(v["latency_us"]["p50"].as_f64().unwrap() > 0.0);
    assert!((v["bytes_per_second"].as_f64().unwrap() / v["per_second"].as_f64().unwrap() - 64.0).abs() < 1.0);
    let (code, out, err) = bench(&[&echo, "--handshakes", "-c", "2", "-d", "0.5", "--json", "--quiet"]).await;
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["mode"], "handshakes");
    assert!(v["count"].as_u64().unwrap() > 0);
    // Nothing listening: a clear failure.
    let (code, _, err) = bench(&["ws://127.0.0.1:1/echo", "-d", "0.2"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ws://127.0.0.1:1/echo"), "{err}");
}

/// A server that closes while the user's stdin is still open: `wsbolt
/// connect` prints the close and exits at once, without waiting for a line;
/// a code other than 1000 or 1001 from the server is exit status 3.
#[tokio::test]
async fn exits_when_the_server_closes_while_stdin_is_open() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wsbolt::accept(tcp).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = ws.close(wsbolt::CloseFrame::new(4001u16, "server bye").ok()).await;
    });
    let mut child = common::wsbolt(&[])
        .args(["connect", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin_kept_open = child.stdin.take().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
        .await
        .expect("wsbolt connect did not exit after the server closed")
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("closed by the server: 4001 server bye"), "{err}");
    assert_eq!(out.status.code(), Some(3));
}

/// A server that answers a Close at once (RFC 6455 allows it, Python
/// `websockets` does it) while its echoes are still on their way: piped
/// input loses none of them, in 100 runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_input_loses_no_reply_from_a_server_that_closes_at_once() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let Ok(ws) = wsbolt::accept(tcp).await else { return };
                // Echo each message 20-80 ms later from another task; the
                // read half answers the client's Close as soon as it comes.
                let (mut rd, wr) = ws.split();
                let mut i = 0u64;
                while let Some(Ok(m)) = futures_util::StreamExt::next(&mut rd).await {
                    if m.is_data() {
                        let mut w = wr.clone();
                        i += 1;
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(20 + (i * 17) % 60)).await;
                            let _ = w.send(m).await;
                        });
                    }
                }
            });
        }
    });
    let mut lost = Vec::new();
    let args = ["--eof-wait", "0.3", url.as_str()];
    for batch in 0..10 {
        let runs = (0..10).map(|_| connect(&args, b"a\nb\nc\nd\n"));
        for (k, (code, out, err)) in futures_util::future::join_all(runs).await.into_iter().enumerate() {
            let mut got: Vec<&str> = out.lines().collect();
            got.sort_unstable();
            if got != ["a", "b", "c", "d"] || code != 0 {
                lost.push(format!("run {}: {out:?} exit {code} {err}", batch * 10 + k));
            }
        }
    }
    assert!(lost.is_empty(), "{} of 100 runs lost replies: {lost:?}", lost.len());
}
