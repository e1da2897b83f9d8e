//! A server's handshake policy, apart from any transport or HTTP stack:
//! validation, the request hook, Origin, subprotocol and deflate. The direct
//! path (`accept`) and the HTTP-stack adapters (`upgrade`) both decide here,
//! so a request is judged the same whichever way it came.

use std::net::SocketAddr;

use bytes::Bytes;
use wsbolt_proto::deflate::{negotiate_server, DeflateParams};
use wsbolt_proto::handshake::header::is_valid_field;
use wsbolt_proto::handshake::server::{validate, Offer, Request};
use wsbolt_proto::handshake::HandshakeError;

use crate::config::{Refusal, ServerConfig};
use crate::error::Error;

/// The client's address, when the server knows it: found in the extensions of
/// the `http::Request` that [`ServerConfig::on_request`](crate::ServerConfig::on_request) sees (set with
/// [`ServerHandshake::with_peer_addr`](crate::ServerHandshake::with_peer_addr)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// An accepted handshake: what to answer and what was negotiated.
pub(crate) struct Answer {
    pub offer: Offer,
    pub protocol: Option<String>,
    pub extensions: Option<String>,
    pub deflate: Option<DeflateParams>,
}

/// Why a handshake is refused.
pub(crate) enum Refuse {
    /// A standard refusal (400, 403, …).
    Standard(HandshakeError),
    /// The request hook's response.
    Custom(Refusal),
    /// The server's own configuration is unusable (answered 500).
    Misconfigured(String),
}

impl Refuse {
    /// The response to send, and the error to report.
    pub(crate) fn into_parts(self) -> (http::Response<Bytes>, Error) {
        match self {
            Refuse::Standard(e) => (e.response(), Error::Handshake(e)),
            Refuse::Custom(Refusal(r)) => (copy_response(&r), Error::Refused(r)),
            Refuse::Misconfigured(why) => {
                let response = http::Response::builder()
                    .status(http::StatusCode::INTERNAL_SERVER_ERROR)
                    .body(Bytes::from_static(b"server misconfigured\n"))
                    .expect("static response");
                (response, Error::Config(why))
            }
        }
    }
}

/// Status, version, fields and body of `r` (the body shares its bytes).
fn copy_response(r: &http::Response<Bytes>) -> http::Response<Bytes> {
    let mut copy = http::Response::new(r.body().clone());
    *copy.status_mut() = r.status();
    *copy.version_mut() = r.version();
    *copy.headers_mut() = r.headers().clone();
    copy
}

/// Validates `request` and applies `config`'s policy (response headers, the
/// request hook, Origin, subprotocol, deflate), without I/O.
pub(crate) fn decide(request: &Request, peer: Option<SocketAddr>, config: &ServerConfig) -> Result<Answer, Refuse> {
    check_response_headers(config)?;
    let offer = validate(request).map_err(Refuse::Standard)?;
    apply(request, offer, peer, config)
}

/// [`decide`] for a request already validated into `offer` (an extractor
/// that refused invalid requests when it was made).
#[cfg(feature = "axum")]
pub(crate) fn decide_offer(
    request: &Request,
    offer: Offer,
    peer: Option<SocketAddr>,
    config: &ServerConfig,
) -> Result<Answer, Refuse> {
    check_response_headers(config)?;
    apply(request, offer, peer, config)
}

/// The policy after validation: the request hook, Origin, subprotocol,
/// deflate.
fn apply(request: &Request, offer: Offer, peer: Option<SocketAddr>, config: &ServerConfig) -> Result<Answer, Refuse> {
    if config.on_request.is_some() || config.check_origin.is_some() {
        // One `http::Request` for both hooks, made only when one is set.
        let req = match to_http(request, peer) {
            Ok(req) => req,
            Err(e) if config.on_request.is_some() => return Err(Refuse::Custom(e.into())),
            Err(e) => return Err(Refuse::Standard(e)),
        };
        if let Some(hook) = &config.on_request {
            hook(&req).map_err(Refuse::Custom)?;
        }
        if let Some(check) = &config.check_origin {
            if !check(offer.origin.as_deref(), &req) {
                return Err(Refuse::Standard(HandshakeError::Forbidden));
            }
        }
    }
    let protocol = config
        .select_protocol
        .as_ref()
        .and_then(|select| select(&offer.protocols));
    // A selection callback must pick one of the offered protocols.
    let protocol = protocol.filter(|p| offer.protocols.contains(p));
    let deflate = config
        .ws
        .deflate
        .as_ref()
        .and_then(|cfg| negotiate_server(&offer.extensions, cfg));
    let (extensions, deflate) = deflate.map_or((None, None), |(a, p)| (Some(a), Some(p)));
    Ok(Answer {
        offer,
        protocol,
        extensions,
        deflate,
    })
}

/// Refuses to answer with header fields that would inject others (a CR or
/// LF in a configured response header): the server is misconfigured.
fn check_response_headers(config: &ServerConfig) -> Result<(), Refuse> {
    match config.response_headers.iter().find(|(n, v)| !is_valid_field(n, v)) {
        Some((name, _)) => Err(Refuse::Misconfigured(format!(
            "response header {name:?} is not a valid field"
        ))),
        None => Ok(()),
    }
}

/// Converts a parsed request head into an `http::Request` for a hook. Field
/// values share the head's bytes (no copy); well-known names and methods take
/// the `http` crate's fast paths.
pub(crate) fn to_http(req: &Request, peer: Option<SocketAddr>) -> Result<http::Request<()>, HandshakeError> {
    let bad = |what: &str| HandshakeError::Malformed(format!("{what} not accepted by the http crate"));
    let mut out = http::Request::new(());
    *out.method_mut() = match req.method.as_str() {
        "GET" => http::Method::GET,
        "CONNECT" => http::Method::CONNECT,
        other => http::Method::from_bytes(other.as_bytes()).map_err(|_| bad("method"))?,
    };
    *out.uri_mut() = req.target.parse().map_err(|_| bad("request target"))?;
    if req.is_http2() {
        *out.version_mut() = http::Version::HTTP_2;
    }
    let headers = out.headers_mut();
    headers.reserve(req.headers.len());
    for (name, value) in req.headers.shared() {
        let name = http::HeaderName::from_bytes(name).map_err(|_| bad("header field name"))?;
        let value = http::HeaderValue::from_maybe_shared(value).map_err(|_| bad("header field value"))?;
        headers.append(name, value);
    }
    if let Some(addr) = peer {
        out.extensions_mut().insert(PeerAddr(addr));
    }
    Ok(out)
}
