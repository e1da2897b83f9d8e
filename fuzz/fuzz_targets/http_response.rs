//! The client's response reader and validator over any split: never a
//! panic, the same outcome whole or in pieces, and an accepted response
//! never carries a subprotocol or extension the client did not ask for.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsbolt_proto::handshake::client::{ClientHandshake, ClientRequest};

type Outcome = Result<Option<(Option<String>, Option<String>, usize)>, String>;

fn read<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let req = ClientRequest {
        host: "h".into(),
        target: "/".into(),
        protocols: vec!["chat".into(), "superchat".into()],
        extensions: Some(("permessage-deflate".into(), vec!["permessage-deflate".into()])),
        key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
        ..Default::default()
    };
    let (mut hs, _) = ClientHandshake::new(&req);
    let mut fed = 0;
    for piece in pieces {
        fed += piece.len();
        match hs.feed(piece) {
            Ok(None) => {}
            Ok(Some((resp, rest))) => {
                assert_eq!(resp.status, 101);
                if let Some(p) = &resp.protocol {
                    assert!(p == "chat" || p == "superchat");
                }
                return Ok(Some((resp.protocol, resp.extensions, fed - rest.len())));
            }
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    Ok(None)
}

fuzz_target!(|data: &[u8]| {
    let Some(([nsizes], rest)) = wsbolt_fuzz::split_control::<1>(data) else {
        return;
    };
    let nsizes = (nsizes as usize % 8).min(rest.len());
    let (sizes, input) = rest.split_at(nsizes);
    let whole = read(std::iter::once(input));
    let split = read(wsbolt_fuzz::chunks(input, sizes));
    assert_eq!(whole, split, "the same head split differently gave a different outcome");
});
