//! Through real proxies: tinyproxy (HTTP CONNECT, with and without Basic
//! auth) and microsocks (SOCKS5, with and without user and password), each
//! started here on a free loopback port and stopped at the end. They are
//! Debian packages, not part of a fresh machine: these tests are ignored by
//! a plain `cargo test` and run by `tests/proxy/run` (which installs them),
//! as `.ci/run` does.

mod support;

use support::peers::{free_port, microsocks, tinyproxy};
use support::{echo_server, round_trip, via};
use wsbolt::proxy::ProxyErrorKind;
use wsbolt::Error;

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
