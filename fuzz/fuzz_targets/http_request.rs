//! The server's request reader and validator over any split: never a panic,
//! the same outcome whether the head arrives whole or in pieces, every
//! refusal is a well-formed HTTP response with the error's status, and every
//! accepted request gets a 101 that our own client accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsbolt_proto::handshake::client::{ClientHandshake, ClientRequest};
use wsbolt_proto::handshake::server::{accept_response, validate, RequestReader};
use wsbolt_proto::handshake::{HandshakeError, HeadLimits};

type Outcome = Result<Option<(String, String, usize)>, u16>;

fn read<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (Outcome, Option<wsbolt_proto::handshake::server::Request>) {
    let mut r = RequestReader::new(HeadLimits::new(2048, 16));
    let mut fed = 0;
    for piece in pieces {
        fed += piece.len();
        match r.feed(piece) {
            Ok(None) => {}
            Ok(Some((req, rest))) => {
                return (
                    Ok(Some((req.method.clone(), req.target.clone(), fed - rest.len()))),
                    Some(req),
                );
            }
            Err(e) => {
                check_reject(&e);
                return (Err(e.status().as_u16()), None);
            }
        }
    }
    (Ok(None), None)
}

fn check_reject(e: &HandshakeError) {
    let bytes = wsbolt::http1::response_bytes(&e.response());
    let mut fields = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut fields);
    assert!(matches!(resp.parse(&bytes), Ok(httparse::Status::Complete(_))));
    assert_eq!(resp.code, Some(e.status().as_u16()));
}

fuzz_target!(|data: &[u8]| {
    let Some(([nsizes], rest)) = wsbolt_fuzz::split_control::<1>(data) else {
        return;
    };
    let nsizes = (nsizes as usize % 8).min(rest.len());
    let (sizes, input) = rest.split_at(nsizes);
    let (whole, req) = read(std::iter::once(input));
    let (split, _) = read(wsbolt_fuzz::chunks(input, sizes));
    assert_eq!(whole, split, "the same head split differently gave a different outcome");
    let Some(req) = req else { return };
    match validate(&req) {
        Err(e) => check_reject(&e),
        Ok(offer) => {
            let protocol = offer.protocols.first().map(String::as_str);
            let answer = accept_response(offer.key.as_deref().unwrap_or_default(), protocol, None, &[]);
            let client = ClientRequest {
                host: "h".into(),
                target: "/".into(),
                protocols: offer.protocols.clone(),
                key: offer.key.clone().unwrap_or_default(),
                ..Default::default()
            };
            let (mut hs, _) = ClientHandshake::new(&client);
            let (resp, rest) = hs.feed(&answer).expect("our client accepts our 101").expect("complete");
            assert_eq!(resp.protocol.as_deref(), protocol);
            assert!(rest.is_empty());
        }
    }
});
