//! The proxy named by the process's environment, used by default: by the
//! browser-style `WebSocket` as by `connect`. The tests here set the
//! process's environment, so they take turns (`ENV`), and nothing else
//! lives in this test binary.

mod support;

use support::{echo_server, http_proxy, socks_server, HttpProxy, Socks};
use wsbolt::websocket::{Event, MessageData, WebSocket};

/// Held by each test while it owns the process's environment.
static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Removes every proxy variable.
fn clear_proxy_env() {
    for k in wsbolt::proxy::VARIABLES {
        std::env::remove_var(k);
        std::env::remove_var(k.to_ascii_uppercase());
    }
}

async fn echo_once(url: &str) -> String {
    let mut ws = WebSocket::new(url).unwrap();
    loop {
        match ws.next_event().await.unwrap() {
            Event::Open => ws.send("via the environment").unwrap(),
            Event::Message(m) => {
                let MessageData::Text(t) = m.data else { panic!("binary") };
                ws.close(Some(1000), None).unwrap();
                return t;
            }
            Event::Error(e) => panic!("{url}: {e}"),
            Event::Close(c) => panic!("{url}: closed {c:?}"),
        }
    }
}

#[tokio::test]
async fn the_websocket_api_goes_through_the_environment_proxy_unless_no_proxy_says_otherwise() {
    let (target, targets) = echo_server().await;
    let (http, http_log) = http_proxy(HttpProxy::Forward { basic: None }, None).await;
    let (socks, socks_log) = socks_server(Socks::Forward { credentials: None }).await;
    let _env = ENV.lock().await;
    clear_proxy_env();

    // http_proxy serves ws://.
    std::env::set_var("http_proxy", format!("http://{http}"));
    assert_eq!(echo_once(&format!("ws://{target}/echo")).await, "via the environment");
    assert_eq!(http_log.lock().unwrap().len(), 1);
    assert!(http_log.lock().unwrap()[0].starts_with(&format!("CONNECT {target} ")));

    // ws_proxy comes before http_proxy.
    std::env::set_var("ws_proxy", format!("socks5h://{socks}"));
    assert_eq!(
        echo_once(&format!("ws://localhost:{}/echo", target.port())).await,
        "via the environment"
    );
    assert_eq!(socks_log.lock().unwrap().len(), 1);
    assert_eq!(http_log.lock().unwrap().len(), 1);

    // no_proxy: straight to the target.
    std::env::set_var("NO_PROXY", format!("127.0.0.0/8:{}", target.port()));
    assert_eq!(echo_once(&format!("ws://{target}/echo")).await, "via the environment");
    assert_eq!(socks_log.lock().unwrap().len() + http_log.lock().unwrap().len(), 2);
    assert_eq!(targets.lock().unwrap().len(), 3, "three connections reached the target");

    // A proxy URL in the environment that cannot be used fails the
    // connection (an error event) rather than silently going direct.
    std::env::remove_var("NO_PROXY");
    std::env::set_var("ws_proxy", "gopher://nowhere");
    let mut ws = WebSocket::new(&format!("ws://{target}/echo")).unwrap();
    let Some(Event::Error(e)) = ws.next_event().await else {
        panic!("expected an error event")
    };
    assert!(e.to_string().contains("gopher"), "{e}");
    assert_eq!(targets.lock().unwrap().len(), 3);
    clear_proxy_env();
}

/// The same through a real proxy: tinyproxy named by `HTTP_PROXY` (upper
/// case), for the browser-style `WebSocket`. Ignored by a plain `cargo
/// test` (tinyproxy is a Debian package); `tests/proxy/run` runs it.
#[tokio::test]
#[ignore = "needs tinyproxy (Debian package); run by tests/proxy/run"]
async fn the_websocket_api_goes_through_tinyproxy_named_by_the_environment() {
    let (target, targets) = echo_server().await;
    let proxy = support::peers::tinyproxy(None);
    let _env = ENV.lock().await;
    clear_proxy_env();
    std::env::set_var("HTTP_PROXY", format!("http://{}", proxy.addr));
    assert_eq!(echo_once(&format!("ws://{target}/echo")).await, "via the environment");
    assert_eq!(targets.lock().unwrap().len(), 1);
    drop(proxy);
    // With the proxy gone, the same environment fails the connection: it
    // went through the proxy, not around it.
    let mut ws = WebSocket::new(&format!("ws://{target}/echo")).unwrap();
    let Some(Event::Error(e)) = ws.next_event().await else {
        panic!("expected an error event")
    };
    assert!(e.to_string().contains("unreachable"), "{e}");
    assert_eq!(targets.lock().unwrap().len(), 1);
    clear_proxy_env();
}
