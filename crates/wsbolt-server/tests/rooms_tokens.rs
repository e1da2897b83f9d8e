//! `/rooms` with tokens (`rooms-token-key`): what is refused at connect
//! (401), what a token's rooms allow, each carrier, expiry and refresh.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbolt::{ClientConfig, MaybeTlsStream, Message, WebSocketStream};
use wsbolt_server::ServeConfig;

mod common;

use common::{start, Running};

type Ws = WebSocketStream<MaybeTlsStream>;

const SECRET: &[u8] = b"thirty-two bytes of test secret!!";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Writes a key file of its own (tests run at once: one must not truncate
/// a file another is reading).
fn key_file(name: &str, bytes: &[u8]) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("wsbolt-tokens-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{n}-{name}"));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Claims for `user` valid `secs` from now, with these room patterns.
fn claims(user: &str, secs: i64, subscribe: &[&str], publish: &[&str]) -> Value {
    json!({
        "sub": user,
        "exp": now() as i64 + secs,
        "rooms": {"subscribe": subscribe, "publish": publish},
    })
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

async fn hs_server(grace: u64) -> Running {
    start(
        ServeConfig::default()
            .rooms_token_key(Some(key_file("secret", SECRET)))
            .rooms_token_grace(grace),
    )
    .await
}

fn with_protocol(cfg: ClientConfig, extra: &[&str]) -> ClientConfig {
    let mut protocols = vec!["wsbolt.rooms.v1".to_string()];
    protocols.extend(extra.iter().map(|s| s.to_string()));
    cfg.protocols(protocols)
}

async fn open_with(url: &str, cfg: ClientConfig) -> Result<(Ws, Value), wsbolt::Error> {
    let (mut ws, resp) = wsbolt::connect_with_config(url, &cfg).await?;
    assert_eq!(
        resp.protocol.as_deref(),
        Some("wsbolt.rooms.v1"),
        "the real subprotocol only"
    );
    let welcome = next(&mut ws).await;
    Ok((ws, welcome))
}

async fn open_bearer(s: &Running, token: &str) -> Result<(Ws, Value), wsbolt::Error> {
    let cfg = ClientConfig::default().headers(vec![("Authorization".into(), format!("Bearer {token}"))]);
    open_with(&s.url("/rooms"), with_protocol(cfg, &[])).await
}

async fn next(ws: &mut Ws) -> Value {
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    }
}

async fn ask(ws: &mut Ws, v: Value) -> Value {
    ws.send(Message::text(v.to_string())).await.unwrap();
    next(ws).await
}

/// The status line and body of an upgrade request with `extra` header lines.
async fn refused(addr: &str, target: &str, extra: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut out)).await;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.to_string(), body.to_string())
}

fn status_of(e: &wsbolt::Error) -> String {
    e.to_string()
}

#[tokio::test]
async fn refusals_at_connect_are_401_with_the_reason() {
    let s = hs_server(10).await;
    let (head, body) = refused(&s.addr, "/rooms", "").await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
    assert!(body.contains("a token is required"), "{body}");

    let expired = hs256(&claims("ann", -5, &["*"], &["*"]));
    let (head, body) = refused(&s.addr, "/rooms", &format!("Authorization: Bearer {expired}\r\n")).await;
    assert!(
        head.starts_with("HTTP/1.1 401") && body.contains("expired"),
        "{head}{body}"
    );

    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("ann", 60, &["*"], &["*"]),
        &EncodingKey::from_secret(b"another secret of thirty-two bytes"),
    )
    .unwrap();
    let (head, body) = refused(&s.addr, "/rooms", &format!("Authorization: Bearer {forged}\r\n")).await;
    assert!(
        head.starts_with("HTTP/1.1 401") && body.contains("signature"),
        "{head}{body}"
    );

    // alg "none": header and claims, no signature.
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims("ann", 60, &["*"], &["*"]))
    );
    let (head, _) = refused(&s.addr, "/rooms", &format!("Authorization: Bearer {none}\r\n")).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    let no_sub = hs256(&json!({"exp": now() + 60}));
    let (head, body) = refused(&s.addr, "/rooms", &format!("Authorization: Bearer {no_sub}\r\n")).await;
    assert!(head.starts_with("HTTP/1.1 401") && body.contains("sub"), "{head}{body}");

    // Other routes take no tokens.
    assert!(wsbolt::connect(&s.url("/echo")).await.is_ok());
}

#[tokio::test]
async fn rs256_and_es256_keys_and_hs256_signed_with_the_public_key() {
    let keys = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    let public = std::fs::read(keys.join("rsa-public.pem")).unwrap();
    let private = std::fs::read(keys.join("rsa-private.pem")).unwrap();
    let s = start(ServeConfig::default().rooms_token_key(Some(keys.join("rsa-public.pem")))).await;
    let c = claims("rita", 60, &["*"], &["*"]);
    let rs = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &c,
        &EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    let (_, welcome) = open_bearer(&s, &rs).await.unwrap();
    assert_eq!(welcome["user"], "rita");
    // The classic confusion: HS256 "signed" with the public key's bytes.
    let confused =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &c, &EncodingKey::from_secret(&public)).unwrap();
    let (head, body) = refused(&s.addr, "/rooms", &format!("Authorization: Bearer {confused}\r\n")).await;
    assert!(
        head.starts_with("HTTP/1.1 401") && body.contains("RS256"),
        "{head}{body}"
    );

    let pair = rcgen::KeyPair::generate().unwrap();
    let es_key = key_file("es256.pem", pair.public_key_pem().as_bytes());
    let s = start(ServeConfig::default().rooms_token_key(Some(es_key))).await;
    let es = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims("eve", 60, &["*"], &["*"]),
        &EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let (_, welcome) = open_bearer(&s, &es).await.unwrap();
    assert_eq!(welcome["user"], "eve");
    assert!(open_bearer(&s, &rs).await.is_err(), "an RS256 token on an ES256 server");
}

#[tokio::test]
async fn each_carrier_brings_the_token() {
    let s = hs_server(10).await;
    let token = hs256(&claims("ann", 60, &["*"], &["*"]));
    let plain = || with_protocol(ClientConfig::default(), &[]);
    let carriers = [
        ("bearer", open_bearer(&s, &token).await),
        (
            "subprotocol",
            open_with(
                &s.url("/rooms"),
                with_protocol(ClientConfig::default(), &[&format!("bearer.{token}")]),
            )
            .await,
        ),
        (
            "cookie",
            open_with(
                &s.url("/rooms"),
                plain().headers(vec![("Cookie".into(), format!("theme=dark; wsbolt_token={token}"))]),
            )
            .await,
        ),
        (
            "query",
            open_with(&s.url(&format!("/rooms?token={token}")), plain()).await,
        ),
    ];
    for (name, opened) in carriers {
        let (_, welcome) = opened.unwrap_or_else(|e| panic!("{name}: {}", status_of(&e)));
        assert_eq!(welcome["user"], "ann", "{name}");
    }
}

#[tokio::test]
async fn a_token_s_rooms_bound_what_its_user_reads_and_writes() {
    let s = hs_server(10).await;
    let ann = hs256(&claims("ann", 60, &["news", "chat.*"], &["chat.*"]));
    let boss = hs256(&claims("boss", 60, &["*"], &["*"]));
    let (mut a, _) = open_bearer(&s, &ann).await.unwrap();
    let (mut b, _) = open_bearer(&s, &boss).await.unwrap();
    for (req, what) in [
        (
            json!({"type": "subscribe", "id": 1, "room": "secret"}),
            "subscribing to",
        ),
        (json!({"type": "history", "id": 2, "room": "secret"}), "reading"),
        (json!({"type": "presence", "id": 3, "room": "secret"}), "reading"),
        (
            json!({"type": "publish", "id": 4, "room": "news", "data": 1}),
            "publishing to",
        ),
    ] {
        let e = ask(&mut a, req.clone()).await;
        assert_eq!(
            (&e["type"], &e["code"], &e["id"]),
            (&json!("error"), &json!("forbidden"), &req["id"])
        );
        assert!(e["message"].as_str().unwrap().contains(what), "{e}");
    }
    assert_eq!(
        ask(&mut a, json!({"type": "subscribe", "room": "chat.1"})).await["type"],
        "subscribed"
    );
    assert_eq!(
        ask(&mut a, json!({"type": "subscribe", "room": "news"})).await["type"],
        "subscribed"
    );
    // Publications to a room ann may not read never reach her.
    ask(&mut b, json!({"type": "subscribe", "room": "secret"})).await;
    ask(
        &mut b,
        json!({"type": "publish", "room": "secret", "data": "classified"}),
    )
    .await;
    let published = ask(
        &mut a,
        json!({"type": "publish", "id": 9, "room": "chat.1", "data": "hi"}),
    )
    .await;
    assert_eq!(published["type"], "published", "{published}");
    let p = next(&mut a).await;
    assert_eq!((&p["room"], &p["user"]), (&json!("chat.1"), &json!("ann")));
}

#[tokio::test]
async fn refresh_keeps_the_connection_and_no_refresh_closes_4001() {
    let s = hs_server(1).await;
    // Refreshed before it expires: the connection outlives the first token.
    let (mut a, _) = open_bearer(&s, &hs256(&claims("ann", 2, &["*"], &["*"])))
        .await
        .unwrap();
    ask(&mut a, json!({"type": "subscribe", "room": "chat.1"})).await;
    ask(&mut a, json!({"type": "subscribe", "room": "news"})).await;
    let narrower = hs256(&claims("ann", 60, &["chat.*"], &[]));
    let r = ask(&mut a, json!({"type": "refresh", "id": 5, "token": narrower})).await;
    assert_eq!((&r["type"], &r["id"]), (&json!("refreshed"), &json!(5)), "{r}");
    let dropped = next(&mut a).await;
    assert_eq!(
        (&dropped["type"], &dropped["room"]),
        (&json!("unsubscribed"), &json!("news"))
    );
    let other_user = hs256(&claims("bob", 60, &["*"], &["*"]));
    let e = ask(&mut a, json!({"type": "refresh", "token": other_user})).await;
    assert_eq!(e["code"], "bad_token");
    let e = ask(&mut a, json!({"type": "refresh", "token": "junk"})).await;
    assert_eq!(e["code"], "bad_token");
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    assert_eq!(
        ask(&mut a, json!({"type": "presence", "room": "chat.1"})).await["type"],
        "presence"
    );
    let e = ask(&mut a, json!({"type": "publish", "room": "chat.1", "data": 1})).await;
    assert_eq!(e["code"], "forbidden", "the new token allows no publishing");

    // Not refreshed: told, then closed with 4001 after the grace period.
    let (mut b, _) = open_bearer(&s, &hs256(&claims("bob", 1, &["*"], &["*"])))
        .await
        .unwrap();
    let told = tokio::time::Instant::now();
    let expired = loop {
        let v = next(&mut b).await;
        if v["type"] == "expired" {
            break v;
        }
    };
    assert_eq!(expired["grace"], 1);
    let e = ask(&mut b, json!({"type": "subscribe", "room": "x"})).await;
    assert_eq!(e["code"], "token_expired");
    let close = match tokio::time::timeout(Duration::from_secs(5), b.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => frame,
        other => panic!("{other:?}"),
    };
    assert_eq!(close.code().as_u16(), 4001);
    assert!(told.elapsed() >= Duration::from_millis(900), "{:?}", told.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_client_sends_its_token_and_refreshes_it() {
    use wsbolt::rooms::{Event, RoomsClient};
    let s = hs_server(10).await;
    let first = hs256(&claims("ann", 2, &["team.*"], &["team.*"]));
    let mut c = RoomsClient::with_token(s.url("/rooms"), ClientConfig::default(), &first);
    async fn next(c: &mut RoomsClient) -> Event {
        tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .unwrap()
            .unwrap()
    }
    match next(&mut c).await {
        Event::Connected { user, .. } => assert_eq!(user.as_deref(), Some("ann")),
        other => panic!("{other:?}"),
    }
    c.subscribe("team.a", false).await.unwrap();
    assert_eq!(c.subscribe("secret", false).await.unwrap_err().code(), "forbidden");
    assert_eq!(c.publish("secret", &json!(1)).await.unwrap_err().code(), "forbidden");
    // The token runs out; a new one keeps the connection.
    match next(&mut c).await {
        Event::Expired { grace } => assert_eq!(grace, 10),
        other => panic!("{other:?}"),
    }
    let second = hs256(&claims("ann", 3600, &["team.*"], &["team.*"]));
    assert!(c.refresh(&second).await.unwrap() > now() + 3000);
    c.publish("team.a", &json!("after")).await.unwrap();
    match next(&mut c).await {
        Event::Publication(p) => assert_eq!((p.data, p.user.as_deref()), (json!("after"), Some("ann"))),
        other => panic!("{other:?}"),
    }
}
