//! Server handshake: given these request bytes, exactly this outcome and
//! these response bytes (RFC 6455 §4.2).

use wsbolt_proto::handshake::server::{accept_response, validate, RequestReader};
use wsbolt_proto::handshake::{HandshakeError, HeadLimits};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn request(lines: &[&str]) -> Vec<u8> {
    let mut r = String::new();
    for l in lines {
        r.push_str(l);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn good_lines() -> Vec<String> {
    vec![
        "GET /chat HTTP/1.1".into(),
        "Host: server.example.com".into(),
        "Upgrade: websocket".into(),
        "Connection: Upgrade".into(),
        format!("Sec-WebSocket-Key: {KEY}"),
        "Sec-WebSocket-Version: 13".into(),
    ]
}

/// Feeds the request, validates it, and returns the response bytes.
fn outcome(bytes: &[u8]) -> Result<Vec<u8>, (HandshakeError, Vec<u8>)> {
    let mut r = RequestReader::new(HeadLimits::REQUEST);
    let res = r.feed(bytes).and_then(|o| {
        let (req, _) = o.expect("complete head");
        validate(&req)
    });
    match res {
        Ok(offer) => Ok(accept_response(
            offer.key.as_deref().unwrap_or_default(),
            None,
            None,
            &[],
        )),
        Err(e) => {
            let resp = reject_response(&e);
            Err((e, resp))
        }
    }
}

fn with(lines: Vec<String>) -> Vec<u8> {
    request(&lines.iter().map(String::as_str).collect::<Vec<_>>())
}

fn without(name: &str) -> Vec<u8> {
    with(good_lines().into_iter().filter(|l| !l.starts_with(name)).collect())
}

fn plus(line: &str) -> Vec<u8> {
    let mut l = good_lines();
    l.push(line.into());
    with(l)
}

fn replaced(name: &str, line: &str) -> Vec<u8> {
    with(
        good_lines()
            .into_iter()
            .map(|l| if l.starts_with(name) { line.to_string() } else { l })
            .collect(),
    )
}

/// The refusal as text: status line, fields (the `http` crate's lower-case
/// names), body. Writing the bytes for the wire (with `Content-Length` and
/// `Connection: close`) is the I/O layer's job and is tested there.
fn reject_response(e: &HandshakeError) -> Vec<u8> {
    let r = e.response();
    let mut t = format!(
        "HTTP/1.1 {} {}\r\n",
        r.status().as_str(),
        r.status().canonical_reason().unwrap()
    );
    for (n, v) in r.headers() {
        t.push_str(&format!("{n}: {}\r\n", v.to_str().unwrap()));
    }
    t.push_str("\r\n");
    let mut b = t.into_bytes();
    b.extend_from_slice(r.body());
    b
}

fn status_line(resp: &[u8]) -> &str {
    let s = std::str::from_utf8(resp).unwrap();
    s.split("\r\n").next().unwrap()
}

fn expect_status(bytes: Vec<u8>, err: HandshakeError, line: &str) -> Vec<u8> {
    let (e, resp) = outcome(&bytes).expect_err("must be refused");
    assert_eq!(e, err);
    assert_eq!(status_line(&resp), line);
    resp
}

#[test]
fn rfc_example_is_accepted_byte_exact() {
    let resp = outcome(&with(good_lines())).unwrap();
    assert_eq!(
        resp,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
}

#[test]
fn case_and_lists_are_tolerated() {
    let lines = vec![
        "GET / HTTP/1.1".to_string(),
        "host: a".into(),
        "upgrade: WebSocket".into(),
        "connection: keep-alive, upgrade".into(),
        format!("sec-websocket-key: {KEY}"),
        "sec-websocket-version: 13".into(),
    ];
    assert!(outcome(&with(lines)).is_ok());
}

#[test]
fn status_400_for_each_missing_or_bad_field() {
    expect_status(
        without("Sec-WebSocket-Key"),
        HandshakeError::MissingKey,
        "HTTP/1.1 400 Bad Request",
    );
    expect_status(
        plus("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="),
        HandshakeError::DuplicateHeader("Sec-WebSocket-Key"),
        "HTTP/1.1 400 Bad Request",
    );
    // 15 bytes, 17 bytes, and not base64 at all.
    for bad in ["AQIDBAUGBwgJCgsMDQ4P", "AQIDBAUGBwgJCgsMDQ4PEBE=", "not base64!"] {
        expect_status(
            replaced("Sec-WebSocket-Key", &format!("Sec-WebSocket-Key: {bad}")),
            HandshakeError::InvalidKey,
            "HTTP/1.1 400 Bad Request",
        );
    }
    expect_status(
        without("Upgrade"),
        HandshakeError::MissingUpgrade,
        "HTTP/1.1 400 Bad Request",
    );
    expect_status(
        replaced("Upgrade", "Upgrade: h2c"),
        HandshakeError::MissingUpgrade,
        "HTTP/1.1 400 Bad Request",
    );
    expect_status(
        without("Connection"),
        HandshakeError::MissingConnectionUpgrade,
        "HTTP/1.1 400 Bad Request",
    );
    expect_status(
        replaced("Connection", "Connection: keep-alive"),
        HandshakeError::MissingConnectionUpgrade,
        "HTTP/1.1 400 Bad Request",
    );
    expect_status(without("Host"), HandshakeError::MissingHost, "HTTP/1.1 400 Bad Request");
    expect_status(
        replaced("GET", "GET /chat HTTP/1.0"),
        HandshakeError::HttpVersion,
        "HTTP/1.1 400 Bad Request",
    );
}

#[test]
fn status_400_for_garbage_before_the_head_completes() {
    let mut r = RequestReader::default();
    let err = r.feed(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n").unwrap_err();
    assert!(matches!(err, HandshakeError::Malformed(_)), "{err:?}");
    assert_eq!(status_line(&reject_response(&err)), "HTTP/1.1 400 Bad Request");
}

#[test]
fn tls_or_binary_bytes_are_refused_at_the_first_byte() {
    // A TLS ClientHello starts with 0x16: no line ending is needed to refuse it.
    for garbage in [&[0x16u8, 0x03, 0x01][..], &[0x00], b" GET", b"GETTTTTTTTTTTTTTTTTTTT"] {
        let mut r = RequestReader::default();
        let err = r.feed(garbage).unwrap_err();
        assert!(matches!(err, HandshakeError::Malformed(_)), "{garbage:?}");
    }
    // A method trickled byte by byte is fine.
    let mut r = RequestReader::default();
    for b in b"GET / HTTP/1.1\r\nHost: a\r\n" {
        assert!(r.feed(std::slice::from_ref(b)).unwrap().is_none());
    }
}

#[test]
fn status_405_with_allow_for_other_methods() {
    for m in ["POST", "PUT", "HEAD", "OPTIONS"] {
        let resp = expect_status(
            replaced("GET", &format!("{m} /chat HTTP/1.1")),
            HandshakeError::MethodNotAllowed,
            "HTTP/1.1 405 Method Not Allowed",
        );
        assert!(String::from_utf8(resp).unwrap().contains("\r\nallow: GET\r\n"));
    }
}

#[test]
fn status_426_with_version_for_other_versions() {
    for v in [
        "Sec-WebSocket-Version: 8",
        "Sec-WebSocket-Version: 14",
        "Sec-WebSocket-Version: 13, 8",
    ] {
        let resp = expect_status(
            replaced("Sec-WebSocket-Version", v),
            HandshakeError::UnsupportedVersion,
            "HTTP/1.1 426 Upgrade Required",
        );
        assert!(String::from_utf8(resp)
            .unwrap()
            .contains("\r\nsec-websocket-version: 13\r\n"));
    }
    expect_status(
        without("Sec-WebSocket-Version"),
        HandshakeError::UnsupportedVersion,
        "HTTP/1.1 426 Upgrade Required",
    );
}

#[test]
fn status_431_for_too_many_or_too_large_headers() {
    let mut lines = good_lines();
    for i in 0..100 {
        lines.push(format!("X-Filler-{i}: x"));
    }
    expect_status(
        with(lines),
        HandshakeError::TooManyHeaders,
        "HTTP/1.1 431 Request Header Fields Too Large",
    );

    let big = format!("X-Big: {}", "a".repeat(9000));
    let mut r = RequestReader::default();
    let err = r.feed(&plus(&big)).unwrap_err();
    assert_eq!(err, HandshakeError::HeadTooLarge);
    assert_eq!(
        status_line(&reject_response(&err)),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
}

#[test]
fn status_403_404_503_lines() {
    for (e, line) in [
        (HandshakeError::Forbidden, "HTTP/1.1 403 Forbidden"),
        (HandshakeError::NotFound, "HTTP/1.1 404 Not Found"),
        (HandshakeError::Unavailable, "HTTP/1.1 503 Service Unavailable"),
    ] {
        assert_eq!(status_line(&reject_response(&e)), line);
    }
}

#[test]
fn bytes_after_the_head_are_kept() {
    let mut bytes = with(good_lines());
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    bytes.extend_from_slice(&frame);
    for split in 0..bytes.len() {
        let mut r = RequestReader::default();
        let got = match r.feed(&bytes[..split]).unwrap() {
            Some((_, rest)) => {
                let mut all = rest.to_vec();
                all.extend_from_slice(&bytes[split..]);
                all
            }
            None => r.feed(&bytes[split..]).unwrap().unwrap().1.to_vec(),
        };
        assert_eq!(got, frame, "split at {split}");
    }
}

#[test]
fn protocols_extensions_and_origin_are_reported() {
    let bytes = with(
        good_lines()
            .into_iter()
            .chain([
                "Sec-WebSocket-Protocol: chat, superchat".to_string(),
                "Sec-WebSocket-Protocol: v2".into(),
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits".into(),
                "Origin: http://example.com".into(),
            ])
            .collect(),
    );
    let (req, _) = RequestReader::default().feed(&bytes).unwrap().unwrap();
    let offer = validate(&req).unwrap();
    assert_eq!(offer.protocols, ["chat", "superchat", "v2"]);
    assert_eq!(offer.extensions, ["permessage-deflate; client_max_window_bits"]);
    assert_eq!(offer.origin.as_deref(), Some("http://example.com"));
    let resp = accept_response(
        offer.key.as_deref().unwrap(),
        Some("chat"),
        None,
        &[("X-Served-By".into(), "wsbolt".into())],
    );
    let text = String::from_utf8(resp).unwrap();
    assert!(
        text.ends_with("Sec-WebSocket-Protocol: chat\r\nX-Served-By: wsbolt\r\n\r\n"),
        "{text}"
    );
}

#[test]
fn a_head_trickled_byte_by_byte_is_parsed_once() {
    let bytes = with(good_lines());
    let mut r = RequestReader::default();
    for (i, b) in bytes.iter().enumerate() {
        let got = r.feed(std::slice::from_ref(b)).unwrap();
        assert_eq!(got.is_some(), i == bytes.len() - 1);
    }
}

/// The header limit holds exactly on both sides of the parser's stack slots
/// (64): at the limit a request parses, one over it is 431, with the limit
/// below, at and above the stack's size.
#[test]
fn header_limit_is_exact_below_at_and_above_the_stack_slots() {
    use wsbolt_proto::handshake::server::parse_request;
    let base = good_lines().len() - 1; // the request line is not a field
    for limit in [8, 63, 64, 65, 100, 200] {
        for extra in [limit - base, limit - base + 1] {
            let mut lines = good_lines();
            for i in 0..extra {
                lines.push(format!("X-Filler-{i}: x"));
            }
            let head = bytes::Bytes::from(with(lines));
            let parsed = parse_request(&head, limit);
            if base + extra <= limit {
                let req = parsed.unwrap_or_else(|e| panic!("limit {limit}, {} fields: {e:?}", base + extra));
                assert_eq!(req.headers.iter().count(), base + extra);
            } else {
                assert_eq!(parsed.unwrap_err(), HandshakeError::TooManyHeaders, "limit {limit}");
            }
        }
    }
}
