//! One echo server per competitor, each on a single-threaded tokio runtime
//! (the harness pins it to one core), TCP_NODELAY on every connection.
//!
//! `compare-server tcp|wsbolt|wsbolt-hyper|fastwebsockets|tungstenite 127.0.0.1:PORT`
//!
//! `wsbolt-hyper` is wsbolt's library behind hyper 1.x's HTTP/1.1 server
//! (`wsbolt::upgrade`): what an axum or hyper user's handshake costs.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().expect("kind");
    let addr = args.next().expect("address");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await.unwrap();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tcp.set_nodelay(true).unwrap();
            // One spawn per server, so each task is sized for its own
            // future: a `match` inside one async block would size every
            // task for the largest of the four (1.9 KiB instead of wsbolt's
            // 1.2 KiB), which the idle-memory run would charge to all.
            match kind.as_str() {
                "tcp" => drop(tokio::spawn(tcp_echo(tcp))),
                "wsbolt" => drop(tokio::spawn(wsbolt_echo(tcp))),
                "wsbolt-hyper" => drop(tokio::spawn(wsbolt_hyper_echo(tcp))),
                "fastwebsockets" => drop(tokio::spawn(fastwebsockets_echo(tcp))),
                "tungstenite" => drop(tokio::spawn(tungstenite_echo(tcp))),
                other => panic!("unknown server {other}"),
            }
        }
    });
}

type Res = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The kernel's ceiling: every byte read is written back.
async fn tcp_echo(mut tcp: TcpStream) -> Res {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        tcp.write_all(&buf[..n]).await?;
    }
}

/// wsbolt as its docs suggest for echo: answers are queued, and the read
/// loop writes everything one read produced in one write.
async fn wsbolt_echo(tcp: TcpStream) -> Res {
    let mut ws = wsbolt::accept(tcp).await?;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if matches!(msg, wsbolt::Message::Text(_) | wsbolt::Message::Binary(_)) {
            ws.queue(msg)?;
        }
    }
    Ok(())
}

/// hyper serves the request; `wsbolt::upgrade` answers it and echoes on the
/// upgraded connection (in a task of its own, as a hyper service would).
async fn wsbolt_hyper_echo(tcp: TcpStream) -> Res {
    let service = hyper::service::service_fn(|mut req: hyper::Request<hyper::body::Incoming>| async move {
        let config = wsbolt::ServerConfig::default();
        let response = match wsbolt::upgrade::upgrade(&mut req, &config) {
            Ok((response, pending)) => {
                tokio::spawn(async move {
                    let Ok(mut ws) = pending.await else { return };
                    while let Some(Ok(msg)) = ws.next().await {
                        if msg.is_data() && ws.queue(msg).is_err() {
                            break;
                        }
                    }
                });
                response
            }
            Err(rejected) => rejected.into_response(),
        };
        Ok::<_, std::convert::Infallible>(response)
    });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
        .with_upgrades()
        .await?;
    Ok(())
}

/// fastwebsockets after a hand-parsed upgrade (its own examples use hyper;
/// this keeps the handshake comparable and the dependency list short).
async fn fastwebsockets_echo(mut tcp: TcpStream) -> Res {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let key = loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if req.parse(&head)?.is_complete() {
            let key = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
                .ok_or("no key")?
                .value
                .to_vec();
            break key;
        }
    };
    let accept = wsbolt::proto::handshake::accept_key(&key);
    tcp.write_all(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut ws = fastwebsockets::WebSocket::after_handshake(tcp, fastwebsockets::Role::Server);
    ws.set_writev(true);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = fastwebsockets::FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            fastwebsockets::OpCode::Close => return Ok(()),
            fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

/// tokio-tungstenite's usual echo: next, then send.
async fn tungstenite_echo(tcp: TcpStream) -> Res {
    let mut ws = tokio_tungstenite::accept_async(tcp).await?;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if msg.is_text() || msg.is_binary() {
            ws.send(msg).await?;
        }
    }
    Ok(())
}
