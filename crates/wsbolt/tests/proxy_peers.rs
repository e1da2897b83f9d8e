//! Through real proxies: tinyproxy (HTTP CONNECT, with and without Basic
//! auth) and microsocks (SOCKS5, with and without user and password), each
//! started here on a free loopback port and stopped at the end. They are
//! Debian packages, not part of a fresh machine: these tests are ignored by
//! a plain `cargo test` and run by `tests/proxy/run` (which installs them),
//! as `.ci/run` does.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{echo_server, round_trip, via};
use wsbolt::proxy::ProxyErrorKind;
use wsbolt::Error;

/// A proxy process, killed when dropped.
struct Peer {
    child: Child,
    addr: SocketAddr,
    _dir: Option<std::path::PathBuf>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self._dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(program: &str, args: &[String], addr: SocketAddr, dir: Option<std::path::PathBuf>) -> Peer {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (install the Debian package: tests/proxy/run does)"));
    let peer = Peer { child, addr, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{program} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    peer
}

/// tinyproxy in the foreground, with `BasicAuth user password` if given.
fn tinyproxy(auth: Option<(&str, &str)>) -> Peer {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("wsbolt-tinyproxy-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut conf =
        format!("Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\nLogLevel Warning\n");
    if let Some((u, p)) = auth {
        conf.push_str(&format!("BasicAuth {u} {p}\n"));
    }
    let file = dir.join("tinyproxy.conf");
    std::fs::write(&file, conf).unwrap();
    let args = ["-d".to_string(), "-c".to_string(), file.display().to_string()];
    spawn("tinyproxy", &args, ([127, 0, 0, 1], port).into(), Some(dir))
}

/// microsocks, with `-u user -P password` if given.
fn microsocks(auth: Option<(&str, &str)>) -> Peer {
    let port = free_port();
    let mut args = vec![
        "-i".to_string(),
        "127.0.0.1".to_string(),
        "-p".to_string(),
        port.to_string(),
    ];
    if let Some((u, p)) = auth {
        args.extend(["-u".to_string(), u.to_string(), "-P".to_string(), p.to_string()]);
    }
    spawn("microsocks", &args, ([127, 0, 0, 1], port).into(), None)
}

fn kind(e: &Error) -> ProxyErrorKind {
    match e {
        Error::Proxy(p) => p.kind(),
        other => panic!("not a proxy error: {other:?}"),
    }
}

fn refused_port() -> u16 {
    free_port()
}

#[tokio::test]
#[ignore = "needs tinyproxy (Debian package); run by tests/proxy/run"]
async fn tinyproxy_open_and_with_basic_auth() {
    let (target, _) = echo_server().await;
    let url = format!("ws://{target}/echo");

    let open = tinyproxy(None);
    let (mut ws, _) = wsbolt::connect_with_config(&url, &via(&format!("http://{}", open.addr)))
        .await
        .unwrap();
    round_trip(&mut ws, "through tinyproxy").await;
    // The target refuses: tinyproxy says so with a status, kept as such.
    let e = wsbolt::connect_with_config(
        &format!("ws://127.0.0.1:{}/", refused_port()),
        &via(&format!("http://{}", open.addr)),
    )
    .await
    .unwrap_err();
    assert_eq!(kind(&e), ProxyErrorKind::Refused, "{e}");
    assert!(e.to_string().contains("did not open a tunnel"), "{e}");

    let guarded = tinyproxy(Some(("alice", "s3cret")));
    let (mut ws, _) = wsbolt::connect_with_config(&url, &via(&format!("http://alice:s3cret@{}", guarded.addr)))
        .await
        .unwrap();
    round_trip(&mut ws, "authenticated through tinyproxy").await;
    let e = wsbolt::connect_with_config(&url, &via(&format!("http://{}", guarded.addr)))
        .await
        .unwrap_err();
    assert_eq!(kind(&e), ProxyErrorKind::AuthRequired, "{e}");
    assert!(e.to_string().contains("407"), "{e}");
    let e = wsbolt::connect_with_config(&url, &via(&format!("http://alice:nope@{}", guarded.addr)))
        .await
        .unwrap_err();
    assert_eq!(kind(&e), ProxyErrorKind::AuthRequired, "{e}");
    assert!(e.to_string().contains("refused the credentials"), "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
#[ignore = "needs microsocks (Debian package); run by tests/proxy/run"]
async fn microsocks_open_and_with_user_and_password() {
    let (target, _) = echo_server().await;
    let by_name = format!("ws://localhost:{}/echo", target.port());

    let open = microsocks(None);
    for scheme in ["socks5", "socks5h"] {
        let (mut ws, _) = wsbolt::connect_with_config(&by_name, &via(&format!("{scheme}://{}", open.addr)))
            .await
            .unwrap();
        round_trip(&mut ws, scheme).await;
    }
    let e = wsbolt::connect_with_config(
        &format!("ws://127.0.0.1:{}/", refused_port()),
        &via(&format!("socks5://{}", open.addr)),
    )
    .await
    .unwrap_err();
    assert_eq!(kind(&e), ProxyErrorKind::Refused, "{e}");
    let Error::Proxy(p) = &e else { unreachable!() };
    assert!(p.socks_reply().is_some_and(|r| r != 0), "{e}");
    assert!(e.to_string().contains("reply"), "{e}");

    let guarded = microsocks(Some(("bob", "hunter2")));
    let (mut ws, _) = wsbolt::connect_with_config(&by_name, &via(&format!("socks5h://bob:hunter2@{}", guarded.addr)))
        .await
        .unwrap();
    round_trip(&mut ws, "authenticated through microsocks").await;
    for bad in [
        format!("socks5h://bob:wrong@{}", guarded.addr),
        format!("socks5h://{}", guarded.addr),
    ] {
        let e = wsbolt::connect_with_config(&by_name, &via(&bad)).await.unwrap_err();
        assert_eq!(kind(&e), ProxyErrorKind::AuthFailed, "{bad}: {e}");
        assert!(!e.is_retryable());
    }
}
