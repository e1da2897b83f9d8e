//! A WebSocket echo server on plain tokio, one task per connection.
//!
//! ```text
//! cargo run -p wsbolt --example server -- [ADDR]     # default 127.0.0.1:9001
//! ```
//!
//! Prints `listening on ws://ADDR` once it accepts connections; echoes every
//! text and binary message until the client closes.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = echo(tcp).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

async fn echo(tcp: TcpStream) -> Result<(), wsbolt::Error> {
    // The handshake: a refusal (not a WebSocket request, a bad version …)
    // is answered with its HTTP status and returned as an error.
    let mut ws = wsbolt::accept(tcp).await?;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        // Pings are answered by the connection itself; a Close is answered
        // and then the stream ends.
        if msg.is_data() {
            ws.send(msg).await?;
        }
    }
    Ok(())
}
