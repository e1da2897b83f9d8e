//! Heap memory per connection with permessage-deflate, counted by a global
//! allocator (bytes live, not timings): 1,000 server connections, each after
//! receiving and sending one compressed message, for the default settings
//! (context kept: both codecs stay allocated), smaller windows and memory
//! levels, and no context takeover (codecs are borrowed from the thread's
//! pool for each message and given back, so connections hold none).
//!
//! `cargo bench -p wsbolt-proto --bench deflate_memory`

use wsbolt_proto::deflate::{DeflateConfig, DeflateParams};
use wsbolt_proto::{Config, Connection, Role};

#[path = "../../../benches/common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

const N: usize = 1000;

fn measure(label: &str, params: DeflateParams, cfg: DeflateConfig) {
    let msg = "hello compressible world ".repeat(40);
    // The client's compressed frame, made once.
    let mut client = Connection::with_mask_seed(Role::Client, Config::default(), 3);
    client.enable_deflate(params, cfg.clone());
    client.send_text(&msg).unwrap();
    let frame = client.output().take_all();

    let before = counting_alloc::live();
    let mut conns = Vec::with_capacity(N);
    let vec_bytes = (N * std::mem::size_of::<Connection>()) as isize;
    for _ in 0..N {
        let mut s = Connection::new(Role::Server, Config::default());
        s.enable_deflate(params, cfg.clone());
        s.receive(&frame);
        while s.next_event().is_some() {}
        s.send_text(&msg).unwrap();
        s.output().take_all();
        conns.push(s);
    }
    let per_conn = (counting_alloc::live() - before - vec_bytes) as f64 / N as f64;
    let idle = {
        let before = counting_alloc::live();
        let c = Connection::new(Role::Server, Config::default());
        let v = counting_alloc::live() - before;
        drop(c);
        v
    };
    println!(
        "{label}: {:.1} KiB heap per connection after one message each way \
         (+ {} B inline Connection; an idle connection without deflate state: {} B heap)",
        per_conn / 1024.0,
        std::mem::size_of::<Connection>(),
        idle
    );
    drop(conns);
}

fn main() {
    let default = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let cfg = DeflateConfig::default();
    measure(
        "defaults (15-bit windows, mem_level 6, context kept)",
        default,
        cfg.clone(),
    );
    let w9 = DeflateParams {
        server_max_window_bits: 9,
        client_max_window_bits: 9,
        ..default
    };
    measure(
        "balanced preset: 13-bit windows both ways, mem_level 6 (wsbolt serve's default)",
        DeflateParams {
            server_max_window_bits: 13,
            client_max_window_bits: 13,
            ..default
        },
        DeflateConfig::balanced(),
    );
    measure(
        "12-bit windows (client_max_window_bits=12 as well), mem_level 5",
        DeflateParams {
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            ..default
        },
        cfg.clone().mem_level(5),
    );
    measure("9-bit windows, mem_level 6", w9, cfg.clone());
    measure("9-bit windows, mem_level 1", w9, cfg.clone().mem_level(1));
    measure(
        "no context takeover (both directions; pooled codecs)",
        DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..default
        },
        cfg,
    );
}
