//! The server handshake over HTTP/2 (RFC 8441): an adapter maps the request
//! onto `Request` with `extended_connect` set; the same `validate` decides.

use bytes::Bytes;
use wsbolt_proto::handshake::server::{accept_head, validate, Request};
use wsbolt_proto::handshake::HandshakeError;

fn h2(method: &str, protocol: &str, fields: &[(&str, &str)]) -> Request {
    Request {
        method: method.into(),
        target: "/chat".into(),
        version: 0,
        headers: fields
            .iter()
            .map(|(n, v)| (n.to_string(), Bytes::copy_from_slice(v.as_bytes())))
            .collect(),
        extended_connect: Some(protocol.into()),
    }
}

const GOOD: &[(&str, &str)] = &[
    ("host", "example.com"),
    ("sec-websocket-version", "13"),
    ("sec-websocket-protocol", "chat, superchat"),
    ("sec-websocket-extensions", "permessage-deflate"),
    ("origin", "https://example.com"),
];

#[test]
fn an_extended_connect_is_valid_without_key_upgrade_or_connection() {
    let req = h2("CONNECT", "websocket", GOOD);
    assert!(req.is_upgrade() && req.is_http2());
    let offer = validate(&req).unwrap();
    assert_eq!(offer.key, None);
    assert_eq!(offer.protocols, ["chat", "superchat"]);
    assert_eq!(offer.extensions, ["permessage-deflate"]);
    assert_eq!(offer.origin.as_deref(), Some("https://example.com"));
    let head = accept_head(
        &offer,
        Some("chat"),
        Some("permessage-deflate"),
        &[("x-a".into(), "1".into())],
    )
    .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["sec-websocket-protocol"], "chat");
    assert_eq!(head.headers()["sec-websocket-extensions"], "permessage-deflate");
    assert_eq!(head.headers()["x-a"], "1");
    // No HTTP/1.1 upgrade fields in an HTTP/2 answer (they are connection-specific there).
    for f in ["upgrade", "connection", "sec-websocket-accept"] {
        assert!(head.headers().get(f).is_none(), "{f}");
    }
}

#[test]
fn bad_extended_connects_get_the_right_status() {
    let cases: &[(Request, HandshakeError)] = &[
        (h2("GET", "websocket", GOOD), HandshakeError::MethodNotAllowed),
        // A plain CONNECT (no :protocol) is not a WebSocket.
        (h2("CONNECT", "", GOOD), HandshakeError::MissingUpgrade),
        (h2("CONNECT", "webtransport", GOOD), HandshakeError::MissingUpgrade),
        (h2("CONNECT", "websocket", &GOOD[1..]), HandshakeError::MissingHost),
        (
            h2("CONNECT", "websocket", &[("host", "a"), ("sec-websocket-version", "8")]),
            HandshakeError::UnsupportedVersion,
        ),
        (
            h2("CONNECT", "websocket", &[("host", "a")]),
            HandshakeError::UnsupportedVersion,
        ),
        (
            h2(
                "CONNECT",
                "websocket",
                &[("host", "a"), ("host", "b"), ("sec-websocket-version", "13")],
            ),
            HandshakeError::DuplicateHeader("Host"),
        ),
    ];
    for (req, want) in cases {
        assert_eq!(validate(req).as_ref().err(), Some(want), "{req:?}");
    }
    assert_eq!(HandshakeError::MethodNotAllowed.status(), 405);
    assert_eq!(HandshakeError::UnsupportedVersion.status(), 426);
}

#[test]
fn an_http1_offer_is_answered_101_with_the_accept_key() {
    let offer = wsbolt_proto::handshake::server::Offer {
        key: Some("dGhlIHNhbXBsZSBub25jZQ==".into()),
        protocols: vec![],
        extensions: vec![],
        origin: None,
    };
    let head = accept_head(&offer, None, None, &[]).unwrap();
    assert_eq!(head.status(), 101);
    assert_eq!(head.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(head.headers()["upgrade"], "websocket");
}
