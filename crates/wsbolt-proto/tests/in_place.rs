//! `Connection::receive_in_place` against `Connection::receive`: the same
//! client bytes, cut at random places, fed to two servers that echo every
//! data message; both must see the same messages and events in the same
//! order and write the same bytes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wsbolt_proto::frame::OpCode;
use wsbolt_proto::{Config, Connection, DataRef, Event, Role};

const MAX_MESSAGE: usize = 300;

fn config() -> Config {
    Config::default().max_message_size(MAX_MESSAGE)
}

/// What a server saw, in order: data messages and every other event.
#[derive(Debug, PartialEq)]
enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Other(String),
}

fn echo(conn: &mut Connection, seen: &mut Vec<Seen>, msg: DataRef<'_>) {
    match msg {
        DataRef::Text(t) => {
            seen.push(Seen::Text(t.to_owned()));
            let _ = conn.send_text(t);
        }
        DataRef::Binary(b) => {
            seen.push(Seen::Binary(b.to_vec()));
            let _ = conn.send_binary(b);
        }
    }
}

fn take_events(conn: &mut Connection, seen: &mut Vec<Seen>) {
    while let Some(event) = conn.next_event() {
        match event {
            Event::Text(t) => echo(conn, seen, DataRef::Text(&t)),
            Event::Binary(b) => echo(conn, seen, DataRef::Binary(&b)),
            other => seen.push(Seen::Other(format!("{other:?}"))),
        }
    }
}

/// A masked frame written by hand, for what a well-behaved client never sends.
fn raw_frame(rng: &mut StdRng, first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key: [u8; 4] = rng.random();
    let mut f = vec![first, 0x80 | payload.len() as u8];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// A client's stream of frames: mostly whole messages, some control
/// frames and fragments, and (sometimes, at the end) a frame that breaks a
/// rule or a Close.
fn client_stream(rng: &mut StdRng) -> Vec<u8> {
    let mut client = Connection::with_mask_seed(Role::Client, Config::default(), rng.random());
    let mut wire = Vec::new();
    for _ in 0..rng.random_range(1..40) {
        let len = rng.random_range(0..200);
        match rng.random_range(0..10) {
            0..=3 => {
                let text: String = (0..len).map(|_| rng.random_range('a'..='é')).collect();
                client.send_text(&text).unwrap();
            }
            4..=6 => {
                let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                client.send_binary(&data).unwrap();
            }
            7 => client.ping(b"are you there").unwrap(),
            8 => {
                client.send_fragment(OpCode::Text, b"frag", false).unwrap();
                client.send_fragment(OpCode::Continuation, b"mented", true).unwrap();
            }
            _ => client.pong(b"unsolicited").unwrap(),
        }
        wire.extend(client.output().take_all());
    }
    match rng.random_range(0..6) {
        0 => wire.extend(raw_frame(rng, 0x81, &[0xff, 0xfe])), // invalid UTF-8
        1 => {
            let big = vec![7u8; MAX_MESSAGE + 1];
            client.send_binary(&big).unwrap(); // over the message limit
            wire.extend(client.output().take_all());
        }
        2 => wire.extend(raw_frame(rng, 0x80, b"x")), // continuation with no message
        3 => {
            client.close(None).unwrap();
            wire.extend(client.output().take_all());
        }
        _ => {}
    }
    // Something after the end, which neither server may act on.
    client = Connection::with_mask_seed(Role::Client, Config::default(), 1);
    client.send_text("after").unwrap();
    wire.extend(client.output().take_all());
    wire
}

fn cuts(rng: &mut StdRng, len: usize) -> Vec<usize> {
    let mut at: Vec<usize> = (0..rng.random_range(0..6)).map(|_| rng.random_range(0..=len)).collect();
    at.push(len);
    at.sort_unstable();
    at
}

#[test]
fn in_place_matches_the_usual_path_on_any_split() {
    // Messages that came to the callback, and data messages in all: both
    // paths must have been exercised.
    let (mut via_callback, mut data) = (0, 0);
    for seed in 0..400 {
        let mut rng = StdRng::seed_from_u64(seed);
        let wire = client_stream(&mut rng);
        let at = cuts(&mut rng, wire.len());

        let mut usual = Connection::new(Role::Server, config());
        let mut usual_seen = Vec::new();
        let mut in_place = Connection::new(Role::Server, config());
        let mut in_place_seen = Vec::new();
        let mut from = 0;
        for &to in &at {
            usual.receive(&wire[from..to]);
            take_events(&mut usual, &mut usual_seen);

            let mut piece = wire[from..to].to_vec();
            let seen = &mut in_place_seen;
            in_place.receive_in_place(&mut piece, |conn, msg| {
                via_callback += 1;
                echo(conn, seen, msg)
            });
            take_events(&mut in_place, &mut in_place_seen);
            from = to;
        }
        assert_eq!(in_place_seen, usual_seen, "seed {seed}: what each saw");
        assert_eq!(
            in_place.output().take_all(),
            usual.output().take_all(),
            "seed {seed}: what each wrote"
        );
        assert_eq!(in_place.state(), usual.state(), "seed {seed}");
        data += usual_seen.iter().filter(|s| !matches!(s, Seen::Other(_))).count();
    }
    assert!(
        via_callback > data / 10,
        "{via_callback} of {data} messages came to the callback"
    );
    assert!(
        via_callback < data,
        "every message came to the callback: the queue went untested"
    );
}

#[test]
fn whole_messages_in_one_read_skip_the_queue() {
    let mut client = Connection::with_mask_seed(Role::Client, Config::default(), 3);
    client.send_text("one").unwrap();
    client.send_binary(b"two").unwrap();
    let mut wire = client.output().take_all();
    let mut server = Connection::new(Role::Server, Config::default());
    let mut seen = Vec::new();
    server.receive_in_place(&mut wire, |_, msg| seen.push(format!("{msg:?}")));
    assert_eq!(seen, ["Text(\"one\")", "Binary([116, 119, 111])"]);
    assert!(!server.has_events(), "nothing was queued");
}

#[test]
fn a_ping_between_messages_keeps_the_order_of_the_output() {
    let mut client = Connection::with_mask_seed(Role::Client, Config::default(), 4);
    client.send_text("a").unwrap();
    client.ping(b"p").unwrap();
    client.send_text("b").unwrap();
    let mut wire = client.output().take_all();
    let mut server = Connection::new(Role::Server, Config::default());
    let mut seen = Vec::new();
    server.receive_in_place(&mut wire, |conn, msg| echo(conn, &mut seen, msg));
    // "a" came to the callback; the ping and all after it were queued.
    assert_eq!(seen, [Seen::Text("a".into())]);
    take_events(&mut server, &mut seen);
    assert_eq!(
        seen,
        [
            Seen::Text("a".into()),
            Seen::Other("Ping(b\"p\")".into()),
            Seen::Text("b".into())
        ]
    );
    // The answers leave in the order the client sent: echo, pong, echo.
    assert_eq!(server.output().take_all(), b"\x81\x01a\x8a\x01p\x81\x01b");
}

#[test]
fn invalid_utf8_fails_the_connection_with_1007() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut wire = raw_frame(&mut rng, 0x81, &[b'o', b'k', 0xc3]);
    let mut server = Connection::new(Role::Server, Config::default());
    server.receive_in_place(&mut wire, |_, _| panic!("no message may come"));
    assert!(matches!(server.next_event(), Some(Event::Failed(_))));
    let out = server.output().take_all();
    assert_eq!(&out[..4], [0x88, 0x02, 0x03, 0xef], "Close 1007");
}
