//! `wsbolt connect URL`: an interactive client, like wscat or websocat.
//! Lines typed on stdin go out as messages; received messages are printed.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use wsbolt::{ClientConfig, CloseFrame, Error, HandshakeError, Message};

/// Arguments of `wsbolt connect`.
#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// The server's URL: ws://HOST[:PORT]/PATH or wss://…
    url: String,
    /// Request a subprotocol (repeatable, in order of preference).
    #[arg(long = "protocol", short = 'p')]
    protocols: Vec<String>,
    /// Extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Send each stdin line as a binary message instead of text.
    #[arg(long)]
    binary: bool,
    /// Print received binary messages as raw bytes instead of hex.
    #[arg(long)]
    raw: bool,
    /// Send a ping every SECS seconds of silence; close (1011) if no pong within SECS.
    #[arg(long, value_name = "SECS")]
    ping_interval: Option<u64>,
    /// Close code sent when stdin ends (1000, or 3000-4999).
    #[arg(long, default_value_t = 1000)]
    close_code: u16,
    /// Close reason sent when stdin ends (at most 123 bytes).
    #[arg(long, default_value = "")]
    close_reason: String,
    /// Accept any TLS certificate (self-signed servers in development only).
    #[arg(long)]
    insecure: bool,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
    /// When stdin ends, keep reading until the server has sent nothing for
    /// this long (or closes), then close: replies still on their way are
    /// printed, even from a server that answers a Close at once.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    eof_wait: f64,
}

pub fn run(args: ConnectArgs) -> ExitCode {
    let close = match CloseFrame::new(args.close_code, args.close_reason.as_str()) {
        Ok(c) if args.close_code == 1000 || (3000..=4999).contains(&args.close_code) => c,
        _ => {
            eprintln!("wsbolt connect: --close-code must be 1000 or 3000-4999 and --close-reason at most 123 bytes");
            return ExitCode::from(2);
        }
    };
    let mut config = ClientConfig {
        protocols: args.protocols.clone(),
        ..Default::default()
    };
    for h in &args.headers {
        match h.split_once(':') {
            Some((n, v)) if !n.trim().is_empty() => config.headers.push((n.trim().to_string(), v.trim().to_string())),
            _ => {
                eprintln!("wsbolt connect: header {h:?} is not 'Name: value'");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(secs) = args.ping_interval {
        let d = Duration::from_secs(secs.max(1));
        config.ws.protocol.keepalive = Some(wsbolt::Keepalive {
            interval: d,
            timeout: d,
        });
    }
    if args.insecure {
        config.tls = Some(wsbolt::tls::insecure_client_config());
    }
    if !args.no_deflate {
        config.ws.deflate = Some(wsbolt::DeflateConfig::default());
    }
    if !(args.eof_wait.is_finite() && args.eof_wait >= 0.0) {
        eprintln!("wsbolt connect: --eof-wait must be a number of seconds, 0 or more");
        return ExitCode::from(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(session(args, config, close));
    // Stdin is read on a thread of its own that may still wait for a line:
    // do not wait for it (tokio's own stdin would hold the shutdown).
    rt.shutdown_background();
    code
}

/// A line from stdin (without its newline), or why reading stopped.
enum Input {
    Line(Vec<u8>),
    End,
}

/// Reads stdin on a plain thread, one line at a time, so a blocked read never
/// holds up the runtime or the exit; at most a few lines wait in the channel.
fn stdin_lines() -> tokio::sync::mpsc::Receiver<Input> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                    }
                    if tx.blocking_send(Input::Line(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.blocking_send(Input::End);
    });
    rx
}

async fn session(args: ConnectArgs, config: ClientConfig, close: CloseFrame) -> ExitCode {
    let (mut ws, response) = match wsbolt::connect_with_config(&args.url, &config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsbolt connect: {}", describe(&e, &args.url));
            return ExitCode::from(2);
        }
    };
    let mut info = format!("connected to {}", args.url);
    if let Some(p) = &response.protocol {
        info.push_str(&format!(" (protocol {p})"));
    }
    if let Some(e) = &response.extensions {
        info.push_str(&format!(" (extensions {e})"));
    }
    eprintln!("{info}");
    let mut lines = stdin_lines();
    let mut stdin_open = true;
    // After stdin ends: close once the server has been quiet until this instant.
    let eof_wait = Duration::from_secs_f64(args.eof_wait);
    let mut drain_until: Option<tokio::time::Instant> = None;
    let mut stdout = std::io::stdout();
    loop {
        let quiet = async {
            match drain_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            input = lines.recv(), if stdin_open => match input {
                Some(Input::Line(line)) => {
                    let msg = if args.binary {
                        Message::binary(line)
                    } else {
                        match String::from_utf8(line) {
                            Ok(t) => Message::text(t),
                            Err(_) => {
                                eprintln!("wsbolt connect: skipped a stdin line that is not UTF-8 (use --binary)");
                                continue;
                            }
                        }
                    };
                    if let Err(e) = ws.send(msg).await {
                        eprintln!("wsbolt connect: send failed: {e}");
                        break;
                    }
                }
                Some(Input::End) | None => {
                    // End of input: wait for the replies still on their way.
                    stdin_open = false;
                    drain_until = Some(tokio::time::Instant::now() + eof_wait);
                }
            },
            _ = quiet => {
                // The server has been quiet long enough: close, and keep
                // reading until it answers.
                drain_until = None;
                let _ = ws.queue(Message::Close(Some(close.clone())));
                let _ = ws.flush().await;
            }
            msg = ws.next() => {
                if let Some(t) = drain_until.as_mut() {
                    *t = tokio::time::Instant::now() + eof_wait;
                }
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        let _ = writeln!(stdout, "{t}");
                        let _ = stdout.flush();
                    }
                    Some(Ok(Message::Binary(b))) => {
                        if args.raw {
                            let _ = stdout.write_all(&b);
                        } else {
                            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                            let _ = writeln!(stdout, "{hex}");
                        }
                        let _ = stdout.flush();
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        eprintln!("wsbolt connect: {e}");
                        break;
                    }
                    None => break,
                }
            }
        }
    }
    match ws.close_status() {
        Some(s) if s.was_clean() => {
            eprintln!("closed: {} {}", s.code(), s.reason());
            ExitCode::SUCCESS
        }
        Some(s) => {
            eprintln!("wsbolt connect: connection closed abnormally ({})", s.code());
            ExitCode::FAILURE
        }
        None => ExitCode::FAILURE,
    }
}

/// A one-line explanation of a connection failure.
fn describe(e: &Error, url: &str) -> String {
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!("{url}: connection refused"),
        Error::Refused(r) => {
            let s = r.status();
            let body = String::from_utf8_lossy(&r.body()[..r.body().len().min(200)]);
            let body = body.trim();
            let mut line = format!(
                "{url}: the server answered HTTP {} {} instead of 101",
                s.as_u16(),
                s.canonical_reason().unwrap_or("")
            );
            if let Some(after) = e.retry_after() {
                line.push_str(&format!(" (retry after {} s)", after.as_secs()));
            }
            if !body.is_empty() {
                line.push_str(&format!(": {body}"));
            }
            line
        }
        Error::Handshake(HandshakeError::UnexpectedStatus(s)) => {
            format!("{url}: the server answered HTTP {s} instead of 101")
        }
        Error::Tls(t) if t.kind() == wsbolt::TlsErrorKind::Certificate => {
            format!("{url}: {t} (use --insecure for a self-signed development server)")
        }
        Error::Tls(t) => format!("{url}: {t}"),
        other => format!("{url}: {other}"),
    }
}
