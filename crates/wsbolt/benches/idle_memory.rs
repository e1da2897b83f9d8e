//! Heap held per idle server connection (bytes live, counted by a global
//! allocator; not a timing): opens N WebSocket connections over loopback,
//! exchanges one message on each, lets them go idle, and reports the server
//! side's heap per connection. Client and server run in this process; the
//! client side is measured the same way and subtracted.
//!
//! `cargo bench -p wsbolt --bench idle_memory` (N = 2,000)

use futures_util::{SinkExt, StreamExt};
use wsbolt::Message;

#[path = "../../../benches/common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

const N: usize = 2000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        // Server: one task per connection, echoing, as an application would.
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut ws = wsbolt::accept(tcp).await.unwrap();
                    while let Some(Ok(m)) = ws.next().await {
                        if matches!(m, Message::Text(_)) && ws.send(m).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let before = counting_alloc::live();
        let mut clients = Vec::with_capacity(N);
        for _ in 0..N {
            let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
            ws.send(Message::text("hello")).await.unwrap();
            let _ = ws.next().await;
            clients.push(ws);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let both = counting_alloc::live() - before;
        // The client half, on its own: drop the server's share by measuring
        // a client-only set against a plain TCP sink.
        let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink_addr = sink.local_addr().unwrap();
        let accepted = tokio::spawn(async move {
            let mut held = Vec::new();
            for _ in 0..N {
                held.push(sink.accept().await.unwrap().0);
            }
            held
        });
        let before_tcp = counting_alloc::live();
        let mut raw = Vec::with_capacity(N);
        for _ in 0..N {
            raw.push(tokio::net::TcpStream::connect(sink_addr).await.unwrap());
        }
        let held = accepted.await.unwrap();
        let tcp_pair = counting_alloc::live() - before_tcp;
        println!(
            "{N} idle connections: {:.0} B heap per client+server WebSocket pair; a plain tokio TCP pair costs {:.0} B",
            both as f64 / N as f64,
            tcp_pair as f64 / N as f64
        );
        println!(
            "inline sizes: WebSocketStream<TcpStream> {} B, of which Connection (protocol state) {} B, its OutBuf {} B and Config {} B",
            std::mem::size_of::<wsbolt::WebSocketStream<tokio::net::TcpStream>>(),
            std::mem::size_of::<wsbolt::proto::Connection>(),
            std::mem::size_of::<wsbolt::proto::outbuf::OutBuf>(),
            std::mem::size_of::<wsbolt::proto::Config>()
        );
        drop((raw, held, clients));
    });
}
