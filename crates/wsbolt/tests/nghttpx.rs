//! The client's RFC 8441 path against an independent HTTP/2 server: nghttpx
//! (Debian package `nghttp2-proxy`) terminating TLS and HTTP/2 in front of a
//! plain HTTP/1.1 WebSocket server. Ignored by a plain `cargo test` (a fresh
//! machine has no nghttpx); run by `tests/http2/run`, which installs it, as
//! `.ci/run` does.

mod support;

use futures_util::{SinkExt, StreamExt};
use support::echo_server;
use support::peers::nghttpx;
use wsbolt::{ClientConfig, Error, Message};

fn http2_client() -> ClientConfig {
    let mut c = ClientConfig::default()
        .tls(Some(wsbolt::tls::insecure_client_config()))
        .http2(true)
        .proxy(wsbolt::proxy::ProxySetting::Direct);
    c.ws.deflate = Some(wsbolt::DeflateConfig::default());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nghttpx (Debian package nghttp2-proxy); run by tests/http2/run"]
async fn websockets_over_http2_through_nghttpx() {
    let (backend, log) = echo_server().await;
    let front = nghttpx(backend);
    let url = format!("wss://localhost:{}/echo", front.addr.port());
    let (mut a, resp) = wsbolt::connect_with_config(&url, &http2_client()).await.unwrap();
    let (mut b, _) = wsbolt::connect_with_config(&url, &http2_client()).await.unwrap();
    assert!(
        a.get_ref().is_http2() && b.get_ref().is_http2(),
        "nghttpx offers RFC 8441"
    );
    assert_eq!(resp.status, 200);
    // (This backend does not answer deflate offers: none is negotiated.)
    assert_eq!(a.extensions(), None);
    // A megabyte one way and a small message the other, interleaved.
    let big = Message::binary((0..1 << 20).map(|i: u32| (i % 251) as u8).collect::<Vec<u8>>());
    a.send(big.clone()).await.unwrap();
    b.send(Message::text("small")).await.unwrap();
    assert_eq!(b.next().await.unwrap().unwrap(), Message::text("small"));
    assert_eq!(a.next().await.unwrap().unwrap(), big);
    // The backend saw HTTP/1.1 Upgrades made by nghttpx from the CONNECTs.
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for head in &seen {
        assert!(head.contains("upgrade: websocket"), "{head}");
    }
    a.close(None).await.unwrap();
    assert!(a.close_status().unwrap().was_clean());
    b.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nghttpx (Debian package nghttp2-proxy); run by tests/http2/run"]
async fn a_backend_that_is_gone_is_a_refusal_over_http2() {
    let port = support::peers::free_port();
    let front = nghttpx(([127, 0, 0, 1], port).into());
    let url = format!("wss://localhost:{}/echo", front.addr.port());
    match wsbolt::connect_with_config(&url, &http2_client()).await {
        Err(Error::Refused(r)) => assert_eq!(r.status(), 502, "{r:?}"),
        other => panic!("expected 502 from nghttpx, got {other:?}"),
    }
}
