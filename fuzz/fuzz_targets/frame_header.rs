//! The frame header parser: never panics, never accepts what the rules
//! forbid, and a parsed header encodes back to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsbolt_proto::frame::{FrameHeader, HeaderRules};

fuzz_target!(|data: &[u8]| {
    let Some(([ctl], buf)) = wsbolt_fuzz::split_control::<1>(data) else {
        return;
    };
    let max_payload = if ctl & 4 != 0 { 125 } else { 1 << 24 };
    let rules = HeaderRules {
        expect_masked: ctl & 1 != 0,
        allow_rsv1: ctl & 2 != 0,
        max_payload,
        max_compressed_payload: wsbolt_proto::frame::deflate_allowance(max_payload),
    };
    match FrameHeader::parse(buf, &rules) {
        Ok(Some((h, n))) => {
            assert!(n <= buf.len() && n <= wsbolt_proto::frame::MAX_HEADER_LEN);
            let max = if h.rsv1 {
                rules.max_compressed_payload
            } else {
                rules.max_payload
            };
            assert!(h.payload_len <= max);
            assert_eq!(h.mask.is_some(), rules.expect_masked);
            if h.opcode.is_control() {
                assert!(h.fin && h.payload_len <= 125 && !h.rsv1);
            }
            let mut out = [0u8; wsbolt_proto::frame::MAX_HEADER_LEN];
            let m = h.encode(&mut out);
            assert_eq!(&out[..m], &buf[..n], "a parsed header encodes back to its bytes");
            // Any prefix is "need more", never an error or another header.
            for cut in 0..n {
                assert_eq!(FrameHeader::parse(&buf[..cut], &rules), Ok(None));
            }
        }
        Ok(None) => assert!(buf.len() < wsbolt_proto::frame::MAX_HEADER_LEN),
        Err(_) => {}
    }
});
