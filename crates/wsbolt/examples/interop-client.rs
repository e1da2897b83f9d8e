//! wsbolt's client against another implementation's echo server (the
//! interop suite, `tests/interop/run`): with permessage-deflate offered,
//! 16 MiB of random bytes must echo intact, and 16 MiB + 1 must be refused
//! by a server limited to 16 MiB with a visible Close 1009.
//!
//! ```text
//! cargo run --release -p wsbolt --example interop-client -- ws://127.0.0.1:PORT/
//! ```
//! Prints one JSON line per check; exits 1 if one failed.

use futures_util::{SinkExt, StreamExt};
use wsbolt::{ClientConfig, Message};

const LIMIT: usize = 16 << 20;

fn config() -> ClientConfig {
    let mut cfg = ClientConfig::default();
    cfg.ws.deflate = Some(wsbolt::DeflateConfig::default());
    cfg.ws.protocol.max_message_size = LIMIT + 1024;
    cfg.ws.protocol.max_frame_size = LIMIT + 1024;
    cfg
}

/// Incompressible bytes (xorshift; no dependency needed).
fn noise(n: usize, mut x: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

async fn echo_check(url: &str) -> Result<bool, wsbolt::Error> {
    let (mut ws, response) = wsbolt::connect_with_config(url, &config()).await?;
    let deflate = response
        .extensions
        .as_deref()
        .unwrap_or("")
        .contains("permessage-deflate");
    let data = noise(LIMIT, 0x9e37_79b9_7f4a_7c15);
    ws.send(Message::binary(data.clone())).await?;
    let back = loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => break Some(b),
            Some(Ok(_)) => continue,
            _ => break None,
        }
    };
    let ok = deflate && back.as_deref() == Some(&data[..]);
    println!("{{\"check\":\"16 MiB incompressible echo\",\"deflate\":{deflate},\"ok\":{ok}}}");
    let _ = ws.close(None).await;
    Ok(ok)
}

async fn oversized_check(url: &str) -> Result<bool, wsbolt::Error> {
    let (mut ws, _) = wsbolt::connect_with_config(url, &config()).await?;
    let _ = ws.send(Message::binary(noise(LIMIT + 1, 7))).await;
    while let Some(Ok(_)) = ws.next().await {}
    let code = ws.close_status().map(|s| s.code().as_u16());
    let ok = code == Some(1009);
    println!(
        "{{\"check\":\"oversized message closes with 1009\",\"received\":{},\"ok\":{ok}}}",
        code.map_or("null".to_string(), |c| c.to_string())
    );
    Ok(ok)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let mut ok = true;
    for check in [echo_check(&url).await, oversized_check(&url).await] {
        match check {
            Ok(good) => ok &= good,
            Err(e) => {
                println!("{{\"check\":\"connect\",\"ok\":false,\"error\":{:?}}}", e.to_string());
                ok = false;
            }
        }
    }
    std::process::exit(if ok { 0 } else { 1 });
}
