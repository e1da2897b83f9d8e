//! Following redirects (opt-in), and what is refused on the way.

mod support;

use support::{echo_server, redirect_server, round_trip};
use wsbolt::{ClientConfig, Error, RedirectErrorKind};

fn following(max: usize) -> ClientConfig {
    ClientConfig::default()
        .max_redirects(max)
        .headers(vec![
            ("Authorization".into(), "Bearer t0ken".into()),
            ("Cookie".into(), "session=1".into()),
            ("X-Trace".into(), "kept".into()),
        ])
        .proxy(wsbolt::proxy::ProxySetting::Direct)
}

fn redirect_kind(e: &Error) -> &RedirectErrorKind {
    match e {
        Error::Redirect(r) => r.kind(),
        other => panic!("not a redirect error: {other:?}"),
    }
}

#[tokio::test]
async fn not_followed_by_default_the_redirect_is_the_refusal() {
    let (target, _) = echo_server().await;
    let (r, _) = redirect_server(302, move |_| Some(format!("ws://{target}/echo"))).await;
    let e = wsbolt::connect(&format!("ws://{r}/")).await.unwrap_err();
    assert_eq!(e.status(), Some(http::StatusCode::FOUND));
    assert_eq!(e.to_string(), "handshake refused: HTTP 302 Found");
}

#[tokio::test]
async fn every_redirect_status_is_followed_relative_locations_included() {
    let (target, log) = echo_server().await;
    for status in [301, 302, 303, 307, 308] {
        // Absolute to another origin, as http://: taken as ws://.
        let (r, _) = redirect_server(status, move |_| Some(format!("http://{target}/echo"))).await;
        let (mut ws, _) = wsbolt::connect_with_config(&format!("ws://{r}/start"), &following(10))
            .await
            .unwrap();
        round_trip(&mut ws, &format!("after {status}")).await;
    }
    // Credentials meant for the first origin were not sent to the second.
    for head in log.lock().unwrap().iter() {
        assert!(!head.contains("authorization") && !head.contains("cookie"), "{head}");
        assert!(head.contains("x-trace: kept"), "{head}");
    }

    // Relative locations, on one origin: /a → b → /done (a WebSocket-less
    // server answers every path with a redirect, so the chain ends at a
    // server that accepts only by leaving the origin).
    let (target, _) = echo_server().await;
    let (r, log) = redirect_server(307, move |path| {
        Some(match path {
            "/a" => "b".to_string(),
            "/b" => "/c?x=1".to_string(),
            _ => format!("ws://{target}/echo"),
        })
    })
    .await;
    let (mut ws, _) = wsbolt::connect_with_config(&format!("ws://{r}/a"), &following(10))
        .await
        .unwrap();
    round_trip(&mut ws, "three hops").await;
    let paths: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    assert_eq!(paths, ["/a", "/b", "/c?x=1"]);
    // Same origin: the credentials went along.
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .all(|h| h.contains("Authorization: Bearer t0ken")));
}

#[tokio::test]
async fn loops_too_many_hops_downgrades_and_bad_locations_are_errors() {
    // A loop: /x → /y → /x.
    let (r, _) = redirect_server(302, |path| Some(if path == "/x" { "/y".into() } else { "/x".into() })).await;
    let e = wsbolt::connect_with_config(&format!("ws://{r}/x"), &following(10))
        .await
        .unwrap_err();
    assert_eq!(redirect_kind(&e), &RedirectErrorKind::Loop);
    assert!(e.to_string().starts_with("redirect loop: ws://"), "{e}");
    assert!(!e.is_retryable());

    // Always somewhere new: stops after the limit.
    let (r, log) = redirect_server(302, |path| Some(format!("{path}x"))).await;
    let e = wsbolt::connect_with_config(&format!("ws://{r}/"), &following(3))
        .await
        .unwrap_err();
    assert_eq!(redirect_kind(&e), &RedirectErrorKind::TooMany);
    assert_eq!(log.lock().unwrap().len(), 4, "the request and three redirects");
    if let Error::Redirect(r) = &e {
        assert_eq!(r.chain().len(), 4);
    }

    // No Location; a Location that is not a WebSocket URL.
    let (r, _) = redirect_server(301, |_| None).await;
    let e = wsbolt::connect_with_config(&format!("ws://{r}/"), &following(10))
        .await
        .unwrap_err();
    assert_eq!(redirect_kind(&e), &RedirectErrorKind::BadLocation);
    let (r, _) = redirect_server(301, |_| Some("ftp://files/".into())).await;
    let e = wsbolt::connect_with_config(&format!("ws://{r}/"), &following(10))
        .await
        .unwrap_err();
    assert_eq!(redirect_kind(&e), &RedirectErrorKind::BadLocation);
}

/// wss → ws is refused before anything is sent in clear: the redirect
/// comes from a TLS server, and the plain-text target never sees a request.
#[tokio::test]
async fn a_wss_to_ws_downgrade_is_refused() {
    use tokio::io::AsyncWriteExt;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let server_tls =
        wsbolt::tls::server_config_from_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);
    let (target, log) = echo_server().await;
    let (l, addr) = support::bind().await;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            if support::read_head(&mut tls).await.is_some() {
                let answer = format!("HTTP/1.1 301 Moved\r\nLocation: ws://{target}/echo\r\nContent-Length: 0\r\n\r\n");
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        }
    });
    let config = following(10).tls(Some(
        wsbolt::tls::client_config_with_ca_pem(cert.cert.pem().as_bytes(), false).unwrap(),
    ));
    let e = wsbolt::connect_with_config(&format!("wss://localhost:{}/", addr.port()), &config)
        .await
        .unwrap_err();
    assert_eq!(redirect_kind(&e), &RedirectErrorKind::Downgrade, "{e}");
    assert!(log.lock().unwrap().is_empty(), "nothing went to the ws:// target");
}
