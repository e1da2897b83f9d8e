//! `RoomsService` in a hyper server of the test's own: the rooms protocol,
//! the Origin policy and tokens, as `wsbolt serve` has them at `/rooms`.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsbolt::rooms::{Event, RoomsClient};
use wsbolt::ClientConfig;
use wsbolt_server::{RoomsService, ServeConfig};

/// A hyper HTTP/1.1 server on a free port whose every request goes to
/// `service`; its address.
async fn hyper_app(service: RoomsService) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let handle = service_fn(move |mut req: http::Request<Incoming>| {
                    let answer = service.upgrade(&mut req);
                    async move { Ok::<_, Infallible>(answer) }
                });
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), handle);
                let _ = conn.with_upgrades().await;
            });
        }
    });
    addr
}

/// The status line a raw upgrade request gets.
async fn status(addr: &str, extra: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /rooms HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hyper_app_serves_the_rooms_protocol() {
    let service = RoomsService::new(&ServeConfig::default()).unwrap();
    let addr = hyper_app(service.clone()).await;
    let url = format!("ws://{addr}/rooms");
    let mut a = RoomsClient::new(&url, ClientConfig::default());
    let b = RoomsClient::new(&url, ClientConfig::default());
    a.subscribe("lobby", false).await.unwrap();
    let at = b.publish("lobby", &json!({"hi": 1})).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), a.next())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Publication(p) => {
                assert_eq!((p.position, p.data), (at, json!({"hi": 1})));
                break;
            }
            Event::Connected { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(service.connections(), 2);
    let mut gauges = String::new();
    service.room_log().write_metrics(&mut gauges);
    assert!(gauges.contains("wsbolt_rooms_history_publications 1"), "{gauges}");
    // A foreign page is refused as by wsbolt serve.
    assert_eq!(
        status(&addr, "Origin: https://elsewhere.example\r\n").await,
        "HTTP/1.1 403 Forbidden"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_key_it_answers_401_without_a_token() {
    let dir = std::env::temp_dir().join(format!("wsbolt-service-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("secret");
    std::fs::write(&key, b"thirty-two bytes of test secret!!").unwrap();
    let service = RoomsService::new(&ServeConfig::default().rooms_token_key(Some(key))).unwrap();
    let addr = hyper_app(service).await;
    assert_eq!(status(&addr, "").await, "HTTP/1.1 401 Unauthorized");
    assert_eq!(
        status(&addr, "Authorization: Bearer x.y.z\r\n").await,
        "HTTP/1.1 401 Unauthorized"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_with_1001_and_refuses_new_requests() {
    let service = RoomsService::new(&ServeConfig::default()).unwrap();
    let addr = hyper_app(service.clone()).await;
    let cfg = ClientConfig::default().protocols(vec!["wsbolt.rooms.v1".into()]);
    let (mut ws, _) = wsbolt::connect_with_config(&format!("ws://{addr}/rooms"), &cfg)
        .await
        .unwrap();
    match ws.next().await.unwrap().unwrap() {
        wsbolt::Message::Text(t) => assert!(t.as_str().contains(r#""type":"welcome""#), "{t}"),
        other => panic!("{other:?}"),
    }
    // The client reads on, so that it answers the server's Close.
    let client = tokio::spawn(async move {
        while let Some(Ok(_)) = ws.next().await {}
        ws.close_status().map(|c| c.code().as_u16())
    });
    assert_eq!(
        service.shutdown(Duration::from_secs(5)).await,
        0,
        "every connection ended"
    );
    let code = tokio::time::timeout(Duration::from_secs(5), client)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, Some(1001));
    assert_eq!(status(&addr, "").await, "HTTP/1.1 503 Service Unavailable");
}
