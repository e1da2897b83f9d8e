//! The inflater against zlib's (zlib-rs through flate2) compressed streams.

use flate2::{Compress, Compression, FlushCompress};

use super::*;

/// A small xorshift generator (no dependency).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Messages of several kinds: text with repeats, random bytes, long runs,
/// and pieces of earlier messages (matches into the history).
pub(crate) fn messages(rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    let words: [&[u8]; 8] = [
        b"the ",
        b"room ",
        b"{\"user\":",
        b"\"alice\",",
        b"message ",
        b"42, ",
        b"\n",
        b"zebra ",
    ];
    let mut all: Vec<Vec<u8>> = Vec::new();
    for _ in 0..count {
        let len = match rng.below(4) {
            0 => rng.below(64),
            1 => rng.below(1024),
            2 => rng.below(20_000),
            _ => rng.below(150_000),
        };
        let mut m = Vec::with_capacity(len);
        let kind = rng.below(4);
        while m.len() < len {
            match kind {
                0 => m.extend_from_slice(words[rng.below(words.len())]),
                1 => m.push(rng.next() as u8),
                2 => {
                    let b = rng.next() as u8;
                    let n = rng.below(600);
                    m.extend(std::iter::repeat_n(b, n));
                }
                _ => match all.last() {
                    Some(prev) if !prev.is_empty() => {
                        let a = rng.below(prev.len());
                        let b = (a + rng.below(300)).min(prev.len());
                        m.extend_from_slice(&prev[a..b]);
                        m.push(rng.next() as u8);
                    }
                    _ => m.push(b'x'),
                },
            }
        }
        m.truncate(len);
        all.push(m);
    }
    all
}

/// zlib's raw deflate of `msg` ending with a sync flush.
pub(crate) fn zlib_compress(c: &mut Compress, msg: &[u8]) -> Vec<u8> {
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

/// Inflates `wire` in pieces of random size.
fn inflate_in_pieces(d: &mut Inflater, wire: &[u8], rng: &mut Rng, max: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let n = match rng.below(3) {
            0 => 1,
            1 => rng.below(16) + 1,
            _ => rng.below(4096) + 1,
        }
        .min(wire.len() - at);
        d.inflate(&wire[at..at + n], &mut out, max)?;
        at += n;
    }
    Ok(out)
}

#[test]
fn inflates_what_zlib_compresses_at_every_level_and_window_in_pieces() {
    let mut rng = Rng(0x2545F4914F6CDD1D);
    for bits in [9u8, 10, 12, 13, 15] {
        for level in [0u32, 1, 4, 6, 9] {
            let mut c = Compress::new_with_window_bits(Compression::new(level), false, bits);
            let mut d = Inflater::new(bits);
            for msg in messages(&mut rng, 12) {
                let wire = zlib_compress(&mut c, &msg);
                let out = inflate_in_pieces(&mut d, &wire, &mut rng, usize::MAX)
                    .unwrap_or_else(|e| panic!("bits {bits} level {level} len {}: {e:?}", msg.len()));
                assert!(
                    out == msg,
                    "bits {bits} level {level}: {} bytes came back as {}",
                    msg.len(),
                    out.len()
                );
            }
            // The history it keeps is the window, no more.
            assert!(d.memory() <= 1 << bits);
        }
    }
}

#[test]
fn the_limit_holds_and_capacity_stays_within_it() {
    let mut c = Compress::new_with_window_bits(Compression::new(9), false, 15);
    let wire = zlib_compress(&mut c, &vec![0u8; 4 << 20]);
    let mut d = Inflater::new(15);
    let mut out = Vec::new();
    assert_eq!(d.inflate(&wire, &mut out, 1 << 20), Err(InflateError::TooLarge));
    assert!(out.capacity() <= 1 << 20, "{}", out.capacity());
}

#[test]
fn invalid_streams_are_errors() {
    let cases: [(&str, &[u8]); 5] = [
        ("reserved block type", &[0x07]),
        ("stored length without its complement", &[0x00, 0x05, 0x00, 0x00, 0x00]),
        // Fixed block: a match at distance 1 with nothing before it.
        ("distance before the start", &[0x02, 0x02, 0x00]),
        ("dynamic header with 30 literal codes too many", &[0xfc, 0xff, 0xff]),
        // A final stored empty block, then a stray byte.
        ("input after the final block", &[0x01, 0x00, 0x00, 0xff, 0xff, 0x00]),
    ];
    for (what, wire) in cases {
        let mut d = Inflater::new(15);
        let mut out = Vec::new();
        assert_eq!(d.inflate(wire, &mut out, 1000), Err(InflateError::Invalid), "{what}");
    }
}

#[test]
fn a_distance_beyond_a_small_window_is_refused() {
    // zlib with a 15-bit window referring 1,000 bytes back; inflated with a
    // 9-bit window (512 bytes), that reaches past the history.
    let mut rng = Rng(7);
    let first: Vec<u8> = (0..1000).map(|_| rng.next() as u8).collect();
    let mut c = Compress::new_with_window_bits(Compression::new(6), false, 15);
    let mut d = Inflater::new(9);
    let mut out = Vec::new();
    d.inflate(&zlib_compress(&mut c, &first), &mut out, usize::MAX).unwrap();
    let mut out = Vec::new();
    let r = d.inflate(&zlib_compress(&mut c, &first[..100]), &mut out, usize::MAX);
    assert_eq!(r, Err(InflateError::Invalid));
}
