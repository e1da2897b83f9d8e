//! permessage-deflate throughput, in memory (no sockets): compress and
//! inflate a 16 KiB JSON-like message with the default settings (level 1,
//! 15-bit windows, context kept), through the full `Connection` path
//! (framing and masking included).
//!
//! `cargo bench -p wsbolt-proto --bench deflate`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wsbolt_proto::deflate::{DeflateConfig, DeflateParams};
use wsbolt_proto::{Config, Connection, Event, Role};

const PARAMS: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 15,
    client_max_window_bits: 15,
};

/// A message that looks like what applications send: JSON records.
fn json_message(len: usize) -> String {
    let mut s = String::from("[");
    let mut i = 0u64;
    while s.len() < len {
        s.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"text\":\"message number {i} with some words\",\"ts\":{}}},",
            i % 97,
            1_700_000_000 + i * 37
        ));
        i += 1;
    }
    s.truncate(len - 1);
    s.push(']');
    s
}

fn bench(c: &mut Criterion) {
    let msg = json_message(16 * 1024);
    let mut g = c.benchmark_group("deflate-16KiB-json");
    g.throughput(Throughput::Bytes(msg.len() as u64));

    let mut server = Connection::new(Role::Server, Config::default());
    server.enable_deflate(PARAMS, DeflateConfig::default());
    // With the context kept, a repeated message is mostly back-references
    // to the previous one: the cheap case.
    g.bench_function("compress, context kept (server send)", |b| {
        b.iter(|| {
            server.send_text(&msg).unwrap();
            server.output().take_all()
        })
    });
    // Without context takeover every message is compressed from scratch
    // (and the codec is set up anew): the expensive case.
    let nct = DeflateParams {
        server_no_context_takeover: true,
        ..PARAMS
    };
    let mut fresh = Connection::new(Role::Server, Config::default());
    fresh.enable_deflate(nct, DeflateConfig::default());
    g.bench_function("compress, no context takeover (server send)", |b| {
        b.iter(|| {
            fresh.send_text(&msg).unwrap();
            fresh.output().take_all()
        })
    });

    // A stream of compressed frames, as a client would send them.
    let mut client = Connection::with_mask_seed(Role::Client, Config::default(), 1);
    client.enable_deflate(PARAMS, DeflateConfig::default());
    let frames: Vec<Vec<u8>> = (0..1000)
        .map(|_| {
            client.send_text(&msg).unwrap();
            client.output().take_all()
        })
        .collect();
    println!("compressed size: {} of {} bytes", frames[1].len(), msg.len());
    let mut receiver = Connection::new(Role::Server, Config::default());
    receiver.enable_deflate(PARAMS, DeflateConfig::default());
    let mut i = 0;
    g.bench_function("inflate (server receive)", |b| {
        b.iter(|| {
            if i == frames.len() {
                // The shared window must see the same stream again: restart.
                receiver = Connection::new(Role::Server, Config::default());
                receiver.enable_deflate(PARAMS, DeflateConfig::default());
                i = 0;
            }
            receiver.receive(&frames[i]);
            i += 1;
            match receiver.next_event() {
                Some(Event::Text(t)) => t.len(),
                other => panic!("{other:?}"),
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
