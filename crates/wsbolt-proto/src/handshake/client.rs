//! The client's side of the opening handshake: write the request, validate
//! the response (RFC 6455 §4.1 and the WHATWG "establish a WebSocket
//! connection" steps).

use bytes::Bytes;

use super::header::Headers;
use super::{accept_key, HandshakeError, HeadLimits, HeadReader};

/// What the client asks for.
#[derive(Debug, Clone, Default)]
pub struct ClientRequest {
    /// The `Host` header value (`host` or `host:port`).
    pub host: String,
    /// The request target: path and query, e.g. `/chat?room=1`.
    pub target: String,
    /// Subprotocols to request, in order of preference.
    pub protocols: Vec<String>,
    /// The `Sec-WebSocket-Extensions` offer, if any, and the extension names
    /// it offers (for checking the answer).
    pub extensions: Option<(String, Vec<String>)>,
    /// Extra header fields (already checked to hold no CR/LF).
    pub headers: Vec<(String, String)>,
    /// `Sec-WebSocket-Key`; [`super::generate_key`] makes one.
    pub key: String,
}

/// The server's accepted answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status (always 101 once accepted).
    pub status: u16,
    /// The header fields.
    pub headers: Headers,
    /// The subprotocol the server chose, if any.
    pub protocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` value, if any.
    pub extensions: Option<String>,
}

/// A client handshake in progress.
///
/// ```
/// use wsbolt_proto::handshake::client::{ClientHandshake, ClientRequest};
/// let req = ClientRequest {
///     host: "example.com".into(),
///     target: "/chat".into(),
///     key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
///     ..Default::default()
/// };
/// let (mut hs, bytes) = ClientHandshake::new(&req);
/// assert!(bytes.starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
/// let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
/// let (resp, rest) = hs.feed(answer).unwrap().unwrap();
/// assert_eq!((resp.status, resp.protocol, rest.len()), (101, None, 0));
/// ```
#[derive(Debug)]
pub struct ClientHandshake {
    expected_accept: String,
    protocols: Vec<String>,
    offered: Vec<String>,
    head: HeadReader,
    limits: HeadLimits,
    /// The head of a response other than 101, for [`ClientHandshake::take_refusal`].
    refusal: Option<(http::response::Parts, Bytes)>,
}

impl ClientHandshake {
    /// Starts a handshake: returns it and the request bytes to send.
    pub fn new(req: &ClientRequest) -> (ClientHandshake, Vec<u8>) {
        let mut r = Vec::with_capacity(256);
        let mut field = |name: &str, value: &str| {
            r.extend_from_slice(name.as_bytes());
            r.extend_from_slice(b": ");
            r.extend_from_slice(value.as_bytes());
            r.extend_from_slice(b"\r\n");
        };
        field(&format!("GET {} HTTP/1.1\r\nHost", req.target), &req.host);
        field("Upgrade", "websocket");
        field("Connection", "Upgrade");
        field("Sec-WebSocket-Key", &req.key);
        field("Sec-WebSocket-Version", "13");
        if !req.protocols.is_empty() {
            field("Sec-WebSocket-Protocol", &req.protocols.join(", "));
        }
        if let Some((offer, _)) = &req.extensions {
            field("Sec-WebSocket-Extensions", offer);
        }
        for (n, v) in &req.headers {
            field(n, v);
        }
        r.extend_from_slice(b"\r\n");
        let hs = ClientHandshake {
            expected_accept: accept_key(req.key.as_bytes()),
            protocols: req.protocols.clone(),
            offered: req
                .extensions
                .as_ref()
                .map(|(_, names)| names.clone())
                .unwrap_or_default(),
            head: HeadReader::new(HeadLimits::RESPONSE),
            limits: HeadLimits::RESPONSE,
            refusal: None,
        };
        (hs, r)
    }

    /// Adds response bytes; returns the validated response and the bytes
    /// that followed it (the server's first frames) once the head is complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<(Response, Bytes)>, HandshakeError> {
        let Some(head) = self.head.feed(data, check_status_line)? else {
            return Ok(None);
        };
        let mut fields = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
        let mut resp = httparse::Response::new(&mut fields);
        match resp.parse(&head.bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HandshakeError::Malformed("incomplete head".into())),
            Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
            Err(e) => return Err(HandshakeError::Malformed(e.to_string())),
        }
        let status = resp.code.unwrap_or_default();
        let headers = Headers::from_httparse(&head.bytes, resp.headers);
        if status != 101 {
            self.refusal = refusal_parts(status, &headers).map(|parts| (parts, head.rest.clone()));
            return Err(HandshakeError::UnexpectedStatus(status));
        }
        let validated = self.validate(status, headers)?;
        Ok(Some((validated, head.rest)))
    }

    /// After [`HandshakeError::UnexpectedStatus`]: the refusal's status and
    /// header fields, and the bytes that followed its head (the start of its
    /// body), so a client can act on `Retry-After` or `WWW-Authenticate`.
    /// `None` if the head cannot be represented (an invalid status or field).
    pub fn take_refusal(&mut self) -> Option<(http::response::Parts, Bytes)> {
        self.refusal.take()
    }

    fn validate(&self, status: u16, headers: Headers) -> Result<Response, HandshakeError> {
        if status != 101 {
            return Err(HandshakeError::UnexpectedStatus(status));
        }
        match headers.single("Upgrade")? {
            Some(v) if v.eq_ignore_ascii_case(b"websocket") => {}
            _ => return Err(HandshakeError::MissingUpgrade),
        }
        // At most once, and it must list `Upgrade`.
        headers.single("Connection")?;
        if !headers.has_token("Connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        match headers.single("Sec-WebSocket-Accept")? {
            Some(v) if v == self.expected_accept.as_bytes() => {}
            _ => return Err(HandshakeError::BadAccept),
        }
        negotiated(status, headers, &self.protocols, &self.offered)
    }
}

/// Validates an HTTP/2 extended CONNECT's answer (RFC 8441 §5): status 200,
/// then the same subprotocol and extension checks as over HTTP/1.1 (no
/// `Upgrade`, `Connection` or accept key exist there). `req` is the request
/// that was sent (its `key` is not used).
///
/// ```
/// use wsbolt_proto::handshake::client::{validate_http2_response, ClientRequest};
/// use wsbolt_proto::handshake::header::Headers;
/// let req = ClientRequest { protocols: vec!["chat".into()], ..Default::default() };
/// let h: Headers = [("sec-websocket-protocol".to_string(), bytes::Bytes::from_static(b"chat"))].into_iter().collect();
/// assert_eq!(validate_http2_response(&req, 200, h).unwrap().protocol.as_deref(), Some("chat"));
/// ```
///
/// # Errors
///
/// [`HandshakeError::UnexpectedStatus`] for a status other than 200; the
/// subprotocol and extension errors of the HTTP/1.1 path.
pub fn validate_http2_response(req: &ClientRequest, status: u16, headers: Headers) -> Result<Response, HandshakeError> {
    if status != 200 {
        return Err(HandshakeError::UnexpectedStatus(status));
    }
    let offered = req.extensions.as_ref().map_or(&[][..], |(_, names)| names.as_slice());
    negotiated(status, headers, &req.protocols, offered)
}

/// The subprotocol and extension checks shared by both HTTP versions.
fn negotiated(
    status: u16,
    headers: Headers,
    protocols: &[String],
    offered: &[String],
) -> Result<Response, HandshakeError> {
    let protocol = match headers.single("Sec-WebSocket-Protocol")? {
        None => None,
        Some(p) => {
            let p = String::from_utf8_lossy(p).into_owned();
            if !protocols.contains(&p) {
                return Err(HandshakeError::UnrequestedProtocol(p));
            }
            Some(p)
        }
    };
    let mut extensions: Vec<&str> = Vec::new();
    for value in headers.values("Sec-WebSocket-Extensions") {
        let value = std::str::from_utf8(value).map_err(|_| HandshakeError::InvalidExtensionHeader)?;
        for ext in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let name = ext.split(';').next().unwrap_or_default().trim();
            if !offered.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                return Err(HandshakeError::UnofferedExtension(name.to_string()));
            }
        }
        extensions.push(value);
    }
    let extensions = (!extensions.is_empty()).then(|| extensions.join(", "));
    Ok(Response {
        status,
        headers,
        protocol,
        extensions,
    })
}

fn refusal_parts(status: u16, headers: &Headers) -> Option<http::response::Parts> {
    let mut b = http::Response::builder().status(status);
    for (name, value) in headers.iter() {
        b = b.header(name, value);
    }
    b.body(()).ok().map(|r| r.into_parts().0)
}

fn check_status_line(line: &[u8]) -> Result<(), HandshakeError> {
    let mut none: [httparse::Header<'_>; 0] = [];
    match httparse::Response::new(&mut none).parse(line) {
        Ok(_) | Err(httparse::Error::TooManyHeaders) => Ok(()),
        Err(e) => Err(HandshakeError::Malformed(e.to_string())),
    }
}
