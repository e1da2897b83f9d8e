//! Peers for the client tests, on 127.0.0.1: a WebSocket echo server that
//! records the requests it gets, a small HTTP CONNECT proxy and SOCKS5
//! server (with the failure answers real ones give), and a redirecting
//! HTTP server. Each test file uses part of it.
#![allow(dead_code)]

pub mod peers;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsbolt::{Message, ServerConfig};

pub type Log = Arc<Mutex<Vec<String>>>;

pub async fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// An echo server for any number of connections; each request's
/// header fields are logged as `name: value` lines (lower-case names), one
/// entry per request.
pub async fn echo_server() -> (SocketAddr, Log) {
    let (l, addr) = bind().await;
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let cfg = ServerConfig::default();
                let Ok(hs) = wsbolt::ServerHandshake::read(tcp, &cfg).await else {
                    return;
                };
                let Ok(request) = hs.http_request() else { return };
                let head: Vec<String> = request
                    .headers()
                    .iter()
                    .map(|(n, v)| format!("{}: {}", n, v.to_str().unwrap_or("")))
                    .collect();
                seen.lock().unwrap().push(head.join("\n"));
                let Ok(mut ws) = hs.accept(&cfg).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if matches!(msg, Message::Text(_) | Message::Binary(_)) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, log)
}

/// Reads an HTTP head (to the blank line), at most 16 KiB.
pub async fn read_head(tcp: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut b).await.ok()? == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.push(b[0]);
    }
    String::from_utf8(head).ok()
}

/// What the fake HTTP proxy does with a CONNECT.
#[derive(Clone)]
pub enum HttpProxy {
    /// Opens the tunnel, first asking for `Proxy-Authorization: Basic
    /// <token>` when a token is given (407 otherwise).
    Forward { basic: Option<String> },
    /// Answers with these bytes and closes.
    Answer(&'static str),
}

/// A CONNECT proxy; logs each request head. Serves `tls` over TLS when given.
pub async fn http_proxy(mode: HttpProxy, tls: Option<tokio_rustls::TlsAcceptor>) -> (SocketAddr, Log) {
    let (l, addr) = bind().await;
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let (mode, seen, tls) = (mode.clone(), seen.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(tcp).await {
                            serve_connect(s, mode, seen).await;
                        }
                    }
                    None => serve_connect(tcp, mode, seen).await,
                }
            });
        }
    });
    (addr, log)
}

async fn serve_connect<S>(mut io: S, mode: HttpProxy, seen: Log)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(head) = read_head(&mut io).await else { return };
    seen.lock().unwrap().push(head.clone());
    match mode {
        HttpProxy::Answer(bytes) => {
            let _ = io.write_all(bytes.as_bytes()).await;
        }
        HttpProxy::Forward { basic } => {
            if let Some(token) = basic {
                let wanted = format!("proxy-authorization: basic {}", token.to_ascii_lowercase());
                if !head.to_ascii_lowercase().contains(&wanted) {
                    let _ = io
                        .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    return;
                }
            }
            let target = head.split_whitespace().nth(1).unwrap_or_default().to_string();
            let Ok(mut upstream) = TcpStream::connect(target.trim_start_matches('[').replace("]:", ":")).await else {
                let _ = io
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    .await;
                return;
            };
            let _ = io.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
            let _ = tokio::io::copy_bidirectional(&mut io, &mut upstream).await;
        }
    }
}

/// What the fake SOCKS5 server does.
#[derive(Clone)]
pub enum Socks {
    /// Connects, asking for user and password when given.
    Forward { credentials: Option<(String, String)> },
    /// Accepts the greeting, then answers the request with this reply code.
    Reply(u8),
}

/// A SOCKS5 server; logs `methods=[..] atyp=N addr=A:P` per request.
pub async fn socks_server(mode: Socks) -> (SocketAddr, Log) {
    let (l, addr) = bind().await;
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let (mode, seen) = (mode.clone(), seen.clone());
            tokio::spawn(async move {
                let _ = serve_socks(tcp, mode, seen).await;
            });
        }
    });
    (addr, log)
}

async fn serve_socks(mut tcp: TcpStream, mode: Socks, seen: Log) -> std::io::Result<()> {
    let mut hdr = [0u8; 2];
    tcp.read_exact(&mut hdr).await?;
    let mut methods = vec![0u8; hdr[1] as usize];
    tcp.read_exact(&mut methods).await?;
    let want_auth = matches!(&mode, Socks::Forward { credentials: Some(_) });
    let method = if want_auth { 2 } else { 0 };
    if !methods.contains(&method) {
        tcp.write_all(&[5, 0xff]).await?;
        return Ok(());
    }
    tcp.write_all(&[5, method]).await?;
    if let Socks::Forward {
        credentials: Some((user, pass)),
    } = &mode
    {
        let mut v = [0u8; 2];
        tcp.read_exact(&mut v).await?;
        let mut u = vec![0u8; v[1] as usize];
        tcp.read_exact(&mut u).await?;
        let mut pl = [0u8; 1];
        tcp.read_exact(&mut pl).await?;
        let mut p = vec![0u8; pl[0] as usize];
        tcp.read_exact(&mut p).await?;
        let ok = u == user.as_bytes() && p == pass.as_bytes();
        tcp.write_all(&[1, if ok { 0 } else { 1 }]).await?;
        if !ok {
            return Ok(());
        }
    }
    let mut req = [0u8; 4];
    tcp.read_exact(&mut req).await?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            tcp.read_exact(&mut a).await?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            tcp.read_exact(&mut a).await?;
            format!("[{}]", std::net::Ipv6Addr::from(a))
        }
        _ => {
            let mut n = [0u8; 1];
            tcp.read_exact(&mut n).await?;
            let mut name = vec![0u8; n[0] as usize];
            tcp.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
    };
    let mut port = [0u8; 2];
    tcp.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    seen.lock()
        .unwrap()
        .push(format!("methods={methods:?} atyp={} addr={host}:{port}", req[3]));
    // A reply carries a bound address: IPv4 0.0.0.0:0 here.
    let reply = |code: u8| [5, code, 0, 1, 0, 0, 0, 0, 0, 0];
    match mode {
        Socks::Reply(code) => tcp.write_all(&reply(code)).await,
        Socks::Forward { .. } => {
            let host = if host == "localhost" {
                "127.0.0.1".to_string()
            } else {
                host
            };
            match TcpStream::connect(format!("{host}:{port}")).await {
                Ok(mut up) => {
                    tcp.write_all(&reply(0)).await?;
                    tokio::io::copy_bidirectional(&mut tcp, &mut up).await.map(|_| ())
                }
                Err(_) => tcp.write_all(&reply(5)).await,
            }
        }
    }
}

/// An HTTP server that answers every request with `status` and a
/// `Location` made by `location(path)` (none if it gives `None`); logs
/// each request head.
pub async fn redirect_server(
    status: u16,
    location: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
) -> (SocketAddr, Log) {
    let (l, addr) = bind().await;
    let log: Log = Arc::default();
    let seen = log.clone();
    let location = Arc::new(location);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = l.accept().await {
            let (seen, location) = (seen.clone(), location.clone());
            tokio::spawn(async move {
                let Some(head) = read_head(&mut tcp).await else { return };
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                seen.lock().unwrap().push(head);
                let mut answer = format!("HTTP/1.1 {status} Moved\r\nContent-Length: 0\r\n");
                if let Some(to) = location(&path) {
                    answer.push_str(&format!("Location: {to}\r\n"));
                }
                answer.push_str("\r\n");
                let _ = tcp.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, log)
}

/// Sends `text` and expects it back.
pub async fn round_trip<S>(ws: &mut wsbolt::WebSocketStream<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::text(text)).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text));
}

/// A client configuration that goes through `proxy` (and nowhere else).
pub fn via(proxy: &str) -> wsbolt::ClientConfig {
    wsbolt::ClientConfig::default().proxy(wsbolt::proxy::ProxySetting::Through(
        wsbolt::proxy::Proxy::parse(proxy).unwrap(),
    ))
}
