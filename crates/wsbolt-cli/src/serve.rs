//! `wsbolt serve`: the standalone server.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `wsbolt serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9998")]
    listen: SocketAddr,
    /// Largest message (and frame) accepted, in bytes; larger ones close with 1009.
    #[arg(long, default_value_t = 16 << 20)]
    max_message_size: usize,
    /// Seconds a client may take to complete the opening handshake.
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
    /// Seconds of silence before a keepalive ping (0 turns keepalive off).
    #[arg(long, default_value_t = 30)]
    ping_interval: u64,
    /// Seconds a keepalive ping may wait for its pong before the connection is closed (1011).
    #[arg(long, default_value_t = 20)]
    ping_timeout: u64,
    /// Do not answer permessage-deflate offers (compression is on by default).
    #[arg(long)]
    no_deflate: bool,
    /// Log filter (also RUST_LOG), e.g. info, debug, wsbolt_server=trace.
    #[arg(long, default_value = "info")]
    log: String,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| args.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let keepalive = (args.ping_interval > 0).then(|| wsbolt::Keepalive {
        interval: Duration::from_secs(args.ping_interval),
        timeout: Duration::from_secs(args.ping_timeout),
    });
    let config = wsbolt_server::ServeConfig {
        listen: args.listen,
        max_message_size: args.max_message_size,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        keepalive,
        deflate: (!args.no_deflate).then(wsbolt::DeflateConfig::default),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        let server = match wsbolt_server::Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("wsbolt serve: cannot listen on {}: {e}", args.listen);
                return ExitCode::from(2);
            }
        };
        let addr = server.local_addr().expect("bound");
        tracing::info!("listening on ws://{addr}/echo");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        match server.run(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wsbolt serve: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
