//! A WebSocket client: sends each message given on the command line, prints
//! each reply, then closes.
//!
//! ```text
//! cargo run -p wsbolt --example client -- ws://127.0.0.1:9001 hello world
//! ```
//!
//! `wss://` works the same (the system's trusted roots); a proxy named by
//! `https_proxy`/`http_proxy`/`all_proxy` is used.

use futures_util::{SinkExt, StreamExt};
use wsbolt::{CloseFrame, Message};

#[tokio::main]
async fn main() -> Result<(), wsbolt::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let messages: Vec<String> = args.collect();
    let (mut ws, response) = wsbolt::connect(&url).await?;
    println!("connected to {url} (subprotocol: {:?})", response.protocol);
    for text in &messages {
        ws.send(Message::text(text.as_str())).await?;
        // The next data message is the reply (pings are answered for us).
        match ws.next().await {
            Some(Ok(Message::Text(reply))) => println!("< {reply}"),
            Some(Ok(other)) => println!("< {other:?}"),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    // Close: waits for the server's answer (or the close timeout).
    ws.close(Some(CloseFrame::new(1000u16, "bye")?)).await?;
    if let Some(status) = ws.close_status() {
        println!(
            "closed: {} {:?} clean={}",
            status.code().as_u16(),
            status.reason(),
            status.was_clean()
        );
    }
    Ok(())
}
