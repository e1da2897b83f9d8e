//! The upgrade path of an HTTP stack (hyper's request mapped by
//! `wsbolt::upgrade::request_head`), over HTTP/1.1 and HTTP/2 (RFC 8441):
//! never a panic; every refusal has a standard status; an accepted HTTP/2
//! request is a `CONNECT` with `:protocol: websocket` and is answered 200
//! with no HTTP/1.1 fields, which our client's HTTP/2 check accepts; and an
//! HTTP/1.1 request gets the same outcome through the http crate as through
//! our own reader of its bytes (one validation path).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsbolt_proto::handshake::client::{validate_http2_response, ClientRequest};
use wsbolt_proto::handshake::header::Headers;
use wsbolt_proto::handshake::server::{accept_head, validate, RequestReader};
use wsbolt_proto::handshake::HeadLimits;

fn outcome(req: &wsbolt_proto::handshake::server::Request) -> Result<(), u16> {
    validate(req).map(|_| ()).map_err(|e| e.status().as_u16())
}

fuzz_target!(|data: &[u8]| {
    let Some(([ctl], rest)) = wsbolt_fuzz::split_control::<1>(data) else {
        return;
    };
    let http2 = ctl & 1 == 1;
    // Fields separated by NUL: method, path, :protocol, then name, value pairs.
    let mut parts = rest.split(|&b| b == 0);
    let (Some(method), Some(path), Some(protocol)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(path) = std::str::from_utf8(path) else { return };
    let uri = if http2 {
        format!("https://example.com{path}")
    } else {
        path.to_string()
    };
    let mut b = http::Request::builder().method(method).uri(uri).version(if http2 {
        http::Version::HTTP_2
    } else {
        http::Version::HTTP_11
    });
    while let (Some(n), Some(v)) = (parts.next(), parts.next()) {
        b = b.header(n, v);
    }
    if http2 && !protocol.is_empty() {
        let Ok(p) = std::str::from_utf8(protocol) else { return };
        b = b.extension(hyper::ext::Protocol::from(p));
    }
    let Ok(req) = b.body(()) else { return };
    let head = wsbolt::upgrade::request_head(&req);
    assert_eq!(head.is_http2(), http2);
    match validate(&head) {
        Err(e) => assert!(
            [400, 403, 404, 405, 426, 431, 503].contains(&e.status().as_u16()),
            "{e:?}"
        ),
        Ok(offer) => {
            let chosen = offer.protocols.first().map(String::as_str);
            let answer = accept_head(&offer, chosen, None, &[]).expect("an answer for a valid offer");
            if http2 {
                assert_eq!(req.method(), http::Method::CONNECT);
                assert!(head
                    .extended_connect
                    .as_deref()
                    .unwrap()
                    .eq_ignore_ascii_case("websocket"));
                assert_eq!(offer.key, None);
                assert_eq!(answer.status(), 200);
                for f in ["upgrade", "connection", "sec-websocket-accept"] {
                    assert!(answer.headers().get(f).is_none());
                }
                let client = ClientRequest {
                    protocols: offer.protocols.clone(),
                    ..Default::default()
                };
                let headers: Headers = answer
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str().to_string(), bytes::Bytes::copy_from_slice(v.as_bytes())))
                    .collect();
                let resp = validate_http2_response(&client, 200, headers).expect("our client accepts our 200");
                assert_eq!(resp.protocol.as_deref(), chosen);
            } else {
                assert_eq!(answer.status(), 101);
            }
        }
    }
    if !http2 {
        // The same request as bytes, through our own reader: the same outcome.
        let mut bytes = format!("{} {} HTTP/1.1\r\n", req.method(), req.uri()).into_bytes();
        for (n, v) in req.headers() {
            bytes.extend_from_slice(n.as_str().as_bytes());
            bytes.extend_from_slice(b": ");
            bytes.extend_from_slice(v.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"\r\n");
        let limits = HeadLimits::new(1 << 20, 1024);
        if let Ok(Some((raw, _))) = RequestReader::new(limits).feed(&bytes) {
            assert_eq!(outcome(&raw), outcome(&head), "{bytes:?}");
        }
    }
});
