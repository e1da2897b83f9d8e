//! Refusing a handshake with any response, and a client that reads it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use wsbolt::{Error, PeerAddr, ServerConfig, ServerHandshake};

/// A server whose admission hook refuses without a token (401 with
/// `WWW-Authenticate` and a JSON body) and records the peer address it saw.
#[tokio::test]
async fn a_401_from_the_request_hook_reaches_the_client_with_its_headers_and_body() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    type Seen = Vec<(String, Option<PeerAddr>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let seen2 = seen.clone();
    let on_request: wsbolt::OnRequest = Arc::new(move |req: &http::Request<()>| {
        seen2.lock().unwrap().push((
            format!("{} {}", req.method(), req.uri()),
            req.extensions().get::<PeerAddr>().copied(),
        ));
        if req.uri().query() == Some("token=ok") && req.headers().contains_key("x-app") {
            return Ok(());
        }
        let refusal = http::Response::builder()
            .status(401)
            .header("www-authenticate", "Bearer realm=\"chat\"")
            .header("content-type", "application/json")
            .body(Bytes::from_static(b"{\"error\":\"token required\"}"))
            .unwrap();
        Err(refusal.into())
    });
    let cfg = ServerConfig::default().on_request(Some(on_request));
    tokio::spawn(async move {
        for _ in 0..2 {
            let (tcp, peer) = l.accept().await.unwrap();
            let hs = ServerHandshake::read(tcp, &cfg).await.unwrap().with_peer_addr(peer);
            if let Ok(mut ws) = hs.accept(&cfg).await {
                ws.close(None).await.unwrap();
            }
        }
    });
    let err = wsbolt::connect(&format!("ws://{addr}/chat?room=1")).await.unwrap_err();
    let Error::Refused(r) = &err else { panic!("{err:?}") };
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"chat\"");
    assert_eq!(&r.body()[..], b"{\"error\":\"token required\"}");
    assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert!(!err.is_retryable(), "a 401 is not worth retrying as is");
    assert!(err.to_string().contains("401 Unauthorized"), "{err}");

    let cfg = wsbolt::ClientConfig::default().headers(vec![("X-App".into(), "1".into())]);
    let (ws, _) = wsbolt::connect_with_config(&format!("ws://{addr}/chat?token=ok"), &cfg)
        .await
        .unwrap();
    drop(ws);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "GET /chat?room=1");
    assert_eq!(seen[1].0, "GET /chat?token=ok");
    assert!(seen.iter().all(|(_, p)| p.is_some_and(|p| p.0.ip().is_loopback())));
}

/// A server that sheds load with 429 and `Retry-After` through
/// `ServerHandshake::reject`; the client can act on it.
#[tokio::test]
async fn a_429_with_retry_after_is_retryable_and_says_when() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let cfg = ServerConfig::default();
        let (tcp, _) = l.accept().await.unwrap();
        let hs = ServerHandshake::read(tcp, &cfg).await.unwrap();
        let refusal = http::Response::builder()
            .status(http::StatusCode::TOO_MANY_REQUESTS)
            .header(http::header::RETRY_AFTER, "30")
            .body(Bytes::from_static(b"busy"))
            .unwrap();
        let e = hs.reject(refusal).await;
        assert!(matches!(e, Error::Refused(ref r) if r.status() == 429));
    });
    let err = wsbolt::connect(&format!("ws://{addr}/")).await.unwrap_err();
    let Error::Refused(r) = &err else { panic!("{err:?}") };
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "30");
    assert_eq!(&r.body()[..], b"busy");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}

/// A refusal whose server keeps the connection open without a length: the
/// client still reports it (the body read is bounded in time and size).
#[tokio::test]
async fn a_refusal_without_a_length_is_reported_without_waiting_for_close() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = tcp.read(&mut buf).await;
        tcp.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\npartial")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let t0 = std::time::Instant::now();
    let err = wsbolt::connect(&format!("ws://{addr}/")).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let Error::Refused(r) = &err else { panic!("{err:?}") };
    assert_eq!((r.status().as_u16(), &r.body()[..]), (503, &b"partial"[..]));
    assert!(err.is_retryable());
}

#[test]
fn every_status_is_written_with_its_reason_phrase() {
    for (status, line) in [
        (401, "HTTP/1.1 401 Unauthorized\r\n"),
        (418, "HTTP/1.1 418 I'm a teapot\r\n"),
        (429, "HTTP/1.1 429 Too Many Requests\r\n"),
        (451, "HTTP/1.1 451 Unavailable For Legal Reasons\r\n"),
        (599, "HTTP/1.1 599 \r\n"),
    ] {
        let r = http::Response::builder().status(status).body(Bytes::new()).unwrap();
        let bytes = wsbolt::http1::response_bytes(&r);
        assert!(
            bytes.starts_with(line.as_bytes()),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// A private CA: a server certificate it signed is trusted with
/// `client_config_with_ca_pem`, and refused (as a certificate error, not
/// worth retrying) with the default Mozilla roots.
#[tokio::test]
async fn a_private_ca_is_trusted_without_building_a_rustls_config() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let server_tls =
        wsbolt::tls::server_config_from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    if let Ok(mut ws) = wsbolt::accept(tls).await {
                        let _ = ws.close(None).await;
                    }
                }
            });
        }
    });
    let url = format!("wss://localhost:{port}/");
    let cfg = wsbolt::ClientConfig::default().tls(Some(
        wsbolt::tls::client_config_with_ca_pem(ca.pem().as_bytes(), false).unwrap(),
    ));
    let (ws, _) = wsbolt::connect_with_config(&url, &cfg).await.unwrap();
    drop(ws);
    let err = wsbolt::connect(&url).await.unwrap_err();
    assert!(
        matches!(&err, Error::Tls(t) if t.kind() == wsbolt::TlsErrorKind::Certificate),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(
        wsbolt::tls::client_config_with_ca_pem(b"not pem", false).is_err(),
        "PEM without a certificate is refused"
    );
}
