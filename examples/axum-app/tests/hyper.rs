//! `wsbolt::upgrade` behind a bare hyper 1.x server (no axum), over HTTP/1.1
//! and HTTP/2: the same `ServerConfig` policy as `accept` (request hook with
//! a custom refusal, Origin check, subprotocol selection, deflate), and the
//! upgraded WebSocket has its protocol and extensions set and splits.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use wsbolt::{ClientConfig, Error, Message, ServerConfig};

fn policy() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.ws.deflate = Some(wsbolt::DeflateConfig::default());
    config.select_protocol = Some(Arc::new(|offered: &[String]| {
        offered.iter().find(|p| *p == "v2").cloned()
    }));
    config.check_origin = Some(Arc::new(|origin: Option<&str>, _req: &http::Request<()>| {
        origin.is_none_or(|o| o == "https://good.example")
    }));
    config.on_request = Some(Arc::new(|req: &http::Request<()>| {
        if req.headers().contains_key("authorization") {
            return Ok(());
        }
        let refusal = http::Response::builder()
            .status(401)
            .header("www-authenticate", "Bearer")
            .body(Bytes::from_static(b"{\"error\":\"token required\"}"))
            .unwrap();
        Err(refusal.into())
    }));
    config
}

async fn serve(
    req: http::Request<Incoming>,
    config: Arc<ServerConfig>,
) -> Result<http::Response<Full<Bytes>>, hyper::Error> {
    let mut req = req;
    Ok(match wsbolt::upgrade::upgrade(&mut req, &config) {
        Ok((response, pending)) => {
            tokio::spawn(async move {
                let Ok(ws) = pending.await else { return };
                // Split halves: the reader feeds the writer.
                let (mut rx, mut tx) = ws.split();
                while let Some(Ok(msg)) = rx.next().await {
                    if msg.is_data() && tx.send(msg).await.is_err() {
                        break;
                    }
                }
            });
            response
        }
        Err(rejected) => rejected.into_response(),
    })
}

/// A hyper server (HTTP/1.1 and, on TLS, HTTP/2 with RFC 8441) on a free
/// port; `tls` picks TLS.
async fn hyper_server(tls: bool) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = wsbolt_axum_example::self_signed_tls().unwrap();
    let config = Arc::new(policy());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, config) = (acceptor.clone(), config.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| serve(req, config.clone()));
                let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder.http2().enable_connect_protocol();
                if tls {
                    let Ok(stream) = acceptor.accept(tcp).await else { return };
                    let _ = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                } else {
                    let _ = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).await;
                }
            });
        }
    });
    port
}

fn client(http2: bool, headers: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::default()
        .protocols(vec!["v1".into(), "v2".into()])
        .headers(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())
        .tls(Some(wsbolt::tls::insecure_client_config()))
        .http2(http2)
        .proxy(wsbolt::proxy::ProxySetting::Direct);
    c.ws.deflate = Some(wsbolt::DeflateConfig::default());
    c
}

async fn check_policy(url: &str, http2: bool) {
    // Accepted: subprotocol chosen by the policy, deflate negotiated.
    let (mut ws, resp) = wsbolt::connect_with_config(url, &client(http2, &[("authorization", "Bearer t")]))
        .await
        .unwrap();
    assert_eq!(ws.get_ref().is_http2(), http2);
    assert_eq!(resp.status, if http2 { 200 } else { 101 });
    assert_eq!(ws.protocol(), Some("v2"));
    assert!(ws.extensions().unwrap().starts_with("permessage-deflate"));
    let msg = Message::text("policy ".repeat(500));
    ws.send(msg.clone()).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), msg);
    ws.close(None).await.unwrap();
    // The request hook's refusal, with its status, fields and body.
    match wsbolt::connect_with_config(url, &client(http2, &[])).await {
        Err(Error::Refused(r)) => {
            assert_eq!(r.status(), 401);
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            assert_eq!(&r.body()[..], b"{\"error\":\"token required\"}");
        }
        other => panic!("expected 401, got {other:?}"),
    }
    // The Origin check: 403.
    let evil = [("authorization", "Bearer t"), ("origin", "https://evil.example")];
    match wsbolt::connect_with_config(url, &client(http2, &evil)).await {
        Err(Error::Refused(r)) => assert_eq!(r.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_holds_over_http1() {
    let port = hyper_server(false).await;
    check_policy(&format!("ws://127.0.0.1:{port}/any"), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_holds_over_http2() {
    let port = hyper_server(true).await;
    check_policy(&format!("wss://localhost:{port}/any"), true).await;
}
