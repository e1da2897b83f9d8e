//! Incremental UTF-8 validation.
//!
//! Text messages arrive in pieces (fragments, and reads that split frames), and
//! RFC 6455 §8.1 lets an endpoint fail the connection as soon as the bytes
//! seen so far cannot be the start of valid UTF-8. The validator keeps only the
//! bytes of one code point split across pieces (at most 3) and hands all
//! complete runs to `simdutf8`, which validates at memory speed.

/// The bytes seen so far are not, and can never become, valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl std::fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl std::error::Error for InvalidUtf8 {}

/// Validates a byte stream that arrives in pieces.
///
/// ```
/// use wsbolt_proto::utf8::Utf8Validator;
/// let mut v = Utf8Validator::new();
/// let euro = "€".as_bytes(); // e2 82 ac
/// v.feed(&euro[..1]).unwrap();
/// v.feed(&euro[1..]).unwrap();
/// assert!(v.finish().is_ok());
/// // An impossible continuation fails at once, before the message ends.
/// assert!(Utf8Validator::new().feed(&[0xe2, 0x28]).is_err());
/// ```
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub const fn new() -> Self {
        Self {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Validates the next piece. Fails as soon as the stream so far cannot be
    /// a prefix of valid UTF-8.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = self.partial_len as usize;
            let need = sequence_len(self.partial[0]) - have;
            let take = need.min(input.len());
            let mut buf = self.partial;
            buf[have..have + take].copy_from_slice(&input[..take]);
            let total = have + take;
            match simdutf8::compat::from_utf8(&buf[..total]) {
                Ok(_) => {
                    self.partial_len = 0;
                    input = &input[take..];
                }
                Err(e) if e.error_len().is_none() => {
                    // Still incomplete, but a valid prefix: input is exhausted.
                    self.partial = buf;
                    self.partial_len = total as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match simdutf8::compat::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &input[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the stream: fails if it stopped inside a code point. The validator
    /// is reset for the next stream either way.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let incomplete = self.partial_len != 0;
        self.partial_len = 0;
        if incomplete {
            Err(InvalidUtf8)
        } else {
            Ok(())
        }
    }

    /// Whether the stream so far ends on a code point boundary.
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }
}

/// Validates a complete byte string at once.
#[inline]
pub fn validate(input: &[u8]) -> Result<(), InvalidUtf8> {
    simdutf8::basic::from_utf8(input).map(|_| ()).map_err(|_| InvalidUtf8)
}

/// Length of the sequence a lead byte starts. Only called on bytes simdutf8
/// already accepted as the lead of an incomplete sequence (C2..=F4).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> bool {
        let mut v = Utf8Validator::new();
        v.feed(bytes).is_ok() && v.finish().is_ok()
    }

    fn split_everywhere_agrees(bytes: &[u8]) {
        let expect = std::str::from_utf8(bytes).is_ok();
        assert_eq!(whole(bytes), expect, "{bytes:x?}");
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut v = Utf8Validator::new();
                let ok = v.feed(&bytes[..i]).is_ok()
                    && v.feed(&bytes[i..j]).is_ok()
                    && v.feed(&bytes[j..]).is_ok()
                    && v.finish().is_ok();
                assert_eq!(ok, expect, "{bytes:x?} split at {i},{j}");
            }
        }
    }

    #[test]
    fn agrees_with_std_on_every_split() {
        let samples: &[&[u8]] = &[
            b"",
            b"hello",
            "κόσμε".as_bytes(),
            "€𝄞ab".as_bytes(),
            &[0xf4, 0x8f, 0xbf, 0xbf],       // U+10FFFF
            &[0xf4, 0x90, 0x80, 0x80],       // above U+10FFFF
            &[0xed, 0xa0, 0x80],             // surrogate
            &[0xc0, 0xaf],                   // overlong
            &[0xe0, 0x80, 0xaf],             // overlong
            &[0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
            &[0xce, 0xba, 0xe1],             // truncated
            &[0x80],
            &[0xff],
        ];
        for s in samples {
            split_everywhere_agrees(s);
        }
    }

    #[test]
    fn fails_fast_on_impossible_prefix() {
        // Autobahn 6.4.x: the stream must be rejected at the first bad byte,
        // before the message is complete.
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert_eq!(v.feed(&[0xf4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
    }

    #[test]
    fn incomplete_at_end_fails() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xe2, 0x82]).unwrap();
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
        // And the validator is reusable afterwards.
        assert!(v.feed(b"ok").is_ok() && v.finish().is_ok());
    }
}
