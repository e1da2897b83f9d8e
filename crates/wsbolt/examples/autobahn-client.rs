//! Runs every case of an Autobahn|Testsuite fuzzing server against the
//! wsbolt client, echoing each message, then asks it to write its reports.
//!
//! ```text
//! cargo run --release -p wsbolt --example autobahn-client -- ws://127.0.0.1:9001 [--split]
//! ```
//! With `--split`, each case is echoed through the halves of `split()`:
//! read with the read half, answered through the write half, so the split
//! path (one shared state machine, compression on the write half) is
//! conformance-tested too.
//! Limits are raised to 64 MiB, as every peer does for the 9.* cases, and
//! permessage-deflate is offered (cases 12.* and 13.*).

use futures_util::{SinkExt, StreamExt};
use wsbolt::{ClientConfig, Message};

const AGENT: &str = "wsbolt";

fn config() -> ClientConfig {
    let mut cfg = ClientConfig::default();
    cfg.ws.protocol.max_message_size = 64 << 20;
    cfg.ws.protocol.max_frame_size = 64 << 20;
    cfg.ws.deflate = Some(wsbolt::DeflateConfig::default());
    cfg
}

async fn case_count(base: &str) -> Result<u32, wsbolt::Error> {
    let (mut ws, _) = wsbolt::connect_with_config(&format!("{base}/getCaseCount"), &config()).await?;
    let mut count = None;
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            count = t.trim().parse().ok();
        }
    }
    count.ok_or_else(|| wsbolt::Error::Url("getCaseCount returned no number".into()))
}

async fn run_case(base: &str, case: u32) -> Result<(), wsbolt::Error> {
    let url = format!("{base}/runCase?case={case}&agent={AGENT}");
    let (mut ws, _) = wsbolt::connect_with_config(&url, &config()).await?;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            ws.feed(msg).await?;
            while let Some(Ok(more)) = ws.try_next_buffered() {
                if matches!(more, Message::Text(_) | Message::Binary(_)) {
                    ws.queue(more)?;
                }
            }
            ws.flush().await?;
        }
    }
    Ok(())
}

async fn run_case_split(base: &str, case: u32) -> Result<(), wsbolt::Error> {
    let url = format!("{base}/runCase?case={case}&agent={AGENT}");
    let (ws, _) = wsbolt::connect_with_config(&url, &config()).await?;
    let (mut rd, mut wr) = ws.split();
    while let Some(msg) = rd.next().await {
        let msg = msg?;
        if msg.is_data() {
            wr.send(msg).await?;
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let split = std::env::args().any(|a| a == "--split");
    let base = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/').to_string();
    let count = match case_count(&base).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("autobahn-client: cannot get the case count from {base}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("autobahn-client: running {count} cases");
    for case in 1..=count {
        // Protocol errors are expected in many cases: the suite judges them.
        let result = if split {
            run_case_split(&base, case).await
        } else {
            run_case(&base, case).await
        };
        if let Err(e) = result {
            eprintln!("case {case}: {e}");
        }
    }
    let url = format!("{base}/updateReports?agent={AGENT}");
    match wsbolt::connect_with_config(&url, &config()).await {
        Ok((mut ws, _)) => {
            let _ = ws.close(None).await;
            while ws.next().await.is_some() {}
        }
        Err(e) => {
            eprintln!("autobahn-client: updateReports failed: {e}");
            std::process::exit(1);
        }
    }
}
