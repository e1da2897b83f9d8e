//! `wsbolt connect URL`: an interactive client, like wscat or websocat.
//! Lines typed on stdin go out as messages; received messages are printed.

mod output;
mod session;

use std::process::ExitCode;
use std::time::Duration;

use crate::proxy_flags::ProxyFlags;
use crate::tls_flags::TlsFlags;
use wsbolt::{ClientConfig, CloseFrame};

/// What `wsbolt connect`'s exit status says, for scripts (also in its
/// `--help`).
pub(crate) const EXIT_STATUSES: &str = "\
Exit status:
  0  closed normally: 1000, 1001 or no code (1005), or the close sent when stdin ended, answered
  1  the connection ended abnormally: no Close (1006), a protocol error, a keepalive timeout
  2  a usage error: a bad flag (a proxy URL that cannot be used included), or a URL that is not ws:// or wss://
  3  the server closed with another code (1008, 1011, 4000 ...), printed as 'closed by the server: CODE REASON'
  4  no connection: refused, unreachable, name not found, timed out
  5  the server refused the handshake: an HTTP status instead of 101, an invalid answer, a redirect not followed
  6  TLS failed (the certificate or the handshake)
  7  the proxy failed";

/// Arguments of `wsbolt connect`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_STATUSES)]
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
    #[command(flatten)]
    tls: TlsFlags,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
    /// When stdin ends, keep reading until the server has sent nothing for
    /// this long (or closes), then close: replies still on their way are
    /// printed, even from a server that answers a Close at once.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    eof_wait: f64,
    #[command(flatten)]
    proxy: ProxyFlags,
    /// Follow redirects (301, 302, 303, 307, 308; at most 10; never wss to ws).
    #[arg(long)]
    follow: bool,
    /// When the connection fails or ends, connect again with exponential
    /// backoff (1 s doubling to 60 s, with jitter), while stdin is open.
    /// Failures not worth retrying (4xx, certificate errors) still end it.
    #[arg(long)]
    reconnect: bool,
    /// Print every frame, both ways, on stderr: time, direction (> sent,
    /// < received), opcode, FIN, RSV1, payload bytes on the wire and after
    /// inflation, close code and reason.
    #[arg(long)]
    trace: bool,
    /// Pretty-print received text messages that are JSON.
    #[arg(long)]
    json: bool,
    /// For wss://, offer HTTP/2 and use it when the server supports
    /// WebSockets over HTTP/2 (RFC 8441); HTTP/1.1 otherwise.
    #[arg(long)]
    http2: bool,
}

pub fn run(args: ConnectArgs) -> ExitCode {
    let close = match CloseFrame::new(args.close_code, args.close_reason.as_str()) {
        Ok(c) if args.close_code == 1000 || (3000..=4999).contains(&args.close_code) => c,
        _ => {
            eprintln!("wsbolt connect: --close-code must be 1000 or 3000-4999 and --close-reason at most 123 bytes");
            return ExitCode::from(2);
        }
    };
    let mut config = ClientConfig::default().protocols(args.protocols.clone());
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
        config.ws.protocol.keepalive = Some(wsbolt::Keepalive::new(d, d));
    }
    if let Err(e) = args.tls.apply(&mut config) {
        eprintln!("wsbolt connect: {e}");
        return ExitCode::from(2);
    }
    if !args.no_deflate {
        config.ws.deflate = Some(wsbolt::DeflateConfig::default());
    }
    if let Err(e) = args.proxy.apply(&mut config) {
        eprintln!("wsbolt connect: {e}");
        return ExitCode::from(2);
    }
    // From the first frame: some come with the handshake's answer.
    config.ws.frame_trace = args.trace;
    config.http2 = args.http2;
    if args.follow {
        config.max_redirects = wsbolt::DEFAULT_MAX_REDIRECTS;
    }
    if !(args.eof_wait.is_finite() && args.eof_wait >= 0.0) {
        eprintln!("wsbolt connect: --eof-wait must be a number of seconds, 0 or more");
        return ExitCode::from(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(session::run(args, config, close));
    // Stdin is read on a thread of its own that may still wait for a line:
    // do not wait for it (tokio's own stdin would hold the shutdown).
    rt.shutdown_background();
    code
}
