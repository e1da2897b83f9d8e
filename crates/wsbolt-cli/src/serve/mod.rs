//! `wsbolt serve`: the standalone server. Every setting is a flag and a key
//! of the `--config` TOML file (same name, same meaning: the file is read
//! through these flags' definition, see `config_file`); flags win over the
//! file.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, Args, Command, FromArgMatches, ValueHint};
use wsbolt_server::{ServeConfig, SlowConsumer};

use crate::config_file::{self, Logging};

/// Arguments of `wsbolt serve`. Defaults are those of the library's
/// `ServeConfig`, listed in each flag's help.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// TOML file with any of these settings: keys are the flag names with the flags' meaning
    /// (max-message-size = 1048576, no-deflate = true, allow-origin = ["https://a.example"]);
    /// relative paths in it are relative to its folder.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    config: Option<PathBuf>,
    /// Print the effective settings (defaults, file and flags) as a config file, and exit.
    #[arg(long)]
    print_config: bool,
    /// Address to listen on [default: 127.0.0.1:9998]; a socket passed by systemd (LISTEN_FDS) takes its place.
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
    /// permessage-deflate window in bits, 9 to 15, both ways [default: 13]:
    /// 56 KiB of codec memory per connection with the context kept; 15
    /// takes 176 KiB for about 6% fewer bytes.
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u8).range(9..=15))]
    deflate_window_bits: Option<u8>,
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
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    web_root: Option<PathBuf>,
    /// Each executable DIR/NAME answers WebSockets at /NAME (stdin/stdout as messages).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
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
    /// Engine threads for plain-TCP /echo (one epoll each, no task per connection); 0: tokio tasks [default: one per CPU].
    #[arg(long, value_name = "N")]
    engine_threads: Option<usize>,
    /// PEM certificate chain: serve wss:// and https:// (with --tls-key).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    tls_key: Option<PathBuf>,
    /// Development only: TLS with a self-signed certificate for localhost made at start-up.
    #[arg(long)]
    tls_self_signed: bool,
    /// Seconds open connections get to close after SIGINT/SIGTERM [default: 5].
    #[arg(long, value_name = "SECS")]
    shutdown_grace: Option<u64>,
    /// Share /chat, /broadcast and /rooms (its history) with every node on this Redis: redis://[USER:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// With --redis: /readyz answers 503 while Redis is out of reach (a node still serves its own clients).
    #[arg(long)]
    redis_required: bool,
    /// Prefix of the Redis keys, so that clusters can share one Redis [default: wsbolt].
    #[arg(long, value_name = "PREFIX")]
    redis_prefix: Option<String>,
    /// Seconds at most before the users of a node that died leave the other nodes' user lists and /rooms presence [default: 15].
    #[arg(long, value_name = "SECS")]
    redis_presence_timeout: Option<u64>,
    /// Entries kept per room stream in Redis: how far a node may fall behind without losing messages [default: 10000].
    #[arg(long, value_name = "N")]
    redis_stream_length: Option<usize>,
    /// Bytes of messages kept for Redis while it is unreachable; beyond it they reach this node only [default: 16 MiB].
    #[arg(long, value_name = "BYTES")]
    redis_outbox_limit: Option<usize>,
    /// /rooms: publications kept per room for clients that come back [default: 100].
    #[arg(long, value_name = "N")]
    rooms_history_size: Option<usize>,
    /// /rooms: seconds a publication is kept [default: 300].
    #[arg(long, value_name = "SECS")]
    rooms_history_age: Option<u64>,
    /// /rooms: bytes of history across all rooms (JSON plus 80 bytes each); the oldest go first beyond it [default: 64 MiB].
    #[arg(long, value_name = "BYTES")]
    rooms_history_memory: Option<usize>,
    /// /rooms: rooms one connection may subscribe to [default: 128].
    #[arg(long, value_name = "N")]
    rooms_max_subscriptions: Option<usize>,
    /// /rooms takes only clients with a JSON Web Token verified with this key: a PEM public key
    /// (RS256, ES256) or a file holding an HS256 secret of 32 bytes or more [default: none, no tokens].
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    rooms_token_key: Option<PathBuf>,
    /// /rooms with tokens: seconds to send a new token once one expired, then Close 4001 [default: 10].
    #[arg(long, value_name = "SECS")]
    rooms_token_grace: Option<u64>,
    /// Log filter (RUST_LOG overrides), e.g. info, debug, wsbolt_server=trace [default: info].
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Log lines as text, or as one JSON object per line (for a log shipper) [default: text].
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Log one line per WebSocket when it ends: peer, path, subprotocol, HTTP version, duration, messages and bytes each way, close code.
    #[arg(long)]
    access_log: bool,
}

/// The flags of `wsbolt serve` as a clap command (what `--config` files are
/// read through).
pub(crate) fn command() -> Command {
    ServeArgs::augment_args(Command::new("serve"))
}

fn parse_slow_consumer(s: &str) -> Result<SlowConsumer, String> {
    match s {
        "close1008" => Ok(SlowConsumer::Close1008),
        "close1013" => Ok(SlowConsumer::Close1013),
        _ => Err("expected close1008 or close1013".into()),
    }
}

impl ServeArgs {
    /// The settings these flags, the file they name and the defaults give,
    /// and the log filter.
    fn effective(self) -> Result<(ServeConfig, Logging), String> {
        let args = match &self.config {
            Some(path) => {
                let cmd = command();
                let file_args = config_file::args_from_file(&cmd, path)?;
                let matches = cmd
                    .try_get_matches_from(std::iter::once("serve".to_string()).chain(file_args))
                    .map_err(|e| format!("{}: {}", path.display(), first_line(&e.to_string())))?;
                let file = from_matches(&matches).map_err(|e| format!("{}: {e}", path.display()))?;
                self.over(file)
            }
            None => self,
        };
        let logging = Logging {
            filter: args.log.clone().unwrap_or_else(|| "info".to_string()),
            json: args.log_format.as_deref() == Some("json"),
        };
        Ok((args.apply(), logging))
    }

    /// These flags over `file`'s: a flag given here wins; a switch is on if
    /// either turns it on.
    fn over(self, file: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: self.config,
            print_config: self.print_config,
            listen: self.listen.or(file.listen),
            max_message_size: self.max_message_size.or(file.max_message_size),
            handshake_timeout: self.handshake_timeout.or(file.handshake_timeout),
            ping_interval: self.ping_interval.or(file.ping_interval),
            ping_timeout: self.ping_timeout.or(file.ping_timeout),
            no_http2: self.no_http2 || file.no_http2,
            no_deflate: self.no_deflate || file.no_deflate,
            deflate_no_context_takeover: self.deflate_no_context_takeover || file.deflate_no_context_takeover,
            deflate_level: self.deflate_level.or(file.deflate_level),
            deflate_window_bits: self.deflate_window_bits.or(file.deflate_window_bits),
            max_connections: self.max_connections.or(file.max_connections),
            max_connections_per_ip: self.max_connections_per_ip.or(file.max_connections_per_ip),
            allow_origin: if self.allow_origin.is_empty() {
                file.allow_origin
            } else {
                self.allow_origin
            },
            web_root: self.web_root.or(file.web_root),
            handlers: self.handlers.or(file.handlers),
            handlers_binary: self.handlers_binary || file.handlers_binary,
            max_handler_processes: self.max_handler_processes.or(file.max_handler_processes),
            max_outbound_queue: self.max_outbound_queue.or(file.max_outbound_queue),
            slow_consumer: self.slow_consumer.or(file.slow_consumer),
            write_timeout: self.write_timeout.or(file.write_timeout),
            engine_threads: self.engine_threads.or(file.engine_threads),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            tls_self_signed: self.tls_self_signed || file.tls_self_signed,
            shutdown_grace: self.shutdown_grace.or(file.shutdown_grace),
            redis: self.redis.or(file.redis),
            redis_required: self.redis_required || file.redis_required,
            redis_prefix: self.redis_prefix.or(file.redis_prefix),
            redis_presence_timeout: self.redis_presence_timeout.or(file.redis_presence_timeout),
            redis_stream_length: self.redis_stream_length.or(file.redis_stream_length),
            redis_outbox_limit: self.redis_outbox_limit.or(file.redis_outbox_limit),
            rooms_history_size: self.rooms_history_size.or(file.rooms_history_size),
            rooms_history_age: self.rooms_history_age.or(file.rooms_history_age),
            rooms_history_memory: self.rooms_history_memory.or(file.rooms_history_memory),
            rooms_max_subscriptions: self.rooms_max_subscriptions.or(file.rooms_max_subscriptions),
            rooms_token_key: self.rooms_token_key.or(file.rooms_token_key),
            rooms_token_grace: self.rooms_token_grace.or(file.rooms_token_grace),
            log: self.log.or(file.log),
            log_format: self.log_format.or(file.log_format),
            access_log: self.access_log || file.access_log,
        }
    }

    /// The defaults with these flags applied.
    fn apply(self) -> ServeConfig {
        let mut c = ServeConfig::default();
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { c.$field = v; } )* };
        }
        set!(
            listen,
            max_message_size,
            handshake_timeout,
            ping_interval,
            ping_timeout,
            max_connections,
            write_timeout,
            engine_threads
        );
        set!(
            max_connections_per_ip,
            max_handler_processes,
            max_outbound_queue,
            slow_consumer,
            shutdown_grace,
            deflate_level,
            deflate_window_bits
        );
        set!(
            redis_prefix,
            redis_presence_timeout,
            redis_stream_length,
            redis_outbox_limit
        );
        set!(
            rooms_history_size,
            rooms_history_age,
            rooms_history_memory,
            rooms_max_subscriptions,
            rooms_token_grace
        );
        c.redis = self.redis;
        c.redis_required = self.redis_required;
        c.access_log = self.access_log;
        c.web_root = self.web_root;
        c.handlers = self.handlers;
        c.tls_cert = self.tls_cert;
        c.tls_key = self.tls_key;
        c.rooms_token_key = self.rooms_token_key;
        c.allow_origin = self.allow_origin;
        c.deflate = !self.no_deflate;
        c.deflate_no_context_takeover = self.deflate_no_context_takeover;
        c.http2 = !self.no_http2;
        c.handlers_binary = self.handlers_binary;
        c.tls_self_signed = self.tls_self_signed;
        c
    }
}

fn from_matches(m: &ArgMatches) -> Result<ServeArgs, String> {
    ServeArgs::from_arg_matches(m).map_err(|e| first_line(&e.to_string()))
}

/// A clap error's first line, without its "error: " prefix.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

pub fn run(args: ServeArgs) -> ExitCode {
    let print_config = args.print_config;
    let (config, logging) = match args.effective() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsbolt serve: {e}");
            return ExitCode::from(2);
        }
    };
    if print_config {
        print!("{}", config_file::print(&command(), &config, &logging));
        return ExitCode::SUCCESS;
    }
    let filter = std::env::var("RUST_LOG").unwrap_or(logging.filter);
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if logging.json {
        log.json().init();
    } else {
        log.with_ansi(std::io::stderr().is_terminal()).init();
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        // From here on SIGHUP reloads the certificate instead of ending the
        // process (its default action).
        let hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("wsbolt serve: cannot handle SIGHUP: {e}");
                return ExitCode::FAILURE;
            }
        };
        let listen = config.listen;
        let tls = config.tls();
        let inherited = match activation::inherited_listener() {
            Ok(l) => l,
            Err(e) => {
                eprintln!("wsbolt serve: socket activation: {e}");
                return ExitCode::from(2);
            }
        };
        let from_parent = inherited.is_some();
        let server = match inherited {
            Some(l) => wsbolt_server::Server::from_listener(config, l).await,
            None => wsbolt_server::Server::bind(config).await,
        };
        let server = match server {
            Ok(s) => s,
            Err(e) if from_parent => {
                eprintln!("wsbolt serve: cannot start on the inherited socket: {e}");
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("wsbolt serve: cannot start on {listen}: {e}");
                return ExitCode::from(2);
            }
        };
        tokio::spawn(reload_tls(hangup, server.tls_reloader()));
        memory::start_trimming();
        let addr = server.local_addr().expect("bound");
        let (http, ws) = if tls { ("https", "wss") } else { ("http", "ws") };
        let source = if from_parent {
            " (socket from the parent: LISTEN_FDS)"
        } else {
            ""
        };
        tracing::info!("listening on {ws}://{addr}/echo, /chat, /broadcast; pages at {http}://{addr}/{source}");
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

/// How often the certificate files are checked for a change.
const TLS_FILE_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads `--tls-cert`/`--tls-key` again on SIGHUP and when the files change
/// (checked every [`TLS_FILE_CHECK`]); a broken new pair is logged and the
/// certificate already served stays.
async fn reload_tls(mut hangup: tokio::signal::unix::Signal, reloader: Option<wsbolt_server::TlsReloader>) {
    let mut check = tokio::time::interval(TLS_FILE_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (why, outcome) = tokio::select! {
            _ = hangup.recv() => ("SIGHUP", reloader.as_ref().map(|r| r.reload())),
            _ = check.tick(), if reloader.is_some() => {
                match reloader.as_ref().and_then(|r| r.reload_if_changed()) {
                    Some(outcome) => ("the certificate files changed", Some(outcome)),
                    None => continue,
                }
            }
        };
        match outcome {
            None => tracing::info!("{why}: no certificate files to reload"),
            Some(Ok(())) => tracing::info!("{why}: reloaded the TLS certificate"),
            Some(Err(e)) => tracing::warn!("{why}: kept the TLS certificate already served: {e}"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

mod activation;
mod memory;
#[cfg(test)]
mod tests;
