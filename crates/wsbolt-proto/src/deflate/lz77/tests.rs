//! The compressor against zlib's inflater (zlib-rs through flate2) and ours.

use flate2::{Decompress, FlushDecompress};

use super::super::blocks::BlockCoder;
use super::super::inflate::tests::{messages, Rng};
use super::super::inflate::Inflater;
use super::*;

fn zlib_inflate(d: &mut Decompress, wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len() * 4 + 1024);
    let mut consumed = 0;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
        let before = d.total_in();
        d.decompress_vec(&wire[consumed..], &mut out, FlushDecompress::Sync)
            .expect("zlib inflates our output");
        consumed += (d.total_in() - before) as usize;
        if consumed == wire.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

#[test]
fn zlib_and_our_inflater_read_back_every_level_and_window_with_context_kept() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let (mut symbols, mut coder) = (Vec::new(), BlockCoder::new());
    for bits in [9u8, 11, 13, 15] {
        for level in 0..=9u32 {
            let mut c = Deflater::new(level, bits, 6);
            let mut zlib = Decompress::new_with_window_bits(false, bits);
            let mut ours = Inflater::new(bits);
            for msg in messages(&mut rng, 10) {
                let mut wire = Vec::new();
                c.compress(&msg, &mut wire, &mut symbols, &mut coder);
                assert!(wire.ends_with(&[0, 0, 0xff, 0xff]));
                assert!(
                    zlib_inflate(&mut zlib, &wire) == msg,
                    "zlib, bits {bits} level {level} len {}",
                    msg.len()
                );
                let mut out = Vec::new();
                ours.inflate(&wire, &mut out, usize::MAX).unwrap();
                assert!(out == msg, "ours, bits {bits} level {level} len {}", msg.len());
            }
        }
    }
}

#[test]
fn a_reset_compressor_needs_no_history() {
    let mut rng = Rng(3);
    let (mut symbols, mut coder) = (Vec::new(), BlockCoder::new());
    let mut c = Deflater::new(6, 15, 8);
    for msg in messages(&mut rng, 20) {
        let mut wire = Vec::new();
        c.compress(&msg, &mut wire, &mut symbols, &mut coder);
        c.reset();
        let mut fresh = Decompress::new_with_window_bits(false, 15);
        assert!(zlib_inflate(&mut fresh, &wire) == msg);
    }
}

#[test]
fn memory_follows_the_window() {
    let (mut symbols, mut coder) = (Vec::new(), BlockCoder::new());
    for (bits, mem) in [(9u8, 1u8), (12, 5), (13, 6), (15, 8)] {
        let mut c = Deflater::new(6, bits, mem);
        let mut wire = Vec::new();
        c.compress(&[b'a'; 100_000], &mut wire, &mut symbols, &mut coder);
        let held = c.window.capacity() + 2 * c.head.capacity() + 2 * c.prev.capacity();
        assert_eq!(held, deflater_memory(bits, mem), "bits {bits} mem {mem}");
    }
    assert_eq!(deflater_memory(12, 5), 24 * 1024);
}
