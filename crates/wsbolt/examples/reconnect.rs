//! Reconnection: `Reconnect` gives a new connection each time the last one
//! ended, waiting out a backoff when attempts fail.
//!
//! ```text
//! cargo run -p wsbolt --example reconnect -- ws://127.0.0.1:9001 [CONNECTIONS]
//! ```
//!
//! On each connection it sends `hello N` and prints what comes back until
//! the connection ends; stop and restart the server to watch it come back.
//! Ends after CONNECTIONS connections (default: never).

use futures_util::{SinkExt, StreamExt};
use wsbolt::{ClientConfig, Message, Reconnect};

#[tokio::main]
async fn main() -> Result<(), wsbolt::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let limit: Option<usize> = args.next().and_then(|n| n.parse().ok());
    // The default backoff: waits from 0.5–1 s doubling to 60 s while
    // attempts fail; a connection that lasted 1 s starts them over.
    let mut connections = Reconnect::new(url, ClientConfig::default()).on_retry(|retry| {
        let why = retry
            .error
            .map_or("the connection ended early".to_string(), |e| e.to_string());
        println!("retrying in {:?} ({why})", retry.delay);
    });
    let mut n = 0;
    while let Some(connection) = connections.next().await {
        // An error not worth retrying (a 403, a certificate error …) ends it.
        let (mut ws, _) = connection?;
        n += 1;
        println!("connected ({n})");
        ws.send(Message::text(format!("hello {n}"))).await?;
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg {
                println!("< {t}");
            }
        }
        println!("disconnected");
        if limit.is_some_and(|l| n >= l) {
            break;
        }
    }
    Ok(())
}
