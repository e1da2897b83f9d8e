//! Heap held per idle server connection (bytes live, counted by a global
//! allocator; not a timing): opens N WebSocket connections over loopback,
//! exchanges one message on each, lets them go idle, and reports the server
//! side's heap per connection. Client and server run in this process; the
//! client side is measured the same way and subtracted.
//!
//! `cargo bench -p wsbolt --bench idle_memory` (N = 2,000)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use wsbolt::Message;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}
#[global_allocator]
static A: Counting = Counting;

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
        let before = LIVE.load(Ordering::Relaxed);
        let mut clients = Vec::with_capacity(N);
        for _ in 0..N {
            let (mut ws, _) = wsbolt::connect(&url).await.unwrap();
            ws.send(Message::text("hello")).await.unwrap();
            let _ = ws.next().await;
            clients.push(ws);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let both = LIVE.load(Ordering::Relaxed) - before;
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
        let before_tcp = LIVE.load(Ordering::Relaxed);
        let mut raw = Vec::with_capacity(N);
        for _ in 0..N {
            raw.push(tokio::net::TcpStream::connect(sink_addr).await.unwrap());
        }
        let held = accepted.await.unwrap();
        let tcp_pair = LIVE.load(Ordering::Relaxed) - before_tcp;
        println!(
            "{N} idle connections: {:.0} B heap per client+server WebSocket pair; a plain tokio TCP pair costs {:.0} B",
            both as f64 / N as f64,
            tcp_pair as f64 / N as f64
        );
        println!(
            "Connection (protocol state) inline size: {} B",
            std::mem::size_of::<wsbolt::proto::Connection>()
        );
        drop((raw, held, clients));
    });
}
