//! Split halves: a writer task sends while the main task reads, then the
//! halves are put back together to close.
//!
//! ```text
//! cargo run -p wsbolt --example split -- ws://127.0.0.1:9001 [COUNT]
//! ```
//!
//! Against an echo server it prints each of COUNT (default 5) messages as it
//! comes back. `split` gives owned halves (`WsReader`, `WsWriter`) that share
//! one connection; `reunite` gives the whole back.

use std::time::Duration;

use futures_util::StreamExt;
use wsbolt::{CloseFrame, Message};

#[tokio::main]
async fn main() -> Result<(), wsbolt::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let (ws, _) = wsbolt::connect(&url).await?;
    let (mut reader, mut writer) = ws.split();

    // The writer task owns the write half; the reader keeps reading meanwhile
    // (pings are answered even while the writer waits).
    let sending = tokio::spawn(async move {
        for i in 1..=count {
            writer.send(Message::text(format!("message {i}"))).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok::<_, wsbolt::Error>(writer)
    });

    let mut received = 0;
    while received < count {
        match reader.next().await {
            Some(Ok(Message::Text(t))) => {
                received += 1;
                println!("< {t}");
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    let writer = sending.await.expect("the writer task")?;
    let mut ws = reader.reunite(writer).expect("halves of one connection");
    ws.close(Some(CloseFrame::new(1000u16, "done")?)).await?;
    while ws.next().await.is_some() {}
    println!("received {received} of {count}");
    Ok(())
}
