//! A restart that refuses no one: `wsbolt serve` takes its listening socket
//! from its parent (socket activation, `LISTEN_FDS`), and a parent that keeps
//! the socket open restarts it under load — the old server is told to stop
//! (SIGTERM: it closes its connections with 1001 and exits), the new one
//! starts on the same socket, and connections that arrive in between wait in
//! the kernel's queue. This test is that parent, as systemd is with the unit
//! files in `contrib/`.

mod common;

use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncBufReadExt;

/// How one client connection of the load ended.
#[derive(Debug)]
#[allow(dead_code)] // the messages are read through Debug, in the failure report
enum Outcome {
    /// Echoed, held, closed by the client: served throughout.
    Served,
    /// Closed by the server with 1001 (the draining one).
    GoingAway,
    /// Not connected: refused, reset or timed out during the handshake.
    NotConnected(String),
    /// Ended any other way (a reset, another close code).
    Broken(String),
}

/// `wsbolt serve` with the socket `fd` as its descriptor 3 and
/// `LISTEN_PID`/`LISTEN_FDS` naming it, as systemd starts a service.
fn serve_on(fd: RawFd) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args([
        "-c",
        r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve --log info --shutdown-grace 5"#,
        common::WSBOLT,
    ])
    .env_remove("RUST_LOG")
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only dup2 and fcntl, which are async-signal-safe; it touches no memory
    // of the parent's but the copied integer `fd`.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                // dup2 onto itself keeps close-on-exec: clear it instead.
                if libc::fcntl(3, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// Waits for the server's "listening on" line; the line.
async fn listening(child: &mut tokio::process::Child) -> String {
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("the server's log ended");
            if line.contains("listening on") {
                return line;
            }
        }
    })
    .await
    .expect("the server did not start");
    // Keep reading (and dropping) the log, so that the server never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    line
}

/// One client: connect, one message echoed, held for `hold`, closed.
async fn client(url: String, hold: Duration) -> Outcome {
    let (mut ws, _) = match wsbolt::connect(url.as_str()).await {
        Ok(c) => c,
        Err(e) => return Outcome::NotConnected(e.to_string()),
    };
    let until = tokio::time::Instant::now() + hold;
    if let Err(e) = ws.send(wsbolt::Message::text("hi")).await {
        return Outcome::Broken(format!("send: {e}"));
    }
    let mut echoed = false;
    loop {
        let next = tokio::time::timeout_at(until, ws.next()).await;
        match next {
            Err(_) if echoed => break,
            Err(_) => return Outcome::Broken("no echo in time".into()),
            Ok(Some(Ok(m))) if m.is_data() => echoed = true,
            Ok(Some(Ok(wsbolt::Message::Close(frame)))) => {
                let code = frame.map(|f| f.code().as_u16());
                while ws.next().await.is_some() {}
                return match code {
                    Some(1001) => Outcome::GoingAway,
                    other => Outcome::Broken(format!("closed by the server with {other:?}")),
                };
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Outcome::Broken(e.to_string()),
            Ok(None) => return Outcome::Broken("ended without a Close".into()),
        }
    }
    if let Err(e) = ws.close(None).await {
        return Outcome::Broken(format!("close: {e}"));
    }
    loop {
        match ws.next().await {
            None => return Outcome::Served,
            Some(Ok(_)) => {}
            // Our Close crossed the server's 1001: still a clean end.
            Some(Err(e)) if ws.close_status().is_some_and(|s| s.was_clean()) => {
                let _ = e;
                return Outcome::Served;
            }
            Some(Err(e)) => return Outcome::Broken(format!("after our close: {e}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_load_refuses_no_one() {
    // The parent's socket, kept open across the restart (as systemd does).
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/echo", socket.local_addr().unwrap());
    let fd = socket.as_raw_fd();
    let mut old = serve_on(fd);
    assert!(listening(&mut old).await.contains("LISTEN_FDS"));

    // 200 new connections a second for 4 s, each held for 300 ms.
    const RATE: u32 = 200;
    const SECONDS: u32 = 4;
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let load = {
        let outcomes = outcomes.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / RATE);
            let mut clients = Vec::new();
            for _ in 0..RATE * SECONDS {
                tick.tick().await;
                let (url, outcomes) = (url.clone(), outcomes.clone());
                clients.push(tokio::spawn(async move {
                    let opened = started.elapsed();
                    let outcome = client(url, Duration::from_millis(300)).await;
                    outcomes.lock().unwrap().push((opened, outcome));
                }));
            }
            for c in clients {
                c.await.unwrap();
            }
        })
    };

    // The restart, 1.5 s in: the old server is told to stop, then the new
    // one starts on the same socket (what `systemctl restart` does).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restart_at = started.elapsed();
    assert_eq!(unsafe { libc::kill(old.id().unwrap() as i32, libc::SIGTERM) }, 0);
    let mut new = serve_on(fd);
    listening(&mut new).await;
    let new_up_at = started.elapsed();
    let status = tokio::time::timeout(Duration::from_secs(10), old.wait())
        .await
        .expect("the old server did not exit")
        .unwrap();
    assert!(status.success(), "the old server: {status}");
    let old_gone_at = started.elapsed();

    tokio::time::timeout(Duration::from_secs(60), load)
        .await
        .unwrap()
        .unwrap();
    let outcomes = outcomes.lock().unwrap();
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|(_, o)| f(o)).count();
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::NotConnected(_) | Outcome::Broken(_)))
        .collect();
    eprintln!(
        "{} connections: {} served, {} closed with 1001 by the draining server; restart at {restart_at:?}, new server up at {new_up_at:?}, old gone at {old_gone_at:?}",
        outcomes.len(),
        count(|o| matches!(o, Outcome::Served)),
        count(|o| matches!(o, Outcome::GoingAway)),
    );
    assert_eq!(outcomes.len(), (RATE * SECONDS) as usize);
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );
    // The restart happened under load: the old server closed some with
    // 1001, and connections opened after it was gone were served (by the new one).
    assert!(count(|o| matches!(o, Outcome::GoingAway)) > 0);
    assert!(outcomes
        .iter()
        .any(|(at, o)| *at > old_gone_at && matches!(o, Outcome::Served)));
    drop(socket);
}
