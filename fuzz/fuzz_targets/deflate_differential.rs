//! The deflate codec against C zlib, both ways, on messages of any content
//! with the context kept between them: everything our compressor sends
//! inflates with zlib to its input, and everything zlib sends (sync-flushed
//! and trimmed as RFC 7692 has it) inflates with ours to its input, at
//! every level, window and memory level, in fragments of any size.
#![no_main]
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use libfuzzer_sys::fuzz_target;
use wsbolt_proto::deflate::{Compressor, Decompressor};
use wsbolt_proto::ProtocolError;

const TRAILER: [u8; 4] = [0, 0, 0xff, 0xff];

fn zlib_inflate(d: &mut Decompress, wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len() * 4 + 1024);
    let mut consumed = 0;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
        let before = d.total_in();
        d.decompress_vec(&wire[consumed..], &mut out, FlushDecompress::Sync)
            .expect("zlib inflates what we compress");
        consumed += (d.total_in() - before) as usize;
        if consumed == wire.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

fn zlib_compress(c: &mut Compress, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 64);
    let mut consumed = 0;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity());
        }
        let before = c.total_in();
        c.compress_vec(&msg[consumed..], &mut out, FlushCompress::Sync).unwrap();
        consumed += (c.total_in() - before) as usize;
        if consumed == msg.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(([settings, cuts, nsizes], rest)) = wsbolt_fuzz::split_control::<3>(data) else {
        return;
    };
    let level = u32::from(settings % 10);
    let bits = 9 + (settings / 10) % 7;
    let mem = 1 + cuts % 9;
    let nsizes = (nsizes as usize % 8).min(rest.len());
    let (sizes, body) = rest.split_at(nsizes);
    // Up to four messages: the body cut at points the control byte picks,
    // the first repeated at the end so the window is used across messages.
    let mut msgs: Vec<&[u8]> = Vec::new();
    let parts = 1 + usize::from(cuts >> 6);
    let step = body.len() / parts + 1;
    for chunk in body.chunks(step) {
        msgs.push(chunk);
    }
    if let Some(&first) = msgs.first() {
        msgs.push(first);
    }
    let ok = &mut |_: &[u8]| -> Result<(), ProtocolError> { Ok(()) };

    // Ours to zlib's inflater, each message in fragments.
    let mut ours = Compressor::new(level, bits, mem, false);
    let mut zlib_in = Decompress::new_with_window_bits(false, bits);
    for msg in &msgs {
        let mut wire = Vec::new();
        let pieces: Vec<&[u8]> = wsbolt_fuzz::chunks(msg, sizes).collect();
        if pieces.is_empty() {
            ours.compress(&[], true, &mut wire);
        }
        for (i, piece) in pieces.iter().enumerate() {
            ours.compress(piece, i + 1 == pieces.len(), &mut wire);
        }
        wire.extend_from_slice(&TRAILER);
        assert!(
            zlib_inflate(&mut zlib_in, &wire) == *msg,
            "zlib read back something else"
        );
    }

    // zlib's output to our inflater, fed in pieces.
    let mut zlib_out = Compress::new_with_window_bits(Compression::new(level), false, bits);
    let mut d = Decompressor::new(bits, false);
    for msg in &msgs {
        let mut wire = zlib_compress(&mut zlib_out, msg);
        assert!(wire.ends_with(&TRAILER));
        wire.truncate(wire.len() - TRAILER.len());
        let mut back = Vec::new();
        for piece in wsbolt_fuzz::chunks(&wire, sizes) {
            d.inflate(piece, &mut back, usize::MAX, ok)
                .expect("we inflate what zlib compresses");
        }
        d.finish_message(&mut back, usize::MAX, ok)
            .expect("we inflate what zlib compresses");
        assert!(back == *msg, "we read back something else");
    }
});
