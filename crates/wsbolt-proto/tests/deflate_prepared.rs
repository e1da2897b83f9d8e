//! Broadcast with permessage-deflate: a prepared message is compressed once
//! and shared, and connections that keep their context stay in step with
//! their peers' inflaters.

use wsbolt_proto::deflate::{DeflateConfig, DeflateParams};
use wsbolt_proto::{Config, Connection, Event, Message, PreparedMessage, Role};

const KEPT: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 13,
    client_max_window_bits: 13,
};

fn pair(params: DeflateParams) -> (Connection, Connection) {
    let mut s = Connection::new(Role::Server, Config::default());
    s.enable_deflate(params, DeflateConfig::balanced());
    let mut c = Connection::with_mask_seed(Role::Client, Config::default(), 9);
    c.enable_deflate(params, DeflateConfig::balanced());
    (s, c)
}

fn chat(i: usize) -> String {
    format!("{{\"type\":\"message\",\"room\":\"lobby\",\"user\":\"user{i}\",\"text\":\"hello everyone, message number {i}\"}}")
}

#[test]
fn a_broadcast_is_compressed_once_and_every_peer_reads_it_between_its_own_messages() {
    for nct in [false, true] {
        let params = DeflateParams {
            server_no_context_takeover: nct,
            ..KEPT
        };
        let mut conns: Vec<(Connection, Connection)> = (0..3).map(|_| pair(params)).collect();
        for round in 0..20 {
            let msg = chat(round);
            let prepared = PreparedMessage::new(&Message::text(msg.clone())).unwrap();
            let mut frames = Vec::new();
            for (s, c) in &mut conns {
                s.send_prepared(&prepared).unwrap();
                let wire = s.output().take_all();
                assert_eq!(wire[0] & 0x40, 0x40, "RSV1: compressed");
                assert!(wire.len() < msg.len(), "{} bytes for {}", wire.len(), msg.len());
                frames.push(wire.clone());
                c.receive(&wire);
                assert_eq!(c.next_event(), Some(Event::Text(msg.as_str().into())));
                // A message of this connection's own, which may refer back
                // into the broadcast it just sent.
                let own = format!("{msg} (seen)");
                s.send_text(&own).unwrap();
                let wire = s.output().take_all();
                c.receive(&wire);
                assert_eq!(
                    c.next_event(),
                    Some(Event::Text(own.as_str().into())),
                    "round {round} nct {nct}"
                );
                if !nct {
                    assert!(
                        wire.len() < 24,
                        "round {round}: {} bytes: the broadcast was not in the history",
                        wire.len()
                    );
                }
            }
            assert!(frames.windows(2).all(|w| w[0] == w[1]), "one compressed frame for all");
        }
    }
}

#[test]
fn short_or_incompressible_broadcasts_go_as_the_plain_frame() {
    let (mut s, mut c) = pair(KEPT);
    let short = PreparedMessage::new(&Message::text("hi")).unwrap();
    s.send_prepared(&short).unwrap();
    assert_eq!(&s.output().take_all()[..], &short.frame()[..]);
    let mut x = 0x2545F4914F6CDD1Du64;
    let noise: Vec<u8> = (0..600)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let random = PreparedMessage::new(&Message::binary(noise.clone())).unwrap();
    s.send_prepared(&random).unwrap();
    let wire = s.output().take_all();
    assert_eq!(&wire[..], &random.frame()[..]);
    c.receive(&wire);
    assert_eq!(c.next_event(), Some(Event::Binary(noise.into())));
    // The context is still in step afterwards.
    let text = chat(1);
    s.send_text(&text).unwrap();
    c.receive(&s.output().take_all());
    assert_eq!(c.next_event(), Some(Event::Text(text.as_str().into())));
}

#[test]
fn bursts_of_broadcasts_between_own_messages_keep_the_contexts_in_step() {
    // Bursts of 1 to 30 broadcasts (beyond what a connection keeps to take
    // in later, and beyond a 9-bit window), each followed by messages of the
    // connection's own that repeat the burst's first and last broadcasts.
    for bits in [9u8, 13] {
        let params = DeflateParams {
            server_max_window_bits: bits,
            client_max_window_bits: bits,
            ..KEPT
        };
        let (mut s, mut c) = pair(params);
        let mut n = 0;
        for burst in [1usize, 3, 8, 9, 30, 2] {
            let mut sent = Vec::new();
            for _ in 0..burst {
                n += 1;
                let msg = format!("{} {}", chat(n), "padding ".repeat(n % 7 * 10));
                let prepared = PreparedMessage::new(&Message::text(msg.clone())).unwrap();
                s.send_prepared(&prepared).unwrap();
                c.receive(&s.output().take_all());
                assert_eq!(c.next_event(), Some(Event::Text(msg.as_str().into())));
                sent.push(msg);
            }
            for own in [&sent[0], sent.last().unwrap()] {
                s.send_text(own).unwrap();
                c.receive(&s.output().take_all());
                assert_eq!(
                    c.next_event(),
                    Some(Event::Text(own.as_str().into())),
                    "bits {bits} burst {burst}"
                );
            }
        }
    }
}
