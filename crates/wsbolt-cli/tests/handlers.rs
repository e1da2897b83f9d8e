//! `wsbolt serve --handlers DIR` as an operator sees it: the start-up log
//! lists every route with its source and reports the files that cannot run,
//! with the reason; a request for one gets 404 and a log line saying why.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

mod common;

/// Reads `lines` until one contains `want`; gives every line read.
async fn until(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains(want);
            seen.push(line);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no line with {want:?} in {seen:#?}");
    seen
}

#[tokio::test]
async fn the_log_lists_routes_and_says_why_a_file_cannot_run() {
    let dir = std::env::temp_dir().join(format!("wsbolt-handlers-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str, mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("hello", "#!/bin/sh\necho hi\n", 0o755);
    write("norun", "#!/bin/sh\necho hi\n", 0o644);
    let mut server = common::wsbolt(&[])
        .args(["serve", "--listen", "127.0.0.1:0", "--handlers"])
        .arg(&dir)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let seen = until(&mut lines, "listening on").await;
    let log = seen.join("\n");
    assert!(
        log.contains("not a handler program: no run bit (chmod +x it); a request for /norun gets 404"),
        "{log}"
    );
    let routes = seen.iter().find(|l| l.contains("routes: ")).expect("a routes line");
    assert!(
        routes.contains("/echo (built-in)") && routes.contains("/metrics (plain HTTP)"),
        "{routes}"
    );
    assert!(
        routes.contains(&format!("/hello (handler {})", dir.join("hello").display())),
        "{routes}"
    );
    assert!(!routes.contains("/norun"), "{routes}");
    let listening = seen.last().unwrap();
    let addr = listening
        .split("ws://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the address");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET /norun HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    until(&mut lines, "404: the handler file").await;
    std::fs::remove_dir_all(&dir).unwrap();
}
