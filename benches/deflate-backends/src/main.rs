//! Throughput and memory of one flate2 backend doing permessage-deflate's
//! work: raw deflate, sync flush, context kept, level 1, a 16 KiB JSON-like
//! message. Prints one table row. Run through `./run`.

use std::time::Instant;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

#[path = "../../common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

fn message(len: usize, seed: u64) -> Vec<u8> {
    let mut s = String::from("[");
    let mut i = seed;
    while s.len() < len {
        s.push_str(&format!("{{\"id\":{i},\"user\":\"user{}\",\"text\":\"message {i} words\",\"ts\":{}}},", i % 97, 1_700_000_000 + i * 37));
        i += 1;
    }
    s.truncate(len);
    s.into_bytes()
}

#[cfg(any(feature = "zlib-rs", feature = "zlib"))]
fn new_codecs(bits: u8) -> (Compress, Decompress) {
    (Compress::new_with_window_bits(Compression::new(1), false, bits), Decompress::new_with_window_bits(false, bits))
}

#[cfg(not(any(feature = "zlib-rs", feature = "zlib")))]
fn new_codecs(bits: u8) -> (Compress, Decompress) {
    // miniz_oxide has no window-bits API: always 15.
    let _ = bits;
    (Compress::new(Compression::new(1), false), Decompress::new(false))
}

fn compress(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(input.len() + 64);
    let start = c.total_in();
    while (c.total_in() - start) < input.len() as u64 || out.len() == out.capacity() {
        let done = (c.total_in() - start) as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(4096);
        }
        c.compress_vec(&input[done..], out, FlushCompress::Sync).unwrap();
        if (c.total_in() - start) as usize == input.len() && out.len() < out.capacity() {
            break;
        }
    }
}

fn inflate(d: &mut Decompress, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(32 * 1024);
    let start = d.total_in();
    loop {
        let done = (d.total_in() - start) as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(32 * 1024);
        }
        d.decompress_vec(&input[done..], out, FlushDecompress::Sync).unwrap();
        if (d.total_in() - start) as usize == input.len() && out.len() < out.capacity() {
            break;
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let backend = std::env::args().nth(1).unwrap_or_default();
    // Distinct messages, so the shared window does not make repeats free.
    let msgs: Vec<Vec<u8>> = (0..64).map(|i| message(16 * 1024, i * 1000)).collect();
    let total: usize = msgs.iter().map(Vec::len).sum();

    // miniz_oxide cannot set window bits: only its fixed 15 is measured.
    let window_bits: &[u8] = if cfg!(any(feature = "zlib-rs", feature = "zlib")) { &[15, 9] } else { &[15] };
    for &bits in window_bits {
        let before = counting_alloc::live();
        let (mut c, mut d) = new_codecs(bits);
        let mut wire = Vec::new();
        let mut plain = Vec::new();
        compress(&mut c, &msgs[0], &mut wire);
        inflate(&mut d, &wire, &mut plain);
        assert_eq!(plain, msgs[0]);
        let codec_mem = counting_alloc::live() - before - (wire.capacity() + plain.capacity()) as isize;

        let (mut c_mbs, mut d_mbs, mut ratio) = (Vec::new(), Vec::new(), 0.0);
        for _ in 0..7 {
            let (mut c, mut d) = new_codecs(bits);
            let frames: Vec<Vec<u8>> = {
                let t = Instant::now();
                let mut frames = Vec::new();
                for _ in 0..4 {
                    frames.clear();
                    for m in &msgs {
                        compress(&mut c, m, &mut wire);
                        frames.push(wire.clone());
                    }
                }
                c_mbs.push((4 * total) as f64 / t.elapsed().as_secs_f64() / 1e6);
                frames
            };
            ratio = frames.iter().map(Vec::len).sum::<usize>() as f64 / total as f64;
            // Inflate the last round's frames with a decompressor that has
            // seen the same stream (context kept): replay all four rounds.
            let (mut c2, _) = new_codecs(bits);
            let mut stream = Vec::new();
            for _ in 0..4 {
                for m in &msgs {
                    compress(&mut c2, m, &mut wire);
                    stream.push(wire.clone());
                }
            }
            let t = Instant::now();
            for f in &stream {
                inflate(&mut d, f, &mut plain);
            }
            d_mbs.push((4 * total) as f64 / t.elapsed().as_secs_f64() / 1e6);
        }
        println!(
            "| {backend} | {bits} | {:.0} MB/s | {:.0} MB/s | {:.3} | {:.1} KiB |",
            median(c_mbs),
            median(d_mbs),
            ratio,
            codec_mem as f64 / 1024.0
        );
    }
}
