//! The opening handshake (RFC 6455 §4), both roles.
//!
//! [`HeadReader`] collects an HTTP head incrementally and hands it to
//! `httparse` exactly once, when the blank line that ends it has arrived, so a
//! head trickled one byte at a time costs linear time. [`server`] validates a
//! request and writes the response; [`client`] writes a request and validates
//! the response.

pub mod client;
mod error;
pub mod header;
pub mod server;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use sha1::{Digest, Sha1};

pub use error::HandshakeError;

/// The GUID of RFC 6455 §1.3.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// ```
/// // RFC 6455 §1.3's example.
/// assert_eq!(
///     wsbolt_proto::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A fresh random `Sec-WebSocket-Key`: 16 random bytes, base64-encoded.
pub fn generate_key() -> String {
    use rand::{Rng, SeedableRng};
    let bytes: [u8; 16] = rand::rngs::StdRng::from_os_rng().random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Limits on an HTTP head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeadLimits {
    /// The most bytes the head (request line, headers, blank line) may take.
    pub max_head_size: usize,
    /// The most header fields.
    pub max_headers: usize,
}

impl HeadLimits {
    /// At most `max_head_size` bytes and `max_headers` header fields.
    pub const fn new(max_head_size: usize, max_headers: usize) -> Self {
        HeadLimits {
            max_head_size,
            max_headers,
        }
    }
    /// A server's defaults for requests: 8 KiB and 64 headers (431 beyond).
    pub const REQUEST: HeadLimits = HeadLimits {
        max_head_size: 8 * 1024,
        max_headers: 64,
    };
    /// A client's defaults for responses: 64 KiB and 128 headers.
    pub const RESPONSE: HeadLimits = HeadLimits {
        max_head_size: 64 * 1024,
        max_headers: 128,
    };
}

/// Collects an HTTP head from bytes that arrive in any split.
#[derive(Debug)]
pub struct HeadReader {
    buf: BytesMut,
    /// Bytes already searched for the end of the head.
    scanned: usize,
    limits: HeadLimits,
    first_line_checked: bool,
}

/// A complete head and what followed it in the same reads.
#[derive(Debug)]
pub struct Head {
    /// The head's bytes, through the blank line.
    pub bytes: Bytes,
    /// Bytes after the head (the first frames), to hand to the connection.
    pub rest: Bytes,
}

impl HeadReader {
    /// An empty reader.
    pub fn new(limits: HeadLimits) -> Self {
        HeadReader {
            buf: BytesMut::new(),
            scanned: 0,
            limits,
            first_line_checked: false,
        }
    }

    /// Adds bytes. Returns the head once it is complete, or
    /// [`HandshakeError::HeadTooLarge`] once it cannot fit the limit.
    /// `check_first_line` is called once, when the first line is complete, so
    /// garbage is refused without waiting for the head to fill up.
    pub fn feed(
        &mut self,
        data: &[u8],
        check_first_line: impl FnOnce(&[u8]) -> Result<(), HandshakeError>,
    ) -> Result<Option<Head>, HandshakeError> {
        self.buf.extend_from_slice(data);
        let from = self.scanned.saturating_sub(3);
        if !self.first_line_checked {
            // Only a first line that fits the limit is judged: past it the
            // answer is 431 however the bytes were split (a line judged
            // because one read brought it whole would otherwise get 400).
            let within = self.buf.len().min(self.limits.max_head_size);
            let from_line = self.scanned.saturating_sub(1).min(within);
            if let Some(eol) = find(&self.buf[from_line..within], b"\r\n") {
                let eol = eol + from_line;
                self.first_line_checked = true;
                check_first_line(&self.buf[..eol + 2])?;
            }
        }
        match find(&self.buf[from..], b"\r\n\r\n") {
            Some(pos) => {
                let end = from + pos + 4;
                if end > self.limits.max_head_size {
                    return Err(HandshakeError::HeadTooLarge);
                }
                let mut all = std::mem::take(&mut self.buf);
                let bytes = all.split_to(end).freeze();
                Ok(Some(Head {
                    bytes,
                    rest: all.freeze(),
                }))
            }
            None => {
                self.scanned = self.buf.len();
                if self.buf.len() >= self.limits.max_head_size {
                    return Err(HandshakeError::HeadTooLarge);
                }
                Ok(None)
            }
        }
    }

    /// Bytes buffered so far.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_split_at_every_byte_is_found_once() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x81\x80";
        for split in 0..req.len() - 2 {
            let mut r = HeadReader::new(HeadLimits::REQUEST);
            let a = r.feed(&req[..split], |_| Ok(())).unwrap();
            let head = match a {
                Some(h) => h,
                None => r.feed(&req[split..], |_| Ok(())).unwrap().unwrap(),
            };
            assert_eq!(&head.bytes[..], &req[..req.len() - 2]);
            assert_eq!(&head.rest[..], b"\x81\x80", "split {split}");
        }
    }

    /// Found by the http_request fuzz target: a malformed first line whose
    /// end lies past the limit got 400 when it arrived in one read and 431
    /// when it arrived in pieces. Past the limit it is 431 either way.
    #[test]
    fn a_first_line_past_the_limit_is_431_however_it_is_split() {
        let limits = HeadLimits {
            max_head_size: 64,
            max_headers: 8,
        };
        let mut line = b"GET /".to_vec();
        line.extend_from_slice(&[b','; 100]);
        line.extend_from_slice(b" bad\r\nHost: x\r\n\r\n");
        let reject = |_: &[u8]| Err(HandshakeError::Malformed("bad line".into()));
        let whole = HeadReader::new(limits).feed(&line, reject).unwrap_err();
        assert_eq!(whole, HandshakeError::HeadTooLarge);
        let mut r = HeadReader::new(limits);
        let split = line.iter().find_map(|b| r.feed(&[*b], reject).err()).unwrap();
        assert_eq!(split, HandshakeError::HeadTooLarge);
    }

    #[test]
    fn oversized_head_is_refused_when_it_crosses_the_limit() {
        let mut r = HeadReader::new(HeadLimits {
            max_head_size: 64,
            max_headers: 8,
        });
        assert!(r.feed(b"GET / HTTP/1.1\r\n", |_| Ok(())).unwrap().is_none());
        let long = vec![b'a'; 100];
        assert_eq!(r.feed(&long, |_| Ok(())).unwrap_err(), HandshakeError::HeadTooLarge);
    }
}
