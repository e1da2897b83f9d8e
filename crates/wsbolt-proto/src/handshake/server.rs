//! The server's side of the opening handshake: read a request, validate it
//! (RFC 6455 §4.2.1 over HTTP/1.1, RFC 8441 §4–5 over HTTP/2), answer with
//! 101 (or 200 over HTTP/2) or the right error status.
//!
//! One validation path serves both HTTP versions: an HTTP/2 server adapter
//! maps its request onto [`Request`] (with [`Request::extended_connect`] set)
//! and calls the same [`validate`] and [`accept_head`].

use std::mem::MaybeUninit;

use base64::Engine;
use bytes::Bytes;

use super::header::{is_tchar, is_token, Headers};
use super::{accept_key, HandshakeError, HeadLimits, HeadReader};

/// A parsed HTTP request head.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target, e.g. `/chat?room=1`.
    pub target: String,
    /// The minor HTTP/1 version (1 for HTTP/1.1; unused over HTTP/2).
    pub version: u8,
    /// The header fields.
    pub headers: Headers,
    /// `Some(protocol)` for an HTTP/2 request, with the value of its
    /// `:protocol` pseudo-header (RFC 8441 extended CONNECT; empty when the
    /// request had none); `None` for HTTP/1.x.
    pub extended_connect: Option<String>,
}

impl Request {
    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The target's query (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// Whether the request asks for a WebSocket at all (`Upgrade: websocket`):
    /// servers that also serve plain HTTP route on this.
    pub fn is_upgrade(&self) -> bool {
        match &self.extended_connect {
            None => self.headers.has_token("upgrade", "websocket"),
            Some(p) => self.method == "CONNECT" && p.eq_ignore_ascii_case("websocket"),
        }
    }

    /// Whether the request came over HTTP/2.
    pub fn is_http2(&self) -> bool {
        self.extended_connect.is_some()
    }
}

/// Reads a request head from bytes that arrive in any split.
///
/// ```
/// use wsbolt_proto::handshake::server::RequestReader;
/// let mut r = RequestReader::default();
/// assert!(r.feed(b"GET /echo HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
/// let (req, rest) = r.feed(b"\r\n\x81").unwrap().unwrap();
/// assert_eq!((req.path(), &rest[..]), ("/echo", &b"\x81"[..]));
/// ```
#[derive(Debug)]
pub struct RequestReader {
    head: HeadReader,
    limits: HeadLimits,
    /// Bytes of the method checked so far; `None` once its space was seen.
    method_checked: Option<usize>,
}

/// The longest method accepted before the request is refused as garbage.
const MAX_METHOD_LEN: usize = 16;

impl Default for RequestReader {
    fn default() -> Self {
        Self::new(HeadLimits::REQUEST)
    }
}

impl RequestReader {
    /// A reader with the given limits.
    pub fn new(limits: HeadLimits) -> Self {
        RequestReader {
            head: HeadReader::new(limits),
            limits,
            method_checked: Some(0),
        }
    }

    /// Adds bytes; returns the request and the bytes that followed it once
    /// the head is complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<(Request, Bytes)>, HandshakeError> {
        Ok(self.feed_head(data)?.map(|(request, _head, rest)| (request, rest)))
    }

    /// As [`feed`](RequestReader::feed), and the head itself exactly as
    /// read (request line, fields, blank line): a server that hands the
    /// connection to another HTTP stack replays these bytes, not a
    /// re-serialisation of the parsed fields. The request's fields share the
    /// head's buffer, so keeping it costs no copy.
    ///
    /// ```
    /// use wsbolt_proto::handshake::server::RequestReader;
    /// let mut r = RequestReader::default();
    /// let (req, head, rest) = r.feed_head(b"GET / HTTP/1.1\r\nhOST:  a\r\n\r\nx").unwrap().unwrap();
    /// assert_eq!(req.path(), "/");
    /// assert_eq!((&head[..], &rest[..]), (&b"GET / HTTP/1.1\r\nhOST:  a\r\n\r\n"[..], &b"x"[..]));
    /// ```
    pub fn feed_head(&mut self, data: &[u8]) -> Result<Option<(Request, Bytes, Bytes)>, HandshakeError> {
        self.check_method(data)?;
        let Some(head) = self.head.feed(data, check_request_line)? else {
            return Ok(None);
        };
        let request = parse_request(&head.bytes, self.limits.max_headers)?;
        Ok(Some((request, head.bytes, head.rest)))
    }
}

impl RequestReader {
    /// Refuses bytes that cannot start a request (a TLS ClientHello, binary
    /// garbage) as soon as they arrive, before a line ending shows up: the
    /// method must be a short token followed by a space.
    fn check_method(&mut self, data: &[u8]) -> Result<(), HandshakeError> {
        let Some(seen) = self.method_checked else { return Ok(()) };
        for (i, &b) in data.iter().enumerate() {
            if b == b' ' && seen + i > 0 {
                self.method_checked = None;
                return Ok(());
            }
            if !is_tchar(b) || seen + i >= MAX_METHOD_LEN {
                return Err(HandshakeError::Malformed("not an HTTP request".into()));
            }
        }
        self.method_checked = Some(seen + data.len());
        Ok(())
    }
}

/// Refuses a first line that is not an HTTP request line, before the rest
/// of the head arrives.
fn check_request_line(line: &[u8]) -> Result<(), HandshakeError> {
    let mut none: [httparse::Header<'_>; 0] = [];
    match httparse::Request::new(&mut none).parse(line) {
        Ok(_) | Err(httparse::Error::TooManyHeaders) => Ok(()),
        Err(e) => Err(HandshakeError::Malformed(e.to_string())),
    }
}

/// Header slots kept on the stack by [`parse_request`]: the default
/// `max_headers` (2 KiB of stack).
const STACK_HEADER_SLOTS: usize = 64;

/// Parses a complete request head.
pub fn parse_request(head: &Bytes, max_headers: usize) -> Result<Request, HandshakeError> {
    // The parser's header slots: on the stack up to the default limit,
    // uninitialised (httparse writes each before it reads it). A heap
    // vector of 64 zeroed slots (2 KiB) was the largest allocation of a
    // handshake, and freeing it the costliest.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADER_SLOTS];
    let mut heap = Vec::new();
    let slots = if max_headers <= STACK_HEADER_SLOTS {
        &mut stack[..max_headers]
    } else {
        heap.resize_with(max_headers, MaybeUninit::uninit);
        &mut heap[..]
    };
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, slots) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HandshakeError::Malformed("incomplete head".into())),
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
        Err(e) => return Err(HandshakeError::Malformed(e.to_string())),
    }
    Ok(Request {
        method: req.method.unwrap_or_default().to_string(),
        target: req.path.unwrap_or_default().to_string(),
        version: req.version.unwrap_or_default(),
        headers: Headers::from_httparse(head, req.headers),
        extended_connect: None,
    })
}

/// What a valid WebSocket request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// `Sec-WebSocket-Key`, as sent (HTTP/1.1); `None` over HTTP/2, which
    /// has no key (RFC 8441 §5).
    pub key: Option<String>,
    /// Requested subprotocols, in the client's order of preference.
    pub protocols: Vec<String>,
    /// The raw `Sec-WebSocket-Extensions` offers, one string per header field.
    pub extensions: Vec<String>,
    /// The `Origin` header, if any.
    pub origin: Option<String>,
}

/// Validates a WebSocket opening request.
///
/// Over HTTP/1.1 it checks, in order: method `GET` (405), HTTP version,
/// `Host`, `Upgrade`, `Connection` (400), `Sec-WebSocket-Version` (426),
/// `Sec-WebSocket-Key` (400). Over HTTP/2 (RFC 8441 §4): method `CONNECT`
/// (405), `:protocol` `websocket` (400), `:authority` (carried as `Host`,
/// 400), `Sec-WebSocket-Version` (426); there is no key, and `Upgrade` and
/// `Connection` are not HTTP/2 fields. Subprotocols, extensions and `Origin`
/// are read the same way for both.
pub fn validate(req: &Request) -> Result<Offer, HandshakeError> {
    let h = &req.headers;
    let key = match &req.extended_connect {
        None => Some(validate_http1(req)?),
        Some(protocol) => {
            if req.method != "CONNECT" {
                return Err(HandshakeError::MethodNotAllowed);
            }
            if !protocol.eq_ignore_ascii_case("websocket") {
                return Err(HandshakeError::MissingUpgrade);
            }
            if h.single("Host")?.is_none() {
                return Err(HandshakeError::MissingHost);
            }
            check_version(h)?;
            None
        }
    };
    let protocols = h
        .list("Sec-WebSocket-Protocol")
        .filter(|p| is_token(p))
        .map(str::to_string)
        .collect();
    let extensions = h
        .values("Sec-WebSocket-Extensions")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .map(str::to_string)
        .collect();
    let origin = h
        .single("Origin")?
        .and_then(|o| std::str::from_utf8(o).ok())
        .map(str::to_string);
    Ok(Offer {
        key,
        protocols,
        extensions,
        origin,
    })
}

/// The HTTP/1.1 checks up to the key; returns the key.
fn validate_http1(req: &Request) -> Result<String, HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if req.version < 1 {
        return Err(HandshakeError::HttpVersion);
    }
    let h = &req.headers;
    if h.single("Host")?.is_none() {
        return Err(HandshakeError::MissingHost);
    }
    if !h.has_token("Upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !h.has_token("Connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    check_version(h)?;
    let key = h.single("Sec-WebSocket-Key")?.ok_or(HandshakeError::MissingKey)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| HandshakeError::InvalidKey)?;
    if decoded.len() != 16 {
        return Err(HandshakeError::InvalidKey);
    }
    String::from_utf8(key.to_vec()).map_err(|_| HandshakeError::InvalidKey)
}

/// `Sec-WebSocket-Version: 13`, exactly once (426 otherwise).
fn check_version(h: &Headers) -> Result<(), HandshakeError> {
    match h.single("Sec-WebSocket-Version") {
        Ok(Some(b"13")) => Ok(()),
        _ => Err(HandshakeError::UnsupportedVersion),
    }
}

/// The answer to a valid [`Offer`] as an `http::Response` head, for a server
/// whose HTTP stack writes the response itself: `101 Switching Protocols`
/// with `Upgrade`, `Connection` and `Sec-WebSocket-Accept` over HTTP/1.1,
/// `200 OK` over HTTP/2 (an offer without a key); then the chosen
/// subprotocol and extensions and `extra` fields (which the caller has
/// checked with [`super::header::is_valid_field`]).
///
/// ```
/// use wsbolt_proto::handshake::server::{accept_head, Offer};
/// let offer = Offer { key: None, protocols: vec![], extensions: vec![], origin: None };
/// let r = accept_head(&offer, Some("chat"), None, &[]).unwrap();
/// assert_eq!(r.status(), 200);
/// assert_eq!(r.headers()["sec-websocket-protocol"], "chat");
/// ```
///
/// # Errors
///
/// `http::Error` for a field the `http` crate does not accept.
pub fn accept_head(
    offer: &Offer,
    protocol: Option<&str>,
    extensions: Option<&str>,
    extra: &[(String, String)],
) -> Result<http::Response<()>, http::Error> {
    use http::header::{self, HeaderName, HeaderValue};
    // Fields inserted directly with the known names: the response builder
    // parses every name again (a fifth of this function's cost).
    let mut r = http::Response::new(());
    let h = r.headers_mut();
    if let Some(key) = &offer.key {
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&accept_key(key.as_bytes()))?,
        );
    }
    if let Some(p) = protocol {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(p)?);
    }
    if let Some(e) = extensions {
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_str(e)?);
    }
    for (n, v) in extra {
        h.append(HeaderName::from_bytes(n.as_bytes())?, HeaderValue::from_str(v)?);
    }
    if offer.key.is_some() {
        *r.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    }
    Ok(r)
}

/// The `101 Switching Protocols` answer to `key`, with the chosen subprotocol
/// and extensions and extra header fields (which the caller has checked with
/// [`super::header::is_valid_value`]).
pub fn accept_response(
    key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
    extra: &[(String, String)],
) -> Vec<u8> {
    let mut r = Vec::with_capacity(160);
    r.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    r.extend_from_slice(accept_key(key.as_bytes()).as_bytes());
    r.extend_from_slice(b"\r\n");
    let mut field = |name: &str, value: &str| {
        r.extend_from_slice(name.as_bytes());
        r.extend_from_slice(b": ");
        r.extend_from_slice(value.as_bytes());
        r.extend_from_slice(b"\r\n");
    };
    if let Some(p) = protocol {
        field("Sec-WebSocket-Protocol", p);
    }
    if let Some(e) = extensions {
        field("Sec-WebSocket-Extensions", e);
    }
    for (n, v) in extra {
        field(n, v);
    }
    r.extend_from_slice(b"\r\n");
    r
}
