//! `wsbolt serve`: the standalone server. Every setting is a flag and a key
//! of the `--config` TOML file (same name); flags win over the file.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use wsbolt_server::{ServeConfig, SlowConsumer};

/// Arguments of `wsbolt serve`. Defaults are those of the library's
/// `ServeConfig`, listed in each flag's help.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// TOML file with any of these settings (keys are the flag names, e.g. max-message-size = 1048576).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9998].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Largest message (and frame) accepted, in bytes; larger ones close with 1009 [default: 16 MiB].
    #[arg(long, value_name = "BYTES")]
    max_message_size: Option<usize>,
    /// Seconds a client may take to complete the opening handshake [default: 10].
    #[arg(long, value_name = "SECS")]
    handshake_timeout: Option<u64>,
    /// Seconds of silence before a keepalive ping; 0 turns keepalive off [default: 30].
    #[arg(long, value_name = "SECS")]
    ping_interval: Option<u64>,
    /// Seconds a keepalive ping may wait for its pong before Close 1011 [default: 20].
    #[arg(long, value_name = "SECS")]
    ping_timeout: Option<u64>,
    /// Do not offer HTTP/2 on TLS (it is offered by ALPN by default: pages,
    /// /metrics and WebSockets over RFC 8441).
    #[arg(long)]
    no_http2: bool,
    /// Do not answer permessage-deflate offers (compression is on by default).
    #[arg(long)]
    no_deflate: bool,
    /// Compress and inflate every message on its own (permessage-deflate
    /// without context takeover, both directions): codecs are shared by the
    /// connections of a thread, so an idle connection holds no deflate
    /// memory, at the cost of ratio on small similar messages.
    #[arg(long)]
    deflate_no_context_takeover: bool,
    /// permessage-deflate compression level, 1 (fastest) to 9 [default: 6].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=9))]
    deflate_level: Option<u32>,
    /// Most open connections; beyond it new ones get 503 at once [default: 10000].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Most open connections from one IP address; beyond it 429 [default: 256].
    #[arg(long, value_name = "N")]
    max_connections_per_ip: Option<usize>,
    /// An Origin allowed to connect besides the server's own pages (repeatable; * allows any; null admits pages opened from files).
    /// By default only same-origin pages and clients sending no Origin connect; others get 403.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Serve this folder's files for plain HTTP GETs instead of the built-in demo pages.
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// Each executable DIR/NAME answers WebSockets at /NAME (stdin/stdout as messages).
    #[arg(long, value_name = "DIR")]
    handlers: Option<PathBuf>,
    /// Handler programs exchange raw binary messages instead of text lines.
    #[arg(long)]
    handlers_binary: bool,
    /// Most handler programs running at once; beyond it 503 [default: 64].
    #[arg(long, value_name = "N")]
    max_handler_processes: Option<usize>,
    /// Bytes queued for one client before the slow-consumer policy closes it [default: 1 MiB].
    #[arg(long, value_name = "BYTES")]
    max_outbound_queue: Option<usize>,
    /// Close code for slow consumers: close1008 or close1013 [default: close1008].
    #[arg(long, value_parser = parse_slow_consumer)]
    slow_consumer: Option<SlowConsumer>,
    /// Seconds a client may leave answers unread before it is a slow consumer [default: 30].
    #[arg(long, value_name = "SECS")]
    write_timeout: Option<u64>,
    /// PEM certificate chain: serve wss:// and https:// (with --tls-key).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Development only: TLS with a self-signed certificate for localhost made at start-up.
    #[arg(long)]
    tls_self_signed: bool,
    /// Seconds open connections get to close after SIGINT/SIGTERM [default: 5].
    #[arg(long, value_name = "SECS")]
    shutdown_grace: Option<u64>,
    /// Share /chat and /broadcast with every node on this Redis: redis://[USER:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Prefix of the Redis keys, so that clusters can share one Redis [default: wsbolt].
    #[arg(long, value_name = "PREFIX")]
    redis_prefix: Option<String>,
    /// Seconds at most before the users of a node that died leave the other nodes' user lists [default: 15].
    #[arg(long, value_name = "SECS")]
    redis_presence_timeout: Option<u64>,
    /// Entries kept per room stream in Redis: how far a node may fall behind without losing messages [default: 10000].
    #[arg(long, value_name = "N")]
    redis_stream_length: Option<usize>,
    /// Bytes of messages kept for Redis while it is unreachable; beyond it they reach this node only [default: 16 MiB].
    #[arg(long, value_name = "BYTES")]
    redis_outbox_limit: Option<usize>,
    /// Log filter (RUST_LOG overrides), e.g. info, debug, wsbolt_server=trace.
    #[arg(long, default_value = "info")]
    log: String,
}

fn parse_slow_consumer(s: &str) -> Result<SlowConsumer, String> {
    match s {
        "close1008" => Ok(SlowConsumer::Close1008),
        "close1013" => Ok(SlowConsumer::Close1013),
        _ => Err("expected close1008 or close1013".into()),
    }
}

impl ServeArgs {
    /// The file's settings (or the defaults) with the flags applied on top.
    fn into_config(self) -> Result<ServeConfig, String> {
        let mut c = match &self.config {
            Some(path) => ServeConfig::from_toml_file(path)?,
            None => ServeConfig::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { c.$field = v; } )* };
        }
        set!(
            listen,
            max_message_size,
            handshake_timeout,
            ping_interval,
            ping_timeout,
            max_connections
        );
        set!(
            max_connections_per_ip,
            max_handler_processes,
            max_outbound_queue,
            slow_consumer,
            shutdown_grace
        );
        set!(
            redis_prefix,
            redis_presence_timeout,
            redis_stream_length,
            redis_outbox_limit
        );
        if self.redis.is_some() {
            c.redis = self.redis;
        }
        if self.web_root.is_some() {
            c.web_root = self.web_root;
        }
        if self.handlers.is_some() {
            c.handlers = self.handlers;
        }
        if self.tls_cert.is_some() {
            c.tls_cert = self.tls_cert;
        }
        if self.tls_key.is_some() {
            c.tls_key = self.tls_key;
        }
        if !self.allow_origin.is_empty() {
            c.allow_origin = self.allow_origin;
        }
        c.deflate &= !self.no_deflate;
        c.deflate_no_context_takeover |= self.deflate_no_context_takeover;
        if let Some(level) = self.deflate_level {
            c.deflate_level = level;
        }
        c.http2 &= !self.no_http2;
        c.handlers_binary |= self.handlers_binary;
        c.tls_self_signed |= self.tls_self_signed;
        Ok(c)
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| args.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsbolt serve: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        let listen = config.listen;
        let tls = config.tls();
        let server = match wsbolt_server::Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("wsbolt serve: cannot start on {listen}: {e}");
                return ExitCode::from(2);
            }
        };
        let addr = server.local_addr().expect("bound");
        let (http, ws) = if tls { ("https", "wss") } else { ("http", "ws") };
        tracing::info!("listening on {ws}://{addr}/echo, /chat, /broadcast; pages at {http}://{addr}/");
        match server.run(shutdown_signal()).await {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wsbolt serve: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
