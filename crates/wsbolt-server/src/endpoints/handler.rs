//! Handler programs, language-agnostic (as websocketd does): with
//! `--handlers DIR`, each executable `DIR/NAME` answers at `/NAME`.
//!
//! Per connection the program is started with the request in its
//! environment (CGI-style names: `REQUEST_METHOD`, `REQUEST_URI`,
//! `PATH_INFO`, `QUERY_STRING`, `REMOTE_ADDR`, `REMOTE_PORT`,
//! `SERVER_PROTOCOL`, `SERVER_SOFTWARE`, and `HTTP_<NAME>` for each request
//! header; `PATH` and `LANG` are passed through, nothing else). Each line it
//! writes to stdout is sent as a text message (in binary mode, each chunk it
//! writes is a binary message); each message received is written to its
//! stdin (text with a newline after it; binary as is). Its exit closes the
//! connection with 1000, a crash (non-zero status or a signal) with 1011;
//! a client that goes away ends the program. stderr goes to the log.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use wsbolt::{CloseFrame, Message, Request};

use super::{end_code, is_data, queue_out, slow_consumer, Ctx, Ws};
use crate::server::State;

/// The program for `path`, if a handlers folder is set and holds an
/// executable file of that name. Names are single path segments of
/// letters, digits, `-`, `_` and `.`, not starting with `.`.
pub(crate) fn find(state: &State, path: &str) -> Option<PathBuf> {
    let dir = state.config.handlers.as_ref()?;
    let name = path.strip_prefix('/')?;
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return None;
    }
    let file = dir.join(name);
    is_executable(&file).then_some(file)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn environment(req: &Request, ctx: &Ctx) -> Vec<(String, String)> {
    let mut env = vec![
        ("REQUEST_METHOD".to_string(), req.method.clone()),
        ("REQUEST_URI".into(), req.target.clone()),
        ("PATH_INFO".into(), req.path().to_string()),
        ("QUERY_STRING".into(), req.query().unwrap_or("").to_string()),
        ("REMOTE_ADDR".into(), ctx.peer.ip().to_string()),
        ("REMOTE_PORT".into(), ctx.peer.port().to_string()),
        ("SERVER_PROTOCOL".into(), "HTTP/1.1".into()),
        (
            "SERVER_SOFTWARE".into(),
            format!("wsbolt/{}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    for (name, value) in req.headers.iter() {
        let key: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        env.push((format!("HTTP_{key}"), String::from_utf8_lossy(value).into_owned()));
    }
    for keep in ["PATH", "LANG"] {
        if let Ok(v) = std::env::var(keep) {
            env.push((keep.to_string(), v));
        }
    }
    env
}

/// The program's stdout, read in a cancel-safe way (inside `select!`).
enum Output {
    Lines(tokio::io::Lines<BufReader<tokio::process::ChildStdout>>),
    Raw(tokio::process::ChildStdout, Vec<u8>),
}

impl Output {
    /// The next message: a line, or a chunk in binary mode; `None` at the end.
    async fn next(&mut self) -> std::io::Result<Option<Message>> {
        match self {
            Output::Lines(lines) => Ok(lines.next_line().await?.map(Message::text)),
            Output::Raw(stdout, buf) => {
                let n = stdout.read(buf).await?;
                Ok((n > 0).then(|| Message::binary(buf[..n].to_vec())))
            }
        }
    }
}

/// Runs the program for one connection.
pub async fn run(mut ws: Ws, ctx: &Ctx, program: &Path, req: &Request) -> u16 {
    let binary = ctx.state.config.handlers_binary;
    let mut child = match Command::new(program)
        .env_clear()
        .envs(environment(req, ctx))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(program = %program.display(), error = %e, "cannot start handler");
            let _ = ws.close(CloseFrame::new(1011u16, "handler failed to start").ok()).await;
            return end_code(&ws);
        }
    };
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped");
    if let Some(stderr) = child.stderr.take() {
        let name = name.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(handler = %name, "{line}");
            }
        });
    }
    let mut out = if binary {
        Output::Raw(stdout, vec![0u8; 16 * 1024])
    } else {
        Output::Lines(BufReader::new(stdout).lines())
    };
    let mut stop = ctx.stop.clone();
    let code = ctx.state.config.slow_consumer.code();
    loop {
        tokio::select! {
            _ = super::stopped(&mut stop) => {
                let _ = child.start_kill();
                super::going_away(&mut ws).await;
                break;
            }
            produced = out.next() => match produced {
                Ok(Some(msg)) => {
                    if !queue_out(&mut ws, msg, ctx) {
                        let _ = child.start_kill();
                        slow_consumer(&mut ws, code).await;
                        break;
                    }
                }
                // stdout closed: the program is ending; its status decides the code.
                _ => {
                    let status = child.wait().await;
                    let (code, reason) = match status {
                        Ok(s) if s.success() => (1000u16, ""),
                        _ => (1011, "handler crashed"),
                    };
                    if code == 1011 {
                        tracing::warn!(handler = %name, ?status, "handler crashed");
                    }
                    let _ = ws.close(CloseFrame::new(code, reason).ok()).await;
                    break;
                }
            },
            next = ws.next() => match next {
                Some(Ok(msg)) if is_data(&msg) => {
                    ctx.state.metrics.received(msg.len());
                    let Some(input) = stdin.as_mut() else { continue };
                    let written = match &msg {
                        Message::Text(t) => {
                            let mut l = t.as_bytes().to_vec();
                            l.push(b'\n');
                            input.write_all(&l).await
                        }
                        Message::Binary(b) => input.write_all(b).await,
                        _ => Ok(()),
                    };
                    if written.is_err() {
                        stdin = None; // the program closed its stdin: keep reading its output
                    }
                }
                Some(Ok(_)) => {}
                // The client went away (or closed): end the program.
                _ => {
                    let _ = child.start_kill();
                    break;
                }
            },
        }
    }
    let _ = child.wait().await;
    end_code(&ws)
}
