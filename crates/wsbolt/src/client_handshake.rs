//! The client's HTTP/1.1 opening handshake over a transport, and the
//! opening request both HTTP versions send.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsbolt_proto::deflate::{self, accept_client, client_offer};
use wsbolt_proto::handshake::client::{ClientHandshake, ClientRequest, Response};
use wsbolt_proto::handshake::generate_key;
use wsbolt_proto::handshake::header::is_valid_field;
use wsbolt_proto::handshake::HandshakeError;
use wsbolt_proto::Role;

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::http1::read_refusal_body;
use crate::stream::WebSocketStream;
use crate::target::Target;

/// Runs the client handshake over an established transport (no timeout of
/// its own: wrap it in `tokio::time::timeout` if the transport may stall).
///
/// # Cancel safety
///
/// Not cancel-safe: a dropped handshake leaves the transport mid-request.
///
/// # Errors
///
/// [`Error::Refused`], [`Error::Handshake`], [`Error::Io`], as
/// [`connect_with_config`](crate::connect_with_config).
pub async fn handshake<S>(mut io: S, target: &Target, config: &ClientConfig) -> Result<(WebSocketStream<S>, Response)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = client_request(target, config, generate_key())?;
    let (mut hs, bytes) = ClientHandshake::new(&request);
    io.write_all(&bytes).await?;
    io.flush().await?;
    // Uninitialised capacity: read_buf does not zero it first.
    let mut buf = bytes::BytesMut::with_capacity(4096);
    loop {
        buf.clear();
        let n = io.read_buf(&mut buf).await?;
        if n == 0 {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during the handshake",
            )));
        }
        let fed = match hs.feed(&buf[..n]) {
            Err(HandshakeError::UnexpectedStatus(status)) => {
                // A refusal: hand the application its status, fields and
                // (bounded) body.
                let Some((parts, start)) = hs.take_refusal() else {
                    return Err(Error::Handshake(HandshakeError::UnexpectedStatus(status)));
                };
                let body = read_refusal_body(&mut io, &parts.headers, start).await;
                return Err(Error::Refused(Box::new(http::Response::from_parts(parts, body))));
            }
            other => other?,
        };
        if let Some((response, rest)) = fed {
            let params = match &config.ws.deflate {
                Some(cfg) => accept_client(response.extensions.as_deref(), cfg)?,
                None => None,
            };
            let mut ws = WebSocketStream::from_raw_with_deflate(io, Role::Client, config.ws.clone(), params, &rest);
            ws.set_negotiated(response.protocol.clone(), response.extensions.clone());
            return Ok((ws, response));
        }
    }
}

/// The opening request `config` asks for (both HTTP versions).
pub(crate) fn client_request(target: &Target, config: &ClientConfig, key: String) -> Result<ClientRequest> {
    for (n, v) in &config.headers {
        if !is_valid_field(n, v) {
            return Err(Error::Url(format!("invalid request header {n:?}")));
        }
    }
    Ok(ClientRequest {
        host: target.host_header.clone(),
        target: target.resource.clone(),
        protocols: config.protocols.clone(),
        extensions: config
            .ws
            .deflate
            .as_ref()
            .map(|d| (client_offer(d), vec![deflate::NAME.to_string()])),
        headers: config.headers.clone(),
        key,
    })
}
