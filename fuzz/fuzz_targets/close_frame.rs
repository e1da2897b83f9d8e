//! The Close payload parser: a parsed frame has a valid code and a UTF-8
//! reason of at most 123 bytes, and encodes back to the same payload.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wsbolt_proto::CloseFrame;

fuzz_target!(|data: &[u8]| {
    let payload = Bytes::copy_from_slice(data);
    match CloseFrame::parse(&payload) {
        Ok(Some(frame)) => {
            assert!(frame.code().is_valid_on_wire());
            assert!(frame.reason().len() <= 123);
            assert_eq!(frame.encode(), payload);
        }
        Ok(None) => assert!(data.is_empty()),
        Err(_) => assert!(!data.is_empty()),
    }
});
