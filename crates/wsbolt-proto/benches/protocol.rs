//! In-memory micro-benchmarks of the protocol core (no sockets, no kernel):
//! the regression gate for the hot path.
//!
//! `cargo bench -p wsbolt-proto --bench protocol`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use wsbolt_proto::handshake::server::{accept_response, validate, RequestReader};
use wsbolt_proto::mask::apply_mask;
use wsbolt_proto::utf8::Utf8Validator;
use wsbolt_proto::{Config, Connection, Event, Role};

fn masking(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    let mut buf = vec![0x5au8; 1 << 20];
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("1 MiB", |b| b.iter(|| apply_mask(&mut buf, [1, 2, 3, 4], 1)));
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    let ascii = "a".repeat(1 << 20);
    let mixed = "héllo wörld κόσμε 𝄞 ".repeat((1 << 20) / 32);
    for (name, text) in [("ascii 1 MiB", &ascii), ("mixed 1 MiB", &mixed)] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                // In 4 KiB pieces, as a message arriving over several reads.
                for piece in text.as_bytes().chunks(4096) {
                    v.feed(piece).unwrap();
                }
                v.finish().unwrap();
            })
        });
    }
    g.finish();
}

fn client_frames(n: usize, size: usize) -> Vec<u8> {
    let mut client = Connection::with_mask_seed(Role::Client, Config::default(), 1);
    let payload = "x".repeat(size);
    for _ in 0..n {
        client.send_text(&payload).unwrap();
    }
    client.output().take_all()
}

fn parsing(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive");
    for (n, size) in [(1000usize, 20usize), (100, 1024), (4, 64 * 1024)] {
        let input = client_frames(n, size);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{n} masked text frames of {size} B in one read"), |b| {
            b.iter_batched(
                || Connection::new(Role::Server, Config::default()),
                |mut server| {
                    server.receive(&input);
                    let mut count = 0;
                    while let Some(Event::Text(_)) = server.next_event() {
                        count += 1;
                    }
                    assert_eq!(count, n);
                },
                BatchSize::SmallInput,
            )
        });
    }
    // A fragmented message: 64 fragments of 1 KiB.
    let mut client = Connection::with_mask_seed(Role::Client, Config::default(), 1);
    let piece = vec![7u8; 1024];
    client
        .send_fragment(wsbolt_proto::frame::OpCode::Binary, &piece, false)
        .unwrap();
    for i in 1..64 {
        client
            .send_fragment(wsbolt_proto::frame::OpCode::Continuation, &piece, i == 63)
            .unwrap();
    }
    let input = client.output().take_all();
    g.throughput(Throughput::Bytes(64 * 1024));
    g.bench_function("assemble 64 x 1 KiB fragments", |b| {
        b.iter_batched(
            || Connection::new(Role::Server, Config::default()),
            |mut server| {
                server.receive(&input);
                assert!(matches!(server.next_event(), Some(Event::Binary(_))));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn sending(c: &mut Criterion) {
    let mut g = c.benchmark_group("send");
    let mut server = Connection::new(Role::Server, Config::default());
    g.throughput(Throughput::Elements(1000));
    g.bench_function("1000 x 20 B text, batched into one buffer", |b| {
        b.iter(|| {
            for _ in 0..1000 {
                server.send_text("01234567890123456789").unwrap();
            }
            let n = server.output_len();
            server.output().advance(n);
        })
    });
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let request =
        b"GET /chat HTTP/1.1\r\nHost: server.example.com:9998\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://server.example.com:9998\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n";
    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse, validate and answer a browser request", |b| {
        b.iter(|| {
            let (req, _) = RequestReader::default().feed(request).unwrap().unwrap();
            let offer = validate(&req).unwrap();
            accept_response(offer.key.as_deref().unwrap_or_default(), None, None, &[])
        })
    });
    g.finish();
}

/// One 1 KiB message to 10,000 server connections: framed once and shared
/// (`send_prepared`) against framed per connection (`send`).
fn broadcast(c: &mut Criterion) {
    let msg = wsbolt_proto::Message::binary(vec![7u8; 1024]);
    let mut conns: Vec<Connection> = (0..10_000)
        .map(|_| Connection::new(Role::Server, Config::default()))
        .collect();
    let mut g = c.benchmark_group("broadcast 1 KiB to 10,000 connections");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("framed once (send_prepared)", |b| {
        b.iter(|| {
            let prepared = wsbolt_proto::PreparedMessage::new(&msg).unwrap();
            for c in conns.iter_mut() {
                c.send_prepared(&prepared).unwrap();
            }
            for c in conns.iter_mut() {
                let n = c.output_len();
                c.output().advance(n);
            }
        })
    });
    g.bench_function("framed per connection (send)", |b| {
        b.iter(|| {
            for c in conns.iter_mut() {
                c.send(msg.clone()).unwrap();
            }
            for c in conns.iter_mut() {
                let n = c.output_len();
                c.output().advance(n);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, masking, utf8, parsing, sending, handshake, broadcast);
criterion_main!(benches);
