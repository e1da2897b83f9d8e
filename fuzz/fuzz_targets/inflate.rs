//! Bounded inflate: whatever the compressed input (bombs, corrupt streams,
//! any split into fragments), a message that succeeds never passes the limit
//! and the buffer never grows past the limit (`INFLATE_CHUNK` is 0 since the
//! inflater became the crate's own).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsbolt_proto::deflate::{Decompressor, INFLATE_CHUNK};
use wsbolt_proto::ProtocolError;

fuzz_target!(|data: &[u8]| {
    let Some(([ctl, limit, nsizes], rest)) = wsbolt_fuzz::split_control::<3>(data) else {
        return;
    };
    let bits = 8 + ctl % 8;
    let max = 1 + limit as usize * 256;
    let nsizes = (nsizes as usize % 8).min(rest.len());
    let (sizes, input) = rest.split_at(nsizes);
    let mut d = Decompressor::new(bits, ctl & 8 != 0);
    let mut ok = |_: &[u8]| -> Result<(), ProtocolError> { Ok(()) };
    // Two messages on one context, each as fragments.
    for _ in 0..2 {
        let mut out = Vec::new();
        let mut failed = false;
        for piece in wsbolt_fuzz::chunks(input, sizes) {
            let r = d.inflate(piece, &mut out, max, &mut ok);
            // The buffer is bounded whatever happens; the output may pass the
            // limit by part of one chunk only in the call that then fails.
            assert!(
                out.capacity() <= max + INFLATE_CHUNK,
                "buffer {} for limit {max}",
                out.capacity()
            );
            assert!(
                r.is_err() || out.len() <= max,
                "inflated {} bytes past the limit {max}",
                out.len()
            );
            if r.is_err() {
                failed = true;
                break;
            }
        }
        if failed {
            return;
        }
        let r = d.finish_message(&mut out, max, &mut ok);
        assert!(out.capacity() <= max + INFLATE_CHUNK);
        assert!(r.is_err() || out.len() <= max);
        if r.is_err() {
            return;
        }
    }
});
