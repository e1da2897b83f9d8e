//! Clients through proxies: HTTP CONNECT (plain and over TLS) and SOCKS5,
//! against proxies in this process that give the answers real ones give,
//! failures included. Real tinyproxy and microsocks: `proxy_peers.rs`.

mod support;

use std::sync::Arc;

use base64::Engine;
use support::{echo_server, http_proxy, round_trip, socks_server, via, HttpProxy, Socks};
use wsbolt::proxy::{ProxyErrorKind, ProxySetting};
use wsbolt::Error;

fn proxy_error(e: &Error) -> &wsbolt::proxy::ProxyError {
    match e {
        Error::Proxy(p) => p,
        other => panic!("not a proxy error: {other:?}"),
    }
}

#[tokio::test]
async fn http_connect_tunnels_to_the_target_with_basic_auth() {
    let (target, _) = echo_server().await;
    let token = base64::engine::general_purpose::STANDARD.encode("al ice:p@ss:word");
    let (proxy, log) = http_proxy(
        HttpProxy::Forward {
            basic: Some(token.clone()),
        },
        None,
    )
    .await;

    let (mut ws, _) = wsbolt::connect_with_config(
        &format!("ws://{target}/echo"),
        &via(&format!("http://al%20ice:p%40ss%3Aword@{proxy}")),
    )
    .await
    .unwrap();
    round_trip(&mut ws, "through the tunnel").await;
    let head = log.lock().unwrap()[0].clone();
    assert!(
        head.starts_with(&format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n")),
        "{head}"
    );
    assert!(head.contains(&format!("Proxy-Authorization: Basic {token}")), "{head}");

    // No credentials, then wrong ones: 407, said as such, not retryable.
    let e = wsbolt::connect_with_config(&format!("ws://{target}/"), &via(&format!("http://{proxy}")))
        .await
        .unwrap_err();
    let p = proxy_error(&e);
    assert_eq!(p.kind(), ProxyErrorKind::AuthRequired);
    assert_eq!(p.status(), Some(http::StatusCode::PROXY_AUTHENTICATION_REQUIRED));
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("requires authentication"), "{e}");
    let e = wsbolt::connect_with_config(&format!("ws://{target}/"), &via(&format!("http://u:wrong@{proxy}")))
        .await
        .unwrap_err();
    assert_eq!(proxy_error(&e).kind(), ProxyErrorKind::AuthRequired);
    assert!(
        e.to_string().contains("refused the credentials") && !e.to_string().contains("wrong"),
        "{e}"
    );
}

#[tokio::test]
async fn proxy_failures_are_typed_and_sorted_for_retrying() {
    let (target, _) = echo_server().await;
    let url = format!("ws://{target}/");
    let cases: [(&'static str, ProxyErrorKind, bool); 4] = [
        (
            "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
            ProxyErrorKind::Refused,
            true,
        ),
        (
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!",
            ProxyErrorKind::Refused,
            false,
        ),
        ("HTTP/1.1 200 OK\r\n\r\nsurprise", ProxyErrorKind::Protocol, false),
        ("SSH-2.0-OpenSSH\r\n\r\n", ProxyErrorKind::Protocol, false),
    ];
    for (answer, kind, retryable) in cases {
        let (proxy, _) = http_proxy(HttpProxy::Answer(answer), None).await;
        let e = wsbolt::connect_with_config(&url, &via(&format!("http://{proxy}")))
            .await
            .unwrap_err();
        assert_eq!(proxy_error(&e).kind(), kind, "{answer:?}: {e}");
        assert_eq!(e.is_retryable(), retryable, "{answer:?}: {e}");
    }
    // A proxy that closes without answering, one that is not there.
    let (proxy, _) = http_proxy(HttpProxy::Answer(""), None).await;
    let e = wsbolt::connect_with_config(&url, &via(&format!("http://{proxy}")))
        .await
        .unwrap_err();
    assert_eq!(proxy_error(&e).kind(), ProxyErrorKind::Protocol, "{e}");
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = wsbolt::connect_with_config(&url, &via(&format!("socks5://{gone}")))
        .await
        .unwrap_err();
    assert_eq!(proxy_error(&e).kind(), ProxyErrorKind::Unreachable, "{e}");
    assert!(e.is_retryable() && e.to_string().contains("unreachable"), "{e}");
}

#[tokio::test]
async fn socks5_resolves_locally_and_socks5h_lets_the_proxy_resolve() {
    let (target, _) = echo_server().await;
    let (proxy, log) = socks_server(Socks::Forward { credentials: None }).await;
    let url = format!("ws://localhost:{}/echo", target.port());

    let (mut ws, _) = wsbolt::connect_with_config(&url, &via(&format!("socks5h://{proxy}")))
        .await
        .unwrap();
    round_trip(&mut ws, "named by the proxy").await;
    let (mut ws, _) = wsbolt::connect_with_config(&url, &via(&format!("socks5://{proxy}")))
        .await
        .unwrap();
    round_trip(&mut ws, "named here").await;
    let log = log.lock().unwrap().clone();
    let port = target.port();
    assert_eq!(log[0], format!("methods=[0] atyp=3 addr=localhost:{port}"));
    // localhost resolved here: IPv4 or IPv6 loopback, sent as an address.
    assert!(
        log[1] == format!("methods=[0] atyp=1 addr=127.0.0.1:{port}")
            || log[1] == format!("methods=[0] atyp=4 addr=[::1]:{port}"),
        "{log:?}"
    );
}

#[tokio::test]
async fn socks5_user_and_password_and_the_failures_it_reports() {
    let (target, _) = echo_server().await;
    let url = format!("ws://{target}/echo");
    let creds = Some(("bob".to_string(), "hunter2".to_string()));
    let (proxy, log) = socks_server(Socks::Forward { credentials: creds }).await;

    let (mut ws, _) = wsbolt::connect_with_config(&url, &via(&format!("socks5://bob:hunter2@{proxy}")))
        .await
        .unwrap();
    round_trip(&mut ws, "authenticated").await;
    assert!(
        log.lock().unwrap()[0].starts_with("methods=[0, 2] atyp=1"),
        "{:?}",
        log.lock().unwrap()
    );

    for (proxy_url, what) in [
        (
            format!("socks5://bob:wrong@{proxy}"),
            "refused the user name and password",
        ),
        (format!("socks5://{proxy}"), "requires authentication"),
    ] {
        let e = wsbolt::connect_with_config(&url, &via(&proxy_url)).await.unwrap_err();
        assert_eq!(proxy_error(&e).kind(), ProxyErrorKind::AuthFailed, "{e}");
        assert!(e.to_string().contains(what) && !e.is_retryable(), "{e}");
    }

    // The proxy could not reach the target: its reply code is kept.
    for (code, retryable) in [(5u8, true), (2, false), (4, true)] {
        let (proxy, _) = socks_server(Socks::Reply(code)).await;
        let e = wsbolt::connect_with_config(&url, &via(&format!("socks5h://{proxy}")))
            .await
            .unwrap_err();
        let p = proxy_error(&e);
        assert_eq!(
            (p.kind(), p.socks_reply()),
            (ProxyErrorKind::Refused, Some(code)),
            "{e}"
        );
        assert_eq!(e.is_retryable(), retryable, "{e}");
    }
    let (proxy, _) = socks_server(Socks::Reply(5)).await;
    let e = wsbolt::connect_with_config(&url, &via(&format!("socks5h://{proxy}")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("reply 5 (connection refused)"), "{e}");
}

/// wss:// through an https:// proxy: TLS to the proxy, and TLS to the
/// target inside it.
#[tokio::test]
async fn wss_through_an_https_proxy_is_tls_inside_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let server_tls = wsbolt::tls::server_config_from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);

    // The wss target: TLS, then the echo server's WebSocket.
    let (l, target) = support::bind().await;
    let target_acceptor = acceptor.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = target_acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut ws) = wsbolt::accept(tls).await else { return };
                use futures_util::{SinkExt, StreamExt};
                while let Some(Ok(m)) = ws.next().await {
                    if matches!(m, wsbolt::Message::Text(_)) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (proxy, log) = http_proxy(HttpProxy::Forward { basic: None }, Some(acceptor)).await;
    let trust = wsbolt::tls::client_config_with_ca_pem(cert_pem.as_bytes(), false).unwrap();
    let config = wsbolt::ClientConfig::default()
        .tls(Some(trust))
        .proxy(ProxySetting::Through(
            wsbolt::proxy::Proxy::parse(&format!("https://localhost:{}", proxy.port())).unwrap(),
        ));
    let url = format!("wss://localhost:{}/", target.port());
    let (mut ws, _) = wsbolt::connect_with_config(&url, &config).await.unwrap();
    assert!(matches!(ws.get_ref(), wsbolt::MaybeTlsStream::ClientTlsInTls(_)));
    round_trip(&mut ws, "two layers of TLS").await;
    assert!(log.lock().unwrap()[0].starts_with(&format!("CONNECT localhost:{} ", target.port())));

    // A proxy certificate the client does not trust: a TLS error, as such.
    let config = config.tls(Some(Arc::new((*wsbolt::tls::default_client_config()).clone())));
    let e = wsbolt::connect_with_config(&url, &config).await.unwrap_err();
    assert_eq!(proxy_error(&e).kind(), ProxyErrorKind::Tls, "{e}");
    assert!(!e.is_retryable());
}

/// `ProxySetting::Direct` ignores a proxy named by the environment's
/// snapshot; `Through` ignores `no_proxy`.
#[tokio::test]
async fn explicit_settings_win_over_the_environment() {
    let (target, _) = echo_server().await;
    let t = wsbolt::Target::parse(&format!("ws://{target}/")).unwrap();
    assert!(ProxySetting::Direct.resolve(&t).unwrap().is_none());
    let through = ProxySetting::Through(wsbolt::proxy::Proxy::parse("socks5://127.0.0.1:1").unwrap());
    assert_eq!(
        through.resolve(&t).unwrap().unwrap().to_string(),
        "socks5://127.0.0.1:1"
    );
}
