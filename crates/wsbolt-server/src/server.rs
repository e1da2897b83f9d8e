//! The accept loop and request routing.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use wsbolt::proto::handshake::server::http_response;
use wsbolt::{HandshakeError, ServerHandshake};

use crate::config::ServeConfig;
use crate::echo;

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: Arc<ServeConfig>,
    ws: Arc<wsbolt::ServerConfig>,
}

impl Server {
    /// Binds the listening socket.
    pub async fn bind(config: ServeConfig) -> io::Result<Server> {
        let listener = TcpListener::bind(config.listen).await?;
        let ws = Arc::new(config.ws_config());
        Ok(Server {
            listener,
            config: Arc::new(config),
            ws,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The settings.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// Accepts connections until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let ws = self.ws.clone();
                        tokio::spawn(async move { handle(tcp, peer, ws).await });
                    }
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }
}

async fn handle(tcp: TcpStream, peer: SocketAddr, ws: Arc<wsbolt::ServerConfig>) {
    let _ = tcp.set_nodelay(true);
    let hs = match ServerHandshake::read(tcp, &ws).await {
        Ok(hs) => hs,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "handshake failed");
            return;
        }
    };
    if !hs.request().is_upgrade() {
        let (mut tcp, req, _) = hs.into_parts();
        let (status, body): (u16, &[u8]) = match (req.method.as_str(), req.path()) {
            ("GET" | "HEAD", "/") => (200, b"wsbolt serve: WebSocket echo at /echo\n"),
            ("GET" | "HEAD", _) => (404, b"not found\n"),
            _ => (405, b"method not allowed\n"),
        };
        let allow: &[(&str, &str)] = if status == 405 { &[("Allow", "GET, HEAD")] } else { &[] };
        let _ = tcp
            .write_all(&http_response(status, allow, "text/plain; charset=utf-8", body))
            .await;
        let _ = tcp.shutdown().await;
        return;
    }
    match hs.request().path() {
        "/echo" => match hs.accept(&ws).await {
            Ok(stream) => echo::run(stream).await,
            Err(e) => tracing::debug!(%peer, error = %e, "handshake refused"),
        },
        _ => {
            hs.reject(HandshakeError::NotFound).await;
        }
    }
}
