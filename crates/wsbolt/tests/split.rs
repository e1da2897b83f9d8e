//! Split read and write halves, used from different tasks, over real sockets.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use wsbolt::{CloseCode, CloseFrame, Error, Message};

async fn server_url<F, Fut>(handler: F) -> String
where
    F: FnOnce(wsbolt::WebSocketStream<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        handler(wsbolt::accept(tcp).await.unwrap()).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_server_echoes_from_two_tasks() {
    let url = server_url(|ws| async move {
        let (mut rd, mut wr) = ws.split();
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let writer = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                wr.send(m).await.unwrap();
            }
        });
        while let Some(Ok(m)) = rd.next().await {
            if matches!(m, Message::Text(_) | Message::Binary(_)) {
                tx.send(m).await.unwrap();
            }
        }
        drop(tx);
        writer.await.unwrap();
    })
    .await;
    let (ws, _) = wsbolt::connect(&url).await.unwrap();
    let (mut rd, mut wr) = ws.split();
    let n = 2000;
    let sender = tokio::spawn(async move {
        for i in 0..n {
            wr.send(Message::text(format!("{i}"))).await.unwrap();
        }
        wr.send(Message::binary(vec![7u8; 1 << 20])).await.unwrap();
        wr
    });
    for i in 0..n {
        assert_eq!(rd.next().await.unwrap().unwrap(), Message::text(format!("{i}")));
    }
    assert_eq!(rd.next().await.unwrap().unwrap(), Message::binary(vec![7u8; 1 << 20]));
    let mut wr = sender.await.unwrap();
    // Close from the write half; the read half sees the reply and ends.
    wr.close(Some(CloseFrame::new(1000u16, "bye").unwrap())).await.unwrap();
    assert_eq!(
        rd.next().await.unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(1000u16, "bye").unwrap()))
    );
    assert!(rd.next().await.is_none());
    assert!(rd.close_status().unwrap().was_clean());
    assert!(matches!(
        wr.send(Message::text("late")).await,
        Err(Error::ConnectionClosed)
    ));
}

#[tokio::test]
async fn a_read_half_alone_answers_pings_and_closes() {
    let url = server_url(|ws| async move {
        let (mut rd, _wr) = ws.split();
        // Only reads: pongs and the Close reply must still go out.
        while rd.next().await.is_some() {}
        assert_eq!(rd.close_status().unwrap().code(), CloseCode::new(4001));
    })
    .await;
    let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
    ws.send(Message::Ping("p".into())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Pong("p".into()));
    ws.close(Some(CloseFrame::new(4001u16, "").unwrap())).await.unwrap();
    let st = ws.close_status().unwrap();
    assert_eq!((st.code().as_u16(), st.was_clean()), (4001, true));
}

// ---- one state machine for both halves -------------------------------------

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsbolt::{ClientConfig, Config, DeflateConfig, Keepalive, Role, ServerConfig, WebSocketStream};

/// A transport type this crate knows nothing about (as hyper's upgraded
/// connection is): counts the bytes written through it.
struct Counting<T> {
    io: T,
    written: Arc<AtomicUsize>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counting<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counting<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.written.fetch_add(*n, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

fn deflate_config() -> Config {
    Config::default().deflate(Some(DeflateConfig::default()))
}

/// 150 compressible 125-byte messages, as in the issue that found the bug.
fn chatty(i: usize) -> Message {
    let mut s = format!("{{\"type\":\"message\",\"user\":\"alice\",\"seq\":{i:05},\"text\":\"");
    while s.len() < 123 {
        s.push('x');
    }
    s.push_str("\"}");
    assert_eq!(s.len(), 125);
    Message::text(s)
}

/// Sends the 150 messages whole, then through a write half; returns the bytes
/// written on the wire for each, as seen by a counting transport, and the
/// bytes the peer wrote meanwhile (its echoes, through its own write half).
async fn wire_bytes_before_and_after_split() -> (usize, usize, usize, usize) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let client_written = Arc::new(AtomicUsize::new(0));
    let server_written = Arc::new(AtomicUsize::new(0));
    let server_io = Counting {
        io: b,
        written: server_written.clone(),
    };
    let server_cfg = ServerConfig::default().ws(deflate_config());
    let server = tokio::spawn(async move {
        let ws = wsbolt::accept_with_config(server_io, &server_cfg).await.unwrap();
        assert!(ws.extensions().unwrap().contains("permessage-deflate"));
        // Echo everything back through the write half.
        let (mut rd, mut wr) = ws.split();
        while let Some(Ok(m)) = rd.next().await {
            if matches!(m, Message::Text(_)) {
                wr.send(m).await.unwrap();
            }
        }
    });
    let client_io = Counting {
        io: a,
        written: client_written.clone(),
    };
    let cfg = ClientConfig::default().ws(deflate_config());
    let target = wsbolt::Target::parse("ws://localhost/").unwrap();
    let (mut ws, _) = wsbolt::client_handshake(client_io, &target, &cfg).await.unwrap();
    let base_c = client_written.load(Ordering::Relaxed);
    let base_s = server_written.load(Ordering::Relaxed);
    for i in 0..150 {
        ws.send(chatty(i)).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), chatty(i));
    }
    let whole_c = client_written.load(Ordering::Relaxed) - base_c;
    let whole_s = server_written.load(Ordering::Relaxed) - base_s;
    let (mut rd, mut wr) = ws.split();
    assert!(rd.extensions().unwrap().contains("permessage-deflate"));
    let base_c = client_written.load(Ordering::Relaxed);
    let base_s = server_written.load(Ordering::Relaxed);
    for i in 0..150 {
        wr.send(chatty(i)).await.unwrap();
        assert_eq!(rd.next().await.unwrap().unwrap(), chatty(i));
    }
    let split_c = client_written.load(Ordering::Relaxed) - base_c;
    let split_s = server_written.load(Ordering::Relaxed) - base_s;
    wr.close(None).await.unwrap();
    while rd.next().await.is_some() {}
    server.await.unwrap();
    (whole_c, split_c, whole_s, split_s)
}

#[tokio::test]
async fn the_write_half_compresses_like_the_whole_stream_in_both_roles() {
    let (whole_c, split_c, whole_s, split_s) = wire_bytes_before_and_after_split().await;
    // Uncompressed, 150 × (125 + 6 header + 4 mask) = 20,250 bytes from the
    // client. The context is kept across messages, so the split run (which
    // continues the same compressor) may be even smaller than the first.
    eprintln!("client wrote {whole_c} B whole, {split_c} B split; server echoed {whole_s} B, {split_s} B split");
    assert!(split_c < 5_000, "client write half did not compress: {split_c} B");
    assert!(split_c <= whole_c + whole_c / 10, "{split_c} vs {whole_c}");
    assert!(split_s < 5_000, "server write half did not compress: {split_s} B");
}

#[tokio::test]
async fn split_and_reunite_over_duplex_and_writers_cloned_into_tasks() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = WebSocketStream::from_raw(b, Role::Server, Config::default(), &[]);
    let client = WebSocketStream::from_raw(a, Role::Client, Config::default(), &[]);
    // The server echoes through its halves, then puts them back together.
    let server = tokio::spawn(async move {
        let (mut rd, wr) = server.split();
        let mut w = wr.clone();
        while let Some(Ok(m)) = rd.next().await {
            if matches!(m, Message::Binary(_)) {
                w.send(m).await.unwrap();
            }
        }
        drop(w);
        let ws = rd.reunite(wr).unwrap();
        assert_eq!(ws.state(), wsbolt::State::Closed);
    });
    let (mut rd, wr) = client.split();
    // Eight tasks send through clones of one write half; each message is whole.
    let mut tasks = Vec::new();
    for t in 0..8u8 {
        let mut w = wr.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100u8 {
                w.send(Message::binary(vec![t, i, 0xee])).await.unwrap();
            }
        }));
    }
    let mut next = [0u8; 8];
    for _ in 0..800 {
        let Message::Binary(b) = rd.next().await.unwrap().unwrap() else {
            panic!()
        };
        assert_eq!(b.len(), 3);
        // Per sender, order is kept.
        assert_eq!(b[1], next[b[0] as usize]);
        next[b[0] as usize] += 1;
    }
    for t in tasks {
        t.await.unwrap();
    }
    // A clone is still alive inside `wr`'s family? No: only `wr` is left, so
    // reuniting works; a foreign writer does not.
    let (a2, _b2) = tokio::io::duplex(64);
    let (_, other) = WebSocketStream::from_raw(a2, Role::Client, Config::default(), &[]).split();
    let wsbolt::ReuniteError(rd, _) = rd.reunite(other).unwrap_err();
    let extra = wr.clone();
    let wsbolt::ReuniteError(rd, wr) = rd.reunite(wr).unwrap_err();
    drop(extra);
    let mut ws = rd.reunite(wr).unwrap();
    ws.close(None).await.unwrap();
    assert!(ws.close_status().unwrap().was_clean());
    server.await.unwrap();
}

#[tokio::test]
async fn split_over_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let server_tls =
        wsbolt::tls::server_config_from_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        // The server side is a tokio-rustls stream: not a type this crate names.
        let tls = acceptor.accept(tcp).await.unwrap();
        let (mut rd, mut wr) = wsbolt::accept(tls).await.unwrap().split();
        while let Some(Ok(m)) = rd.next().await {
            if m.is_data() {
                wr.send(m).await.unwrap();
            }
        }
    });
    let cfg = ClientConfig::default().tls(Some(wsbolt::tls::insecure_client_config()));
    let (ws, _) = wsbolt::connect_with_config(&format!("wss://localhost:{port}/"), &cfg)
        .await
        .unwrap();
    let (mut rd, mut wr) = ws.split();
    for i in 0..50 {
        wr.send(Message::text(format!("tls {i}"))).await.unwrap();
        assert_eq!(rd.next().await.unwrap().unwrap(), Message::text(format!("tls {i}")));
    }
    wr.close(None).await.unwrap();
    assert_eq!(rd.next().await.unwrap().unwrap(), Message::Close(None));
    assert!(rd.next().await.is_none());
}

/// The library's keepalive runs on the read half while the application sends
/// its own pings: the application gets exactly its own pongs, the RTT is
/// measured, and no keepalive pong reaches it.
#[tokio::test]
async fn keepalive_runs_beside_application_pings_and_stays_inside_the_library() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wsbolt::accept(tcp).await.unwrap();
        while ws.next().await.is_some() {}
    });
    let mut cfg = ClientConfig::default();
    cfg.ws.protocol.keepalive = Some(Keepalive::new(Duration::from_millis(20), Duration::from_secs(2)));
    let (ws, _) = wsbolt::connect_with_config(&url, &cfg).await.unwrap();
    let (mut rd, mut wr) = ws.split();
    let pinger = tokio::spawn(async move {
        for i in 0u64..20 {
            // An application timestamp ping, 8 bytes like a counter.
            wr.send(Message::Ping(i.to_be_bytes().to_vec().into())).await.unwrap();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        wr
    });
    let mut pongs = Vec::new();
    let reading = async {
        while pongs.len() < 20 {
            match rd.next().await.unwrap().unwrap() {
                Message::Pong(p) => pongs.push(u64::from_be_bytes(p[..].try_into().unwrap())),
                other => panic!("unexpected {other:?}"),
            }
        }
        // Quiet for a while: keepalive pings go out and their pongs come back,
        // and none of them is delivered.
        tokio::time::timeout(Duration::from_millis(200), rd.next()).await
    };
    let quiet = reading.await;
    assert!(quiet.is_err(), "a keepalive pong reached the application: {quiet:?}");
    assert_eq!(pongs, (0u64..20).collect::<Vec<_>>());
    assert!(rd.keepalive_rtt().is_some(), "keepalive did not run on the read half");
    let mut wr = pinger.await.unwrap();
    assert!(wr.keepalive_rtt().is_some());
    wr.close(None).await.unwrap();
}
