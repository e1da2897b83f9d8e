//! The conversation: stdin lines out, messages in, across reconnections
//! when asked.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use wsbolt::{ClientConfig, CloseFrame, MaybeTlsStream, Message, Reconnect, WebSocketStream};

use super::output::{self, describe, end_status, failure_status, Printer};
use super::ConnectArgs;

/// A line from stdin (without its newline), or why reading stopped.
enum Input {
    Line(Vec<u8>),
    End,
}

/// Reads stdin on a plain thread, one line at a time, so a blocked read never
/// holds up the runtime or the exit; at most a few lines wait in the channel
/// (while a connection is being made again, say).
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

/// Connects (again, with `--reconnect`, while stdin is open) and converses.
pub(super) async fn run(args: ConnectArgs, config: ClientConfig, close: CloseFrame) -> ExitCode {
    let mut lines = stdin_lines();
    let mut stdin_open = true;
    let mut reconnect = args.reconnect.then(|| {
        let url = args.url.clone();
        Reconnect::new(args.url.clone(), config.clone()).on_retry(move |r| match r.error {
            Some(e) => eprintln!(
                "wsbolt connect: {}; retrying in {:.1} s (attempt {})",
                describe(e, &url),
                r.delay.as_secs_f64(),
                r.attempt
            ),
            None => eprintln!(
                "wsbolt connect: the connection did not last; retrying in {:.1} s",
                r.delay.as_secs_f64()
            ),
        })
    });
    loop {
        let attempt = match reconnect.as_mut() {
            Some(r) => match r.next().await {
                Some(a) => a,
                // Not reached: the error that ended the retries came first.
                None => return ExitCode::from(4),
            },
            None => wsbolt::connect_with_config(&args.url, &config).await,
        };
        let (mut ws, response) = match attempt {
            Ok(c) => c,
            Err(e) => {
                eprintln!("wsbolt connect: {}", describe(&e, &args.url));
                return ExitCode::from(failure_status(&e));
            }
        };
        let mut info = format!("connected to {}", args.url);
        if ws.get_ref().is_http2() {
            info.push_str(" over HTTP/2");
        }
        if let Some(p) = &response.protocol {
            info.push_str(&format!(" (protocol {p})"));
        }
        if let Some(e) = &response.extensions {
            info.push_str(&format!(" (extensions {e})"));
        }
        eprintln!("{info}");
        let mut dropped = 0;
        let mut we_closed = false;
        converse(
            &args,
            &mut ws,
            &mut lines,
            &mut stdin_open,
            &close,
            &mut dropped,
            &mut we_closed,
        )
        .await;
        if args.trace {
            output::trace(&mut ws, &mut dropped);
        }
        let status = ws.close_status();
        if reconnect.is_some() && stdin_open {
            match status {
                Some(s) => eprintln!(
                    "wsbolt connect: the connection ended ({} {}); reconnecting",
                    s.code(),
                    s.reason()
                ),
                None => eprintln!("wsbolt connect: the connection ended; reconnecting"),
            }
            continue;
        }
        let exit = end_status(status, we_closed.then_some(close.code().as_u16()));
        match status {
            Some(s) if s.was_clean() && exit == 0 => eprintln!("closed: {} {}", s.code(), s.reason()),
            Some(s) if s.was_clean() => eprintln!("closed by the server: {} {}", s.code(), s.reason()),
            Some(s) => eprintln!("wsbolt connect: connection closed abnormally ({})", s.code()),
            None => eprintln!("wsbolt connect: the connection ended without a Close"),
        }
        return ExitCode::from(exit);
    }
}

/// One connection's conversation, until it ends.
async fn converse(
    args: &ConnectArgs,
    ws: &mut WebSocketStream<MaybeTlsStream>,
    lines: &mut tokio::sync::mpsc::Receiver<Input>,
    stdin_open: &mut bool,
    close: &CloseFrame,
    dropped: &mut u64,
    we_closed: &mut bool,
) {
    let printer = Printer {
        raw: args.raw,
        json: args.json,
    };
    // After stdin ends: close once the server has been quiet until this instant.
    let eof_wait = Duration::from_secs_f64(args.eof_wait);
    let mut drain_until = (!*stdin_open).then(|| tokio::time::Instant::now() + eof_wait);
    loop {
        if args.trace {
            output::trace(ws, dropped);
        }
        let quiet = async {
            match drain_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            input = lines.recv(), if *stdin_open => match input {
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
                        return;
                    }
                }
                Some(Input::End) | None => {
                    // End of input: wait for the replies still on their way.
                    *stdin_open = false;
                    drain_until = Some(tokio::time::Instant::now() + eof_wait);
                }
            },
            _ = quiet => {
                // The server has been quiet long enough: close, and keep
                // reading until it answers.
                drain_until = None;
                *we_closed = true;
                let _ = ws.queue(Message::Close(Some(close.clone())));
                let _ = ws.flush().await;
            }
            msg = ws.next() => {
                if let Some(t) = drain_until.as_mut() {
                    *t = tokio::time::Instant::now() + eof_wait;
                }
                if args.trace {
                    output::trace(ws, dropped);
                }
                match msg {
                    Some(Ok(m)) => printer.message(&m),
                    Some(Err(e)) => {
                        eprintln!("wsbolt connect: {e}");
                        return;
                    }
                    None => return,
                }
            }
        }
    }
}
