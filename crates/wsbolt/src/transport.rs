//! The client's transport layer: TCP to the target or a tunnel through a
//! proxy, then TLS for `wss://` (TLS inside TLS through an `https://`
//! proxy). What runs over it (an HTTP/1.1 or HTTP/2 handshake) is the next
//! layer's business.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::ClientConfig;
use crate::error::{Result, TlsError};
use crate::proxy::Tunnel;
use crate::target::Target;
use crate::tls::{default_client_config, server_name, MaybeTlsStream};

/// TCP (through the proxy, if any) and TLS for `wss://`; `alpn` is the list
/// TLS offers (none when empty).
pub(crate) async fn open_transport(target: &Target, config: &ClientConfig, alpn: &[&[u8]]) -> Result<MaybeTlsStream> {
    let tunnel = match config.proxy.resolve(target)? {
        Some(proxy) => proxy.tunnel(target, config.tls.as_ref()).await?,
        None => {
            let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            Tunnel::Plain(tcp)
        }
    };
    if !target.secure {
        return Ok(match tunnel {
            Tunnel::Plain(tcp) => MaybeTlsStream::Plain(tcp),
            Tunnel::Tls(to_proxy) => MaybeTlsStream::ClientTls(to_proxy),
        });
    }
    let mut tls = config.tls.clone().unwrap_or_else(default_client_config);
    if !alpn.is_empty() {
        let mut with_alpn = (*tls).clone();
        with_alpn.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tls = std::sync::Arc::new(with_alpn);
    }
    Ok(match tunnel {
        Tunnel::Plain(tcp) => MaybeTlsStream::ClientTls(Box::new(tls_over(tcp, target, tls).await?)),
        Tunnel::Tls(to_proxy) => MaybeTlsStream::ClientTlsInTls(Box::new(tls_over(*to_proxy, target, tls).await?)),
    })
}

async fn tls_over<S>(
    io: S,
    target: &Target,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let connector = tokio_rustls::TlsConnector::from(tls);
    Ok(connector
        .connect(server_name(&target.host)?, io)
        .await
        .map_err(TlsError::from_handshake)?)
}
