//! The `Sec-WebSocket-Extensions` and `Sec-WebSocket-Protocol` parsers and
//! permessage-deflate negotiation on hostile values: never a panic, parsed
//! names and parameters are tokens, and negotiation only ever answers with
//! parameters it can honour.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsbolt_proto::deflate::{self, DeflateConfig};
use wsbolt_proto::extension;
use wsbolt_proto::handshake::header::{is_token, Headers};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    if let Ok(exts) = extension::parse(value) {
        assert!(exts.len() <= extension::MAX_EXTENSIONS);
        for e in &exts {
            assert!(is_token(&e.name));
            assert!(e.params.len() <= extension::MAX_PARAMS);
            for (k, _) in &e.params {
                assert!(is_token(k));
            }
        }
    }
    let cfg = DeflateConfig::default();
    if let Some((answer, params)) = deflate::negotiate_server(&[value.to_string()], &cfg) {
        assert!(answer.starts_with(deflate::NAME));
        assert!((8..=15).contains(&params.client_max_window_bits));
        assert!((8..=15).contains(&params.server_max_window_bits));
        // What the server answers, a client that made the default offer accepts
        // or refuses cleanly (never a panic).
        let _ = deflate::accept_client(Some(&answer), &cfg);
    }
    let _ = deflate::accept_client(Some(value), &cfg);
    let headers: Headers = [(
        "Sec-WebSocket-Protocol".to_string(),
        bytes::Bytes::copy_from_slice(data),
    )]
    .into_iter()
    .collect();
    for p in headers.list("sec-websocket-protocol") {
        assert!(!p.contains(','));
    }
});
