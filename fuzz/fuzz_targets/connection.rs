//! The sans-I/O read path of both roles (frame parsing, unmasking, assembly,
//! UTF-8, close handling, optional permessage-deflate) over any split of the
//! same bytes. Properties:
//! - never a panic;
//! - the events and the bytes queued in answer are the same whether the input
//!   arrives in one piece or in the chunks the fuzzer chose, and whether the
//!   chunks go through `receive` or `receive_in_place` (whose messages, handed
//!   to a callback, are counted as the events they would have been);
//! - no message is larger than the configured limit;
//! - nothing follows a Close or a failure.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use wsbolt_proto::deflate::{DeflateConfig, DeflateParams};
use wsbolt_proto::{Config, Connection, DataRef, Event, Role};

const MAX_MESSAGE: usize = 16 * 1024;

fn run<'a>(ctl: u8, in_place: bool, pieces: impl Iterator<Item = &'a [u8]>) -> (Vec<Event>, Vec<u8>) {
    let role = if ctl & 1 != 0 { Role::Client } else { Role::Server };
    let config = Config::default()
        .max_frame_size(4096)
        .max_message_size(MAX_MESSAGE)
        .max_fragments(64)
        .auto_pong(ctl & 2 != 0)
        .close_timeout(Duration::from_secs(1))
        .keepalive(None);
    let mut conn = Connection::with_mask_seed(role, config, 7);
    if ctl & 4 != 0 {
        let params = DeflateParams {
            server_no_context_takeover: ctl & 8 != 0,
            client_no_context_takeover: ctl & 16 != 0,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        conn.enable_deflate(params, DeflateConfig::default());
    }
    let mut events = Vec::new();
    let mut ended = false;
    for piece in pieces {
        let mut handed = Vec::new();
        if in_place {
            let mut piece = piece.to_vec();
            conn.receive_in_place(&mut piece, |_, msg| {
                handed.push(match msg {
                    DataRef::Text(t) => Event::Text(t.into()),
                    DataRef::Binary(b) => Event::Binary(bytes::Bytes::copy_from_slice(b)),
                })
            });
        } else {
            conn.receive(piece);
        }
        let queued = std::iter::from_fn(|| conn.next_event());
        for ev in handed.into_iter().chain(queued) {
            assert!(!ended, "an event after Close or Failed: {ev:?}");
            match &ev {
                Event::Text(t) => assert!(t.as_str().len() <= MAX_MESSAGE),
                Event::Binary(b) => assert!(b.len() <= MAX_MESSAGE),
                Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125),
                Event::Close(_) | Event::Failed(_) => ended = true,
                Event::TimedOut(_) => unreachable!("no clock was given"),
            }
            events.push(ev);
        }
    }
    conn.receive_eof();
    while let Some(ev) = conn.next_event() {
        events.push(ev);
    }
    (events, conn.output().take_all())
}

fuzz_target!(|data: &[u8]| {
    let Some(([ctl, nsizes], rest)) = wsbolt_fuzz::split_control::<2>(data) else {
        return;
    };
    let nsizes = (nsizes as usize % 8).min(rest.len());
    let (sizes, stream) = rest.split_at(nsizes);
    let whole = run(ctl, false, std::iter::once(stream));
    let split = run(ctl, false, wsbolt_fuzz::chunks(stream, sizes));
    assert_eq!(whole, split, "the same bytes split differently gave different results");
    let in_place = run(ctl, true, wsbolt_fuzz::chunks(stream, sizes));
    assert_eq!(whole, in_place, "receive_in_place gave other results than receive");
});
