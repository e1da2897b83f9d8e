//! Handler programs, language-agnostic (as websocketd does): with
//! `--handlers DIR`, each executable `DIR/NAME` answers at `/NAME`.
//!
//! Per connection the program is started with the request in its
//! environment (CGI-style names: `REQUEST_METHOD`, `REQUEST_URI`,
//! `PATH_INFO`, `QUERY_STRING`, `REMOTE_ADDR`, `REMOTE_PORT`,
//! `SERVER_PROTOCOL`, `SERVER_SOFTWARE`, and `HTTP_<NAME>` for each request
//! header; `PATH` and `LANG` are passed through, and `PYTHONUNBUFFERED=1`
//! is set so that Python's plain `print` is not held in a buffer; nothing
//! else). In text mode a program runs under coreutils' `stdbuf -oL` when the
//! system has it, so C stdio writes each line at once; Node's `console.log`
//! writes at once by itself. Each line it
//! writes to stdout is sent as a text message, or as a binary message when
//! the line is not UTF-8 (as pywebsocket3 does; in binary mode, each chunk
//! it writes is a binary message); a line longer than the message limit
//! closes with 1011. Each message received is written to its stdin (text
//! with a newline after it; binary as is). Its exit closes the connection
//! with 1000, a crash (non-zero status or a signal) with 1011; a client that
//! goes away ends the program. When its stdout ends, its stdin is closed
//! before it is waited for, at most [`EXIT_WAIT`], then it is killed: a
//! program is always reaped and its process slot freed. stderr goes to the
//! log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use wsbolt::{CloseFrame, Message, Request};

use super::{access, ended, programs, queue_out, slow_consumer, Ctx, Done, Ws};

/// The handler programs of a server: where they are, how they talk, and the
/// process slots they share.
#[derive(Debug)]
pub(crate) struct Handlers {
    dir: PathBuf,
    binary: bool,
    /// The longest line (the message limit).
    max_line: usize,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Handlers {
    pub(crate) fn new(dir: PathBuf, binary: bool, max_line: usize, max_processes: usize) -> Self {
        Handlers {
            dir,
            binary,
            max_line,
            slots: Arc::new(tokio::sync::Semaphore::new(max_processes)),
        }
    }

    /// The program for `path`, if the folder holds one of that name; else,
    /// when a file of that name exists but cannot run, why (for the log).
    pub(crate) fn find(&self, path: &str) -> Result<PathBuf, Option<String>> {
        let name = path.strip_prefix('/').filter(|n| programs::valid_name(n)).ok_or(None)?;
        let file = self.dir.join(name);
        if !file.exists() {
            return Err(None);
        }
        match programs::why_not_runnable(&file) {
            None => Ok(file),
            Some(why) => Err(Some(format!("{} {why}", file.display()))),
        }
    }

    /// A process slot, if one is free.
    pub(crate) fn slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// The endpoint that runs `program` for a connection that asked `req`.
    pub(crate) fn serve(&self, program: PathBuf, req: Request, peer: SocketAddr) -> impl FnOnce(Ws, Ctx, Done) {
        let (binary, max_line) = (self.binary, self.max_line);
        move |ws, ctx, done: Done| {
            let run = Run {
                program,
                req,
                peer,
                binary,
                max_line,
            };
            done.spawn(async move { run.run(ws, ctx).await })
        }
    }
}

/// The executables in `dir` that a built-in route shadows, to report at start.
pub(crate) fn shadowed(dir: &Path, routes: &[&str]) -> Vec<String> {
    routes
        .iter()
        .map(|p| p.trim_start_matches('/'))
        .filter(|name| is_executable(&dir.join(name)))
        .map(str::to_string)
        .collect()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One handler program's run for one connection.
struct Run {
    program: PathBuf,
    req: Request,
    peer: SocketAddr,
    binary: bool,
    max_line: usize,
}

fn environment(req: &Request, peer: SocketAddr) -> Vec<(String, String)> {
    let mut env = vec![
        ("REQUEST_METHOD".to_string(), req.method.clone()),
        ("REQUEST_URI".into(), req.target.clone()),
        ("PATH_INFO".into(), req.path().to_string()),
        ("QUERY_STRING".into(), req.query().unwrap_or("").to_string()),
        ("REMOTE_ADDR".into(), peer.ip().to_string()),
        ("REMOTE_PORT".into(), peer.port().to_string()),
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
    // stdout is a pipe, so Python would buffer `print` until its buffer
    // fills: ask it not to, so that plain `print` reaches the client.
    env.push(("PYTHONUNBUFFERED".into(), "1".into()));
    for keep in ["PATH", "LANG"] {
        if let Ok(v) = std::env::var(keep) {
            env.push((keep.to_string(), v));
        }
    }
    env
}

/// The command that starts `program`. In text mode, through coreutils'
/// `stdbuf -oL` when the system has it: C stdio (and what is built on it)
/// then writes each line at once instead of holding a pipe's output in a
/// 4 KiB buffer, so `printf` without `fflush` reaches the client. Binary mode
/// runs the program as it is (its chunks are its own).
fn command(program: &Path, binary: bool) -> Command {
    static STDBUF: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let stdbuf = STDBUF.get_or_init(|| {
        ["/usr/bin/stdbuf", "/bin/stdbuf", "/usr/local/bin/stdbuf"]
            .iter()
            .map(PathBuf::from)
            .find(|p| is_executable(p))
    });
    match stdbuf {
        Some(stdbuf) if !binary => {
            let mut c = Command::new(stdbuf);
            c.arg("-oL").arg(program);
            c
        }
        _ => Command::new(program),
    }
}

/// How long a program whose stdout ended (and whose stdin was closed) may
/// take to exit before it is killed.
pub(crate) const EXIT_WAIT: Duration = Duration::from_secs(5);

/// The program's stdout, read in a cancel-safe way (inside `select!`): a
/// partial line stays in the buffer across cancelled reads.
enum Output {
    Lines {
        reader: BufReader<tokio::process::ChildStdout>,
        line: Vec<u8>,
        max: usize,
    },
    Raw(tokio::process::ChildStdout, Vec<u8>),
}

/// What the program's stdout brought.
enum Produced {
    Message(Message),
    /// A line longer than the message limit.
    TooLong,
    /// stdout ended (or failed).
    End,
}

impl Output {
    /// The next message: a line (text, or binary when it is not UTF-8), or a
    /// chunk in binary mode.
    async fn next(&mut self) -> Produced {
        match self {
            Output::Lines { reader, line, max } => {
                let limit = *max as u64 + 1;
                loop {
                    let room = limit.saturating_sub(line.len() as u64);
                    let read = (&mut *reader).take(room).read_until(b'\n', line).await;
                    match read {
                        Ok(0) | Err(_) if line.is_empty() => return Produced::End,
                        Ok(0) | Err(_) => break, // a last line without a newline
                        Ok(_) if line.last() == Some(&b'\n') => {
                            line.pop();
                            break;
                        }
                        Ok(_) if line.len() as u64 >= limit => return Produced::TooLong,
                        Ok(_) => {}
                    }
                }
                let bytes = std::mem::take(line);
                Produced::Message(match String::from_utf8(bytes) {
                    Ok(text) => Message::text(text),
                    Err(e) => Message::binary(e.into_bytes()),
                })
            }
            Output::Raw(stdout, buf) => match stdout.read(buf).await {
                Ok(n) if n > 0 => Produced::Message(Message::binary(buf[..n].to_vec())),
                _ => Produced::End,
            },
        }
    }
}

/// Runs the program for one connection.
impl Run {
    async fn run(self, mut ws: Ws, ctx: Ctx) -> u16 {
        let Run {
            program,
            req,
            peer,
            binary,
            max_line,
        } = self;
        let (program, req) = (program.as_path(), &req);
        let Ctx {
            env: ctx,
            mut stop,
            mut access,
        } = ctx;
        let mut child = match command(program, binary)
            .env_clear()
            .envs(environment(req, peer))
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
                return ended(&ws, access);
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
            Output::Lines {
                reader: BufReader::new(stdout),
                line: Vec::new(),
                max: max_line,
            }
        };
        let code = ctx.limits.slow_consumer_code;
        loop {
            tokio::select! {
                _ = &mut stop => {
                    let _ = child.start_kill();
                    super::going_away(&mut ws).await;
                    break;
                }
                produced = out.next() => match produced {
                    Produced::Message(msg) => {
                        if !queue_out(&mut ws, msg, &ctx, &mut access) {
                            let _ = child.start_kill();
                            slow_consumer(&mut ws, code).await;
                            break;
                        }
                    }
                    Produced::TooLong => {
                        tracing::warn!(handler = %name, "handler wrote a line longer than the message limit");
                        let _ = child.start_kill();
                        let _ = ws.close(CloseFrame::new(1011u16, "handler output too long").ok()).await;
                        break;
                    }
                    // stdout closed: the program is ending; its status decides the
                    // code. Its stdin is closed first, so a program still reading
                    // it sees the end instead of waiting for us forever.
                    Produced::End => {
                        stdin = None;
                        let status = match tokio::time::timeout(EXIT_WAIT, child.wait()).await {
                            Ok(s) => s.ok(),
                            Err(_) => {
                                tracing::warn!(handler = %name, "handler closed its stdout but did not exit: killed");
                                None
                            }
                        };
                        let (code, reason) = match status {
                            Some(s) if s.success() => (1000u16, ""),
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
                    Some(Ok(msg)) if msg.is_data() => {
                        ctx.metrics.received(msg.len());
                        access::received(&mut access, msg.len());
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
        // Never wait on a child while holding its stdin; kill what is left and
        // reap it, so its process slot is freed.
        drop(stdin);
        if tokio::time::timeout(EXIT_WAIT, child.wait()).await.is_err() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        ended(&ws, access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_named_like_built_in_routes_are_reported() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("wsbolt-shadow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["echo", "metrics", "mine"] {
            let p = dir.join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("chat"), "not executable").unwrap();
        assert_eq!(
            shadowed(&dir, &["/echo", "/chat", "/broadcast", "/metrics"]),
            ["echo", "metrics"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
