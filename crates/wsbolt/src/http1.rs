//! HTTP/1.1 outside the protocol core: writing a refusal (any
//! `http::Response`), reading a refused handshake's bounded body, and
//! percent-decoding (URL credentials, request paths).

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most bytes of a refused handshake's body a client keeps (64 KiB).
pub const MAX_REFUSAL_BODY: usize = 64 * 1024;
/// How long a client waits for a refused handshake's body (2 s), so a server
/// that keeps the connection open without a length cannot hold the error.
pub const REFUSAL_BODY_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// `response` as HTTP/1.1 bytes: the status with its reason phrase (empty for
/// a status that has none), its header fields, `Content-Length` and
/// `Connection: close` unless it sets them, then the body.
///
/// ```
/// let r = http::Response::builder()
///     .status(429)
///     .header("retry-after", "30")
///     .body(bytes::Bytes::from_static(b"slow down"))
///     .unwrap();
/// let bytes = wsbolt::http1::response_bytes(&r);
/// assert!(bytes.starts_with(b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 30\r\n"));
/// assert!(bytes.ends_with(b"content-length: 9\r\nconnection: close\r\n\r\nslow down"));
/// ```
pub fn response_bytes(response: &http::Response<Bytes>) -> Vec<u8> {
    let status = response.status();
    let body = response.body();
    let mut r = Vec::with_capacity(128 + body.len());
    r.extend_from_slice(b"HTTP/1.1 ");
    r.extend_from_slice(status.as_str().as_bytes());
    r.push(b' ');
    r.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    r.extend_from_slice(b"\r\n");
    let mut field = |name: &[u8], value: &[u8]| {
        r.extend_from_slice(name);
        r.extend_from_slice(b": ");
        r.extend_from_slice(value);
        r.extend_from_slice(b"\r\n");
    };
    for (name, value) in response.headers() {
        field(name.as_str().as_bytes(), value.as_bytes());
    }
    let headers = response.headers();
    if !headers.contains_key(CONTENT_LENGTH) && !headers.contains_key(TRANSFER_ENCODING) {
        field(b"content-length", body.len().to_string().as_bytes());
    }
    if !headers.contains_key(CONNECTION) {
        field(b"connection", b"close");
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

/// Reads the body of a refused handshake: `Content-Length` bytes, or (with
/// neither a length nor chunked coding) until the server closes, at most
/// [`MAX_REFUSAL_BODY`] and for at most [`REFUSAL_BODY_TIME`]; a chunked
/// body is not decoded and is left empty. `start` holds the bytes that came
/// with the head. Read errors and the time limit end the body where it is:
/// the refusal itself is what matters.
pub(crate) async fn read_refusal_body<S: AsyncRead + Unpin>(
    io: &mut S,
    headers: &http::HeaderMap,
    start: Bytes,
) -> Bytes {
    if headers.contains_key(TRANSFER_ENCODING) {
        return Bytes::new();
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let want = declared.unwrap_or(usize::MAX).min(MAX_REFUSAL_BODY);
    let mut body = BytesMut::from(&start[..start.len().min(want)]);
    let deadline = tokio::time::Instant::now() + REFUSAL_BODY_TIME;
    while body.len() < want {
        let room = (want - body.len()).min(16 * 1024);
        let mut chunk = vec![0u8; room];
        match tokio::time::timeout_at(deadline, io.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    body.freeze()
}

/// Percent-decodes `s` (RFC 3986 §2.1): `None` when an escape is not `%`
/// and two hex digits, or when the result is not UTF-8.
///
/// ```
/// assert_eq!(wsbolt::http1::percent_decode("al%40ice%3a").as_deref(), Some("al@ice:"));
/// assert_eq!(wsbolt::http1::percent_decode("%+1"), None);
/// ```
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let digit = |c: u8| (c as char).to_digit(16);
            out.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
