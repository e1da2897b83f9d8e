//! The HTTP `CONNECT` exchange (RFC 9110 §9.3.6) with an HTTP proxy.

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{authority, Proxy, ProxyError};
use crate::target::Target;

/// The most bytes of the proxy's answer head read before giving up.
const MAX_HEAD: usize = 8 * 1024;

/// Asks the proxy for a tunnel to `target` and reads its answer, leaving
/// `io` at the first byte of the tunnel.
pub(super) async fn connect<S>(io: &mut S, proxy: &Proxy, target: &Target) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let dest = authority(&target.host, target.port);
    let mut request = format!("CONNECT {dest} HTTP/1.1\r\nHost: {dest}\r\n");
    if let Some((user, pass)) = &proxy.credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let io_err = |e| ProxyError::unreachable(proxy, e);
    io.write_all(request.as_bytes()).await.map_err(io_err)?;
    io.flush().await.map_err(io_err)?;

    let head = read_head(io, proxy).await?;
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut fields);
    match response.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(ProxyError::protocol(proxy, "incomplete answer to CONNECT")),
        Err(e) => {
            return Err(ProxyError::protocol(
                proxy,
                format_args!("malformed answer to CONNECT: {e}"),
            ))
        }
    }
    let code = response.code.unwrap_or(0);
    let status =
        http::StatusCode::from_u16(code).map_err(|_| ProxyError::protocol(proxy, format_args!("status {code}")))?;
    if status.is_success() {
        return Ok(());
    }
    // 401 to a CONNECT can only be about the proxy's own credentials.
    if matches!(status.as_u16(), 401 | 407) {
        let challenge = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("proxy-authenticate"))
            .and_then(|h| std::str::from_utf8(h.value).ok());
        return Err(ProxyError::auth_required(
            proxy,
            status,
            proxy.credentials.is_some(),
            challenge,
        ));
    }
    Err(ProxyError::refused_status(proxy, &dest, status))
}

/// Reads up to the blank line that ends the answer's head, one read at a
/// time and never past it when the proxy sends only its head (as it must
/// before the tunnel carries anything).
async fn read_head<S>(io: &mut S, proxy: &Proxy) -> Result<Vec<u8>, ProxyError>
where
    S: AsyncRead + Unpin,
{
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| ProxyError::unreachable(proxy, e))?;
        if n == 0 {
            return Err(ProxyError::protocol(
                proxy,
                "closed the connection without answering CONNECT",
            ));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let end = end + 4;
            if end < head.len() && !is_error_status(&head) {
                return Err(ProxyError::protocol(proxy, "sent bytes after its answer to CONNECT"));
            }
            // A failure's body is not read: the connection is dropped.
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(ProxyError::protocol(
                proxy,
                format_args!("answer to CONNECT longer than {MAX_HEAD} bytes"),
            ));
        }
    }
}

/// Whether the head's status line is not 2xx (its body may follow at once).
fn is_error_status(head: &[u8]) -> bool {
    head.get(9) != Some(&b'2')
}
