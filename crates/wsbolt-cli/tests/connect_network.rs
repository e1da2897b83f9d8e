//! `wsbolt connect` in real networks: proxies (flags and environment),
//! redirects, reconnection across a `wsbolt serve` killed and restarted,
//! and the frame trace.

mod common;
#[path = "../../wsbolt/tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use common::{connect_with_env as connect, start_server};
use support::{http_proxy, redirect_server, HttpProxy};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;

#[tokio::test]
async fn through_a_proxy_from_the_flag_or_the_environment_and_not_with_no_proxy() {
    let url = start_server().await;
    let (proxy, log) = http_proxy(HttpProxy::Forward { basic: None }, None).await;
    let proxy_url = format!("http://{proxy}");
    let echo = format!("{url}/echo");

    let (code, out, err) = connect(&["--proxy", &proxy_url, &echo], &[], b"flag\n").await;
    assert_eq!((code, out.as_str()), (0, "flag\n"), "{err}");
    assert_eq!(log.lock().unwrap().len(), 1);

    let (code, out, err) = connect(&[&echo], &[("ws_proxy", &proxy_url)], b"env\n").await;
    assert_eq!((code, out.as_str()), (0, "env\n"), "{err}");
    assert_eq!(log.lock().unwrap().len(), 2);

    let (code, out, err) = connect(&["--no-proxy", &echo], &[("WS_PROXY", &proxy_url)], b"direct\n").await;
    assert_eq!((code, out.as_str()), (0, "direct\n"), "{err}");
    assert_eq!(log.lock().unwrap().len(), 2, "--no-proxy went direct");
}

#[tokio::test]
async fn proxy_failures_are_one_clear_line_and_a_status_of_their_own() {
    let url = start_server().await;
    let echo = format!("{url}/echo");
    let (guarded, _) = http_proxy(
        HttpProxy::Forward {
            basic: Some("eDp5".into()),
        },
        None,
    )
    .await;
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases = [
        (format!("http://{guarded}"), "requires authentication (HTTP 407"),
        (format!("socks5://{gone}"), "is unreachable"),
        ("ftp://proxy".to_string(), "is not http, https, socks5 or socks5h"),
    ];
    for (proxy, says) in cases {
        let (code, _, err) = connect(&["--proxy", &proxy, &echo], &[], b"").await;
        // A proxy URL that cannot be used is a bad flag (2); a proxy that fails is 7.
        let expected = if proxy.starts_with("ftp:") { 2 } else { 7 };
        assert_eq!(code, expected, "{proxy}: {err}");
        assert!(err.contains(says), "{proxy}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
}

#[tokio::test]
async fn redirects_are_followed_only_with_follow() {
    let url = start_server().await;
    let target = format!("{url}/echo");
    let (r, _) = redirect_server(302, move |_| Some(target.clone())).await;
    let start = format!("ws://{r}/old");
    let (code, _, err) = connect(&[&start], &[], b"x\n").await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("HTTP 302 Found") && err.contains("--follow"), "{err}");
    let (code, out, err) = connect(&["--follow", &start], &[], b"moved\n").await;
    assert_eq!((code, out.as_str()), (0, "moved\n"), "{err}");
    // A loop: a clear line, status 5.
    let (r, _) = redirect_server(301, |p| Some(if p == "/a" { "/b".into() } else { "/a".into() })).await;
    let (code, _, err) = connect(&["--follow", &format!("ws://{r}/a")], &[], b"").await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("redirect loop"), "{err}");
}

#[tokio::test]
async fn trace_shows_each_frame_both_ways_and_json_is_pretty_printed() {
    let url = start_server().await;
    let long = format!("{{\"text\": \"{}\"}}", "all work and no play ".repeat(30));
    let (code, out, err) = connect(
        &["--trace", "--json", &format!("{url}/echo")],
        &[],
        format!("{long}\n").as_bytes(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&long).unwrap()).unwrap();
    assert_eq!(out, format!("{pretty}\n"));
    let frames: Vec<&str> = err.lines().filter(|l| l.contains(" fin=")).collect();
    assert_eq!(frames.len(), 4, "{err}");
    let n = long.len();
    // Compressed both ways (wsbolt serve and connect both do deflate):
    // fewer bytes on the wire than the message's.
    for (line, dir) in frames[..2].iter().zip(['>', '<']) {
        assert!(line.contains(&format!(" {dir} TEXT fin=1 rsv1=1 wire=")), "{line}");
        assert!(line.ends_with(&format!(" data={n}")), "{line}");
        let wire: usize = line
            .split("wire=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wire < n / 4, "{line}");
    }
    assert!(
        frames[2].contains(" > CLOSE fin=1 rsv1=0 wire=2 data=2 code=1000 reason=\"\""),
        "{}",
        frames[2]
    );
    assert!(frames[3].contains(" < CLOSE "), "{}", frames[3]);
    // Time first: HH:MM:SS.mmm.
    let t = frames[0].split(' ').next().unwrap();
    assert!(
        t.len() == 12 && t.as_bytes()[2] == b':' && t.as_bytes()[8] == b'.',
        "{t}"
    );
}

/// `wsbolt serve` as a process of its own, so it can be killed.
async fn serve(port: u16) -> Child {
    let child = common::wsbolt(&[])
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--log", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "wsbolt serve did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

async fn line(rx: &mut mpsc::UnboundedReceiver<String>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let l = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no line with {want:?}; saw {seen:?}"))
            .unwrap_or_else(|| panic!("ended without {want:?}; saw {seen:?}"));
        let found = l.contains(want);
        seen.push(l);
        if found {
            return seen;
        }
    }
}

fn lines_of(r: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            let _ = tx.send(l);
        }
    });
    rx
}

#[tokio::test]
async fn reconnect_survives_the_server_being_killed_and_restarted() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = serve(port).await;
    let mut client = common::wsbolt(&[])
        .args([
            "connect",
            "--reconnect",
            "--no-proxy",
            &format!("ws://127.0.0.1:{port}/echo"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let mut out = lines_of(client.stdout.take().unwrap());
    let mut err = lines_of(client.stderr.take().unwrap());
    line(&mut err, "connected to").await;
    stdin.write_all(b"before\n").await.unwrap();
    line(&mut out, "before").await;

    server.kill().await.unwrap();
    let said = line(&mut err, "reconnecting").await;
    assert!(said.iter().any(|l| l.contains("the connection ended")), "{said:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = serve(port).await;
    line(&mut err, "connected to").await;
    stdin.write_all(b"after\n").await.unwrap();
    line(&mut out, "after").await;

    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), client.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    line(&mut err, "closed: 1000").await;
}

#[tokio::test]
async fn reconnect_gives_up_on_what_is_not_worth_retrying() {
    let url = start_server().await;
    // 404: no such endpoint; not retried.
    let (code, _, err) = connect(&["--reconnect", &format!("{url}/nowhere")], &[], b"").await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("404") && !err.contains("retrying"), "{err}");
}

/// More frames in one read than the trace keeps: the trace says how many
/// it could not show instead of skipping them silently.
#[tokio::test]
async fn trace_says_when_frames_were_not_shown() {
    let (l, addr) = support::bind().await;
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wsbolt::accept(tcp).await.unwrap();
        for _ in 0..5000 {
            ws.queue(wsbolt::Message::text("x")).unwrap();
        }
        ws.queue(wsbolt::Message::Close(None)).unwrap();
        let _ = futures_util::SinkExt::flush(&mut ws).await;
        while let Some(Ok(_)) = futures_util::StreamExt::next(&mut ws).await {}
    });
    let (code, out, err) = connect(&["--trace", &format!("ws://{addr}/")], &[], b"").await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 5000);
    let shown = err.lines().filter(|l| l.contains(" < TEXT ")).count();
    let hidden: usize = err
        .lines()
        .filter_map(|l| l.strip_prefix("... ")?.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(hidden > 0, "one read brought more than 1,024 frames: {shown} shown");
    assert_eq!(shown + hidden, 5000, "every frame shown or counted");
}
