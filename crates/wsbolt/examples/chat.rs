//! The MDN chat client, with the browser's `WebSocket` API in Rust, against
//! `wsbolt serve`'s `/chat` (the JSON protocol of MDN's "Writing WebSocket
//! client applications").
//!
//! ```text
//! cargo run -p wsbolt-cli -- serve                       # in one terminal
//! cargo run -p wsbolt --example chat -- ws://127.0.0.1:9001/chat NAME hello there
//! ```
//!
//! It signs in as NAME (the server may make it unique), prints the user
//! list and every message, sends each message given, and closes once its
//! own messages have come back.

use serde_json::{json, Value};
use wsbolt::websocket::{Event, MessageData, WebSocket};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001/chat".into());
    let mut name = args.next().unwrap_or_else(|| "rustacean".into());
    let messages: Vec<String> = args.collect();

    // As in a browser: the constructor returns at once (CONNECTING); what
    // happens next arrives as events, in order.
    let mut ws = WebSocket::with_protocols(&url, &["json"])?;
    let mut echoed = 0;
    while let Some(event) = ws.next_event().await {
        match event {
            Event::Open => println!("open (subprotocol {:?})", ws.protocol()),
            Event::Message(m) => {
                let MessageData::Text(text) = &m.data else { continue };
                let msg: Value = serde_json::from_str(text)?;
                match msg["type"].as_str() {
                    // The server's greeting: sign in, then say what we came to say.
                    Some("id") => {
                        ws.send(json!({ "type": "username", "name": name, "id": msg["id"] }).to_string())?;
                        for text in &messages {
                            ws.send(json!({ "type": "message", "text": text, "id": msg["id"] }).to_string())?;
                        }
                        if messages.is_empty() {
                            ws.close(Some(1000), Some("nothing to say"))?;
                        }
                    }
                    Some("rejectusername") => {
                        name = msg["name"].as_str().unwrap_or_default().to_string();
                        println!("signed in as {name}");
                    }
                    Some("userlist") => println!("users: {}", msg["users"]),
                    Some("message") => {
                        let from = msg["name"].as_str().unwrap_or("?");
                        println!("[{from}] {}", msg["text"].as_str().unwrap_or_default());
                        if from == name {
                            echoed += 1;
                            if echoed == messages.len() {
                                ws.close(Some(1000), Some("bye"))?;
                            }
                        }
                    }
                    _ => println!("{text}"),
                }
            }
            Event::Error(e) => eprintln!("error: {}", e.error().map_or("(none)".to_string(), |e| e.to_string())),
            Event::Close(c) => println!("closed: {} {:?} clean={}", c.code, c.reason, c.was_clean),
        }
    }
    Ok(())
}
