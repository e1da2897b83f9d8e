//! Client handshake: the request bytes, and every way a response is refused
//! (RFC 6455 §4.1, WHATWG "establish a WebSocket connection").

use wsbolt_proto::handshake::client::{ClientHandshake, ClientRequest};
use wsbolt_proto::handshake::HandshakeError;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn req(protocols: &[&str], extensions: Option<(&str, &[&str])>) -> ClientRequest {
    ClientRequest {
        host: "example.com:8080".into(),
        target: "/chat?x=1".into(),
        protocols: protocols.iter().map(|s| s.to_string()).collect(),
        extensions: extensions.map(|(o, n)| (o.to_string(), n.iter().map(|s| s.to_string()).collect())),
        headers: vec![("Origin".into(), "http://example.com".into())],
        key: KEY.into(),
    }
}

fn response(lines: &[&str]) -> Vec<u8> {
    let mut r = String::new();
    for l in lines {
        r.push_str(l);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn good(extra: &[&str]) -> Vec<u8> {
    let accept = format!("Sec-WebSocket-Accept: {ACCEPT}");
    let mut lines = vec![
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        accept.as_str(),
    ];
    lines.extend_from_slice(extra);
    response(&lines)
}

fn run(r: &ClientRequest, bytes: &[u8]) -> Result<wsbolt_proto::handshake::client::Response, HandshakeError> {
    let (mut hs, _) = ClientHandshake::new(r);
    hs.feed(bytes).map(|o| o.expect("complete").0)
}

#[test]
fn request_bytes_are_exact() {
    let (_, bytes) = ClientHandshake::new(&req(
        &["chat", "superchat"],
        Some(("permessage-deflate", &["permessage-deflate"])),
    ));
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "GET /chat?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\
Origin: http://example.com\r\n\r\n"
    );
}

#[test]
fn generated_keys_are_16_random_bytes() {
    use base64::Engine;
    let a = wsbolt_proto::handshake::generate_key();
    let b = wsbolt_proto::handshake::generate_key();
    assert_ne!(a, b);
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(&a).unwrap().len(), 16);
}

#[test]
fn accepts_a_correct_answer_and_keeps_following_bytes() {
    let mut bytes = good(&["Sec-WebSocket-Protocol: superchat"]);
    bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
    let (mut hs, _) = ClientHandshake::new(&req(&["chat", "superchat"], None));
    let (resp, rest) = hs.feed(&bytes).unwrap().unwrap();
    assert_eq!(resp.protocol.as_deref(), Some("superchat"));
    assert_eq!(&rest[..], &[0x81, 0x02, b'h', b'i']);
}

#[test]
fn a_server_may_choose_no_subprotocol() {
    assert_eq!(run(&req(&["chat"], None), &good(&[])).unwrap().protocol, None);
}

#[test]
fn refusals() {
    let r = req(&["chat"], Some(("permessage-deflate", &["permessage-deflate"])));
    let accept = format!("Sec-WebSocket-Accept: {ACCEPT}");
    let cases: Vec<(Vec<u8>, HandshakeError)> = vec![
        (
            response(&["HTTP/1.1 200 OK", "Content-Length: 0"]),
            HandshakeError::UnexpectedStatus(200),
        ),
        (
            response(&["HTTP/1.1 403 Forbidden"]),
            HandshakeError::UnexpectedStatus(403),
        ),
        (
            response(&["HTTP/1.1 101 Switching Protocols", "Connection: Upgrade", &accept]),
            HandshakeError::MissingUpgrade,
        ),
        (
            response(&[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: h2c",
                "Connection: Upgrade",
                &accept,
            ]),
            HandshakeError::MissingUpgrade,
        ),
        (
            good(&["Upgrade: websocket"]),
            HandshakeError::DuplicateHeader("Upgrade"),
        ),
        (
            response(&["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", &accept]),
            HandshakeError::MissingConnectionUpgrade,
        ),
        (
            response(&[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: Upgrade",
            ]),
            HandshakeError::BadAccept,
        ),
        (
            response(&[
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo",
            ]),
            HandshakeError::BadAccept,
        ),
        (
            good(&[&accept]),
            HandshakeError::DuplicateHeader("Sec-WebSocket-Accept"),
        ),
        (
            good(&["Sec-WebSocket-Protocol: superchat"]),
            HandshakeError::UnrequestedProtocol("superchat".into()),
        ),
        (
            good(&["Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: chat"]),
            HandshakeError::DuplicateHeader("Sec-WebSocket-Protocol"),
        ),
        (
            good(&["Sec-WebSocket-Extensions: x-webkit-deflate-frame"]),
            HandshakeError::UnofferedExtension("x-webkit-deflate-frame".into()),
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            run(&r, &bytes).unwrap_err(),
            want,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    // No protocol requested, one answered.
    assert_eq!(
        run(&req(&[], None), &good(&["Sec-WebSocket-Protocol: chat"])).unwrap_err(),
        HandshakeError::UnrequestedProtocol("chat".into())
    );
    // No extension offered, one answered.
    assert_eq!(
        run(
            &req(&[], None),
            &good(&["Sec-WebSocket-Extensions: permessage-deflate"])
        )
        .unwrap_err(),
        HandshakeError::UnofferedExtension("permessage-deflate".into())
    );
}

#[test]
fn garbage_instead_of_a_status_line_is_refused_early() {
    let (mut hs, _) = ClientHandshake::new(&req(&[], None));
    assert!(matches!(
        hs.feed(b"SSH-2.0-OpenSSH_9.2\r\n"),
        Err(HandshakeError::Malformed(_))
    ));
}
